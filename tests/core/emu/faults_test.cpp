// Faults the guest causes: #GP and #UD delivered through its IDT, a triple
// fault, and a guest that never finishes.
#include "emu_test_util.hpp"

#include <thread>

using namespace std::chrono_literals;

namespace enlight::emu::test {
namespace {

// The guests are linked at the load address; these are the labels' GPAs
// as the guests report them, so the test only compares them to themselves.
TEST(EmuFaults, WrmsrToAnUnclaimedSyntheticMsrDeliversGp) {
  auto vm = make_vm("gp", "hv-vpindex,hv-crash");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u);
  EXPECT_EQ(record(r, 1), 0u) << "error code";
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1].actual, r.records[1].expected) << "RIP pushed is the wrmsr";
}

TEST(EmuFaults, VmcallBeforeTheHypercallPageIsEnabledIsUd) {
  auto vm = make_vm("vmcall_ud", "hv-vpindex");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].actual, r.records[0].expected) << "RIP pushed is the vmcall";
}

TEST(EmuFaults, UdWithoutAnIdtIsATripleFault) {
  auto vm = make_vm("triple", "hv-vpindex");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::TripleFault) << describe(r);
  EXPECT_NE(r.message.find("triple fault"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("no IDT"), std::string::npos) << r.message;
}

TEST(EmuFaults, AnEndlessLoopTimesOut) {
  auto vm = make_vm("loop", "hv-vpindex");
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = vm->run(200ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.outcome, Outcome::Timeout) << describe(r);
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 700ms);
  // The loop is `jmp _start`: the message says the guest was there.
  EXPECT_NE(r.message.find("vCPU 0 at RIP 0x100000"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace enlight::emu::test

namespace enlight::emu::test {
namespace {

TEST(EmuFaults, StopFromAnotherThreadEndsARunningGuest) {
  auto vm = make_vm("loop", "hv-vpindex");
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    vm->stop("test stop");
  });
  const RunResult r = vm->run(5s);
  stopper.join();
  ASSERT_EQ(r.outcome, Outcome::Stopped) << describe(r);
  EXPECT_EQ(r.stop_reason, StopReason::Requested);
  EXPECT_NE(r.message.find("test stop"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace enlight::emu::test
