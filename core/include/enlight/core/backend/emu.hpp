// The emu backend: real guest machine code on a software x86-64 CPU
// (Unicorn 2.0.1 from Debian), one engine and one host thread per vCPU.
// CPUID, MSRs, hypercalls and port I/O go through the same Bus as every
// backend; the guest harness ports (protocol.h) are handled here first.
// Interrupts come from a per-vCPU local APIC model (x2APIC MSRs).
// docs/emu-backend.md explains how MSRs are trapped and what is not modelled.
#pragma once

#include <enlight/core/backend/backend.hpp>
#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/vm.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace enlight::emu {

// BackendOptions as they are: vm (hooks are replaced by this backend's, and
// tsc_frequency_hz by the rate of the emulated CPU's RDTSC, the host's TSC:
// Unicorn 2.0.1 cannot trap RDTSC, so that HV_X64_MSR_TSC_FREQUENCY
// describes the TSC the guest actually reads), image and run_ms. `kernel`
// and `pc_devices` are refused: this backend has no PC machine.
struct EmuOptions : BackendOptions {};

// The run's result types are shared with the kvm backend (run_result.hpp).
using enlight::CheckRecord;
using enlight::Outcome;
using enlight::RunResult;
using enlight::RunStats;
using enlight::to_string;

// The emu backend behind enlight::Backend (backend.hpp says what each call
// costs and how it fails). Final, so calls on an EmuVm are direct calls.
class EmuVm final : public Backend {
 public:
  // Throws like Vm::create, or std::runtime_error when Unicorn fails, the
  // image does not fit in RAM, or the options ask for the PC machine.
  static std::unique_ptr<EmuVm> create(const Resolution& resolution, EmuOptions options);
  ~EmuVm() override;

  BackendKind kind() const noexcept override { return BackendKind::Emu; }
  Vm& vm() noexcept override { return *vm_; }
  uint32_t vcpu_count() const { return vm_->vcpu_count(); }

  // Runs every vCPU on its own thread until the guest exits, the VM stops,
  // a fatal fault, or the time-out. One run per EmuVm.
  RunResult run(std::chrono::milliseconds timeout) override;

  // Host service: sets the vector pending in vCPU n's IRR and wakes it.
  // 0 on success, -1 for a bad vCPU or vector (< 16).
  int inject_interrupt(uint32_t vcpu, uint8_t vector) override;

  // From any thread (e.g. a Ctrl-C watcher): stops the VM with
  // StopReason::Requested; a running `run` returns Stopped within ~1 ms.
  void stop(const char* message) override;

  // Registers through Unicorn's register API, the APIC model, HLT
  // (backend.hpp; docs/snapshots.md, "emu").
  std::vector<VcpuSnapshot> save_vcpus() override;
  void load_vcpus(const std::vector<VcpuSnapshot>& vcpus) override;

  // No PC machine, no COM1: always 0.
  size_t serial_input(const uint8_t*, size_t) override { return 0; }

  struct Impl;

 private:
  EmuVm() = default;
  std::unique_ptr<Vm> vm_;
  std::shared_ptr<Impl> impl_;  // shared with the hooks given to the Vm
};

// What the emu backend can run: no VMX/SVM, its own local APIC.
BackendCaps capabilities();

}  // namespace enlight::emu
