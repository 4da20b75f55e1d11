#include "manifest/scalars.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace enlight::detail {

std::optional<uint64_t> parse_u64(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  // from_chars alone would accept a leading '-' for nothing and stop at the
  // first bad character; demand that every character is a digit.
  for (char c : text)
    if (!(base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c))))
      return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text, bool digits) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  if (digits && lower == "1") return true;
  if (digits && lower == "0") return false;
  return std::nullopt;
}

std::string hex(uint64_t value, int min_digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%0*llX", min_digits, static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace enlight::detail
