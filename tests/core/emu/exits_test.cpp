// Exits through the bus from real guest code: CPUID, trapped RDMSR/WRMSR,
// the hypercall page, and the harness ports.
#include "emu_test_util.hpp"

#include <enlight/tlfs.h>

using namespace std::chrono_literals;

namespace enlight::emu::test {
namespace {

TEST(EmuExits, CpuidHypervisorLeavesComeFromTheBusAndLeaf1SaysHypervisorPresent) {
  auto vm = make_vm("cpuid", "hv-vpindex,hv-crash");
  const CpuidValue want = vm->vm().bus().cpuid_table().lookup(0x40000000, 0);
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u);
  EXPECT_EQ(record(r, 1), want.eax);
  EXPECT_EQ(record(r, 2), want.ebx);
  EXPECT_EQ(record(r, 3), want.ecx);
  EXPECT_EQ(record(r, 4), want.edx);
  EXPECT_GE(want.eax, 0x40000005u);
  EXPECT_TRUE((record(r, 5) >> 31) & 1) << "CPUID.1:ECX[31]";
}

// Also proves that moving RIP from the code hook skips the instruction in
// this Unicorn: executed natively, rdmsr would leave 0 in EAX.
TEST(EmuExits, RdmsrVpIndexOnVcpu1Of2ReturnsOne) {
  auto vm = make_vm("vpindex", "hv-vpindex,hv-crash", 2);
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(record(r, 1, 1), 1u);
  EXPECT_GE(r.stats.msr_exits, 1u);
  EXPECT_EQ(r.stats.msr_hook_sites, 1u);
}

TEST(EmuExits, CrashCtlWithCrashNotifyStopsTheRun) {
  auto vm = make_vm("crash", "hv-vpindex,hv-crash");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Stopped) << describe(r);
  EXPECT_EQ(r.stop_reason, StopReason::GuestCrash);
  EXPECT_NE(r.message.find("1234"), std::string::npos) << r.message;
}

TEST(EmuExits, FastNotifyLongSpinWaitThroughTheHypercallPageSucceeds) {
  auto vm = make_vm("spinwait", "hv-spinlocks=0xfff");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(record(r, 1) & 0xFFFF, uint64_t{HV_STATUS_SUCCESS});
  EXPECT_EQ(r.stats.hypercalls, 1u);
}

TEST(EmuExits, BadReportGpasAreIgnoredAndCountedConsoleIsKept) {
  auto vm = make_vm("bad_record", "hv-vpindex");
  const RunResult r = vm->run(5s);
  ASSERT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 7u);
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.stats.bad_records, 2u);
  EXPECT_EQ(r.console, "ok");
}

}  // namespace
}  // namespace enlight::emu::test
