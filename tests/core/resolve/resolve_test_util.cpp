#include "resolve_test_util.hpp"

namespace enlight::test {

std::string manifest_text(const std::string& name, const std::string& body, const std::string& version) {
  return "name: " + name + "\nversion: " + version + "\nabi: 1\n" + body;
}

TestCatalog& TestCatalog::add(const std::string& name, const std::string& body, const std::string& version) {
  catalog_.add(parse_manifest(manifest_text(name, body, version), "/m/" + name + ".yaml"));
  return *this;
}

Profile profile_of(const std::vector<std::string>& names) {
  Profile p;
  p.source = "/p/test.yaml";
  for (size_t i = 0; i < names.size(); ++i) p.plugins.push_back({names[i], {}, {"/p/test.yaml", static_cast<int>(i + 1), 5}, {}, {}});
  return p;
}

BackendCaps direct_caps(std::vector<std::string> features) { return {"direct", std::move(features), true, false, {}, {}}; }

std::vector<std::string> names_of(const Resolution& r) {
  std::vector<std::string> out;
  for (const auto& p : r.plugins) out.push_back(p.manifest->name);
  return out;
}

const ResolvedPlugin* find_plugin(const Resolution& r, const std::string& name) {
  for (const auto& p : r.plugins)
    if (p.manifest->name == name) return &p;
  return nullptr;
}

}  // namespace enlight::test
