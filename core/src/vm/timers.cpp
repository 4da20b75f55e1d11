// Plugin timers and EOI watches: the state behind enlight_host's timer_* and
// eoi_* services. Created while plugins are created, fixed afterwards; the
// exit path only loads and stores atomics here.
#include <enlight/core/vm.hpp>

namespace enlight {

uint32_t TimerTable::create(uint32_t vcpu, enlight_timer_fn fn, void* arg) {
  Slot& s = slots_.emplace_back();
  s.fn = fn;
  s.arg = arg;
  s.vcpu = vcpu;
  return static_cast<uint32_t>(slots_.size() - 1);
}

void TimerTable::freeze(uint32_t vcpus) {
  by_vcpu_.assign(vcpus, {});
  for (uint32_t id = 0; id < slots_.size(); ++id) by_vcpu_[slots_[id].vcpu].push_back(id);
}

void TimerTable::arm(uint32_t id, uint64_t deadline) noexcept {
  // 0 means "not armed" internally; a deadline of 0 is already past anyway.
  slots_[id].deadline.store(deadline == 0 ? 1 : deadline, std::memory_order_release);
}

void TimerTable::cancel(uint32_t id) noexcept { slots_[id].deadline.store(0, std::memory_order_release); }

uint64_t TimerTable::next_deadline(uint32_t vcpu) const noexcept {
  if (vcpu >= by_vcpu_.size()) return 0;
  uint64_t best = 0;
  for (uint32_t id : by_vcpu_[vcpu]) {
    const uint64_t d = slots_[id].deadline.load(std::memory_order_acquire);
    if (d != 0 && (best == 0 || d < best)) best = d;
  }
  return best;
}

uint32_t TimerTable::run_due(uint32_t vcpu, uint64_t now) noexcept {
  if (vcpu >= by_vcpu_.size()) return 0;
  uint32_t fired = 0;
  for (uint32_t id : by_vcpu_[vcpu]) {
    Slot& s = slots_[id];
    uint64_t d = s.deadline.load(std::memory_order_acquire);
    if (d == 0 || d > now) continue;
    // Disarm before the call so the callback may re-arm (periodic timers);
    // a concurrent re-arm or cancel from another thread wins the exchange.
    if (!s.deadline.compare_exchange_strong(d, 0, std::memory_order_acq_rel)) continue;
    s.fn(s.arg, now);
    ++fired;
  }
  return fired;
}

int EoiWatch::listen(enlight_eoi_fn fn, void* arg, uint16_t slot) {
  if (fn == nullptr || listeners_.size() >= kMaxListeners || listener_of(slot) >= 0) return -1;
  listeners_.push_back({fn, arg, slot});
  return static_cast<int>(listeners_.size() - 1);
}

int EoiWatch::listener_of(uint16_t slot) const noexcept {
  for (size_t i = 0; i < listeners_.size(); ++i)
    if (listeners_[i].slot == slot) return static_cast<int>(i);
  return -1;
}

void EoiWatch::resize(uint32_t vcpus) {
  masks_.clear();
  for (uint32_t v = 0; v < vcpus; ++v) masks_.emplace_back(new std::atomic<uint32_t>[256]());
}

void EoiWatch::watch(uint32_t vcpu, uint8_t vector, int listener, bool on) noexcept {
  if (vcpu >= masks_.size() || listener < 0) return;
  const uint32_t bit = 1u << listener;
  if (on) masks_[vcpu][vector].fetch_or(bit, std::memory_order_relaxed);
  else masks_[vcpu][vector].fetch_and(~bit, std::memory_order_relaxed);
}

void MetricsStorage::core_add(uint32_t vcpu, CoreCounter c) noexcept {
  std::atomic_ref<uint64_t> cell(core_counters[static_cast<size_t>(vcpu) * kCoreCounterCount + c]);
  cell.store(cell.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

uint64_t MetricsStorage::core_sum(uint32_t vcpus, CoreCounter c) const noexcept {
  uint64_t sum = 0;
  for (uint32_t v = 0; v < vcpus; ++v)
    sum += std::atomic_ref<const uint64_t>(core_counters[static_cast<size_t>(v) * kCoreCounterCount + c])
               .load(std::memory_order_relaxed);
  return sum;
}

uint32_t Vm::run_timers(uint32_t vcpu) noexcept {
  if (timers_.next_deadline(vcpu) == 0) return 0;
  const uint32_t fired = timers_.run_due(vcpu, reference_time());
  for (uint32_t i = 0; i < fired; ++i) metrics_.core_add(vcpu, MetricsStorage::kTimerFires);
  return fired;
}

void Vm::notify_eoi(uint32_t vcpu, uint8_t vector, bool pv) noexcept {
  if (vcpu >= vcpu_count()) return;
  if (pv) metrics_.core_add(vcpu, MetricsStorage::kPvEois);
  eoi_.notify(vcpu, vector);
}

}  // namespace enlight
