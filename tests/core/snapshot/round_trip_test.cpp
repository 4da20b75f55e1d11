// Conformance guests snapshotted mid-run on the emu backend and restored
// into a new VM: every check after the restore passes, and the checks
// that measure time (stimer's periods, the reference counter against the
// TSC page, the APIC's pending vectors) see no gap, no repeat and no time
// running backwards, because reference time continues from the stop
// (docs/snapshots.md, "Time").
#include "snapshot_test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <cstdio>
#include <cstdlib>

namespace {

using namespace enlight::test::snapshots;
using enlight::Outcome;

// Runs `guest` whole once to learn how long it takes here, then at each
// fraction of that: run, stop (a time-out), snapshot to a file, restore
// into a new VM from the file, run to the end. Returns how many of the
// stops landed mid-run (checks before and after the stop). When none of
// the fractions did (a slower host, a sanitizer build: the checks crowd
// into another part of the run), the stop is bisected between the latest
// that came before the first check and the earliest that came after the
// last, a few times more: every attempt is a full round trip, checked.
int round_trips(const std::string& guest, uint32_t vcpus, std::initializer_list<double> fractions,
                enlight::BackendKind backend = enlight::BackendKind::Emu, bool pc_devices = false) {
  Config c = config(guest, vcpus, kFlags, backend);
  c.pc_devices = pc_devices;
  const auto t0 = std::chrono::steady_clock::now();
  const enlight::RunResult whole = create(c)->run(std::chrono::seconds(60));
  const auto full = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(whole.outcome, Outcome::Exited) << failures(whole);
  EXPECT_EQ(count(whole, ENLIGHT_GUEST_CHECK_FAIL), 0u) << failures(whole);
  const size_t checks_whole = count(whole, ENLIGHT_GUEST_CHECK_PASS);

  enum class Landed { BeforeTheChecks, MidRun, AfterTheChecks };
  const auto round_trip = [&](double fraction) {
    SCOPED_TRACE(guest + " stopped at " + std::to_string(fraction));
    const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(full * fraction);
    TempFile file(guest);
    auto first = create(c);
    const enlight::RunResult before = first->run(std::max(at, std::chrono::milliseconds(1)));
    EXPECT_EQ(count(before, ENLIGHT_GUEST_CHECK_FAIL), 0u) << failures(before);
    if (before.outcome != Outcome::Timeout) return Landed::AfterTheChecks;  // it finished first: nothing to resume
    enlight::write_snapshot(*first, file.path, guest, enlight::guest_image_digest(c.image));
    first.reset();

    const enlight::SnapshotFile snap = enlight::SnapshotFile::read(file.path);
    auto second = create(c);
    // Against the VM's own resolution: a backend may complete options for
    // its host (the kvm backend picks identity's hypercall instruction).
    snap.check_matches(enlight::to_string(backend), second->vm().resolution(), c.memory,
                       enlight::guest_image_digest(c.image));
    snap.restore(*second);
    const enlight::RunResult after = second->run(std::chrono::seconds(60));
    EXPECT_EQ(after.outcome, Outcome::Exited) << failures(after);
    EXPECT_EQ(after.exit_status, 0u) << failures(after);
    EXPECT_EQ(count(after, ENLIGHT_GUEST_CHECK_FAIL), 0u) << failures(after);
    const size_t passed_before = count(before, ENLIGHT_GUEST_CHECK_PASS), passed_after = count(after, ENLIGHT_GUEST_CHECK_PASS);
    // The two halves together made the whole run's checks: none skipped
    // (a restore that lost the guest's place) and none twice (one that
    // went back). Guests make the same checks on every run.
    EXPECT_EQ(passed_before + passed_after, checks_whole) << failures(after);
    if (std::getenv("ENLIGHT_SNAPSHOT_TEST_VERBOSE") != nullptr)
      std::printf("%s at %lld ms: %zu checks before, %zu after (whole run %zu)\n", guest.c_str(),
                  static_cast<long long>(at.count()), passed_before, passed_after, checks_whole);
    if (passed_before == 0) return Landed::BeforeTheChecks;
    return passed_after == 0 ? Landed::AfterTheChecks : Landed::MidRun;
  };

  int mid_run = 0;
  double early = 0, late = 1;  // the window the checks fall in, as far as seen
  for (const double fraction : fractions) {
    const Landed landed = round_trip(fraction);
    mid_run += landed == Landed::MidRun;
    if (landed == Landed::BeforeTheChecks) early = std::max(early, fraction);
    if (landed == Landed::AfterTheChecks) late = std::min(late, fraction);
  }
  for (int more = 0; more < 6 && mid_run == 0 && early < late; ++more) {
    const double fraction = (early + late) / 2;
    const Landed landed = round_trip(fraction);
    mid_run += landed == Landed::MidRun;
    (landed == Landed::BeforeTheChecks ? early : late) = fraction;
  }
  return mid_run;
}

// The guests the issue names: synic and stimer (conformance-stimer drives
// both, with a 1 ms periodic timer on each vCPU for a second), time, vapic.
// The short guests spend most of their run calibrating the TSC before
// their first check, so their stops crowd towards the end. (Not
// conformance-identity: its checks take a few ms after the engines start,
// too short for a stop by time to land among them on every host.)
TEST(SnapshotRoundTripOnEmu, Stimer) { EXPECT_GE(round_trips("conformance-stimer", 2, {0.5, 0.8}), 1); }
TEST(SnapshotRoundTripOnEmu, Time) {
  EXPECT_GE(round_trips("conformance-time", 2, {0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}), 1);
}
TEST(SnapshotRoundTripOnEmu, Vapic) {
  EXPECT_GE(round_trips("conformance-vapic", 2, {0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}), 1);
}

// A snapshot of a restored VM restores too (a chain: stop, restore, stop
// again, restore again), and the stop inside HLT comes back waiting.
TEST(SnapshotRoundTripOnEmu, ChainOfTwo) {
  const Config c = config("conformance-stimer", 2);
  const uint64_t digest = enlight::guest_image_digest(c.image);
  TempFile one("chain-1"), two("chain-2");
  auto a = create(c);
  ASSERT_EQ(a->run(std::chrono::milliseconds(300)).outcome, Outcome::Timeout);
  enlight::write_snapshot(*a, one.path, "conformance-stimer", digest);
  auto b = create(c);
  enlight::SnapshotFile::read(one.path).restore(*b);
  const enlight::RunResult mid = b->run(std::chrono::milliseconds(400));
  ASSERT_EQ(mid.outcome, Outcome::Timeout) << failures(mid);
  EXPECT_EQ(count(mid, ENLIGHT_GUEST_CHECK_FAIL), 0u) << failures(mid);
  enlight::write_snapshot(*b, two.path, "conformance-stimer", digest);
  auto d = create(c);
  enlight::SnapshotFile::read(two.path).restore(*d);
  const enlight::RunResult end = d->run(std::chrono::seconds(60));
  EXPECT_EQ(end.outcome, Outcome::Exited) << failures(end);
  EXPECT_EQ(count(end, ENLIGHT_GUEST_CHECK_FAIL), 0u) << failures(end);
}

// A plugin whose manifest says 'snapshot: unsupported' (vmbus) refuses
// the snapshot, by name, and no file is left behind.
TEST(SnapshotOnEmu, APluginThatCannotSaveRefusesTheSnapshot) {
  Config c = config("workload-timer-idle", 1, "hv-vpindex,hv-synic,hv-time");
  enlight::Profile profile = enlight::parse_cpu_flags("hv-vpindex,hv-synic,hv-time", *c.catalog);
  profile.vcpus = 1;
  profile.plugins.push_back(enlight::PluginRequest{"vmbus", {}, {}, {}, {}});
  c.resolution = enlight::resolve(profile, *c.catalog, enlight::backend_capabilities(enlight::BackendKind::Emu));
  auto vm = create(c);
  ASSERT_EQ(vm->run(std::chrono::milliseconds(100)).outcome, Outcome::Timeout);
  TempFile file("unsupported");
  try {
    enlight::write_snapshot(*vm, file.path, "workload-timer-idle", enlight::guest_image_digest(c.image));
    ADD_FAILURE() << "a VM with vmbus was snapshotted";
  } catch (const enlight::SnapshotError& e) {
    EXPECT_NE(std::string(e.what()).find("plugin 'vmbus' cannot save its state"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(file.path));
  EXPECT_FALSE(std::filesystem::exists(file.path + ".tmp"));
}

// A run that ended by itself (the guest exited) has nothing to resume.
TEST(SnapshotOnEmu, AnEndedRunIsNotSnapshotted) {
  const Config c = config("conformance-identity", 1);
  auto vm = create(c);
  ASSERT_EQ(vm->run(std::chrono::seconds(60)).outcome, Outcome::Exited);
  TempFile file("ended");
  EXPECT_THROW(enlight::write_snapshot(*vm, file.path, "conformance-identity", enlight::guest_image_digest(c.image)),
               enlight::SnapshotError);
}

// The same on the kvm backend, where this host's /dev/kvm can run guests
// (the nested stage runs the CLI's round trips on a stock KVM too). Fewer
// stops: on PVM's KVM conformance-time alone takes some 20 s.
#define SKIP_WITHOUT_KVM()                                                                           \
  do {                                                                                              \
    std::string why;                                                                                \
    if (!enlight::backend_available(enlight::BackendKind::Kvm, &why)) GTEST_SKIP() << "no usable KVM: " << why; \
  } while (0)
TEST(SnapshotRoundTripOnKvm, Stimer) {
  SKIP_WITHOUT_KVM();
  EXPECT_GE(round_trips("conformance-stimer", 2, {0.5, 0.8}, enlight::BackendKind::Kvm), 1);
}
TEST(SnapshotRoundTripOnKvm, Time) {
  SKIP_WITHOUT_KVM();
  EXPECT_GE(round_trips("conformance-time", 2, {0.8}, enlight::BackendKind::Kvm), 1);
}
TEST(SnapshotRoundTripOnKvm, Vapic) {
  SKIP_WITHOUT_KVM();
  EXPECT_GE(round_trips("conformance-vapic", 2, {0.8, 0.95}, enlight::BackendKind::Kvm), 1);
}

// With the PC machine's devices (what a booted kernel has): the in-kernel
// PIT and kvmclock, and COM1, the i8042, the RTC and the ACPI PM block go
// into the snapshot beside the irqchip, and come back.
TEST(SnapshotRoundTripOnKvm, StimerWithThePcMachine) {
  SKIP_WITHOUT_KVM();
  EXPECT_GE(round_trips("conformance-stimer", 2, {0.5, 0.8}, enlight::BackendKind::Kvm, true), 1);
}

// A snapshot of a VM with the PC machine does not restore into one
// without it, nor the reverse: the devices state names the difference.
TEST(SnapshotOnKvm, ThePcMachineMustMatch) {
  SKIP_WITHOUT_KVM();
  for (const bool saved_with_pc : {true, false}) {
    SCOPED_TRACE(saved_with_pc ? "saved with the PC machine" : "saved without it");
    Config c = config("conformance-stimer", 1, kFlags, enlight::BackendKind::Kvm);
    c.pc_devices = saved_with_pc;
    TempFile file("pc-mismatch");
    auto first = create(c);
    ASSERT_EQ(first->run(std::chrono::milliseconds(200)).outcome, Outcome::Timeout);
    enlight::write_snapshot(*first, file.path, "conformance-stimer", enlight::guest_image_digest(c.image));
    first.reset();
    c.pc_devices = !saved_with_pc;
    auto second = create(c);
    try {
      enlight::SnapshotFile::read(file.path).restore(*second);
      ADD_FAILURE() << "restored across a PC machine difference";
    } catch (const enlight::SnapshotError& e) {
      EXPECT_NE(std::string(e.what()).find(saved_with_pc ? "has a PC machine, and this VM has none"
                                                         : "has no PC machine, and this VM has one"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
