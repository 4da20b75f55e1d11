// reset: HV_X64_MSR_RESET stops the VM with a reset request.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(ResetCpuid, AdvertisesAccessResetRegOnly) {
  auto d = make_vm("hv-reset");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_RESET_REG | HV_ACCESS_HYPERCALL_MSRS);
  // QEMU does not set the "use the reset MSR" recommendation for hv-reset.
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax & HV_RECOMMEND_MSR_RESET, 0u);
}

TEST(ResetMsr, ReadsZero) {
  auto d = make_vm("hv-reset");
  const MsrRead r = d->rdmsr(0, HV_X64_MSR_RESET);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0u);
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_RESET).value, 0u);
}

TEST(ResetMsr, WritingZeroIsANoOp) {
  auto d = make_vm("hv-reset");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, 0), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(ResetMsr, Bit0StopsTheVmWithAResetRequest) {
  auto d = make_vm("hv-reset", 2);
  EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_RESET, HV_X64_MSR_RESET_SYSTEM), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::GuestReset);
  EXPECT_NE(d->vm().stop_message().find("reset"), std::string::npos) << d->vm().stop_message();
  EXPECT_NE(d->vm().stop_message().find("'reset'"), std::string::npos) << d->vm().stop_message();  // the plugin is named
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_RESET).value, 0u);  // still reads 0 afterwards
}

TEST(ResetMsr, Bit0WithOtherBitsStillResets) {
  // Choice (plugins/reset/README.md): KVM resets only on exactly 1.
  auto d = make_vm("hv-reset");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, 0xF0 | HV_X64_MSR_RESET_SYSTEM), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::GuestReset);
}

TEST(ResetMsr, OtherBitsAloneAreIgnored) {
  auto d = make_vm("hv-reset");
  for (uint64_t v : {uint64_t{2}, uint64_t{0x100}, ~HV_X64_MSR_RESET_SYSTEM}) EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, v), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(ResetMsr, HostWriteNeverResets) {
  auto d = make_vm("hv-reset");
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_RESET, HV_X64_MSR_RESET_SYSTEM), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(ResetMsr, WorksUnderEnforceCpuid) {
  auto d = make_vm("hv-reset,hv-enforce-cpuid");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, HV_X64_MSR_RESET_SYSTEM), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::GuestReset);
}

TEST(ResetMsr, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, HV_X64_MSR_RESET_SYSTEM), Access::GP);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

}  // namespace
}  // namespace enlight::test
