// A VM: the resolved plugins, created in dependency order, the frozen bus,
// guest memory, per-vCPU state and the host services plugins call.
//
// Lifecycle: Vm::create() loads, creates (VM, then every vCPU, in dependency
// order, unwinding in reverse on failure) and freezes; the destructor tears
// down in reverse. Backends drive exits through bus() on per-vCPU state.
#pragma once

#include <enlight/abi.h>
#include <enlight/core/bus.hpp>
#include <enlight/core/loader.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/core/snapshot.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace enlight {

class BusBuilder;

// Counter storage of one VM. Written by vCPU threads with relaxed atomic
// stores (no lock, no RMW), read at scrape time.
struct MetricsStorage {
  static constexpr uint32_t kMaxPluginCounters = 256;
  struct CounterInfo {
    std::string name, help;
    std::string label_name, label_value;  // a second label beside `plugin` (ABI 1.3), or empty
    uint16_t slot;
    uint32_t id;
  };
  size_t exit_block = 0;                            // uint64 per vCPU: [slot][kind][result]
  std::unique_ptr<uint64_t[]> exits;                // [vcpu][exit_block]; null with metrics off
  std::unique_ptr<uint64_t[]> exit_scratch;         // the same shape, never read: where counts go with metrics off
  std::unique_ptr<LatencyCell[]> latency;           // [vcpu][slot][kind]; null unless histograms on
  std::unique_ptr<uint64_t[]> plugin_counters;      // [vcpu][kMaxPluginCounters]
  std::vector<CounterInfo> counters;

  // Histograms plugins registered: per vCPU, kMaxHistogramCells cells; a
  // histogram takes bounds + 2 of them (its buckets, +Inf, the sum in ns).
  static constexpr uint32_t kMaxHistogramCells = 512;
  struct HistogramInfo {
    std::string name, help;
    uint16_t slot;
    uint32_t first_cell;
    std::vector<uint64_t> upper_bounds_ns;
  };
  std::unique_ptr<uint64_t[]> histogram_cells;      // [vcpu][kMaxHistogramCells]
  std::deque<HistogramInfo> histograms;            // deque: plugins hold pointers to the bounds
  uint32_t histogram_cells_used = 0;

  // The core's own per-vCPU counters of what backends do for plugins, and
  // of the machine's exits that no plugin sees.
  enum CoreCounter : uint32_t {
    kTimerFires = 0,
    kPvEois,
    kBackendExits,   // kvm: every return from KVM_RUN
    kPmTimerReads,   // reads of the ACPI PM timer: the legacy clock, one exit each
    kMmioUnbacked,   // a booted kernel's MMIO outside RAM and the in-kernel devices
    kCoreCounterCount
  };
  std::unique_ptr<uint64_t[]> core_counters;        // [vcpu][kCoreCounterCount]
  void core_add(uint32_t vcpu, CoreCounter c) noexcept;
  // Counter c summed over `vcpus` vCPUs (scrape or report time).
  uint64_t core_sum(uint32_t vcpus, CoreCounter c) const noexcept;
  // Each core counter's metric name and help, the one list the Prometheus
  // collector and enlight run's report both read.
  struct CoreCounterInfo {
    CoreCounter id;
    const char* name;
    const char* help;
  };
  static constexpr CoreCounterInfo kCoreCounterInfo[kCoreCounterCount] = {
      {kTimerFires, "enlight_vm_timer_fires_total", "Plugin timers fired on their vCPU"},
      {kPvEois, "enlight_apic_pv_eois_total", "EOIs the guest skipped through the VP assist page (PV EOI)"},
      {kBackendExits, "enlight_backend_exits_total", "Returns from KVM_RUN (kvm backend), every reason"},
      {kPmTimerReads, "enlight_machine_pm_timer_reads_total", "Reads of the ACPI PM timer, one exit each"},
      {kMmioUnbacked, "enlight_machine_mmio_unbacked_total",
       "MMIO accesses outside RAM and the in-kernel devices, answered as an empty bus"},
  };
};

