// relaxed: the relaxed-timing recommendation, nothing else.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(RelaxedCpuid, SetsRelaxedTimingOnly) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_RELAXED_TIMING);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_HYPERCALL_MSRS);  // identity's bit only
}

TEST(RelaxedCpuid, OffMeansNoBit) {
  auto d = make_vm("hv-vpindex");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax & HV_RECOMMEND_RELAXED_TIMING, 0u);
  d = make_vm("hv-relaxed=off,hv-vpindex");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax & HV_RECOMMEND_RELAXED_TIMING, 0u);
}

TEST(RelaxedMsrs, ClaimsNoMsrAndNoHypercall) {
  auto d = make_vm("hv-relaxed");
  // Only identity's MSRs answer in the synthetic range.
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
