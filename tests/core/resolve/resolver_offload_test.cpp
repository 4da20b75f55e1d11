// `offload:` in a profile entry: the backend named does the plugin's work
// itself. Refused, at the entry's line, when the plugin does not offer it or
// the run's backend is another one; carried into the Resolution otherwise.
#include "resolve_test_util.hpp"

#include <enlight/core/profile.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using test::find_plugin;
using test::profile_of;
using test::TestCatalog;
using ::testing::HasSubstr;

TestCatalog offloadable() {
  TestCatalog c;
  c.add("time", "offload: [kvm]\n");
  c.add("relaxed");
  return c;
}

Profile offloading(const std::string& plugin) {
  Profile p = profile_of({"time", "relaxed"});
  for (PluginRequest& r : p.plugins)
    if (r.name == plugin) r.offload = "kvm", r.offload_where = {"/p/test.yaml", 9, 13};
  return p;
}

BackendCaps kvm_caps() { return BackendCaps{"kvm", {}, true, false, {}, {}}; }

TEST(ResolveOffload, CarriedIntoTheResolutionForTheKvmBackend) {
  const TestCatalog c = offloadable();
  const Resolution r = resolve(offloading("time"), c.get(), kvm_caps());
  ASSERT_NE(find_plugin(r, "time"), nullptr);
  EXPECT_EQ(find_plugin(r, "time")->offload, "kvm");
  EXPECT_EQ(find_plugin(r, "relaxed")->offload, "");
}

TEST(ResolveOffload, APluginThatOffersNoOffloadIsRefusedAtTheEntry) {
  const TestCatalog c = offloadable();
  const auto e = config_error_of([&] { resolve(offloading("relaxed"), c.get(), kvm_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:9:13: 'relaxed' cannot be offloaded to 'kvm' (/m/relaxed.yaml offers no offload)"));
  EXPECT_THAT(e.fix, HasSubstr("remove 'offload' from 'relaxed'"));
}

TEST(ResolveOffload, AnotherBackendIsRefusedWithTheFix) {
  const TestCatalog c = offloadable();
  const auto e = config_error_of([&] { resolve(offloading("time"), c.get(), test::direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("'time' is offloaded to kvm, but this run uses the direct backend"));
  EXPECT_THAT(e.fix, HasSubstr("--backend kvm"));
}

TEST(ResolveOffload, ProfileEntryKeyIsTheCoresNotAnOption) {
  const Profile p = parse_profile("enlightenments:\n  - time: { offload: kvm }\n", "/p/o.yaml");
  ASSERT_EQ(p.plugins.size(), 1u);
  EXPECT_EQ(p.plugins[0].offload, "kvm");
  EXPECT_EQ(p.plugins[0].offload_where.line, 2);
  EXPECT_TRUE(p.plugins[0].options.empty());
}

TEST(ResolveOffload, ManifestsMayNotOfferUnknownBackendsNorNameAnOptionOffload) {
  auto e = config_error_of([&] { TestCatalog().add("time", "offload: [xen]\n"); });
  EXPECT_THAT(e.message, HasSubstr("offload 'xen' is not a backend"));
  e = config_error_of([&] { TestCatalog().add("time", "options:\n  - { name: offload, type: bool }\n"); });
  EXPECT_THAT(e.message, HasSubstr("'offload' is the core's key"));
}

}  // namespace
}  // namespace enlight
