// ACPI fixed hardware at the PM block (layout.hpp): PM1a event registers
// (PM1_STS write-one-to-clear, PM1_EN), PM1a control (SCI_EN reads 1: the
// machine is always in ACPI mode, FADT SMI_CMD = 0; SLP_EN with \_S5's
// SLP_TYP powers off), the PM timer (pm_timer.hpp: 3.579545 MHz, 24 bits, read-only),
// and the reset register at 0xCF9 (FADT RESET_REG; bit 2 RST_CPU resets).
// No event source exists, so no status bit is ever set by the machine and
// no SCI is raised (TMR_STS stays 0: no timer-carry event). Choices:
// docs/machine-devices.md.
// ACPI 6.5 sections 4.8.3.1 (PM1 event), 4.8.3.2 (PM1 control), 4.8.3.3
// (PM timer), 4.8.3.6 (reset register).
#pragma once

#include <enlight/machine/device.hpp>
#include <enlight/machine/layout.hpp>
#include <enlight/machine/pm_timer.hpp>
#include <enlight/state.hpp>

#include <cstdint>
#include <functional>
#include <mutex>

namespace enlight::machine {

class AcpiPm final : public PortDevice {
 public:
  // `now_ns`: ns since the VM started (the PM timer counts from it, after
  // a load from the restored time: see load).
  AcpiPm(MachineSignals& signals, std::function<uint64_t()> now_ns);
  // Serves kAcpiPm1aEvent..+3, kAcpiPm1aControl..+1, kAcpiPmTimer..+3 and
  // kResetControl. Accesses may be 1, 2 or 4 bytes at any of those ports:
  // each is split into byte accesses of the registers it covers,
  // little-endian (a 32-bit read at kAcpiPm1aEvent is PM1_EN << 16 |
  // PM1_STS); a byte of a port outside those registers reads 0xFF and
  // ignores writes. A read samples the PM timer once, whatever its size.
  uint32_t in(uint16_t port, uint8_t size) override;
  void out(uint16_t port, uint8_t size, uint32_t value) override;

  // Sets PM1_STS bits on behalf of a host-side event source, raising the
  // SCI if an enabled bit is set. Nothing calls it today (the machine has
  // no power button, RTC alarm or timer-carry event); it exists so that
  // the SCI wiring is one tested path when one is added.
  void set_status(uint16_t bits);

  // Register values as the guest reads them. For tests and diagnostics.
  uint16_t pm1_status();
  uint16_t pm1_enable();
  uint16_t pm1_control();
  bool sci_asserted();

  // Snapshots (docs/snapshots.md). save writes PM1_STS, PM1_EN, PM1_CNT,
  // the reset register, the SCI level last signalled and the PM timer's
  // time when the VM stopped: `stopped_ns` (the now_ns of the stop) plus
  // this device's timer offset. Takes the lock; 16 bytes.
  // load reads them all, refuses (through `r`, naming the register) what
  // no guest write leaves (the write-only SLP_EN, GBL_RLS and RST_CPU
  // bits, an SCI level the registers do not imply) and, only when `r.ok()`,
  // applies them under the lock, with the timer offset set so that the PM
  // timer continues from the saved time although the new VM's now_ns
  // starts again near 0. A refused load changes nothing. It never calls
  // set_irq: the interrupt controllers are restored with the line levels
  // already. Returns r.ok().
  void save(StateWriter& w, uint64_t stopped_ns);
  bool load(StateReader& r);

 private:
  uint64_t timer_ns_locked() const;  // the PM timer's ns: now_ns_() + timer_offset_ns_
  uint8_t read_byte_locked(uint16_t port, uint32_t timer);
  void write_byte_locked(uint16_t port, uint8_t value);
  void update_sci_locked();

  MachineSignals& signals_;
  std::function<uint64_t()> now_ns_;
  // Added to now_ns_() wherever the timer is read: 0 until a load, then
  // the restored timer's ns minus the new VM's now_ns at the load
  // (modulo 2^64: only the low bits reach the 24-bit counter).
  int64_t timer_offset_ns_ = 0;
  uint16_t pm1_sts_ = 0;
  uint16_t pm1_en_ = 0;
  uint16_t pm1_cnt_ = 0;   // as written, without the write-only bits; SCI_EN is added on read
  uint8_t reset_reg_ = 0;  // as written, without RST_CPU
  bool sci_level_ = false; // what set_irq(kIrqSci) was last told
  std::mutex mutex_;
};

}  // namespace enlight::machine
