#include "ab/guest_lines.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace enlight::ab {
namespace {

constexpr size_t kMaxLine = 256;
constexpr size_t kMaxName = 64;

bool name_ok(const std::string& n) {
  return !n.empty() && n.size() <= kMaxName && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

void GuestLineMetrics::put(uint8_t byte) {
  if (byte == '\n') {
    finish_line();
    return;
  }
  if (byte == '\r') return;
  if (line_.size() >= kMaxLine) {
    overlong_ = true;
    return;
  }
  line_ += static_cast<char>(byte);
}

void GuestLineMetrics::finish_line() {
  static constexpr std::string_view kMetric = "ENLIGHT-METRIC ", kMark = "ENLIGHT-MARK ";
  const std::string line = std::move(line_);
  const bool overlong = overlong_;
  line_.clear();
  overlong_ = false;
  const bool metric = line.rfind(kMetric, 0) == 0, mark = line.rfind(kMark, 0) == 0;
  if (!metric && !mark) {
    // The keyword alone is a report line that lost its name.
    if (line == "ENLIGHT-METRIC" || line == "ENLIGHT-MARK") ++malformed_;
    return;
  }
  if (overlong) {
    ++malformed_;
    return;
  }
  if (mark) {
    const std::string name = line.substr(kMark.size());
    if (!name_ok(name)) {
      ++malformed_;
      return;
    }
    marks_.push_back({name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()});
    return;
  }
  const std::string rest = line.substr(kMetric.size());
  const auto space = rest.find(' ');
  if (space == std::string::npos) {
    ++malformed_;
    return;
  }
  const std::string name = rest.substr(0, space), number = rest.substr(space + 1);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(number.c_str(), &end);
  if (!name_ok(name) || number.empty() || end != number.c_str() + number.size() || errno != 0 || !std::isfinite(v)) {
    ++malformed_;
    return;
  }
  metrics_.push_back({name, v});
}

}  // namespace enlight::ab
