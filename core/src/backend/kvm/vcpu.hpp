// One KVM vCPU: its fd, its mapped kvm_run, the loop its host thread runs,
// and the exits it turns into bus calls (exits.cpp).
#pragma once

#include "../tlb_shootdown.hpp"
#include "sys.hpp"

#include <enlight/core/backend/kvm.hpp>

#include <linux/kvm.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace enlight::kvm {

// Counters of one vCPU, written only by its thread (plain stores), read
// after the run has joined the thread.
struct VcpuCounters {
  uint64_t exits = 0, io = 0, hypercalls = 0, msr_synthetic = 0, msr_other = 0, pm_timer = 0, mmio = 0;
};

class KvmVcpu {
 public:
  // Creates the vCPU (KVM_CREATE_VCPU), maps its kvm_run, sets CPUID.
  // Throws on any refused ioctl. Then one of the entry states:
  KvmVcpu(KvmVm::Impl& vm, uint32_t index, std::vector<kvm_cpuid_entry2> cpuid);
  // protocol.h's for the flat guests: every vCPU running in long mode at
  // the image's entry (registers, FPU, MP state RUNNABLE).
  void enter_flat_guest();
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  void run();   // the vCPU thread's body; returns when the run is over
  // Any thread: make KVM_RUN return now (or not start) so the loop looks at
  // the run state and the plugin timers. Costs a signal when the thread is
  // in the guest; never blocks.
  void kick();
  uint32_t index() const { return index_; }
  int fd() const { return fd_.get(); }
  uint64_t runtime_ns() const { return runtime_ns_.load(std::memory_order_relaxed); }
  const VcpuCounters& counters() const { return counters_; }
  // The guest RIP when this vCPU's thread left the run (~0 if unknown).
  uint64_t last_rip() const { return last_rip_.load(std::memory_order_relaxed); }

  // The in-kernel APIC by x2APIC MSR index and layout (0x800-0x8FF; reads
  // also IA32_APIC_BASE): KVM_GET_MSRS / KVM_SET_MSRS in x2APIC mode, the
  // register page, CR8 and MSIs in xAPIC mode (xapic.cpp). On this vCPU's
  // thread (the ABI's rule), where no KVM_RUN is in flight.
  bool apic_read(uint32_t msr, uint64_t& value);
  bool apic_write(uint32_t msr, uint64_t value);

  // Remote TLB flushes aimed at this vCPU (enlight_host.tlb_flush).
  TlbShootdown& tlb() { return tlb_; }

  // Snapshots (state.cpp), while this vCPU's thread is not running:
  // KVM's state of it; load throws std::runtime_error naming the ioctl
  // KVM refused, or a malformed saved state.
  // load leaves the guest's TSC to KvmVm::load_vcpus, which sets it after
  // every vCPU's load.
  VcpuSnapshot save();
  void load(const VcpuSnapshot& saved);

 private:
  // Each returns false when the run is over for this vCPU.
  bool handle_exit();
  bool on_io();
  bool on_mmio();  // a booted kernel's MMIO outside RAM: the empty bus
  bool on_msr(bool write);
  bool on_hypercall();
  // #UD on the hypercall OUT (hypercalls off): completes the pending OUT
  // without entering the guest, puts RIP back on it and injects #UD.
  bool inject_ud_on_out();
  bool apic_base(uint64_t& base);
  bool apic_in_x2apic_mode(bool& x2apic);
  bool xapic_eoi();
  bool xapic_send_ipi(uint64_t x2apic_icr);
  void end(Outcome outcome, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Makes KVM flush this vCPU's guest TLB before its next entry; on this
  // vCPU's thread, outside KVM_RUN. False when KVM refused.
  bool flush_guest_tlb();

  KvmVm::Impl& vm_;
  uint32_t index_;
  sys::Fd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  VcpuCounters counters_;
  std::atomic<uint64_t> runtime_ns_{0};
  std::atomic<uint64_t> last_rip_{~uint64_t{0}};
  std::mutex thread_mutex_;  // kick() vs the thread's start and end: never on the exit path
  pthread_t thread_{};
  bool alive_ = false;
  TlbShootdown tlb_;
};

}  // namespace enlight::kvm
