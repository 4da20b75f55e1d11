// enlight-bench: what one exit costs on the bus, against what a monolithic
// VMM's switch costs for the same work, plus the hypercall decoder and the
// resolve/load/create path. Method, fairness notes and results:
// docs/benchmarks.md.
//
// Every VM here is a direct-backend VM (no guest code) running the real
// plugin .so files of this build tree (ENLIGHT_BENCH_PLUGIN_DIR). Only the
// body of `for (auto _ : state)` is timed; building the VM is not.
#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/core/vm.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

// bench_emu.cpp: the emu backend's trapping cost (real guest code).
void register_emu_benchmarks();

#ifndef ENLIGHT_BENCH_PLUGIN_DIR
#error "ENLIGHT_BENCH_PLUGIN_DIR must name the build tree's plugin directory"
#endif

namespace {

using enlight::Access;
using enlight::direct::DirectVm;

const std::vector<std::string>& plugin_dir() {
  static const std::vector<std::string> dir{ENLIGHT_BENCH_PLUGIN_DIR};
  return dir;
}

// The MSR benchmarks' VM. If a plugin has not been written yet, its flag is
// dropped (and the label of the benchmark says which flags were used) rather
// than failing the whole run.
constexpr const char* kMsrFlags[] = {"hv-vpindex", "hv-runtime", "hv-frequencies", "hv-crash"};

std::string available_flags(const std::vector<std::string>& wanted) {
  const enlight::Catalog catalog = enlight::Catalog::discover(plugin_dir());
  std::string out;
  for (const std::string& f : wanted) {
    try {
      (void)enlight::parse_cpu_flags(f, catalog);
    } catch (const std::exception&) {
      continue;  // no plugin for this flag in the build tree (yet)
    }
    if (!out.empty()) out += ',';
    out += f;
  }
  return out;
}

std::string msr_flags() { return available_flags({std::begin(kMsrFlags), std::end(kMsrFlags)}); }

enlight::VmOptions options(bool metrics, bool latency) {
  enlight::VmOptions o;
  o.metrics = metrics;
  o.latency_histograms = latency;
  return o;
}

std::unique_ptr<DirectVm> make_vm(benchmark::State& state, const std::string& flags, enlight::VmOptions o) {
  if (flags.empty()) {
    state.SkipWithError("none of the requested plugins exists in " ENLIGHT_BENCH_PLUGIN_DIR);
    return nullptr;
  }
  try {
    return DirectVm::from_flags(flags, 1, plugin_dir(), std::move(o));
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("cannot build the VM for '") + flags + "': " + e.what()).c_str());
    return nullptr;
  }
}

// ---- The MSR mix -------------------------------------------------------------
//
// A ring of accesses, irregular enough that neither the switch's jump nor the
// bus's indirect call sees one target in a row. The cheapest handlers on
// purpose: the smaller the handler, the larger the dispatch's share, so
// this is the worst case for the bus/switch ratio.
constexpr uint32_t kReadPattern[] = {
    HV_X64_MSR_VP_INDEX, HV_X64_MSR_TSC_FREQUENCY,  HV_X64_MSR_CRASH_P0,       HV_X64_MSR_VP_INDEX,
    HV_X64_MSR_APIC_FREQUENCY, HV_X64_MSR_CRASH_P1, HV_X64_MSR_TSC_FREQUENCY,  HV_X64_MSR_VP_INDEX,
};
constexpr uint32_t kWritePattern[] = {
    HV_X64_MSR_CRASH_P0, HV_X64_MSR_CRASH_P1, HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_CRASH_P2,
    HV_X64_MSR_CRASH_P0, HV_X64_MSR_CRASH_P3, HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_CRASH_P4,
};
// Written to GUEST_OS_ID: an open-source guest id (bit 63), never zero.
constexpr uint64_t kGuestOsId = HV_GUEST_OS_ID_OPEN_SOURCE | 0x0000'0001'0000'0000ull;

