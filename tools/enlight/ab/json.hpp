// Just enough JSON writing for enlight's machine-readable outputs (run
// reports, experiment results, --json listings). Reading goes through
// yaml-cpp, whose parser takes JSON as it is a subset of YAML 1.2.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace enlight::json {

inline std::string string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += b;
    } else out += c;
  }
  return out + "\"";
}

// Shortest text that reads back as the same double; JSON has no NaN or
// infinity, so those are null.
inline std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(b, sizeof b, "%.*g", precision, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  return b;
}

}  // namespace enlight::json
