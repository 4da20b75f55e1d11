// The workload guests on the emu backend: each runs for a short hint
// (300 ms), exits 0 and reports a non-zero rate; and a guest that fails a
// check on purpose makes the run fail (FAIL record, non-zero status).
#include <enlight/core/backend/emu.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/machine/pm_timer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace {

using enlight::emu::Outcome;
using enlight::emu::RunResult;

constexpr uint32_t kRunMs = 300;

std::string describe(const RunResult& r) {
  std::string s = std::string(enlight::emu::to_string(r.outcome)) + ": " + r.message + " (status " +
                  std::to_string(r.exit_status) + ")\n";
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      s += "  FAIL vcpu " + std::to_string(c.vcpu) + " line " + std::to_string(c.line) + " " + c.name + "\n";
  return s + "console:\n" + r.console;
}

RunResult run_image(std::vector<uint8_t> image, const char* flags, uint32_t vcpus, uint32_t run_ms) {
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  // An empty flag list is "no Hyper-V at all": the profile with no plugin.
  enlight::Profile profile = enlight::parse_cpu_flags(flags, catalog);
  profile.vcpus = vcpus;
  enlight::emu::EmuOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = std::move(image);
  options.run_ms = run_ms;
  auto vm = enlight::emu::EmuVm::create(enlight::resolve(profile, catalog, enlight::emu::capabilities()),
                                        std::move(options));
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = vm->run(std::chrono::seconds(30));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (std::getenv("ENLIGHT_GUEST_TEST_VERBOSE") != nullptr) std::printf("(%lld ms) %s\n", static_cast<long long>(ms), describe(r).c_str());
  return r;
}

RunResult run_builtin(const char* guest, const char* flags, uint32_t vcpus, uint32_t run_ms = kRunMs) {
  const enlight::guests::GuestImage* image = enlight::guests::find(guest);
  if (image == nullptr) throw std::runtime_error(std::string("no guest image ") + guest);
  return run_image({image->data, image->data + image->size}, flags, vcpus, run_ms);
}

// The value of a metric reported by vCPU `vcpu`.
std::optional<uint64_t> metric(const RunResult& r, const std::string& name, uint32_t vcpu = 0) {
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_METRIC && c.vcpu == vcpu && c.name == name) return c.actual;
  return std::nullopt;
}

void expect_clean(const RunResult& r) {
  EXPECT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  for (const auto& c : r.records) EXPECT_NE(c.kind, ENLIGHT_GUEST_CHECK_FAIL) << c.name << " line " << c.line;
}

// Without hv-time no profile advertises the reference counter or the TSC
// page: the guest reads the machine's ACPI PM timer, as Windows would, and
// every read is an exit: the host counts exactly as many PM timer reads as
// the guest made (plus its presence probe and the loop's first read).
TEST(WorkloadOnEmu, TimereadWithoutHvTimeReadsThePmTimerOneExitPerRead) {
  const RunResult r = run_builtin("workload-timeread", "hv-relaxed,hv-frequencies", 1);
  expect_clean(r);
  EXPECT_EQ(metric(r, "path"), 3u) << describe(r);
  const uint64_t reads = metric(r, "reads").value_or(0);
  EXPECT_GT(reads, 0u) << describe(r);
  EXPECT_EQ(r.stats.pm_timer_reads, reads + 2) << describe(r);
  EXPECT_GT(metric(r, "reads_per_second").value_or(0), 0u) << describe(r);
  // The run lasted what was asked by the PM timer's own count, and that
  // count kept time with the host: 300 ms of it took at least 300 ms.
  const uint64_t us = metric(r, "elapsed_us").value_or(0);
  EXPECT_GE(us, kRunMs * 1000u) << describe(r);
  EXPECT_LT(us, kRunMs * 1000u * 2) << describe(r);
}

