#include <enlight/core/bus.hpp>
#include <enlight/core/vm.hpp>

#include <algorithm>
#include <bit>
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

void Bus::record_latency(VcpuState& v, uint16_t slot, ExitKind kind, Clock::duration d) const noexcept {
  const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  // Bucket b holds durations below 2^(b+4) ns; the last one is +Inf.
  int b = ns < 16 ? 0 : std::bit_width(ns) - 4;
  b = std::min(b, kLatencyBuckets);
  LatencyCell& cell = v.latency[static_cast<size_t>(slot) * static_cast<size_t>(ExitKind::Count) + static_cast<size_t>(kind)];
  std::atomic_ref<uint64_t> bucket(cell.buckets[b]);
  bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_ref<uint64_t> sum(cell.sum_ns);
  sum.store(sum.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
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
