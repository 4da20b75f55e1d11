// The CMOS RTC as Linux reads it at boot (mc146818_get_time) and sets it
// (mc146818_set_time), for a fixed host clock.
#include <enlight/machine/cmos_rtc.hpp>
#include <enlight/machine/layout.hpp>

#include "device_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight::machine {
namespace {

constexpr uint8_t kSec = 0x00, kSecAlarm = 0x01, kMin = 0x02, kMinAlarm = 0x03, kHour = 0x04;
constexpr uint8_t kHourAlarm = 0x05, kDow = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09;
constexpr uint8_t kRegA = 0x0A, kRegB = 0x0B, kRegC = 0x0C, kRegD = 0x0D, kCentury = 0x32;
constexpr uint8_t kNmiDisable = 0x80;
constexpr uint8_t kAUip = 0x80, kADivReset2 = 0x70;
constexpr uint8_t kBSet = 0x80, kBUie = 0x10, kBBinary = 0x04, kB24h = 0x02;

constexpr int64_t kNs = 1'000'000'000;
constexpr uint64_t kMiB = 1024 * 1024;
// 2026-12-06 21:06:49 UTC, a Sunday (date -u -d ... +%s).
constexpr int64_t kSunday2026 = 1'796'591'209;
// 2099-12-31 23:59:59 UTC and 2024-02-28 23:59:59 UTC.
constexpr int64_t kEndOf2099 = 4'102'444'799;
constexpr int64_t kEndOfFeb28th2024 = 1'709'164'799;

class CmosRtcTest : public ::testing::Test {
 protected:
  int64_t now_ns = kSunday2026 * kNs + kNs / 2;  // mid-second: UIP clear
  std::unique_ptr<CmosRtc> rtc = make(256 * kMiB);

