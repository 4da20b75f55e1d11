// The dispatch bus: MSR, hypercall and I/O tables plus the composed CPUID.
//
// Built while the VM is created (BusBuilder), then frozen into flat,
// immutable tables. After freeze nothing here locks, hashes or allocates:
// an MSR exit is a subtraction and an array load for the synthetic range
// 0x40000000-0x400001FF (a binary search over a short sorted vector for any
// other claimed MSR), one indirect call, and a few counter stores.
#pragma once

#include <enlight/abi.h>
#include <enlight/core/cpuid_table.hpp>
#include <enlight/core/exit.hpp>
#include <enlight/core/guest_memory.hpp>
#include <enlight/tlfs.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight {

class Vm;

// Outcome label of metrics.
enum class Result : uint8_t { Ok, GP, UD, HvError, Fault, Count };
const char* to_string(Result r) noexcept;

constexpr int kLatencyBuckets = 20;  // below 2^4 .. 2^23 TSC cycles, plus +Inf
struct LatencyCell {
  uint64_t buckets[kLatencyBuckets + 1];
  uint64_t sum_cycles;
};

// Host TSC cycles per second, measured once per process against the steady
// clock (about 20 ms, on first use); 0 if the measurement failed.
double tsc_hz();

// Per-vCPU state the bus needs on the exit path. Everything is allocated when
// the vCPU is created; the exit path only indexes into it.
struct VcpuState {
  uint32_t index = 0;
  // The VP index (TLFS) the guest knows this vCPU by: its number until the
  // owner of HV_X64_MSR_VP_INDEX sets another (enlight_host.vp_index_set).
  // Read by other vCPUs' threads (vcpu_of_vp_index): relaxed atomic_ref.
  uint32_t vp_index = 0;
  Vm* vm = nullptr;
  void* const* plugin_ctx = nullptr;  // by plugin slot
  // [slot][kind][result], slot == plugin count is "no plugin" (unclaimed).
  // Never null: with metrics off it points to a block nobody reads, so the
  // exit path counts without testing (a store is cheaper than a branch).
  uint64_t* exit_counts = nullptr;
  LatencyCell* latency = nullptr;     // [slot][kind]; null unless histograms are on
  // Hypercall parameter pages: the decoder copies guest input here and
  // the handler's output from here, so handlers never touch guest memory
  // for their parameters.
  alignas(64) std::array<uint8_t, HV_PAGE_SIZE> hc_input{};
  alignas(64) std::array<uint8_t, HV_PAGE_SIZE> hc_output{};
  uint64_t continuations = 0;         // rep calls re-entered (diagnostics)
};

struct MsrEntry {
  // What a guest access calls: null when unclaimed, when the claim has no
  // handler in that direction, or when hv-enforce-cpuid closed its gate.
  enlight_msr_read_fn guest_read = nullptr;
  enlight_msr_write_fn guest_write = nullptr;
  // Index into VcpuState::exit_counts of {slot, kind, ok}, fixed at freeze.
  uint32_t read_ok_counter = 0;
  uint32_t write_ok_counter = 0;
  // The handlers as the plugin registered them; host-origin accesses
  // (save/restore) use these whatever the gate says.
  enlight_msr_read_fn read = nullptr;
  enlight_msr_write_fn write = nullptr;
  uint16_t slot = 0;
  bool claimed = false;
  bool denied = false;  // hv-enforce-cpuid and the gate bit is not advertised
};

struct HypercallEntry {
  enlight_hypercall_fn handler = nullptr;
  enlight_hypercall_claim shape{};
  uint16_t slot = 0;
  bool denied = false;
};

struct IoEntry {
  uint16_t first = 0, last = 0;
  enlight_io_in_fn in = nullptr;
  enlight_io_out_fn out = nullptr;
  uint16_t slot = 0;
};

class Bus {
 public:
  static constexpr uint32_t kSyntheticFirst = HV_X64_MSR_SYNTHETIC_FIRST;
  static constexpr uint32_t kSyntheticCount = HV_X64_MSR_SYNTHETIC_LAST - HV_X64_MSR_SYNTHETIC_FIRST + 1;
  static constexpr uint32_t kHypercallBasicCount = 0x200;  // 0x0000-0x01FF
  static constexpr uint32_t kHypercallExtFirst = 0x8000;
  static constexpr uint32_t kHypercallExtCount = 0x100;    // 0x8000-0x80FF

