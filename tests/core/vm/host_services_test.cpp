// The ABI 1.1 host services, driven through the services-probe fixture
// (tests/fixtures/services) on the direct backend's manual clock and APIC.
#include <enlight/core/metrics.hpp>

#include <fixture_vm.hpp>
#include <gtest/gtest.h>

namespace enlight::test {
namespace {

constexpr uint32_t kArm = 0x40000190, kLate = 0x40000191, kWatch = 0x40000192, kAutoEoi = 0x40000193,
                   kPvEoi = 0x40000194, kTpr = 0x40000195, kScale = 0x40000196, kMap = 0x40000197,
                   kSetVp = 0x40000198, kVcpuOfVp = 0x40000199;
constexpr uint32_t kX2ApicEoi = 0x80B, kX2ApicTpr = 0x808;

fixtures::FixtureVm probe(uint32_t vcpus = 1, VmOptions options = {}) {
  return fixtures::make_vm({"services"}, {{"services-probe"}}, false, vcpus, std::move(options));
}

// ABI 1.2: the VP index table. Each vCPU starts at its own number; a set
// index is what vcpu_of_vp_index finds; a duplicate resolves to the lowest
// vCPU; an index nobody holds is UINT32_MAX; HV_VP_INDEX_SELF is refused.
TEST(HostServices, VpIndexesMapBackToVcpus) {
  auto d = probe(3);
  const auto vcpu_of = [&](uint64_t vp) {
    EXPECT_EQ(d->wrmsr(0, kVcpuOfVp, vp), Access::Ok);
    return d->rdmsr(0, kVcpuOfVp).value;
  };
  EXPECT_EQ(vcpu_of(2), 2u);
  ASSERT_EQ(d->wrmsr(2, kSetVp, 9), Access::Ok);
  EXPECT_EQ(vcpu_of(9), 2u);
  EXPECT_EQ(vcpu_of(2), UINT32_MAX);
  ASSERT_EQ(d->wrmsr(1, kSetVp, 9), Access::Ok);
  EXPECT_EQ(vcpu_of(9), 1u) << "two vCPUs on one index: the lowest wins";
  EXPECT_EQ(d->wrmsr(0, kSetVp, HV_VP_INDEX_SELF), Access::GP);
  EXPECT_EQ(d->vm().vcpu(0).vp_index, 0u);
  EXPECT_EQ(vcpu_of(HV_ANY_VP), UINT32_MAX);
}

TEST(HostServices, TimerFiresAtItsDeadlineNotBefore) {
  auto d = probe();
  d->set_time_ns(1'000'000);                       // reference time 10000
  ASSERT_EQ(d->wrmsr(0, kArm, 500), Access::Ok);    // deadline 10500
  d->set_time_ns(1'000'000 + 49'900);               // 10499
  EXPECT_EQ(d->rdmsr(0, kArm).value, 0u) << "fired early";
  d->advance_ns(100);                               // 10500
  EXPECT_EQ(d->rdmsr(0, kArm).value, 1u);
  EXPECT_EQ(d->rdmsr(0, kLate).value, 0u);
  EXPECT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x61)) << "the callback injected its vector";
  d->advance_ns(10'000'000);
  EXPECT_EQ(d->rdmsr(0, kArm).value, 1u) << "one-shot: fires once";
}

TEST(HostServices, LateTimerSeesTheTimeItRanAt) {
  auto d = probe();
  ASSERT_EQ(d->wrmsr(0, kArm, 100), Access::Ok);
  d->set_time_ns(100 * 100 + 7 * 100);  // 7 ticks late
  EXPECT_EQ(d->rdmsr(0, kArm).value, 1u);
  EXPECT_EQ(d->rdmsr(0, kLate).value, 7u);
  const std::string text = metrics_text(d->vm());
  EXPECT_NE(text.find("enlight_probe_timer_lateness_seconds_count{plugin=\"services-probe\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("enlight_vm_timer_fires_total 1"), std::string::npos) << text;
}

TEST(HostServices, CancelAndRearm) {
  auto d = probe();
  ASSERT_EQ(d->wrmsr(0, kArm, 100), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kScale, 0), Access::Ok);  // cancel
  d->set_time_ns(1'000'000);
  EXPECT_EQ(d->rdmsr(0, kArm).value, 0u) << "cancelled timer fired";
  ASSERT_EQ(d->wrmsr(0, kArm, 100), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kArm, 300), Access::Ok);  // re-arm replaces the deadline
  d->advance_ns(200 * 100);
  EXPECT_EQ(d->rdmsr(0, kArm).value, 0u);
  d->advance_ns(100 * 100);
  EXPECT_EQ(d->rdmsr(0, kArm).value, 1u);
}

TEST(HostServices, TimersBelongToTheirVcpu) {
  auto d = probe(2);
  ASSERT_EQ(d->wrmsr(1, kArm, 10), Access::Ok);
  EXPECT_EQ(d->vm().next_timer_deadline(0), 0u);
  EXPECT_EQ(d->vm().next_timer_deadline(1), 10u);
  EXPECT_EQ(d->vm().run_timers(0), 0u) << "vCPU 0's thread runs only vCPU 0's timers";
  d->set_time_ns(10 * 100);
  EXPECT_EQ(d->rdmsr(1, kArm).value, 1u);
  EXPECT_EQ(d->rdmsr(0, kArm).value, 0u);
  EXPECT_FALSE(d->take_interrupt(0));
  EXPECT_EQ(d->take_interrupt(1), std::optional<uint8_t>(0x61));
}

TEST(HostServices, EoiWatchNotifiesOnlyWatchedVectors) {
  auto d = probe();
  ASSERT_EQ(d->wrmsr(0, kArm, 0), Access::Ok);  // due now: fires when the clock next moves
  d->advance_ns(100);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x61));
  ASSERT_TRUE(d->apic_write(0, kX2ApicEoi, 0));
  EXPECT_EQ(d->rdmsr(0, kWatch).value, 0u) << "0x61 is not watched yet";
  ASSERT_EQ(d->wrmsr(0, kWatch, 0x61), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kArm, 0), Access::Ok);
  d->advance_ns(100);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x61));
  ASSERT_TRUE(d->apic_write(0, kX2ApicEoi, 0));
  EXPECT_EQ(d->rdmsr(0, kWatch).value, 1u);
}

