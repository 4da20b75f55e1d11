// The i8042 with empty PS/2 ports, as Linux's i8042.c probes it and as
// reboot.c uses it to reset the machine.
#include <enlight/machine/i8042.hpp>
#include <enlight/machine/layout.hpp>

#include "device_state.hpp"
#include "recording_signals.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace enlight::machine {
namespace {

// Linux's i8042.h names.
constexpr uint8_t kStrObf = 0x01, kStrIbf = 0x02, kStrSys = 0x04, kStrCmdDat = 0x08, kStrKeylock = 0x10;
constexpr uint8_t kStrAuxData = 0x20, kStrTimeout = 0x40, kStrParity = 0x80;
constexpr uint8_t kCtrKbdInt = 0x01, kCtrAuxInt = 0x02, kCtrKbdDis = 0x10, kCtrAuxDis = 0x20;
constexpr uint8_t kCmdCtlRctr = 0x20, kCmdCtlWctr = 0x60, kCmdAuxDisable = 0xA7, kCmdAuxEnable = 0xA8;
constexpr uint8_t kCmdAuxTest = 0xA9, kCmdCtlTest = 0xAA, kCmdKbdTest = 0xAB, kCmdKbdDisable = 0xAD;
constexpr uint8_t kCmdKbdEnable = 0xAE, kCmdReadInput = 0xC0, kCmdReadOutput = 0xD0, kCmdWriteOutput = 0xD1;
constexpr uint8_t kCmdKbdLoop = 0xD2, kCmdAuxLoop = 0xD3, kCmdAuxSend = 0xD4, kCmdReset = 0xFE;
constexpr const char* kHow = "i8042 reset line";

using test::RecordingSignals;

class I8042Test : public ::testing::Test {
 protected:
  RecordingSignals signals;
  I8042 kbc{signals};

  uint8_t status() { return static_cast<uint8_t>(kbc.in(kI8042Command, 1)); }
  uint8_t read_data() { return static_cast<uint8_t>(kbc.in(kI8042Data, 1)); }
  void command(uint8_t c) { kbc.out(kI8042Command, 1, c); }
  void write_data(uint8_t d) { kbc.out(kI8042Data, 1, d); }