  // ---- exit path --------------------------------------------------------

  // The guest path is the hot one: one table load, one test for "can this
  // guest access go anywhere" (unclaimed, wrong direction and gated-off all
  // read as a null handler), the call, and a counter bump at an index
  // computed when the table was frozen. Everything rare (host-origin
  // accesses, #GP, handler failures, latency timing) is out of line.
  // docs/benchmarks.md has the measurements behind this shape.
  [[gnu::always_inline]] Access msr_read(VcpuState& v, uint32_t index, uint64_t& value,
                                         enlight_origin origin = ENLIGHT_ORIGIN_GUEST) const noexcept {
    if (origin != ENLIGHT_ORIGIN_GUEST) [[unlikely]]
      return msr_read_host(v, index, value);
    const MsrEntry* e = dispatch_entry(index);
    if (e == nullptr || e->guest_read == nullptr) [[unlikely]]
      return msr_gp(v, e, ExitKind::MsrRead);
    if (v.latency != nullptr) [[unlikely]]
      return msr_read_timed(v, *e, index, value);
    enlight_access_result r;
    try {
      r = e->guest_read(v.plugin_ctx[e->slot], index, &value, ENLIGHT_ORIGIN_GUEST);
    } catch (...) {
      r = handler_threw(v, e->slot);
    }
    if (r != ENLIGHT_ACCESS_OK) [[unlikely]]
      return finish_access(v, e->slot, ExitKind::MsrRead, r);
    bump(v.exit_counts[e->read_ok_counter]);
    return Access::Ok;
  }

  [[gnu::always_inline]] Access msr_write(VcpuState& v, uint32_t index, uint64_t value,
                                          enlight_origin origin = ENLIGHT_ORIGIN_GUEST) const noexcept {
    if (origin != ENLIGHT_ORIGIN_GUEST) [[unlikely]]
      return msr_write_host(v, index, value);
    const MsrEntry* e = dispatch_entry(index);
    if (e == nullptr || e->guest_write == nullptr) [[unlikely]]
      return msr_gp(v, e, ExitKind::MsrWrite);
    if (v.latency != nullptr) [[unlikely]]
      return msr_write_timed(v, *e, index, value);
    enlight_access_result r;
    try {
      r = e->guest_write(v.plugin_ctx[e->slot], index, value, ENLIGHT_ORIGIN_GUEST);
    } catch (...) {
      r = handler_threw(v, e->slot);
    }
    if (r != ENLIGHT_ACCESS_OK) [[unlikely]]
      return finish_access(v, e->slot, ExitKind::MsrWrite, r);
    bump(v.exit_counts[e->write_ok_counter]);
    return Access::Ok;
  }

  // Port I/O. An unclaimed read returns all ones and an unclaimed write is
  // dropped, as on a PC with nothing decoding the port; both are counted.
  Access io_in(VcpuState& v, uint16_t port, uint8_t size, uint32_t& value) const noexcept;
  Access io_out(VcpuState& v, uint16_t port, uint8_t size, uint32_t value) const noexcept;

  // The whole hypercall ABI of TLFS 3.7 for one VMCALL/VMMCALL.
  HypercallAction hypercall(VcpuState& v, HypercallRegs& regs) const noexcept;

  // CPUID answers come from the frozen table; counted as exits because the
  // emu and direct backends do take one per instruction.
  CpuidValue cpuid(VcpuState& v, uint32_t leaf, uint32_t subleaf) const noexcept {
    count(v, unclaimed_slot_, ExitKind::Cpuid, Result::Ok);
    return cpuid_.lookup(leaf, subleaf);
  }

  const CpuidTable& cpuid_table() const noexcept { return cpuid_; }
  bool hypercalls_enabled() const noexcept { return hypercalls_enabled_.load(std::memory_order_acquire); }
  void set_hypercalls_enabled(bool on) noexcept { hypercalls_enabled_.store(on, std::memory_order_release); }

