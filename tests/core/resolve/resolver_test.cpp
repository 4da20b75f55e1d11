// Which plugins a profile gets, in which order, and every way the set can
// be refused.
#include "resolve_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace enlight {
namespace {

using test::config_error_of;
using test::direct_caps;
using test::find_plugin;
using test::names_of;
using test::profile_of;
using test::TestCatalog;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A small Hyper-V-shaped world: identity is implicit, the rest have flags.
TestCatalog hyperv() {
  TestCatalog c;
  c.add("identity", "implicit: true\npassthrough: true\n");
  c.add("relaxed", "flag: hv-relaxed\npassthrough: true\nrequires: [identity]\n");
  c.add("vpindex", "flag: hv-vpindex\npassthrough: true\nrequires:\n  - identity >=1.0 <2\n");
  c.add("synic", "flag: hv-synic\npassthrough: true\nrequires:\n  - identity\n  - vpindex\n");
  c.add("time", "flag: hv-time\npassthrough: true\nrequires: [identity]\n");
  c.add("stimer", "flag: hv-stimer\npassthrough: true\nrequires:\n  - synic >=1.0\n  - time\nrecommends:\n  - frequencies\n");
  c.add("frequencies", "flag: hv-frequencies\nrequires: [identity]\n");
  c.add("evmcs", "flag: hv-evmcs\npassthrough: true\nhost-features: [intel-vmx]\nrequires: [identity]\n");
  return c;
}

TEST(Resolve, ImplicitProvidersAreAddedAndOrderedFirst) {
  Profile p = profile_of({"vpindex", "relaxed"});
  p.vcpus = 3;
  p.enforce_cpuid = true;
  const TestCatalog c = hyperv();  // r points into it: it outlives r
  const Resolution r = resolve(p, c.get(), direct_caps());
  EXPECT_THAT(names_of(r), ElementsAre("identity", "relaxed", "vpindex"));
  EXPECT_EQ(find_plugin(r, "identity")->why, "required by relaxed, vpindex");
  EXPECT_EQ(find_plugin(r, "vpindex")->why, "profile");
  EXPECT_EQ(r.vcpus, 3u);
  EXPECT_TRUE(r.enforce_cpuid);
  EXPECT_FALSE(r.passthrough);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Resolve, OrderIsTopologicalWithTiesByNameWhateverTheProfileOrder) {
  const TestCatalog c = hyperv();
  std::vector<std::string> wanted = {"stimer", "synic", "vpindex", "time", "relaxed", "frequencies"};
  std::sort(wanted.begin(), wanted.end());
  std::vector<std::string> first;
  do {
    const Resolution r = resolve(profile_of(wanted), c.get(), direct_caps());
    if (first.empty()) first = names_of(r);
    ASSERT_EQ(names_of(r), first);
  } while (std::next_permutation(wanted.begin(), wanted.end()));
  EXPECT_THAT(first, ElementsAre("identity", "frequencies", "relaxed", "time", "vpindex", "synic", "stimer"));
}

TEST(Resolve, UnknownPluginNamesTheProfileLineAndSearchPath) {
  const auto e = config_error_of([] { resolve(profile_of({"relaxed", "vpidnex"}), hyperv().get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:2:5: no plugin named 'vpidnex' (search path: empty); did you mean 'vpindex'?"));
  EXPECT_THAT(e.fix, HasSubstr("ENLIGHT_PLUGIN_PATH"));
}

TEST(Resolve, RequiredPluginThatIsNotImplicitMustBeEnabled) {
  const auto e = config_error_of([] { resolve(profile_of({"stimer", "time"}), hyperv().get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/stimer.yaml:7:5: stimer requires synic, which is not enabled: add 'synic' to "
                                   "enlightenments (or hv-synic to the flags)"));
  EXPECT_THAT(e.fix, HasSubstr("remove stimer (in the set because: profile)"));
  EXPECT_EQ(e.where.line, 7);
}

TEST(Resolve, RequiredPluginMissingFromTheCatalog) {
  TestCatalog c = hyperv();
  c.add("vmbus", "requires:\n  - synic\n  - vmbus-core\n");
  const auto e = config_error_of([&] { resolve(profile_of({"vmbus", "synic", "vpindex"}), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/vmbus.yaml:6:5: vmbus requires 'vmbus-core', but there is no plugin named 'vmbus-core'"));
}

TEST(Resolve, VersionMismatchNamesBothManifests) {
  TestCatalog c = hyperv();
  c.add("stimer2", "requires:\n  - synic >=2.0\n  - time\n");
  const auto e = config_error_of([&] { resolve(profile_of({"stimer2", "synic", "vpindex", "time"}), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/stimer2.yaml:5:5: stimer2 requires 'synic >=2.0' but synic is 1.0.0 (/m/synic.yaml)"));
  EXPECT_THAT(e.fix, HasSubstr("install a synic matching '>=2.0'"));
}

TEST(Resolve, VersionOfAnImplicitProviderIsCheckedToo) {
  TestCatalog c;
  c.add("identity", "implicit: true\n", "2.1.0");
  c.add("vpindex", "requires:\n  - identity >=1.0 <2\n");
  const auto e = config_error_of([&] { resolve(profile_of({"vpindex"}), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/vpindex.yaml:5:5: vpindex requires 'identity >=1.0 <2' but identity is 2.1.0"));
}

TEST(Resolve, ConflictsNameBothPluginsAndTheLine) {
  TestCatalog c = hyperv();
  c.add("legacy-time", "conflicts:\n  - time <2\n");
  const auto e = config_error_of([&] { resolve(profile_of({"time", "legacy-time"}), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/legacy-time.yaml:5:5: 'legacy-time' conflicts with 'time <2' (/m/time.yaml), and both "
                                   "are enabled (legacy-time: profile; time: profile)"));
  EXPECT_EQ(e.fix, "disable one of them");
  // Outside the range there is no conflict.
  TestCatalog d = hyperv();
  d.add("legacy-time", "conflicts:\n  - time >=2\n");
  EXPECT_NO_THROW(resolve(profile_of({"time", "legacy-time"}), d.get(), direct_caps()));
}

TEST(Resolve, UnmetRecommendsIsAWarning) {
  const TestCatalog c = hyperv();
  const Resolution r = resolve(profile_of({"stimer", "synic", "vpindex", "time"}), c.get(), direct_caps());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "/m/stimer.yaml:10:5: stimer recommends frequencies, which is not enabled");
  const Resolution met = resolve(profile_of({"stimer", "synic", "vpindex", "time", "frequencies"}), c.get(), direct_caps());
  EXPECT_TRUE(met.warnings.empty());
}

TEST(Resolve, AbiMismatchNamesTheFileLineAndFix) {
  Catalog cat;
  cat.add(parse_manifest("name: old\nversion: 1.0.0\nabi: 0\n", "/m/old.yaml"));
  const auto e = config_error_of([&] { resolve(profile_of({"old"}), cat, direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/old.yaml:3:1: plugin 'old' is built for plugin ABI 0, but this enlight speaks ABI 1"));
  EXPECT_THAT(e.fix, HasSubstr("rebuild the plugin against this SDK"));
  // An implicit provider is checked as it is pulled in.
  Catalog cat2;
  cat2.add(parse_manifest("name: base\nversion: 1.0.0\nabi: 2\nimplicit: true\n", "/m/base.yaml"));
  cat2.add(parse_manifest(test::manifest_text("user", "requires: [base]\n"), "/m/user.yaml"));
  EXPECT_THAT(config_error_of([&] { resolve(profile_of({"user"}), cat2, direct_caps()); }).message,
              HasSubstr("/m/base.yaml:3:1: plugin 'base' is built for plugin ABI 2"));
}

TEST(Resolve, HostFeatureTheBackendLacks) {
  const auto e = config_error_of([] { resolve(profile_of({"evmcs"}), hyperv().get(), {"kvm", {"in-kernel-lapic"}, true, false, {}, {}}); });
  EXPECT_THAT(e.message, HasSubstr("/m/evmcs.yaml:6:1: plugin 'evmcs' needs host feature 'intel-vmx', which the kvm backend does not have"));
  EXPECT_NO_THROW(resolve(profile_of({"evmcs"}), hyperv().get(), {"kvm", {"intel-vmx"}, true, false, {}, {}}));
}

TEST(Resolve, PassthroughAddsWhatTheHostSupports) {
  Profile p = profile_of({"frequencies"});
  p.passthrough = true;
  const TestCatalog c = hyperv();
  Resolution r = resolve(p, c.get(), direct_caps());
  EXPECT_THAT(names_of(r), ElementsAre("identity", "frequencies", "relaxed", "time", "vpindex", "synic", "stimer"));
  EXPECT_EQ(find_plugin(r, "relaxed")->why, "hv-passthrough");
  EXPECT_EQ(find_plugin(r, "frequencies")->why, "profile");
  EXPECT_TRUE(r.passthrough);
  // evmcs is passthrough: true but needs a feature direct lacks; with it, it joins.
  r = resolve(p, c.get(), direct_caps({"intel-vmx"}));
  EXPECT_NE(find_plugin(r, "evmcs"), nullptr);
}

TEST(Resolve, CycleListsThePluginsAndManifests) {
  TestCatalog c;
  c.add("a", "requires: [b]\n");
  c.add("b", "requires:\n  - c\n");
  c.add("c", "requires:\n  - a\n");
  const auto e = config_error_of([&] { resolve(profile_of({"c", "b", "a"}), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/m/a.yaml:4:12: requires cycle: a -> b -> c -> a (/m/a.yaml:4:12, /m/b.yaml:5:5, /m/c.yaml:5:5)"));
}

TEST(Resolve, ShadowedManifestOfAnEnabledPluginIsAWarning) {
  const std::string dir = std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/fixtures/manifests/catalog-shadow";
  const Catalog c = Catalog::discover({dir + "/first", dir + "/second"});
  const Resolution r = resolve(profile_of({"alpha"}), c, direct_caps());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "'alpha' comes from " + dir + "/first/alpha.yaml; " + dir +
                               "/second/alpha.yaml, later on the search path, is ignored");
  EXPECT_TRUE(resolve(profile_of({"gamma"}), c, direct_caps()).warnings.empty());
}

TEST(Resolve, TheShippedManifestsResolve) {
  const Catalog c = Catalog::discover({std::string(ENLIGHT_TEST_SOURCE_DIR) + "/manifests"});
  const Resolution r = resolve(profile_of({"vpindex"}), c, direct_caps());
  EXPECT_THAT(names_of(r), ElementsAre("identity", "vpindex"));
  EXPECT_EQ(find_plugin(r, "identity")->options.size(), c.find("identity")->options.size());
}

// The profiles compiled into the binary must resolve against the shipped
// manifests: `enlight run` with no arguments depends on it.
TEST(Resolve, TheEmbeddedProfilesResolveAgainstTheShippedManifests) {
  const Catalog c = Catalog::discover({std::string(ENLIGHT_TEST_SOURCE_DIR) + "/manifests"});
  for (const auto& [name, text] : embedded_profiles()) {
    try {
      const Resolution r = resolve(parse_profile(text, "<embedded>/" + name + ".yaml"), c, direct_caps());
      EXPECT_EQ(r.plugins.front().manifest->name, "identity") << name;
    } catch (const ConfigError& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
}

TEST(Resolve, EmptyProfileResolvesToNothing) {
  const TestCatalog c = hyperv();
  const Resolution r = resolve(Profile{}, c.get(), direct_caps());
  EXPECT_TRUE(r.plugins.empty());
  EXPECT_EQ(r.vcpus, 1u);
}

}  // namespace
}  // namespace enlight
