// Plugins are created in dependency order (the VM state of each, then each
// vCPU's state of each) and destroyed in exactly the reverse order. The
// probes' dependency order is c, b, a: the reverse of name order, so name
// order cannot pass for dependency order.
#include "probe_log.hpp"

namespace enlight::test {
namespace {

using Lines = std::vector<std::string>;

TEST(LifecycleOrder, ResolutionIsInDependencyOrder) {
  ProbeLog log;
  auto vm = fixtures::make_vm({"lifecycle"}, log.probes());
  ASSERT_EQ(vm->vm().plugin_count(), 3);
  EXPECT_EQ(vm->vm().plugin_name(0), "probe-c");
  EXPECT_EQ(vm->vm().plugin_name(1), "probe-b");
  EXPECT_EQ(vm->vm().plugin_name(2), "probe-a");
}

TEST(LifecycleOrder, CreateInDependencyOrderDestroyInReverse) {
  ProbeLog log;
  auto vm = fixtures::make_vm({"lifecycle"}, log.probes(), false, 2);
  EXPECT_EQ(log.lines(), (Lines{
                             "probe-c vm_create",
                             "probe-b vm_create",
                             "probe-a vm_create",
                             "probe-c vcpu_create 0",
                             "probe-b vcpu_create 0",
                             "probe-a vcpu_create 0",
                             "probe-c vcpu_create 1",
                             "probe-b vcpu_create 1",
                             "probe-a vcpu_create 1",
                         }));
  vm.reset();
  const Lines all = log.lines();
  ASSERT_EQ(all.size(), 18u);
  EXPECT_EQ(Lines(all.begin() + 9, all.end()), (Lines{
                                                   "probe-a vcpu_destroy 1",
                                                   "probe-b vcpu_destroy 1",
                                                   "probe-c vcpu_destroy 1",
                                                   "probe-a vcpu_destroy 0",
                                                   "probe-b vcpu_destroy 0",
                                                   "probe-c vcpu_destroy 0",
                                                   "probe-a vm_destroy",
                                                   "probe-b vm_destroy",
                                                   "probe-c vm_destroy",
                                               }));
}

// Every vCPU's handlers get that vCPU's state: the probe MSR reads the
// index its vCPU state was created with.
TEST(LifecycleOrder, EachVcpuGetsItsOwnState) {
  ProbeLog log;
  auto vm = fixtures::make_vm({"lifecycle"}, log.probes(), false, 3);
  for (uint32_t v = 0; v < 3; ++v) {
    for (uint32_t msr : {0x40000180u, 0x40000181u, 0x40000182u}) {
      const auto r = vm->rdmsr(v, msr);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r.value, v) << std::hex << msr;
    }
  }
  // State written on one vCPU stays there.
  EXPECT_EQ(vm->wrmsr(1, 0x40000181, 0x77), Access::Ok);
  EXPECT_EQ(vm->host_rdmsr(1, 0x40000181).value, 0x77u);
  EXPECT_EQ(vm->host_rdmsr(0, 0x40000181).value, 0u);
}

}  // namespace
}  // namespace enlight::test