// The guests' TSC frequency: from HV_X64_MSR_TSC_FREQUENCY with
// hv-frequencies, calibrated against the APIC timer without Hyper-V. The
// tick rate is measured with it, so a wrong frequency shows as a run that
// did not last what was asked.
TEST(WorkloadOnEmu, TscFrequencyFromTheMsrWithFrequencies) {
  const RunResult r = run_builtin("workload-timer-idle", "hv-relaxed,hv-frequencies", 1);
  expect_clean(r);
  EXPECT_EQ(metric(r, "tsc_hz_source"), 1u) << describe(r);  // GUEST_TSC_HZ_FROM_MSR
  const uint64_t us = metric(r, "elapsed_us").value_or(0);
  EXPECT_GE(us, kRunMs * 1000u) << describe(r);
  EXPECT_LT(us, kRunMs * 1000u * 2) << describe(r);
}

TEST(WorkloadOnEmu, TscFrequencyCalibratedAgainstApicTimerWithoutHyperV) {
  const RunResult r = run_builtin("workload-timer-idle", "", 2);
  expect_clean(r);
  EXPECT_EQ(metric(r, "tsc_hz_source"), 2u) << describe(r);  // GUEST_TSC_HZ_CALIBRATED
  EXPECT_GT(metric(r, "tsc_hz").value_or(0), 0u) << describe(r);
}

