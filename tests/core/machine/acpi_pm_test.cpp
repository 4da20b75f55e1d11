// ACPI fixed hardware as Linux's ACPICA uses it: S5 through PM1_CNT, the
// PM timer clocksource, the FADT reset register, and accesses that span
// registers.
#include <enlight/machine/acpi_pm.hpp>
#include <enlight/machine/layout.hpp>

#include "device_state.hpp"
#include "recording_signals.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace enlight::machine {
namespace {

constexpr uint16_t kPm1Sts = kAcpiPm1aEvent, kPm1En = kAcpiPm1aEvent + 2, kPm1Cnt = kAcpiPm1aControl;
constexpr uint16_t kStsTmr = 1u << 0, kStsPwrBtn = 1u << 8, kStsRtc = 1u << 10, kStsWak = 1u << 15;
constexpr uint16_t kCntSciEn = 1u << 0, kCntSlpEn = 1u << 13;
constexpr uint16_t slp_typ(uint16_t t) { return static_cast<uint16_t>(t << 10); }
constexpr uint8_t kSysRst = 0x02, kRstCpu = 0x04;
constexpr const char* kHow = "ACPI reset register";

using test::RecordingSignals;

class AcpiPmTest : public ::testing::Test {
 protected:
  RecordingSignals signals;
  uint64_t now_ns = 0;
  int clock_reads = 0;
  AcpiPm pm{signals, [this] {
              ++clock_reads;
              return now_ns;
            }};
};

TEST(PmTimerCount, RunsAt3579545HzAndWrapsAt24Bits) {
  EXPECT_EQ(pm_timer_count(0), 0u);
  EXPECT_EQ(pm_timer_count(279), 0u) << "one tick is 279.365 ns";
  EXPECT_EQ(pm_timer_count(280), 1u);
  EXPECT_EQ(pm_timer_count(1'000'000), 3579u);
  EXPECT_EQ(pm_timer_count(1'000'000'000), 3'579'545u);
  EXPECT_EQ(pm_timer_count(4'000'000'000), 14'318'180u);
  EXPECT_EQ(pm_timer_count(5'000'000'000), 17'897'725u - (1u << 24)) << "wrapped past 2^24";
  // 2^24 ticks = 4.6869 s: the last count before the wrap and the wrap itself.
  const uint64_t wrap_ns = ((uint64_t{1} << 24) * 1'000'000'000 + kPmTimerHz - 1) / kPmTimerHz;
  EXPECT_EQ(pm_timer_count(wrap_ns - 1), kPmTimerMask);
  EXPECT_EQ(pm_timer_count(wrap_ns), 0u);
  EXPECT_EQ(pm_timer_count(3600ull * 1'000'000'000), (3600ull * kPmTimerHz) & kPmTimerMask);
}

// acpi_pm_read: a 32-bit read of PM_TMR; the top byte is 0 (24-bit timer,
// FADT TMR_VAL_EXT clear). Byte and word reads return the parts.
TEST_F(AcpiPmTest, PmTimerReads) {
  now_ns = 1'234'567'891;
  const uint32_t count = pm_timer_count(now_ns);
  ASSERT_GT(count, 0xFFFFu);
  EXPECT_EQ(pm.in(kAcpiPmTimer, 4), count);
  EXPECT_EQ(clock_reads, 1) << "one sample per access";
  for (uint16_t i = 0; i < 4; ++i)
    EXPECT_EQ(pm.in(static_cast<uint16_t>(kAcpiPmTimer + i), 1), (count >> (8 * i)) & 0xFF) << i;
  EXPECT_EQ(pm.in(kAcpiPmTimer, 2), count & 0xFFFF);
  EXPECT_EQ(pm.in(kAcpiPmTimer + 2, 2), count >> 16);
  pm.out(kAcpiPmTimer, 4, 0);
  EXPECT_EQ(pm.in(kAcpiPmTimer, 4), count) << "writes are ignored";
  now_ns += 1'000'000'000;
  EXPECT_EQ(pm.in(kAcpiPmTimer, 4), (count + kPmTimerHz) & kPmTimerMask);
  clock_reads = 0;
  pm.in(kPm1Sts, 4);
  pm.in(kPm1Cnt, 2);
  EXPECT_EQ(clock_reads, 0) << "only timer reads sample the clock";
}

TEST_F(AcpiPmTest, SciEnAlwaysReadsOne) {
  EXPECT_EQ(pm.in(kPm1Cnt, 2) & kCntSciEn, kCntSciEn);
  pm.out(kPm1Cnt, 2, 0);
  EXPECT_EQ(pm.in(kPm1Cnt, 2) & kCntSciEn, kCntSciEn);
  EXPECT_EQ(pm.in(kPm1Cnt, 1) & kCntSciEn, kCntSciEn);
}

// acpi_hw_legacy_sleep(S5): write SLP_TYP, then SLP_TYP|SLP_EN. Only the
// second, and only with \_S5's type, powers off.
TEST_F(AcpiPmTest, S5PowersOffOnlyWithSlpEnAndTheS5Type) {
  pm.out(kPm1Cnt, 2, kCntSciEn | slp_typ(kSlpTypS5));
  EXPECT_EQ(signals.power_offs, 0);
  EXPECT_EQ(pm.in(kPm1Cnt, 2), kCntSciEn | slp_typ(kSlpTypS5)) << "SLP_TYP is kept";
  pm.out(kPm1Cnt, 2, kCntSciEn | slp_typ(kSlpTypS5) | kCntSlpEn);
  EXPECT_EQ(signals.power_offs, 1);
  EXPECT_EQ(pm.in(kPm1Cnt, 2) & kCntSlpEn, 0) << "SLP_EN is write-only";
  for (uint16_t type = 0; type < 8; ++type) {
    if (type == kSlpTypS5) continue;
    pm.out(kPm1Cnt, 2, slp_typ(type) | kCntSlpEn);
    EXPECT_EQ(signals.power_offs, 1) << "S" << type << " is not supported: ignored";
  }
  // The high byte alone carries both fields.
  pm.out(kPm1Cnt + 1, 1, (slp_typ(kSlpTypS5) | kCntSlpEn) >> 8);
  EXPECT_EQ(signals.power_offs, 2);
  EXPECT_TRUE(signals.resets.empty());
  EXPECT_TRUE(signals.irqs.empty());
}

TEST_F(AcpiPmTest, Pm1StatusIsWriteOneToClear) {
  pm.set_status(kStsWak | kStsPwrBtn | kStsTmr);
  EXPECT_EQ(pm.in(kPm1Sts, 2), uint32_t{kStsWak | kStsPwrBtn | kStsTmr});
  pm.out(kPm1Sts, 2, kStsTmr);
  EXPECT_EQ(pm.in(kPm1Sts, 2), uint32_t{kStsWak | kStsPwrBtn});
  pm.out(kPm1Sts, 2, 0);
  EXPECT_EQ(pm.in(kPm1Sts, 2), uint32_t{kStsWak | kStsPwrBtn}) << "writing 0 changes nothing";
  pm.out(kPm1Sts + 1, 1, kStsWak >> 8);
  EXPECT_EQ(pm.in(kPm1Sts, 2), uint32_t{kStsPwrBtn});
  pm.out(kPm1Sts, 2, 0xFFFF);
  EXPECT_EQ(pm.in(kPm1Sts, 2), 0u);
}

// A 32-bit access at the event block spans PM1_STS and PM1_EN.
TEST_F(AcpiPmTest, AccessesSpanningRegistersSplitIntoBytes) {
  pm.out(kPm1En, 2, 0x0521);
  EXPECT_EQ(pm.in(kPm1En, 2), 0x0521u);
  pm.set_status(kStsRtc);
  EXPECT_EQ(pm.in(kPm1Sts, 4), (0x0521u << 16) | kStsRtc);
  pm.out(kPm1Sts, 4, (0x0100u << 16) | kStsRtc);  // clear RTC_STS, PM1_EN = PWRBTN_EN
  EXPECT_EQ(pm.in(kPm1Sts, 2), 0u);
  EXPECT_EQ(pm.in(kPm1En, 2), 0x0100u);
  EXPECT_EQ(pm.in(kPm1En + 1, 1), 0x01u);
  // PM1_CNT and the two undecoded ports after it (0x606, 0x607).
  EXPECT_EQ(pm.in(kPm1Cnt, 4), 0xFFFF0000u | kCntSciEn);
  pm.out(kPm1Cnt, 4, 0xFFFF0000u);
  EXPECT_EQ(pm.in(kPm1Cnt, 2), kCntSciEn);
  // Ending in the timer: one sample, its low bytes.
  now_ns = 2'000'000'000;
  EXPECT_EQ(pm.in(kAcpiPmTimer - 2, 4), 0xFFFFu | (pm_timer_count(now_ns) & 0xFFFF) << 16);
}

// The SCI follows PM1_STS & PM1_EN. No machine event sets a status bit, so
// guest writes alone never raise it.
TEST_F(AcpiPmTest, SciFollowsEnabledStatus) {
  pm.out(kPm1En, 2, 0xFFFF);
  pm.out(kPm1Sts, 2, 0xFFFF);
  EXPECT_TRUE(signals.irqs.empty());
  pm.out(kPm1En, 2, 0);
  pm.set_status(kStsPwrBtn);
  EXPECT_TRUE(signals.irqs.empty()) << "not enabled";
  EXPECT_FALSE(pm.sci_asserted());
  pm.out(kPm1En, 2, kStsPwrBtn);
  ASSERT_EQ(signals.irqs.size(), 1u);
  EXPECT_EQ(signals.irqs[0].line, kIrqSci);
  EXPECT_TRUE(signals.irqs[0].high);
  pm.out(kPm1Sts, 2, kStsPwrBtn);
  ASSERT_EQ(signals.irqs.size(), 2u);
  EXPECT_FALSE(signals.irqs[1].high);
  EXPECT_FALSE(pm.sci_asserted());
}

// acpi_reboot writes RESET_VALUE 0x06; reboot=pci writes 0x02 then 0x06.
TEST_F(AcpiPmTest, ResetRegister) {
  pm.out(kResetControl, 1, kSysRst);
  EXPECT_TRUE(signals.resets.empty()) << "SYS_RST alone only selects the reset type";
  EXPECT_EQ(pm.in(kResetControl, 1), kSysRst);
  pm.out(kResetControl, 1, kResetValue);
  ASSERT_EQ(signals.resets.size(), 1u);
  EXPECT_EQ(signals.resets[0], kHow);
  EXPECT_EQ(pm.in(kResetControl, 1), kSysRst) << "RST_CPU reads back 0";
  pm.out(kResetControl, 1, kRstCpu);
  EXPECT_EQ(signals.resets.size(), 2u);
  pm.out(kResetControl, 1, 0);
  EXPECT_EQ(pm.in(kResetControl, 1), 0u);
  EXPECT_EQ(signals.power_offs, 0);
}

// Every value at every port of the block and 0xCF9 at every size, reads
// in between: power off and reset exactly for the documented patterns, no
// SCI, and the timer still counts.
TEST_F(AcpiPmTest, HostileGuestCannotBreakIt) {
  std::vector<uint16_t> ports;
  for (uint16_t p = kAcpiPmBase; p < kAcpiPmTimer + kAcpiPmTimerLength; ++p) ports.push_back(p);
  ports.push_back(kResetControl);
  int expected_power_offs = 0;
  size_t expected_resets = 0;
  for (uint8_t size : {1, 2, 4}) {
    for (uint16_t port : ports) {
      for (uint32_t v = 0; v < 256; ++v) {
        const uint32_t value = v * 0x01010101u;
        pm.out(port, size, value);
        for (uint8_t i = 0; i < size; ++i) {
          const uint16_t p = static_cast<uint16_t>(port + i);
          const uint8_t byte = static_cast<uint8_t>(value >> (8 * i));
          if (p == kPm1Cnt + 1 && (byte & (kCntSlpEn >> 8)) && ((byte >> 2) & 7) == kSlpTypS5) ++expected_power_offs;
          if (p == kResetControl && (byte & kRstCpu)) ++expected_resets;
        }
        for (uint16_t r : ports) pm.in(r, size);
        ASSERT_EQ(pm.in(kPm1Cnt, 1) & kCntSciEn, kCntSciEn);
        ASSERT_EQ(pm.in(kPm1Cnt, 2) & kCntSlpEn, 0u);
        now_ns += 1000;
      }
    }
  }
  EXPECT_GT(expected_power_offs, 0);
  EXPECT_EQ(signals.power_offs, expected_power_offs);
  EXPECT_EQ(signals.resets.size(), expected_resets);
  for (const auto& how : signals.resets) EXPECT_EQ(how, kHow);
  EXPECT_TRUE(signals.irqs.empty());
  EXPECT_EQ(pm.in(kPm1Sts, 2), 0u) << "nothing sets a status bit";
  const uint32_t t0 = pm.in(kAcpiPmTimer, 4);
  EXPECT_EQ(t0, pm_timer_count(now_ns));
  now_ns += 1'000'000;
  const uint32_t t1 = pm.in(kAcpiPmTimer, 4);
  EXPECT_EQ(t1, pm_timer_count(now_ns));
  EXPECT_NEAR(static_cast<double>((t1 - t0) & kPmTimerMask), 3579.545, 1.0) << "1 ms later";
}

// ---- Snapshots ---------------------------------------------------------------

// The saved layout's offsets the refusal tests corrupt (AcpiPm::save).
constexpr size_t kStateEn = 2, kStateCntHi = 5, kStateReset = 6, kStateSci = 7, kStateBytes = 16;

std::vector<uint32_t> pm_registers(AcpiPm& p) {
  return {p.in(kPm1Sts, 2), p.in(kPm1En, 2), p.in(kPm1Cnt, 2), p.in(kResetControl, 1)};
}

class AcpiPmSnapshotTest : public AcpiPmTest {
 protected:
  RecordingSignals signals2;
  uint64_t now2_ns = 0;
  AcpiPm pm2{signals2, [this] { return now2_ns; }};

  // PWRBTN_EN and RTC_EN, SLP_TYP 3 without SLP_EN, SYS_RST without
  // RST_CPU, and a power-button event (host side) raising the SCI.
  void drive() {
    pm.out(kPm1En, 2, kStsPwrBtn | kStsRtc);
    pm.out(kPm1Cnt, 2, kCntSciEn | slp_typ(3));
    pm.out(kResetControl, 1, kSysRst);
    pm.set_status(kStsPwrBtn);
    ASSERT_TRUE(pm.sci_asserted());
  }
};

TEST_F(AcpiPmSnapshotTest, RoundTripRestoresRegistersAndSciLevel) {
  drive();
  now_ns = 7'500'000'000;
  const auto blob = test::save_state(pm, now_ns);
  EXPECT_EQ(blob.size(), kStateBytes);
  ASSERT_TRUE(test::load_state(pm2, blob));
  EXPECT_TRUE(signals2.irqs.empty()) << "load never signals: the interrupt controllers hold the level";
  EXPECT_TRUE(pm2.sci_asserted());
  const auto seen = pm_registers(pm2);
  EXPECT_EQ(seen, pm_registers(pm));
  EXPECT_EQ(seen, (std::vector<uint32_t>{kStsPwrBtn, kStsPwrBtn | kStsRtc, kCntSciEn | slp_typ(3), kSysRst}));
  // The restored level makes the falling edge the original makes when the
  // guest clears PWRBTN_STS.
  pm2.out(kPm1Sts, 2, kStsPwrBtn);
  ASSERT_EQ(signals2.irqs.size(), 1u);
  EXPECT_EQ(signals2.irqs[0].line, kIrqSci);
  EXPECT_FALSE(signals2.irqs[0].high);
  EXPECT_EQ(signals2.power_offs, 0);
  EXPECT_TRUE(signals2.resets.empty());
}

// The new VM's clock starts again near 0; the PM timer goes on from the
// moment the old one stopped (the time given to save, not the clock's
// reading when save ran), and a second snapshot of the restored VM keeps
// counting from there.
TEST_F(AcpiPmSnapshotTest, PmTimerContinuesFromTheStopMoment) {
  const uint64_t stopped = 3'123'456'789;
  now_ns = stopped + 2'000'000'000;  // save ran two seconds after the stop
  const auto blob = test::save_state(pm, stopped);
  now2_ns = 500;  // the restored VM's clock at the load
  ASSERT_TRUE(test::load_state(pm2, blob));
  EXPECT_EQ(pm2.in(kAcpiPmTimer, 4), pm_timer_count(stopped));
  now2_ns += 1'000'000;
  EXPECT_EQ(pm2.in(kAcpiPmTimer, 4), pm_timer_count(stopped + 1'000'000));
  EXPECT_NE(pm2.in(kAcpiPmTimer, 4), pm_timer_count(now2_ns)) << "not from 0";
  EXPECT_NE(pm2.in(kAcpiPmTimer, 4), pm_timer_count(now_ns + 1'000'000)) << "not from save's clock";
  EXPECT_EQ(pm2.in(kAcpiPmTimer, 1), pm_timer_count(stopped + 1'000'000) & 0xFF) << "byte reads too";

  // Stopped again 4 s into the restored VM: 4 s more on the timer.
  now2_ns = 4'000'000'500;
  const auto again = test::save_state(pm2, now2_ns);
  RecordingSignals signals3;
  uint64_t now3_ns = 0;
  AcpiPm pm3{signals3, [&now3_ns] { return now3_ns; }};
  ASSERT_TRUE(test::load_state(pm3, again));
  EXPECT_EQ(pm3.in(kAcpiPmTimer, 4), pm_timer_count(stopped + 4'000'000'000));
  now3_ns = 1'000;
  EXPECT_EQ(pm3.in(kAcpiPmTimer, 4), pm_timer_count(stopped + 4'000'001'000));
}

TEST_F(AcpiPmSnapshotTest, EveryTruncationIsRefusedAndChangesNothing) {
  drive();
  const auto blob = test::save_state(pm, 1'000'000'000);
  pm2.out(kPm1En, 2, 0x0001);
  pm2.out(kPm1Cnt, 2, slp_typ(1));
  now2_ns = 2'000'000'000;
  const auto untouched = pm_registers(pm2);
  for (size_t n = 0; n < blob.size(); ++n) {
    std::string why;
    EXPECT_FALSE(test::load_state(pm2, blob, &why, n)) << n;
    EXPECT_NE(why.find("ends early"), std::string::npos) << why;
  }
  EXPECT_EQ(pm_registers(pm2), untouched);
  EXPECT_EQ(pm2.in(kAcpiPmTimer, 4), pm_timer_count(now2_ns)) << "the timer offset unchanged";
  EXPECT_TRUE(signals2.irqs.empty());
}

TEST_F(AcpiPmSnapshotTest, RefusesWhatNoGuestCouldMake) {
  drive();
  const auto blob = test::save_state(pm, 1'000'000'000);
  pm2.out(kPm1En, 2, 0x0001);
  now2_ns = 2'000'000'000;
  const auto untouched = pm_registers(pm2);
  struct Case {
    size_t offset;
    uint8_t value;
    const char* why;
  };
  for (const Case c : {Case{kStateCntHi, (kCntSlpEn | slp_typ(5)) >> 8, "PM1_CNT = 0x0000000000003401"},
                       Case{kStateReset, kRstCpu | kSysRst, "ACPI reset register = 0x0000000000000006"},
                       Case{kStateSci, 0, "ACPI SCI level"},
                       Case{kStateEn + 1, 0, "ACPI SCI level"},  // PWRBTN_EN cleared: nothing enabled is set
                       Case{kStateSci, 2, "neither 0 nor 1"}}) {
    auto bad = blob;
    bad[c.offset] = c.value;
    std::string why;
    EXPECT_FALSE(test::load_state(pm2, bad, &why)) << c.why;
    EXPECT_NE(why.find(c.why), std::string::npos) << why;
  }
  EXPECT_EQ(pm_registers(pm2), untouched);
  EXPECT_EQ(pm2.in(kAcpiPmTimer, 4), pm_timer_count(now2_ns));
  EXPECT_TRUE(signals2.irqs.empty());
  EXPECT_EQ(signals2.power_offs, 0) << "a refused SLP_EN powers nothing off";
  EXPECT_TRUE(signals2.resets.empty());
}

}  // namespace
}  // namespace enlight::machine
