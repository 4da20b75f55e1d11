// The CMOS RTC (MC146818) at ports 0x70/0x71: the host's wall-clock time in
// BCD (or binary, 24 h or 12 h as register B says), the century at 0x32,
// register A's update-in-progress bit only in the last 244 us of each
// second (so Linux's mc146818_avoid_UIP never waits), register D's valid
// bit, and a clock the guest may set (SET bit in register B): enlight keeps
// the difference to the host's time, in whole seconds. No periodic, alarm or
// update-ended interrupts are raised (register C reads 0). The rest of the
// 128 bytes is plain CMOS RAM, with the BIOS memory-size bytes filled in.
// Choices and what is not emulated: docs/machine-devices.md.
// Sources: the MC146818A datasheet; Linux drivers/rtc/rtc-mc146818-lib.c,
// arch/x86/kernel/rtc.c; QEMU hw/i386/pc.c (pc_cmos_init); cloud-hypervisor
// devices/src/legacy/cmos.rs.
#pragma once

#include <enlight/machine/device.hpp>
#include <enlight/state.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>

namespace enlight::machine {

class CmosRtc final : public PortDevice {
 public:
  // `wall_ns`: the host's real time, ns since the Unix epoch (tests pass a
  // fixed clock). `ram_bytes`: RAM size, for the BIOS memory-size bytes
  // (0x15-0x18, 0x30-0x31, 0x34-0x35) as QEMU fills them.
  CmosRtc(std::function<int64_t()> wall_ns, uint64_t ram_bytes);
  // Ports kCmosIndex and kCmosData, one byte each: a 2- or 4-byte access
  // acts on that byte register alone and reads it zero-extended.
  uint32_t in(uint16_t port, uint8_t size) override;
  void out(uint16_t port, uint8_t size, uint32_t value) override;

  // Guest clock minus host clock, in seconds (0 until the guest sets the
  // time). For tests and diagnostics.
  int64_t offset_seconds();

  // Snapshots (docs/snapshots.md). save writes the 128 bytes (a time the
  // guest is setting under register B's SET lives there), the index and
  // the guest clock's offset to the host clock; not the clocks themselves.
  // After a load the RTC shows the new host's time plus that offset, as
  // QEMU's default (-rtc clock=host) does: the guest's clock stays right
  // across the pause rather than resuming at the moment it stopped. Takes
  // the lock; 137 bytes.
  // load reads them all, refuses (through `r`, naming the register) what
  // no guest write leaves (register A's UIP bit, UIE beside SET, bytes in
  // the read-only C and D, an offset beyond any settable date) and applies
  // them under the lock only when `r.ok()`, so a refused load changes
  // nothing. Returns r.ok().
  void save(StateWriter& w);
  bool load(StateReader& r);

 private:
  static constexpr size_t kBytes = 128;

  uint8_t read_locked(uint8_t reg);
  void write_locked(uint8_t reg, uint8_t value);
  // Fills the time registers of ram_ with the clock's time now, in the
  // format register B selects.
  void latch_time_locked();
  // Makes the time in the time registers of ram_ the clock's time. Returns
  // false (clock unchanged) if they do not hold a valid date and time.
  bool commit_time_locked();

  std::function<int64_t()> wall_ns_;
  // CMOS RAM, and registers A (bits 6:0), B, the alarms. While register B's
  // SET bit is 1 the time registers (0x00-0x09 but the alarms, 0x32) hold
  // what the guest writes; otherwise they are computed on each read.
  std::array<uint8_t, kBytes> ram_{};
  uint8_t index_ = 0;        // as written, NMI-disable bit included
  int64_t offset_s_ = 0;
  std::mutex mutex_;
};

}  // namespace enlight::machine