// What a backend offers the host services. Every member may be left empty;
// the service then reports that it cannot (inject returns -1).
struct BackendHooks {
  // flags: ENLIGHT_IRQ_* (abi.h). -1 when the vector cannot be delivered.
  std::function<int(uint32_t vcpu, uint8_t vector, uint32_t flags)> inject_interrupt;
  std::function<void(uint32_t vcpu)> yield_vcpu;
  // Current time in nanoseconds since the VM started. The default is the
  // host's steady clock; the direct backend's tests substitute a manual one.
  std::function<uint64_t()> now_ns;
  // Time vCPU n has spent running guest code, in ns.
  std::function<uint64_t(uint32_t vcpu)> vcpu_runtime_ns;
  // The TSC the guest reads on vCPU n. Default: a virtual TSC at
  // tsc_frequency_hz counting from 0 at now_ns() == 0. A backend whose
  // guest reads a real counter (emu: the host TSC) must say so, because
  // reference time is defined from it (Vm::reference_time).
  std::function<uint64_t(uint32_t vcpu)> guest_tsc;
  // The vCPU's local APIC through its x2APIC MSRs, on that vCPU's thread;
  // false: #GP, or no APIC model.
  std::function<bool(uint32_t vcpu, uint32_t x2apic_msr, uint64_t& value)> apic_read;
  std::function<bool(uint32_t vcpu, uint32_t x2apic_msr, uint64_t value)> apic_write;
  // PV EOI through the VP assist page (gpa 0: off); false: not available.
  std::function<bool(uint32_t vcpu, uint64_t gpa)> pv_eoi_set;
  // A timer of vCPU n was armed, possibly earlier than the backend last
  // planned for: wake that vCPU (or its timer thread) to look again.
  std::function<void(uint32_t vcpu)> timer_armed;
  // Remote TLB flush (enlight_host.tlb_flush, ABI 1.4): returns once no
  // vCPU in `vcpus` (a bitmap over vCPU numbers, already clipped to the
  // VM's vCPUs) will run guest code with a translation cached before the
  // call. Called on `caller`'s thread, inside its exit. Unset: the backend
  // cannot flush, and the service answers -1.
  std::function<bool(uint32_t caller, const uint64_t* vcpus, uint32_t words)> tlb_flush;
  // ENLIGHT_BACKEND_* (abi.h): what plugins may rely on here.
  uint32_t features = 0;
};

// Timers plugins create through enlight_host.timer_create: fixed after
// creation; deadlines are atomics, so arming from any thread is a store.
// Backends call Vm::run_timers(vcpu) on the vCPU's thread and ask
// Vm::next_timer_deadline(vcpu) how long that vCPU may sleep.
class TimerTable {
 public:
  uint32_t create(uint32_t vcpu, enlight_timer_fn fn, void* arg);  // creation only
  void freeze(uint32_t vcpus);
  bool valid(uint32_t id) const noexcept { return id < slots_.size(); }
  uint32_t vcpu_of(uint32_t id) const noexcept { return slots_[id].vcpu; }
  void arm(uint32_t id, uint64_t deadline) noexcept;
  void cancel(uint32_t id) noexcept;
  // The earliest armed deadline of vCPU n's timers; 0 when none is armed.
  uint64_t next_deadline(uint32_t vcpu) const noexcept;
  // Runs the callbacks of vCPU n due at `now`; returns how many ran.
  uint32_t run_due(uint32_t vcpu, uint64_t now) noexcept;

 private:
  struct Slot {
    std::atomic<uint64_t> deadline{0};  // 0: not armed
    enlight_timer_fn fn = nullptr;
    void* arg = nullptr;
    uint32_t vcpu = 0;
  };
  std::deque<Slot> slots_;                  // stable addresses; no growth after freeze
  std::vector<std::vector<uint32_t>> by_vcpu_;
};

// Plugins that asked to hear about EOIs (enlight_host.eoi_listen), and per
// vCPU and vector the set of listeners watching it.
class EoiWatch {
 public:
  static constexpr uint32_t kMaxListeners = 32;
  int listen(enlight_eoi_fn fn, void* arg, uint16_t slot);  // creation only; listener index or -1
  int listener_of(uint16_t slot) const noexcept;
  void resize(uint32_t vcpus);
  void watch(uint32_t vcpu, uint8_t vector, int listener, bool on) noexcept;
  // The backend saw vCPU n EOI `vector`: tell whoever watches it.
  void notify(uint32_t vcpu, uint8_t vector) const noexcept {
    if (vcpu >= masks_.size()) return;
    uint32_t mask = masks_[vcpu][vector].load(std::memory_order_relaxed);
    while (mask != 0) {
      const int i = __builtin_ctz(mask);
      mask &= mask - 1;
      listeners_[i].fn(listeners_[i].arg, vcpu, vector);
    }
  }

