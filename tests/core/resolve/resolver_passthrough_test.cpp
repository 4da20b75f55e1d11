// hv-passthrough on a backend that narrows it to the host's Hyper-V CPUID
// (kvm: KVM_GET_SUPPORTED_HV_CPUID), as QEMU's hv-passthrough does.
#include "resolve_test_util.hpp"

#include <enlight/core/profile.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using test::find_plugin;
using test::TestCatalog;
using ::testing::HasSubstr;

TestCatalog passthrough_catalog() {
  TestCatalog c;
  c.add("identity", "implicit: true\npassthrough: true\n");
  c.add("time",
        "passthrough: true\nrequires: [identity]\n"
        "claims:\n  cpuid:\n    - { leaf: 0x40000003, reg: eax, bits: [1, 9] }\n");
  c.add("stimer",
        "passthrough: true\nrequires: [identity]\n"
        "claims:\n  cpuid:\n    - { leaf: 0x40000003, reg: eax, bits: [3] }\n"
        "    - { leaf: 0x40000003, reg: edx, bits: [19] }\n");
  return c;
}

Profile passthrough_profile() {
  Profile p;
  p.source = "<flags>";
  p.passthrough = true;
  p.passthrough_where = {"<flags>", 1, 1};
  return p;
}

BackendCaps narrowing(std::vector<HvCpuidLeaf> leaves, std::string missing = "") {
  BackendCaps caps{"kvm", {}, true, true, std::move(leaves), std::move(missing)};
  return caps;
}

TEST(ResolvePassthrough, OnlyPluginsWhoseCpuidBitsTheHostReports) {
  const TestCatalog c = passthrough_catalog();
  HvCpuidLeaf features{0x40000003, {(1u << 1) | (1u << 9) | (1u << 3), 0, 0, 0}};  // no edx bit 19
  const Resolution r = resolve(passthrough_profile(), c.get(), narrowing({features}));
  EXPECT_NE(find_plugin(r, "time"), nullptr);
  EXPECT_EQ(find_plugin(r, "stimer"), nullptr) << "edx bit 19 (direct timers) is not reported";
  features.regs[3] = 1u << 19;
  const Resolution all = resolve(passthrough_profile(), c.get(), narrowing({features}));
  EXPECT_NE(find_plugin(all, "stimer"), nullptr);
  EXPECT_EQ(find_plugin(all, "stimer")->why, "hv-passthrough");
}

TEST(ResolvePassthrough, BackendsThatDoNotNarrowPassEverything) {
  const TestCatalog c = passthrough_catalog();
  const Resolution r = resolve(passthrough_profile(), c.get(), test::direct_caps());
  EXPECT_NE(find_plugin(r, "time"), nullptr);
  EXPECT_NE(find_plugin(r, "stimer"), nullptr);
}

TEST(ResolvePassthrough, AHostThatCannotSayIsRefusedWithTheReasonAndFix) {
  const TestCatalog c = passthrough_catalog();
  const auto e = config_error_of([&] {
    resolve(passthrough_profile(), c.get(), narrowing({}, "this KVM has no KVM_GET_SUPPORTED_HV_CPUID"));
  });
  EXPECT_THAT(e.message, HasSubstr("<flags>:1:1: hv-passthrough on the kvm backend"));
  EXPECT_THAT(e.message, HasSubstr("no KVM_GET_SUPPORTED_HV_CPUID"));
  EXPECT_THAT(e.fix, HasSubstr("list the enlightenments you want"));
}

}  // namespace
}  // namespace enlight
