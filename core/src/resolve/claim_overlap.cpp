// No two enabled plugins may own the same MSR, hypercall code or I/O port,
// nor exclusive CPUID bits: the bus tables built at freeze time have one
// owner per entry, and composing CPUID needs one writer per scalar field.
#include "resolve/resolve_parts.hpp"

#include "manifest/scalars.hpp"

#include <enlight/abi.h>

#include <algorithm>
#include <bit>

namespace enlight::detail {
namespace {

struct Owned {
  uint64_t first, last;
  const Manifest* owner;
  SourceLocation where;
};

[[noreturn]] void clash(const std::string& what, const Owned& a, const Owned& b, const std::string& a_note = {},
                        const std::string& b_note = {}) {
  // Name the plugins in name order, so the message is stable.
  const bool swap = b.owner->name < a.owner->name;
  const Owned& x = swap ? b : a;
  const Owned& y = swap ? a : b;
  const std::string& xn = swap ? b_note : a_note;
  const std::string& yn = swap ? a_note : b_note;
  throw ConfigError(y.where,
                    what + " is claimed by both '" + x.owner->name + "' (" + xn + x.where.str() + ") and '" +
                        y.owner->name + "' (" + yn + y.where.str() + ")",
                    "disable one of them");
}

std::string span(const char* what, uint64_t first, uint64_t last, int digits) {
  if (first == last) return std::string(what) + " " + hex(first, digits);
  return std::string(what) + "s " + hex(first, digits) + "-" + hex(last, digits);
}

// Sort by start and sweep, remembering the claim that reaches furthest: any
// later claim starting before that end overlaps it.
void check_ranges(std::vector<Owned> claims, const char* what, int digits) {
  std::sort(claims.begin(), claims.end(), [](const Owned& a, const Owned& b) {
    return a.first != b.first ? a.first < b.first : a.owner->name < b.owner->name;
  });
  const Owned* reach = nullptr;
  for (const Owned& c : claims) {
    if (reach && c.first <= reach->last && c.owner != reach->owner)
      clash(span(what, c.first, std::min(c.last, reach->last), digits), *reach, c);
    if (!reach || c.last > reach->last) reach = &c;
  }
}

const char* const kRegs[] = {"EAX", "EBX", "ECX", "EDX"};
const char* const kKinds[] = {"bits", "field", "default"};

void check_cpuid(const EnabledSet& enabled) {
  struct Claim {
    const CpuidClaim* c;
    const Manifest* owner;
  };
  std::vector<Claim> all;
  for (const auto& [name, m] : enabled)
    for (const auto& c : m->cpuid) all.push_back({&c, m});
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      const CpuidClaim& a = *all[i].c;
      const CpuidClaim& b = *all[j].c;
      if (all[i].owner == all[j].owner || a.leaf != b.leaf || a.subleaf != b.subleaf || a.reg != b.reg) continue;
      // Feature bits are ORed, so two plugins may both set a shared bit
      // (0x40000004.EAX[11] for hv-tlbflush and hv-ipi); a default yields to
      // any writer. Only a field is exclusive.
      if (a.kind == ENLIGHT_CPUID_DEFAULT || b.kind == ENLIGHT_CPUID_DEFAULT) continue;
      if (a.kind == ENLIGHT_CPUID_BITS && b.kind == ENLIGHT_CPUID_BITS) continue;
      const uint32_t common = a.mask & b.mask;
      if (!common) continue;
      std::string what = "CPUID " + hex(a.leaf);
      if (a.subleaf) {
        what += '.';
        what += std::to_string(a.subleaf);
      }
      what += '.';
      what += kRegs[a.reg & 3];
      what += std::has_single_bit(common) ? " bit " + std::to_string(std::countr_zero(common)) : " mask " + hex(common, 8);
      clash(what, {0, 0, all[i].owner, a.where}, {0, 0, all[j].owner, b.where},
            std::string(kKinds[a.kind % 3]) + ", ", std::string(kKinds[b.kind % 3]) + ", ");
    }
  }
}

}  // namespace

void check_claim_overlaps(const EnabledSet& enabled) {
  // Default MSR claims yield to ordinary ones, so they only clash among
  // themselves: two fallbacks for one MSR would leave the answer to order.
  std::vector<Owned> msrs, fallback_msrs, hypercalls, ports;
  for (const auto& [name, m] : enabled) {
    for (const auto& c : m->msrs) (c.fallback ? fallback_msrs : msrs).push_back({c.first, c.last, m, c.where});
    for (const auto& c : m->hypercalls) hypercalls.push_back({c.code, c.code, m, c.where});
    for (const auto& c : m->io_ports) ports.push_back({c.first, c.last, m, c.where});
  }
  check_ranges(std::move(msrs), "MSR", 8);
  check_ranges(std::move(fallback_msrs), "default MSR", 8);
  check_ranges(std::move(hypercalls), "hypercall", 4);
  check_ranges(std::move(ports), "I/O port", 4);
  check_cpuid(enabled);
}

}  // namespace enlight::detail