// A PM timer read returns the machine's count: 24 bits at 3.579545 MHz, as
// the guest protocol's constants say.
TEST(PmTimer, CountsAt3579545HzIn24Bits) {
  EXPECT_EQ(enlight::machine::pm_timer_count(0), 0u);
  EXPECT_EQ(enlight::machine::pm_timer_count(1'000'000'000u), ENLIGHT_PM_TIMER_HZ & ENLIGHT_PM_TIMER_MASK);
  EXPECT_EQ(enlight::machine::pm_timer_count(1'000'000u), 3579u);  // 3579.545 ticks in 1 ms, truncated
  // 2^24 ticks wrap to 0: 4.687 s.
  const uint64_t wrap_ns = (uint64_t{1} << 24) * 1'000'000'000ull / ENLIGHT_PM_TIMER_HZ + 1;
  EXPECT_LT(enlight::machine::pm_timer_count(wrap_ns), 4u);
}

// With hv-time the guest reads the reference TSC page (path 2), and its
// clock is the page itself: the run lasts the hint by reference time.
TEST(WorkloadOnEmu, TimereadTscPagePathWithTimePlugin) {
  const RunResult r = run_builtin("workload-timeread", "hv-time", 1);
  expect_clean(r);
  EXPECT_EQ(metric(r, "path"), 2u) << describe(r);
  EXPECT_GT(metric(r, "reads_per_second").value_or(0), 0u) << describe(r);
  const uint64_t us = metric(r, "elapsed_us").value_or(0);
  EXPECT_GE(us, kRunMs * 1000u) << describe(r);
  EXPECT_LT(us, kRunMs * 1000u * 2) << describe(r);
  // Page reads are not exits: far fewer MSR exits than reads.
  EXPECT_LT(r.stats.msr_exits * 100, metric(r, "reads").value_or(0)) << describe(r);
}

// The run length comes from the hint: 300 ms and 900 ms runs differ.
TEST(WorkloadOnEmu, TimereadHonoursRunLengthHint) {
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = run_builtin("workload-timeread", "hv-frequencies", 1, 900);
  const auto took = std::chrono::steady_clock::now() - t0;
  expect_clean(r);
  EXPECT_GE(metric(r, "elapsed_us").value_or(0), 900'000u) << describe(r);
  EXPECT_GE(took, std::chrono::milliseconds(900));
}

// 1 kHz APIC timer interrupts taken from `sti; hlt` on two vCPUs: the
// regression test for kicks that resumed the guest at a stale RIP
// (docs/emu-backend.md, Threads).
TEST(WorkloadOnEmu, TimerIdleTicksOnEveryVcpu) {
  const RunResult r = run_builtin("workload-timer-idle", "hv-relaxed,hv-frequencies", 2);
  expect_clean(r);
  for (uint32_t v = 0; v < 2; ++v) {
    EXPECT_GT(metric(r, "ticks", v).value_or(0), 0u) << "vcpu " << v << "\n" << describe(r);
    // 1 ms ticks: at least a few hundred a second even with the emu
    // backend's polled timers, and never more than asked.
    const uint64_t rate = metric(r, "ticks_per_second", v).value_or(0);
    EXPECT_GT(rate, 100u) << "vcpu " << v << "\n" << describe(r);
    EXPECT_LE(rate, 1100u) << "vcpu " << v << "\n" << describe(r);
  }
}

// The synthetic timer paths: direct mode when 0x40000003.EDX[19] is
// advertised (hv-stimer-direct), else SynIC messages; ticks on every vCPU,
// at a rate bounded like the APIC timer's.
void expect_ticks(const RunResult& r, uint32_t vcpus) {
  for (uint32_t v = 0; v < vcpus; ++v) {
    const uint64_t rate = metric(r, "ticks_per_second", v).value_or(0);
    EXPECT_GT(rate, 100u) << "vcpu " << v << "\n" << describe(r);
    EXPECT_LE(rate, 1100u) << "vcpu " << v << "\n" << describe(r);
  }
}

TEST(WorkloadOnEmu, TimerIdleSyntheticTimerDirectMode) {
  const RunResult r = run_builtin("workload-timer-idle", "hv-vpindex,hv-synic,hv-time,hv-stimer,hv-stimer-direct,hv-frequencies", 2);
  expect_clean(r);
  EXPECT_EQ(metric(r, "path"), 2u) << describe(r);
  expect_ticks(r, 2);
}

TEST(WorkloadOnEmu, TimerIdleSyntheticTimerMessageMode) {
  const RunResult r = run_builtin("workload-timer-idle", "hv-vpindex,hv-synic,hv-time,hv-stimer,hv-frequencies", 2);
  expect_clean(r);
  EXPECT_EQ(metric(r, "path"), 1u) << describe(r);
  expect_ticks(r, 2);
}

// IPI ping-pong between two vCPUs: sustained cross-vCPU kicks (see
// TimerIdleTicksOnEveryVcpu above).
TEST(WorkloadOnEmu, IpiRoundTripsBetweenTwoVcpus) {
  const RunResult r = run_builtin("workload-ipi", "hv-relaxed,hv-vpindex", 2);
  expect_clean(r);
  EXPECT_EQ(metric(r, "path"), 0u) << describe(r);  // no IPI plugin yet: the ICR
  const uint64_t sent = metric(r, "ipis_sent").value_or(0);
  EXPECT_GT(sent, 0u) << describe(r);
  EXPECT_EQ(metric(r, "ipis_received"), sent) << describe(r);
  EXPECT_EQ(metric(r, "ipis_received", 1), sent) << describe(r);  // the receiver's own count
  EXPECT_GT(metric(r, "round_trips_per_second").value_or(0), 0u) << describe(r);
}

TEST(WorkloadOnEmu, IpiWithOneVcpuSaysSoAndExitsZero) {
  const RunResult r = run_builtin("workload-ipi", "hv-relaxed", 1);
  expect_clean(r);
  EXPECT_EQ(metric(r, "ipis_sent"), 0u) << describe(r);
  EXPECT_NE(r.console.find("needs at least 2 vCPUs"), std::string::npos) << describe(r);
}

// A failing check is not lost on the way to the host.
TEST(FailingGuestOnEmu, FailRecordAndNonZeroStatus) {
  const std::string path = std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-fail-check.bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const RunResult r = run_image({std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}, "hv-relaxed", 1, 0);
  EXPECT_EQ(r.outcome, Outcome::Exited) << describe(r);
  EXPECT_NE(r.exit_status, 0u) << describe(r);
  bool fail = false, pass = false;
  for (const auto& c : r.records) {
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL && c.name == "test.deliberate_failure") {
      fail = true;
      EXPECT_EQ(c.expected, 0x1234u);
      EXPECT_EQ(c.actual, 0x4321u);
    }
    pass |= c.kind == ENLIGHT_GUEST_CHECK_PASS && c.name == "test.deliberate_pass";
  }
  EXPECT_TRUE(fail) << describe(r);
  EXPECT_TRUE(pass) << describe(r);
}

// The test-only guest is not built into the product.
TEST(FailingGuestOnEmu, NotEmbedded) { EXPECT_EQ(enlight::guests::find("test-fail-check"), nullptr); }

}  // namespace
