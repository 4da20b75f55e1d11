// The vCPU's creation and the loop its host thread runs: plugin timers
// before every entry, KVM_RUN, one exit handled, again.
#include "impl.hpp"
#include "setup.hpp"
#include "vcpu.hpp"

#include <enlight/core/guest/protocol.h>

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace enlight::kvm {

KvmVcpu::KvmVcpu(KvmVm::Impl& vm, uint32_t index, std::vector<kvm_cpuid_entry2> cpuid) : vm_(vm), index_(index) {
  fd_ = sys::Fd(sys::xioctl(vm.vm_fd.get(), KVM_CREATE_VCPU, "KVM_CREATE_VCPU", static_cast<unsigned long>(index)));
  run_size_ = static_cast<size_t>(vm.run_mmap_size);
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("kvm: mmap of kvm_run: ") + std::strerror(errno));
  run_ = static_cast<kvm_run*>(p);

  cpuid_for_vcpu(cpuid, index);
  std::vector<uint8_t> buf(sys::kFlexHeader + cpuid.size() * sizeof(kvm_cpuid_entry2), 0);
  const uint32_t nent = static_cast<uint32_t>(cpuid.size());
  std::memcpy(buf.data(), &nent, 4);  // C layout (sys.hpp)
  std::memcpy(buf.data() + sys::kFlexHeader, cpuid.data(), cpuid.size() * sizeof(kvm_cpuid_entry2));
  sys::xioctl(fd_.get(), sys::kSetCpuid2, "KVM_SET_CPUID2", buf.data());

  // Registers and segment state come with every exit in kvm_run (no
  // KVM_GET_REGS/SREGS ioctl on the hypercall path).
  run_->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
}

void KvmVcpu::enter_flat_guest() {
  kvm_sregs s{};
  sys::xioctl(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);
  long_mode_sregs(s);
  sys::xioctl(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s);

  kvm_regs r{};
  r.rdi = index_;
  r.rsi = vm_.vm->vcpu_count();
  r.rdx = vm_.run_ms;
  r.rsp = ENLIGHT_GUEST_STACK_TOP - uint64_t{index_} * ENLIGHT_GUEST_STACK_SIZE;
  r.rip = ENLIGHT_GUEST_LOAD_ADDRESS;
  r.rflags = 0x2;  // IF = 0
  sys::xioctl(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &r);

  kvm_fpu fpu{};
  fpu.fcw = 0x37F;
  fpu.mxcsr = 0x1F80;
  sys::xioctl(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", &fpu);

  // With the in-kernel irqchip every AP starts waiting for INIT/SIPI; the
  // entry state of protocol.h has every vCPU running at the same address.
  kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
  sys::xioctl(fd_.get(), KVM_SET_MP_STATE, "KVM_SET_MP_STATE", &mp);
}

KvmVcpu::~KvmVcpu() {
  if (run_ != nullptr) munmap(run_, run_size_);
}

void KvmVcpu::kick() {
  // First the flag, then the signal: a thread about to enter KVM_RUN sees
  // the flag (KVM checks it on entry), one inside takes the signal. The
  // thread clears the flag before it looks at the run state, so a kick is
  // never lost between the two.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  std::lock_guard lock(thread_mutex_);
  if (alive_) pthread_kill(thread_, sys::kick_signal());
}

// KVM has no ioctl that flushes a vCPU's guest TLB. What it does have: a
// KVM_SET_SREGS that changes CR0, CR3, CR4 or EFER resets the vCPU's MMU
// context (__set_sregs_common -> kvm_mmu_reset_context), and KVM flushes the
// guest's TLB whenever it loads an MMU root (kvm_mmu_load ->
// flush_tlb_current: the guest's ASID on SVM, its VPID/EPT context on VMX).
// So CR4.PGE is toggled and put back: the same flush the SDM gives a guest
// for all its translations, global ones included (Vol. 3A 4.10.4.1), and
// the guest's registers end as they were. The nested stage's TLB guest
// (conformance-tlbflush) is what shows it works on a given KVM.
bool KvmVcpu::flush_guest_tlb() {
  constexpr uint64_t kCr4Pge = uint64_t{1} << 7;
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) != 0) return false;
  kvm_sregs toggled = s;
  toggled.cr4 ^= kCr4Pge;
  return ::ioctl(fd_.get(), KVM_SET_SREGS, &toggled) == 0 && ::ioctl(fd_.get(), KVM_SET_SREGS, &s) == 0;
}

void KvmVcpu::end(Outcome outcome, const char* fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  vm_.finish(outcome, text);
}

void KvmVcpu::run() {
  {
    std::lock_guard lock(thread_mutex_);
    thread_ = pthread_self();
    alive_ = true;
  }
  // The kick signal must reach this thread even if the caller blocked it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sys::kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  Vm& vm = *vm_.vm;
  // Time in the guest is measured with the TSC, not the system clock: on
  // a host whose clocksource is not the TSC (an L1 under TCG keeps HPET or
  // acpi_pm), every clock_gettime is a system call and a device read, two
  // per exit, which was most of this loop's cost over a bare KVM_RUN loop
  // in the nested stage (docs/kvm-backend.md, "The exit path").
  const double ns_per_tick = 1e9 / static_cast<double>(vm.options().tsc_frequency_hz);
  uint64_t ticks_in_guest = 0;
  for (;;) {
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
    if (vm_.over.load(std::memory_order_relaxed)) break;
    if (vm.stopped()) {  // a plugin stopped the VM (reset, crash): the others must leave too
      vm_.finish(Outcome::Stopped, vm.stop_message());
      break;
    }
    // Plugin timers run here, on this vCPU's thread, before it enters the
    // guest (docs/timers.md); the monitor kicks the vCPU when one is due.
    vm.run_timers(index_);
    if (tlb_.entering() && !flush_guest_tlb()) {
      tlb_.left();
      end(Outcome::HostError, "vCPU %u: KVM refused the register write that flushes its TLB: %s", index_,
          std::strerror(errno));
      break;
    }
    const uint64_t t0 = __rdtsc();
    const int r = ::ioctl(fd_.get(), KVM_RUN, 0);
    tlb_.left();
    ticks_in_guest += __rdtsc() - t0;
    runtime_ns_.store(static_cast<uint64_t>(static_cast<double>(ticks_in_guest) * ns_per_tick),
                      std::memory_order_relaxed);
    ++counters_.exits;
    vm.count(index_, MetricsStorage::kBackendExits);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;  // a kick
      end(Outcome::HostError, "KVM_RUN on vCPU %u: %s", index_, std::strerror(errno));
      break;
    }
    if (!handle_exit()) break;
  }
  // Where the guest was when the run ended, for a time-out's message: a
  // hung guest's RIP is the first thing anyone debugging it needs.
  kvm_regs regs{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &regs) == 0) last_rip_.store(regs.rip, std::memory_order_relaxed);
  std::lock_guard lock(thread_mutex_);
  alive_ = false;
}


}  // namespace enlight::kvm
