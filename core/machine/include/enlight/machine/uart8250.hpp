// COM1: a 16550A UART (8250 family) as Linux's 8250 driver probes and uses
// it: the register file with DLAB, the IER read-back test, FIFO detection
// through IIR[7:6], LSR that reads THRE|TEMT when idle (never 0xFF), the
// THR-empty and receive interrupts on IRQ 4 (IIR priorities), MCR loopback
// and the scratch register. Transmission is instantaneous: a byte written
// to THR goes to the output sink at once and THR is empty again.
// Choices where the datasheet leaves room, and what is not emulated:
// docs/machine-devices.md.
// Sources: the PC16550D datasheet; Linux drivers/tty/serial/8250/8250_port.c
// (autoconfig, serial8250_console_write, serial8250_do_startup).
#pragma once

#include <enlight/machine/device.hpp>
#include <enlight/state.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

namespace enlight::machine {

class Uart8250 final : public PortDevice {
 public:
  // `base`: the first of the 8 ports; `irq`: its ISA line; `tx`: where each
  // transmitted byte goes (called with the device lock held, on the vCPU
  // thread that wrote THR: keep it cheap, e.g. append to a buffer).
  Uart8250(MachineSignals& signals, uint16_t base, uint32_t irq, std::function<void(uint8_t)> tx);

  // One byte register per port: a 2- or 4-byte access acts on the register
  // at `port` alone and reads it zero-extended.
  uint32_t in(uint16_t port, uint8_t size) override;
  void out(uint16_t port, uint8_t size, uint32_t value) override;

  // Host input (a console): queues bytes in the receive FIFO (16 bytes with
  // FCR.0 set, the single RBR of 16450 mode otherwise; a byte that finds it
  // full is dropped and counted as an overrun, LSR.OE) and raises the
  // receive interrupt if enabled. In loopback mode the receiver is
  // disconnected from the line and accepts nothing. Any thread.
  // Returns how many of `n` were accepted.
  size_t receive(const uint8_t* data, size_t n);
  // Free space in the receive FIFO, so an input pump can wait rather than drop.
  size_t receive_space();

  // The level this UART drives on its interrupt line now (after the OUT2
  // gate): what the last set_irq call said. For tests and diagnostics.
  bool irq_asserted();

  // Snapshots (docs/snapshots.md). save writes the registers, the receive
  // FIFO (oldest byte first), the latched interrupt sources and the IRQ
  // level last signalled; not the wiring (port, IRQ, sink). Takes the lock;
  // 30 bytes.
  // load reads them all, refuses (through `r`, naming the register) what no
  // guest could make this UART hold: bits a 16550A register lacks, more
  // bytes than the FIFO mode holds, an IRQ level its registers do not
  // imply. Only when `r.ok()` does it apply them, under the lock, so a
  // refused load changes nothing. It never calls set_irq: the interrupt
  // controllers are restored with the line levels already. Returns r.ok().
  void save(StateWriter& w);
  bool load(StateReader& r);

 private:
  static constexpr size_t kFifoSize = 16;

  uint8_t lsr_locked() const;
  uint8_t iir_locked() const;
  uint8_t modem_inputs_locked() const;
  size_t rx_capacity_locked() const;
  bool push_rx_locked(uint8_t byte);  // false: FIFO full, byte lost (OE set)
  uint8_t pop_rx_locked();
  void clear_rx_locked();
  void write_mcr_locked(uint8_t value);
  void update_irq_locked();

  MachineSignals& signals_;
  const uint16_t base_;
  const uint32_t irq_;
  std::function<void(uint8_t)> tx_;

  // Registers as software wrote them (masked to the bits a 16550A has).
  uint8_t ier_ = 0;
  uint8_t lcr_ = 0;
  uint8_t mcr_ = 0;
  uint8_t fcr_ = 0;          // write-only on the chip: FIFO enable, DMA mode, trigger
  uint8_t scr_ = 0;
  uint8_t dll_;              // divisor latch: see the constructor for the power-on value
  uint8_t dlm_;
  // Receiver state.
  std::array<uint8_t, kFifoSize> rx_{};
  size_t rx_head_ = 0;       // index of the oldest byte
  size_t rx_count_ = 0;
  uint8_t last_rx_ = 0;      // what RBR reads when the FIFO is empty
  bool overrun_ = false;     // LSR.OE until LSR is read
  // Interrupt sources that latch (the others are conditions).
  bool thre_pending_ = false;  // THR-empty interrupt: set when THR empties or ETBEI 0->1
  uint8_t msr_delta_ = 0;      // MSR[3:0]: changes of the modem inputs since MSR was read
  bool irq_level_ = false;     // what signals_.set_irq was last told
  std::mutex mutex_;
};

}  // namespace enlight::machine
