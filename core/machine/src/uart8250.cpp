// The 16550A register file and its interrupt logic (PC16550D datasheet,
// "Registers" and Table IV "Interrupt Control Functions"), shaped by what
// Linux's 8250 driver checks: autoconfig, serial8250_do_startup's THRE and
// TXEN tests, serial8250_console_write. docs/machine-devices.md.
#include <enlight/machine/uart8250.hpp>

#include <utility>

namespace enlight::machine {

namespace {

// ---- Register offsets from the base port ------------------------------------
constexpr uint16_t kRegRbrThr = 0;   // RBR (read) / THR (write); DLL when LCR.DLAB
constexpr uint16_t kRegIer = 1;      // DLM when LCR.DLAB
constexpr uint16_t kRegIirFcr = 2;   // IIR (read) / FCR (write), whatever DLAB says
constexpr uint16_t kRegLcr = 3;
constexpr uint16_t kRegMcr = 4;
constexpr uint16_t kRegLsr = 5;
constexpr uint16_t kRegMsr = 6;
constexpr uint16_t kRegScr = 7;

// ---- IER ----------------------------------------------------------------------
constexpr uint8_t kIerErbfi = 1u << 0;  // received data available
constexpr uint8_t kIerEtbei = 1u << 1;  // THR empty
constexpr uint8_t kIerElsi = 1u << 2;   // receiver line status
constexpr uint8_t kIerEdssi = 1u << 3;  // modem status
// A 16550A has the low four bits only; the upper ones read 0, which is how
// Linux's autoconfig tells it from an XScale UART (UUE, bit 6) or a 16750.
constexpr uint8_t kIerMask = 0x0F;

// ---- IIR ----------------------------------------------------------------------
constexpr uint8_t kIirNoInt = 0x01;
constexpr uint8_t kIirRls = 0x06;       // receiver line status (highest priority)
constexpr uint8_t kIirRda = 0x04;       // received data available
constexpr uint8_t kIirThre = 0x02;      // THR empty
constexpr uint8_t kIirMsr = 0x00;       // modem status (lowest)
constexpr uint8_t kIirFifoEnabled = 0xC0;  // IIR[7:6] = 11b: a 16550A with FIFOs on

// ---- FCR ----------------------------------------------------------------------
constexpr uint8_t kFcrEnable = 1u << 0;
constexpr uint8_t kFcrClearRx = 1u << 1;
// Bit 2 clears the transmit FIFO, which is always empty here.
constexpr uint8_t kFcrDma = 1u << 3;
constexpr uint8_t kFcrTrigger = 0xC0;   // RX trigger level: stored, no effect
// Bits 4-5 are reserved on a 16550A (bit 5 is the 16750's 64-byte mode:
// never kept, so Linux's 16750 test reads IIR bit 5 as 0 and passes on).
constexpr uint8_t kFcrStored = kFcrEnable | kFcrDma | kFcrTrigger;

// ---- LCR ----------------------------------------------------------------------
constexpr uint8_t kLcrDlab = 1u << 7;

// ---- MCR ----------------------------------------------------------------------
constexpr uint8_t kMcrDtr = 1u << 0;
constexpr uint8_t kMcrRts = 1u << 1;
constexpr uint8_t kMcrOut1 = 1u << 2;
constexpr uint8_t kMcrOut2 = 1u << 3;   // gates the IRQ line on PC serial ports
constexpr uint8_t kMcrLoop = 1u << 4;
constexpr uint8_t kMcrMask = 0x1F;      // bits 5-7 read 0 on a 16550A

// ---- LSR ----------------------------------------------------------------------
constexpr uint8_t kLsrDr = 1u << 0;
constexpr uint8_t kLsrOe = 1u << 1;
constexpr uint8_t kLsrThre = 1u << 5;
constexpr uint8_t kLsrTemt = 1u << 6;

// ---- MSR ----------------------------------------------------------------------
constexpr uint8_t kMsrDcts = 1u << 0;
constexpr uint8_t kMsrDdsr = 1u << 1;
constexpr uint8_t kMsrTeri = 1u << 2;
constexpr uint8_t kMsrDdcd = 1u << 3;
constexpr uint8_t kMsrDeltas = kMsrDcts | kMsrDdsr | kMsrTeri | kMsrDdcd;
constexpr uint8_t kMsrCts = 1u << 4;
constexpr uint8_t kMsrDsr = 1u << 5;
constexpr uint8_t kMsrRi = 1u << 6;
constexpr uint8_t kMsrDcd = 1u << 7;
// Outside loopback the modem inputs are those of a terminal that is
// connected and ready (CTS, DSR, DCD; no ring), as QEMU's serial port
// shows them: a getty without CLOCAL waits for DCD, and CRTSCTS for CTS.
constexpr uint8_t kMsrConnected = kMsrCts | kMsrDsr | kMsrDcd;

// Divisor at power-on: the datasheet leaves the latch undefined after reset;
// 1 is 115200 baud, what firmware leaves for a console. Not 0: Linux's
// probe_baud (console=uart8250,io,0x3f8 without options) divides by it.
constexpr uint8_t kPowerOnDll = 0x01;
constexpr uint8_t kPowerOnDlm = 0x00;

// IIR from the interrupt sources, priorities of datasheet Table IV. The
// character timeout (0x0C) is not generated: data in the FIFO is reported
// as "data available" at once, whatever the trigger level, and Linux
// handles both the same way.
uint8_t iir_of(uint8_t ier, uint8_t fcr, bool overrun, size_t rx_count, bool thre_pending, uint8_t msr_delta) {
  uint8_t id = kIirNoInt;
  if ((ier & kIerElsi) && overrun) {
    id = kIirRls;
  } else if ((ier & kIerErbfi) && rx_count > 0) {
    id = kIirRda;
  } else if ((ier & kIerEtbei) && thre_pending) {
    id = kIirThre;
  } else if ((ier & kIerEdssi) && (msr_delta & kMsrDeltas)) {
    id = kIirMsr;
  }
  if (fcr & kFcrEnable) id |= kIirFifoEnabled;
  return id;
}

// The level on the ISA line. On a PC the UART's INTR reaches it through a
// buffer enabled by OUT2 (Linux: "Most PC uarts need OUT2 raised to enable
// interrupts", serial8250_do_startup sets TIOCM_OUT2 when the port has an
// IRQ and shutdown clears it). Loopback forces the OUT2 pin inactive
// (datasheet MCR bit 4), so the line is not driven then either; IIR still
// reports the pending source, which is what Linux's startup tests read.
bool irq_level_of(uint8_t iir, uint8_t mcr) { return !(iir & kIirNoInt) && (mcr & kMcrOut2) && !(mcr & kMcrLoop); }

}  // namespace

Uart8250::Uart8250(MachineSignals& signals, uint16_t base, uint32_t irq, std::function<void(uint8_t)> tx)
    : signals_(signals), base_(base), irq_(irq), tx_(std::move(tx)), dll_(kPowerOnDll), dlm_(kPowerOnDlm) {}

uint32_t Uart8250::in(uint16_t port, uint8_t /*size*/) {
  std::lock_guard lock(mutex_);
  const bool dlab = lcr_ & kLcrDlab;
  uint8_t value = 0;
  switch (static_cast<uint16_t>(port - base_)) {
    case kRegRbrThr:
      if (dlab) {
        value = dll_;
      } else {
        value = pop_rx_locked();
      }
      break;
    case kRegIer:
      value = dlab ? dlm_ : ier_;
      break;
    case kRegIirFcr:
      // A 16550A has no EFR: with LCR = 0xBF (Linux's probe for the
      // ST16C650/TI16C75x EFR) this is IIR as usual, never 0, which is what
      // tells autoconfig_16550a there is no EFR.
      value = iir_locked();
      // Reading IIR acknowledges the THR-empty interrupt when it is the one
      // reported (datasheet Table IV); lower-priority sources stay.
      if ((value & ~kIirFifoEnabled) == kIirThre) thre_pending_ = false;
      break;
    case kRegLcr:
      value = lcr_;
      break;
    case kRegMcr:
      value = mcr_;
      break;
    case kRegLsr:
      value = lsr_locked();
      overrun_ = false;  // OE (and the line-status interrupt) clear on read
      break;
    case kRegMsr:
      value = modem_inputs_locked() | msr_delta_;
      msr_delta_ = 0;
      break;
    case kRegScr:
      value = scr_;
      break;
    default:
      return 0;  // not a port of this UART: the backend routes only base..base+7
  }
  update_irq_locked();
  return value;
}

void Uart8250::out(uint16_t port, uint8_t /*size*/, uint32_t value32) {
  std::lock_guard lock(mutex_);
  const uint8_t value = static_cast<uint8_t>(value32);
  const bool dlab = lcr_ & kLcrDlab;
  switch (static_cast<uint16_t>(port - base_)) {
    case kRegRbrThr:
      if (dlab) {
        dll_ = value;
        break;
      }
      // The byte leaves THR at once, so THR is empty again by the time the
      // write returns: writing THR clears the THR-empty interrupt and the
      // "transmission" sets it again. In loopback the transmitter's output
      // is wired to the receiver and the line stays idle (datasheet MCR bit 4).
      if (mcr_ & kMcrLoop) {
        push_rx_locked(value);
      } else if (tx_) {
        // The sink is the host's: if it fails (e.g. cannot grow its buffer)
        // the byte is lost, as on a line nobody listens to, and the guest
        // carries on (device.hpp: in/out never throw).
        try {
          tx_(value);
        } catch (...) {
        }
      }
      thre_pending_ = true;
      break;
    case kRegIer: {
      if (dlab) {
        dlm_ = value;
        break;
      }
      const uint8_t old = ier_;
      ier_ = value & kIerMask;
      // Enabling ETBEI while THR is empty (always, here) raises the
      // interrupt again: serial8250_do_startup's test for UART_BUG_THRE
      // clears it by reading IIR, toggles IER.THRI and expects it back, and
      // the tx path (__start_tx) relies on the same edge for every burst.
      if (!(old & kIerEtbei) && (ier_ & kIerEtbei)) thre_pending_ = true;
      break;
    }
    case kRegIirFcr: {
      // FCR, whatever DLAB says. Bits other than FIFO-enable are programmed
      // only when that write also sets FIFO-enable (datasheet FCR0); a change
      // of FIFO-enable empties the FIFOs either way.
      const bool was_enabled = fcr_ & kFcrEnable;
      const bool enable = value & kFcrEnable;
      if (was_enabled != enable) clear_rx_locked();
      if (enable) {
        fcr_ = value & kFcrStored;
        if (value & kFcrClearRx) clear_rx_locked();
      } else {
        fcr_ = 0;
      }
      break;
    }
    case kRegLcr:
      lcr_ = value;
      break;
    case kRegMcr:
      write_mcr_locked(value & kMcrMask);
      break;
    case kRegLsr:
    case kRegMsr:
      // Writable on the chip for factory test only; software writing them
      // is undefined. Ignored.
      break;
    case kRegScr:
      scr_ = value;
      break;
    default:
      return;
  }
  update_irq_locked();
}

size_t Uart8250::receive(const uint8_t* data, size_t n) {
  std::lock_guard lock(mutex_);
  size_t accepted = 0;
  // In loopback the serial input pin is disconnected: nothing arrives and
  // nothing is lost either (the caller keeps its bytes).
  if (mcr_ & kMcrLoop) return 0;
  // Once the FIFO is full the rest are lost alike: one overrun says so.
  while (accepted < n && push_rx_locked(data[accepted])) ++accepted;
  update_irq_locked();
  return accepted;
}

size_t Uart8250::receive_space() {
  std::lock_guard lock(mutex_);
  if (mcr_ & kMcrLoop) return 0;
  return rx_capacity_locked() - rx_count_;
}

bool Uart8250::irq_asserted() {
  std::lock_guard lock(mutex_);
  return irq_level_;
}

uint8_t Uart8250::lsr_locked() const {
  // THR and the transmitter shift register are always empty: transmission
  // is instantaneous, so serial8250_console_write's wait_for_xmitr and
  // wait_for_lsr never spin. PE, FE, BI and the FIFO error bit never occur.
  uint8_t lsr = kLsrThre | kLsrTemt;
  if (rx_count_ > 0) lsr |= kLsrDr;
  if (overrun_) lsr |= kLsrOe;
  return lsr;
}

uint8_t Uart8250::iir_locked() const {
  return iir_of(ier_, fcr_, overrun_, rx_count_, thre_pending_, msr_delta_);
}

uint8_t Uart8250::modem_inputs_locked() const {
  if (!(mcr_ & kMcrLoop)) return kMsrConnected;
  // Loopback wiring (datasheet MCR bit 4): RTS->CTS, DTR->DSR, OUT1->RI,
  // OUT2->DCD. Linux's autoconfig loopback test writes LOOP|OUT2|RTS and
  // expects MSR[7:4] = DCD|CTS (0x90).
  uint8_t msr = 0;
  if (mcr_ & kMcrRts) msr |= kMsrCts;
  if (mcr_ & kMcrDtr) msr |= kMsrDsr;
  if (mcr_ & kMcrOut1) msr |= kMsrRi;
  if (mcr_ & kMcrOut2) msr |= kMsrDcd;
  return msr;
}

size_t Uart8250::rx_capacity_locked() const { return (fcr_ & kFcrEnable) ? kFifoSize : 1; }

bool Uart8250::push_rx_locked(uint8_t byte) {
  if (rx_count_ >= rx_capacity_locked()) {
    // The FIFO keeps what it has; the new character is lost (datasheet LSR1).
    overrun_ = true;
    return false;
  }
  rx_[(rx_head_ + rx_count_) % kFifoSize] = byte;
  ++rx_count_;
  return true;
}

uint8_t Uart8250::pop_rx_locked() {
  if (rx_count_ == 0) return last_rx_;
  last_rx_ = rx_[rx_head_];
  rx_head_ = (rx_head_ + 1) % kFifoSize;
  --rx_count_;
  return last_rx_;
}

void Uart8250::clear_rx_locked() {
  rx_head_ = 0;
  rx_count_ = 0;
}

void Uart8250::write_mcr_locked(uint8_t value) {
  const uint8_t before = modem_inputs_locked();
  mcr_ = value;
  const uint8_t after = modem_inputs_locked();
  const uint8_t changed = before ^ after;
  if (changed & kMsrCts) msr_delta_ |= kMsrDcts;
  if (changed & kMsrDsr) msr_delta_ |= kMsrDdsr;
  if (changed & kMsrDcd) msr_delta_ |= kMsrDdcd;
  if ((before & kMsrRi) && !(after & kMsrRi)) msr_delta_ |= kMsrTeri;  // trailing edge only
}

void Uart8250::update_irq_locked() {
  const bool level = irq_level_of(iir_locked(), mcr_);
  if (level == irq_level_) return;
  irq_level_ = level;
  signals_.set_irq(irq_, level);
}

void Uart8250::save(StateWriter& w) {
  std::lock_guard lock(mutex_);
  w.put(ier_), w.put(lcr_), w.put(mcr_), w.put(fcr_), w.put(scr_), w.put(dll_), w.put(dlm_);
  // The ring from its head, so the FIFO's bytes come oldest first (the
  // slots past rx_count_ are stale, kept for an exact copy).
  w.put(static_cast<uint8_t>(rx_head_));
  w.put(static_cast<uint8_t>(rx_count_));
  for (size_t i = 0; i < kFifoSize; ++i) w.put(rx_[(rx_head_ + i) % kFifoSize]);
  w.put(last_rx_), w.put(overrun_), w.put(thre_pending_), w.put(msr_delta_), w.put(irq_level_);
}

bool Uart8250::load(StateReader& r) {
  const auto ier = r.get<uint8_t>(), lcr = r.get<uint8_t>(), mcr = r.get<uint8_t>(), fcr = r.get<uint8_t>();
  const auto scr = r.get<uint8_t>(), dll = r.get<uint8_t>(), dlm = r.get<uint8_t>();
  const auto head = r.get<uint8_t>(), count = r.get<uint8_t>();
  std::array<uint8_t, kFifoSize> fifo{};  // oldest first
  r.get(fifo);
  const auto last_rx = r.get<uint8_t>();
  const auto overrun = r.get<bool>(), thre_pending = r.get<bool>();
  const auto msr_delta = r.get<uint8_t>();
  const auto irq_level = r.get<bool>();
  // What out() lets a guest store (LCR, SCR and the divisor take any byte).
  if (ier & ~kIerMask) r.refuse("UART IER", ier, "bits 7:4 do not exist on a 16550A");
  if (mcr & ~kMcrMask) r.refuse("UART MCR", mcr, "bits 7:5 do not exist on a 16550A");
  if (fcr & ~kFcrStored) r.refuse("UART FCR", fcr, "only FIFO enable, DMA mode and the trigger level are kept");
  if (head >= kFifoSize) r.refuse("UART receive FIFO head", head, "past the 16-byte FIFO");
  if (count > kFifoSize) r.refuse("UART receive FIFO count", count, "more than the 16-byte FIFO holds");
  if (count > 1 && !(fcr & kFcrEnable))
    r.refuse("UART receive FIFO count", count, "more than RBR holds with the FIFOs off (16450 mode)");
  if (msr_delta & ~kMsrDeltas) r.refuse("UART MSR deltas", msr_delta, "only MSR bits 3:0 latch");
  // The level follows the registers after every access (update_irq_locked):
  // another one would make the next change signal a wrong edge.
  if (r.ok() && irq_level != irq_level_of(iir_of(ier, fcr, overrun, count, thre_pending, msr_delta), mcr))
    r.refuse("UART IRQ level", irq_level, "not what IER, IIR's sources and MCR.OUT2 imply");
  if (!r.ok()) return false;
  std::lock_guard lock(mutex_);
  ier_ = ier, lcr_ = lcr, mcr_ = mcr, fcr_ = fcr, scr_ = scr, dll_ = dll, dlm_ = dlm;
  rx_head_ = head;
  rx_count_ = count;
  for (size_t i = 0; i < kFifoSize; ++i) rx_[(rx_head_ + i) % kFifoSize] = fifo[i];
  last_rx_ = last_rx, overrun_ = overrun, thre_pending_ = thre_pending, msr_delta_ = msr_delta;
  irq_level_ = irq_level;
  return true;
}

}  // namespace enlight::machine