 private:
  struct Listener {
    enlight_eoi_fn fn;
    void* arg;
    uint16_t slot;
  };
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<std::atomic<uint32_t>[]>> masks_;  // [vcpu][256]
};

struct VmOptions {
  uint64_t memory_bytes = 64ull << 20;
  uint64_t tsc_frequency_hz = 2'500'000'000ull;
  // false: the TSC the guest reads is not a steady clock (KVM rewrites a
  // vCPU's TSC offset when the host's TSC is unstable). Reference time then
  // comes from now_ns() and reference_tsc() says no, so the reference TSC
  // page stays invalid and guests read the MSR: what KVM does when it has
  // no master clock (docs/timers.md).
  bool tsc_reliable = true;
  // KVM's local APIC bus runs at 1 GHz (1 ns per bus cycle); QEMU+KVM
  // guests read that from HV_X64_MSR_APIC_FREQUENCY.
  uint64_t apic_frequency_hz = 1'000'000'000ull;
  bool metrics = true;
  bool latency_histograms = false;
  BackendHooks hooks;
  // Where plugins' log lines go (level 0 error .. 3 debug). Default: stderr
  // for errors and warnings.
  std::function<void(uint32_t level, const std::string& plugin, const std::string& message)> log;
};

enum class StopReason : uint32_t { None = 0, GuestReset = 1, GuestCrash = 2, PluginError = 3, Requested = 4 };
const char* to_string(StopReason r) noexcept;

class Vm {
 public:
  // Throws ConfigError / LoadError (bad binary), or std::runtime_error
  // naming the plugin whose create failed.
  static std::unique_ptr<Vm> create(const Resolution& resolution, const VmOptions& options);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  const Bus& bus() const noexcept { return bus_; }
  Bus& bus() noexcept { return bus_; }
  GuestMemory& memory() noexcept { return memory_; }
  uint32_t vcpu_count() const noexcept { return static_cast<uint32_t>(vcpus_.size()); }
  VcpuState& vcpu(uint32_t i) noexcept { return *vcpus_[i]; }
  const Resolution& resolution() const noexcept { return resolution_; }
  const std::vector<LoadedPlugin>& plugins() const noexcept { return loaded_; }
  const VmOptions& options() const noexcept { return options_; }

  // Stop state. The first request wins; later ones are ignored. Safe from
  // any thread, allocation-free.
  void request_stop(StopReason reason, const char* message) noexcept;
  StopReason stop_reason() const noexcept { return stop_reason_.load(std::memory_order_acquire); }
  std::string stop_message() const;
  bool stopped() const noexcept { return stop_reason() != StopReason::None; }

  const MetricsStorage& metrics_storage() const noexcept { return metrics_; }
  // A backend's count of one of the core's own events on vCPU n (exit
  // path: a relaxed store into that vCPU's memory, single writer).
  void count(uint32_t vcpu, MetricsStorage::CoreCounter c) noexcept { metrics_.core_add(vcpu, c); }

  uint64_t now_ns() const { return options_.hooks.now_ns ? options_.hooks.now_ns() : steady_ns() - start_ns_; }
  // Partition reference time, 100 ns units since the VM started (TLFS
  // 12.4). Defined from the guest TSC with the reference TSC page's own
  // formula, ((tsc * scale) >> 64) + offset, so the MSR and the page can
  // never disagree (docs/timers.md). Falls back to now_ns() / 100 when the
  // TSC is slower than 10 MHz and no scale exists.
  uint64_t reference_time() const noexcept;
  // Restore (TLFS: reference time "appears to stop" from save until
  // restore): makes reference_time() read `value` now and count on from it,
  // on this host's TSC. The offset moves, the scale is this host's, so a
  // restored reference TSC page (the time plugin republishes it when its
  // MSR is replayed) carries this host's scale and the moved offset. Only
  // while no vCPU runs: the offset is read without synchronisation.
  void set_reference_time(uint64_t value) noexcept;
  uint64_t guest_tsc(uint32_t vcpu) const;
  // false when the TSC cannot serve as the reference (see reference_time).
  bool reference_tsc(uint64_t& scale, int64_t& offset) const noexcept {
    scale = ref_scale_;
    offset = ref_offset_;
    return ref_scale_ != 0;
  }

