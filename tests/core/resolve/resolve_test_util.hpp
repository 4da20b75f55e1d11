// Catalogs built from inline manifests, so each test shows every line its
// expected messages refer to.
#pragma once

#include <enlight/core/resolver.hpp>

#include "../common/config_error_test_util.hpp"

#include <string>
#include <vector>

namespace enlight::test {

// Manifest text: name, version, abi on lines 1-3; `body` starts at line 4.
std::string manifest_text(const std::string& name, const std::string& body, const std::string& version = "1.0.0");

// A catalog of inline manifests, each at "/m/<name>.yaml".
class TestCatalog {
 public:
  TestCatalog& add(const std::string& name, const std::string& body = "", const std::string& version = "1.0.0");
  const Catalog& get() const { return catalog_; }

 private:
  Catalog catalog_;
};

// A profile enabling `names`, each request at line i+1 of "/p/test.yaml".
Profile profile_of(const std::vector<std::string>& names);

BackendCaps direct_caps(std::vector<std::string> features = {});

std::vector<std::string> names_of(const Resolution& r);
const ResolvedPlugin* find_plugin(const Resolution& r, const std::string& name);

}  // namespace enlight::test
