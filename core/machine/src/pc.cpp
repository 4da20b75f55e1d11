#include <enlight/machine/pc.hpp>

#include <stdexcept>

namespace enlight::machine {

PcMachine::PcMachine(const PcConfig& config, MachineSignals& signals)
    : com1_(signals, kCom1Base, kIrqCom1, config.serial_out),
      i8042_(signals),
      rtc_(config.wall_ns, config.ram_bytes),
      pm_(signals, config.now_ns),
      acpi_(build_acpi_tables(AcpiConfig{config.vcpus, config.sb_devices})) {
  attach(com1_, kCom1Base, kCom1Ports);
  attach(i8042_, kI8042Data, 1);
  attach(i8042_, kI8042Command, 1);
  attach(rtc_, kCmosIndex, 2);
  attach(post_, kPostCode, 1);
  attach(pm_, kAcpiPm1aEvent, kAcpiPm1EventLength);
  attach(pm_, kAcpiPm1aControl, kAcpiPm1ControlLength);
  attach(pm_, kAcpiPmTimer, kAcpiPmTimerLength);
  attach(pm_, kResetControl, 1);
}

void PcMachine::attach(PortDevice& device, uint16_t first, uint16_t count) {
  size_t index = 0;
  while (index < devices_.size() && devices_[index] != &device) ++index;
  if (index == devices_.size()) devices_.push_back(&device);
  for (uint32_t port = first; port < uint32_t{first} + count; ++port) {
    if (owner_[port] != 0) throw std::logic_error("PcMachine: two devices on one port");
    owner_[port] = static_cast<uint8_t>(index + 1);
  }
}

}  // namespace enlight::machine
