#include <enlight/core/bus.hpp>
#include <enlight/core/vm.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <thread>
#include <exception>

namespace enlight {

const char* to_string(ExitKind k) noexcept {
  switch (k) {
    case ExitKind::Cpuid: return "cpuid";
    case ExitKind::MsrRead: return "msr_read";
    case ExitKind::MsrWrite: return "msr_write";
    case ExitKind::Hypercall: return "hypercall";
    case ExitKind::IoIn: return "io_in";
    case ExitKind::IoOut: return "io_out";
    default: return "?";
  }
}

const char* to_string(Result r) noexcept {
  switch (r) {
    case Result::Ok: return "ok";
    case Result::GP: return "gp";
    case Result::UD: return "ud";
    case Result::HvError: return "hv_error";
    case Result::Fault: return "fault";
    default: return "?";
  }
}

const MsrEntry* Bus::find_other_msr(uint32_t index) const noexcept {
  auto it = std::upper_bound(other_msrs_.begin(), other_msrs_.end(), index,
                             [](uint32_t i, const MsrRange& r) { return i < r.first; });
  if (it == other_msrs_.begin()) return nullptr;
  --it;
  return index <= it->last ? &it->entry : nullptr;
}

const HypercallEntry* Bus::find_hypercall(uint16_t code) const noexcept {
  const HypercallEntry* e = nullptr;
  if (code < kHypercallBasicCount) e = &hypercalls_basic_[code];
  else if (static_cast<uint16_t>(code - kHypercallExtFirst) < kHypercallExtCount) e = &hypercalls_ext_[code - kHypercallExtFirst];
  return (e != nullptr && e->handler != nullptr) ? e : nullptr;
}

void Bus::record_latency(VcpuState& v, uint16_t slot, ExitKind kind, uint64_t cycles) const noexcept {
  // Bucket b holds durations below 2^(b+4) cycles; the last one is +Inf.
  int b = cycles < 16 ? 0 : std::bit_width(cycles) - 4;
  b = std::min(b, kLatencyBuckets);
  LatencyCell& cell = v.latency[static_cast<size_t>(slot) * static_cast<size_t>(ExitKind::Count) + static_cast<size_t>(kind)];
  bump(cell.buckets[b]);
  std::atomic_ref<uint64_t> sum(cell.sum_cycles);
  sum.store(sum.load(std::memory_order_relaxed) + cycles, std::memory_order_relaxed);
}

double tsc_hz() {
  // Sleeps rather than spins: the 20 ms are paid once per process, and on
  // an invariant TSC (every x86-64 host a VMM runs on) the rate does not
  // depend on what the CPU did meanwhile.
  static const double hz = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = __builtin_ia32_rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t c1 = __builtin_ia32_rdtsc();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return seconds > 0 && c1 > c0 ? static_cast<double>(c1 - c0) / seconds : 0.0;
  }();
  return hz;
}

Access Bus::msr_gp(VcpuState& v, const MsrEntry* e, ExitKind kind) const noexcept {
  count(v, e != nullptr && e->claimed ? e->slot : unclaimed_slot_, kind, Result::GP);
  return Access::GP;
}

Access Bus::msr_read_host(VcpuState& v, uint32_t index, uint64_t& value) const noexcept {
  // Host-origin (save/restore) accesses ignore enforce-cpuid gates: the host
  // restores what the guest legitimately had.
  const MsrEntry* e = find_msr(index);
  if (e == nullptr || e->read == nullptr) return msr_gp(v, e, ExitKind::MsrRead);
  enlight_access_result r;
  try {
    r = e->read(v.plugin_ctx[e->slot], index, &value, ENLIGHT_ORIGIN_HOST);
  } catch (...) {
    r = handler_threw(v, e->slot);
  }
  return finish_access(v, e->slot, ExitKind::MsrRead, r);
}

Access Bus::msr_write_host(VcpuState& v, uint32_t index, uint64_t value) const noexcept {
  const MsrEntry* e = find_msr(index);
  if (e == nullptr || e->write == nullptr) return msr_gp(v, e, ExitKind::MsrWrite);
  enlight_access_result r;
  try {
    r = e->write(v.plugin_ctx[e->slot], index, value, ENLIGHT_ORIGIN_HOST);
  } catch (...) {
    r = handler_threw(v, e->slot);
  }
  return finish_access(v, e->slot, ExitKind::MsrWrite, r);
}