struct Ring {
  std::vector<uint32_t> index;
  std::vector<uint64_t> value;  // for writes
  size_t size() const { return index.size(); }
};

// Keeps the pattern's accesses the VM can serve (claimed, handler present);
// the same ring is replayed by the bus and by the switch.
template <size_t N>
Ring make_ring(const enlight::Bus& bus, const uint32_t (&pattern)[N], bool write) {
  Ring r;
  for (uint32_t idx : pattern) {
    const enlight::MsrEntry* e = bus.find_msr(idx);
    if (e == nullptr || (write ? e->write == nullptr : e->read == nullptr)) continue;
    r.index.push_back(idx);
    r.value.push_back(idx == HV_X64_MSR_GUEST_OS_ID ? kGuestOsId : 0x1000 + idx);
  }
  return r;
}

std::string ring_label(const Ring& r) {
  std::string s;
  for (uint32_t idx : r.index) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%s%x", s.empty() ? "" : " ", idx);
    s += buf;
  }
  return s;
}

// ---- The timed loops ---------------------------------------------------------------
//
// One driver for every MSR benchmark: it builds the VM, the ring and the
// dispatcher, checks that every access of the ring answers Ok through that
// dispatcher, then replays the ring. The loop is [[gnu::flatten]], so each
// dispatcher (Bus::msr_read / msr_write from bus.hpp, the switches) is
// inlined into it the same way and only the handler call
// stays a call. Without this GCC inlines Bus::msr_read into some loops and
// not others depending on how many call sites the file has, which moved
// BM_MsrRead/Bus by ~1 ns between builds.

template <class Dispatch>
[[gnu::flatten]] void read_loop(benchmark::State& state, const Ring& ring, const Dispatch& dispatch) {
  const size_t n = ring.size();
  size_t i = 0;
  for (auto _ : state) {
    uint64_t value;
    Access a = dispatch.read(ring.index[i], value);
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(value);
    if (++i == n) i = 0;
  }
}

template <class Dispatch>
[[gnu::flatten]] void write_loop(benchmark::State& state, const Ring& ring, const Dispatch& dispatch) {
  const size_t n = ring.size();
  size_t i = 0;
  for (auto _ : state) {
    Access a = dispatch.write(ring.index[i], ring.value[i]);
    benchmark::DoNotOptimize(a);
    if (++i == n) i = 0;
  }
}

// make(Vm&) returns the dispatcher, by unique_ptr: it lives on the heap and
// its address escapes, so its fields are memory the loop reloads per exit
// (as a VMM's per-vCPU state would be), not registers.
template <bool Write, class Make>
void msr_bench(benchmark::State& state, enlight::VmOptions o, Make make) {
  const std::string flags = msr_flags();
  auto dvm = make_vm(state, flags, std::move(o));
  if (!dvm) return;
  Ring ring;
  if constexpr (Write) ring = make_ring(dvm->vm().bus(), kWritePattern, true);
  else ring = make_ring(dvm->vm().bus(), kReadPattern, false);
  auto dispatch = make(dvm->vm());
  benchmark::DoNotOptimize(dispatch.get());
  for (size_t k = 0; k < ring.size(); ++k) {
    uint64_t v = 0;
    const Access a = Write ? dispatch->write(ring.index[k], ring.value[k]) : dispatch->read(ring.index[k], v);
    if (a != Access::Ok) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s 0x%x does not answer Ok", Write ? "wrmsr" : "rdmsr", ring.index[k]);
      state.SkipWithError(buf);
      return;
    }
  }
  state.SetLabel(flags + " | msrs " + ring_label(ring));
  if constexpr (Write) write_loop(state, ring, *dispatch);
  else read_loop(state, ring, *dispatch);
  state.SetItemsProcessed(state.iterations());
}

// ---- Bus side ------------------------------------------------------------------------

// Exactly what a backend does per RDMSR / WRMSR exit.
struct BusDispatch {
  const enlight::Bus* bus;
  enlight::VcpuState* vcpu;
  Access read(uint32_t index, uint64_t& value) const { return bus->msr_read(*vcpu, index, value); }
  Access write(uint32_t index, uint64_t value) const { return bus->msr_write(*vcpu, index, value); }
};

