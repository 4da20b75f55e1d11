// avic: the deprecate-AutoEOI recommendation, and "use the APIC MSRs" off
// even with hv-vapic, as QEMU's hyperv_fill_cpuids() does.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(AvicCpuid, SetsDeprecateAutoEoiOnly) {
  // QEMU hv-avic alone: 0x40000004.EAX = 0x200, 0x40000003.EAX = 0x20.
  auto d = make_vm("hv-avic");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO),
            (CpuidValue{HV_RECOMMEND_DEPRECATE_AUTO_EOI, HV_SPINLOCK_NEVER_NOTIFY, 0, 0}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, 0x200u);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_HYPERCALL_MSRS);
}

// hv-vapic alone sets bit 3; hv-avic clears it whether it comes first or
// last, and leaves every other plugin's bits alone.
TEST(AvicCpuid, ClearsTheApicMsrRecommendationOfVapic) {
  EXPECT_EQ(make_vm("hv-vapic")->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_MSR_APIC_ACCESS);
  for (const char* flags : {"hv-vapic,hv-avic", "hv-avic,hv-vapic"}) {
    auto d = make_vm(flags, 2);
    for (uint32_t v = 0; v < 2; ++v) {
      EXPECT_EQ(d->cpuid(v, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_DEPRECATE_AUTO_EOI) << flags;
      // The vapic MSRs themselves stay available (AccessIntrCtrlRegs).
      EXPECT_EQ(d->cpuid(v, HV_CPUID_FEATURES).eax, HV_ACCESS_HYPERCALL_MSRS | HV_ACCESS_INTR_CTRL_REGS) << flags;
    }
  }
  auto d = make_vm("hv-relaxed,hv-vapic,hv-avic,hv-spinlocks=0x1fff");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO),
            (CpuidValue{HV_RECOMMEND_RELAXED_TIMING | HV_RECOMMEND_DEPRECATE_AUTO_EOI, 0x1FFF, 0, 0}));
}

TEST(AvicCpuid, WithVapicTheMsrsStillWork) {
  // Only the recommendation changes: a guest that uses the MSRs anyway is served.
  auto d = make_vm("hv-vapic,hv-avic");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TPR, 0x20), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TPR).value, 0x20u);
}

TEST(AvicCpuid, OffMeansNoBit) {
  auto d = make_vm("hv-avic=off,hv-relaxed");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_RELAXED_TIMING);
}

TEST(AvicMsrs, ClaimsNoMsrAndNoHypercall) {
  auto d = make_vm("hv-avic");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i) {
    // identity's, and the VP assist page it answers while vapic is off.
    const bool identity = i == HV_X64_MSR_GUEST_OS_ID || i == HV_X64_MSR_HYPERCALL || i == HV_X64_MSR_VP_ASSIST_PAGE;
    EXPECT_EQ(d->rdmsr(0, i).ok(), identity) << std::hex << i;
  }
  ASSERT_EQ(enable_hypercalls(*d, 0x10000), Access::Ok);
  for (uint16_t code = 0; code < 0x200; ++code)
    ASSERT_EQ(d->fast_hypercall(0, direct::control(code, true), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_CODE) << code;
}

}  // namespace
}  // namespace enlight::test
