// enlight's PC: the devices a stock Linux kernel boots on, put together at
// their ports (layout.hpp), with the ACPI tables that describe them. The
// backend owns the vCPUs and the interrupt controllers (kvm: KVM's
// in-kernel PIC, IOAPIC, LAPICs and PIT) and routes every port I/O exit
// here first; ports no device owns go on to the bus (plugins) and then to
// the empty-bus answer (reads all ones, writes dropped).
//
// What is on it: COM1 (8250/16550A, IRQ 4), the i8042 controller (reset
// line; nothing plugged in), the CMOS RTC (the host's time), the ACPI PM
// block (PM1 event and control, PM timer, S5 power off) and reset register,
// port 0x80 (POST/delay writes ignored). What is not: PCI, HPET, VGA,
// floppy, DMA, a second UART, storage, network (VMBus devices come from
// plugins). docs/machine.md.
#pragma once

#include <enlight/machine/acpi_pm.hpp>
#include <enlight/machine/acpi_tables.hpp>
#include <enlight/machine/cmos_rtc.hpp>
#include <enlight/machine/device.hpp>
#include <enlight/machine/i8042.hpp>
#include <enlight/machine/uart8250.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace enlight::machine {

struct PcConfig {
  uint32_t vcpus = 1;
  uint64_t ram_bytes = 0;
  std::function<void(uint8_t)> serial_out;   // COM1's transmitted bytes
  std::function<uint64_t()> now_ns;           // ns since the VM started (PM timer)
  std::function<int64_t()> wall_ns;           // the host's real time (RTC)
  std::vector<aml::Bytes> sb_devices;         // devices plugins add to the DSDT's \_SB
};

class PcMachine {
 public:
  // Builds the devices and the ACPI tables (throws what build_acpi_tables
  // throws for a bad vCPU count).
  PcMachine(const PcConfig& config, MachineSignals& signals);
  PcMachine(const PcMachine&) = delete;
  PcMachine& operator=(const PcMachine&) = delete;

  // The device at `port`, or nullptr: one table lookup, no search.
  PortDevice* device_at(uint16_t port) const noexcept {
    const uint8_t i = owner_[port];
    return i == 0 ? nullptr : devices_[i - 1];
  }
  Uart8250& com1() noexcept { return com1_; }
  const AcpiTables& acpi() const noexcept { return acpi_; }

  // Snapshots (docs/snapshots.md): the state of the stateful devices, not
  // their wiring or the ACPI tables (both rebuilt from the config). The
  // blob is a u32 version (kStateVersion), then COM1, the i8042, the RTC
  // and the PM block, each in its own save's layout: kStateVersion must
  // change whenever any device's layout does.
  // save: `stopped_ns` is the now_ns at which the VM stopped (the PM
  // timer's time to continue from). Takes each device's lock in turn; call
  // it with the vCPUs stopped, or the devices are saved at different
  // moments. A few hundred bytes; throws std::logic_error only if they
  // outgrow its buffer (a bug).
  // load: refuses another version, a blob that ends early, any device
  // state its load refuses and trailing bytes, setting `why` to
  // "PC machine state: " and the reason. Each device applies its state as
  // soon as it has validated it, so a refused load may have applied the
  // devices before the failing one (or all of them, for trailing bytes):
  // the VM must then be destroyed, as the core does with a VM whose load
  // failed. It never signals interrupts, reset or power off.
  static constexpr uint32_t kStateVersion = 1;
  std::vector<uint8_t> save(uint64_t stopped_ns);
  bool load(const uint8_t* data, size_t size, std::string& why);

 private:
  void attach(PortDevice& device, uint16_t first, uint16_t count);

  // Port 0x80: Linux's io_delay (outb_p) and POST codes. Writes are
  // ignored; reads return what the ISA bus gives with nothing there.
  class PostPort final : public PortDevice {
   public:
    uint32_t in(uint16_t, uint8_t) override { return 0xFFFFFFFFu; }
    void out(uint16_t, uint8_t, uint32_t) override {}
  };

  Uart8250 com1_;
  I8042 i8042_;
  CmosRtc rtc_;
  AcpiPm pm_;
  PostPort post_;
  AcpiTables acpi_;
  std::vector<PortDevice*> devices_;
  std::array<uint8_t, 0x10000> owner_{};  // 0: no device; else devices_[i - 1]
};

}  // namespace enlight::machine