std::unique_ptr<BusDispatch> make_bus(enlight::Vm& vm) {
  return std::make_unique<BusDispatch>(BusDispatch{&vm.bus(), &vm.vcpu(0)});
}

// ---- Switch side: what a monolithic VMM does -------------------------------------
//
// switch (index) then call the per-MSR handler, not inlined. The handlers
// live in the plugin .so files, so the switch calls the very same functions
// (the descriptor's thunks) through pointers looked up once, before the
// loop, with the same per-vCPU context pointer the bus passes. The table is
// kept in memory (heap, address escapes), like a VMM's per-vCPU Hyper-V
// state, so the switch reloads its pointers per exit as the bus reloads its
// entry.

struct Handler {
  enlight_msr_read_fn read = nullptr;
  enlight_msr_write_fn write = nullptr;
  void* ctx = nullptr;
};

struct SwitchTable {
  Handler guest_os_id, vp_index, tsc_frequency, apic_frequency, crash[HV_X64_MSR_CRASH_PARAMS];
};

Handler lookup(enlight::Vm& vm, uint32_t index) {
  const enlight::MsrEntry* e = vm.bus().find_msr(index);
  if (e == nullptr) return {};
  return {e->read, e->write, vm.vcpu(0).plugin_ctx[e->slot]};
}

SwitchTable make_switch_table(enlight::Vm& vm) {
  SwitchTable t;
  t.guest_os_id = lookup(vm, HV_X64_MSR_GUEST_OS_ID);
  t.vp_index = lookup(vm, HV_X64_MSR_VP_INDEX);
  t.tsc_frequency = lookup(vm, HV_X64_MSR_TSC_FREQUENCY);
  t.apic_frequency = lookup(vm, HV_X64_MSR_APIC_FREQUENCY);
  for (uint32_t k = 0; k < HV_X64_MSR_CRASH_PARAMS; ++k) t.crash[k] = lookup(vm, HV_X64_MSR_CRASH_P0 + k);
  return t;
}

inline Access to_access(enlight_access_result r) { return r == ENLIGHT_ACCESS_OK ? Access::Ok : Access::GP; }

