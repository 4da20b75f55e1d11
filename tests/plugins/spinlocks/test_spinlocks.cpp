// spinlocks: 0x40000004.EBX and HvCallNotifyLongSpinWait.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

using direct::control;

constexpr uint64_t kPage = 0x10000;
constexpr uint64_t kInput = 0x20000;  // memory-form input page
const char* const kCounter = "enlight_spinlocks_long_spin_waits_total";

TEST(SpinlocksCpuid, RetriesGoTo4Ebx) {
  for (uint64_t n : {uint64_t{0}, uint64_t{0xfff}, uint64_t{0x1fff}, uint64_t{0xFFFFFFFE}}) {
    auto d = make_vm("hv-spinlocks=" + std::to_string(n));
    EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).ebx, n);
    // The flag alone turns Hyper-V on (QEMU: hv-spinlocks != 0xffffffff).
    EXPECT_EQ(d->cpuid(0, HV_CPUID_INTERFACE).eax, HV_CPUID_INTERFACE_SIGNATURE);
  }
}

TEST(SpinlocksCpuid, ProfileWithoutRetriesUsesKvmsValue) {
  auto d = make_vm_from_profile("name: t\nenlightenments:\n  - spinlocks\n");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).ebx, 0xFFFu);
}

TEST(SpinlocksCpuid, RetriesAbove32BitsIsAConfigError) {
  EXPECT_THROW(make_vm("hv-spinlocks=0x100000000"), ConfigError);
}

TEST(SpinlocksCpuid, FlagNeedsAValue) {
  EXPECT_THROW(make_vm("hv-spinlocks"), ConfigError);
}

TEST(SpinlocksHypercall, UdBeforeTheHypercallPageIsEnabled) {
  auto d = make_vm("hv-spinlocks=0xfff");
  const auto out = d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 100, 0);
  EXPECT_TRUE(out.ud());
  EXPECT_EQ(d->yields(), 0u);
  EXPECT_EQ(counter(*d, kCounter), 0);
}

TEST(SpinlocksHypercall, FastCallYieldsAndCounts) {
  auto d = make_vm("hv-spinlocks=0xfff", 2);
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  auto out = d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0xfff, 0);
  EXPECT_FALSE(out.ud());
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(out.rax, 0u);  // no reps, nothing in the upper bits
  EXPECT_EQ(d->yields(), 1u);
  out = d->fast_hypercall(1, control(HvCallNotifyLongSpinWait, true), 1, 0);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->yields(), 2u);
  EXPECT_EQ(counter(*d, kCounter), 2);
}

TEST(SpinlocksHypercall, MemoryFormReadsItsInputPage) {
  auto d = make_vm("hv-spinlocks=0xfff");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  const uint64_t spins = 0x2000;
  ASSERT_TRUE(d->memory().write(kInput, &spins, sizeof spins));
  EXPECT_EQ(d->hypercall(0, control(HvCallNotifyLongSpinWait), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->yields(), 1u);
  // The core validates the GPA of every memory-form call before the handler.
  EXPECT_EQ(d->hypercall(0, control(HvCallNotifyLongSpinWait), kInput + 4, 0).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(d->hypercall(0, control(HvCallNotifyLongSpinWait), uint64_t{1} << 40, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->yields(), 1u);
}

TEST(SpinlocksHypercall, RepOrVariableHeaderIsInvalidInput) {
  // KVM: "rep != 0 or var_cnt != 0" for 0x0008 is INVALID_HYPERCALL_INPUT.
  auto d = make_vm("hv-spinlocks=0xfff");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true, 1), 0, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true, 0, 0, 1), 0, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true) | HV_HYPERCALL_RSVD2_MASK, 0, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->yields(), 0u);
  EXPECT_EQ(counter(*d, kCounter), 0);
}

TEST(SpinlocksHypercall, NeverNotifyIsStillServedWithoutEnforce) {
  // KVM answers the call whatever 4.EBX says unless hv-enforce-cpuid is on.
  for (const char* n : {"0", "0xffffffff"}) {
    auto d = make_vm(std::string("hv-spinlocks=") + n);
    ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
    EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0, 0).status(), HV_STATUS_SUCCESS) << n;
  }
}

TEST(SpinlocksHypercall, EnforceCpuidDeniesWhenTheGuestWasToldNeverToNotify) {
  for (const char* n : {"0", "0xffffffff"}) {
    auto d = make_vm(std::string("hv-spinlocks=") + n + ",hv-enforce-cpuid");
    ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
    EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0, 0).status(), HV_STATUS_ACCESS_DENIED)
        << n;
    EXPECT_EQ(d->yields(), 0u);
    EXPECT_EQ(counter(*d, kCounter), 0);
  }
}

TEST(SpinlocksHypercall, EnforceCpuidAllowsARealRetryCount) {
  for (const char* n : {"1", "0xfff", "0xfffffffe"}) {
    auto d = make_vm(std::string("hv-spinlocks=") + n + ",hv-enforce-cpuid");
    ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
    EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0, 0).status(), HV_STATUS_SUCCESS) << n;
    EXPECT_EQ(d->yields(), 1u);
  }
}

TEST(SpinlocksHypercall, WithoutThePluginTheCodeIsUnknown) {
  // A divergence from KVM, which serves 0x0008 whenever Hyper-V is on
  // (plugins/spinlocks/README.md).
  auto d = make_vm("hv-relaxed");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(d->yields(), 0u);
}

TEST(SpinlocksHypercall, GuestOsIdZeroTurnsTheCallOff) {
  auto d = make_vm("hv-spinlocks=0xfff");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, 0), Access::Ok);
  EXPECT_TRUE(d->fast_hypercall(0, control(HvCallNotifyLongSpinWait, true), 0, 0).ud());
}

TEST(SpinlocksMsrs, ClaimsNoMsr) {
  auto d = make_vm("hv-spinlocks=0xfff");
  for (uint32_t i = HV_X64_MSR_VP_INDEX; i <= HV_X64_MSR_APIC_FREQUENCY; ++i) EXPECT_TRUE(d->rdmsr(0, i).gp()) << std::hex << i;
}

}  // namespace
}  // namespace enlight::test