  // ---- introspection (tests, `enlight plugins`) ------------------------
  // The entry an access goes through: for the synthetic range always the
  // array slot (an unclaimed one has null handlers), elsewhere the claimed
  // range or null.
  const MsrEntry* dispatch_entry(uint32_t index) const noexcept {
    const uint32_t off = index - kSyntheticFirst;
    if (off < kSyntheticCount) return &synthetic_msrs_[off];
    return find_other_msr(index);
  }
  const MsrEntry* find_msr(uint32_t index) const noexcept {
    const uint32_t off = index - kSyntheticFirst;
    if (off < kSyntheticCount) {
      const MsrEntry& e = synthetic_msrs_[off];
      return e.claimed ? &e : nullptr;
    }
    return find_other_msr(index);
  }
  const HypercallEntry* find_hypercall(uint16_t code) const noexcept;
  uint16_t unclaimed_slot() const noexcept { return unclaimed_slot_; }

 private:
  friend class BusBuilder;

  const MsrEntry* find_other_msr(uint32_t index) const noexcept;

  static void bump(uint64_t& counter) noexcept {
    std::atomic_ref<uint64_t> ref(counter);
    ref.store(ref.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  static constexpr uint32_t counter_index(uint16_t slot, ExitKind kind, Result r) noexcept {
    return (static_cast<uint32_t>(slot) * static_cast<uint32_t>(ExitKind::Count) + static_cast<uint32_t>(kind)) *
               static_cast<uint32_t>(Result::Count) +
           static_cast<uint32_t>(r);
  }
  [[gnu::noinline]] Access msr_read_host(VcpuState& v, uint32_t index, uint64_t& value) const noexcept;
  [[gnu::noinline]] Access msr_write_host(VcpuState& v, uint32_t index, uint64_t value) const noexcept;
  [[gnu::noinline]] Access msr_gp(VcpuState& v, const MsrEntry* e, ExitKind kind) const noexcept;
  [[gnu::noinline]] Access msr_read_timed(VcpuState& v, const MsrEntry& e, uint32_t index, uint64_t& value) const noexcept;
  [[gnu::noinline]] Access msr_write_timed(VcpuState& v, const MsrEntry& e, uint32_t index, uint64_t value) const noexcept;

  void count(VcpuState& v, uint16_t slot, ExitKind kind, Result r) const noexcept {
    bump(v.exit_counts[counter_index(slot, kind, r)]);
  }

  // Handler latency in TSC cycles: rdtsc costs ~11 ns here where
  // steady_clock::now() costs 27-45 ns (docs/benchmarks.md). Cycles become
  // seconds at scrape time with the calibrated TSC rate.
  static uint64_t latency_start(const VcpuState& v) noexcept { return v.latency ? __builtin_ia32_rdtsc() : 0; }
  void latency_end(VcpuState& v, uint16_t slot, ExitKind kind, uint64_t start) const noexcept {
    if (v.latency == nullptr) return;
    record_latency(v, slot, kind, __builtin_ia32_rdtsc() - start);
  }
  void record_latency(VcpuState& v, uint16_t slot, ExitKind kind, uint64_t cycles) const noexcept;

  Access finish_access(VcpuState& v, uint16_t slot, ExitKind kind, enlight_access_result r) const noexcept {
    switch (r) {
      case ENLIGHT_ACCESS_OK:
        count(v, slot, kind, Result::Ok);
        return Access::Ok;
      case ENLIGHT_ACCESS_GP:
        count(v, slot, kind, Result::GP);
        return Access::GP;
      default:
        return plugin_failed(v, slot, kind);
    }
  }
  Access plugin_failed(VcpuState& v, uint16_t slot, ExitKind kind) const noexcept;
  enlight_access_result handler_threw(VcpuState& v, uint16_t slot) const noexcept;
  HypercallAction hypercall_status(VcpuState& v, HypercallRegs& regs, uint16_t slot, uint16_t status,
                                   uint16_t reps) const noexcept;

  std::array<MsrEntry, kSyntheticCount> synthetic_msrs_{};
  struct MsrRange {
    uint32_t first, last;
    MsrEntry entry;
  };
  std::vector<MsrRange> other_msrs_;  // sorted by first, disjoint
  std::array<HypercallEntry, kHypercallBasicCount> hypercalls_basic_{};
  std::array<HypercallEntry, kHypercallExtCount> hypercalls_ext_{};
  std::vector<IoEntry> io_;           // sorted by first, disjoint
  CpuidTable cpuid_;
  GuestMemory memory_;
  uint16_t unclaimed_slot_ = 0;
  bool xmm_input_advertised_ = false;
  bool enforce_cpuid_ = false;
  std::atomic<bool> hypercalls_enabled_{false};
};

}  // namespace enlight