Access Bus::msr_read_timed(VcpuState& v, const MsrEntry& e, uint32_t index, uint64_t& value) const noexcept {
  const uint64_t start = latency_start(v);
  enlight_access_result r;
  try {
    r = e.guest_read(v.plugin_ctx[e.slot], index, &value, ENLIGHT_ORIGIN_GUEST);
  } catch (...) {
    r = handler_threw(v, e.slot);
  }
  latency_end(v, e.slot, ExitKind::MsrRead, start);
  return finish_access(v, e.slot, ExitKind::MsrRead, r);
}

Access Bus::msr_write_timed(VcpuState& v, const MsrEntry& e, uint32_t index, uint64_t value) const noexcept {
  const uint64_t start = latency_start(v);
  enlight_access_result r;
  try {
    r = e.guest_write(v.plugin_ctx[e.slot], index, value, ENLIGHT_ORIGIN_GUEST);
  } catch (...) {
    r = handler_threw(v, e.slot);
  }
  latency_end(v, e.slot, ExitKind::MsrWrite, start);
  return finish_access(v, e.slot, ExitKind::MsrWrite, r);
}

Access Bus::plugin_failed(VcpuState& v, uint16_t slot, ExitKind kind) const noexcept {
  count(v, slot, kind, Result::Fault);
  if (v.vm != nullptr) v.vm->plugin_fault(slot, nullptr);
  return Access::Fault;
}

enlight_access_result Bus::handler_threw(VcpuState& v, uint16_t slot) const noexcept {
  // Only a plugin that bypasses the SDK's thunks can get here: C++ unwinding
  // through its C entry points worked by luck. Record what it said and stop
  // the VM; the host process goes on.
  const char* what = "handler threw a non-standard exception";
  try {
    throw;
  } catch (const std::exception& e) {
    if (v.vm != nullptr) v.vm->plugin_fault(slot, e.what());
    return ENLIGHT_ACCESS_FAULT;
  } catch (...) {
  }
  if (v.vm != nullptr) v.vm->plugin_fault(slot, what);
  return ENLIGHT_ACCESS_FAULT;
}

Access Bus::io_in(VcpuState& v, uint16_t port, uint8_t size, uint32_t& value) const noexcept {
  auto it = std::upper_bound(io_.begin(), io_.end(), port, [](uint16_t p, const IoEntry& e) { return p < e.first; });
  if (it == io_.begin() || port > (it - 1)->last || (it - 1)->in == nullptr) {
    value = size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
    count(v, unclaimed_slot_, ExitKind::IoIn, Result::Ok);
    return Access::Ok;
  }
  const IoEntry& e = *(it - 1);
  const auto start = latency_start(v);
  enlight_access_result r;
  try {
    r = e.in(v.plugin_ctx[e.slot], port, size, &value);
  } catch (...) {
    r = handler_threw(v, e.slot);
  }
  latency_end(v, e.slot, ExitKind::IoIn, start);
  return finish_access(v, e.slot, ExitKind::IoIn, r);
}

Access Bus::io_out(VcpuState& v, uint16_t port, uint8_t size, uint32_t value) const noexcept {
  auto it = std::upper_bound(io_.begin(), io_.end(), port, [](uint16_t p, const IoEntry& e) { return p < e.first; });
  if (it == io_.begin() || port > (it - 1)->last || (it - 1)->out == nullptr) {
    count(v, unclaimed_slot_, ExitKind::IoOut, Result::Ok);
    return Access::Ok;
  }
  const IoEntry& e = *(it - 1);
  const auto start = latency_start(v);
  enlight_access_result r;
  try {
    r = e.out(v.plugin_ctx[e.slot], port, size, value);
  } catch (...) {
    r = handler_threw(v, e.slot);
  }
  latency_end(v, e.slot, ExitKind::IoOut, start);
  return finish_access(v, e.slot, ExitKind::IoOut, r);
}

}  // namespace enlight
