// The PC machine's snapshot blob (PcMachine::save/load): the version, the
// four devices in order, and every way a blob can be refused. The devices'
// own fields are tested in their test files.
#include <enlight/machine/layout.hpp>
#include <enlight/machine/pc.hpp>
#include <enlight/machine/pm_timer.hpp>

#include "recording_signals.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight::machine {
namespace {

using test::RecordingSignals;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t kHostNow = 1'796'591'209 * kNs + kNs / 2;  // 2026-12-06 21:06:49.5 UTC
// Version, then COM1 (30), i8042 (11), RTC (137), PM (16) bytes.
constexpr size_t kBlobBytes = 4 + 30 + 11 + 137 + 16;
constexpr size_t kCom1Ier = 4 + 0;

constexpr uint16_t kScr = kCom1Base + 7, kIer = kCom1Base + 1, kFcr = kCom1Base + 2, kMcr = kCom1Base + 4;
constexpr uint16_t kLsr = kCom1Base + 5;
constexpr uint16_t kPm1En = kAcpiPm1aEvent + 2;

struct Vm {
  RecordingSignals signals;
  uint64_t now_ns = 0;
  std::unique_ptr<PcMachine> pc;

  Vm() {
    PcConfig config;
    config.vcpus = 2;
    config.ram_bytes = 256 * kMiB;
    config.serial_out = [](uint8_t) {};
    config.now_ns = [this] { return now_ns; };
    config.wall_ns = [] { return kHostNow; };
    pc = std::make_unique<PcMachine>(config, signals);
  }
  uint32_t in(uint16_t port, uint8_t size = 1) { return pc->device_at(port)->in(port, size); }
  void out(uint16_t port, uint32_t value, uint8_t size = 1) { pc->device_at(port)->out(port, size, value); }
  uint8_t cmos(uint8_t reg) {
    out(kCmosIndex, reg);
    return static_cast<uint8_t>(in(kCmosData));
  }

