// The emu backend: real guest machine code on a software x86-64 CPU
// (Unicorn 2.0.1 from Debian), one engine and one host thread per vCPU.
// CPUID, MSRs, hypercalls and port I/O go through the same Bus as every
// backend; the guest harness ports (protocol.h) are handled here first.
// Interrupts come from a per-vCPU local APIC model (x2APIC MSRs).
// docs/emu-backend.md explains how MSRs are trapped and what is not modelled.
#pragma once

#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/vm.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight::emu {

struct EmuOptions {
  // hooks are replaced by this backend's, and tsc_frequency_hz by the rate
  // of the emulated CPU's RDTSC (the host's TSC: Unicorn 2.0.1 cannot trap
  // RDTSC), so that HV_X64_MSR_TSC_FREQUENCY describes the TSC the guest
  // actually reads.
  VmOptions vm;
  std::vector<uint8_t> image;   // flat binary, loaded at ENLIGHT_GUEST_LOAD_ADDRESS
  // The run-length hint the guest finds in RDX at entry (protocol.h), in
  // ms; 0 = none. Workloads run that long; give run() a longer time-out.
  uint32_t run_ms = 0;
};

// The run's result types are shared with the kvm backend (run_result.hpp).
using enlight::CheckRecord;
using enlight::Outcome;
using enlight::RunResult;
using enlight::RunStats;
using enlight::to_string;

class EmuVm {
 public:
  // Throws like Vm::create, or std::runtime_error when Unicorn fails or the
  // image does not fit in RAM.
  static std::unique_ptr<EmuVm> create(const Resolution& resolution, EmuOptions options);
  ~EmuVm();
  EmuVm(const EmuVm&) = delete;
  EmuVm& operator=(const EmuVm&) = delete;

  Vm& vm() { return *vm_; }
  uint32_t vcpu_count() const { return vm_->vcpu_count(); }

  // Runs every vCPU on its own thread until the guest exits, the VM stops,
  // a fatal fault, or the time-out. One run per EmuVm.
  RunResult run(std::chrono::milliseconds timeout);

  // Host service: sets the vector pending in vCPU n's IRR and wakes it.
  // 0 on success, -1 for a bad vCPU or vector (< 16).
  int inject_interrupt(uint32_t vcpu, uint8_t vector);

  // From any thread (e.g. a Ctrl-C watcher): stops the VM with
  // StopReason::Requested; a running `run` returns Stopped within ~1 ms.
  void stop(const char* message);

  struct Impl;

 private:
  EmuVm() = default;
  std::unique_ptr<Vm> vm_;
  std::shared_ptr<Impl> impl_;  // shared with the hooks given to the Vm
};

// What the emu backend can run: no VMX/SVM, its own local APIC.
BackendCaps capabilities();

}  // namespace enlight::emu
