// The i8042 keyboard controller at ports 0x60/0x64, with no keyboard and no
// mouse attached: what Linux's i8042 driver probes (controller self-test,
// the command byte, the port tests, the aux loopback, the output port)
// answers as on a PC whose PS/2 ports are empty, a byte sent to the absent
// keyboard or mouse comes back at once as a timeout (so atkbd and psmouse
// give up at once instead of waiting for an ACK), and the reset line
// (command 0xFE or any pulse of output-port bit 0, or that bit cleared
// through 0xD1) resets the machine, which is how Linux reboots with
// reboot=k and the first fallback after ACPI.
// Choices where the manuals leave room: docs/machine-devices.md.
// Sources: IBM PS/2 and PC/AT technical references (8042 commands, status
// and command byte); Linux drivers/input/serio/i8042.c,
// drivers/input/serio/libps2.c, drivers/input/mouse/psmouse-base.c and
// arch/x86/kernel/reboot.c (kb_wait).
#pragma once

#include <enlight/machine/device.hpp>
#include <enlight/state.hpp>

#include <cstdint>
#include <mutex>

namespace enlight::machine {

class I8042 final : public PortDevice {
 public:
  explicit I8042(MachineSignals& signals);
  // Port kI8042Data (0x60) and kI8042Command (0x64) only, one byte each: a
  // 2- or 4-byte access acts on that byte register alone and reads it
  // zero-extended.
  uint32_t in(uint16_t port, uint8_t size) override;
  void out(uint16_t port, uint8_t size, uint32_t value) override;

  // The controller command byte ("CTR" in Linux). For tests and diagnostics.
  uint8_t command_byte();

  // Snapshots (docs/snapshots.md). save writes the command byte, output
  // port, status flags, the output buffer, a command waiting for its
  // parameter byte and the IRQ 1 / IRQ 12 levels last signalled. Takes the
  // lock; 11 bytes.
  // load reads them all, refuses (through `r`, naming the register) what
  // no guest could leave: a pending command that takes no parameter, a
  // timeout without the absent device's answer in a full buffer, IRQ
  // levels the buffer and command byte do not imply. Only when `r.ok()`
  // does it apply them, under the lock, so a refused load changes nothing.
  // It never calls set_irq or reset: the interrupt controllers are
  // restored with the line levels already. Returns r.ok().
  void save(StateWriter& w);
  bool load(StateReader& r);

 private:
  enum class Source : uint8_t { kKeyboard, kAux };

  uint8_t status_locked() const;
  void write_command_locked(uint8_t command);
  void write_data_locked(uint8_t value);
  // Loads the output buffer (a single byte: a new one replaces an unread one).
  void output_locked(uint8_t value, Source source, bool timeout = false);
  void write_output_port_locked(uint8_t value);
  void update_irq_locked();

  MachineSignals& signals_;
  uint8_t command_byte_;
  uint8_t output_port_;
  bool system_flag_ = true;        // status bit 2: POST's self-test passed
  bool last_write_command_ = true; // status bit 3: last write went to 0x64
  // The output buffer.
  uint8_t out_byte_ = 0;
  bool out_full_ = false;
  Source out_source_ = Source::kKeyboard;
  bool out_timeout_ = false;
  // A command that takes a parameter byte through port 0x60 (0 = none).
  uint8_t pending_command_ = 0;
  // What set_irq was last told for IRQ 1 and IRQ 12.
  bool irq_kbd_level_ = false;
  bool irq_aux_level_ = false;
  std::mutex mutex_;
};

}  // namespace enlight::machine
