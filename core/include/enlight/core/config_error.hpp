// Errors in configuration (manifests, profiles, flags, plugin binaries).
// Each one names where it comes from and how to fix it, because the person
// reading it is an operator at a terminal, not a developer with a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace enlight {

struct SourceLocation {
  std::string file;  // a path, or "<flags>" / "<embedded>/name.yaml"
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;

  std::string str() const {
    std::string s = file;
    if (line <= 0) return s;
    s += ':';
    s += std::to_string(line);
    if (column > 0) {
      s += ':';
      s += std::to_string(column);
    }
    return s;
  }
};

class ConfigError : public std::runtime_error {
 public:
  ConfigError(SourceLocation where, std::string what, std::string fix = {})
      : std::runtime_error(format(where, what, fix)), where_(std::move(where)), fix_(std::move(fix)) {}
  const SourceLocation& where() const noexcept { return where_; }
  const std::string& fix() const noexcept { return fix_; }

 private:
  static std::string format(const SourceLocation& where, const std::string& what, const std::string& fix) {
    std::string s = where.file.empty() ? what : where.str() + ": " + what;
    if (!fix.empty()) s += "\n  fix: " + fix;
    return s;
  }
  SourceLocation where_;
  std::string fix_;
};

}  // namespace enlight
