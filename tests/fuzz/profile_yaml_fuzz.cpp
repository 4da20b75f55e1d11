// libFuzzer target: a VM profile as YAML (core/src/profile/profile_yaml.cpp,
// parse_profile) as a user writes it. A parsed profile then goes through
// the resolver against the catalog of the shipped manifests (manifests/,
// discovered once) with the direct backend's capabilities. Every input must
// either succeed or throw enlight's ConfigError; the parser's errors name
// the profile's file. Any other exception, a crash or a sanitizer report is
// a bug.
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

const std::string kPath = "<fuzz>";
std::unique_ptr<enlight::Catalog> g_catalog;

[[noreturn]] void fail(const char* what, const std::string& detail) { enlight::fuzz::fail("profile_yaml", what, detail); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_catalog = enlight::fuzz::shipped_catalog("profile_yaml");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  enlight::Profile p;
  try {
    p = enlight::parse_profile(text, kPath);
  } catch (const enlight::ConfigError& e) {
    if (e.where().file != kPath) fail("parser's ConfigError not located in the profile", e.what());
    return 0;
  } catch (const std::exception& e) {
    fail((std::string("parse_profile threw other than ConfigError: ") + typeid(e).name()).c_str(), e.what());
  } catch (...) {
    fail("parse_profile threw a non-std exception", "");
  }
  if (p.vcpus < 1 || p.vcpus > 1024) fail("vcpus out of range", std::to_string(p.vcpus));
  if (p.machine.kernel.empty() && (p.machine.memory || !p.machine.initrd.empty() || p.machine.has_append))
    fail("machine keys without a kernel", p.machine.initrd);
  try {
    (void)enlight::resolve(p, *g_catalog, enlight::fuzz::direct_caps());
  } catch (const enlight::ConfigError& e) {
    if (e.where().file.empty()) fail("resolver's ConfigError without a file", e.what());
  } catch (const std::exception& e) {
    fail((std::string("resolve threw other than ConfigError: ") + typeid(e).name()).c_str(), e.what());
  } catch (...) {
    fail("resolve threw a non-std exception", "");
  }
  return 0;
}
