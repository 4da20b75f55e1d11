// `enlight new-plugin NAME [DIR]`: a plugin folder from sdk/template (compiled
// into this binary), ready to build against an installed enlight and pass
// its test unchanged; tests/install/run.sh builds and tests one.
#include "commands.hpp"

#include "template_CMakeLists_txt_in.inc"
#include "template_manifest_yaml_in.inc"
#include "template_plugin_cpp_in.inc"
#include "template_plugin_test_cpp_in.inc"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace enlight::cli {
namespace {

// The manifest's rule for a plugin name, and a C identifier's: lower-case
// letters, digits and '-', starting with a letter.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 48 || name[0] < 'a' || name[0] > 'z' || name.back() == '-') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

std::string fill(std::string text, const std::string& name, const std::string& ident) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"%NAME%", name}, {"%IDENT%", ident}}) {
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  }
  return text;
}

}  // namespace

int new_plugin(const Globals&, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) throw UsageError("usage: enlight new-plugin NAME [DIR]");
  const std::string& name = args[0];
  if (!valid_name(name))
    throw UsageError("'" + name + "' is not a plugin name: use lower-case letters, digits and '-', starting with a "
                     "letter (e.g. my-telemetry)");
  std::string ident = name;
  for (char& c : ident)
    if (c == '-') c = '_';
  const std::filesystem::path dir = std::filesystem::path(args.size() == 2 ? args[1] : ".") / name;
  if (std::filesystem::exists(dir))
    throw UsageError(dir.string() + " already exists: choose another NAME or DIR (nothing was written)");
  std::filesystem::create_directories(dir);
  const std::vector<std::pair<std::string, const char*>> files = {
      {"CMakeLists.txt", enlight_template_CMakeLists_txt_in},
      {name + ".yaml", enlight_template_manifest_yaml_in},
      {ident + ".cpp", enlight_template_plugin_cpp_in},
      {ident + "_test.cpp", enlight_template_plugin_test_cpp_in},
  };
  for (const auto& [file, text] : files) {
    std::ofstream out(dir / file);
    out << fill(text, name, ident);
    if (!out.flush()) throw std::runtime_error("cannot write " + (dir / file).string());
  }
  std::printf("enlight new-plugin: wrote %s (", dir.c_str());
  for (size_t i = 0; i < files.size(); ++i) std::printf("%s%s", i ? ", " : "", files[i].first.c_str());
  std::printf(")\nnext:\n  cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=<enlight's install prefix>\n"
              "  cmake --build %s/build && ctest --test-dir %s/build\n"
              "then edit %s.yaml (what it claims) and %s.cpp (what each claim does); docs/sdk.md\n",
              dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), name.c_str(), ident.c_str());
  return 0;
}

}  // namespace enlight::cli
