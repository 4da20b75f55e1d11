// CPUID composition. Plugins contribute bits (ORed, shareable), fields (one
// owner each) and defaults (used while nobody owns the field); the composer
// rejects what contradicts the claims, then freezes a sorted table that every
// backend answers from (KVM gets it once through KVM_SET_CPUID2).
#pragma once

#include <enlight/vendor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace enlight {

struct CpuidValue {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  uint32_t reg(uint8_t r) const noexcept { return r == 0 ? eax : r == 1 ? ebx : r == 2 ? ecx : edx; }
  bool operator==(const CpuidValue&) const = default;
};

struct CpuidLeaf {
  uint32_t leaf = 0, subleaf = 0;
  CpuidValue value;
};

// The leaves the bus answers, on every backend: Hyper-V's range and the one
// left to vendors (enlight/vendor.h). Every other leaf is the CPU's.
constexpr bool bus_cpuid_leaf(uint32_t leaf) noexcept {
  return (leaf >= 0x40000000u && leaf <= 0x400000FFu) ||
         (leaf >= ENLIGHT_VENDOR_CPUID_FIRST && leaf <= ENLIGHT_VENDOR_CPUID_LAST);
}

class CpuidTable {
 public:
  // Sorted by (leaf, subleaf); absent leaves read as zero, as KVM answers
  // for the hypervisor range.
  CpuidValue lookup(uint32_t leaf, uint32_t subleaf) const noexcept;
  const std::vector<CpuidLeaf>& leaves() const noexcept { return leaves_; }
  bool has(uint32_t leaf) const noexcept;
  bool bit(uint32_t leaf, uint8_t reg, uint8_t bit) const noexcept {
    return (lookup(leaf, 0).reg(reg) >> bit) & 1u;
  }

 private:
  friend class CpuidComposer;
  std::vector<CpuidLeaf> leaves_;
};

class CpuidComposer {
 public:
  struct Claim {
    uint32_t leaf, subleaf;
    uint8_t reg, kind;
    uint32_t mask;
    uint16_t owner;  // plugin slot
  };
  void add_claim(const Claim& c) { claims_.push_back(c); }

  // A plugin's contribution; returns an error text or "" when accepted.
  std::string set(uint16_t owner, uint32_t leaf, uint32_t subleaf, uint8_t reg, uint32_t mask, uint32_t value);

  // Builds the table. The hypervisor range gets its max-leaf (0x40000000.EAX)
  // computed here: the highest present leaf below 0x40000100, at least
  // 0x40000005, with any gap below it present as zeros (as QEMU fills
  // 0x40000006-0x40000009 when 0x4000000A exists). No leaves at all means
  // no hypervisor range: Hyper-V is off.
  CpuidTable freeze() const;

 private:
  std::vector<Claim> claims_;
  struct Key {
    uint32_t leaf, subleaf;
    uint8_t reg;
    auto operator<=>(const Key&) const = default;
  };
  struct Reg {
    uint32_t bits = 0;
    uint32_t field = 0, field_mask = 0;
    uint32_t defaults = 0, default_mask = 0;
  };
  std::map<Key, Reg> regs_;
};

}  // namespace enlight