  // i8042_command: wait for IBF clear, write the command and its parameter,
  // wait for OBF and read the answer. -1 where the driver would time out.
  int i8042_command(uint8_t cmd, int param = -1, bool answer = true) {
    if (status() & kStrIbf) return -1;
    command(cmd);
    if (param >= 0) {
      if (status() & kStrIbf) return -1;
      write_data(static_cast<uint8_t>(param));
    }
    if (!answer) return 0;
    if (!(status() & kStrObf)) return -1;
    return read_data();
  }
};

TEST_F(I8042Test, PowerOnStatusAsABiosLeavesIt) {
  const uint8_t s = status();
  EXPECT_EQ(s & kStrObf, 0);
  EXPECT_EQ(s & kStrIbf, 0);
  EXPECT_EQ(s & kStrSys, kStrSys) << "POST passed";
  EXPECT_EQ(s & kStrKeylock, kStrKeylock) << "not inhibited: no 'Keylock active' warning";
  EXPECT_EQ(s & (kStrAuxData | kStrTimeout | kStrParity), 0);
}

// i8042_controller_selftest: 0xAA answers 0x55.
TEST_F(I8042Test, SelfTestAnswers0x55) {
  EXPECT_EQ(i8042_command(kCmdCtlTest), 0x55);
  EXPECT_EQ(status() & kStrObf, 0) << "the read emptied the buffer";
  EXPECT_TRUE(status() & kStrSys);
}

// i8042_controller_init: read the CTR twice (must be stable), write it back.
TEST_F(I8042Test, CommandByteRoundTrip) {
  const int ctr1 = i8042_command(kCmdCtlRctr);
  const int ctr2 = i8042_command(kCmdCtlRctr);
  ASSERT_GE(ctr1, 0);
  EXPECT_EQ(ctr1, ctr2);
  EXPECT_EQ(status() & kStrCmdDat, kStrCmdDat) << "last write was a command";
  EXPECT_EQ(i8042_command(kCmdCtlWctr, 0x47, false), 0);
  EXPECT_EQ(status() & kStrCmdDat, 0) << "last write was data";
  EXPECT_EQ(i8042_command(kCmdCtlRctr), 0x47);
  EXPECT_EQ(kbc.command_byte(), 0x47);
  // Command byte bit 2 is the system flag in the status register.
  i8042_command(kCmdCtlWctr, 0x43, false);
  EXPECT_EQ(status() & kStrSys, 0);
  i8042_command(kCmdCtlWctr, 0x47, false);
  EXPECT_EQ(status() & kStrSys, kStrSys);
}

TEST_F(I8042Test, InterfaceTestsPassWithEmptyPorts) {
  EXPECT_EQ(i8042_command(kCmdKbdTest), 0x00);
  EXPECT_EQ(i8042_command(kCmdAuxTest), 0x00);
  EXPECT_EQ(i8042_command(kCmdReadInput), 0x80) << "keyboard not inhibited";
}

// i8042_toggle_aux and i8042_enable/disable_kbd: the disable commands show
// in the CTR at once.
TEST_F(I8042Test, DisableEnableCommandsShowInCommandByte) {
  EXPECT_EQ(i8042_command(kCmdAuxDisable, -1, false), 0);
  EXPECT_TRUE(i8042_command(kCmdCtlRctr) & kCtrAuxDis);
  i8042_command(kCmdAuxEnable, -1, false);
  EXPECT_FALSE(i8042_command(kCmdCtlRctr) & kCtrAuxDis);
  i8042_command(kCmdKbdDisable, -1, false);
  EXPECT_TRUE(i8042_command(kCmdCtlRctr) & kCtrKbdDis);
  i8042_command(kCmdKbdEnable, -1, false);
  EXPECT_FALSE(i8042_command(kCmdCtlRctr) & kCtrKbdDis);
}

// i8042_check_aux: the loopback 0x5A comes back as aux data; the IRQ test
// byte 0xA5 raises IRQ 12 once the CTR enables it, and the read lowers it.
TEST_F(I8042Test, AuxLoopbackAndIrq12) {
  i8042_command(kCmdCtlWctr, kCtrAuxDis | kCtrKbdDis, false);
  signals.irqs.clear();
  command(kCmdAuxLoop);
  write_data(0x5A);
  EXPECT_EQ(status() & (kStrObf | kStrAuxData | kStrTimeout), kStrObf | kStrAuxData);
  EXPECT_EQ(read_data(), 0x5A);
  EXPECT_TRUE(signals.irqs.empty()) << "AUXINT off";

  i8042_command(kCmdCtlWctr, kCtrAuxInt, false);  // i8042_enable_aux_port
  command(kCmdAuxLoop);
  write_data(0xA5);
  EXPECT_TRUE(signals.level(kIrqMouse));
  EXPECT_FALSE(signals.level(kIrqKeyboard));
  EXPECT_TRUE(status() & kStrAuxData);
  EXPECT_EQ(read_data(), 0xA5);
  EXPECT_FALSE(signals.level(kIrqMouse));
  EXPECT_EQ(status() & (kStrObf | kStrAuxData), 0);
}

// i8042_set_mux_mode: F0, 56, A4 through the loopback; an active MUX would
// answer its version instead of A4. An echo means "no MUX".
TEST_F(I8042Test, LoopbackEchoMeansNoMultiplexer) {
  EXPECT_EQ(i8042_command(kCmdAuxLoop, 0xF0), 0xF0);
  EXPECT_EQ(i8042_command(kCmdAuxLoop, 0x56), 0x56);
  EXPECT_EQ(i8042_command(kCmdAuxLoop, 0xA4), 0xA4);
}

// A byte for the absent keyboard (atkbd's GETID) comes back at once as
// 0xFE with the timeout bit: a NAK, not a 500 ms wait.
TEST_F(I8042Test, KeyboardWriteWithNoKeyboardTimesOut) {
  i8042_command(kCmdCtlWctr, kCtrKbdInt, false);
  signals.irqs.clear();
  ASSERT_EQ(status() & kStrIbf, 0);
  write_data(0xF2);
  const uint8_t s = status();
  EXPECT_EQ(s & (kStrObf | kStrTimeout | kStrAuxData), kStrObf | kStrTimeout);
  EXPECT_TRUE(signals.level(kIrqKeyboard)) << "i8042_interrupt delivers it to atkbd";
  EXPECT_EQ(read_data(), 0xFE);
  EXPECT_FALSE(signals.level(kIrqKeyboard));
  EXPECT_EQ(status() & (kStrObf | kStrTimeout), 0) << "the timeout went with the byte";
}

// 0xD4: a byte for the absent mouse: timeout on the aux side (psmouse
// aborts the command on SERIO_TIMEOUT).
TEST_F(I8042Test, AuxSendWithNoMouseTimesOut) {
  i8042_command(kCmdCtlWctr, kCtrKbdInt | kCtrAuxInt, false);
  command(kCmdAuxSend);
  write_data(0xFF);  // PSMOUSE_CMD_RESET_BAT
  EXPECT_EQ(status() & (kStrObf | kStrTimeout | kStrAuxData), kStrObf | kStrTimeout | kStrAuxData);
  EXPECT_TRUE(signals.level(kIrqMouse));
  EXPECT_EQ(read_data(), 0xFE);
  EXPECT_FALSE(signals.level(kIrqMouse));
}

// reboot.c: kb_wait polls status bit 1 (up to 0x10000 times), then 0xFE.
TEST_F(I8042Test, RebootByKbWaitThen0xFE) {
  int polls = 0;
  while (status() & kStrIbf) ASSERT_LT(++polls, 0x10000);
  EXPECT_EQ(polls, 0);
  EXPECT_TRUE(signals.resets.empty());
  command(kCmdReset);
  ASSERT_EQ(signals.resets.size(), 1u);
  EXPECT_EQ(signals.resets[0], kHow);
  EXPECT_EQ(signals.power_offs, 0);
}

// 0xF0-0xFF pulse the output-port lines whose bit is 0; bit 0 is reset.
TEST_F(I8042Test, PulseCommandsResetOnlyWithBit0Clear) {
  for (int c = 0xF0; c <= 0xFF; ++c) {
    const size_t before = signals.resets.size();
    command(static_cast<uint8_t>(c));
    EXPECT_EQ(signals.resets.size() - before, (c & 1) ? 0u : 1u) << std::hex << c;
  }
  EXPECT_EQ(status() & kStrObf, 0) << "pulses answer nothing";
}

// 0xD1 writes the output port: bit 0 is the (active-low) reset line.
TEST_F(I8042Test, OutputPortWriteWithBit0ClearResets) {
  const int port = i8042_command(kCmdReadOutput);
  EXPECT_EQ(port & 0x03, 0x03) << "reset line high, A20 on";
  i8042_command(kCmdWriteOutput, 0xDF, false);
  EXPECT_TRUE(signals.resets.empty());
  EXPECT_EQ(i8042_command(kCmdReadOutput), 0xDF);
  i8042_command(kCmdWriteOutput, 0xDE, false);
  ASSERT_EQ(signals.resets.size(), 1u);
  EXPECT_EQ(signals.resets[0], kHow);
}

// 0xD2 loads the buffer as keyboard data: IRQ 1 if CTR bit 0, else silent.
TEST_F(I8042Test, KeyboardBufferWriteFollowsKbdInt) {
  i8042_command(kCmdCtlWctr, 0, false);
  signals.irqs.clear();
  command(kCmdKbdLoop);
  write_data(0x1C);
  EXPECT_EQ(status() & (kStrObf | kStrAuxData), kStrObf);
  EXPECT_TRUE(signals.irqs.empty());
  EXPECT_EQ(read_data(), 0x1C);
  i8042_command(kCmdCtlWctr, kCtrKbdInt | kCtrKbdDis, false);
  command(kCmdKbdLoop);
  write_data(0x9C);
  EXPECT_TRUE(signals.level(kIrqKeyboard)) << "the disable bit stops the port, not the interrupt";
  EXPECT_EQ(read_data(), 0x9C);
  EXPECT_FALSE(signals.level(kIrqKeyboard));
}

// A command abandons a parameter still owed to an earlier one; an unknown
// command is ignored and answers nothing.
TEST_F(I8042Test, UnknownAndInterruptedCommands) {
  const int ctr = i8042_command(kCmdCtlRctr);
  command(kCmdCtlWctr);
  command(kCmdCtlRctr);  // not the parameter: a new command
  EXPECT_EQ(read_data(), ctr);
  command(0xA1);  // controller version: not implemented
  command(0x00);
  command(0x90);
  EXPECT_EQ(status() & kStrObf, 0);
  EXPECT_EQ(i8042_command(kCmdCtlRctr), ctr);
  EXPECT_TRUE(signals.resets.empty());
}

// 2- and 4-byte accesses act on the addressed byte register.
TEST_F(I8042Test, WideAccessActsOnAddressedByte) {
  kbc.out(kI8042Command, 4, 0xFFFFFF00u | kCmdCtlTest);
  EXPECT_TRUE(signals.resets.empty()) << "0xFF in the upper bytes is not a pulse command";
  EXPECT_EQ(kbc.in(kI8042Command, 2) & 0xFF00u, 0u);
  EXPECT_EQ(kbc.in(kI8042Data, 4), 0x55u);
}

// Every command with every kind of parameter, data bytes alone, at every
// size, reads in between: IBF never shows, reset only for the documented
// patterns, no power off, lines only toggle and only IRQ 1/12.
TEST_F(I8042Test, HostileGuestCannotBreakIt) {
  size_t expected_resets = 0;
  for (uint8_t size : {1, 2, 4}) {
    for (uint32_t cmd = 0; cmd < 256; ++cmd) {
      for (uint32_t data : {0x00u, 0x01u, 0xFEu, 0xFFu, cmd, cmd ^ 0xFFu}) {
        kbc.out(kI8042Command, size, cmd * 0x01010101u);
        if ((cmd & 0xF0) == 0xF0 && !(cmd & 1)) ++expected_resets;
        ASSERT_EQ(kbc.in(kI8042Command, size) & kStrIbf, 0u);
        kbc.out(kI8042Data, size, data * 0x01010101u);
        if (cmd == kCmdWriteOutput && !(data & 1)) ++expected_resets;
        ASSERT_EQ(kbc.in(kI8042Command, size) & kStrIbf, 0u);
        kbc.in(kI8042Data, size);
        kbc.out(kI8042Data, size, cmd);  // a byte for the keyboard
        ASSERT_EQ(kbc.in(kI8042Command, size) & kStrIbf, 0u);
      }
    }
  }
  EXPECT_EQ(signals.resets.size(), expected_resets);
  for (const auto& how : signals.resets) EXPECT_EQ(how, kHow);
  EXPECT_EQ(signals.power_offs, 0);
  bool kbd = false, aux = false;
  for (const auto& e : signals.irqs) {
    ASSERT_TRUE(e.line == kIrqKeyboard || e.line == kIrqMouse) << e.line;
    bool& level = e.line == kIrqKeyboard ? kbd : aux;
    ASSERT_NE(e.high, level) << "set_irq only on a change";
    level = e.high;
  }
  // Still a working controller.
  while (status() & kStrObf) read_data();
  EXPECT_EQ(i8042_command(kCmdCtlTest), 0x55);
  EXPECT_EQ(i8042_command(kCmdCtlWctr, 0x47, false), 0);
  EXPECT_EQ(i8042_command(kCmdCtlRctr), 0x47);
}

// ---- Snapshots ---------------------------------------------------------------

// The saved layout's offsets the refusal tests corrupt (I8042::save).
constexpr size_t kStateOutByte = 4, kStateOutFull = 5, kStateSource = 6, kStateTimeout = 7;
constexpr size_t kStatePending = 8, kStateIrqKbd = 9, kStateIrqAux = 10, kStateBytes = 11;

class I8042SnapshotTest : public I8042Test {
 protected:
  // Linux's CTR with both interrupts on, A20 off, a byte the keyboard
  // loop put in the buffer (IRQ 1 up), and 0xD1 waiting for its byte.
  void drive() {
    ASSERT_EQ(i8042_command(kCmdCtlWctr, 0x47, false), 0);
    command(0xDD);
    command(kCmdKbdLoop);
    write_data(0xAB);
    command(kCmdWriteOutput);
    ASSERT_TRUE(signals.level(kIrqKeyboard));
  }
  static uint8_t status_of(I8042& k) { return static_cast<uint8_t>(k.in(kI8042Command, 1)); }
  static uint8_t data_of(I8042& k) { return static_cast<uint8_t>(k.in(kI8042Data, 1)); }
  // Status, the command byte and the output port: reads that need no
  // pending command to be lost (the buffer is emptied first).
  static std::vector<uint8_t> registers(I8042& k) {
    std::vector<uint8_t> seen = {status_of(k), k.command_byte()};
    k.out(kI8042Command, 1, kCmdReadOutput);
    seen.push_back(data_of(k));
    return seen;
  }
};

TEST_F(I8042SnapshotTest, RoundTripRestoresBufferCommandByteAndPendingCommand) {
  drive();
  const auto blob = test::save_state(kbc);
  EXPECT_EQ(blob.size(), kStateBytes);

  // Two copies: one finishes the pending 0xD1, the other reads the output port.
  RecordingSignals s2, s3;
  I8042 k2{s2}, k3{s3};
  ASSERT_TRUE(test::load_state(k2, blob));
  ASSERT_TRUE(test::load_state(k3, blob));
  EXPECT_TRUE(s2.irqs.empty()) << "load never signals: the interrupt controllers hold the level";
  EXPECT_EQ(test::save_state(k2), blob);

  EXPECT_EQ(status_of(k2), status());
  EXPECT_EQ(status_of(k2), kStrObf | kStrSys | kStrCmdDat | kStrKeylock);
  EXPECT_EQ(k2.command_byte(), 0x47);
  const size_t edges = signals.irqs.size();
  EXPECT_EQ(data_of(k2), 0xAB);
  EXPECT_EQ(read_data(), 0xAB);
  // The restored IRQ 1 level makes the falling edge the original made.
  ASSERT_EQ(s2.irqs.size(), 1u);
  EXPECT_EQ(s2.irqs[0].line, kIrqKeyboard);
  EXPECT_FALSE(s2.irqs[0].high);
  ASSERT_EQ(signals.irqs.size(), edges + 1);
  EXPECT_FALSE(signals.irqs.back().high);

  // The pending 0xD1 takes this byte as the output port (not a keyboard byte).
  k2.out(kI8042Data, 1, 0x03);
  EXPECT_EQ(status_of(k2) & (kStrObf | kStrTimeout), 0) << "not sent to the absent keyboard";
  k2.out(kI8042Command, 1, kCmdReadOutput);
  EXPECT_EQ(data_of(k2), 0x03);
  EXPECT_TRUE(s2.resets.empty());

  // The output port itself: power-on 0xCF with A20 cleared by 0xDD.
  k3.in(kI8042Data, 1);
  kbc.in(kI8042Data, 1);
  EXPECT_EQ(registers(k3), registers(kbc));
  EXPECT_EQ(registers(k3)[2], 0xCD);
}

// A timeout from the absent aux device, IRQ 12 up.
TEST_F(I8042SnapshotTest, RoundTripAuxTimeout) {
  ASSERT_EQ(i8042_command(kCmdCtlWctr, 0x47, false), 0);
  command(kCmdAuxSend);
  write_data(0xF4);
  ASSERT_TRUE(signals.level(kIrqMouse));
  const auto blob = test::save_state(kbc);
  RecordingSignals s2;
  I8042 k2{s2};
  ASSERT_TRUE(test::load_state(k2, blob));
  EXPECT_EQ(status_of(k2), status());
  EXPECT_EQ(status_of(k2) & (kStrObf | kStrAuxData | kStrTimeout), kStrObf | kStrAuxData | kStrTimeout);
  EXPECT_EQ(data_of(k2), 0xFE);
  ASSERT_EQ(s2.irqs.size(), 1u);
  EXPECT_EQ(s2.irqs[0].line, kIrqMouse);
  EXPECT_FALSE(s2.irqs[0].high);
}

TEST_F(I8042SnapshotTest, EveryTruncationIsRefusedAndChangesNothing) {
  drive();
  const auto blob = test::save_state(kbc);
  RecordingSignals s2;
  I8042 k2{s2};
  k2.out(kI8042Command, 1, kCmdCtlWctr);
  k2.out(kI8042Data, 1, 0x05);
  for (size_t n = 0; n < blob.size(); ++n) {
    std::string why;
    EXPECT_FALSE(test::load_state(k2, blob, &why, n)) << n;
    EXPECT_NE(why.find("ends early"), std::string::npos) << why;
  }
  EXPECT_TRUE(s2.irqs.empty());
  EXPECT_EQ(registers(k2), (std::vector<uint8_t>{kStrSys | kStrKeylock, 0x05, 0xCF}));
}

TEST_F(I8042SnapshotTest, RefusesWhatNoGuestCouldMake) {
  drive();
  const auto blob = test::save_state(kbc);
  RecordingSignals s2;
  I8042 k2{s2};
  k2.out(kI8042Command, 1, kCmdCtlWctr);
  k2.out(kI8042Data, 1, 0x05);
  struct Case {
    size_t offset;
    uint8_t value;
    const char* why;
  };
  for (const Case c : {Case{kStatePending, kCmdCtlRctr, "i8042 pending command = 0x0000000000000020"},
                       Case{kStatePending, kCmdReset, "i8042 pending command"},
                       Case{kStateSource, 2, "i8042 output buffer source"},
                       Case{kStateTimeout, 1, "a timeout comes only with 0xFE"},
                       Case{kStateIrqKbd, 0, "i8042 IRQ 1 level"},
                       Case{kStateIrqAux, 1, "i8042 IRQ 12 level"},
                       Case{kStateOutFull, 0, "i8042 IRQ 1 level"},  // an empty buffer with IRQ 1 up
                       Case{kStateOutByte - 1, 7, "neither 0 nor 1"}}) {
    auto bad = blob;
    bad[c.offset] = c.value;
    std::string why;
    EXPECT_FALSE(test::load_state(k2, bad, &why)) << c.why;
    EXPECT_NE(why.find(c.why), std::string::npos) << why;
  }
  EXPECT_TRUE(s2.irqs.empty());
  EXPECT_EQ(registers(k2), (std::vector<uint8_t>{kStrSys | kStrKeylock, 0x05, 0xCF}));
  EXPECT_TRUE(s2.resets.empty());
  // Each command that takes a parameter may be pending.
  for (uint8_t pending : {kCmdCtlWctr, kCmdWriteOutput, kCmdKbdLoop, kCmdAuxLoop, kCmdAuxSend, uint8_t{0}}) {
    auto good = blob;
    good[kStatePending] = pending;
    EXPECT_TRUE(test::load_state(k2, good)) << int{pending};
  }
}

}  // namespace
}  // namespace enlight::machine
