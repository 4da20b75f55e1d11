// libFuzzer target: a plugin manifest as YAML (core/src/manifest,
// parse_manifest) as a vendor writes it. Every input must either parse or
// throw enlight's ConfigError located in the manifest's file; any other
// exception, a crash or a sanitizer report is a bug. A parsed manifest
// obeys the rules the parser promises: a valid name, claims whose spans
// start before they end, option defaults within their own bounds.
#include <enlight/core/manifest.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <string>
#include <typeinfo>

namespace {

const std::string kPath = "/fuzz/m.yaml";

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "manifest_yaml fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check(const enlight::Manifest& m) {
  if (m.name.empty() || m.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
    fail("parsed manifest has a bad name", m.name);
  for (const auto& c : m.msrs)
    if (c.first > c.last) fail("MSR claim ends before it starts", m.name);
  for (const auto& c : m.io_ports)
    if (c.first > c.last) fail("I/O port claim ends before it starts", m.name);
  for (const auto& c : m.cpuid)
    if (c.mask == 0 || c.reg > 3) fail("CPUID claim with an empty mask or a bad register", m.name);
  for (const auto& o : m.options) {
    if (o.type != enlight::OptionSpec::Type::U64) continue;
    const uint64_t lo = o.min.value_or(0), hi = o.max.value_or(std::numeric_limits<uint64_t>::max());
    if (o.default_u64 < lo || o.default_u64 > hi) fail("option default outside its bounds", o.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check(enlight::parse_manifest(text, kPath));
  } catch (const enlight::ConfigError& e) {
    if (e.where().file != kPath) fail("ConfigError not located in the manifest", e.what());
  } catch (const std::exception& e) {
    fail((std::string("exception other than ConfigError: ") + typeid(e).name()).c_str(), e.what());
  } catch (...) {
    fail("non-std exception", "");
  }
  return 0;
}
