// What the configuration fuzz targets that resolve a profile share
// (cpu_flags_fuzz.cpp, profile_yaml_fuzz.cpp): the catalog of the shipped
// manifests, discovered once, and the direct backend's capabilities.
#pragma once

#include <enlight/core/catalog.hpp>
#include <enlight/core/resolver.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#ifndef ENLIGHT_FUZZ_MANIFEST_DIR
#define ENLIGHT_FUZZ_MANIFEST_DIR "manifests"
#endif

namespace enlight::fuzz {

[[noreturn]] inline void fail(const char* target, const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s fuzz: %s: %s\n", target, what, detail.c_str());
  std::abort();
}

// The shipped manifests. ENLIGHT_FUZZ_MANIFEST_DIR in the environment
// overrides the source tree compiled in (a moved checkout).
inline std::unique_ptr<Catalog> shipped_catalog(const char* target) {
  const char* env = std::getenv("ENLIGHT_FUZZ_MANIFEST_DIR");
  const std::string dir = env && *env ? env : ENLIGHT_FUZZ_MANIFEST_DIR;
  std::unique_ptr<Catalog> catalog;
  try {
    catalog = std::make_unique<Catalog>(Catalog::discover({dir}));
  } catch (const std::exception& e) {
    fail(target, "cannot build the catalog", e.what());
  }
  if (catalog->all().size() < 10) fail(target, "too few manifests found in", dir);
  return catalog;
}

// What enlight::direct::capabilities() returns (core/src/backend/direct),
// written out here so the targets need no VM.
inline BackendCaps direct_caps() {
  return BackendCaps{"direct", {"intel-vmx", "amd-svm", "in-kernel-lapic"}, true, false, {}, {}};
}

}  // namespace enlight::fuzz
