// A failed create unwinds what was created, in reverse, and nothing else:
// the plugin whose create failed is not destroyed (it has no state), and
// the VM creation reports which plugin failed and why.
#include "probe_log.hpp"

#include <enlight/core/loader.hpp>

namespace enlight::test {
namespace {

using Lines = std::vector<std::string>;

std::string create_error(const fixtures::Resolved& r) {
  try {
    direct::DirectVm::create(r.resolution);
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "the VM was created";
  return {};
}

TEST(CreateUnwind, VmCreateFailureDestroysEarlierPluginsInReverse) {
  ProbeLog log;
  auto r = fixtures::resolve_cases({"lifecycle"}, log.probes({{"probe-a", {{"fail-vm-create", "on"}}}}), false, 2);
  const std::string what = create_error(*r);
  EXPECT_NE(what.find("plugin 'probe-a' could not create its VM state: refused on purpose (fail-vm-create)"),
            std::string::npos)
      << what;
  EXPECT_EQ(log.lines(), (Lines{
                             "probe-c vm_create",
                             "probe-b vm_create",
                             "probe-a vm_create_failed",
                             "probe-b vm_destroy",
                             "probe-c vm_destroy",
                         }));
}

TEST(CreateUnwind, FirstPluginFailingLeavesNothingToUndo) {
  ProbeLog log;
  auto r = fixtures::resolve_cases({"lifecycle"}, log.probes({{"probe-c", {{"fail-vm-create", "on"}}}}));
  EXPECT_NE(create_error(*r).find("plugin 'probe-c'"), std::string::npos);
  EXPECT_EQ(log.lines(), (Lines{"probe-c vm_create_failed"}));
}

// vCPU 1 of the last plugin fails: vCPU 1's states so far go first (reverse),
// then all of vCPU 0 (reverse), then the VM states (reverse).
TEST(CreateUnwind, VcpuCreateFailureUnwindsVcpusThenVmStates) {
  ProbeLog log;
  auto r = fixtures::resolve_cases({"lifecycle"}, log.probes({{"probe-a", {{"fail-vcpu-create", "1"}}}}), false, 2);
  const std::string what = create_error(*r);
  EXPECT_NE(what.find("plugin 'probe-a' could not create vCPU 1: vCPU 1 refused on purpose"), std::string::npos) << what;
  EXPECT_EQ(log.lines(), (Lines{
                             "probe-c vm_create",
                             "probe-b vm_create",
                             "probe-a vm_create",
                             "probe-c vcpu_create 0",
                             "probe-b vcpu_create 0",
                             "probe-a vcpu_create 0",
                             "probe-c vcpu_create 1",
                             "probe-b vcpu_create 1",
                             "probe-a vcpu_create_failed 1",
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

TEST(CreateUnwind, VcpuCreateFailureOnTheFirstVcpu) {
  ProbeLog log;
  auto r = fixtures::resolve_cases({"lifecycle"}, log.probes({{"probe-b", {{"fail-vcpu-create", "0"}}}}), false, 2);
  EXPECT_NE(create_error(*r).find("plugin 'probe-b' could not create vCPU 0"), std::string::npos);
  EXPECT_EQ(log.lines(), (Lines{
                             "probe-c vm_create",
                             "probe-b vm_create",
                             "probe-a vm_create",
                             "probe-c vcpu_create 0",
                             "probe-b vcpu_create_failed 0",
                             "probe-c vcpu_destroy 0",
                             "probe-a vm_destroy",
                             "probe-b vm_destroy",
                             "probe-c vm_destroy",
                         }));
}

// Every binary is loaded and checked before any plugin is created: a bad
// .so fails the VM before a good plugin has state to unwind.
TEST(CreateUnwind, BadBinaryFailsBeforeAnyCreate) {
  ProbeLog log;
  std::vector<fixtures::Request> req = log.probes();
  req.push_back({"wrong-abi"});
  auto r = fixtures::resolve_cases({"lifecycle", "wrong-abi"}, req);
  ASSERT_EQ(r->resolution.plugins.size(), 4u);
  try {
    direct::DirectVm::create(r->resolution);
    FAIL() << "created";
  } catch (const LoadError& e) {
    EXPECT_EQ(e.kind(), LoadError::Kind::AbiMismatch);
  }
  EXPECT_TRUE(log.lines().empty());
}

// A plugin may have per-vCPU contexts and nothing to free (vcpu_create
// without vcpu_destroy, tests/fixtures/handmade). Unwinding a vCPU whose
// later plugin fails must skip the missing destroy, as teardown does.
TEST(CreateUnwind, VcpuWithoutDestroyIsSkippedWhenUnwinding) {
  ProbeLog log;
  std::vector<fixtures::Request> req = log.probes({{"probe-c", {{"fail-vcpu-create", "1"}}}});
  req.push_back({"handmade-vcpu"});
  auto r = fixtures::resolve_cases({"lifecycle", "handmade-vcpu"}, req, false, 2);
  ASSERT_EQ(r->resolution.plugins.front().manifest->name, "handmade-vcpu") << "created before the probes";
  EXPECT_NE(create_error(*r).find("plugin 'probe-c' could not create vCPU 1"), std::string::npos);
  EXPECT_EQ(log.lines().back(), "probe-c vm_destroy");

  // And the same plugin works when nothing fails: each vCPU sees its own context.
  auto vm = fixtures::make_vm({"lifecycle", "handmade-vcpu"}, {{"handmade-vcpu"}}, false, 2);
  EXPECT_EQ(vm->rdmsr(0, 0x40000010).value, 0x00000000C0DE0010ull);
  EXPECT_EQ(vm->rdmsr(1, 0x40000010).value, 0x00000001C0DE0010ull);
}

// After a failed create the same plugins can be created again: nothing was
// left half-registered.
TEST(CreateUnwind, CreateAgainAfterAFailure) {
  ProbeLog log;
  auto bad = fixtures::resolve_cases({"lifecycle"}, log.probes({{"probe-a", {{"fail-vm-create", "on"}}}}));
  create_error(*bad);
  auto vm = fixtures::make_vm({"lifecycle"}, log.probes());
  EXPECT_TRUE(vm->rdmsr(0, 0x40000180).ok());
}

}  // namespace
}  // namespace enlight::test
