// A plugin that fails - by reporting a fault, by throwing through the SDK,
// or by throwing straight through the C ABI, which the ABI forbids - stops
// the VM with StopReason::PluginError and a message naming the plugin and
// what it said. The host process goes on.
//
// Decided behaviour after the stop: the bus keeps serving. Stopping is the
// run loop's business (it checks Vm::stopped() between exits), so a later
// access to a healthy handler still works, a later access to the failing
// one fails again, and neither changes the recorded reason.
#include "probe_log.hpp"

#include <hc_shapes_abi.h>

namespace enlight::test {
namespace {

using direct::control;

constexpr uint32_t kRawThrow = 0x40000010, kSdkThrow = 0x40000011, kGood = 0x40000012, kRawThrowInt = 0x40000013;

class FaultContainment : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_ = fixtures::make_vm({"throwing"}, {{"throwing"}});
    d().vm().bus().set_hypercalls_enabled(true);
  }
  direct::DirectVm& d() { return *fx_; }
  void expect_stopped_with(const std::string& text) {
    EXPECT_EQ(d().vm().stop_reason(), StopReason::PluginError);
    EXPECT_EQ(d().vm().stop_message(), "plugin 'throwing' failed: " + text);
  }
  fixtures::FixtureVm fx_;
};

TEST_F(FaultContainment, RawHandlerThrowingThroughTheCAbi) {
  EXPECT_EQ(d().rdmsr(0, kRawThrow).access, Access::Fault);
  expect_stopped_with("raw msr handler exploded");
}

TEST_F(FaultContainment, SdkHandlerThrowing) {
  EXPECT_EQ(d().rdmsr(0, kSdkThrow).access, Access::Fault);
  expect_stopped_with("sdk msr handler exploded");
}

TEST_F(FaultContainment, RawHandlerThrowingANonStandardException) {
  EXPECT_EQ(d().rdmsr(0, kRawThrowInt).access, Access::Fault);
  expect_stopped_with("handler threw a non-standard exception");
}

TEST_F(FaultContainment, RawHypercallHandlerThrowing) {
  const auto r = d().hypercall(0, control(0x0050), 0, 0);
  EXPECT_EQ(r.action, HypercallAction::Fault);
  expect_stopped_with("raw hypercall exploded");
}

TEST_F(FaultContainment, SdkHypercallHandlerThrowing) {
  const auto r = d().hypercall(0, control(0x0051), 0, 0);
  EXPECT_EQ(r.action, HypercallAction::Fault);
  expect_stopped_with("sdk hypercall exploded");
}

TEST_F(FaultContainment, RawPortHandlerThrowing) {
  uint32_t v = 0;
  EXPECT_EQ(d().io_in(0, 0x0600, 1, v), Access::Fault);
  expect_stopped_with("raw port handler exploded");
}

TEST_F(FaultContainment, SdkPortHandlerThrowing) {
  uint32_t v = 0;
  EXPECT_EQ(d().io_in(0, 0x0601, 4, v), Access::Fault);
  expect_stopped_with("sdk port handler exploded");
}

TEST_F(FaultContainment, HealthyHandlersKeepWorkingAfterAFault) {
  ASSERT_EQ(d().rdmsr(0, kRawThrow).access, Access::Fault);
  const auto good = d().rdmsr(0, kGood);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value, 0x600Du);
  EXPECT_EQ(d().wrmsr(0, kGood, 5), Access::Ok);
  EXPECT_EQ(d().rdmsr(0, kGood).value, 5u);
  expect_stopped_with("raw msr handler exploded");
}

// The first fault is the one recorded; a second, different one is not
// allowed to rewrite history.
TEST_F(FaultContainment, FirstFaultIsKept) {
  ASSERT_EQ(d().rdmsr(0, kSdkThrow).access, Access::Fault);
  EXPECT_EQ(d().rdmsr(0, kRawThrow).access, Access::Fault);
  EXPECT_EQ(d().hypercall(0, control(0x0051), 0, 0).action, HypercallAction::Fault);
  EXPECT_EQ(d().rdmsr(0, kSdkThrow).access, Access::Fault) << "the failing handler fails again";
  expect_stopped_with("sdk msr handler exploded");
}

// Faults stop the VM they happen in, not a neighbour running the same
// plugin from the same library.
TEST_F(FaultContainment, OtherVmsAreUnaffected) {
  auto other = fixtures::make_vm({"throwing"}, {{"throwing"}});
  ASSERT_EQ(d().rdmsr(0, kRawThrow).access, Access::Fault);
  EXPECT_FALSE(other->vm().stopped());
  EXPECT_TRUE(other->rdmsr(0, kGood).ok());
}

// A lifecycle probe's SDK-caught fault, for a plugin other than 'throwing':
// the message names whichever plugin failed.
TEST(PluginFault, NamesTheFailingPlugin) {
  ProbeLog log;
  auto vm = fixtures::make_vm({"lifecycle"}, log.probes());
  EXPECT_EQ(vm->wrmsr(0, 0x40000181, 3), Access::Fault);
  EXPECT_EQ(vm->vm().stop_reason(), StopReason::PluginError);
  EXPECT_EQ(vm->vm().stop_message(), "plugin 'probe-b' failed: probe fault on purpose");
}

}  // namespace
}  // namespace enlight::test
