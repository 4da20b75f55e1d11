// The catalog: every manifest found on the plugin search path (and every
// plugin compiled into the binary), by name. Built once per command; not on
// any hot path.
#pragma once

#include <enlight/core/manifest.hpp>

#include <map>
#include <string>
#include <vector>

namespace enlight {

struct Shadowed {
  std::string name;
  std::string used;    // path of the manifest that wins
  std::string hidden;  // path of the one later on the search path
};

class Catalog {
 public:
  // Directories are scanned in order for *.yaml files (not recursively).
  // Within one directory two manifests with one name are an error; across
  // directories the earlier one wins, like PATH, and the later is recorded
  // in shadowed(). Plugins compiled into the binary come first of all.
  static Catalog discover(const std::vector<std::string>& search_path);

  // Adds a manifest; throws ConfigError if the name is already present from
  // the same directory (or, for embedded manifests, at all).
  void add(Manifest m);

  const Manifest* find(const std::string& name) const;
  const std::map<std::string, Manifest>& all() const { return by_name_; }
  const std::vector<Shadowed>& shadowed() const { return shadowed_; }
  const std::vector<std::string>& search_path() const { return search_path_; }

  // Closest known name, for "did you mean" hints; empty if nothing is close.
  std::string closest(const std::string& name) const;

 private:
  std::map<std::string, Manifest> by_name_;
  std::vector<Shadowed> shadowed_;
  std::vector<std::string> search_path_;
};

// The default search path: $ENLIGHT_PLUGIN_PATH (colon-separated), then the
// build tree's plugin directory, then the install's.
std::vector<std::string> default_search_path();

}  // namespace enlight