TEST(HostServices, AutoEoiVectorIsNeverInService) {
  auto d = probe();
  ASSERT_EQ(d->wrmsr(0, kWatch, 0x52), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kAutoEoi, 0x52), Access::Ok);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x52));
  EXPECT_FALSE(d->in_service(0, 0x52));
  EXPECT_EQ(d->rdmsr(0, kWatch).value, 0u) << "no EOI happened, so none is reported";
  EXPECT_EQ(d->wrmsr(0, kAutoEoi, 3), Access::GP) << "vectors below 16 cannot be injected";
}

TEST(HostServices, PvEoiThroughTheAssistWord) {
  auto d = probe();
  constexpr uint64_t kWord = 0x5000;
  ASSERT_EQ(d->wrmsr(0, kPvEoi, kWord), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kPvEoi).value, 1u);
  ASSERT_EQ(d->wrmsr(0, kWatch, 0x61), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kArm, 0), Access::Ok);
  d->advance_ns(100);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x61));
  uint32_t word = 0;
  ASSERT_TRUE(d->memory().read(kWord, &word, 4));
  EXPECT_EQ(word & 1u, 1u) << "the guest may skip this EOI";
  word = 0;  // the guest's PV EOI
  ASSERT_TRUE(d->memory().write(kWord, &word, 4));
  EXPECT_FALSE(d->take_interrupt(0));
  EXPECT_FALSE(d->in_service(0, 0x61)) << "retired by the host";
  EXPECT_EQ(d->rdmsr(0, kWatch).value, 1u) << "a PV EOI is an EOI for the watchers";
  EXPECT_NE(metrics_text(d->vm()).find("enlight_apic_pv_eois_total 1"), std::string::npos);
}

