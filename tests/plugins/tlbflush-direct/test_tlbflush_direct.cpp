// tlbflush-direct: 0x4000000A.EAX[17] (direct virtual flush hypercalls for
// a nested guest), the nested leaves it brings, and QEMU's rule that it
// needs hv-vapic.
#include "enlight_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;

TEST(TlbflushDirectCpuid, SetsTheBitAndRaisesTheMaxLeaf) {
  auto d = make_vm("hv-vapic,hv-tlbflush-direct");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS), (CpuidValue{HV_NESTED_DIRECT_FLUSH, 0, 0, 0}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_NESTED_OPTIMIZATIONS);
  for (uint32_t leaf = HV_CPUID_HARDWARE_FEATURES; leaf < HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf)
    EXPECT_EQ(d->cpuid(0, leaf), CpuidValue{}) << std::hex << leaf;
  // vapic's bits, nothing of its own elsewhere.
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_HYPERCALL_MSRS | HV_ACCESS_INTR_CTRL_REGS);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_MSR_APIC_ACCESS);
}

TEST(TlbflushDirectCpuid, WithEmsrBitmapBothBits) {
  auto d = make_vm("hv-vapic,hv-tlbflush-direct,hv-emsr-bitmap");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS).eax, HV_NESTED_DIRECT_FLUSH | HV_NESTED_MSR_BITMAP);
}

TEST(TlbflushDirectCpuid, OffMeansNoBit) {
  auto d = make_vm("hv-vapic,hv-tlbflush-direct,hv-tlbflush-direct=off");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_MIN_MAX_LEAF);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS), CpuidValue{});
}

TEST(TlbflushDirectResolve, NeedsVapic) {
  try {
    make_vm("hv-tlbflush-direct");
    FAIL() << "hv-tlbflush-direct without hv-vapic resolved";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tlbflush-direct requires vapic, which is not enabled"));
    EXPECT_THAT(e.what(), HasSubstr("hv-vapic"));
    EXPECT_THAT(e.where().file, HasSubstr("tlbflush-direct.yaml"));
  }
}

TEST(TlbflushDirectMsrs, ClaimsNoMsr) {
  auto with = make_vm("hv-vapic,hv-tlbflush-direct");
  auto without = make_vm("hv-vapic");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i)
    EXPECT_EQ(with->rdmsr(0, i).ok(), without->rdmsr(0, i).ok()) << std::hex << i;
}

}  // namespace
}  // namespace enlight::test
