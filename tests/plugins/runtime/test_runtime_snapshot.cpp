// runtime: the VP run time continues from its saved value in a VM whose
// backend run time restarts at 0.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

namespace snap = snapshot;

VmOptions runtime_hook(std::shared_ptr<std::atomic<uint64_t>> ns) {
  VmOptions o;
  o.hooks.vcpu_runtime_ns = [ns](uint32_t v) { return ns->load() + v * 1'000'000ull; };
  return o;
}

TEST(RuntimeSnapshot, CountsOnFromTheSavedValue) {
  auto ns_a = std::make_shared<std::atomic<uint64_t>>(50'000'000);  // vCPU v ran 50 ms + v ms
  auto a = make_vm("hv-runtime", 2, runtime_hook(ns_a));
  const uint64_t r0 = a->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, r1 = a->rdmsr(1, HV_X64_MSR_VP_RUNTIME).value;
  ASSERT_EQ(r0, 500'000u);
  const snap::Blobs blobs = snap::save(*a, "runtime");
  ASSERT_EQ(blobs.vcpus.size(), 2u);

  auto ns_b = std::make_shared<std::atomic<uint64_t>>(0);  // a new VM: the backend restarts at 0
  auto b = make_vm("hv-runtime", 2, runtime_hook(ns_b));
  ASSERT_EQ(snap::load(*b, "runtime", blobs), "");
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, r0);
  EXPECT_EQ(b->rdmsr(1, HV_X64_MSR_VP_RUNTIME).value, r1);
  ns_b->store(1'000);  // 10 units later
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, r0 + 10);
  EXPECT_EQ(b->rdmsr(1, HV_X64_MSR_VP_RUNTIME).value, r1 + 10);
  // A host write after the load still wins, as before.
  ASSERT_EQ(b->host_wrmsr(0, HV_X64_MSR_VP_RUNTIME, 7), Access::Ok);
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_VP_RUNTIME).value, 7u);
}

TEST(RuntimeSnapshot, HostileBlobs) {
  auto a = make_vm("hv-runtime");
  a->advance_ns(123'456'789);
  const snap::Blobs blobs = snap::save(*a, "runtime");
  EXPECT_EQ(snap::record(*a, "runtime").descriptor->vm_save, nullptr) << "per-VP state only";
  auto b = make_vm("hv-runtime");
  // Every 64-bit run time is one a host write sets: flips load, cuts fail.
  snap::sweep(blobs.vcpus.at(0), [&](const std::vector<uint8_t>& blob) { return snap::load_vcpu(*b, "runtime", 0, blob); });
}

}  // namespace
}  // namespace enlight::test
