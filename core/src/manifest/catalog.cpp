// Finding manifests: built-in plugins first, then each search-path
// directory in order, the earlier one winning like PATH.
#include <enlight/core/catalog.hpp>
#include <enlight/core/loader.hpp>

#include "manifest/suggest.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace enlight {

Catalog Catalog::discover(const std::vector<std::string>& search_path) {
  Catalog c;
  c.search_path_ = search_path;
  for (const auto& name : static_manifest_names()) {
    Manifest m;
    if (const ManifestBuilder make = find_static_manifest_builder(name)) {
      m = make();
    } else {
#ifdef ENLIGHT_WITH_YAML
      const char* text = find_static_manifest(name);
      m = parse_manifest(text ? text : "", "<built-in>/" + name + ".yaml");
#else
      throw ConfigError({"<built-in>/" + name + ".yaml", 0, 0},
                        "built-in plugin '" + name + "' has only a YAML manifest and this enlight reads no YAML",
                        "build it with enlight_add_plugin, which compiles the manifest in (ENLIGHT_YAML=OFF)");
#endif
    }
    if (m.name != name)
      throw ConfigError(m.where_of("name"), "built-in plugin registered as '" + name + "' has a manifest named '" + m.name + "'",
                        "rebuild with the manifest that belongs to the plugin");
    m.embedded = true;
    c.add(std::move(m));
  }
  // One directory named twice (ENLIGHT_PLUGIN_PATH often repeats the build
  // tree) is scanned once, or every manifest in it would clash with itself.
  std::set<fs::path> seen;
  for (const auto& dir : search_path) {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) continue;
    const fs::path canonical = fs::weakly_canonical(dir, ec);
    if (!seen.insert(ec ? fs::path(dir) : canonical).second) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".yaml" && entry.is_regular_file(ec)) files.push_back(entry.path());
    // Directory order is whatever the file system says; sort so that
    // discovery (and its errors) are the same on every machine.
    std::sort(files.begin(), files.end());
#ifdef ENLIGHT_WITH_YAML
    for (const auto& f : files) c.add(load_manifest_file(f.string()));
#else
    if (!files.empty())
      throw ConfigError({files.front().string(), 0, 0},
                        "a plugin manifest on the plugin search path, and this enlight was built without YAML "
                        "(-DENLIGHT_YAML=OFF): it runs only the plugins built into it",
                        "leave " + dir + " out of --plugin-path and ENLIGHT_PLUGIN_PATH, or use a build with YAML");
#endif
  }
  return c;
}

void Catalog::add(Manifest m) {
  auto it = by_name_.find(m.name);
  if (it == by_name_.end()) {
    by_name_.emplace(m.name, std::move(m));
    return;
  }
  const Manifest& old = it->second;
  if (m.embedded)
    throw ConfigError(m.where, "built-in plugin '" + m.name + "' is already known from " + old.path,
                      "link only one plugin of that name into the binary");
  if (!old.embedded && old.directory == m.directory)
    throw ConfigError(m.where_of("name"), "plugin '" + m.name + "' is described by two manifests in " + m.directory +
                                              ": " + old.path + " and " + m.path,
                      "remove or rename one of them");
  shadowed_.push_back({m.name, old.path, m.path});
}

const Manifest* Catalog::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

std::string Catalog::closest(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& [n, m] : by_name_) names.push_back(n);
  return detail::closest_name(name, names);
}

std::vector<std::string> default_search_path() {
  std::vector<std::string> path;
  if (const char* env = std::getenv("ENLIGHT_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t colon = s.find(':', start);
      const std::string dir = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!dir.empty()) path.push_back(dir);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  // A program of the build tree (the enlight binary, a test) uses the
  // build's plugins; any other, an installed enlight above all, the plugins
  // of its own prefix, found from where the program is, so an installed
  // tree can be moved (docs/sdk.md). A program linked against the installed
  // harness in a vendor's tree passes its own path.
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string exe_text = ec ? std::string() : exe.string();
#if defined(ENLIGHT_BUILD_TREE) && defined(ENLIGHT_BUILD_PLUGIN_DIR)
  const std::string tree = std::string(ENLIGHT_BUILD_TREE) + "/";
  if (exe_text.compare(0, tree.size(), tree) == 0) {
    path.push_back(ENLIGHT_BUILD_PLUGIN_DIR);
    return path;
  }
#endif
#ifdef ENLIGHT_RELATIVE_PLUGIN_DIR
  if (!exe_text.empty()) path.push_back((exe.parent_path() / ENLIGHT_RELATIVE_PLUGIN_DIR).lexically_normal().string());
#endif
  return path;
}

}  // namespace enlight
