// CPUID composition: contributions are checked against the contributing
// plugin's claims (cpuid_set refuses the rest and the plugin's create fails
// with the reason), bits are ORed across plugins, and the hypervisor range's
// max leaf is computed from what is present.
#include <fixture_vm.hpp>
#include <gtest/gtest.h>

#include <enlight/tlfs.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace enlight {
namespace {

struct LogCapture {
  std::mutex mutex;
  std::vector<std::string> lines;  // "<level> <plugin>: <message>"
  VmOptions options() {
    VmOptions o;
    o.log = [this](uint32_t level, const std::string& plugin, const std::string& message) {
      std::lock_guard lock(mutex);
      lines.push_back(std::to_string(level) + " " + plugin + ": " + message);
    };
    return o;
  }
  bool has(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

TEST(CpuidComposition, AcceptedContributionsAreVisible) {
  auto vm = fixtures::make_vm({"cpuid"}, {{"cpuid-probe"}});
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_FEATURES).eax, 1u << 1);
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).ebx, 0x0FFFu);
}

TEST(CpuidComposition, MaxLeafIsAtLeast0x40000005) {
  auto vm = fixtures::make_vm({"cpuid"}, {{"cpuid-probe"}});
  const CpuidTable& t = vm->vm().bus().cpuid_table();
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_IMPLEMENT_LIMITS);
  for (uint32_t leaf = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; leaf <= HV_CPUID_IMPLEMENT_LIMITS; ++leaf)
    EXPECT_TRUE(t.has(leaf)) << std::hex << leaf;
  EXPECT_FALSE(t.has(HV_CPUID_HARDWARE_FEATURES));
}

TEST(CpuidComposition, NestedLeafRaisesMaxLeafAndFillsTheGap) {
  auto vm = fixtures::make_vm({"cpuid"}, {{"cpuid-probe"}, {"cpuid-nested"}});
  const CpuidTable& t = vm->vm().bus().cpuid_table();
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_NESTED_OPTIMIZATIONS);
  for (uint32_t leaf = HV_CPUID_HARDWARE_FEATURES; leaf < HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf) {
    EXPECT_TRUE(t.has(leaf)) << std::hex << leaf;
    EXPECT_EQ(vm->cpuid(0, leaf), CpuidValue{}) << std::hex << leaf;
  }
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS).eax, 1u << 19);
  // Both set bit 1 of 0x40000003.EAX: shared bits compose by OR.
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_FEATURES).eax, 1u << 1);
  EXPECT_FALSE(t.has(HV_CPUID_NESTED_OPTIMIZATIONS + 1));
}

// No plugin contributes CPUID: no hypervisor range at all (Hyper-V is off).
TEST(CpuidComposition, NoClaimsNoHypervisorLeaves) {
  auto vm = fixtures::make_vm({"throwing"}, {{"throwing"}});
  EXPECT_TRUE(vm->vm().bus().cpuid_table().leaves().empty());
  EXPECT_EQ(vm->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS), CpuidValue{});
}

struct Refused {
  const char* contribution;
  const char* core_says;  // what the core logs about the refusal
};

class RefusedContribution : public ::testing::TestWithParam<Refused> {};

TEST_P(RefusedContribution, FailsThePluginsCreateWithTheReason) {
  LogCapture log;
  auto resolved = fixtures::resolve_cases({"cpuid"}, {{"cpuid-probe", {{"contribution", GetParam().contribution}}}});
  try {
    direct::DirectVm::create(resolved->resolution, log.options());
    FAIL() << "a refused CPUID contribution did not fail the VM";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("plugin 'cpuid-probe' could not create its VM state"), std::string::npos) << what;
    EXPECT_NE(what.find(std::string("the core refused CPUID contribution '") + GetParam().contribution + "'"),
              std::string::npos)
        << what;
  }
  EXPECT_TRUE(log.has(std::string("0 cpuid-probe: CPUID ")));
  EXPECT_TRUE(log.has(GetParam().core_says)) << GetParam().core_says;
}

INSTANTIATE_TEST_SUITE_P(
    Contributions, RefusedContribution,
    ::testing::Values(Refused{"outside-mask", "value has bits outside the mask"},
                      Refused{"outside-claims", "not inside any of the plugin's CPUID claims"},
                      Refused{"wider-mask", "not inside any of the plugin's CPUID claims"},
                      Refused{"other-leaf", "not inside any of the plugin's CPUID claims"}),
    [](const ::testing::TestParamInfo<Refused>& info) {
      std::string n = info.param.contribution;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

// The refusal names the exact leaf, register and mask.
TEST(CpuidComposition, RefusalNamesLeafRegisterAndMask) {
  LogCapture log;
  auto resolved = fixtures::resolve_cases({"cpuid"}, {{"cpuid-probe", {{"contribution", "outside-mask"}}}});
  EXPECT_THROW(direct::DirectVm::create(resolved->resolution, log.options()), std::runtime_error);
  EXPECT_TRUE(log.has("CPUID 0x40000004.0 ebx mask 0x000000FF"));
}

}  // namespace
}  // namespace enlight
