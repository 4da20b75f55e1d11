// The 16550A as Linux's 8250 driver drives it: autoconfig, console writes,
// the startup THRE/TXEN tests, interrupt-driven receive and transmit, and
// a guest that writes anything anywhere.
#include <enlight/machine/layout.hpp>
#include <enlight/machine/uart8250.hpp>

#include "device_state.hpp"
#include "recording_signals.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace enlight::machine {
namespace {

// Register offsets and bits the tests speak in (Linux's serial_reg.h names).
constexpr uint16_t kRx = kCom1Base + 0, kTx = kCom1Base + 0, kDll = kCom1Base + 0;
constexpr uint16_t kIer = kCom1Base + 1, kDlm = kCom1Base + 1;
constexpr uint16_t kIir = kCom1Base + 2, kFcr = kCom1Base + 2, kEfr = kCom1Base + 2;
constexpr uint16_t kLcr = kCom1Base + 3, kMcr = kCom1Base + 4, kLsr = kCom1Base + 5;
constexpr uint16_t kMsr = kCom1Base + 6, kScr = kCom1Base + 7;

constexpr uint8_t kIerRdi = 0x01, kIerThri = 0x02, kIerRlsi = 0x04, kIerMsi = 0x08;
constexpr uint8_t kIirNoInt = 0x01, kIirThri = 0x02, kIirRdi = 0x04, kIirRlsi = 0x06, kIirMsi = 0x00;
constexpr uint8_t kIirFifo = 0xC0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRcvr = 0x02, kFcrClearXmit = 0x04, kFcr64Byte = 0x20;
constexpr uint8_t kLcrDlab = 0x80, kLcrConfModeA = 0x80, kLcrConfModeB = 0xBF, kLcrWlen8 = 0x03;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kLsrBothEmpty = kLsrThre | kLsrTemt;
constexpr uint8_t kMsrDcts = 0x01, kMsrDdsr = 0x02, kMsrTeri = 0x04, kMsrDdcd = 0x08;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

using test::RecordingSignals;

class Uart8250Test : public ::testing::Test {
 protected:
  RecordingSignals signals;
  std::string sent;
  Uart8250 uart{signals, kCom1Base, kIrqCom1, [this](uint8_t b) { sent.push_back(static_cast<char>(b)); }};

