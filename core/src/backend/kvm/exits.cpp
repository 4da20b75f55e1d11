// The exits this backend takes, each turned into harness handling or a bus
// call. Everything read from kvm_run is checked before use: KVM writes it,
// but its contents are the guest's doing (sizes, counts, indexes).
// Nothing here locks or allocates, except the harness ports (console,
// records), which take the run's mutex like the emu backend's.
#include "impl.hpp"
#include "vcpu.hpp"

#include <enlight/abi.h>
#include <enlight/core/guest/protocol.h>
#include <enlight/machine/pm_timer.hpp>
#include <enlight/tlfs.h>

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace enlight::kvm {

bool KvmVcpu::handle_exit() {
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: return on_io();
    case KVM_EXIT_X86_RDMSR: return on_msr(false);
    case KVM_EXIT_X86_WRMSR: return on_msr(true);
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT:  // not taken with the in-kernel irqchip; harmless to re-enter
      return true;
    case KVM_EXIT_SHUTDOWN:
      // A PC's chipset turns a shutdown cycle into a reset, and Linux uses
      // it as one (reboot=t); a flat guest's triple fault is its bug.
      if (vm_.boot) {
        end(Outcome::Reset, "guest reset (triple fault on vCPU %u)", index_);
        return false;
      }
      end(Outcome::TripleFault, "vCPU %u: shutdown (triple fault) at rip 0x%llx", index_,
          static_cast<unsigned long long>(run_->s.regs.regs.rip));
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      end(run_->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? Outcome::TripleFault : Outcome::GuestFault,
          "vCPU %u: system event %u at rip 0x%llx", index_, run_->system_event.type,
          static_cast<unsigned long long>(run_->s.regs.regs.rip));
      return false;
    case KVM_EXIT_MMIO:
      return on_mmio();
    case KVM_EXIT_INTERNAL_ERROR:
      end(Outcome::GuestFault, "vCPU %u: KVM internal error, suberror %u%s, at rip 0x%llx", index_,
          run_->internal.suberror,
          run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)" : "",
          static_cast<unsigned long long>(run_->s.regs.regs.rip));
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      end(Outcome::GuestFault, "vCPU %u: VM entry failed, hardware reason 0x%llx", index_,
          static_cast<unsigned long long>(run_->fail_entry.hardware_entry_failure_reason));
      return false;
    default:
      end(Outcome::HostError, "vCPU %u: unexpected KVM exit reason %u", index_, run_->exit_reason);
      return false;
  }
}

bool KvmVcpu::on_io() {
  ++counters_.io;
  const auto& io = run_->io;
  const uint32_t size = io.size, count = io.count;
  const uint64_t offset = io.data_offset;
  if ((size != 1 && size != 2 && size != 4) || count == 0 || offset > run_size_ ||
      uint64_t{size} * count > run_size_ - offset) {
    end(Outcome::HostError, "vCPU %u: malformed I/O exit (size %u, count %u, offset %llu)", index_, size, count,
        static_cast<unsigned long long>(offset));
    return false;
  }
  const bool out = io.direction == KVM_EXIT_IO_OUT;
  // The hypercall doorbell: the "ioport" hypercall page does `out 0xEB, eax`
  // (docs/kvm-backend.md). Any 32-bit OUT there is a hypercall, as a VMCALL
  // anywhere is one; the bus answers #UD while hypercalls are off.
  if (out && io.port == ENLIGHT_HYPERCALL_IO_PORT && size == 4 && count == 1) return on_hypercall();

  uint8_t* data = reinterpret_cast<uint8_t*>(run_) + offset;
  Vm& vm = *vm_.vm;
  VcpuState& v = vm.vcpu(index_);
  const uint32_t ones = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  // The PC machine's devices first (a booted kernel, or a guest program
  // given them), then a guest program's harness ports and PM timer, then
  // the bus. They never share a port.
  machine::PortDevice* device = vm_.pc ? vm_.pc->device_at(io.port) : nullptr;
  const bool harness = !vm_.boot;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* item = data + uint64_t{i} * size;
    uint32_t value = 0;
    if (out) {
      std::memcpy(&value, item, size);
      if (device != nullptr) {
        device->out(io.port, static_cast<uint8_t>(size), value);
        continue;
      }
      if (harness) {
        switch (io.port) {
          case ENLIGHT_GUEST_PORT_CONSOLE:
            vm_.recorder.console(static_cast<char>(value & 0xFF));
            continue;
          case ENLIGHT_GUEST_PORT_REPORT:
            if (size != 4) vm_.recorder.bad_record();
            else vm_.recorder.report(vm_.vm->memory(), index_, value);
            continue;
          case ENLIGHT_GUEST_PORT_EXIT:
            vm_.finish(Outcome::Exited, "", value);
            return false;
          default:
            break;
        }
      }
      if (vm.bus().io_out(v, io.port, static_cast<uint8_t>(size), value) == Access::Fault) {
        vm_.finish(Outcome::Stopped, vm.stop_message());
        return false;
      }
    } else {
      value = ones;
      if (device != nullptr) {
        value = device->in(io.port, static_cast<uint8_t>(size));
        if (io.port >= machine::kAcpiPmTimer && io.port < machine::kAcpiPmTimer + machine::kAcpiPmTimerLength) {
          ++counters_.pm_timer;
          vm.count(index_, MetricsStorage::kPmTimerReads);
        }
      } else if (harness && io.port == ENLIGHT_MACHINE_PORT_PM_TIMER) {
        ++counters_.pm_timer;
        vm.count(index_, MetricsStorage::kPmTimerReads);
        value = machine::pm_timer_count(vm.now_ns());
      } else if (!harness || (io.port != ENLIGHT_GUEST_PORT_CONSOLE && io.port != ENLIGHT_GUEST_PORT_REPORT &&
                              io.port != ENLIGHT_GUEST_PORT_EXIT)) {  // write-only harness ports read all ones
        if (vm.bus().io_in(v, io.port, static_cast<uint8_t>(size), value) == Access::Fault) {
          vm_.finish(Outcome::Stopped, vm.stop_message());
          return false;
        }
      }
      value &= ones;
      std::memcpy(item, &value, size);
    }
  }
  return true;
}

