// The built-in registry: plugins linked into the binary are found by name
// before any file, and two of one name abort the process at start-up.
#include <enlight/core/loader.hpp>

#include <gtest/gtest.h>

namespace enlight {
namespace {

enlight_access_result read_msr(void*, uint32_t, uint64_t* v, enlight_origin) {
  *v = 0x5747;
  return ENLIGHT_ACCESS_OK;
}
const enlight_msr_claim kMsrs[] = {{0x40000010, 0x40000010, &read_msr, nullptr}};

const enlight_plugin_descriptor* static_entry() {
  static const enlight_plugin_descriptor d = [] {
    enlight_plugin_descriptor x{};
    x.abi_major = ENLIGHT_ABI_MAJOR;
    x.size = sizeof x;
    x.name = "registry-test";
    x.version = "1.0.0";
    x.msrs = kMsrs;
    x.msr_count = 1;
    return x;
  }();
  return &d;
}

// Once per process, whichever test runs first (a second registration aborts).
void register_once() {
  static const bool registered = (enlight_static_plugin_register("registry-test", &static_entry), true);
  (void)registered;
}

TEST(StaticRegistry, BuiltInPluginIsFoundBeforeAnyFile) {
  register_once();
  EXPECT_EQ(find_static_plugin("registry-test"), static_entry());
  EXPECT_EQ(find_static_plugin("registry-test-absent"), nullptr);

  // The manifest names a library that does not exist: the built-in wins,
  // so the file is never looked at.
  const Manifest m = parse_manifest(R"(name: registry-test
version: 1.0.0
abi: 1
library: nowhere.so
claims:
  msrs:
    - index: 0x40000010
)",
                                    "/virtual/registry-test.yaml");
  const LoadedPlugin p = load_plugin(m);
  EXPECT_EQ(p.descriptor, static_entry());
  EXPECT_EQ(p.origin, "built-in");
  EXPECT_EQ(p.library, nullptr);
}

// A built-in plugin is still checked against its manifest.
TEST(StaticRegistry, BuiltInPluginIsCheckedAgainstItsManifest) {
  register_once();
  const Manifest m = parse_manifest("name: registry-test\nversion: 1.0.0\nabi: 1\n", "/virtual/registry-test.yaml");
  try {
    load_plugin(m);
    FAIL() << "claims differ but it loaded";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.kind(), LoadError::Kind::ClaimMismatch);
    EXPECT_NE(std::string(e.what()).find("(built-in)"), std::string::npos) << e.what();
  }
}

using StaticRegistryDeathTest = ::testing::Test;

TEST_F(StaticRegistryDeathTest, DuplicatePluginNameAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        enlight_static_plugin_register("twice", &static_entry);
        enlight_static_plugin_register("twice", &static_entry);
      },
      "built-in plugin 'twice' registered twice");
}

TEST_F(StaticRegistryDeathTest, DuplicateManifestNameAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        enlight_static_manifest_register("twice", "name: twice\n");
        enlight_static_manifest_register("twice", "name: twice\n");
      },
      "built-in manifest 'twice' registered twice");
}

}  // namespace
}  // namespace enlight
