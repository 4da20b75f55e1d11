#include "check_traps.hpp"

#include "commands.hpp"

#include <enlight/core/manifest.hpp>

#include <cstdio>
#include <functional>
#include <set>

namespace enlight::cli {
namespace {

const Manifest* find(const Resolution& r, const std::string& name) {
  for (const ResolvedPlugin& p : r.plugins)
    if (p.manifest->name == name) return p.manifest;
  return nullptr;
}

// Whether `m` requires `name`, directly or through what it requires (as
// far as the resolution has the providers' manifests).
bool requires_transitively(const Resolution& r, const Manifest& m, const std::string& name) {
  std::set<std::string> seen;
  std::function<bool(const Manifest&)> walk = [&](const Manifest& x) {
    for (const Dependency& d : x.requires_) {
      if (d.name == name) return true;
      if (!seen.insert(d.name).second) continue;
      if (const Manifest* next = find(r, d.name); next != nullptr && walk(*next)) return true;
    }
    return false;
  };
  return walk(m);
}

}  // namespace

std::vector<std::string> configuration_traps(const Resolution& r, const Vm& vm) {
  std::vector<std::string> out;
  const CpuidTable& cpuid = vm.bus().cpuid_table();
  for (const ResolvedPlugin& rp : r.plugins) {
    const Manifest& m = *rp.manifest;
    // A gate nothing advertises: the guest is refused every access the
    // claim exists for, and nothing says why (a #GP, HV_STATUS_ACCESS_DENIED).
    const auto gate_unset = [&](const std::optional<CpuidGate>& g) {
      return g.has_value() && !cpuid.bit(g->leaf, g->reg, g->bit);
    };
    const std::string enforce = r.enforce_cpuid ? "on here" : "off here";
    // A `default: true` claim exists to answer while nothing advertises it.
    for (const MsrClaim& c : m.msrs)
      if (!c.fallback && gate_unset(c.gate))
        out.push_back(c.where.str() + ": plugin '" + m.name + "': MSR " + hex_number(c.first) +
                      (c.last != c.first ? "-" + hex_number(c.last) : "") + " is gated on " + c.gate->str() +
                      ", which no enabled plugin advertises: with hv-enforce-cpuid (" + enforce + ") the guest gets #GP\n"
                      "  fix: set the bit from the plugin's vm_create (cpuid_bits) and claim it, or drop the gate");
    for (const HypercallClaim& c : m.hypercalls)
      if (gate_unset(c.gate))
        out.push_back(c.where.str() + ": plugin '" + m.name + "': hypercall " + hex_number(c.code) + " is gated on " +
                      c.gate->str() + ", which no enabled plugin advertises: with hv-enforce-cpuid (" + enforce +
                      ") the guest gets HV_STATUS_ACCESS_DENIED\n"
                      "  fix: set the bit from the plugin's vm_create (cpuid_bits) and claim it, or drop the gate");
    // Hypercalls go through the hypercall page, which identity owns; a
    // plugin that works only because another plugin pulled identity in
    // breaks (the guest calls into an empty page) where nothing does.
    if (!m.hypercalls.empty() && m.name != "identity" && !requires_transitively(r, m, "identity"))
      out.push_back(m.hypercalls.front().where.str() + ": plugin '" + m.name +
                    "' claims hypercalls but does not require identity, which owns the hypercall page: without it a "
                    "guest's call jumps into a page nothing filled\n"
                    "  fix: add `- identity >=1.0 <2` to its manifest's requires");
  }
  return out;
}

}  // namespace enlight::cli
