#include <enlight/machine/pc.hpp>

#include <enlight/state.hpp>

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

std::vector<uint8_t> PcMachine::save(uint64_t stopped_ns) {
  // Room to spare: the four devices take under 200 bytes.
  constexpr size_t kCapacity = 4096;
  std::vector<uint8_t> out(kCapacity);
  StateWriter w(out.data(), out.size());
  w.put(kStateVersion);
  com1_.save(w);
  i8042_.save(w);
  rtc_.save(w);
  pm_.save(w, stopped_ns);
  const int64_t used = w.result();
  if (used < 0) throw std::logic_error("PcMachine::save: the device state outgrew its buffer");
  out.resize(static_cast<size_t>(used));
  return out;
}

bool PcMachine::load(const uint8_t* data, size_t size, std::string& why) {
  StateReader r(data, size);
  const auto version = r.get<uint32_t>();
  if (r.ok() && version != kStateVersion)
    r.refuse("version", version, "this build reads version " + std::to_string(kStateVersion));
  // In blob order, stopping at the first refusal.
  if (r.ok() && com1_.load(r) && i8042_.load(r) && rtc_.load(r)) pm_.load(r);
  if (!r.complete()) {
    why = "PC machine state: " + r.message();
    return false;
  }
  return true;
}

}  // namespace enlight::machine