Access switch_read(const SwitchTable& t, uint32_t index, uint64_t& value) {
  enlight_access_result r;
  switch (index) {
    case HV_X64_MSR_VP_INDEX:
      r = t.vp_index.read(t.vp_index.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_TSC_FREQUENCY:
      r = t.tsc_frequency.read(t.tsc_frequency.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_APIC_FREQUENCY:
      r = t.apic_frequency.read(t.apic_frequency.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_CRASH_P0:
    case HV_X64_MSR_CRASH_P1:
    case HV_X64_MSR_CRASH_P2:
    case HV_X64_MSR_CRASH_P3:
    case HV_X64_MSR_CRASH_P4: {
      const Handler& h = t.crash[index - HV_X64_MSR_CRASH_P0];
      r = h.read(h.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    }
    default:
      return Access::GP;
  }
  return to_access(r);
}

Access switch_write(const SwitchTable& t, uint32_t index, uint64_t value) {
  enlight_access_result r;
  switch (index) {
    case HV_X64_MSR_GUEST_OS_ID:
      r = t.guest_os_id.write(t.guest_os_id.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_CRASH_P0:
    case HV_X64_MSR_CRASH_P1:
    case HV_X64_MSR_CRASH_P2:
    case HV_X64_MSR_CRASH_P3:
    case HV_X64_MSR_CRASH_P4: {
      const Handler& h = t.crash[index - HV_X64_MSR_CRASH_P0];
      r = h.write(h.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    }
    default:
      return Access::GP;
  }
  return to_access(r);
}

// ---- Wide switch: every TLFS MSR has a case --------------------------------------
//
// Informative. The switch above has only the benchmarked MSRs as cases, so
// the compiler turns it into two or three compares: the best case for a
// switch. A monolithic VMM's Hyper-V switch (KVM's kvm_hv_{get,set}_msr*)
// names every synthetic MSR, which GCC compiles to a bounds check and an
// indirect jump through a table. Here each extra case calls its own handler
// (the owning plugin's if the VM has one, else a #GP stub), so the cases
// cannot be merged away.

#define ENLIGHT_BENCH_OTHER_MSRS(X)                                                                              \
  X(HV_X64_MSR_HYPERCALL) X(HV_X64_MSR_RESET) X(HV_X64_MSR_VP_RUNTIME) X(HV_X64_MSR_TIME_REF_COUNT)             \
  X(HV_X64_MSR_REFERENCE_TSC) X(HV_X64_MSR_EOI) X(HV_X64_MSR_ICR) X(HV_X64_MSR_TPR) X(HV_X64_MSR_VP_ASSIST_PAGE) \
  X(HV_X64_MSR_SCONTROL) X(HV_X64_MSR_SVERSION) X(HV_X64_MSR_SIEFP) X(HV_X64_MSR_SIMP) X(HV_X64_MSR_EOM)         \
  X(HV_X64_MSR_SINT0) X(HV_X64_MSR_SINT1) X(HV_X64_MSR_SINT2) X(HV_X64_MSR_SINT3) X(HV_X64_MSR_SINT4)            \
  X(HV_X64_MSR_SINT5) X(HV_X64_MSR_SINT6) X(HV_X64_MSR_SINT7) X(HV_X64_MSR_SINT8) X(HV_X64_MSR_SINT9)            \
  X(HV_X64_MSR_SINT10) X(HV_X64_MSR_SINT11) X(HV_X64_MSR_SINT12) X(HV_X64_MSR_SINT13) X(HV_X64_MSR_SINT14)       \
  X(HV_X64_MSR_SINT15) X(HV_X64_MSR_STIMER0_CONFIG) X(HV_X64_MSR_STIMER0_COUNT) X(HV_X64_MSR_STIMER1_CONFIG)     \
  X(HV_X64_MSR_STIMER1_COUNT) X(HV_X64_MSR_STIMER2_CONFIG) X(HV_X64_MSR_STIMER2_COUNT)                           \
  X(HV_X64_MSR_STIMER3_CONFIG) X(HV_X64_MSR_STIMER3_COUNT) X(HV_X64_MSR_GUEST_IDLE) X(HV_X64_MSR_SYNDBG_CONTROL) \
  X(HV_X64_MSR_SYNDBG_STATUS) X(HV_X64_MSR_SYNDBG_SEND_BUFFER) X(HV_X64_MSR_SYNDBG_RECV_BUFFER)                  \
  X(HV_X64_MSR_SYNDBG_PENDING_BUFFER) X(HV_X64_MSR_SYNDBG_OPTIONS) X(HV_X64_MSR_CRASH_CTL)

#define ENLIGHT_BENCH_INDEX(i) i,
constexpr uint32_t kOtherMsrs[] = {ENLIGHT_BENCH_OTHER_MSRS(ENLIGHT_BENCH_INDEX)};
#undef ENLIGHT_BENCH_INDEX

constexpr size_t other_slot(uint32_t index) {
  for (size_t k = 0; k < std::size(kOtherMsrs); ++k)
    if (kOtherMsrs[k] == index) return k;
  return std::size(kOtherMsrs);
}

enlight_access_result gp_read(void*, uint32_t, uint64_t*, enlight_origin) { return ENLIGHT_ACCESS_GP; }
enlight_access_result gp_write(void*, uint32_t, uint64_t, enlight_origin) { return ENLIGHT_ACCESS_GP; }

struct WideSwitchTable : SwitchTable {
  Handler other[std::size(kOtherMsrs)];
};

WideSwitchTable make_wide_switch_table(enlight::Vm& vm) {
  WideSwitchTable t;
  static_cast<SwitchTable&>(t) = make_switch_table(vm);
  for (size_t k = 0; k < std::size(kOtherMsrs); ++k) {
    Handler h = lookup(vm, kOtherMsrs[k]);
    if (h.read == nullptr) h.read = gp_read;
    if (h.write == nullptr) h.write = gp_write;
    t.other[k] = h;
  }
  return t;
}

#define ENLIGHT_BENCH_READ_CASE(i)                                         \
  case i: {                                                                \
    const Handler& h = t.other[other_slot(i)];                             \
    r = h.read(h.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);                \
    break;                                                                 \
  }
#define ENLIGHT_BENCH_WRITE_CASE(i)                                        \
  case i: {                                                                \
    const Handler& h = t.other[other_slot(i)];                             \
    r = h.write(h.ctx, index, value, ENLIGHT_ORIGIN_GUEST);                \
    break;                                                                 \
  }

Access wide_switch_read(const WideSwitchTable& t, uint32_t index, uint64_t& value) {
  enlight_access_result r;
  switch (index) {
    case HV_X64_MSR_GUEST_OS_ID:
      r = t.guest_os_id.read(t.guest_os_id.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_VP_INDEX:
      r = t.vp_index.read(t.vp_index.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_TSC_FREQUENCY:
      r = t.tsc_frequency.read(t.tsc_frequency.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_APIC_FREQUENCY:
      r = t.apic_frequency.read(t.apic_frequency.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_CRASH_P0:
    case HV_X64_MSR_CRASH_P1:
    case HV_X64_MSR_CRASH_P2:
    case HV_X64_MSR_CRASH_P3:
    case HV_X64_MSR_CRASH_P4: {
      const Handler& h = t.crash[index - HV_X64_MSR_CRASH_P0];
      r = h.read(h.ctx, index, &value, ENLIGHT_ORIGIN_GUEST);
      break;
    }
    ENLIGHT_BENCH_OTHER_MSRS(ENLIGHT_BENCH_READ_CASE)
    default:
      return Access::GP;
  }
  return to_access(r);
}

Access wide_switch_write(const WideSwitchTable& t, uint32_t index, uint64_t value) {
  enlight_access_result r;
  switch (index) {
    case HV_X64_MSR_GUEST_OS_ID:
      r = t.guest_os_id.write(t.guest_os_id.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_VP_INDEX:
      r = t.vp_index.write(t.vp_index.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_TSC_FREQUENCY:
      r = t.tsc_frequency.write(t.tsc_frequency.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_APIC_FREQUENCY:
      r = t.apic_frequency.write(t.apic_frequency.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    case HV_X64_MSR_CRASH_P0:
    case HV_X64_MSR_CRASH_P1:
    case HV_X64_MSR_CRASH_P2:
    case HV_X64_MSR_CRASH_P3:
    case HV_X64_MSR_CRASH_P4: {
      const Handler& h = t.crash[index - HV_X64_MSR_CRASH_P0];
      r = h.write(h.ctx, index, value, ENLIGHT_ORIGIN_GUEST);
      break;
    }
    ENLIGHT_BENCH_OTHER_MSRS(ENLIGHT_BENCH_WRITE_CASE)
    default:
      return Access::GP;
  }
  return to_access(r);
}

struct SwitchDispatch {
  SwitchTable table;
  Access read(uint32_t index, uint64_t& value) const { return switch_read(table, index, value); }
  Access write(uint32_t index, uint64_t value) const { return switch_write(table, index, value); }
};
struct WideSwitchDispatch {
  WideSwitchTable table;
  Access read(uint32_t index, uint64_t& value) const { return wide_switch_read(table, index, value); }
  Access write(uint32_t index, uint64_t value) const { return wide_switch_write(table, index, value); }
};

std::unique_ptr<SwitchDispatch> make_switch(enlight::Vm& vm) {
  return std::make_unique<SwitchDispatch>(SwitchDispatch{make_switch_table(vm)});
}
std::unique_ptr<WideSwitchDispatch> make_wide_switch(enlight::Vm& vm) {
  return std::make_unique<WideSwitchDispatch>(WideSwitchDispatch{make_wide_switch_table(vm)});
}

// ---- Fast hypercall through the decoder ----------------------------------------------

constexpr uint64_t kHypercallPageGpa = 0x10000;

// HvCallNotifyLongSpinWait (0x0008), fast: control word in RCX, the spin
// count in RDX. The spinlocks plugin yields the vCPU through the host hook;
// in the direct backend that is one atomic increment.
void fast_hypercall_bus(benchmark::State& state, bool metrics) {
  auto dvm = make_vm(state, "hv-spinlocks=0xfff", options(metrics, false));
  if (!dvm) return;
  // Enable the hypercall interface as a guest does: GUEST_OS_ID, then the
  // hypercall page with the enable bit. If identity refuses (or is not
  // there), switch the interface on directly.
  const bool guest_enabled = dvm->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kGuestOsId) == Access::Ok &&
                             dvm->wrmsr(0, HV_X64_MSR_HYPERCALL, kHypercallPageGpa | HV_X64_MSR_HYPERCALL_ENABLE) ==
                                 Access::Ok &&
                             dvm->vm().bus().hypercalls_enabled();
  if (!guest_enabled) dvm->vm().bus().set_hypercalls_enabled(true);

  const enlight::Bus& bus = dvm->vm().bus();
  enlight::VcpuState& vcpu = dvm->vm().vcpu(0);
  enlight::HypercallRegs regs;
  regs.rcx = uint64_t{HvCallNotifyLongSpinWait} | HV_HYPERCALL_FAST;
  regs.rdx = 0xfff;  // spin count
  {
    enlight::HypercallRegs probe = regs;
    const auto action = bus.hypercall(vcpu, probe);
    if (action != enlight::HypercallAction::Complete ||
        (probe.rax & HV_HYPERCALL_RESULT_STATUS_MASK) != HV_STATUS_SUCCESS) {
      state.SkipWithError(("HvCallNotifyLongSpinWait did not succeed: action " +
                           std::to_string(static_cast<int>(action)) + ", rax " + std::to_string(probe.rax))
                              .c_str());
      return;
    }
  }
  state.SetLabel(guest_enabled ? "enabled via GUEST_OS_ID+HYPERCALL" : "enabled via set_hypercalls_enabled");
  for (auto _ : state) {
    auto action = bus.hypercall(vcpu, regs);
    benchmark::DoNotOptimize(action);
    benchmark::DoNotOptimize(regs.rax);
  }
  state.SetItemsProcessed(state.iterations());
}

// Informative: the same handler called directly with a pre-decoded request,
// i.e. the part of BM_FastHypercall/Bus that is not the decoder.
void fast_hypercall_handler_only(benchmark::State& state) {
  auto dvm = make_vm(state, "hv-spinlocks=0xfff", options(true, false));
  if (!dvm) return;
  const enlight::HypercallEntry* e = dvm->vm().bus().find_hypercall(HvCallNotifyLongSpinWait);
  if (e == nullptr || e->handler == nullptr) {
    state.SkipWithError("HvCallNotifyLongSpinWait is not claimed");
    return;
  }
  enlight::VcpuState& vcpu = dvm->vm().vcpu(0);
  void* ctx = vcpu.plugin_ctx[e->slot];
  const uint64_t params[2] = {0xfff, 0};
  enlight_hypercall call{};
  call.code = HvCallNotifyLongSpinWait;
  call.fast = 1;
  call.vp_index = 0;
  call.input = reinterpret_cast<const uint8_t*>(params);
  call.input_size = e->shape.input_header_size;
  call.output = vcpu.hc_output.data();
  call.output_size = 0;
  enlight_hypercall_fn fn = e->handler;
  benchmark::DoNotOptimize(fn);
  for (auto _ : state) {
    enlight_hypercall_result r = fn(ctx, &call);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- Resolve, load and create everything -----------------------------------------------

void resolve_and_load_all(benchmark::State& state) {
  try {
    for (auto _ : state) {
      const enlight::Catalog catalog = enlight::Catalog::discover(plugin_dir());
      const enlight::Profile profile = enlight::parse_cpu_flags("hv-passthrough", catalog);
      const enlight::Resolution resolution = enlight::resolve(profile, catalog, enlight::direct::capabilities());
      auto vm = DirectVm::create(resolution, options(true, false));
      benchmark::DoNotOptimize(vm.get());
      state.counters["plugins"] = static_cast<double>(resolution.plugins.size());
      vm.reset();  // destroyed inside the iteration, before the catalog it points into
    }
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("hv-passthrough: ") + e.what()).c_str());
  }
}

// iterations > 0 fixes every benchmark's iteration count (for instruction
// counting under callgrind: run twice with N and 2N and subtract, so the
// VM set-up cancels out).
void register_all(benchmark::IterationCount iterations) {
  std::vector<benchmark::internal::Benchmark*> all;
  auto RegisterBenchmark = [&all](const char* name, auto&& fn) {
    all.push_back(benchmark::RegisterBenchmark(name, fn));
    return all.back();
  };
  const auto on = options(true, false), off = options(false, false), timed = options(true, true);
  RegisterBenchmark("BM_MsrRead/Bus", [=](benchmark::State& s) { msr_bench<false>(s, on, make_bus); });
  RegisterBenchmark("BM_MsrRead/Switch", [=](benchmark::State& s) { msr_bench<false>(s, on, make_switch); });
  RegisterBenchmark("BM_MsrWrite/Bus", [=](benchmark::State& s) { msr_bench<true>(s, on, make_bus); });
  RegisterBenchmark("BM_MsrWrite/Switch", [=](benchmark::State& s) { msr_bench<true>(s, on, make_switch); });
  RegisterBenchmark("BM_MsrRead/SwitchWide", [=](benchmark::State& s) { msr_bench<false>(s, on, make_wide_switch); });
  RegisterBenchmark("BM_MsrWrite/SwitchWide", [=](benchmark::State& s) { msr_bench<true>(s, on, make_wide_switch); });
  RegisterBenchmark("BM_MsrRead/BusMetricsOn", [=](benchmark::State& s) { msr_bench<false>(s, on, make_bus); });
  RegisterBenchmark("BM_MsrRead/BusMetricsOff", [=](benchmark::State& s) { msr_bench<false>(s, off, make_bus); });
  RegisterBenchmark("BM_MsrRead/BusLatencyOn", [=](benchmark::State& s) { msr_bench<false>(s, timed, make_bus); });
  RegisterBenchmark("BM_MsrWrite/BusMetricsOff", [=](benchmark::State& s) { msr_bench<true>(s, off, make_bus); });
  RegisterBenchmark("BM_FastHypercall/Bus", [](benchmark::State& s) { fast_hypercall_bus(s, true); });
  RegisterBenchmark("BM_FastHypercall/BusMetricsOff", [](benchmark::State& s) { fast_hypercall_bus(s, false); });
  RegisterBenchmark("BM_FastHypercall/HandlerOnly", fast_hypercall_handler_only);
  RegisterBenchmark("BM_ResolveAndLoadAll", resolve_and_load_all)->Unit(benchmark::kMicrosecond);
  if (iterations > 0)
    for (auto* b : all) b->Iterations(iterations);
}

}  // namespace

// Extra flag, removed before Google Benchmark sees the arguments:
//   --enlight_iterations=N   run every benchmark for exactly N iterations
int main(int argc, char** argv) {
  benchmark::IterationCount iterations = 0;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string flag = "--enlight_iterations=";
    if (arg.rfind(flag, 0) == 0) {
      iterations = std::stoll(arg.substr(flag.size()));
      continue;
    }
    argv[out++] = argv[i];
  }
  argc = out;
  argv[argc] = nullptr;
  register_all(iterations);
  register_emu_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