TEST(HostServices, TurningPvEoiOffRetiresAGrantTheGuestAlreadyUsed) {
  auto d = probe();
  constexpr uint64_t kWord = 0x5000;
  ASSERT_EQ(d->wrmsr(0, kPvEoi, kWord), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, kArm, 0), Access::Ok);
  d->advance_ns(100);
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(0x61));
  const uint32_t cleared = 0;  // the guest's PV EOI, then it turns the page off
  ASSERT_TRUE(d->memory().write(kWord, &cleared, 4));
  ASSERT_EQ(d->wrmsr(0, kPvEoi, 0), Access::Ok);
  EXPECT_FALSE(d->in_service(0, 0x61)) << "the skipped EOI must not be lost";
}

TEST(HostServices, PvEoiRefusesGpasOutsideRamAndMisaligned) {
  VmOptions o;
  o.memory_bytes = 1 << 20;
  auto d = probe(1, o);
  for (uint64_t gpa : {uint64_t{1} << 20, (uint64_t{1} << 20) - 2, ~uint64_t{0} - 1, uint64_t{0x5002}}) {
    ASSERT_EQ(d->wrmsr(0, kPvEoi, gpa), Access::Ok);
    EXPECT_EQ(d->rdmsr(0, kPvEoi).value, 0u) << std::hex << gpa;
  }
}

TEST(HostServices, ApicAccessReachesTheVcpusApic) {
  auto d = probe(2);
  ASSERT_EQ(d->wrmsr(1, kTpr, 0x40), Access::Ok);
  uint64_t tpr = 0;
  ASSERT_TRUE(d->apic_read(1, kX2ApicTpr, tpr));
  EXPECT_EQ(tpr, 0x40u);
  EXPECT_EQ(d->rdmsr(1, kTpr).value, 0x40u);
  EXPECT_EQ(d->rdmsr(0, kTpr).value, 0u) << "vCPU 0's APIC is another one";
}

TEST(HostServices, ReferenceTscScaleMatchesTheFrequency) {
  VmOptions o;
  o.tsc_frequency_hz = 2'000'000'000;
  auto d = probe(1, o);
  const unsigned __int128 one = static_cast<unsigned __int128>(10'000'000u) << 64;
  EXPECT_EQ(d->rdmsr(0, kScale).value, static_cast<uint64_t>((one + o.tsc_frequency_hz - 1) / o.tsc_frequency_hz));
  // The core defines reference time with the page's formula: exact here.
  for (uint64_t ns : {0ull, 100ull, 123'456'700ull, 3'600'000'000'000ull}) {
    d->set_time_ns(ns);
    EXPECT_EQ(d->vm().reference_time(), ns / 100) << ns;
  }
  o.tsc_frequency_hz = 5'000'000;  // 5 MHz: a tick is more than one cycle
  d = probe(1, o);
  EXPECT_EQ(d->rdmsr(0, kScale).value, 0u) << "no 0.64 scale below 10 MHz: the page must be invalid";
  d->set_time_ns(12'345'600);
  EXPECT_EQ(d->vm().reference_time(), 123'456u) << "reference time falls back to the clock";
}

TEST(HostServices, GpaMapIsBoundsChecked) {
  VmOptions o;
  o.memory_bytes = 1 << 20;
  auto d = probe(1, o);
  const std::pair<uint64_t, uint64_t> cases[] = {
      {0, 1}, {(1u << 20) - 8, 1}, {(1u << 20) - 7, 0}, {1u << 20, 0}, {~uint64_t{0} - 3, 0}};
  for (const auto& [gpa, mapped] : cases) {
    ASSERT_EQ(d->wrmsr(0, kMap, gpa), Access::Ok);
    EXPECT_EQ(d->rdmsr(0, kMap).value, mapped) << std::hex << gpa;
  }
}

}  // namespace
}  // namespace enlight::test
