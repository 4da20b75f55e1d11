// One interface over the backends that run guest code (emu, kvm), in the
// manner of cloud-hypervisor's `hypervisor` crate: a narrow seam that says
// what a VM's lifecycle costs and how it fails, so `enlight run` and the
// tests create, run and stop a VM without knowing which backend it is on.
//
// Lifecycle only. The calls here are made a handful of times per run;
// the per-exit path (each backend's vCPU loop, its exit dispatch, the Bus)
// stays inside the backend and never goes through a virtual call. vCPUs
// and the guest image are given at creation (`Resolution` says how many
// vCPUs; `BackendOptions` carries the image or the kernel): each backend
// builds its vCPUs from the image it was given (emu scans it for the MSR
// instructions it hooks), so they are not separate calls.
//
// The direct backend (direct.hpp) is not one of these: it runs no guest
// code, and tests drive its exits synchronously, one call each.
#pragma once

#include <enlight/core/backend/cpu_state.hpp>
#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/resolver.hpp>
#include <enlight/core/vm.hpp>
#include <enlight/machine/linux_boot.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace enlight {

enum class BackendKind : uint8_t { Emu, Kvm };

// "emu", "kvm": the names `enlight run --backend` and run reports use.
const char* to_string(BackendKind kind) noexcept;
// The kind a name names; nullopt for anything else ("auto", "direct").
std::optional<BackendKind> backend_kind(std::string_view name) noexcept;

// Whether this build has the backend: kvm always, emu when
// ENLIGHT_BACKENDS contains emu (ENLIGHT_WITH_EMU). No cost.
bool backend_compiled(BackendKind kind) noexcept;

// Whether the backend can run guests on this host: compiled in, and for
// kvm a /dev/kvm that opens, speaks API 12 and has every capability the
// backend relies on (kvm::available). Cost: nothing for emu; for kvm a few
// ioctls on a short-lived fd (~tens of us). On false, `why` (if given)
// says what is missing, in words fit for an error message.
bool backend_available(BackendKind kind, std::string* why = nullptr);

// What resolution checks plugins against on this backend (the features it
// offers, what hv-passthrough may turn on). Cost: nothing for emu; for kvm
// one KVM_GET_SUPPORTED_HV_CPUID on a short-lived fd. Throws
// std::runtime_error for a backend this build does not have.
BackendCaps backend_capabilities(BackendKind kind);

// An operating system kernel booted on the PC machine (core/machine) by the
// x86 Linux boot protocol, instead of a flat guest image. kvm only.
struct KernelBoot {
  // The bzImage, initrd and command line. ram_bytes and acpi_rsdp are the
  // backend's to fill (VmOptions::memory_bytes, the machine's tables).
  machine::LinuxBootConfig boot;
  // COM1's output, byte by byte, on the vCPU thread that wrote it (keep
  // it cheap: buffer it). Empty: discarded.
  std::function<void(uint8_t)> serial_out;
};

// What every backend that runs guest code is created with. Each backend's
// own options (emu::EmuOptions, kvm::KvmOptions) extend it.
struct BackendOptions {
  // hooks are replaced by the backend's, and tsc_frequency_hz by the rate
  // of the TSC the guest actually reads (the host's, on both backends).
  // With `kernel`, memory_bytes is the machine's RAM.
  VmOptions vm;
  std::vector<uint8_t> image;  // flat binary, loaded at ENLIGHT_GUEST_LOAD_ADDRESS
  // The run-length hint the guest finds in RDX at entry (protocol.h), in
  // ms; 0 = none. Workloads run that long; give run() a longer time-out.
  uint32_t run_ms = 0;
  // The PC machine, kvm only (the emu backend refuses both):
  std::optional<KernelBoot> kernel;  // set: boot it on the PC machine; `image` is unused
  // A guest program with the PC machine's devices beside the harness ports
  // (COM1's output joins its console). Implied by `kernel`.
  bool pc_devices = false;
};

class Backend {
 public:
  // Creates the VM on `kind`: every plugin loaded and created (Vm::create),
  // one vCPU per the resolution's count, the image or kernel in guest RAM.
  // Cost: emu, one Unicorn engine and host RAM mapping per vCPU (~ms);
  // kvm, one VM fd, one vCPU fd and kvm_run mapping per vCPU, RAM as one
  // memory slot, CPUID set once per vCPU. Throws what Vm::create throws
  // (ConfigError, LoadError, std::runtime_error naming the plugin), and
  // std::runtime_error when the backend cannot: not in this build, the
  // PC machine asked of emu, an image that does not fit in RAM, KVM
  // refusing an ioctl (the message names it and the errno).
  static std::unique_ptr<Backend> create(BackendKind kind, const Resolution& resolution, BackendOptions options);

