// The small contract between the machine's devices and the backend that
// runs the vCPUs. A device sees port reads and writes; it acts on the
// machine around it only through MachineSignals. Nothing here knows KVM.
//
// Threading: any vCPU thread may call in()/out() on any device, and input
// (the UART's receive) comes from another host thread, so each device
// serialises itself with its own mutex. Legacy device exits are not the
// enlightenment hot path: one uncontended lock beside an exit that costs
// microseconds (docs/machine.md). MachineSignals may be called with that
// lock held.
#pragma once

#include <cstdint>

namespace enlight::machine {

// What devices may do to the machine around them. The backend implements
// it (kvm: KVM_IRQ_LINE on the in-kernel PIC/IOAPIC, ending the run).
class MachineSignals {
 public:
  virtual ~MachineSignals() = default;
  // Drives ISA interrupt line `irq` (= GSI) to `high`. Devices call it on
  // every change of their interrupt output; edge-triggered lines see the
  // rising edge, level-triggered ones the level.
  virtual void set_irq(uint32_t irq, bool high) = 0;
  // ACPI S5 (PM1_CNT.SLP_EN with \_S5's SLP_TYP): the guest powered off.
  virtual void power_off() = 0;
  // The guest asked for a reset: `how` names the mechanism for the user
  // ("i8042 reset line", "ACPI reset register"). A static string.
  virtual void reset(const char* how) = 0;
};

// A device on I/O ports. `size` is 1, 2 or 4 (the backend checks it); a
// read returns the value in the low `size` bytes (higher bytes ignored);
// `port` is the absolute port number. Never throws: every value a guest
// writes has an answer, architectural or documented.
class PortDevice {
 public:
  virtual ~PortDevice() = default;
  virtual uint32_t in(uint16_t port, uint8_t size) = 0;
  virtual void out(uint16_t port, uint8_t size, uint32_t value) = 0;
};

}  // namespace enlight::machine
