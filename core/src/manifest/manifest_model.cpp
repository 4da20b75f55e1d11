// The parts of a Manifest that do not depend on how it was read (YAML at
// run time, or C++ generated at build time in a YAML-free build).
#include <enlight/core/manifest.hpp>

#include "manifest/scalars.hpp"

namespace enlight {

const OptionSpec* Manifest::find_option(const std::string& option) const {
  for (const auto& o : options)
    if (o.name == option) return &o;
  return nullptr;
}

SourceLocation Manifest::where_of(const std::string& key) const {
  auto it = key_where.find(key);
  return it == key_where.end() ? where : it->second;
}

std::string CpuidGate::str() const {
  static const char* const reg_names[] = {"eax", "ebx", "ecx", "edx"};
  return detail::hex(leaf) + "." + reg_names[reg & 3] + "[" + std::to_string(bit) + "]";
}

}  // namespace enlight