  virtual ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual BackendKind kind() const noexcept = 0;
  // The VM: plugins, bus, counters, guest memory. Valid until destruction.
  virtual Vm& vm() noexcept = 0;

  // Runs every vCPU on its own host thread until the guest exits, the VM
  // stops (stop(), a crash MSR, a plugin fault), a fatal fault, a booted
  // kernel powers off or resets, or `timeout` passes (0: none). Blocks the
  // caller for the whole run. Errors are outcomes, never exceptions:
  // RunResult::outcome says which (GuestFault, TripleFault, HostError with
  // the message; Timeout with where each vCPU was). One run per VM.
  virtual RunResult run(std::chrono::milliseconds timeout) = 0;

  // From any thread (a signal watcher): stops the VM with
  // StopReason::Requested; a running run() returns Stopped within ~1 ms
  // (each vCPU is kicked out of guest code). Never fails; the VM keeps
  // the first stop from any source (its reason and message).
  virtual void stop(const char* message) = 0;

  // Host service: vector (>= 16) pending on vCPU `vcpu` through its local
  // APIC (emu: the APIC model; kvm: KVM_SIGNAL_MSI to the in-kernel one).
  // Any thread; a lock and a kick, no exit. 0 on success, -1 for a bad
  // vCPU or vector, a software-disabled APIC, or KVM refusing it.
  virtual int inject_interrupt(uint32_t vcpu, uint8_t vector) = 0;

  // Snapshots (core/snapshot.hpp). After run() returned Stopped or
  // Timeout: every vCPU's state, which it resumes from when loaded into a
  // new VM of the same configuration. Throws std::runtime_error when the
  // run ended otherwise (an exit, a fault: nothing to resume) or the
  // backend cannot save this VM (the message says what). Cost: a few
  // register reads per vCPU.
  virtual std::vector<VcpuSnapshot> save_vcpus() = 0;
  // Before run(): puts each vCPU in its saved state. Throws
  // std::runtime_error for a state this backend refuses (bad register
  // values, a wrong count); the VM must then not run.
  virtual void load_vcpus(const std::vector<VcpuSnapshot>& vcpus) = 0;
  // The machine around the vCPUs, after save_vcpus: the interrupt
  // controllers, timers and devices the backend keeps (kvm: the in-kernel
  // PIC, IOAPIC and PIT, kvmclock, the PC machine's devices), in the
  // backend's own versioned form. Empty when it keeps none (emu: each
  // vCPU's APIC model travels with the vCPU). Throws std::runtime_error
  // as save_vcpus does. Cost: a few ioctls and a copy of each device.
  virtual std::vector<uint8_t> save_devices() { return {}; }
  // Before load_vcpus (which restarts the guest's TSC, last), before
  // run(): puts them back. Throws
  // std::runtime_error for a state the backend or a device refuses (the
  // VM must then not run), and for one this VM has no place for.
  virtual void load_devices(const std::vector<uint8_t>& saved);
  // Partition reference time when the last run() stopped its vCPUs: what
  // a snapshot records, so the time spent after the stop (reports, the
  // file itself) is not time the guest lost. 0 before any run.
  uint64_t stopped_reference_time() const noexcept { return stopped_reference_time_; }

  // Host input for the PC machine's COM1 (a booted kernel's console):
  // queues up to n bytes in its receive FIFO and returns how many fitted.
  // 0 when the FIFO is full or the VM has no PC machine (emu; kvm without
  // `kernel` or `pc_devices`). Any thread; takes the UART's lock.
  virtual size_t serial_input(const uint8_t* data, size_t n) = 0;

 protected:
  Backend() = default;
  // What both backends' save_vcpus and load_vcpus check first (throw
  // std::runtime_error with the reason): a save needs a run() that ended
  // Stopped or Timeout, not by a reset, crash or plugin fault; a load needs
  // a VM that has not run, and the same number of vCPUs.
  void require_resumable_stop();
  void require_fresh_for_restore(size_t saved_vcpus, size_t vcpus) const;
  // Set by each backend's run().
  bool ran_ = false;
  Outcome last_outcome_ = Outcome::Exited;
  uint64_t stopped_reference_time_ = 0;
};

}  // namespace enlight
