#include <enlight/machine/lapic.hpp>

#include <algorithm>
#include <atomic>

namespace enlight::machine {
namespace {
constexpr uint32_t kId = 0x802, kVersion = 0x803, kTpr = 0x808, kPpr = 0x80A, kEoi = 0x80B, kLdr = 0x80D,
                   kSvr = 0x80F, kIsr0 = 0x810, kTmr0 = 0x818, kIrr0 = 0x820, kEsr = 0x828, kIcr = 0x830,
                   kLvtTimer = 0x832, kLvtFirst = 0x82F, kLvtLast = 0x837, kInitCount = 0x838,
                   kCurCount = 0x839, kDivide = 0x83E, kSelfIpi = 0x83F;
constexpr uint32_t kTimerPeriodic = 1u << 17;
constexpr uint32_t kMasked = 1u << 16;
constexpr uint32_t kSvrSoftwareEnable = 1u << 8;
}  // namespace

int Lapic::highest(const uint32_t (&bits)[8]) noexcept {
  for (int i = 7; i >= 0; --i)
    if (bits[i] != 0) return i * 32 + 31 - __builtin_clz(bits[i]);
  return -1;
}

uint64_t Lapic::ns_per_count() const noexcept {
  // Divide configuration bits 0,1,3: 000=2 001=4 010=8 011=16 100=32 101=64 110=128 111=1.
  const uint32_t code = (divide_ & 3) | ((divide_ >> 1) & 4);
  const uint64_t div = code == 7 ? 1 : (2ull << code);
  const uint64_t hz = apic_hz_ ? apic_hz_ : 1'000'000'000ull;
  const uint64_t ns = div * 1'000'000'000ull / hz;
  return ns ? ns : 1;
}

uint32_t Lapic::current_count(uint64_t now_ns) const noexcept {
  if (deadline_ns_ == 0 || initial_count_ == 0) return 0;
  const uint64_t elapsed = (now_ns - timer_start_ns_) / ns_per_count();
  if (lvt_timer_ & kTimerPeriodic) return initial_count_ - static_cast<uint32_t>(elapsed % initial_count_);
  return elapsed >= initial_count_ ? 0 : initial_count_ - static_cast<uint32_t>(elapsed);
}

void Lapic::arm(uint64_t now_ns) {
  timer_start_ns_ = now_ns;
  deadline_ns_ = initial_count_ ? now_ns + uint64_t{initial_count_} * ns_per_count() : 0;
  if (deadline_ns_ == 0 && initial_count_) deadline_ns_ = 1;
}

bool Lapic::read(uint32_t index, uint64_t& value, uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  value = 0;
  if (index == kApicBase) {
    value = apic_base_ | (id_ == 0 ? (1ull << 8) : 0);
    return true;
  }
  if (index >= kIsr0 && index < kIsr0 + 8) { value = isr_[index - kIsr0]; return true; }
  if (index >= kTmr0 && index < kTmr0 + 8) return true;  // edge-triggered only
  if (index >= kIrr0 && index < kIrr0 + 8) { value = irr_[index - kIrr0]; return true; }
  switch (index) {
    case kId: value = id_; return true;
    // Version 0x14, six LVT entries (max LVT index 5), no EOI broadcast suppression.
    case kVersion: value = 0x14 | (5u << 16); return true;
    case kTpr: value = tpr_; return true;
    case kPpr: {
      const int isr = highest(isr_);
      const uint32_t isrv = isr < 0 ? 0 : static_cast<uint32_t>(isr);
      value = (tpr_ >> 4) >= (isrv >> 4) ? tpr_ : (isrv & 0xF0);
      return true;
    }
    case kLdr: value = ((id_ >> 4) << 16) | (1u << (id_ & 15)); return true;
    case kSvr: value = svr_; return true;
    case kEsr: return true;
    case kLvtTimer: value = lvt_timer_; return true;
    case kInitCount: value = initial_count_; return true;
    case kCurCount: value = current_count(now_ns); return true;
    case kDivide: value = divide_; return true;
    default:
      if (index >= kLvtFirst && index <= kLvtLast) { value = kMasked; return true; }
      return false;  // EOI and self-IPI are write-only; the rest is reserved
  }
}

bool Lapic::empty(const uint32_t (&bits)[8]) noexcept {
  for (uint32_t w : bits)
    if (w != 0) return false;
  return true;
}

int Lapic::eoi_locked() {
  const int v = highest(isr_);
  if (v < 0) return -1;
  clear(isr_, static_cast<uint8_t>(v));
  if (v == pv_vector_) {
    // The guest ignored the assist bit and wrote EOI: the permission lapses.
    std::atomic_ref<uint32_t>(*pv_word_).fetch_and(~1u, std::memory_order_relaxed);
    pv_vector_ = -1;
  }
  return v;
}

void Lapic::set_pv_eoi(uint32_t* word) {
  std::lock_guard lock(mutex_);
  if (pv_word_ != nullptr && pv_vector_ >= 0) std::atomic_ref<uint32_t>(*pv_word_).fetch_and(~1u, std::memory_order_relaxed);
  pv_word_ = word;
  pv_vector_ = -1;
}

int Lapic::sync_pv_eoi() {
  std::lock_guard lock(mutex_);
  if (pv_vector_ < 0) return -1;
  std::atomic_ref<uint32_t> word(*pv_word_);
  // Still set and nothing new pending: the permission stands.
  if ((word.load(std::memory_order_acquire) & 1u) != 0 && empty(irr_)) return -1;
  // Take the bit back; if the guest had already cleared it, it skipped its
  // EOI and the vector retires here.
  const uint32_t old = word.fetch_and(~1u, std::memory_order_acq_rel);
  const int v = pv_vector_;
  pv_vector_ = -1;
  if ((old & 1u) != 0) return -1;
  clear(isr_, static_cast<uint8_t>(v));
  return v;
}

bool Lapic::write(uint32_t index, uint64_t value, uint64_t now_ns, std::optional<IpiRequest>& ipi, int& eoi_vector) {
  std::lock_guard lock(mutex_);
  eoi_vector = -1;
  const uint32_t lo = static_cast<uint32_t>(value);
  switch (index) {
    case kApicBase: apic_base_ = value & ~(1ull << 8); return true;  // BSP is read-only
    case kTpr: tpr_ = lo & 0xFF; return true;
    case kEoi: {
      // x2APIC: a non-zero EOI write is #GP.
      if (value != 0) return false;
      eoi_vector = eoi_locked();
      return true;
    }
    case kSvr: svr_ = lo & 0x13FF; return true;
    case kEsr: return true;
    case kIcr: {
      const uint32_t mode = (lo >> 8) & 7;
      if (mode != 0) return true;  // only fixed delivery is modelled; INIT/SIPI/NMI are dropped
      IpiRequest r;
      r.vector = static_cast<uint8_t>(lo & 0xFF);
      switch ((lo >> 18) & 3) {
        case 1: r.dest = IpiRequest::Dest::Self; break;
        case 2: r.dest = IpiRequest::Dest::All; break;
        case 3: r.dest = IpiRequest::Dest::AllButSelf; break;
        default: r.dest = IpiRequest::Dest::Physical; r.target = static_cast<uint32_t>(value >> 32); break;
      }
      ipi = r;
      return true;
    }
    case kSelfIpi: ipi = IpiRequest{IpiRequest::Dest::Self, 0, static_cast<uint8_t>(lo & 0xFF)}; return true;
    case kLvtTimer:
      lvt_timer_ = lo & (0xFF | kMasked | kTimerPeriodic);
      return true;
    case kInitCount:
      initial_count_ = lo;
      arm(now_ns);
      return true;
    case kDivide: divide_ = lo & 0xB; return true;
    default:
      if (index >= kLvtFirst && index <= kLvtLast) return true;  // other LVTs: accepted, never fire
      return false;
  }
}

bool Lapic::set_irr(uint8_t vector, bool auto_eoi) {
  if (vector < 16) return false;
  std::lock_guard lock(mutex_);
  // A software-disabled APIC (SVR bit 8 clear, its state at reset) does not
  // accept fixed interrupts (SDM "Local APIC State After It Has Been
  // Software Disabled"; KVM's __apic_accept_irq drops them and
  // KVM_SIGNAL_MSI answers 0): the sender sees the refusal.
  if (!(svr_ & kSvrSoftwareEnable)) return false;
  set(irr_, vector);
  if (auto_eoi) set(auto_eoi_, vector);
  else clear(auto_eoi_, vector);
  return true;
}

std::optional<uint8_t> Lapic::deliverable() {
  std::lock_guard lock(mutex_);
  const int v = highest(irr_);
  if (v < 0) return std::nullopt;
  const int isr = highest(isr_);
  const int floor = std::max(static_cast<int>(tpr_ >> 4), isr < 0 ? 0 : isr >> 4);
  if ((v >> 4) <= floor) return std::nullopt;
  return static_cast<uint8_t>(v);
}

void Lapic::accept(uint8_t vector) {
  std::lock_guard lock(mutex_);
  clear(irr_, vector);
  if (test(auto_eoi_, vector)) {
    clear(auto_eoi_, vector);
    return;  // retired as it is taken: nothing in service, nothing to EOI
  }
  set(isr_, vector);
  // KVM's rule for granting a PV EOI: nothing else pending, nothing else in
  // service (so the skipped EOI could only have retired this vector).
  if (pv_word_ != nullptr && pv_vector_ < 0 && empty(irr_)) {
    uint32_t isr_copy[8];
    for (int i = 0; i < 8; ++i) isr_copy[i] = isr_[i];
    clear(isr_copy, vector);
    if (empty(isr_copy)) {
      std::atomic_ref<uint32_t>(*pv_word_).fetch_or(1u, std::memory_order_release);
      pv_vector_ = vector;
    }
  }
}

bool Lapic::in_service(uint8_t vector) {
  std::lock_guard lock(mutex_);
  return test(isr_, vector);
}

bool Lapic::poll_timer(uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  if (deadline_ns_ == 0 || now_ns < deadline_ns_) return false;
  if (lvt_timer_ & kTimerPeriodic) {
    const uint64_t period = uint64_t{initial_count_} * ns_per_count();
    // Skip missed periods instead of firing a burst (a real APIC coalesces too).
    deadline_ns_ += ((now_ns - deadline_ns_) / period + 1) * period;
  } else {
    deadline_ns_ = 0;
  }
  // Software-disabled APIC (SVR bit 8 clear) or masked LVT: the count runs, nothing fires.
  if ((lvt_timer_ & kMasked) || !(svr_ & kSvrSoftwareEnable)) return false;
  const uint8_t v = static_cast<uint8_t>(lvt_timer_ & 0xFF);
  if (v < 16) return false;
  set(irr_, v);
  return true;
}

std::optional<uint64_t> Lapic::timer_deadline() {
  std::lock_guard lock(mutex_);
  if (deadline_ns_ == 0) return std::nullopt;
  return deadline_ns_;
}

}  // namespace enlight::machine