// An access outside guest RAM and outside every in-kernel device. A flat
// guest has no business there (GuestFault, as on emu); a booted kernel
// probes and pokes such addresses as on any PC (an absent HPET, option
// ROMs), so it gets what a bus with nothing on it answers: reads all ones,
// writes dropped, and a counter.
bool KvmVcpu::on_mmio() {
  auto& m = run_->mmio;
  if (!vm_.boot) {
    end(Outcome::GuestFault, "vCPU %u: %s of %u byte(s) at GPA 0x%llx, outside guest RAM (rip 0x%llx)", index_,
        m.is_write ? "write" : "read", m.len, static_cast<unsigned long long>(m.phys_addr),
        static_cast<unsigned long long>(run_->s.regs.regs.rip));
    return false;
  }
  ++counters_.mmio;
  vm_.vm->count(index_, MetricsStorage::kMmioUnbacked);
  if (!m.is_write) std::memset(m.data, 0xFF, sizeof m.data);
  return true;
}

bool KvmVcpu::on_msr(bool write) {
  auto& m = run_->msr;
  // Only the FILTER reason was enabled; anything else is KVM's to answer,
  // so refuse it the architectural way.
  if (m.reason != KVM_MSR_EXIT_REASON_FILTER) {
    m.error = 1;
    return true;
  }
  const uint32_t index = m.index;
  if (index - HV_X64_MSR_SYNTHETIC_FIRST <= HV_X64_MSR_SYNTHETIC_LAST - HV_X64_MSR_SYNTHETIC_FIRST)
    ++counters_.msr_synthetic;
  else
    ++counters_.msr_other;
  Vm& vm = *vm_.vm;
  VcpuState& v = vm.vcpu(index_);
  Access a;
  if (write) {
    a = vm.bus().msr_write(v, index, m.data);
  } else {
    uint64_t value = 0;
    a = vm.bus().msr_read(v, index, value);
    if (a == Access::Ok) m.data = value;
  }
  switch (a) {
    case Access::Ok: m.error = 0; return true;
    case Access::GP: m.error = 1; return true;  // KVM injects #GP(0) with RIP on the instruction
    case Access::Fault:
    default:
      vm_.finish(Outcome::Stopped, vm.stop_message());
      return false;
  }
}

