// The direct backend: no guest code. Tests, benchmarks and plugin authors
// drive CPUID / RDMSR / WRMSR / hypercall / port I/O exits on a vCPU and see
// exactly what a guest would: values, #GP, #UD, HV_STATUS and reps completed.
// Guest memory is real memory a test can fill. Time is a manual clock, so a
// test decides when 100 ns have passed.
#pragma once

#include <enlight/core/vm.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace enlight::direct {

struct MsrRead {
  Access access = Access::GP;
  uint64_t value = 0;
  bool ok() const { return access == Access::Ok; }
  bool gp() const { return access == Access::GP; }
};

struct HypercallOutcome {
  HypercallAction action = HypercallAction::Complete;  // never Continue: re-entered until done
  uint64_t rax = 0;
  uint32_t continuations = 0;
  uint16_t status() const { return static_cast<uint16_t>(rax & HV_HYPERCALL_RESULT_STATUS_MASK); }
  uint16_t reps_completed() const {
    return static_cast<uint16_t>((rax & HV_HYPERCALL_RESULT_REPS_COMPLETED_MASK) >> HV_HYPERCALL_RESULT_REPS_COMPLETED_SHIFT);
  }
  bool ud() const { return action == HypercallAction::InjectUD; }
};

// Builds a control word (TLFS 3.7 hypercall input value).
uint64_t control(uint16_t code, bool fast = false, uint16_t rep_count = 0, uint16_t rep_start = 0,
                 uint16_t var_header_qwords = 0);

class DirectVm {
 public:
  static std::unique_ptr<DirectVm> create(const Resolution& resolution, VmOptions options = {});
  // Resolves QEMU-style flags against the plugins on `search_path` (default:
  // the default search path) with the direct backend's capabilities.
  static std::unique_ptr<DirectVm> from_flags(const std::string& flags, uint32_t vcpus = 1,
                                              std::vector<std::string> search_path = {}, VmOptions options = {});

  Vm& vm() { return *vm_; }
  uint32_t vcpu_count() const { return vm_->vcpu_count(); }

  CpuidValue cpuid(uint32_t vcpu, uint32_t leaf, uint32_t subleaf = 0);
  MsrRead rdmsr(uint32_t vcpu, uint32_t index);
  Access wrmsr(uint32_t vcpu, uint32_t index, uint64_t value);
  MsrRead host_rdmsr(uint32_t vcpu, uint32_t index);  // origin: host (save/restore)
  Access host_wrmsr(uint32_t vcpu, uint32_t index, uint64_t value);

  // A memory-form hypercall from 64-bit CPL0, re-entered while the bus asks
  // for a continuation, as the guest's re-execution of the call would.
  HypercallOutcome hypercall(uint32_t vcpu, uint64_t control, uint64_t input_gpa, uint64_t output_gpa);
  HypercallOutcome fast_hypercall(uint32_t vcpu, uint64_t control, uint64_t rdx, uint64_t r8,
                                  const std::array<uint8_t, 96>* xmm = nullptr);
  // Full control of the registers (CPL, mode, 32-bit convention).
  HypercallOutcome hypercall_regs(uint32_t vcpu, HypercallRegs& regs);

  Access io_in(uint32_t vcpu, uint16_t port, uint8_t size, uint32_t& value);
  Access io_out(uint32_t vcpu, uint16_t port, uint8_t size, uint32_t value);

  GuestMemory& memory() { return vm_->memory(); }

  // The manual clock, in ns since the VM started. Moving it runs every
  // plugin timer that became due, on this (every vCPU's) thread, as a
  // backend does between two runs of guest code.
  void set_time_ns(uint64_t ns);
  void advance_ns(uint64_t ns) { set_time_ns(now_ns_->load() + ns); }
  uint64_t time_ns() const { return now_ns_->load(); }
  // Runs the vCPU's due timers now; returns how many fired.
  uint32_t run_timers(uint32_t vcpu);

  // Interrupts the plugins asked to inject: (vcpu, vector), in order.
  std::vector<std::pair<uint32_t, uint8_t>> injected() const;
  void clear_injected();
  uint32_t yields() const { return yields_->load(); }
  // How many remote TLB flushes (enlight_host.tlb_flush) named vCPU n.
  uint64_t tlb_flushes(uint32_t vcpu) const { return vcpu < flushes_->size() ? (*flushes_)[vcpu].load() : 0; }

  // Each vCPU has the shared local APIC model (docs/timers.md): injected
  // vectors land in its IRR. take_interrupt() is the CPU accepting the
  // highest deliverable vector (IRR -> ISR), after retiring a PV EOI the
  // guest took; nullopt when nothing is deliverable.
  std::optional<uint8_t> take_interrupt(uint32_t vcpu);
  // The guest's own x2APIC MSR accesses (rdmsr/wrmsr 0x800-0x8FF), with
  // the EOI notifications plugins asked for. false is #GP.
  bool apic_read(uint32_t vcpu, uint32_t x2apic_msr, uint64_t& value);
  bool apic_write(uint32_t vcpu, uint32_t x2apic_msr, uint64_t value);
  bool in_service(uint32_t vcpu, uint8_t vector);

 private:
  DirectVm() = default;
  std::unique_ptr<Vm> vm_;
  std::shared_ptr<std::atomic<uint64_t>> now_ns_ = std::make_shared<std::atomic<uint64_t>>(0);
  std::shared_ptr<std::atomic<uint32_t>> yields_ = std::make_shared<std::atomic<uint32_t>>(0);
  struct Injected {
    std::mutex mutex;
    std::vector<std::pair<uint32_t, uint8_t>> list;
  };
  std::shared_ptr<Injected> injected_ = std::make_shared<Injected>();
  std::shared_ptr<std::vector<std::atomic<uint64_t>>> flushes_;
  struct Apics;
  std::shared_ptr<Apics> apics_;
};

// What the direct backend can run: everything.
BackendCaps capabilities();

}  // namespace enlight::direct
