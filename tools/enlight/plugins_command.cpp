// `enlight plugins`: what the search path offers, so a vendor can see that
// their plugin was found, which file won, and what it claims.
#include "commands.hpp"

#include "ab/json.hpp"

#include <enlight/core/catalog.hpp>

#include <cstdio>
#include <sstream>

namespace enlight::cli {
namespace {

std::string hex(uint64_t v) { return hex_number(v); }

std::string claims_text(const Manifest& m) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : "; ") + part; };
  if (!m.msrs.empty()) {
    std::string t = "msr";
    for (const MsrClaim& c : m.msrs) t += " " + (c.first == c.last ? hex(c.first) : hex(c.first) + "-" + hex(c.last));
    add(t);
  }
  if (!m.hypercalls.empty()) {
    std::string t = "hypercall";
    for (const HypercallClaim& c : m.hypercalls) t += " " + hex(c.code);
    add(t);
  }
  if (!m.io_ports.empty()) {
    std::string t = "io";
    for (const IoClaim& c : m.io_ports) t += " " + (c.first == c.last ? hex(c.first) : hex(c.first) + "-" + hex(c.last));
    add(t);
  }
  if (!m.cpuid.empty()) add("cpuid " + std::to_string(m.cpuid.size()) + " contribution(s)");
  return s.empty() ? "-" : s;
}

}  // namespace

int plugins(const Globals& g, const std::vector<std::string>& args) {
  bool json = false;
  for (const std::string& a : args) {
    if (a == "--json") json = true;
    else throw UsageError("unknown argument '" + a + "'");
  }
  const Catalog catalog = Catalog::discover(search_path(g));

  if (json) {
    std::printf("[");
    bool first = true;
    for (const auto& [name, m] : catalog.all()) {
      std::printf("%s\n  {\"name\": %s, \"version\": %s, \"flag\": %s, \"status\": %s, \"security\": %s, \"manifest\": %s, \"claims\": %s}",
                  first ? "" : ",", json::string(name).c_str(), json::string(m.version.str()).c_str(),
                  json::string(m.flag).c_str(), json::string(m.status).c_str(), json::string(m.security).c_str(),
                  json::string(m.path).c_str(), json::string(claims_text(m)).c_str());
      first = false;
    }
    std::printf("%s]\n", first ? "" : "\n");
    return 0;
  }
  std::printf("search path:");
  for (const std::string& d : catalog.search_path()) std::printf(" %s", d.c_str());
  std::printf("\n");
  for (const auto& [name, m] : catalog.all()) {
    std::printf("%-14s %-8s %-22s %-13s %s\n", name.c_str(), m.version.str().c_str(),
                m.flag.empty() ? (m.implicit ? "(implicit)" : "-") : m.flag.c_str(), m.status.c_str(), m.path.c_str());
    std::printf("%-14s %s\n", "", claims_text(m).c_str());
  }
  for (const Shadowed& s : catalog.shadowed())
    std::printf("note: %s from %s hides the one in %s\n", s.name.c_str(), s.used.c_str(), s.hidden.c_str());
  if (catalog.all().empty()) std::printf("(no plugins found)\n");
  return 0;
}

}  // namespace enlight::cli