bool KvmVcpu::on_hypercall() {
  ++counters_.hypercalls;
  kvm_regs& g = run_->s.regs.regs;          // stored by KVM at this exit (KVM_SYNC_X86_REGS)
  const kvm_sregs& s = run_->s.regs.sregs;  // KVM_SYNC_X86_SREGS
  HypercallRegs r;
  r.rax = g.rax;
  r.rbx = g.rbx;
  r.rcx = g.rcx;
  r.rdx = g.rdx;
  r.rsi = g.rsi;
  r.rdi = g.rdi;
  r.r8 = g.r8;
  r.cpl = static_cast<uint8_t>(s.ss.dpl & 3);  // KVM reports SS.DPL = CPL
  r.protected_mode = s.cr0 & 1;
  r.long_mode = ((s.efer >> 10) & 1) && s.cs.l;
  // XMM registers only for a fast call: the XMM-fast forms are the only
  // ones that read or write them, and KVM_GET_FPU is an ioctl.
  const uint64_t control = r.long_mode ? r.rcx : ((r.rdx << 32) | (r.rax & 0xFFFFFFFFu));
  const bool fast = (control & HV_HYPERCALL_FAST) != 0;
  kvm_fpu fpu;
  if (fast) {
    if (::ioctl(fd_.get(), KVM_GET_FPU, &fpu) != 0) {
      end(Outcome::HostError, "vCPU %u: KVM_GET_FPU: %s", index_, std::strerror(errno));
      return false;
    }
    for (int i = 0; i < 6; ++i) std::memcpy(r.xmm[i], fpu.xmm[i], 16);
  }
  Vm& vm = *vm_.vm;
  VcpuState& v = vm.vcpu(index_);
  HypercallAction act = vm.bus().hypercall(v, r);
  // A rep call the bus continues is re-issued here rather than by
  // re-executing the OUT (KVM completes an OUT by skipping it; undoing that
  // costs two more ioctls). Each round makes progress (the rep start index
  // moves), so this ends; interrupts wait for the whole call.
  while (act == HypercallAction::Continue) {
    if (vm_.over.load()) return false;
    act = vm.bus().hypercall(v, r);
  }
  switch (act) {
    case HypercallAction::Complete:
      g.rax = r.rax;
      g.rcx = r.rcx;
      g.rdx = r.rdx;
      g.r8 = r.r8;
      run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;  // applied by KVM before it completes the OUT
      if (fast) {
        bool changed = false;
        for (int i = 0; i < 6; ++i) changed |= std::memcmp(fpu.xmm[i], r.xmm[i], 16) != 0;
        if (changed) {
          for (int i = 0; i < 6; ++i) std::memcpy(fpu.xmm[i], r.xmm[i], 16);
          if (::ioctl(fd_.get(), KVM_SET_FPU, &fpu) != 0) {
            end(Outcome::HostError, "vCPU %u: KVM_SET_FPU: %s", index_, std::strerror(errno));
            return false;
          }
        }
      }
      return true;
    case HypercallAction::InjectUD:
      return inject_ud_on_out();
    case HypercallAction::Fault:
    default:
      vm_.finish(Outcome::Stopped, vm.stop_message());
      return false;
  }
}

// #UD with RIP on the doorbell, as a VMCALL would fault. KVM completes a
// pending OUT by skipping it on the next KVM_RUN, so that completion is
// run first without entering the guest (immediate_exit), then RIP is put
// back and the exception queued. Rare: hypercalls off, or CPL > 0.
namespace {
// Where the OUT that exited starts, given the RIP after KVM completed it.
// Once completed, RIP is past the OUT whichever way KVM took: its fast PIO
// path exits with RIP on the OUT and skips it on completion; its emulator
// (PVM, and OUTs it decodes itself) advances RIP before the exit. So the
// start is found backwards from the completed RIP: `E7 EB` (out 0xEB, eax,
// the page's form) or `EF` (out dx, eax). A prefixed OUT (a hostile guest's
// own code, never the page) gets its #UD at the next instruction instead:
// wrong only for that guest, never for the host. RIP is read as a GPA:
// the guests run identity mapped (protocol.h).
uint64_t out_instruction_start(const GuestMemory& mem, uint64_t after) {
  uint8_t b[2] = {};
  if (after >= 2 && mem.read(after - 2, b, 2) && b[0] == 0xE7 && b[1] == ENLIGHT_HYPERCALL_IO_PORT) return after - 2;
  if (after >= 1 && mem.read(after - 1, b, 1) && b[0] == 0xEF) return after - 1;
  return after;
}
}  // namespace

bool KvmVcpu::inject_ud_on_out() {
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  const int r = ::ioctl(fd_.get(), KVM_RUN, 0);
  if (r == 0 || errno != EINTR) {
    end(Outcome::HostError, "vCPU %u: completing the hypercall OUT before #UD: %s", index_,
        r == 0 ? "KVM entered the guest" : std::strerror(errno));
    return false;
  }
  kvm_regs regs = run_->s.regs.regs;  // stored by KVM after the completion
  regs.rip = out_instruction_start(vm_.vm->memory(), regs.rip);
  kvm_vcpu_events ev{};
  if (::ioctl(fd_.get(), KVM_SET_REGS, &regs) != 0 || ::ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &ev) != 0) {
    end(Outcome::HostError, "vCPU %u: KVM_SET_REGS/KVM_GET_VCPU_EVENTS: %s", index_, std::strerror(errno));
    return false;
  }
  ev.exception.injected = 1;
  ev.exception.nr = 6;
  ev.exception.has_error_code = 0;
  ev.exception.error_code = 0;
  ev.flags = 0;  // leave NMI, SIPI, interrupt shadow and SMM state as they are
  if (::ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &ev) != 0) {
    end(Outcome::HostError, "vCPU %u: KVM_SET_VCPU_EVENTS: %s", index_, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace enlight::kvm
