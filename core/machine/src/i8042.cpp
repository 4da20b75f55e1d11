// The 8042 controller's host interface (IBM PS/2 Technical Reference,
// "Keyboard/Auxiliary Device Controller"): status, command byte, output
// buffer and the commands Linux's i8042.c and reboot.c issue, with both
// PS/2 ports empty. docs/machine-devices.md.
#include <enlight/machine/i8042.hpp>
#include <enlight/machine/layout.hpp>

namespace enlight::machine {

namespace {

// ---- Status register (read at 0x64), Linux's I8042_STR_* ---------------------
constexpr uint8_t kStrObf = 1u << 0;      // output buffer full
// Bit 1, IBF, is never set: every command and data byte is taken at once,
// so i8042_wait_write and reboot.c's kb_wait never wait.
constexpr uint8_t kStrSys = 1u << 2;      // system flag
constexpr uint8_t kStrCmdData = 1u << 3;  // 1: the last write was to 0x64
constexpr uint8_t kStrKeylock = 1u << 4;  // 1: keyboard not inhibited (no keylock)
constexpr uint8_t kStrAuxObf = 1u << 5;   // the byte in the buffer is from the aux port
constexpr uint8_t kStrTimeout = 1u << 6;  // the device did not answer

// ---- Command byte, Linux's I8042_CTR_* ------------------------------------------
constexpr uint8_t kCtrKbdInt = 1u << 0;
constexpr uint8_t kCtrAuxInt = 1u << 1;
constexpr uint8_t kCtrSys = 1u << 2;      // copied to the status register's system flag
constexpr uint8_t kCtrKbdDis = 1u << 4;
constexpr uint8_t kCtrAuxDis = 1u << 5;
constexpr uint8_t kCtrXlate = 1u << 6;
// What a BIOS that found no mouse leaves: translation on, keyboard
// interrupt on, aux port disabled, system flag set. Linux rewrites all of
// it (i8042_controller_init, i8042_enable_*_port).
constexpr uint8_t kPowerOnCommandByte = kCtrXlate | kCtrAuxDis | kCtrSys | kCtrKbdInt;

// ---- Output port (commands 0xD0/0xD1) -------------------------------------------
constexpr uint8_t kOutResetLine = 1u << 0;  // 0 = system reset asserted (active low)
constexpr uint8_t kOutA20 = 1u << 1;        // stored: the machine's A20 is always on
// Reset line and A20 high, the unused bits as QEMU's controller has them.
constexpr uint8_t kPowerOnOutputPort = 0xCC | kOutA20 | kOutResetLine;

// Input port (command 0xC0): bit 7 = keyboard not inhibited, as status bit 4.
constexpr uint8_t kInputPort = 0x80;

// ---- Controller commands (written to 0x64), Linux's I8042_CMD_* ----------------
constexpr uint8_t kCmdReadCtr = 0x20;
constexpr uint8_t kCmdWriteCtr = 0x60;
constexpr uint8_t kCmdAuxDisable = 0xA7;
constexpr uint8_t kCmdAuxEnable = 0xA8;
constexpr uint8_t kCmdAuxTest = 0xA9;
constexpr uint8_t kCmdSelfTest = 0xAA;
constexpr uint8_t kCmdKbdTest = 0xAB;
constexpr uint8_t kCmdKbdDisable = 0xAD;
constexpr uint8_t kCmdKbdEnable = 0xAE;
constexpr uint8_t kCmdReadInputPort = 0xC0;
constexpr uint8_t kCmdReadOutputPort = 0xD0;
constexpr uint8_t kCmdWriteOutputPort = 0xD1;
constexpr uint8_t kCmdWriteKbdOutput = 0xD2;
constexpr uint8_t kCmdWriteAuxOutput = 0xD3;  // Linux's I8042_CMD_AUX_LOOP
constexpr uint8_t kCmdWriteAux = 0xD4;        // Linux's I8042_CMD_AUX_SEND
constexpr uint8_t kCmdA20Disable = 0xDD;
constexpr uint8_t kCmdA20Enable = 0xDF;
constexpr uint8_t kCmdPulseMask = 0xF0;       // 0xF0-0xFF: pulse output-port bits 3:0
constexpr uint8_t kPulseResetLine = 1u << 0;  // low nibble bit clear = that line pulsed

// ---- Answers --------------------------------------------------------------------
constexpr uint8_t kSelfTestPassed = 0x55;
// Interface tests check the clock and data lines, which the port's pull-ups
// hold high when nothing is plugged in: "no error" (0x00). i8042_check_aux
// accepts 0x00 too, though it only asks when the loopback failed.
constexpr uint8_t kInterfaceTestOk = 0x00;
// A byte sent to an absent device: the controller gives up waiting for the
// device's clock and reports a timeout with 0xFE in the buffer. For the
// keyboard atkbd reads 0xFE as a NAK (libps2 ps2_handle_ack: the command
// fails at once, -EAGAIN); for the aux port psmouse sees SERIO_TIMEOUT
// (i8042_interrupt maps I8042_STR_TIMEOUT to it) and aborts the command.
// Either way no 500 ms wait for an ACK that never comes.
constexpr uint8_t kNoDeviceAnswer = 0xFE;

constexpr const char* kResetHow = "i8042 reset line";

constexpr bool takes_parameter(uint8_t command) {
  return command == kCmdWriteCtr || command == kCmdWriteOutputPort || command == kCmdWriteKbdOutput ||
         command == kCmdWriteAuxOutput || command == kCmdWriteAux;
}

}  // namespace

I8042::I8042(MachineSignals& signals)
    : signals_(signals), command_byte_(kPowerOnCommandByte), output_port_(kPowerOnOutputPort) {}

uint32_t I8042::in(uint16_t port, uint8_t /*size*/) {
  std::lock_guard lock(mutex_);
  if (port == kI8042Command) return status_locked();
  if (port != kI8042Data) return 0;
  // Reading the buffer empties it; with nothing new the latch still holds
  // the last byte, as on the chip.
  const uint8_t value = out_byte_;
  out_full_ = false;
  out_timeout_ = false;
  update_irq_locked();
  return value;
}

void I8042::out(uint16_t port, uint8_t /*size*/, uint32_t value) {
  std::lock_guard lock(mutex_);
  const uint8_t byte = static_cast<uint8_t>(value);
  if (port == kI8042Command) {
    last_write_command_ = true;
    write_command_locked(byte);
  } else if (port == kI8042Data) {
    last_write_command_ = false;
    write_data_locked(byte);
  }
}

uint8_t I8042::command_byte() {
  std::lock_guard lock(mutex_);
  return command_byte_;
}

void I8042::save(StateWriter& w) {
  std::lock_guard lock(mutex_);
  w.put(command_byte_), w.put(output_port_), w.put(system_flag_), w.put(last_write_command_);
  w.put(out_byte_), w.put(out_full_), w.put(out_source_), w.put(out_timeout_);
  w.put(pending_command_);
  w.put(irq_kbd_level_), w.put(irq_aux_level_);
}

bool I8042::load(StateReader& r) {
  // The command byte and the output port take any byte through 0x60/0xD1
  // (a reset line held low is what a reset request left; load does not
  // act on it).
  const auto command_byte = r.get<uint8_t>(), output_port = r.get<uint8_t>();
  const auto system_flag = r.get<bool>(), last_write_command = r.get<bool>();
  const auto out_byte = r.get<uint8_t>();
  const auto out_full = r.get<bool>();
  const auto source = r.get<uint8_t>();
  const auto out_timeout = r.get<bool>();
  const auto pending = r.get<uint8_t>();
  const auto irq_kbd = r.get<bool>(), irq_aux = r.get<bool>();
  if (source > static_cast<uint8_t>(Source::kAux))
    r.refuse("i8042 output buffer source", source, "neither the keyboard (0) nor the aux port (1)");
  if (out_timeout && !(out_full && out_byte == kNoDeviceAnswer))
    r.refuse("i8042 output buffer", out_byte, "a timeout comes only with 0xFE in a full buffer");
  if (pending != 0 && !takes_parameter(pending))
    r.refuse("i8042 pending command", pending, "not a command that takes a parameter byte");
  // The levels follow the buffer after every access (update_irq_locked):
  // others would make the next change signal a wrong edge.
  const auto from = static_cast<Source>(source);
  if (irq_kbd != (out_full && from == Source::kKeyboard && (command_byte & kCtrKbdInt)))
    r.refuse("i8042 IRQ 1 level", irq_kbd, "not what the output buffer and the command byte imply");
  if (irq_aux != (out_full && from == Source::kAux && (command_byte & kCtrAuxInt)))
    r.refuse("i8042 IRQ 12 level", irq_aux, "not what the output buffer and the command byte imply");
  if (!r.ok()) return false;
  std::lock_guard lock(mutex_);
  command_byte_ = command_byte, output_port_ = output_port;
  system_flag_ = system_flag, last_write_command_ = last_write_command;
  out_byte_ = out_byte, out_full_ = out_full, out_source_ = from, out_timeout_ = out_timeout;
  pending_command_ = pending;
  irq_kbd_level_ = irq_kbd, irq_aux_level_ = irq_aux;
  return true;
}

uint8_t I8042::status_locked() const {
  uint8_t status = kStrKeylock;
  if (out_full_) status |= kStrObf;
  if (out_full_ && out_source_ == Source::kAux) status |= kStrAuxObf;
  if (out_full_ && out_timeout_) status |= kStrTimeout;
  if (system_flag_) status |= kStrSys;
  if (last_write_command_) status |= kStrCmdData;
  return status;
}

void I8042::write_command_locked(uint8_t command) {
  // A new command abandons one still waiting for its parameter byte.
  pending_command_ = 0;
  if ((command & kCmdPulseMask) == kCmdPulseMask) {
    // Pulse the output-port lines whose bit is clear in the low nibble;
    // only bit 0, the CPU reset line, is wired to anything. 0xFE is the
    // classic reset (reboot.c after kb_wait), 0xFF pulses nothing.
    if (!(command & kPulseResetLine)) signals_.reset(kResetHow);
    return;
  }
  switch (command) {
    case kCmdReadCtr:
      output_locked(command_byte_, Source::kKeyboard);
      break;
    case kCmdWriteCtr:
    case kCmdWriteOutputPort:
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      pending_command_ = command;
      break;
    case kCmdAuxDisable:
      command_byte_ |= kCtrAuxDis;
      break;
    case kCmdAuxEnable:
      command_byte_ &= ~kCtrAuxDis;
      break;
    case kCmdAuxTest:
    case kCmdKbdTest:
      output_locked(kInterfaceTestOk, Source::kKeyboard);
      break;
    case kCmdSelfTest:
      system_flag_ = true;
      output_locked(kSelfTestPassed, Source::kKeyboard);
      break;
    case kCmdKbdDisable:
      command_byte_ |= kCtrKbdDis;
      break;
    case kCmdKbdEnable:
      command_byte_ &= ~kCtrKbdDis;
      break;
    case kCmdReadInputPort:
      output_locked(kInputPort, Source::kKeyboard);
      break;
    case kCmdReadOutputPort:
      output_locked(output_port_, Source::kKeyboard);
      break;
    case kCmdA20Disable:
      output_port_ &= ~kOutA20;
      break;
    case kCmdA20Enable:
      output_port_ |= kOutA20;
      break;
    default:
      // Controller RAM (0x21-0x3F, 0x61-0x7F), password, version, MUX and
      // vendor commands: ignored, nothing is loaded into the output buffer
      // (a driver that waits for an answer times out in i8042_wait_read;
      // Linux sends none of them).
      break;
  }
}

void I8042::write_data_locked(uint8_t value) {
  const uint8_t command = pending_command_;
  pending_command_ = 0;
  switch (command) {
    case kCmdWriteCtr:
      command_byte_ = value;
      // The controller copies command byte bit 2 to the status system flag
      // (IBM PS/2 reference, command byte bit 2).
      system_flag_ = value & kCtrSys;
      update_irq_locked();
      break;
    case kCmdWriteOutputPort:
      write_output_port_locked(value);
      break;
    case kCmdWriteKbdOutput:
      output_locked(value, Source::kKeyboard);
      break;
    case kCmdWriteAuxOutput:
      // Loopback: the byte comes back as if the mouse had sent it. Linux
      // uses it to find the aux port (0x5A), to test IRQ 12 (0xA5) and to
      // probe for an active multiplexer (0xF0, 0x56, 0xA4: the echoed 0xA4
      // says "no MUX").
      output_locked(value, Source::kAux);
      break;
    case kCmdWriteAux:
      output_locked(kNoDeviceAnswer, Source::kAux, /*timeout=*/true);
      break;
    default:
      // A byte for the keyboard, which is not there.
      output_locked(kNoDeviceAnswer, Source::kKeyboard, /*timeout=*/true);
      break;
  }
}

void I8042::output_locked(uint8_t value, Source source, bool timeout) {
  out_byte_ = value;
  out_full_ = true;
  out_source_ = source;
  out_timeout_ = timeout;
  update_irq_locked();
}

void I8042::write_output_port_locked(uint8_t value) {
  output_port_ = value;
  if (!(value & kOutResetLine)) signals_.reset(kResetHow);
}

void I8042::update_irq_locked() {
  // IRQ 1 / IRQ 12 follow "a byte from that port waits and its interrupt is
  // enabled in the command byte", as a level: it rises when the byte is
  // loaded (the edge the ISA PIC and IOAPIC see) and falls when the host
  // reads it. The disable bits (4, 5) stop the port's clock, not the
  // controller's interrupt, so they do not gate it.
  const bool kbd = out_full_ && out_source_ == Source::kKeyboard && (command_byte_ & kCtrKbdInt);
  const bool aux = out_full_ && out_source_ == Source::kAux && (command_byte_ & kCtrAuxInt);
  if (kbd != irq_kbd_level_) {
    irq_kbd_level_ = kbd;
    signals_.set_irq(kIrqKeyboard, kbd);
  }
  if (aux != irq_aux_level_) {
    irq_aux_level_ = aux;
    signals_.set_irq(kIrqMouse, aux);
  }
}

}  // namespace enlight::machine
