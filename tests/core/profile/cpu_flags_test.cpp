// QEMU-style flags: names from manifests, '-' and '_' alike, option flags,
// core flags, later flags winning, errors with a column and a hint.
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>

#include "../common/config_error_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Catalog flag_catalog() {
  Catalog c;
  auto add = [&](const std::string& name, const std::string& body) {
    c.add(parse_manifest("name: " + name + "\nversion: 1.0.0\nabi: 1\n" + body, "/m/" + name + ".yaml"));
  };
  add("identity", "implicit: true\noptions:\n  - { name: vendor-id, type: string, default: x, flag: hv-vendor-id }\n");
  add("relaxed", "flag: hv-relaxed\n");
  add("vpindex", "flag: hv-vpindex\n");
  add("spinlocks",
      "options:\n  - { name: retries, type: u64, default: 0xffffffff, flag: hv-spinlocks, flag-enables: true }\n");
  add("synic", "flag: hv-synic\noptions:\n  - { name: kvm-only, type: bool, default: false, flag: x-hv-synic-kvm-only }\n");
  return c;
}

std::vector<std::string> names(const std::vector<PluginRequest>& reqs) {
  std::vector<std::string> out;
  for (const auto& r : reqs) out.push_back(r.name);
  return out;
}

TEST(CpuFlags, TheQemuExample) {
  const Profile p = parse_cpu_flags("hv-relaxed,hv_vpindex,hv-spinlocks=0xfff,hv-vendor-id=KVMKVMKVM,hv-passthrough,hv-enforce-cpuid",
                                    flag_catalog());
  EXPECT_EQ(p.source, "<flags>");
  EXPECT_THAT(names(p.plugins), ElementsAre("relaxed", "vpindex", "spinlocks"));
  EXPECT_EQ(p.plugins[2].options.at("retries").text, "0xfff");
  EXPECT_EQ(p.plugins[2].options.at("retries").where.str(), "<flags>:1:23");
  // hv-vendor-id alone does not enable Hyper-V, as in QEMU.
  ASSERT_EQ(p.option_only.size(), 1u);
  EXPECT_EQ(p.option_only[0].name, "identity");
  EXPECT_EQ(p.option_only[0].options.at("vendor-id").text, "KVMKVMKVM");
  EXPECT_TRUE(p.passthrough);
  EXPECT_TRUE(p.enforce_cpuid);
  EXPECT_EQ(p.plugins[0].where.str(), "<flags>:1:1");
  EXPECT_EQ(p.plugins[1].where.str(), "<flags>:1:12");
}

TEST(CpuFlags, EmptyStringIsAnEmptyProfile) {
  const Profile p = parse_cpu_flags("", flag_catalog());
  EXPECT_TRUE(p.plugins.empty());
  EXPECT_TRUE(p.option_only.empty());
  EXPECT_FALSE(p.passthrough);
  EXPECT_TRUE(parse_cpu_flags(" , ,", flag_catalog()).plugins.empty());
}

TEST(CpuFlags, OnOffValuesAndLaterFlagsWin) {
  const Catalog c = flag_catalog();
  EXPECT_THAT(names(parse_cpu_flags("hv-relaxed=on,hv-vpindex=yes,hv-synic=true", c).plugins), ElementsAre("relaxed", "vpindex", "synic"));
  EXPECT_THAT(names(parse_cpu_flags("hv-relaxed,hv-vpindex,hv-relaxed=off", c).plugins), ElementsAre("vpindex"));
  EXPECT_THAT(names(parse_cpu_flags("hv-relaxed=off,hv-relaxed", c).plugins), ElementsAre("relaxed"));
  EXPECT_TRUE(parse_cpu_flags("hv-relaxed=no", c).plugins.empty());
  const Profile p = parse_cpu_flags("hv-passthrough,hv-passthrough=off, hv_enforce_cpuid=on", c);
  EXPECT_FALSE(p.passthrough);
  EXPECT_TRUE(p.enforce_cpuid);
}

TEST(CpuFlags, BadOnOffValue) {
  const auto e = config_error_of([] { parse_cpu_flags("hv-relaxed,hv-vpindex=maybe", flag_catalog()); });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:12: flag 'hv-vpindex' takes on or off, got 'maybe'"));
  EXPECT_THAT(config_error_of([] { parse_cpu_flags("hv-enforce-cpuid=2", flag_catalog()); }).message,
              HasSubstr("flag 'hv-enforce-cpuid' takes on or off, got '2'"));
}

TEST(CpuFlags, OptionFlagsThatDoNotEnableGoToOptionOnlyUntilEnabled) {
  const Catalog c = flag_catalog();
  Profile p = parse_cpu_flags("x-hv-synic-kvm-only", c);
  EXPECT_TRUE(p.plugins.empty());
  ASSERT_EQ(p.option_only.size(), 1u);
  EXPECT_EQ(p.option_only[0].options.at("kvm-only").text, "on");
  p = parse_cpu_flags("x-hv-synic-kvm-only=off,hv-synic", c);
  ASSERT_EQ(p.plugins.size(), 1u);
  EXPECT_EQ(p.plugins[0].options.at("kvm-only").text, "off");
  EXPECT_TRUE(p.option_only.empty());
}

TEST(CpuFlags, ValueFlagWithoutValue) {
  const auto e = config_error_of([] { parse_cpu_flags("hv-spinlocks", flag_catalog()); });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:1: flag 'hv-spinlocks' needs a value"));
  EXPECT_THAT(e.fix, HasSubstr("hv-spinlocks=VALUE"));
}

TEST(CpuFlags, UnknownFlagSuggestsAKnownOne) {
  auto e = config_error_of([] { parse_cpu_flags("hv-relaxed, hv-vpidnex", flag_catalog()); });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:13: unknown flag 'hv-vpidnex'; did you mean 'hv-vpindex'?"));
  EXPECT_FALSE(e.fix.empty());
  e = config_error_of([] { parse_cpu_flags("hv_passthru", flag_catalog()); });
  EXPECT_THAT(e.message, HasSubstr("unknown flag 'hv_passthru'; did you mean 'hv-passthrough'?"));
  e = config_error_of([] { parse_cpu_flags("hv-evmcs", flag_catalog()); });
  EXPECT_THAT(e.message, HasSubstr("unknown flag 'hv-evmcs'"));
  EXPECT_THAT(e.message, ::testing::Not(HasSubstr("did you mean")));
}

TEST(CpuFlags, AFlagDeclaredByTwoPluginsIsAmbiguousWhenUsed) {
  Catalog c = flag_catalog();
  c.add(parse_manifest("name: other\nversion: 1.0.0\nabi: 1\nflag: hv-relaxed\n", "/m/other.yaml"));
  EXPECT_NO_THROW(parse_cpu_flags("hv-vpindex", c));
  const auto e = config_error_of([&] { parse_cpu_flags("hv-vpindex,hv-relaxed", c); });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:12: flag 'hv-relaxed' is declared by both 'other' (/m/other.yaml:4:1) and "
                                   "'relaxed' (/m/relaxed.yaml:4:1)"));
}

}  // namespace
}  // namespace enlight