  std::unique_ptr<CmosRtc> make(uint64_t ram) {
    return std::make_unique<CmosRtc>([this] { return now_ns; }, ram);
  }
  uint8_t read(uint8_t reg) {
    rtc->out(kCmosIndex, 1, reg);
    return static_cast<uint8_t>(rtc->in(kCmosData, 1));
  }
  void write(uint8_t reg, uint8_t value) {
    rtc->out(kCmosIndex, 1, reg);
    rtc->out(kCmosData, 1, value);
  }
  // mc146818_set_time, register by register.
  void linux_set_time(uint8_t yrs, uint8_t mon, uint8_t day, uint8_t hrs, uint8_t min, uint8_t sec,
                      int century = -1) {
    const uint8_t save_control = read(kRegB);
    write(kRegB, save_control | kBSet);
    const uint8_t save_freq_select = read(kRegA);
    write(kRegA, save_freq_select | kADivReset2);
    write(kYear, yrs);
    write(kMonth, mon);
    write(kDay, day);
    write(kHour, hrs);
    write(kMin, min);
    write(kSec, sec);
    if (century >= 0) write(kCentury, static_cast<uint8_t>(century));
    write(kRegB, save_control);
    write(kRegA, save_freq_select);
  }
};

TEST_F(CmosRtcTest, PowerOnRegisters) {
  EXPECT_EQ(read(kRegA), 0x26);
  EXPECT_EQ(read(kRegB), 0x02) << "24 h, BCD";
  EXPECT_EQ(read(kRegC), 0x00);
  EXPECT_EQ(read(kRegD), 0x80) << "valid RAM and time";
}

TEST_F(CmosRtcTest, BcdTime24Hour) {
  EXPECT_EQ(read(kSec), 0x49);
  EXPECT_EQ(read(kMin), 0x06);
  EXPECT_EQ(read(kHour), 0x21);
  EXPECT_EQ(read(kDow), 1) << "Sunday";
  EXPECT_EQ(read(kDay), 0x06);
  EXPECT_EQ(read(kMonth), 0x12);
  EXPECT_EQ(read(kYear), 0x26);
  EXPECT_EQ(read(kCentury), 0x20);
}

TEST_F(CmosRtcTest, BinaryTime) {
  write(kRegB, kB24h | kBBinary);
  EXPECT_EQ(read(kSec), 49);
  EXPECT_EQ(read(kMin), 6);
  EXPECT_EQ(read(kHour), 21);
  EXPECT_EQ(read(kDow), 1);
  EXPECT_EQ(read(kDay), 6);
  EXPECT_EQ(read(kMonth), 12);
  EXPECT_EQ(read(kYear), 26);
  EXPECT_EQ(read(kCentury), 20);
}

// 12-hour mode: bit 7 = PM; midnight is 12 AM, noon 12 PM.
TEST_F(CmosRtcTest, TwelveHourMode) {
  write(kRegB, 0);  // 12 h, BCD
  EXPECT_EQ(read(kHour), 0x80 | 0x09) << "21:06 is 9 PM";
  write(kRegB, kBBinary);
  EXPECT_EQ(read(kHour), 0x80 | 9);
  now_ns = (kSunday2026 - 21 * 3600) * kNs;  // 00:06:49
  EXPECT_EQ(read(kHour), 12) << "12 AM";
  now_ns = (kSunday2026 - 9 * 3600) * kNs;  // 12:06:49
  EXPECT_EQ(read(kHour), 0x80 | 12) << "12 PM";
  write(kRegB, 0);
  now_ns = (kSunday2026 - 10 * 3600) * kNs;  // 11:06:49
  EXPECT_EQ(read(kHour), 0x11) << "11 AM";
}

// UIP only in the last 244 us of each second, so mc146818_avoid_UIP never
// waits unless it happens to read there.
TEST_F(CmosRtcTest, UipOnlyInLast244MicrosecondsOfASecond) {
  const int64_t second = kSunday2026 * kNs;
  struct Case {
    int64_t ns;
    bool uip;
  };
  for (const Case c : {Case{second, false}, Case{second + kNs / 2, false}, Case{second + kNs - 244'001, false},
                       Case{second + kNs - 244'000, true}, Case{second + kNs - 1, true}, Case{second + kNs, false}}) {
    now_ns = c.ns;
    EXPECT_EQ(read(kRegA), c.uip ? (kAUip | 0x26) : 0x26) << c.ns - second;
  }
  // Writes cannot set UIP; with SET (updates inhibited) it stays 0.
  write(kRegA, 0xA6);
  now_ns = second + kNs / 2;
  EXPECT_EQ(read(kRegA), 0x26);
  now_ns = second + kNs - 1;
  write(kRegB, kBSet | kB24h);
  EXPECT_EQ(read(kRegA), 0x26);
}

// Linux's boot read: wait out UIP, read the time registers.
TEST_F(CmosRtcTest, TimeAdvancesWithTheHostClock) {
  now_ns += 11 * kNs;  // 21:07:00
  EXPECT_EQ(read(kSec), 0x00);
  EXPECT_EQ(read(kMin), 0x07);
  now_ns = kEndOf2099 * kNs;
  EXPECT_EQ(read(kYear), 0x99);
  EXPECT_EQ(read(kCentury), 0x20);
  now_ns += kNs;
  EXPECT_EQ(read(kYear), 0x00);
  EXPECT_EQ(read(kCentury), 0x21);
  EXPECT_EQ(read(kMonth), 0x01);
  EXPECT_EQ(read(kDay), 0x01);
  EXPECT_EQ(read(kDow), 6) << "2100-01-01 is a Friday";
  now_ns = (kEndOfFeb28th2024 + 1) * kNs;
  EXPECT_EQ(read(kMonth), 0x02);
  EXPECT_EQ(read(kDay), 0x29) << "2024 is a leap year";
}

// mc146818_set_time: SET, divider reset, the fields, SET cleared. The set
// time then advances with the host's clock.
TEST_F(CmosRtcTest, SetTimeThenAdvance) {
  linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x05);  // 2030-01-02 03:04:05
  EXPECT_EQ(rtc->offset_seconds(), 1'893'553'445 - kSunday2026);
  EXPECT_EQ(read(kRegA), 0x26) << "divider restored as written";
  EXPECT_EQ(read(kRegB), 0x02);
  EXPECT_EQ(read(kSec), 0x05);
  EXPECT_EQ(read(kYear), 0x30);
  EXPECT_EQ(read(kCentury), 0x20);
  EXPECT_EQ(read(kDow), 0x04) << "a Wednesday";
  now_ns += 61 * kNs;
  EXPECT_EQ(read(kSec), 0x06);
  EXPECT_EQ(read(kMin), 0x05);
  EXPECT_EQ(read(kHour), 0x03);
  EXPECT_EQ(read(kDay), 0x02);
}

// While SET is 1 the registers hold what was written and do not advance.
TEST_F(CmosRtcTest, RegistersFrozenWhileSet) {
  write(kRegB, kBSet | kB24h);
  EXPECT_EQ(read(kSec), 0x49);
  now_ns += 5 * kNs;
  EXPECT_EQ(read(kSec), 0x49);
  write(kSec, 0x30);
  EXPECT_EQ(read(kSec), 0x30);
  now_ns += 5 * kNs;
  EXPECT_EQ(read(kSec), 0x30);
  EXPECT_EQ(rtc->offset_seconds(), 0) << "not yet";
  write(kRegB, kB24h);
  EXPECT_EQ(read(kSec), 0x30);
  now_ns += kNs;
  EXPECT_EQ(read(kSec), 0x31);
}

TEST_F(CmosRtcTest, SetBitClearsUpdateInterruptEnable) {
  write(kRegB, kB24h | kBUie);
  EXPECT_EQ(read(kRegB), kB24h | kBUie);
  write(kRegB, kB24h | kBSet | kBUie);
  EXPECT_EQ(read(kRegB), kB24h | kBSet);
}

// Set in binary, 12-hour mode, with the century: decoded as the guest's
// register B says.
TEST_F(CmosRtcTest, SetTimeInBinaryTwelveHourMode) {
  write(kRegB, kBBinary);  // 12 h, binary
  linux_set_time(30, 1, 2, 0x80 | 3, 4, 5, 20);  // 2030-01-02 3:04:05 PM
  write(kRegB, kB24h);
  EXPECT_EQ(read(kHour), 0x15);
  EXPECT_EQ(rtc->offset_seconds(), 1'893'553'445 + 12 * 3600 - kSunday2026);
}

// A date the chip could not hold leaves the clock unchanged.
TEST_F(CmosRtcTest, InvalidSetIsIgnored) {
  linux_set_time(0x30, 0x13, 0x02, 0x03, 0x04, 0x05);  // month 13
  EXPECT_EQ(rtc->offset_seconds(), 0);
  linux_set_time(0x30, 0x04, 0x31, 0x03, 0x04, 0x05);  // 31 April
  EXPECT_EQ(rtc->offset_seconds(), 0);
  linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x5A);  // not BCD
  EXPECT_EQ(rtc->offset_seconds(), 0);
  linux_set_time(0x30, 0x01, 0x02, 0x24, 0x04, 0x05);  // hour 24
  EXPECT_EQ(rtc->offset_seconds(), 0);
  EXPECT_EQ(read(kSec), 0x49);
}

// Writing a running clock's register sets that field at once.
TEST_F(CmosRtcTest, WriteWithoutSetTakesEffectAtOnce) {
  write(kMin, 0x30);
  EXPECT_EQ(read(kMin), 0x30);
  EXPECT_EQ(read(kSec), 0x49);
  EXPECT_EQ(read(kHour), 0x21);
  EXPECT_EQ(rtc->offset_seconds(), 24 * 60);
}

// The memory-size bytes for 256 MiB, as QEMU's pc_cmos_init writes them.
TEST_F(CmosRtcTest, MemorySizeBytes256MiB) {
  EXPECT_EQ(read(0x15), 0x80);  // 640 KiB
  EXPECT_EQ(read(0x16), 0x02);
  EXPECT_EQ(read(0x17), 0xFF);  // 255 MiB in KiB, capped at 0xFFFF
  EXPECT_EQ(read(0x18), 0xFF);
  EXPECT_EQ(read(0x30), 0xFF);
  EXPECT_EQ(read(0x31), 0xFF);
  EXPECT_EQ(read(0x34), 0x00);  // 240 MiB in 64 KiB = 3840 = 0x0F00
  EXPECT_EQ(read(0x35), 0x0F);
}

TEST_F(CmosRtcTest, MemorySizeBytesSmallMachines) {
  rtc = make(8 * kMiB);
  EXPECT_EQ(read(0x15) | read(0x16) << 8, 640);
  EXPECT_EQ(read(0x17) | read(0x18) << 8, 7 * 1024);
  EXPECT_EQ(read(0x30) | read(0x31) << 8, 7 * 1024);
  EXPECT_EQ(read(0x34) | read(0x35) << 8, 0);
  rtc = make(512 * 1024);
  EXPECT_EQ(read(0x15) | read(0x16) << 8, 512);
  EXPECT_EQ(read(0x17) | read(0x18) << 8, 0);
  rtc = make(3 * 1024 * kMiB);
  EXPECT_EQ(read(0x34) | read(0x35) << 8, 48896) << "(3 GiB - 16 MiB) / 64 KiB, under the cap";
  EXPECT_EQ(read(0x17) | read(0x18) << 8, 0xFFFF) << "capped";
}

TEST_F(CmosRtcTest, CmosRamAndAlarmsReadBack) {
  for (uint8_t reg : {kSecAlarm, kMinAlarm, kHourAlarm, uint8_t{0x0E}, uint8_t{0x40}, uint8_t{0x7F}}) {
    write(reg, 0xA5);
    EXPECT_EQ(read(reg), 0xA5) << int{reg};
    write(reg, 0x5A);
    EXPECT_EQ(read(reg), 0x5A) << int{reg};
  }
  write(kRegC, 0xFF);
  write(kRegD, 0x00);
  EXPECT_EQ(read(kRegC), 0x00);
  EXPECT_EQ(read(kRegD), 0x80);
}

// Bit 7 of the index port (NMI disable) is kept but does not select.
TEST_F(CmosRtcTest, IndexNmiBitIgnoredForSelection) {
  rtc->out(kCmosIndex, 1, kNmiDisable | kRegD);
  EXPECT_EQ(rtc->in(kCmosData, 1), 0x80u);
  EXPECT_EQ(rtc->in(kCmosIndex, 1), uint32_t{kNmiDisable | kRegD});
  rtc->out(kCmosIndex, 1, kNmiDisable | kSec);
  EXPECT_EQ(rtc->in(kCmosData, 1), 0x49u);
}

TEST_F(CmosRtcTest, DataReadWithoutIndexWriteReadsSeconds) {
  EXPECT_EQ(rtc->in(kCmosData, 1), 0x49u);
}

TEST_F(CmosRtcTest, WideAccessActsOnAddressedByte) {
  rtc->out(kCmosIndex, 2, 0x5500 | kYear);
  EXPECT_EQ(rtc->in(kCmosData, 4), 0x26u);
  rtc->out(kCmosIndex, 1, 0x40);
  rtc->out(kCmosData, 4, 0x11223344);
  EXPECT_EQ(rtc->in(kCmosData, 2), 0x44u);
}

// Every value at every index at every size, reads of both ports: nothing
// crashes, register D stays valid, and once register B is sane again the
// clock reads as valid BCD and still advances.
TEST_F(CmosRtcTest, HostileGuestCannotBreakIt) {
  for (uint8_t size : {1, 2, 4}) {
    for (uint32_t index = 0; index < 256; ++index) {
      for (uint32_t v = 0; v < 256; ++v) {
        rtc->out(kCmosIndex, size, index * 0x01010101u);
        rtc->out(kCmosData, size, v * 0x01010101u);
        rtc->in(kCmosData, size);
        rtc->in(kCmosIndex, size);
      }
      now_ns += kNs / 7;
    }
  }
  EXPECT_EQ(read(kRegD), 0x80);
  EXPECT_EQ(read(kRegC), 0x00);
  write(kRegB, kB24h);
  auto valid_bcd = [](uint8_t v, int max) {
    return (v & 0x0F) <= 9 && (v >> 4) <= 9 && (v >> 4) * 10 + (v & 0x0F) <= max;
  };
  EXPECT_TRUE(valid_bcd(read(kSec), 59));
  EXPECT_TRUE(valid_bcd(read(kMin), 59));
  EXPECT_TRUE(valid_bcd(read(kHour), 23));
  EXPECT_TRUE(valid_bcd(read(kDay), 31));
  EXPECT_TRUE(valid_bcd(read(kMonth), 12));
  EXPECT_GE(read(kDow), 1);
  EXPECT_LE(read(kDow), 7);
  now_ns = kSunday2026 * kNs + kNs / 2;
  linux_set_time(0x26, 0x12, 0x06, 0x21, 0x06, 0x49, 0x20);
  EXPECT_EQ(read(kSec), 0x49);
  EXPECT_EQ(rtc->offset_seconds(), 0);
}

// ---- Snapshots ---------------------------------------------------------------

// The saved layout (CmosRtc::save): the 128 bytes, the index, the offset.
constexpr size_t kStateIndex = 128, kStateOffset = 129, kStateBytes = 137;

// The index byte, then all 128 registers (leaving the index at 0x7F).
std::vector<uint8_t> all_registers(CmosRtc& c) {
  std::vector<uint8_t> seen = {static_cast<uint8_t>(c.in(kCmosIndex, 1))};
  const uint8_t index = seen[0];
  for (uint8_t reg = 0; reg < 128; ++reg) {
    c.out(kCmosIndex, 1, reg);
    seen.push_back(static_cast<uint8_t>(c.in(kCmosData, 1)));
  }
  c.out(kCmosIndex, 1, index);
  return seen;
}

void put_offset(std::vector<uint8_t>& blob, int64_t offset) {
  const auto bits = static_cast<uint64_t>(offset);
  for (size_t i = 0; i < 8; ++i) blob[kStateOffset + i] = static_cast<uint8_t>(bits >> (8 * i));
}

// A guest that set its clock to 2030, wrote CMOS RAM and an alarm, changed
// register A's rate and left the index at a RAM byte with NMIs disabled.
TEST_F(CmosRtcTest, SnapshotRoundTripKeepsRamIndexAndTheGuestsOffset) {
  linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x05);  // 2030-01-02 03:04:05
  const int64_t offset = 1'893'553'445 - kSunday2026;
  ASSERT_EQ(rtc->offset_seconds(), offset);
  write(0x40, 0x12);
  write(0x7F, 0x34);
  write(kHourAlarm, 0x23);
  write(kRegA, 0x2A);
  rtc->out(kCmosIndex, 1, kNmiDisable | 0x40);
  const auto blob = test::save_state(*rtc);
  EXPECT_EQ(blob.size(), kStateBytes);

  auto loaded = make(256 * kMiB);
  ASSERT_TRUE(test::load_state(*loaded, blob));
  EXPECT_EQ(test::save_state(*loaded), blob);
  EXPECT_EQ(loaded->offset_seconds(), offset);
  const auto seen = all_registers(*loaded);
  EXPECT_EQ(seen, all_registers(*rtc));
  EXPECT_EQ(seen[0], kNmiDisable | 0x40) << "index";
  EXPECT_EQ(seen[1 + 0x40], 0x12);
  EXPECT_EQ(seen[1 + 0x7F], 0x34);
  EXPECT_EQ(seen[1 + kHourAlarm], 0x23);
  EXPECT_EQ(seen[1 + kRegA], 0x2A);
  EXPECT_EQ(seen[1 + kYear], 0x30);
  EXPECT_EQ(seen[1 + kHour], 0x03);
  EXPECT_EQ(static_cast<uint8_t>(loaded->in(kCmosData, 1)), 0x12) << "the restored index selects 0x40";

  // The restored RTC shows the (new) host time plus the guest's offset, as
  // QEMU's -rtc clock=host: a day later on the host, a day later for it.
  now_ns += 86'400 * kNs;
  auto later = make(256 * kMiB);
  ASSERT_TRUE(test::load_state(*later, blob));
  later->out(kCmosIndex, 1, kDay);
  EXPECT_EQ(later->in(kCmosData, 1), 0x03u);
  later->out(kCmosIndex, 1, kHour);
  EXPECT_EQ(later->in(kCmosData, 1), 0x03u);
}

// Saved while the guest was setting the clock: the bytes it wrote under
// SET come back, and take effect when it clears SET.
TEST_F(CmosRtcTest, SnapshotInTheMiddleOfSettingTheClock) {
  write(kRegB, kB24h | kBSet);
  write(kYear, 0x31);
  write(kMonth, 0x07);
  write(kDay, 0x04);
  write(kHour, 0x12);
  write(kMin, 0x00);
  write(kSec, 0x00);
  const auto blob = test::save_state(*rtc);
  auto loaded = make(256 * kMiB);
  ASSERT_TRUE(test::load_state(*loaded, blob));
  EXPECT_EQ(all_registers(*loaded), all_registers(*rtc));
  loaded->out(kCmosIndex, 1, kRegB);
  loaded->out(kCmosData, 1, kB24h);
  EXPECT_EQ(loaded->offset_seconds(), 1'940'932'800 - kSunday2026) << "2031-07-04 12:00:00";
}

TEST_F(CmosRtcTest, SnapshotEveryTruncationIsRefusedAndChangesNothing) {
  linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x05);
  write(0x40, 0x12);
  const auto blob = test::save_state(*rtc);
  auto other = make(256 * kMiB);
  other->out(kCmosIndex, 1, 0x41);
  other->out(kCmosData, 1, 0x99);
  const auto untouched = all_registers(*other);
  for (size_t n = 0; n < blob.size(); ++n) {
    std::string why;
    EXPECT_FALSE(test::load_state(*other, blob, &why, n)) << n;
    EXPECT_NE(why.find("ends early"), std::string::npos) << why;
  }
  EXPECT_EQ(all_registers(*other), untouched);
  EXPECT_EQ(other->offset_seconds(), 0);
}

TEST_F(CmosRtcTest, SnapshotRefusesWhatNoGuestCouldMake) {
  linux_set_time(0x30, 0x01, 0x02, 0x03, 0x04, 0x05);
  const auto blob = test::save_state(*rtc);
  auto other = make(256 * kMiB);
  other->out(kCmosIndex, 1, 0x41);
  other->out(kCmosData, 1, 0x99);
  const auto untouched = all_registers(*other);
  struct Case {
    size_t offset;
    uint8_t value;
    const char* why;
  };
  for (const Case c : {Case{kRegA, 0xA6, "RTC register A = 0x00000000000000a6"},
                       Case{kRegB, kBSet | kBUie | kB24h, "RTC register B"},
                       Case{kRegC, 0x80, "RTC register C"},
                       Case{kRegD, 0x80, "RTC register D"}}) {
    auto bad = blob;
    bad[c.offset] = c.value;
    std::string why;
    EXPECT_FALSE(test::load_state(*other, bad, &why)) << c.why;
    EXPECT_NE(why.find(c.why), std::string::npos) << why;
  }
  for (int64_t offset : {int64_t{1'000'000'000'001}, int64_t{-1'000'000'000'001}, INT64_MAX, INT64_MIN}) {
    auto bad = blob;
    put_offset(bad, offset);
    std::string why;
    EXPECT_FALSE(test::load_state(*other, bad, &why)) << offset;
    EXPECT_NE(why.find("RTC clock offset"), std::string::npos) << why;
  }
  EXPECT_EQ(all_registers(*other), untouched);
  EXPECT_EQ(other->offset_seconds(), 0);
  // Any index byte is one a guest can write; the far ends of the offset
  // range load (and the clock wraps the century instead of overflowing).
  auto good = blob;
  good[kStateIndex] = 0xFF;
  put_offset(good, 1'000'000'000'000);
  EXPECT_TRUE(test::load_state(*other, good));
  EXPECT_EQ(other->offset_seconds(), 1'000'000'000'000);
  EXPECT_EQ(other->in(kCmosIndex, 1), 0xFFu);
  other->out(kCmosIndex, 1, kYear);
  other->in(kCmosData, 1);
}

}  // namespace
}  // namespace enlight::machine
