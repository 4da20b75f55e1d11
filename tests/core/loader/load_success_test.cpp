// Good binaries load; one mapping per file is shared, and it lives exactly
// as long as something (a VM) uses it.
#include <enlight/core/loader.hpp>

#include <fixture_vm.hpp>
#include <gtest/gtest.h>

#include <memory>

namespace enlight {
namespace {

using fixtures::case_dir;
using fixtures::manifest_path;

TEST(LoadSuccess, HandWrittenCPluginLoadsAndServes) {
  const Manifest m = load_manifest_file(manifest_path("handmade-ok", "handmade-ok"));
  const LoadedPlugin p = load_plugin(m);
  ASSERT_NE(p.descriptor, nullptr);
  EXPECT_STREQ(p.descriptor->name, "handmade-ok");
  EXPECT_EQ(p.manifest, &m);
  EXPECT_EQ(p.origin, case_dir("handmade-ok") + "/handmade-ok.so");
  EXPECT_NE(p.library, nullptr);

  // No vm_create and no vcpu_create: handlers get a NULL context and work.
  auto vm = fixtures::make_vm({"handmade-ok"}, {{"handmade-ok"}});
  const auto r = vm->rdmsr(0, 0x40000010);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0xC0DE0010u);
}

// Built from the ABI 1.0 header as released (tests/abi/v1_0): it loads in
// this core, its vm_create uses 1.0's host services through this core's
// larger enlight_host, and its handler serves.
TEST(LoadSuccess, APluginBuiltAgainstAbi10StillLoadsAndServes) {
  const Manifest m = load_manifest_file(manifest_path("abi-1-0", "abi-1-0"));
  const LoadedPlugin p = load_plugin(m);
  ASSERT_NE(p.descriptor, nullptr);
  EXPECT_EQ(p.descriptor->abi_minor, 0u);
  auto vm = fixtures::make_vm({"abi-1-0"}, {{"abi-1-0"}}, false, 2);
  const auto r = vm->rdmsr(1, 0x40000010);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, (uint64_t{2} << 32) | 0xC0DE0010u) << "the 1.0 plugin read vcpu_count from this core's host";
}

TEST(LoadSuccess, SdkPluginWithMatchingClaimsLoads) {
  const Manifest m = load_manifest_file(manifest_path("misfit-ok", "misfit-ok"));
  const LoadedPlugin p = load_plugin(m);
  ASSERT_NE(p.descriptor, nullptr);
  EXPECT_EQ(p.descriptor->abi_major, ENLIGHT_ABI_MAJOR);
  EXPECT_STREQ(p.descriptor->version, "1.0.0");
}

// hc-shapes splits 0x4B564D00-07 into three claims where its manifest
// writes one range, and its manifest splits two ranges the binary claims
// whole. Claims compare as sets of indices.
TEST(LoadSuccess, ClaimsCompareAsSetsOfIndices) {
  const Manifest m = load_manifest_file(manifest_path("hc-shapes", "hc-shapes"));
  ASSERT_EQ(m.msrs.size(), 9u);
  const LoadedPlugin p = load_plugin(m);
  EXPECT_EQ(p.descriptor->msr_count, 9u);
}

TEST(LibraryCache, OneMappingPerFileWhileUsed) {
  const Manifest m = load_manifest_file(manifest_path("misfit-ok", "misfit-ok"));
  std::weak_ptr<LoadedLibrary> weak;
  {
    const LoadedPlugin a = load_plugin(m);
    const LoadedPlugin b = load_plugin(m);
    EXPECT_EQ(a.library, b.library);
    EXPECT_EQ(a.descriptor, b.descriptor);
    weak = a.library;
  }
  // Nothing uses it any more: it is unmapped, not kept forever.
  EXPECT_TRUE(weak.expired());
  // ...and can be loaded again.
  EXPECT_NE(load_plugin(m).descriptor, nullptr);
}

// A second manifest object for the same file (another catalog, another VM)
// shares the mapping: the cache is keyed by the file, not the manifest.
TEST(LibraryCache, KeyedByFile) {
  const Manifest m1 = load_manifest_file(manifest_path("misfit-ok", "misfit-ok"));
  const Manifest m2 = load_manifest_file(case_dir("misfit-ok") + "/../misfit-ok/misfit-ok.yaml");
  const LoadedPlugin a = load_plugin(m1);
  const LoadedPlugin b = load_plugin(m2);
  EXPECT_EQ(a.library, b.library);
}

TEST(LibraryCache, VmsKeepTheirLibrariesLoaded) {
  std::weak_ptr<LoadedLibrary> weak;
  auto first = fixtures::make_vm({"hc-shapes"}, {{"hc-shapes"}});
  {
    auto second = fixtures::make_vm({"hc-shapes"}, {{"hc-shapes"}});
    ASSERT_EQ(first->vm().plugins().size(), 1u);
    EXPECT_EQ(first->vm().plugins()[0].library, second->vm().plugins()[0].library);
    weak = first->vm().plugins()[0].library;
  }
  // The second VM is gone; the first still runs plugin code from the file.
  ASSERT_FALSE(weak.expired());
  EXPECT_TRUE(first->rdmsr(0, 0x40000090).ok());
  first.reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace enlight
