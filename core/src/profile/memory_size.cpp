// "256M", "1G": memory sizes as profiles and flags write them.
#include <enlight/core/profile.hpp>

#include <cctype>
#include <stdexcept>

namespace enlight {

uint64_t parse_memory_size(const std::string& text) {
  size_t used = 0;
  unsigned long long n = 0;
  // std::stoull takes "-1" and wraps it: only digits may start a size.
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
    throw std::invalid_argument("'" + text + "' is not a memory size");
  try {
    n = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    throw std::invalid_argument("'" + text + "' is not a memory size");
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  uint64_t shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KIB") shift = 10;
  else if (unit == "M" || unit == "MIB") shift = 20;
  else if (unit == "G" || unit == "GIB") shift = 30;
  else throw std::invalid_argument("'" + text + "' has an unknown unit '" + text.substr(used) + "' (use K, M or G: powers of 1024)");
  if (n > (1ull << 40) >> shift) throw std::out_of_range("'" + text + "' is larger than 1 TiB");
  return static_cast<uint64_t>(n) << shift;
}

}  // namespace enlight
