// ACPI fixed hardware registers (ACPI 6.5 ch. 4.8.3) and the reset register
// as Linux's ACPICA drives them: acpi_hw_legacy_sleep for S5,
// acpi_reset/acpi_reboot for RESET_REG, acpi_pm_read for the PM timer
// clocksource. docs/machine-devices.md.
#include <enlight/machine/acpi_pm.hpp>

#include <utility>

namespace enlight::machine {

namespace {

// ---- PM1_STS / PM1_EN (4.8.3.1) ------------------------------------------------
// Every status bit is write-one-to-clear, all 16 of them; none is ever set
// by the machine: TMR_STS (bit 0, the timer's bit-23 carry), PWRBTN_STS,
// RTC_STS and WAK_STS (bit 15) have no event behind them here. PM1_EN is
// plain read/write.

// ---- PM1_CNT (4.8.3.2.1) -------------------------------------------------------
constexpr uint16_t kCntSciEn = 1u << 0;   // reads 1: always in ACPI mode
constexpr uint16_t kCntGblRls = 1u << 2;  // write-only (raises an SMI for the BIOS: there is none)
constexpr uint16_t kCntSlpTypShift = 10;
constexpr uint16_t kCntSlpTypMask = 0x7u << kCntSlpTypShift;
constexpr uint16_t kCntSlpEn = 1u << 13;  // write-only
constexpr uint16_t kCntWriteOnly = kCntSlpEn | kCntGblRls;

// ---- Reset register (FADT RESET_REG, ICH9 RST_CNT) -------------------------------
constexpr uint8_t kRstCpu = 1u << 2;      // 1: reset now (Linux: RESET_VALUE 0x06)

// ---- Byte ports ------------------------------------------------------------------
constexpr uint16_t kStsLo = kAcpiPm1aEvent + 0, kStsHi = kAcpiPm1aEvent + 1;
constexpr uint16_t kEnLo = kAcpiPm1aEvent + 2, kEnHi = kAcpiPm1aEvent + 3;
constexpr uint16_t kCntLo = kAcpiPm1aControl + 0, kCntHi = kAcpiPm1aControl + 1;
static_assert(kAcpiPm1EventLength == 4 && kAcpiPm1ControlLength == 2 && kAcpiPmTimerLength == 4);

constexpr uint8_t kUndecoded = 0xFF;      // a port nobody decodes: the ISA bus floats high

constexpr const char* kResetHow = "ACPI reset register";

constexpr uint8_t lo(uint16_t v) { return static_cast<uint8_t>(v); }
constexpr uint8_t hi(uint16_t v) { return static_cast<uint8_t>(v >> 8); }
constexpr uint16_t with_lo(uint16_t v, uint8_t b) { return static_cast<uint16_t>((v & 0xFF00) | b); }
constexpr uint16_t with_hi(uint16_t v, uint8_t b) { return static_cast<uint16_t>((v & 0x00FF) | (b << 8)); }

bool is_timer_port(uint16_t port) { return port >= kAcpiPmTimer && port < kAcpiPmTimer + kAcpiPmTimerLength; }

}  // namespace

AcpiPm::AcpiPm(MachineSignals& signals, std::function<uint64_t()> now_ns)
    : signals_(signals), now_ns_(std::move(now_ns)) {}

uint32_t AcpiPm::in(uint16_t port, uint8_t size) {
  std::lock_guard lock(mutex_);
  if (size != 1 && size != 2 && size != 4) size = 1;  // the backend checks; be safe anyway
  // One timer sample per access, so a 32-bit read is one consistent count
  // (acpi_pm_read reads PM_TMR as a 32-bit value) and only reads that touch
  // the timer call the clock.
  uint32_t timer = 0;
  for (uint8_t i = 0; i < size; ++i) {
    if (is_timer_port(static_cast<uint16_t>(port + i))) {
      timer = pm_timer_count(timer_ns_locked());
      break;
    }
  }
  uint32_t value = 0;
  for (uint8_t i = 0; i < size; ++i)
    value |= uint32_t{read_byte_locked(static_cast<uint16_t>(port + i), timer)} << (8 * i);
  return value;
}

void AcpiPm::out(uint16_t port, uint8_t size, uint32_t value) {
  std::lock_guard lock(mutex_);
  if (size != 1 && size != 2 && size != 4) size = 1;
  // Low byte first: a 16-bit PM1_CNT write stores SLP_TYP (bits 12:10) and
  // acts on SLP_EN (bit 13) in its high byte, together.
  for (uint8_t i = 0; i < size; ++i)
    write_byte_locked(static_cast<uint16_t>(port + i), static_cast<uint8_t>(value >> (8 * i)));
  update_sci_locked();
}

void AcpiPm::set_status(uint16_t bits) {
  std::lock_guard lock(mutex_);
  pm1_sts_ |= bits;
  update_sci_locked();
}

uint16_t AcpiPm::pm1_status() {
  std::lock_guard lock(mutex_);
  return pm1_sts_;
}

uint16_t AcpiPm::pm1_enable() {
  std::lock_guard lock(mutex_);
  return pm1_en_;
}

uint16_t AcpiPm::pm1_control() {
  std::lock_guard lock(mutex_);
  return pm1_cnt_ | kCntSciEn;
}

bool AcpiPm::sci_asserted() {
  std::lock_guard lock(mutex_);
  return sci_level_;
}

uint64_t AcpiPm::timer_ns_locked() const { return now_ns_() + static_cast<uint64_t>(timer_offset_ns_); }

void AcpiPm::save(StateWriter& w, uint64_t stopped_ns) {
  std::lock_guard lock(mutex_);
  w.put(pm1_sts_), w.put(pm1_en_), w.put(pm1_cnt_), w.put(reset_reg_), w.put(sci_level_);
  w.put(stopped_ns + static_cast<uint64_t>(timer_offset_ns_));
}

bool AcpiPm::load(StateReader& r) {
  // PM1_EN takes any value; PM1_STS any a host event source may set
  // (set_status), the guest only clearing bits.
  const auto sts = r.get<uint16_t>(), en = r.get<uint16_t>(), cnt = r.get<uint16_t>();
  const auto reset_reg = r.get<uint8_t>();
  const auto sci_level = r.get<bool>();
  const auto timer_ns = r.get<uint64_t>();  // any: the counter wraps every 4.69 s
  if (cnt & kCntWriteOnly) r.refuse("PM1_CNT", cnt, "SLP_EN and GBL_RLS are write-only, never stored");
  if (reset_reg & kRstCpu) r.refuse("ACPI reset register", reset_reg, "RST_CPU is never stored");
  // The level follows the registers after every access (update_sci_locked):
  // another one would make the next change signal a wrong edge.
  if (sci_level != ((sts & en) != 0))
    r.refuse("ACPI SCI level", sci_level, "not what PM1_STS & PM1_EN imply");
  if (!r.ok()) return false;
  std::lock_guard lock(mutex_);
  pm1_sts_ = sts, pm1_en_ = en, pm1_cnt_ = cnt, reset_reg_ = reset_reg, sci_level_ = sci_level;
  timer_offset_ns_ = static_cast<int64_t>(timer_ns - now_ns_());
  return true;
}

uint8_t AcpiPm::read_byte_locked(uint16_t port, uint32_t timer) {
  if (is_timer_port(port)) return static_cast<uint8_t>(timer >> (8 * (port - kAcpiPmTimer)));
  switch (port) {
    case kStsLo: return lo(pm1_sts_);
    case kStsHi: return hi(pm1_sts_);
    case kEnLo: return lo(pm1_en_);
    case kEnHi: return hi(pm1_en_);
    case kCntLo: return lo(pm1_cnt_ | kCntSciEn);
    case kCntHi: return hi(pm1_cnt_);
    case kResetControl: return reset_reg_;
    default: return kUndecoded;
  }
}

void AcpiPm::write_byte_locked(uint16_t port, uint8_t value) {
  switch (port) {
    case kStsLo:
      pm1_sts_ &= static_cast<uint16_t>(~value);
      break;
    case kStsHi:
      pm1_sts_ &= static_cast<uint16_t>(~(value << 8));
      break;
    case kEnLo:
      pm1_en_ = with_lo(pm1_en_, value);
      break;
    case kEnHi:
      pm1_en_ = with_hi(pm1_en_, value);
      break;
    case kCntLo:
      pm1_cnt_ = with_lo(pm1_cnt_, value) & ~kCntWriteOnly;
      break;
    case kCntHi: {
      const uint16_t written = with_hi(pm1_cnt_, value);
      pm1_cnt_ = written & ~kCntWriteOnly;
      // SLP_EN with \_S5's SLP_TYP: the guest is off. The DSDT defines no
      // \_S1-\_S4, so Linux never asks for those; a guest that writes
      // SLP_EN with another type anyway is ignored (and, waiting for
      // WAK_STS as acpi_hw_legacy_sleep would, waits forever: nothing wakes
      // it, since it never slept).
      if ((written & kCntSlpEn) && ((written & kCntSlpTypMask) >> kCntSlpTypShift) == kSlpTypS5)
        signals_.power_off();
      break;
    }
    case kResetControl:
      reset_reg_ = value & ~kRstCpu;
      // Every write with RST_CPU resets: Linux's acpi_reboot writes
      // RESET_VALUE (0x06), reboot=pci writes SYS_RST (0x02) then 0x06; the
      // first must not reset, the second must.
      if (value & kRstCpu) signals_.reset(kResetHow);
      break;
    default:
      break;  // the PM timer is read-only; undecoded ports ignore writes
  }
}

void AcpiPm::update_sci_locked() {
  // SCI = any enabled status bit (4.8.3.1); SCI_EN is always 1. Level,
  // active high (the MADT interrupt override for kIrqSci says so).
  const bool level = (pm1_sts_ & pm1_en_) != 0;
  if (level == sci_level_) return;
  sci_level_ = level;
  signals_.set_irq(kIrqSci, level);
}

}  // namespace enlight::machine
