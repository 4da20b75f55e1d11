// libFuzzer target: QEMU-style -cpu flags (core/src/profile/cpu_flags.cpp,
// parse_cpu_flags) as a user types them, against the catalog of the shipped
// manifests (manifests/*.yaml, discovered once). A parsed profile then goes
// through the resolver with the direct backend's capabilities. Every input
// must either succeed or throw enlight's ConfigError naming where it comes
// from; any other exception, a crash or a sanitizer report is a bug. A
// parsed profile names only plugins and options the catalog has.
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

#ifndef ENLIGHT_FUZZ_MANIFEST_DIR
#define ENLIGHT_FUZZ_MANIFEST_DIR "manifests"
#endif

namespace {

std::unique_ptr<enlight::Catalog> g_catalog;

// What enlight::direct::capabilities() returns (core/src/backend/direct),
// written out here so the target needs no VM.
enlight::BackendCaps direct_caps() {
  return enlight::BackendCaps{"direct", {"intel-vmx", "amd-svm", "in-kernel-lapic"}, true, false, {}, {}};
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "cpu_flags fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_request(const enlight::PluginRequest& req) {
  const enlight::Manifest* m = g_catalog->find(req.name);
  if (!m) fail("parsed profile names a plugin the catalog lacks", req.name);
  for (const auto& [name, value] : req.options)
    if (!m->find_option(name)) fail("parsed profile sets an option the manifest lacks", req.name + "." + name);
  if (req.where.file != "<flags>") fail("request not located in <flags>", req.where.str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // ENLIGHT_FUZZ_MANIFEST_DIR in the environment overrides the source tree
  // compiled in (a moved checkout).
  const char* env = std::getenv("ENLIGHT_FUZZ_MANIFEST_DIR");
  const std::string dir = env && *env ? env : ENLIGHT_FUZZ_MANIFEST_DIR;
  try {
    g_catalog = std::make_unique<enlight::Catalog>(enlight::Catalog::discover({dir}));
  } catch (const std::exception& e) {
    fail("cannot build the catalog", e.what());
  }
  if (g_catalog->all().size() < 10) fail("too few manifests found in", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string flags(reinterpret_cast<const char*>(data), size);
  try {
    const enlight::Profile p = enlight::parse_cpu_flags(flags, *g_catalog);
    for (const auto& req : p.plugins) check_request(req);
    for (const auto& req : p.option_only) check_request(req);
    const enlight::Resolution r = enlight::resolve(p, *g_catalog, direct_caps());
    for (const auto& rp : r.plugins)
      if (!rp.manifest || rp.manifest->options.size() != rp.options.size())
        fail("resolved plugin without its options", rp.manifest ? rp.manifest->name : "(null)");
  } catch (const enlight::ConfigError& e) {
    if (e.where().file.empty()) fail("ConfigError without a file", e.what());
  } catch (const std::exception& e) {
    fail((std::string("exception other than ConfigError: ") + typeid(e).name()).c_str(), e.what());
  } catch (...) {
    fail("non-std exception", "");
  }
  return 0;
}
