// The types of a plugin's generated manifest header (enlight/this_plugin.hpp,
// written by enlight-manifest-header from the plugin's manifest) and the
// compile-time comparisons ENLIGHT_PLUGIN makes with them. A plugin includes
// enlight/plugin.hpp, which includes the generated header when the build
// made one (enlight_add_plugin does); docs/sdk.md, "Each fact once".
#pragma once

#include <enlight/abi.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace enlight {

// An inclusive range of MSR indices or I/O ports a manifest claims.
struct ClaimedRange {
  uint32_t first;
  uint32_t last;
};

// A typed option key, generated per manifest option: VmBase::option(key)
// returns T, so a misspelt name or a wrong type is a compile error.
template <class T>
struct Option {
  const char* name;
};

namespace detail {

// Every number in [first, last] lies in one of `ranges` (MSR or I/O
// claims, or handler tables): the manifest and the handlers may split a
// span differently, as long as they cover the same numbers.
template <class Range>
constexpr bool covered(std::span<const Range> ranges, uint32_t first, uint32_t last) {
  uint64_t next = first;
  while (next <= last) {
    bool found = false;
    for (const auto& r : ranges) {
      if (r.first <= next && next <= r.last) {
        next = static_cast<uint64_t>(r.last) + 1;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

constexpr bool has_code(std::span<const enlight_hypercall_claim> handlers, uint16_t code) {
  for (const auto& h : handlers)
    if (h.code == code) return true;
  return false;
}

constexpr bool code_claimed(std::span<const uint16_t> claims, uint16_t code) {
  for (uint16_t c : claims)
    if (c == code) return true;
  return false;
}

// Bits `mask` of (leaf, reg) lie inside one claim of that register.
constexpr bool cpuid_claimed(std::span<const enlight_cpuid_claim> claims, uint32_t leaf, uint8_t reg, uint32_t mask) {
  for (const auto& c : claims)
    if (c.leaf == leaf && c.reg == reg && (mask & ~c.mask) == 0) return true;
  return false;
}

}  // namespace detail
}  // namespace enlight
