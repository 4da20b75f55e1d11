// The guest conformance case list (tests/core/guests/conformance-cases.txt):
// one `guest | flags | vcpus` per line, read by the emu and kvm test suites
// and by the nested stage, so every backend runs exactly the same cases.
#pragma once

#include <cctype>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::test {

struct ConformanceCase {
  std::string guest;  // a built-in image name, or a path to a flat image
  std::string flags;
  uint32_t vcpus = 1;
};

// gtest prints a failing case's parameter with this, not as raw bytes.
inline void PrintTo(const ConformanceCase& c, std::ostream* os) { *os << c.guest << " | " << c.flags << " | " << c.vcpus; }

inline std::string trim_blanks(const std::string& t) {
  const size_t b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : t.substr(b, e - b + 1);
}

// Throws on an unreadable file or a malformed line (naming it).
inline std::vector<ConformanceCase> load_conformance_cases(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<ConformanceCase> cases;
  for (std::string line; std::getline(in, line);) {
    line = trim_blanks(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t a = line.find('|'), b = line.find('|', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) throw std::runtime_error("malformed line in " + path + ": " + line);
    cases.push_back({trim_blanks(line.substr(0, a)), trim_blanks(line.substr(a + 1, b - a - 1)),
                     static_cast<uint32_t>(std::stoul(trim_blanks(line.substr(b + 1))))});
  }
  return cases;
}

// A gtest-safe name for case `index`: guest, vCPUs and the index.
inline std::string conformance_case_name(const ConformanceCase& c, size_t index) {
  std::string n = c.guest + "_" + std::to_string(c.vcpus) + "vcpu_" + std::to_string(index);
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

}  // namespace enlight::test
