// The built-in plugin registry. Registration runs from static initialisers of
// plugin objects linked into the binary, so the maps are function-local
// statics (constructed on first use, whatever the initialisation order).
#include <enlight/core/loader.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace enlight {
namespace {

std::map<std::string, enlight_plugin_entry_fn>& entries() {
  static std::map<std::string, enlight_plugin_entry_fn> m;
  return m;
}
std::map<std::string, const char*>& manifests() {
  static std::map<std::string, const char*> m;
  return m;
}
std::map<std::string, ManifestBuilder>& builders() {
  static std::map<std::string, ManifestBuilder> m;
  return m;
}

[[noreturn]] void duplicate(const char* what, const char* name) {
  // Two built-in plugins with one name is a build error: refuse to start
  // rather than guess which one the operator meant.
  std::fprintf(stderr, "enlight: built-in %s '%s' registered twice; the binary links two plugins of that name\n",
               what, name);
  std::abort();
}

}  // namespace

const enlight_plugin_descriptor* find_static_plugin(const std::string& name) {
  auto it = entries().find(name);
  return it == entries().end() ? nullptr : it->second();
}

const char* find_static_manifest(const std::string& name) {
  auto it = manifests().find(name);
  return it == manifests().end() ? nullptr : it->second;
}

ManifestBuilder find_static_manifest_builder(const std::string& name) {
  auto it = builders().find(name);
  return it == builders().end() ? nullptr : it->second;
}

std::vector<std::string> static_manifest_names() {
  std::vector<std::string> names;
  for (const auto& [name, text] : manifests()) names.push_back(name);
  for (const auto& [name, make] : builders())
    if (!manifests().count(name)) names.push_back(name);
  return names;
}

void register_static_manifest_builder(const char* name, ManifestBuilder make) {
  if (!builders().emplace(name, make).second) duplicate("manifest", name);
}

}  // namespace enlight

extern "C" void enlight_static_plugin_register(const char* name, enlight_plugin_entry_fn entry) {
  if (!enlight::entries().emplace(name, entry).second) enlight::duplicate("plugin", name);
}

extern "C" void enlight_static_manifest_register(const char* name, const char* text) {
  if (!enlight::manifests().emplace(name, text).second) enlight::duplicate("manifest", name);
}
