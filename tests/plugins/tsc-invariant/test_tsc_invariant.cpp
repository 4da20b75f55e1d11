// tsc-invariant: HV_X64_MSR_TSC_INVARIANT_CONTROL with KVM's semantics
// (kvm_hv_set_msr_pw): bit 0 only, other bits #GP for guest and host, the
// guest cannot clear it once set, the host can; partition-wide. No QEMU
// flag: enabled by name in a profile, or by hv-passthrough where the host
// reports 0x40000003.EAX[15].
#include "enlight_test.hpp"

#include <algorithm>
#include <random>

namespace enlight::test {
namespace {

constexpr uint32_t kMsr = HV_X64_MSR_TSC_INVARIANT_CONTROL;
const char* const kProfile = "enlightenments:\n  - tsc-invariant\n";

bool has_plugin(DirectVm& d, const std::string& name) {
  return std::any_of(d.vm().plugins().begin(), d.vm().plugins().end(),
                     [&](const LoadedPlugin& p) { return p.manifest->name == name; });
}

TEST(TscInvariantCpuid, AdvertisesThePrivilegeOnly) {
  auto d = make_vm_from_profile(kProfile);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_TSC_INVARIANT_CONTROLS | HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, 0u);
}

TEST(TscInvariantCpuid, HasNoFlag) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  EXPECT_TRUE(catalog.find("tsc-invariant")->flag.empty());
  EXPECT_THROW(parse_cpu_flags("hv-tsc-invariant", catalog), ConfigError);
}

TEST(TscInvariantMsr, ResetsToZeroAndIsPartitionWide) {
  auto d = make_vm_from_profile("vcpus: 3\n" + std::string(kProfile));
  for (uint32_t v = 0; v < 3; ++v) EXPECT_EQ(d->rdmsr(v, kMsr).value, 0u);
  EXPECT_EQ(d->wrmsr(1, kMsr, HV_EXPOSE_INVARIANT_TSC), Access::Ok);
  for (uint32_t v = 0; v < 3; ++v) {
    const MsrRead r = d->rdmsr(v, kMsr);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.value, HV_EXPOSE_INVARIANT_TSC) << "vCPU " << v;
  }
}

TEST(TscInvariantMsr, GuestCannotClearItOnceSet) {
  auto d = make_vm_from_profile(kProfile);
  EXPECT_EQ(d->wrmsr(0, kMsr, 0), Access::Ok) << "0 over 0 is no change";
  EXPECT_EQ(d->wrmsr(0, kMsr, 1), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, kMsr, 1), Access::Ok) << "setting it again is fine";
  EXPECT_EQ(d->wrmsr(0, kMsr, 0), Access::GP);
  EXPECT_EQ(d->rdmsr(0, kMsr).value, 1u);
  // The host (a restore) can.
  EXPECT_EQ(d->host_wrmsr(0, kMsr, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kMsr).value, 0u);
  EXPECT_EQ(d->host_wrmsr(0, kMsr, 1), Access::Ok);
  EXPECT_EQ(d->host_rdmsr(0, kMsr).value, 1u);
}

TEST(TscInvariantMsr, OtherBitsAreGpForGuestAndHost) {
  auto d = make_vm_from_profile(kProfile);
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t value = rng() >> (rng() % 64);
    const bool valid = (value & ~HV_EXPOSE_INVARIANT_TSC) == 0;
    const uint64_t before = d->rdmsr(0, kMsr).value;
    const Access guest = d->wrmsr(0, kMsr, value);
    if (!valid) {
      EXPECT_EQ(guest, Access::GP) << hex(value);
      EXPECT_EQ(d->host_wrmsr(0, kMsr, value), Access::GP) << hex(value);
      EXPECT_EQ(d->rdmsr(0, kMsr).value, before) << hex(value);
    } else {
      EXPECT_EQ(guest, before == 1 && value == 0 ? Access::GP : Access::Ok) << hex(value);
    }
    if (i % 7 == 0) d->host_wrmsr(0, kMsr, 0);  // let the guest set it again
  }
  for (uint64_t value : {uint64_t{2}, uint64_t{3}, uint64_t{1} << 63, ~uint64_t{0}})
    EXPECT_EQ(d->wrmsr(0, kMsr, value), Access::GP) << hex(value);
}

TEST(TscInvariantMsr, WorksUnderEnforceCpuid) {
  auto d = make_vm_from_profile("enforce-cpuid: true\n" + std::string(kProfile));
  EXPECT_EQ(d->wrmsr(0, kMsr, 1), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kMsr).value, 1u);
}

TEST(TscInvariantMsr, NeighboursAreNotClaimed) {
  auto d = make_vm_from_profile(kProfile);
  EXPECT_TRUE(d->rdmsr(0, kMsr - 1).gp());
  EXPECT_TRUE(d->rdmsr(0, kMsr + 1).gp());
}

TEST(TscInvariantPassthrough, OnWhereTheHostReportsTheBit) {
  EXPECT_TRUE(has_plugin(*make_vm("hv-passthrough"), "tsc-invariant"));  // direct: every passthrough plugin
  const Catalog catalog = Catalog::discover(plugin_dir());
  auto kvm_like = [&](uint32_t features_eax) {
    BackendCaps caps{"kvm", {"intel-vmx", "in-kernel-lapic"}, true, false, {}, {}};
    caps.narrows_passthrough = true;
    // What KVM reports (hyperv-facts.md §1.3), with or without bit 15.
    caps.hv_supported = {{HV_CPUID_FEATURES, {features_eax, 0x100830, 0, 0x84D12}},
                         {HV_CPUID_ENLIGHTENMENT_INFO, {0xE2C, 0xFFF, 0, 0}},
                         {HV_CPUID_NESTED_OPTIMIZATIONS, {0xA0000, 0, 0, 0}}};
    return DirectVm::create(resolve(parse_cpu_flags("hv-passthrough", catalog), catalog, caps));
  };
  constexpr uint32_t kKvmFeaturesEax = 0xAAFF;  // bits 0-7, 9, 11, 13, 15
  EXPECT_TRUE(has_plugin(*kvm_like(kKvmFeaturesEax), "tsc-invariant"));
  EXPECT_FALSE(has_plugin(*kvm_like(kKvmFeaturesEax & ~HV_ACCESS_TSC_INVARIANT_CONTROLS), "tsc-invariant"));
}

}  // namespace
}  // namespace enlight::test