  uint8_t in(uint16_t port) { return static_cast<uint8_t>(uart.in(port, 1)); }
  void out(uint16_t port, uint8_t value) { uart.out(port, 1, value); }
  size_t receive(const std::string& s) {
    return uart.receive(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  // What serial8250_do_startup leaves: FIFOs on and cleared, 8N1, DTR|RTS|OUT2.
  void linux_startup(uint8_t ier) {
    out(kFcr, kFcrEnable);
    out(kFcr, kFcrEnable | kFcrClearRcvr | kFcrClearXmit);
    out(kLcr, kLcrWlen8);
    out(kMcr, kMcrDtr | kMcrRts | kMcrOut2);
    in(kLsr), in(kRx), in(kIir), in(kMsr);
    out(kIer, ier);
  }
};

// autoconfig's first check: IER bits 3:0 read back what was written.
TEST_F(Uart8250Test, AutoconfigIerReadBack) {
  out(kIer, 0);
  EXPECT_EQ(in(kIer) & 0x0F, 0);
  out(kIer, 0x0F);
  EXPECT_EQ(in(kIer) & 0x0F, 0x0F);
  out(kIer, 0xFF);
  EXPECT_EQ(in(kIer), 0x0F) << "a 16550A has no IER bits 7:4 (Linux's XScale UUE test reads 0)";
  out(kIer, 0);
}

// autoconfig: LCR=0xBF, EFR=0, LCR=0, FCR=1, IIR[7:6] == 3 -> 16550A; then
// autoconfig_16550a's variant probes must all say "plain 16550A".
TEST_F(Uart8250Test, AutoconfigDetects16550A) {
  EXPECT_EQ(in(kIir), kIirNoInt) << "FIFOs off at power-on: IIR[7:6] = 00";
  out(kLcr, kLcrConfModeB);
  out(kEfr, 0);
  out(kLcr, 0);
  out(kFcr, kFcrEnable);
  EXPECT_EQ(in(kIir) >> 6, 3);
  EXPECT_EQ(in(kIir), kIirFifo | kIirNoInt) << "idle with FIFOs: 0xC1";

  // No EFR, with DLAB (ST16C650V1 test) or with 0xBF (ST16C650V2/TI16C752).
  out(kLcr, kLcrConfModeA);
  EXPECT_NE(in(kEfr), 0);
  out(kLcr, kLcrConfModeB);
  EXPECT_NE(in(kEfr), 0);
  // No TI16750: IIR bit 5 stays 0 with FCR7_64BYTE, with and without DLAB.
  out(kLcr, 0);
  out(kFcr, kFcrEnable | kFcr64Byte);
  EXPECT_EQ(in(kIir) >> 5, 6);
  out(kFcr, kFcrEnable);
  out(kLcr, kLcrConfModeA);
  out(kFcr, kFcrEnable | kFcr64Byte);
  EXPECT_EQ(in(kIir) >> 5, 6);
  out(kFcr, kFcrEnable);
  out(kLcr, 0);
  EXPECT_EQ(in(kIir), kIirFifo | kIirNoInt);
  EXPECT_TRUE(sent.empty());
  EXPECT_TRUE(signals.irqs.empty());
}

TEST_F(Uart8250Test, ScratchRegisterHoldsAnyByte) {
  for (int v : {0x00, 0x55, 0xAA, 0xFF, 0x5A}) {
    out(kScr, static_cast<uint8_t>(v));
    EXPECT_EQ(in(kScr), v);
  }
}

TEST_F(Uart8250Test, LineStatusIdleIsThreAndTemtNever0xFF) {
  EXPECT_EQ(in(kLsr), kLsrBothEmpty);
  out(kFcr, kFcrEnable);
  EXPECT_EQ(in(kLsr), kLsrBothEmpty);
  out(kTx, 'x');
  EXPECT_EQ(in(kLsr), kLsrBothEmpty);
}

// LCR.DLAB switches ports 0 and 1 to the divisor latch; the power-on divisor
// is not 0 (Linux's probe_baud divides by it).
TEST_F(Uart8250Test, DivisorLatch) {
  out(kLcr, kLcrDlab);
  EXPECT_NE(in(kDll) | (in(kDlm) << 8), 0);
  out(kDll, 0x0C);
  out(kDlm, 0x01);
  EXPECT_EQ(in(kDll), 0x0C);
  EXPECT_EQ(in(kDlm), 0x01);
  out(kLcr, kLcrWlen8);
  EXPECT_EQ(in(kIer), 0) << "DLM write did not reach IER";
  EXPECT_TRUE(sent.empty()) << "DLL write is not a transmission";
  EXPECT_EQ(in(kLcr), kLcrWlen8);
  out(kLcr, kLcrDlab | kLcrWlen8);
  EXPECT_EQ(in(kDll), 0x0C);
}

// serial8250_console_write: save IER, clear it, per character wait for THRE
// and write THR ("\n" -> "\r\n"), wait for BOTH_EMPTY, restore IER.
TEST_F(Uart8250Test, ConsoleWriteSequence) {
  const std::string line = "Linux version 6.1\r\n";
  const uint8_t ier = in(kIer);
  out(kIer, 0);
  for (char c : line) {
    int polls = 0;
    while (!(in(kLsr) & kLsrThre)) ASSERT_LT(++polls, 10);
    out(kTx, static_cast<uint8_t>(c));
  }
  EXPECT_EQ(in(kLsr) & kLsrBothEmpty, kLsrBothEmpty);
  out(kIer, ier);
  EXPECT_EQ(sent, line);
}

// THR empty interrupt: raised when ETBEI is set with THR empty, cleared by
// the IIR read that reports it, raised again by a THR write and by ETBEI
// going 0 -> 1.
TEST_F(Uart8250Test, ThrEmptyInterruptRaiseClearReraise) {
  linux_startup(0);
  ASSERT_FALSE(uart.irq_asserted());
  signals.irqs.clear();
  out(kIer, kIerThri);
  ASSERT_EQ(signals.irqs.size(), 1u);
  EXPECT_EQ(signals.irqs[0].line, kIrqCom1);
  EXPECT_TRUE(signals.irqs[0].high);

  EXPECT_EQ(in(kIir), kIirFifo | kIirThri);
  EXPECT_FALSE(signals.level(kIrqCom1)) << "reading IIR acknowledged THRE";
  EXPECT_EQ(in(kIir), kIirFifo | kIirNoInt);

  out(kTx, 'a');  // the byte leaves at once: THR empty again
  EXPECT_TRUE(signals.level(kIrqCom1));
  EXPECT_EQ(in(kIir), kIirFifo | kIirThri);
  EXPECT_FALSE(uart.irq_asserted());

  out(kIer, 0);
  out(kIer, kIerThri);
  EXPECT_TRUE(uart.irq_asserted()) << "ETBEI 0 -> 1 with THR empty re-asserts";
  out(kIer, 0);
  EXPECT_FALSE(uart.irq_asserted());
  EXPECT_EQ(sent, "a");
}

// serial8250_do_startup's UART_BUG_THRE test (before OUT2 is set): THRE must
// show in IIR after IER.THRI is set, and again after IER is toggled.
TEST_F(Uart8250Test, StartupThreTestFindsNoBug) {
  out(kFcr, kFcrEnable);
  out(kIer, kIerThri);
  const uint8_t iir1 = in(kIir);
  out(kIer, 0);
  out(kIer, kIerThri);
  const uint8_t iir = in(kIir);
  out(kIer, 0);
  EXPECT_FALSE(iir1 & kIirNoInt);
  EXPECT_FALSE(iir & kIirNoInt) << "would set UART_BUG_THRE (timer-polled tx)";
  EXPECT_TRUE(signals.irqs.empty()) << "OUT2 clear: the line is not driven";
}

// The UART_BUG_TXEN test: IER=THRI, read LSR, read IIR: THRE must be pending.
TEST_F(Uart8250Test, StartupTxenTestFindsNoBug) {
  linux_startup(0);
  out(kIer, kIerThri);
  const uint8_t lsr = in(kLsr);
  const uint8_t iir = in(kIir);
  out(kIer, 0);
  EXPECT_TRUE(lsr & kLsrTemt);
  EXPECT_FALSE(iir & kIirNoInt);
}

// Interrupt-driven transmit as serial8250_handle_irq does it: per THRE
// interrupt read IIR, write up to a FIFO's worth, stop (IER.THRI off) when
// the buffer is empty. Every burst is an edge on IRQ 4.
TEST_F(Uart8250Test, InterruptDrivenTransmit) {
  linux_startup(kIerRlsi | kIerRdi);
  signals.irqs.clear();
  std::string pending(40, 'x');
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = static_cast<char>('A' + i % 26);
  out(kIer, kIerRlsi | kIerRdi | kIerThri);  // __start_tx
  size_t pos = 0;
  int interrupts = 0;
  while (uart.irq_asserted()) {
    ++interrupts;
    ASSERT_LT(interrupts, 10);
    for (;;) {  // serial8250_interrupt loops until IIR says no interrupt
      const uint8_t iir = in(kIir);
      if (iir & kIirNoInt) break;
      ASSERT_EQ(iir & 0x0F, kIirThri);
      ASSERT_TRUE(in(kLsr) & kLsrThre);
      for (int n = 0; n < 16 && pos < pending.size(); ++n) out(kTx, static_cast<uint8_t>(pending[pos++]));
      if (pos == pending.size()) out(kIer, kIerRlsi | kIerRdi);  // __stop_tx
    }
  }
  EXPECT_EQ(sent, pending);
  EXPECT_EQ(interrupts, 1) << "the handler's IIR loop sent everything";
  EXPECT_FALSE(uart.irq_asserted()) << "low when the handler returns: the next THRE is a new edge";
  // Rising edges: __start_tx, then one per burst written (THR empties at
  // once). The ones raised inside the handler reach the guest as an extra
  // interrupt that finds IIR empty, as they would on QEMU's UART.
  int rises = 0;
  for (const auto& e : signals.irqs) rises += e.high;
  EXPECT_EQ(rises, 1 + 3);
}

// OUT2 gates the PC's IRQ line; IIR reports the source either way.
TEST_F(Uart8250Test, Out2GatesTheInterruptLine) {
  out(kIer, kIerThri);
  EXPECT_EQ(in(kIir) & 0x0F, kIirThri);
  EXPECT_EQ(in(kIir) & 0x0F, kIirNoInt) << "THRE was reported and acknowledged";
  out(kIer, 0);
  out(kIer, kIerThri);
  EXPECT_TRUE(signals.irqs.empty());
  out(kMcr, kMcrOut2);
  EXPECT_TRUE(uart.irq_asserted());
  out(kMcr, kMcrDtr | kMcrRts);
  EXPECT_FALSE(uart.irq_asserted());
  ASSERT_EQ(signals.irqs.size(), 2u);
  EXPECT_TRUE(signals.irqs[0].high);
  EXPECT_FALSE(signals.irqs[1].high);
}

// Host input: LSR.DR, the data-available interrupt, bytes in order, the
// interrupt dropping when the FIFO is drained (serial8250_rx_chars).
TEST_F(Uart8250Test, ReceiveDataInterruptAndLsrDr) {
  linux_startup(kIerRlsi | kIerRdi);
  signals.irqs.clear();
  EXPECT_EQ(uart.receive_space(), 16u);
  EXPECT_EQ(receive("ls\n"), 3u);
  EXPECT_TRUE(uart.irq_asserted());
  EXPECT_EQ(uart.receive_space(), 13u);
  EXPECT_EQ(in(kIir), kIirFifo | kIirRdi);
  std::string got;
  while (in(kLsr) & kLsrDr) got.push_back(static_cast<char>(in(kRx)));
  EXPECT_EQ(got, "ls\n");
  EXPECT_FALSE(uart.irq_asserted());
  EXPECT_EQ(in(kIir), kIirFifo | kIirNoInt);
  EXPECT_EQ(in(kLsr), kLsrBothEmpty);
  EXPECT_EQ(signals.irqs.size(), 2u);
}

// A 17th byte finds the FIFO full: it is lost and LSR.OE reports it (and
// the receiver-line-status interrupt, which outranks data available); the
// LSR read clears both.
TEST_F(Uart8250Test, OverrunDropsAndSetsOe) {
  linux_startup(kIerRlsi | kIerRdi);
  const std::string input = "0123456789abcdefXYZ";
  EXPECT_EQ(receive(input), 16u);
  EXPECT_EQ(uart.receive_space(), 0u);
  EXPECT_EQ(in(kIir), kIirFifo | kIirRlsi);
  EXPECT_EQ(in(kLsr), kLsrBothEmpty | kLsrOe | kLsrDr);
  EXPECT_EQ(in(kLsr), kLsrBothEmpty | kLsrDr) << "OE clears on read";
  EXPECT_EQ(in(kIir), kIirFifo | kIirRdi);
  std::string got;
  while (in(kLsr) & kLsrDr) got.push_back(static_cast<char>(in(kRx)));
  EXPECT_EQ(got, input.substr(0, 16)) << "the FIFO keeps the first 16";
}

// Without FCR.0 the chip is a 16450 with a single receive buffer.
TEST_F(Uart8250Test, FifoDisabledHoldsOneByte) {
  EXPECT_EQ(uart.receive_space(), 1u);
  EXPECT_EQ(receive("ab"), 1u);
  EXPECT_EQ(in(kLsr), kLsrBothEmpty | kLsrOe | kLsrDr);
  EXPECT_EQ(in(kRx), 'a');
  EXPECT_EQ(in(kRx), 'a') << "RBR keeps the last byte";
  out(kFcr, kFcrEnable);
  EXPECT_EQ(uart.receive_space(), 16u);
}

TEST_F(Uart8250Test, FcrClearsReceiveFifo) {
  out(kFcr, kFcrEnable);
  EXPECT_EQ(receive("abc"), 3u);
  out(kFcr, kFcrEnable | kFcrClearRcvr);
  EXPECT_EQ(in(kLsr) & kLsrDr, 0);
  EXPECT_EQ(uart.receive_space(), 16u);
  EXPECT_EQ(receive("d"), 1u);
  out(kFcr, 0);  // leaving FIFO mode empties the FIFO too
  EXPECT_EQ(in(kLsr) & kLsrDr, 0);
}

// MCR.LOOP: THR goes to the receiver, not the line; MSR shows the MCR
// outputs (autoconfig's loopback test expects 0x90 for LOOP|OUT2|RTS);
// host input is not accepted; the IRQ line is not driven.
TEST_F(Uart8250Test, Loopback) {
  linux_startup(kIerRdi | kIerMsi);
  EXPECT_EQ(in(kMsr) & 0xF0, kMsrCts | kMsrDsr | kMsrDcd) << "outside loopback: a connected terminal";
  signals.irqs.clear();
  out(kMcr, kMcrLoop | kMcrOut2 | kMcrRts);
  EXPECT_EQ(in(kMsr) & 0xF0, 0x90);
  out(kMcr, kMcrLoop | kMcrDtr | kMcrRts | kMcrOut1 | kMcrOut2);
  EXPECT_EQ(in(kMsr) & 0xF0, kMsrCts | kMsrDsr | kMsrRi | kMsrDcd);
  out(kTx, 'Q');
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(in(kLsr) & kLsrDr, kLsrDr);
  EXPECT_EQ(in(kIir), kIirFifo | kIirRdi) << "IIR still reports";
  EXPECT_EQ(in(kRx), 'Q');
  EXPECT_EQ(receive("z"), 0u);
  EXPECT_EQ(uart.receive_space(), 0u);
  EXPECT_TRUE(signals.irqs.empty()) << "loopback forces OUT2 inactive";
  out(kMcr, kMcrDtr | kMcrRts | kMcrOut2);
  out(kTx, 'R');
  EXPECT_EQ(sent, "R");
  EXPECT_EQ(receive("z"), 1u);
}

// MSR deltas: entering/leaving loopback changes the inputs; the modem
// status interrupt (lowest priority) clears on the MSR read. TERI is the
// trailing edge of RI only.
TEST_F(Uart8250Test, ModemStatusDeltasAndInterrupt) {
  out(kIer, kIerMsi);
  EXPECT_EQ(in(kIir), kIirNoInt);
  out(kMcr, kMcrLoop);  // CTS, DSR, DCD fall
  EXPECT_EQ(in(kIir), kIirMsi);
  EXPECT_EQ(in(kMsr), kMsrDcts | kMsrDdsr | kMsrDdcd);
  EXPECT_EQ(in(kIir), kIirNoInt);
  out(kMcr, kMcrLoop | kMcrOut1);  // RI rises: no TERI
  EXPECT_EQ(in(kMsr), kMsrRi);
  out(kMcr, kMcrLoop);  // RI falls
  EXPECT_EQ(in(kMsr), kMsrTeri);
  EXPECT_EQ(in(kMsr), 0);
}

// IIR priority: line status > data available > THR empty > modem status.
TEST_F(Uart8250Test, InterruptPriorities) {
  out(kFcr, kFcrEnable);
  out(kIer, kIerRlsi | kIerRdi | kIerThri | kIerMsi);
  out(kMcr, kMcrLoop);  // modem status delta
  EXPECT_EQ(in(kIir) & 0x0F, kIirThri);
  EXPECT_EQ(in(kIir) & 0x0F, kIirMsi) << "THRE acknowledged, modem status next";
  out(kMcr, 0);
  for (int i = 0; i < 17; ++i) out(kMcr, kMcrLoop), out(kTx, 'x');  // 17 into 16: overrun
  EXPECT_EQ(in(kIir) & 0x0F, kIirRlsi);
  in(kLsr);
  EXPECT_EQ(in(kIir) & 0x0F, kIirRdi);
  out(kFcr, kFcrEnable | kFcrClearRcvr);
  EXPECT_EQ(in(kIir) & 0x0F, kIirThri);
  EXPECT_EQ(in(kIir) & 0x0F, kIirMsi);
  in(kMsr);
  EXPECT_EQ(in(kIir) & 0x0F, kIirNoInt);
}

// A 2- or 4-byte access acts on the addressed register alone.
TEST_F(Uart8250Test, WideAccessActsOnAddressedByteOnly) {
  out(kFcr, kFcrEnable);
  uart.out(kTx, 4, 0x44434241);
  EXPECT_EQ(sent, "A");
  EXPECT_EQ(uart.in(kLsr, 2), kLsrBothEmpty);
  EXPECT_EQ(uart.in(kLsr, 4), kLsrBothEmpty);
  uart.out(kScr, 2, 0x1234);
  EXPECT_EQ(uart.in(kScr, 4), 0x34u);
  EXPECT_EQ(in(kMsr) & 0xF0, kMsrCts | kMsrDsr | kMsrDcd) << "the word write did not spill into port 8";
  EXPECT_EQ(receive("hi"), 2u);
  EXPECT_EQ(uart.in(kRx, 2), static_cast<uint32_t>('h')) << "one byte popped";
  EXPECT_EQ(in(kRx), 'i');
}

// A console pump on another thread feeding the FIFO while the vCPU drains
// it: nothing lost when the pump waits for receive_space().
TEST_F(Uart8250Test, ReceiveFromAnotherThread) {
  linux_startup(kIerRdi);
  constexpr int kBytes = 5000;
  std::atomic<bool> done{false};
  std::thread pump([&] {
    for (int i = 0; i < kBytes;) {
      if (uart.receive_space() == 0) {
        std::this_thread::yield();
        continue;
      }
      const uint8_t b = static_cast<uint8_t>(i);
      i += static_cast<int>(uart.receive(&b, 1));
    }
    done = true;
  });
  std::vector<uint8_t> got;
  while (got.size() < static_cast<size_t>(kBytes)) {
    if (in(kLsr) & kLsrDr) {
      got.push_back(in(kRx));
    } else {
      std::this_thread::yield();
    }
  }
  pump.join();
  EXPECT_TRUE(done);
  for (int i = 0; i < kBytes; ++i) ASSERT_EQ(got[i], static_cast<uint8_t>(i)) << "at " << i;
  EXPECT_EQ(in(kLsr) & kLsrOe, 0);
}

// Every value to every port at every size, reads of every port in between:
// LSR never reads 0xFF, the line only toggles, IRQ 4 only, no reset or
// power off; and afterwards a Linux startup gets a working port back.
TEST_F(Uart8250Test, HostileGuestCannotBreakIt) {
  for (uint8_t size : {1, 2, 4}) {
    for (uint16_t reg = 0; reg < kCom1Ports; ++reg) {
      for (uint32_t v = 0; v < 256; ++v) {
        uart.out(static_cast<uint16_t>(kCom1Base + reg), size, v * 0x01010101u);
        for (uint16_t r = 0; r < kCom1Ports; ++r) uart.in(static_cast<uint16_t>(kCom1Base + r), size);
        const uint8_t s = 1;
        uart.receive(&s, 1);
        ASSERT_NE(uart.in(kLsr, 1), 0xFFu);
        ASSERT_EQ(uart.in(kLsr, 1) & kLsrThre, kLsrThre);
      }
    }
  }
  EXPECT_EQ(signals.power_offs, 0);
  EXPECT_TRUE(signals.resets.empty());
  bool level = false;
  for (const auto& e : signals.irqs) {
    ASSERT_EQ(e.line, kIrqCom1);
    ASSERT_NE(e.high, level) << "set_irq only on a change of the output";
    level = e.high;
  }
  EXPECT_EQ(level, uart.irq_asserted());

  out(kLcr, 0);
  linux_startup(kIerRdi);
  sent.clear();
  out(kTx, 'o');
  out(kTx, 'k');
  EXPECT_EQ(sent, "ok");
  EXPECT_EQ(in(kLsr), kLsrBothEmpty);
  EXPECT_EQ(receive("!"), 1u);
  EXPECT_TRUE(uart.irq_asserted());
  EXPECT_EQ(in(kRx), '!');
  EXPECT_FALSE(uart.irq_asserted());
}

// ---- Snapshots ---------------------------------------------------------------

// The saved layout's offsets the refusal tests corrupt (Uart8250::save).
constexpr size_t kStateIer = 0, kStateFcr = 3, kStateHead = 7, kStateCount = 8, kStateOverrun = 26;
constexpr size_t kStateMsrDelta = 28, kStateIrq = 29, kStateBytes = 30;

// Every register as the guest reads it, in an order that consumes what
// reads consume (IIR's THRE, LSR.OE, MSR's deltas, the FIFO): two UARTs in
// the same state give the same list, and the same interrupt edges.
std::vector<uint8_t> probe(Uart8250& u) {
  auto rd = [&u](uint16_t port) { return static_cast<uint8_t>(u.in(port, 1)); };
  std::vector<uint8_t> seen = {rd(kLcr), rd(kMcr), rd(kScr), rd(kIer), rd(kMsr), rd(kMsr), rd(kLsr), rd(kLsr)};
  const uint8_t lcr = rd(kLcr);
  u.out(kLcr, 1, lcr | kLcrDlab);
  seen.push_back(rd(kDll));
  seen.push_back(rd(kDlm));
  u.out(kLcr, 1, lcr & ~kLcrDlab);
  seen.push_back(rd(kIir));
  seen.push_back(rd(kIir));
  for (int i = 0; i < 17; ++i) {
    seen.push_back(rd(kLsr));
    seen.push_back(rd(kRx));
  }
  seen.push_back(rd(kIir));
  u.out(kLcr, 1, lcr);
  return seen;
}

// The registers no read changes (DLAB restored), to check a refused load
// left them alone.
std::vector<uint8_t> plain_registers(Uart8250& u) {
  auto rd = [&u](uint16_t port) { return static_cast<uint8_t>(u.in(port, 1)); };
  const uint8_t lcr = rd(kLcr);
  u.out(kLcr, 1, lcr | kLcrDlab);
  std::vector<uint8_t> seen = {rd(kDll), rd(kDlm)};
  u.out(kLcr, 1, lcr & ~kLcrDlab);
  for (uint16_t port : {kIer, kMcr, kScr}) seen.push_back(rd(port));
  u.out(kLcr, 1, lcr);
  seen.push_back(rd(kLcr));
  seen.push_back(static_cast<uint8_t>(u.receive_space()));
  return seen;
}

class Uart8250SnapshotTest : public Uart8250Test {
 protected:
  RecordingSignals signals2;
  Uart8250 uart2{signals2, kCom1Base, kIrqCom1, [](uint8_t) {}};

  // A guest mid-session: 9600 baud 7E1 with DLAB left set for the divisor,
  // FIFOs on with DMA mode and an 8-byte trigger, OUT2, a scratch byte,
  // five bytes waiting, an overrun-free FIFO, THRE pending and reported.
  void drive() {
    out(kLcr, kLcrDlab | 0x1A);
    out(kDll, 0x0C);
    out(kDlm, 0x03);
    out(kLcr, 0x1A);
    out(kFcr, kFcrEnable | 0x08 | 0x80);
    out(kMcr, kMcrDtr | kMcrRts | kMcrOut2);
    out(kScr, 0x5A);
    // Rotate the ring so that the head is not 0.
    ASSERT_EQ(receive("xyz"), 3u);
    in(kRx), in(kRx), in(kRx);
    ASSERT_EQ(receive("hello"), 5u);
    out(kIer, kIerThri | kIerMsi);
    ASSERT_EQ(in(kIir), kIirFifo | kIirThri) << "THRE pending (it clears on this read)";
    out(kIer, kIerMsi);
    out(kIer, kIerThri | kIerMsi);  // raised again
    ASSERT_TRUE(uart.irq_asserted());
  }
};

TEST_F(Uart8250SnapshotTest, RoundTripRestoresEveryRegisterAndTheFifo) {
  drive();
  const auto blob = test::save_state(uart);
  EXPECT_EQ(blob.size(), kStateBytes);
  ASSERT_TRUE(test::load_state(uart2, blob));
  EXPECT_TRUE(signals2.irqs.empty()) << "load never signals: the interrupt controllers hold the level";
  EXPECT_TRUE(uart2.irq_asserted()) << "the level it last signalled, as saved";
  EXPECT_EQ(test::save_state(uart2), blob);

  const size_t edges = signals.irqs.size();
  const auto before = probe(uart);
  const auto after = probe(uart2);
  EXPECT_EQ(after, before);
  // Spot checks, so a probe that read nothing would not pass.
  ASSERT_GE(after.size(), 13u);
  EXPECT_EQ(after[0], 0x1A) << "LCR";
  EXPECT_EQ(after[1], kMcrDtr | kMcrRts | kMcrOut2) << "MCR";
  EXPECT_EQ(after[2], 0x5A) << "SCR";
  EXPECT_EQ(after[3], kIerThri | kIerMsi) << "IER";
  EXPECT_EQ(after[8], 0x0C) << "DLL";
  EXPECT_EQ(after[9], 0x03) << "DLM";
  EXPECT_EQ(after[10], kIirFifo | kIirThri) << "THRE pending";
  EXPECT_EQ(after[11], kIirFifo | kIirNoInt);
  std::string fifo;
  for (size_t i = 12; i + 1 < after.size() - 1; i += 2)
    if (after[i] & kLsrDr) fifo.push_back(static_cast<char>(after[i + 1]));
  EXPECT_EQ(fifo, "hello") << "oldest first";
  // The restored level makes the same falling edge the original made.
  ASSERT_EQ(signals2.irqs.size(), signals.irqs.size() - edges);
  for (size_t i = 0; i < signals2.irqs.size(); ++i) {
    EXPECT_EQ(signals2.irqs[i].line, kIrqCom1);
    EXPECT_EQ(signals2.irqs[i].high, signals.irqs[edges + i].high);
  }
  EXPECT_FALSE(signals2.irqs.empty());
}

// Loopback state, MSR deltas and an overrun survive too.
TEST_F(Uart8250SnapshotTest, RoundTripLoopbackOverrunAndModemDeltas) {
  out(kFcr, kFcrEnable);
  out(kMcr, kMcrLoop | kMcrOut1 | kMcrRts);
  out(kMcr, kMcrLoop | kMcrRts);  // DSR and DCD fell (DDSR, DDCD), then RI's trailing edge (TERI)
  for (int i = 0; i < 17; ++i) out(kTx, static_cast<uint8_t>('a' + i));  // the 17th overruns
  out(kIer, kIerRlsi | kIerMsi);
  const auto blob = test::save_state(uart);
  ASSERT_TRUE(test::load_state(uart2, blob));
  const auto before = probe(uart);
  const auto after = probe(uart2);
  EXPECT_EQ(after, before);
  EXPECT_EQ(after[4] & 0x0F, kMsrTeri | kMsrDdsr | kMsrDdcd);
  EXPECT_EQ(after[6] & kLsrOe, kLsrOe);
  EXPECT_EQ(uart2.receive_space(), 0u) << "loopback: the line is disconnected";
  EXPECT_TRUE(signals2.irqs.empty()) << "no OUT2 in loopback: the line stays low";
}

TEST_F(Uart8250SnapshotTest, EveryTruncationIsRefusedAndChangesNothing) {
  drive();
  const auto blob = test::save_state(uart);
  out(kScr, 0x77);  // uart2 differs from the blob, so a partial apply would show
  uart2.out(kScr, 1, 0x77);
  const auto untouched = plain_registers(uart2);
  for (size_t n = 0; n < blob.size(); ++n) {
    std::string why;
    EXPECT_FALSE(test::load_state(uart2, blob, &why, n)) << n;
    EXPECT_NE(why.find("ends early"), std::string::npos) << why;
  }
  EXPECT_EQ(plain_registers(uart2), untouched);
  EXPECT_TRUE(signals2.irqs.empty());
}

TEST_F(Uart8250SnapshotTest, RefusesWhatNoGuestCouldMake) {
  drive();
  const auto blob = test::save_state(uart);
  uart2.out(kScr, 1, 0x77);
  uart2.out(kIer, 1, kIerRdi);
  const auto untouched = plain_registers(uart2);
  struct Case {
    size_t offset;
    uint8_t value;
    const char* why;
  };
  for (const Case c : {Case{kStateCount, 17, "UART receive FIFO count = 0x0000000000000011"},
                       Case{kStateHead, 16, "UART receive FIFO head = 0x0000000000000010"},
                       Case{kStateIer, 0x12, "UART IER = 0x0000000000000012"},
                       Case{kStateFcr, 0x21, "UART FCR"},
                       Case{kStateFcr, 0x00, "16450 mode"},  // five bytes with the FIFOs off
                       Case{kStateMsrDelta, 0x10, "UART MSR deltas"},
                       Case{kStateIrq, 0, "UART IRQ level"},
                       Case{kStateOverrun, 2, "neither 0 nor 1"}}) {
    auto bad = blob;
    bad[c.offset] = c.value;
    std::string why;
    EXPECT_FALSE(test::load_state(uart2, bad, &why)) << c.why;
    EXPECT_NE(why.find(c.why), std::string::npos) << why;
    EXPECT_EQ(plain_registers(uart2), untouched) << c.why;
  }
  // A count the FIFO holds is fine, an IRQ level that matches too.
  auto good = blob;
  good[kStateCount] = 16;
  EXPECT_TRUE(test::load_state(uart2, good));
  EXPECT_EQ(uart2.receive_space(), 0u);
  EXPECT_TRUE(signals2.irqs.empty());
}

}  // namespace
}  // namespace enlight::machine