  // ---- snapshots (core/src/snapshot, docs/snapshots.md) -----------------
  // Every plugin's saved state, VM then each vCPU, in dependency order.
  // Only while no vCPU runs. Throws std::runtime_error naming a plugin
  // whose manifest does not say it saves its state ('snapshot: unknown'),
  // one that cannot ('unsupported'), or whose save failed.
  std::vector<SnapshotBlob> save_plugin_state() const;
  // Hands each blob to its plugin's load (VMs first, then each vCPU's).
  // A plugin that saves state but has no blob, or a blob for a plugin
  // without a load, is refused. Throws std::runtime_error naming the
  // plugin and its reason; the VM is then not fit to run.
  void load_plugin_state(const std::vector<SnapshotBlob>& blobs);
  // Guest RAM back to zeros (before a restore writes its pages).
  void clear_memory() noexcept;

  // ---- what backends call for plugins' timers and EOI watches ----------
  // On vCPU n's thread: runs its due timers; returns how many fired.
  uint32_t run_timers(uint32_t vcpu) noexcept;
  // Earliest armed timer deadline of vCPU n (reference time), 0 for none.
  uint64_t next_timer_deadline(uint32_t vcpu) const noexcept { return timers_.next_deadline(vcpu); }
  // On vCPU n's thread, after the APIC retired `vector` (EOI or PV EOI).
  void notify_eoi(uint32_t vcpu, uint8_t vector, bool pv) noexcept;
  TimerTable& timers() noexcept { return timers_; }
  EoiWatch& eoi_watch() noexcept { return eoi_; }

  // An orderly shutdown (enlight run got SIGTERM): asks every plugin that
  // listens (enlight_host.shutdown_listen). True when one of them passed it
  // on to the guest, which should now power off by itself. Any thread.
  bool request_guest_shutdown() noexcept;

  // Per-plugin record the host services use; public for the services' C
  // trampolines in vm.cpp.
  struct PluginRecord;
  PluginRecord& record(uint16_t slot) noexcept { return *records_[slot]; }
  uint16_t plugin_count() const noexcept { return static_cast<uint16_t>(records_.size()); }
  const std::string& plugin_name(uint16_t slot) const;

  // Called by the bus when a handler reports a fault or throws.
  void plugin_fault(uint16_t slot, const char* message) noexcept;

 private:
  Vm() = default;
  static uint64_t steady_ns();
  void load_and_create();
  void create_vcpus();
  void destroy_plugins() noexcept;

  std::vector<std::unique_ptr<Manifest>> manifests_;  // owned copies; resolution_ points here
  Resolution resolution_;
  VmOptions options_;
  std::vector<LoadedPlugin> loaded_;
  std::vector<std::unique_ptr<PluginRecord>> records_;
  std::vector<std::unique_ptr<VcpuState>> vcpus_;
  std::vector<std::vector<void*>> vcpu_ctx_;  // [vcpu][slot]
  struct RamDeleter {
    uint64_t size;
    void operator()(uint8_t* p) const noexcept;
  };
  std::unique_ptr<uint8_t, RamDeleter> ram_{nullptr, RamDeleter{0}};
  GuestMemory memory_;
  Bus bus_;
  MetricsStorage metrics_;
  uint64_t start_ns_ = 0;
  uint64_t ref_scale_ = 0;   // 0: no reference TSC (see reference_time)
  // 100 ns units added to the scaled TSC, or to now_ns() / 100 when there is
  // no reference TSC; moved by set_reference_time.
  int64_t ref_offset_ = 0;
  TimerTable timers_;
  EoiWatch eoi_;
  struct ShutdownListener {
    enlight_shutdown_fn fn;
    void* arg;
    uint16_t slot;
  };
  std::vector<ShutdownListener> shutdown_listeners_;  // fixed after creation
  BusBuilder* builder_ = nullptr;  // only while creating
  struct Service {
    std::string name;
    uint32_t major, minor;
    const void* iface;
  };
  std::vector<Service> services_;  // only consulted while creating

  std::atomic<StopReason> stop_reason_{StopReason::None};
  std::atomic<bool> stop_claimed_{false};
  char stop_message_[512] = {};

  friend struct HostServices;
  friend struct HostServicesImpl;
};

}  // namespace enlight