namespace enlight::machine {

int Lapic::revoke_pv_eoi() {
  std::lock_guard lock(mutex_);
  if (pv_vector_ < 0) return -1;
  const uint32_t old = std::atomic_ref<uint32_t>(*pv_word_).fetch_and(~1u, std::memory_order_acq_rel);
  const int v = pv_vector_;
  pv_vector_ = -1;
  if ((old & 1u) != 0) return -1;  // still granted: now the guest writes the EOI MSR
  clear(isr_, static_cast<uint8_t>(v));
  return v;
}

namespace {
// The saved form, version 1: apic_base u64, then u32 each of tpr, svr,
// lvt_timer, initial_count, divide, irr[8], isr[8], auto_eoi[8], then the
// timer's time left u64 (0: not armed) and time since it started u64.
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateBytes = 4 + 8 + 5 * 4 + 24 * 4 + 8 + 8;
void put(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t take(const uint8_t*& p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  p += n;
  return v;
}
}  // namespace

std::vector<uint8_t> Lapic::save(uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> out;
  put(out, kStateVersion, 4);
  put(out, apic_base_, 8);
  for (uint32_t v : {tpr_, svr_, lvt_timer_, initial_count_, divide_}) put(out, v, 4);
  for (const auto* bits : {&irr_, &isr_, &auto_eoi_})
    for (uint32_t w : *bits) put(out, w, 4);
  put(out, deadline_ns_ == 0 ? 0 : deadline_ns_ > now_ns ? deadline_ns_ - now_ns : 1, 8);
  put(out, deadline_ns_ == 0 ? 0 : now_ns - timer_start_ns_, 8);
  return out;
}

bool Lapic::load(const uint8_t* data, size_t size, uint64_t now_ns, std::string& why) {
  if (size != kStateBytes) {
    why = "local APIC state of " + std::to_string(size) + " bytes (" + std::to_string(kStateBytes) + " expected)";
    return false;
  }
  const uint8_t* p = data;
  if (take(p, 4) != kStateVersion) {
    why = "local APIC state of another version";
    return false;
  }
  const uint64_t base = take(p, 8);
  uint32_t regs[5];
  for (uint32_t& r : regs) r = static_cast<uint32_t>(take(p, 4));
  uint32_t bits[3][8];
  for (auto& b : bits)
    for (uint32_t& w : b) w = static_cast<uint32_t>(take(p, 4));
  const uint64_t left = take(p, 8), since = take(p, 8);
  const auto bad = [&why](const std::string& w) {
    why = "local APIC state: " + w;
    return false;
  };
  // What write() lets a guest store, and nothing else.
  if ((base & (1ull << 8)) != 0) return bad("IA32_APIC_BASE has the read-only BSP bit set");
  if (regs[0] > 0xFF) return bad("TPR above 0xFF");
  if ((regs[1] & ~0x1FFu) != 0) return bad("SVR has reserved bits set");
  if ((regs[2] & ~(0xFFu | kMasked | kTimerPeriodic)) != 0) return bad("LVT timer has reserved bits set");
  if ((regs[4] & ~0xBu) != 0) return bad("divide configuration has reserved bits set");
  for (const auto& b : bits)
    if ((b[0] & 0xFFFFu) != 0) return bad("a vector below 16 is pending or in service");
  std::lock_guard lock(mutex_);
  const uint32_t old_divide = divide_;
  divide_ = regs[4];
  const uint64_t span = uint64_t{regs[3]} * ns_per_count();
  divide_ = old_divide;
  if (left != 0 && (regs[3] == 0 || left > span)) return bad("the timer has more time left than its count allows");
  apic_base_ = base;
  tpr_ = regs[0], svr_ = regs[1], lvt_timer_ = regs[2], initial_count_ = regs[3], divide_ = regs[4];
  std::copy(bits[0], bits[0] + 8, irr_);
  std::copy(bits[1], bits[1] + 8, isr_);
  std::copy(bits[2], bits[2] + 8, auto_eoi_);
  // The timer goes on from where it was: its deadline `left` from now, its
  // start (the current count's origin) `since` before now, in whole periods.
  deadline_ns_ = left == 0 ? 0 : now_ns + left;
  timer_start_ns_ = left == 0 ? 0 : now_ns - std::min(span == 0 ? 0 : since % span, now_ns);
  pv_word_ = nullptr;
  pv_vector_ = -1;
  return true;
}

}  // namespace enlight::machine
