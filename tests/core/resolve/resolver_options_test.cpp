// Option values typed against manifests: defaults, bounds, types, unknown
// names, and options set without enabling the plugin.
#include "resolve_test_util.hpp"

#include <enlight/abi.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using test::direct_caps;
using test::find_plugin;
using test::profile_of;
using test::TestCatalog;
using ::testing::HasSubstr;

TestCatalog with_options() {
  TestCatalog c;
  c.add("identity",
        "implicit: true\n"
        "options:\n"
        "  - { name: vendor-id, type: string, default: \"Microsoft Hv\", max-length: 12, flag: hv-vendor-id }\n"
        "  - { name: max-vps, type: u64, default: 0xffffffff, max: 0xffffffff }\n");
  c.add("spinlocks",
        "requires: [identity]\n"
        "options:\n"
        "  - { name: retries, type: u64, default: 0xffffffff, min: 0xfff, max: 0xffffffff, flag: hv-spinlocks, flag-enables: true }\n"
        "  - { name: notify, type: bool, default: true }\n");
  c.add("relaxed", "flag: hv-relaxed\nrequires: [identity]\n");
  return c;
}

Profile with_request(const std::string& plugin, const std::string& option, const std::string& value) {
  Profile p = profile_of({plugin});
  p.plugins[0].options[option] = {value, {"/p/test.yaml", 7, 17}};
  return p;
}

const TypedOption& option(const ResolvedPlugin& p, const std::string& name) {
  for (const auto& o : p.options)
    if (o.name == name) return o;
  throw std::out_of_range(name);
}

TEST(ResolveOptions, DefaultsFilledInManifestOrder) {
  const TestCatalog c = with_options();  // r points into it: it outlives r
  const Resolution r = resolve(profile_of({"spinlocks"}), c.get(), direct_caps());
  const ResolvedPlugin* s = find_plugin(r, "spinlocks");
  ASSERT_EQ(s->options.size(), 2u);
  EXPECT_EQ(s->options[0].name, "retries");
  EXPECT_EQ(s->options[0].type, ENLIGHT_OPT_U64);
  EXPECT_EQ(s->options[0].u64, 0xffffffffu);
  EXPECT_EQ(s->options[1].type, ENLIGHT_OPT_BOOL);
  EXPECT_EQ(s->options[1].u64, 1u);
  const ResolvedPlugin* id = find_plugin(r, "identity");
  EXPECT_EQ(option(*id, "vendor-id").type, ENLIGHT_OPT_STRING);
  EXPECT_EQ(option(*id, "vendor-id").str, "Microsoft Hv");
  EXPECT_TRUE(find_plugin(r, "relaxed") == nullptr);
}

TEST(ResolveOptions, ProfileValuesAreTyped) {
  const TestCatalog c = with_options();
  EXPECT_EQ(option(*find_plugin(resolve(with_request("spinlocks", "retries", "0x1fff"), c.get(), direct_caps()), "spinlocks"), "retries").u64,
            0x1fffu);
  EXPECT_EQ(option(*find_plugin(resolve(with_request("spinlocks", "retries", "8191"), c.get(), direct_caps()), "spinlocks"), "retries").u64,
            8191u);
  for (const char* off : {"off", "false", "no", "0"})
    EXPECT_EQ(option(*find_plugin(resolve(with_request("spinlocks", "notify", off), c.get(), direct_caps()), "spinlocks"), "notify").u64,
              0u)
        << off;
}

