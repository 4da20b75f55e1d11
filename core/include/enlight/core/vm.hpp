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

#include <atomic>
#include <cstdint>
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
    uint16_t slot;
    uint32_t id;
  };
  size_t exit_block = 0;                            // uint64 per vCPU: [slot][kind][result]
  std::unique_ptr<uint64_t[]> exits;                // [vcpu][exit_block]; null with metrics off
  std::unique_ptr<uint64_t[]> exit_scratch;         // the same shape, never read: where counts go with metrics off
  std::unique_ptr<LatencyCell[]> latency;           // [vcpu][slot][kind]; null unless histograms on
  std::unique_ptr<uint64_t[]> plugin_counters;      // [vcpu][kMaxPluginCounters]
  std::vector<CounterInfo> counters;
};

// What a backend offers the host services. Every member may be left empty;
// the service then reports that it cannot (inject returns -1).
struct BackendHooks {
  std::function<int(uint32_t vcpu, uint8_t vector)> inject_interrupt;
  std::function<void(uint32_t vcpu)> yield_vcpu;
  // Current time in nanoseconds since the VM started. The default is the
  // host's steady clock; the direct backend's tests substitute a manual one.
  std::function<uint64_t()> now_ns;
  // Time vCPU n has spent running guest code, in ns.
  std::function<uint64_t(uint32_t vcpu)> vcpu_runtime_ns;
};

struct VmOptions {
  uint64_t memory_bytes = 64ull << 20;
  uint64_t tsc_frequency_hz = 2'500'000'000ull;
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

  uint64_t now_ns() const { return options_.hooks.now_ns ? options_.hooks.now_ns() : steady_ns() - start_ns_; }
  uint64_t reference_time() const { return now_ns() / 100; }
  uint64_t guest_tsc(uint32_t vcpu) const;

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