  // A state in every device: COM1's scratch, FIFO, IER and OUT2 (IRQ 4
  // up); a byte in the i8042's buffer; CMOS RAM and the index; PM1_EN.
  void drive() {
    out(kScr, 0x5A);
    out(kMcr, 0x08);
    out(kFcr, 0x01);
    const uint8_t rx[] = {'h', 'i'};
    pc->com1().receive(rx, 2);
    out(kIer, 0x03);
    out(kI8042Command, 0xD2);
    out(kI8042Data, 0xAB);
    out(kCmosIndex, 0x40);
    out(kCmosData, 0x12);
    out(kCmosIndex, 0x41);
    out(kPm1En, 0x0100, 2);
  }
  // What a guest reads of that state, without consuming it.
  std::vector<uint32_t> registers() {
    std::vector<uint32_t> seen = {in(kScr), in(kIer), in(kLsr), in(kI8042Command), in(kCmosIndex), in(kPm1En, 2)};
    const uint8_t index = static_cast<uint8_t>(in(kCmosIndex));
    seen.push_back(cmos(0x40));
    out(kCmosIndex, index);
    return seen;
  }
};

TEST(PcSnapshot, RoundTripThroughTheBlob) {
  Vm a;
  a.drive();
  a.now_ns = 2'500'000'000;
  const auto blob = a.pc->save(a.now_ns);
  ASSERT_EQ(blob.size(), kBlobBytes);
  EXPECT_EQ(blob[0], PcMachine::kStateVersion);
  EXPECT_EQ(blob[1] | blob[2] | blob[3], 0) << "u32 little-endian";

  Vm b;  // its clock at 0: a fresh VM
  std::string why;
  ASSERT_TRUE(b.pc->load(blob.data(), blob.size(), why)) << why;
  EXPECT_TRUE(b.signals.irqs.empty()) << "load never signals";
  EXPECT_EQ(b.signals.power_offs, 0);
  EXPECT_TRUE(b.signals.resets.empty());
  EXPECT_EQ(b.pc->save(0), blob) << "saved at the moment of the load: the same bytes";

  const auto seen = b.registers();
  EXPECT_EQ(seen, a.registers());
  EXPECT_EQ(seen, (std::vector<uint32_t>{0x5A, 0x03, 0x61, 0x15, 0x41, 0x0100, 0x12}));
  EXPECT_TRUE(b.pc->com1().irq_asserted()) << "the level COM1 last signalled";
  EXPECT_EQ(b.in(kCom1Base), 'h') << "FIFO oldest first";
  EXPECT_EQ(b.in(kCom1Base), 'i');
  EXPECT_EQ(b.in(kI8042Data), 0xABu);
  b.now_ns = 1'000;
  EXPECT_EQ(b.in(kAcpiPmTimer, 4), pm_timer_count(2'500'001'000)) << "the PM timer goes on from the stop";
}

TEST(PcSnapshot, EveryTruncationIsRefused) {
  Vm a;
  a.drive();
  const auto blob = a.pc->save(0);
  Vm b;
  const auto untouched = b.registers();
  for (size_t n = 0; n < blob.size(); ++n) {
    std::string why;
    EXPECT_FALSE(b.pc->load(blob.data(), n, why)) << n;
    EXPECT_EQ(why.rfind("PC machine state: ", 0), 0u) << why;
    EXPECT_NE(why.find("ends early"), std::string::npos) << why;
    // A cut inside the version or COM1 applies nothing (a later cut may
    // have applied the devices before it: pc.hpp).
    if (n < 4 + 30) {
      EXPECT_EQ(b.registers(), untouched) << n;
    }
  }
  EXPECT_TRUE(b.signals.irqs.empty());
}

TEST(PcSnapshot, RefusesAnotherVersionAndChangesNothing) {
  Vm a;
  a.drive();
  auto blob = a.pc->save(0);
  Vm b;
  const auto untouched = b.registers();
  for (uint8_t version : {0, 2, 0xFF}) {
    blob[0] = version;
    std::string why;
    EXPECT_FALSE(b.pc->load(blob.data(), blob.size(), why));
    EXPECT_EQ(why.rfind("PC machine state: version = 0x00000000000000", 0), 0u) << why;
    EXPECT_NE(why.find("this build reads version 1"), std::string::npos) << why;
  }
  EXPECT_EQ(b.registers(), untouched) << "refused before any device";
  EXPECT_TRUE(b.signals.irqs.empty());
}

TEST(PcSnapshot, RefusesTrailingBytes) {
  Vm a;
  auto blob = a.pc->save(0);
  blob.push_back(0);
  Vm b;
  std::string why;
  EXPECT_FALSE(b.pc->load(blob.data(), blob.size(), why));
  EXPECT_EQ(why, "PC machine state: 1 bytes of the saved state were left unread");
}

TEST(PcSnapshot, RefusesABadDeviceValueNamingIt) {
  Vm a;
  a.drive();
  auto blob = a.pc->save(0);
  blob[kCom1Ier] = 0x80;
  Vm b;
  b.out(kScr, 0x77);
  std::string why;
  EXPECT_FALSE(b.pc->load(blob.data(), blob.size(), why));
  EXPECT_EQ(why.rfind("PC machine state: UART IER = 0x0000000000000080", 0), 0u) << why;
  EXPECT_EQ(b.in(kScr), 0x77u) << "COM1 refused its state: nothing of it applied";
  EXPECT_EQ(b.in(kI8042Command) & 0x01, 0u) << "and the devices after it were not loaded";

  // A bad value in the last device (PM1_CNT with SLP_EN) is named too.
  auto bad_pm = a.pc->save(0);
  bad_pm[kBlobBytes - 16 + 5] = 0x20;
  EXPECT_FALSE(b.pc->load(bad_pm.data(), bad_pm.size(), why));
  EXPECT_NE(why.find("PM1_CNT"), std::string::npos) << why;
  EXPECT_EQ(b.signals.power_offs, 0);
}

}  // namespace
}  // namespace enlight::machine