TEST(ResolveOptions, IllTypedValueNamesProfileLinePluginOptionAndType) {
  const TestCatalog c = with_options();
  auto e = config_error_of([&] { resolve(with_request("spinlocks", "retries", "lots"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:7:17: option 'retries' of 'spinlocks' must be a u64 (decimal or 0x hex), got 'lots'"));
  e = config_error_of([&] { resolve(with_request("spinlocks", "notify", "maybe"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:7:17: option 'notify' of 'spinlocks' must be a bool (on/off, true/false, yes/no, 1/0), got 'maybe'"));
}

TEST(ResolveOptions, BoundsAndMaxLength) {
  const TestCatalog c = with_options();
  auto e = config_error_of([&] { resolve(with_request("spinlocks", "retries", "0xff"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:7:17: option 'retries' of 'spinlocks' is 0xff, outside [0xFFF, 0xFFFFFFFF] (/m/spinlocks.yaml)"));
  e = config_error_of([&] { resolve(with_request("spinlocks", "retries", "0x100000000"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("is 0x100000000, outside"));
  e = config_error_of([&] { resolve(with_request("identity", "vendor-id", "ThirteenChars"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:7:17: option 'vendor-id' of 'identity' is 13 characters long, more than its max-length 12"));
}

TEST(ResolveOptions, UnknownOptionSuggestsTheClosest) {
  const TestCatalog c = with_options();
  auto e = config_error_of([&] { resolve(with_request("spinlocks", "retrys", "1"), c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("/p/test.yaml:7:17: 'spinlocks' has no option 'retrys'; did you mean 'retries'?"));
  EXPECT_THAT(e.fix, HasSubstr("'retries', 'notify'"));
  e = config_error_of([&] { resolve(with_request("relaxed", "x", "1"), c.get(), direct_caps()); });
  EXPECT_THAT(e.fix, HasSubstr("relaxed takes no options"));
}

TEST(ResolveOptions, OptionOnlyAppliesWhenThePluginEndsUpEnabled) {
  const TestCatalog c = with_options();
  Profile p = parse_cpu_flags("hv-vendor-id=KVMKVMKVM,hv-relaxed", c.get());
  ASSERT_EQ(p.option_only.size(), 1u);
  Resolution r = resolve(p, c.get(), direct_caps());
  EXPECT_EQ(option(*find_plugin(r, "identity"), "vendor-id").str, "KVMKVMKVM");
  EXPECT_TRUE(r.warnings.empty());

  p = parse_cpu_flags("hv-vendor-id=KVMKVMKVM", c.get());
  r = resolve(p, c.get(), direct_caps());
  EXPECT_TRUE(r.plugins.empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "<flags>:1:1: options for 'identity' are ignored: identity is not enabled");
}

TEST(ResolveOptions, OptionOnlyIsCheckedEvenWhenUnused) {
  const TestCatalog c = with_options();
  const Profile p = parse_cpu_flags("hv-relaxed=off,hv-vendor-id=ThisIsFarTooLong", c.get());
  const auto e = config_error_of([&] { resolve(p, c.get(), direct_caps()); });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:16: option 'vendor-id' of 'identity' is 16 characters long"));
}

TEST(ResolveOptions, FlagThatEnablesCarriesItsValue) {
  const TestCatalog c = with_options();
  const Resolution r = resolve(parse_cpu_flags("hv-spinlocks=0x1fff", c.get()), c.get(), direct_caps());
  ASSERT_NE(find_plugin(r, "spinlocks"), nullptr);
  EXPECT_EQ(option(*find_plugin(r, "spinlocks"), "retries").u64, 0x1fffu);
}

TEST(ResolveOptions, ExplicitRequestWinsOverOptionOnly) {
  const TestCatalog c = with_options();
  Profile p = profile_of({"identity"});
  p.plugins[0].options["vendor-id"] = {"FromProfile", {"/p/test.yaml", 1, 1}};
  p.option_only.push_back({"identity", {{"vendor-id", {"FromFlag", {"<flags>", 1, 1}}}}, {"<flags>", 1, 1}, {}, {}});
  const Resolution r = resolve(p, c.get(), direct_caps());
  EXPECT_EQ(option(*find_plugin(r, "identity"), "vendor-id").str, "FromProfile");
}

}  // namespace
}  // namespace enlight
