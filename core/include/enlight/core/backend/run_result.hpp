// What a run of guest code on a backend that executes it (emu, kvm) ends
// with: one outcome, the harness's records and console, and counters.
// Shared so `enlight run`, the tests and the nested stage read both
// backends' results the same way.
#pragma once

#include <enlight/core/vm.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace enlight {

enum class Outcome : uint8_t {
  Exited,       // the guest wrote ENLIGHT_GUEST_PORT_EXIT
  Stopped,      // the VM stopped: crash MSR, reset, plugin fault (stop_reason says which)
  GuestFault,   // the guest did something the backend cannot continue from
  TripleFault,  // a fault while delivering a double fault (or no usable IDT); KVM: shutdown
  Timeout,      // still running when the time-out expired
  HostError,    // the emulator or KVM itself failed
  // A booted operating system (the PC machine) ended the run itself:
  PoweredOff,   // ACPI S5 through PM1_CNT: the guest powered off
  Reset,        // i8042 reset line, ACPI reset register, or a triple fault
};
const char* to_string(Outcome o) noexcept;

// One ENLIGHT_GUEST_PORT_REPORT record, copied out of guest memory.
struct CheckRecord {
  uint32_t vcpu = 0;
  uint32_t kind = 0;
  uint32_t line = 0;
  uint64_t expected = 0, actual = 0;
  std::string name;
};

struct RunStats {
  uint64_t msr_exits = 0;            // MSR accesses that reached the bus (emu: trapped by the code hooks)
  uint64_t msr_hook_sites = 0;       // emu: 0F 30 / 0F 32 pairs hooked in the image
  uint64_t hypercalls = 0;
  uint64_t interrupts_delivered = 0; // emu: external vectors and exceptions; kvm: vectors injected
  uint64_t bad_records = 0;          // report GPAs outside RAM or misaligned
  uint64_t pm_timer_reads = 0;       // INs from the ACPI PM timer: the legacy clock, one exit each
  // kvm: userspace MSR exits by index class. Only the synthetic range
  // (0x40000000-0x400001FF) and claimed MSRs are filtered to userspace, so
  // `msr_exits_other` stays 0 for a guest that touches only architectural
  // MSRs (x2APIC, TSC, EFER, ...): KVM answers those in the kernel.
  uint64_t msr_exits_synthetic = 0;
  uint64_t msr_exits_other = 0;
  uint64_t io_exits = 0;             // kvm: KVM_EXIT_IO (harness ports included)
  uint64_t exits = 0;                // kvm: every return from KVM_RUN
  uint64_t mmio_unbacked = 0;        // kvm, a booted kernel: MMIO outside RAM answered as an empty bus
};

struct RunResult {
  Outcome outcome = Outcome::HostError;
  uint32_t exit_status = 0;   // valid for Exited
  StopReason stop_reason = StopReason::None;
  std::string message;        // why, for anything but Exited
  std::vector<CheckRecord> records;
  std::string console;
  RunStats stats;
};

// What every vCPU thread of one run writes into its RunResult: the first
// outcome (later ones are ignored), the harness console and check records.
// Both bounded, so a chatty or hostile guest cannot eat the host; the mutex
// is taken only on harness ports and outcomes, never on the bus's exit path.
class RunRecorder {
 public:
  // Records the outcome unless one was already decided; true if this call decided.
  bool decide(Outcome outcome, std::string message, uint32_t status = 0);
  void console(char c);
  // An ENLIGHT_GUEST_PORT_REPORT: the record at `gpa` (8-byte aligned, in RAM).
  void report(const GuestMemory& memory, uint32_t vcpu, uint64_t gpa);
  // A malformed report the caller saw itself (e.g. a wrong access size).
  void bad_record() { bad_records_.fetch_add(1, std::memory_order_relaxed); }
  // A copy of what was recorded, with stats.bad_records filled in.
  RunResult snapshot();

 private:
  std::mutex mutex_;
  RunResult result_;
  bool decided_ = false;
  std::atomic<uint64_t> bad_records_{0};
};

// The checks every backend's monitor makes on each round, before its own
// (timers, kicks): the time-out and a stop of the VM from any source end
// the run. Returns the outcome and message to finish with, or nullopt.
struct MonitorVerdict {
  Outcome outcome;
  std::string message;
};
std::optional<MonitorVerdict> monitor_verdict(const Vm& vm, std::chrono::steady_clock::time_point deadline,
                                              std::chrono::milliseconds timeout);

// The result once every vCPU thread has joined: the recorder's snapshot,
// the VM's stop reason, and for a time-out where each vCPU was
// (`rips[i]`, the guest RIP vCPU i left the run at): the first question
// anyone asks about a hung guest.
RunResult final_result(RunRecorder& recorder, const Vm& vm, const std::vector<uint64_t>& rips);

}  // namespace enlight
