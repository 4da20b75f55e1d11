// State shared by every vCPU thread of one kvm run: the KVM fds, the
// outcome (first decision wins), the harness's console and records.
#pragma once

#include "sys.hpp"
#include "vcpu.hpp"

#include <enlight/core/backend/kvm.hpp>
#include <enlight/machine/linux_boot.hpp>
#include <enlight/machine/pc.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

namespace enlight::kvm {

// The PC machine's effects on this backend: ISA lines through KVM_IRQ_LINE
// (the in-kernel PIC and IOAPIC), power off and reset as the run's outcome.
class KvmMachineSignals final : public machine::MachineSignals {
 public:
  explicit KvmMachineSignals(KvmVm::Impl& vm) : vm_(vm) {}
  void set_irq(uint32_t irq, bool high) override;
  void power_off() override;
  void reset(const char* how) override;

 private:
  KvmVm::Impl& vm_;
};

struct KvmVm::Impl {
  Vm* vm = nullptr;
  sys::Fd kvm;
  sys::Fd vm_fd;
  std::vector<std::unique_ptr<KvmVcpu>> vcpus;
  // Guest TSC minus host TSC: 0 for a new VM, the saved TSC's distance
  // from this host's after a restore (state.cpp), so the guest's TSC and
  // the reference time defined from it continue where they stopped.
  std::atomic<uint64_t> tsc_offset{0};
  // The guest's TSC when the last run stopped its vCPUs, taken with the
  // reference time a snapshot records, so the two resume from one moment.
  uint64_t stopped_tsc = 0;
  // Vm::now_ns() when the last run stopped (the PC machine's PM timer
  // resumes from it).
  uint64_t stopped_ns = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  uint32_t run_ms = 0;
  int run_mmap_size = 0;

  // A booted kernel: the PC machine and its boot plan (null for flat guests).
  KvmMachineSignals machine_signals{*this};
  std::unique_ptr<machine::PcMachine> pc;
  std::optional<machine::LinuxBootPlan> boot;

  std::atomic<bool> over{false};  // the run has an outcome: every vCPU leaves
  RunRecorder recorder;           // outcome, console, check records
  std::atomic<uint64_t> interrupts{0};

  // The monitor sleeps on this; timer_armed and finish wake it.
  std::mutex monitor_mutex;
  std::condition_variable monitor_cv;
  bool monitor_poke = false;

  uint64_t now_ns() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  }
  void finish(Outcome outcome, std::string message, uint32_t status = 0);
  void kick_all();
  void poke_monitor();
  int inject(uint32_t vcpu, uint8_t vector, uint32_t flags);
  // KVM_SIGNAL_MSI under apic_lock (shared). Returns KVM's answer: > 0
  // delivered, 0 refused by the APIC (disabled, masked), < 0 failed.
  int signal_msi(uint32_t address, uint32_t data);
  // Held shared by every interrupt enlight injects, exclusively by an
  // xAPIC-mode EOI's read-modify-write of the APIC page (xapic.cpp), so
  // that no injection lands between its KVM_GET_LAPIC and KVM_SET_LAPIC.
  // Uncontended unless a vCPU EOIs through HV_X64_MSR_EOI in xAPIC mode.
  std::shared_mutex apic_lock;
};

// Sets vCPU `vcpu_fd`'s TSC to the host's plus `offset` (two's complement):
// KVM_VCPU_TSC_OFFSET (Linux 5.16) exactly, or a host write of IA32_TSC,
// within a few hundred cycles. Throws std::runtime_error when KVM refuses.
void set_tsc_offset(int vcpu_fd, uint64_t offset);

}  // namespace enlight::kvm
