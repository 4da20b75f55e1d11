// emsr-bitmap: 0x4000000A.EAX[19] (enlightened MSR bitmap), which alone
// makes the nested leaves exist: 0x40000000.EAX = 0x4000000A, 0x40000006-9
// zero, as QEMU's hyperv_fill_cpuids gives for a non-zero 0x4000000A.EAX.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(EmsrBitmapCpuid, SetsTheBitAndRaisesTheMaxLeaf) {
  auto d = make_vm("hv-emsr-bitmap", 2);
  for (uint32_t v = 0; v < 2; ++v) {
    EXPECT_EQ(d->cpuid(v, HV_CPUID_NESTED_OPTIMIZATIONS), (CpuidValue{HV_NESTED_MSR_BITMAP, 0, 0, 0}));
    EXPECT_EQ(d->cpuid(v, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_NESTED_OPTIMIZATIONS);
    for (uint32_t leaf = HV_CPUID_HARDWARE_FEATURES; leaf < HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf) {
      EXPECT_TRUE(d->vm().bus().cpuid_table().has(leaf)) << std::hex << leaf;
      EXPECT_EQ(d->cpuid(v, leaf), CpuidValue{}) << std::hex << leaf;
    }
    // Nothing else: identity's bits only, no recommendation.
    EXPECT_EQ(d->cpuid(v, HV_CPUID_FEATURES).eax, HV_ACCESS_HYPERCALL_MSRS);
    EXPECT_EQ(d->cpuid(v, HV_CPUID_ENLIGHTENMENT_INFO).eax, 0u);
  }
}

TEST(EmsrBitmapCpuid, OffMeansNoNestedLeaves) {
  auto d = make_vm("hv-relaxed,hv-emsr-bitmap=off");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_MIN_MAX_LEAF);
  EXPECT_FALSE(d->vm().bus().cpuid_table().has(HV_CPUID_NESTED_OPTIMIZATIONS));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS), CpuidValue{});
}

TEST(EmsrBitmapCpuid, NeedsNothingButIdentity) {
  auto d = make_vm("hv-emsr-bitmap");
  ASSERT_EQ(d->vm().plugins().size(), 2u);
  EXPECT_EQ(d->vm().plugins()[0].manifest->name, "identity");
  EXPECT_EQ(d->vm().plugins()[1].manifest->name, "emsr-bitmap");
}

TEST(EmsrBitmapMsrs, ClaimsNoMsrAndNoHypercall) {
  auto d = make_vm("hv-emsr-bitmap");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i) {
    const bool identity = i == HV_X64_MSR_GUEST_OS_ID || i == HV_X64_MSR_HYPERCALL || i == HV_X64_MSR_VP_ASSIST_PAGE;
    EXPECT_EQ(d->rdmsr(0, i).ok(), identity) << std::hex << i;
  }
  ASSERT_EQ(enable_hypercalls(*d, 0x10000), Access::Ok);
  for (uint16_t code = 0; code < 0x200; ++code)
    ASSERT_EQ(d->fast_hypercall(0, direct::control(code, true), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_CODE) << code;
}

}  // namespace
}  // namespace enlight::test
