// What a run of guest code on a backend that executes it (emu, kvm) ends
// with: one outcome, the harness's records and console, and counters.
// Shared so `enlight run`, the tests and the nested stage read both
// backends' results the same way.
#pragma once

#include <enlight/core/vm.hpp>

#include <cstdint>
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
  // kvm: userspace MSR exits by index class. Only the synthetic range
  // (0x40000000-0x400001FF) and claimed MSRs are filtered to userspace, so
  // `msr_exits_other` stays 0 for a guest that touches only architectural
  // MSRs (x2APIC, TSC, EFER, ...): KVM answers those in the kernel.
  uint64_t msr_exits_synthetic = 0;
  uint64_t msr_exits_other = 0;
  uint64_t io_exits = 0;             // kvm: KVM_EXIT_IO (harness ports included)
  uint64_t exits = 0;                // kvm: every return from KVM_RUN
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

}  // namespace enlight
