// frequencies: HV_X64_MSR_TSC_FREQUENCY and HV_X64_MSR_APIC_FREQUENCY.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

TEST(FrequenciesCpuid, AdvertisesPrivilegeAndFeatureBit) {
  auto d = make_vm("hv-frequencies");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_FREQUENCY_REGS | HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_FREQUENCY_REGS_AVAILABLE | HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
}

TEST(FrequenciesMsr, ReadTheHostsFrequencies) {
  auto d = make_vm("hv-frequencies");
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TSC_FREQUENCY).value, VmOptions{}.tsc_frequency_hz);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_APIC_FREQUENCY).value, 1'000'000'000u);  // KVM's APIC bus
  VmOptions o;
  o.tsc_frequency_hz = 3'123'456'789;
  o.apic_frequency_hz = 200'000'000;
  d = make_vm("hv-frequencies", 2, o);
  for (uint32_t v = 0; v < 2; ++v) {
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_TSC_FREQUENCY).value, 3'123'456'789u);
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_APIC_FREQUENCY).value, 200'000'000u);
  }
}

TEST(FrequenciesMsr, GuestWriteIsGp) {
  auto d = make_vm("hv-frequencies");
  for (uint32_t msr : {HV_X64_MSR_TSC_FREQUENCY, HV_X64_MSR_APIC_FREQUENCY}) {
    const uint64_t before = d->rdmsr(0, msr).value;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP);
    EXPECT_EQ(d->wrmsr(0, msr, before), Access::GP);  // even the same value
    EXPECT_EQ(d->rdmsr(0, msr).value, before);
  }
}

TEST(FrequenciesMsr, HostWriteIsAcceptedAndIgnored) {
  auto d = make_vm("hv-frequencies");
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_TSC_FREQUENCY, 1), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_TSC_FREQUENCY).value, VmOptions{}.tsc_frequency_hz);
}

TEST(FrequenciesMsr, WorkUnderEnforceCpuid) {
  auto d = make_vm("hv-frequencies,hv-enforce-cpuid");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TSC_FREQUENCY).ok());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_APIC_FREQUENCY).ok());
}

TEST(FrequenciesMsr, NeighboursAreNotClaimed) {
  auto d = make_vm("hv-frequencies");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).gp());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_APIC_FREQUENCY + 1).gp());
}

}  // namespace
}  // namespace enlight::test
