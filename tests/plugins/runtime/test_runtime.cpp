// runtime: HV_X64_MSR_VP_RUNTIME, per-vCPU run time in 100 ns units.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

// A backend that reports a different run time per vCPU: vCPU n has run
// (n + 1) ms plus whatever the test adds.
struct FakeRuntime {
  std::shared_ptr<std::atomic<uint64_t>> extra_ns = std::make_shared<std::atomic<uint64_t>>(0);
  VmOptions options() const {
    VmOptions o;
    auto extra = extra_ns;
    o.hooks.vcpu_runtime_ns = [extra](uint32_t v) { return (v + 1) * 1'000'000ull + extra->load(); };
    return o;
  }
};

TEST(RuntimeCpuid, AdvertisesAccessVpRunTimeReg) {
  auto d = make_vm("hv-runtime");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax, HV_ACCESS_VP_RUNTIME_REG | HV_ACCESS_HYPERCALL_MSRS);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx, HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE);
}

TEST(RuntimeMsr, CountsIn100nsUnitsPerVcpu) {
  FakeRuntime rt;
  auto d = make_vm("hv-runtime", 3, rt.options());
  for (uint32_t v = 0; v < 3; ++v) {
    const MsrRead r = d->rdmsr(v, HV_X64_MSR_VP_RUNTIME);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, (v + 1) * 10'000ull) << "vCPU " << v;
  }
  rt.extra_ns->store(250);  // 2.5 units: truncated
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 10'002u);
}

TEST(RuntimeMsr, DirectBackendCountsFromVmStart) {
  // Without a run-time hook a vCPU counts as running since the VM started.
  auto d = make_vm("hv-runtime");
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 0u);
  d->advance_ns(123'456);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 1234u);
}

TEST(RuntimeMsr, GuestWriteIsGp) {
  FakeRuntime rt;
  auto d = make_vm("hv-runtime", 1, rt.options());
  for (uint64_t v : {uint64_t{0}, uint64_t{10'000}, ~uint64_t{0}}) EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_RUNTIME, v), Access::GP);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 10'000u);
}

TEST(RuntimeMsr, HostWriteRestoresTheValueAndKeepsCounting) {
  FakeRuntime rt;
  auto d = make_vm("hv-runtime", 2, rt.options());
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_VP_RUNTIME, 5'000'000), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_RUNTIME).value, 5'000'000u);
  EXPECT_EQ(d->host_rdmsr(1, HV_X64_MSR_VP_RUNTIME).value, 5'000'000u);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 10'000u);  // per vCPU: vCPU 0 untouched
  rt.extra_ns->store(1'000);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_RUNTIME).value, 5'000'010u);
}

TEST(RuntimeMsr, HostWriteBelowTheHostsRunTimeWraps) {
  // The offset is negative; the read must still equal what was restored.
  FakeRuntime rt;
  auto d = make_vm("hv-runtime", 1, rt.options());
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_VP_RUNTIME, 7), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 7u);
  rt.extra_ns->store(100);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 8u);
}

TEST(RuntimeMsr, WorksUnderEnforceCpuid) {
  auto d = make_vm("hv-runtime,hv-enforce-cpuid");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).ok());
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_RUNTIME, 0), Access::GP);
}

TEST(RuntimeMsr, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_RUNTIME).gp());
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax & HV_ACCESS_VP_RUNTIME_REG, 0u);
}

}  // namespace
}  // namespace enlight::test
