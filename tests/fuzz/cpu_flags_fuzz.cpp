// libFuzzer target: QEMU-style -cpu flags (core/src/profile/cpu_flags.cpp,
// parse_cpu_flags) as a user types them, against the catalog of the shipped
// manifests (manifests/*.yaml, discovered once). A parsed profile then goes
// through the resolver with the direct backend's capabilities. Every input
// must either succeed or throw enlight's ConfigError naming where it comes
// from; any other exception, a crash or a sanitizer report is a bug. A
// parsed profile names only plugins and options the catalog has.
#include "config_fuzz_common.hpp"

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

namespace {

std::unique_ptr<enlight::Catalog> g_catalog;

[[noreturn]] void fail(const char* what, const std::string& detail) { enlight::fuzz::fail("cpu_flags", what, detail); }

void check_request(const enlight::PluginRequest& req) {
  const enlight::Manifest* m = g_catalog->find(req.name);
  if (!m) fail("parsed profile names a plugin the catalog lacks", req.name);
  for (const auto& [name, value] : req.options)
    if (!m->find_option(name)) fail("parsed profile sets an option the manifest lacks", req.name + "." + name);
  if (req.where.file != "<flags>") fail("request not located in <flags>", req.where.str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_catalog = enlight::fuzz::shipped_catalog("cpu_flags");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string flags(reinterpret_cast<const char*>(data), size);
  try {
    const enlight::Profile p = enlight::parse_cpu_flags(flags, *g_catalog);
    for (const auto& req : p.plugins) check_request(req);
    for (const auto& req : p.option_only) check_request(req);
    const enlight::Resolution r = enlight::resolve(p, *g_catalog, enlight::fuzz::direct_caps());
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
