#include <enlight/abi.h>
#include <enlight/core/cpuid_table.hpp>
#include <enlight/tlfs.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace enlight {

CpuidValue CpuidTable::lookup(uint32_t leaf, uint32_t subleaf) const noexcept {
  auto it = std::lower_bound(leaves_.begin(), leaves_.end(), std::pair{leaf, subleaf},
                             [](const CpuidLeaf& l, const std::pair<uint32_t, uint32_t>& k) {
                               return std::pair{l.leaf, l.subleaf} < k;
                             });
  if (it == leaves_.end() || it->leaf != leaf || it->subleaf != subleaf) return {};
  return it->value;
}

bool CpuidTable::has(uint32_t leaf) const noexcept {
  return std::any_of(leaves_.begin(), leaves_.end(), [&](const CpuidLeaf& l) { return l.leaf == leaf; });
}

std::string CpuidComposer::set(uint16_t owner, uint32_t leaf, uint32_t subleaf, uint8_t reg, uint32_t mask,
                               uint32_t value) {
  char where[96];
  std::snprintf(where, sizeof where, "CPUID 0x%08X.%u %s mask 0x%08X", leaf, subleaf,
                reg == 0 ? "eax" : reg == 1 ? "ebx" : reg == 2 ? "ecx" : "edx", mask);
  if (reg > ENLIGHT_EDX) return std::string(where) + ": no such register";
  if ((value & ~mask) != 0) return std::string(where) + ": value has bits outside the mask";
  // The contribution must lie inside one claim of the same kind family.
  for (const Claim& c : claims_) {
    if (c.owner != owner || c.leaf != leaf || c.subleaf != subleaf || c.reg != reg) continue;
    if ((mask & ~c.mask) != 0) continue;
    Reg& r = regs_[Key{leaf, subleaf, reg}];
    switch (c.kind) {
      case ENLIGHT_CPUID_BITS:
        r.bits |= value;
        break;
      case ENLIGHT_CPUID_FIELD:
        r.field = (r.field & ~mask) | value;
        r.field_mask |= mask;
        break;
      case ENLIGHT_CPUID_DEFAULT:
        r.defaults = (r.defaults & ~mask) | value;
        r.default_mask |= mask;
        break;
    }
    return {};
  }
  return std::string(where) + ": not inside any of the plugin's CPUID claims";
}

CpuidTable CpuidComposer::freeze() const {
  std::map<std::pair<uint32_t, uint32_t>, CpuidValue> leaves;
  // A claimed leaf exists even if every contribution is zero (QEMU emits
  // 0x40000004 with EAX = 0 for a bare hv-vpindex, for example).
  for (const Claim& c : claims_) leaves[{c.leaf, c.subleaf}];
  for (const auto& [key, r] : regs_) {
    uint32_t v = (r.defaults & ~r.field_mask) | r.field | r.bits;
    CpuidValue& cv = leaves[{key.leaf, key.subleaf}];
    (key.reg == 0 ? cv.eax : key.reg == 1 ? cv.ebx : key.reg == 2 ? cv.ecx : cv.edx) = v;
  }

  // The hypervisor range's maximum leaf is composed here, not owned by a
  // plugin: nested (0x4000000A) and syndbg (0x40000082) leaves raise it.
  uint32_t max_leaf = 0;
  for (const auto& [key, v] : leaves)
    if (key.first >= HV_CPUID_VENDOR_AND_MAX_FUNCTIONS && key.first < HV_CPUID_KVM_LEAVES_BASE) max_leaf = std::max(max_leaf, key.first);
  if (max_leaf != 0) {
    max_leaf = std::max<uint32_t>(max_leaf, HV_CPUID_MIN_MAX_LEAF);
    for (uint32_t l = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; l <= std::min<uint32_t>(max_leaf, HV_CPUID_NESTED_OPTIMIZATIONS); ++l)
      leaves[{l, 0}];
    leaves[{HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, 0}].eax = max_leaf;
  }

  CpuidTable t;
  for (const auto& [key, v] : leaves) t.leaves_.push_back(CpuidLeaf{key.first, key.second, v});
  return t;
}

}  // namespace enlight
