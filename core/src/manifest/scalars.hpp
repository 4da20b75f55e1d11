// Scalar syntax shared by manifests, profiles and QEMU-style flags, so that
// "0x1fff" or "on" means the same thing wherever an operator writes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace enlight::detail {

// Decimal or 0x/0X hexadecimal, no sign, no suffix, fits in 64 bits.
std::optional<uint64_t> parse_u64(std::string_view text);

// true/false, yes/no, on/off (any case), and 1/0 when `digits` is set:
// YAML documents use the words, QEMU flags and options also take digits.
std::optional<bool> parse_bool(std::string_view text, bool digits = true);

// "0x4000009F": hex digits upper case, like the TLFS and QEMU's tables.
std::string hex(uint64_t value, int min_digits = 0);

}  // namespace enlight::detail
