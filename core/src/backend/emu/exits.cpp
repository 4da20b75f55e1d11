// Unicorn hooks for port I/O, CPUID, invalid opcodes (VMCALL/VMMCALL) and
// CPU exceptions, turned into harness-port handling or bus exits.
#include "emu_impl.hpp"
#include "vcpu.hpp"

#include <enlight/core/guest/protocol.h>
#include <enlight/machine/pm_timer.hpp>

#include <cstdio>
#include <cstring>

namespace enlight::emu {

uint32_t EmuVcpu::on_in(uc_engine*, uint32_t port, int size, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  const uint32_t ones = size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  if (port == ENLIGHT_GUEST_PORT_CONSOLE || port == ENLIGHT_GUEST_PORT_REPORT || port == ENLIGHT_GUEST_PORT_EXIT)
    return ones;  // write-only harness ports
  if (port == ENLIGHT_MACHINE_PORT_PM_TIMER) {
    v.vm_.pm_timer_reads.fetch_add(1, std::memory_order_relaxed);
    v.vm_.vm->count(v.index_, MetricsStorage::kPmTimerReads);
    return machine::pm_timer_count(v.vm_.vm->now_ns()) & ones;
  }
  uint32_t value = ones;
  const Access a = v.vm_.vm->bus().io_in(v.vm_.vm->vcpu(v.index_), static_cast<uint16_t>(port),
                                         static_cast<uint8_t>(size), value);
  if (a == Access::Fault) v.end(Outcome::Stopped, v.vm_.vm->stop_message());
  return value & ones;
}

void EmuVcpu::on_out(uc_engine*, uint32_t port, int size, uint32_t value, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  switch (port) {
    case ENLIGHT_GUEST_PORT_CONSOLE:
      v.vm_.recorder.console(static_cast<char>(value & 0xFF));
      return;
    case ENLIGHT_GUEST_PORT_REPORT:
      if (size != 4) {
        v.vm_.recorder.bad_record();
        return;
      }
      v.vm_.recorder.report(v.vm_.vm->memory(), v.index_, value);
      return;
    case ENLIGHT_GUEST_PORT_EXIT:
      v.stop_ = Stop::Ended;
      v.vm_.finish(Outcome::Exited, "", value);
      uc_emu_stop(v.uc_);
      return;
    default: {
      const Access a = v.vm_.vm->bus().io_out(v.vm_.vm->vcpu(v.index_), static_cast<uint16_t>(port),
                                              static_cast<uint8_t>(size), value);
      if (a == Access::Fault) v.end(Outcome::Stopped, v.vm_.vm->stop_message());
    }
  }
}

int EmuVcpu::on_cpuid(uc_engine*, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  const uint32_t leaf = static_cast<uint32_t>(v.reg(UC_X86_REG_RAX));
  const uint32_t subleaf = static_cast<uint32_t>(v.reg(UC_X86_REG_RCX));
  CpuidValue r;
  if (bus_cpuid_leaf(leaf)) {
    r = v.vm_.vm->bus().cpuid(v.vm_.vm->vcpu(v.index_), leaf, subleaf);
  } else if (leaf == 1) {
    // The hook runs instead of the instruction, so the CPU's own leaf 1 was
    // read once ahead (probe_native_leaf1) and is adjusted here: this vCPU's
    // initial APIC ID, x2APIC (ECX[21]: the local APIC this backend models
    // is x2APIC, which Unicorn's default CPU does not advertise), and
    // "hypervisor present" when Hyper-V leaves exist.
    r = {v.leaf1_.eax, (v.leaf1_.ebx & 0x00FFFFFFu) | (v.index_ << 24), v.leaf1_.ecx | (1u << 21), v.leaf1_.edx};
    if (v.hv_present_) r.ecx |= 1u << 31;
  } else {
    return 0;  // the emulated CPU answers
  }
  v.set_reg(UC_X86_REG_RAX, r.eax);
  v.set_reg(UC_X86_REG_RBX, r.ebx);
  v.set_reg(UC_X86_REG_RCX, r.ecx);
  v.set_reg(UC_X86_REG_RDX, r.edx);
  return 1;
}

bool EmuVcpu::on_invalid(uc_engine*, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  const uint64_t rip = v.reg(UC_X86_REG_RIP);
  uint8_t b[3] = {};
  const bool readable = v.vm_.vm->memory().read(rip, b, sizeof b);
  if (readable && b[0] == 0x0F && b[1] == 0x01 && (b[2] == 0xC1 || b[2] == 0xD9)) {
    // This hook ends the engine's run: no guest instruction executes before
    // the loop re-enters, so for a remote TLB flush this vCPU counts as out
    // of guest mode. Another vCPU flushing this one meanwhile need not wait
    // for it (two vCPUs flushing each other would otherwise deadlock).
    v.tlb_.left();
    if (!v.hypercall(rip)) return true;
  } else {
    v.defer(6, false, 0, rip);  // #UD: a fault, RIP stays on the instruction
  }
  // Unicorn leaves emulation after this hook; the loop restarts at RIP.
  v.stop_engine(Stop::Resume);
  return true;
}

void EmuVcpu::on_intr(uc_engine*, uint32_t intno, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  uint64_t rip = v.reg(UC_X86_REG_RIP);
  // INT n / INT3 are traps: the frame's RIP is the next instruction.
  uint8_t b[2] = {};
  if (v.vm_.vm->memory().read(rip, b, 2)) {
    if (b[0] == 0xCC && intno == 3) rip += 1;
    else if (b[0] == 0xCD && b[1] == intno) rip += 2;
  }
  const bool has_error = intno == 8 || (intno >= 10 && intno <= 14) || intno == 17;
  v.defer(static_cast<uint8_t>(intno), has_error, 0, rip);
  v.stop_engine(Stop::Resume);
}

void EmuVcpu::defer(uint8_t vector, bool has_error, uint32_t error, uint64_t rip) {
  pending_ = Pending{true, has_error, vector, error, rip};
}

bool EmuVcpu::hypercall(uint64_t rip) {
  Vm& vm = *vm_.vm;
  vm_.hypercalls.fetch_add(1, std::memory_order_relaxed);
  HypercallRegs r;
  r.rax = reg(UC_X86_REG_RAX);
  r.rbx = reg(UC_X86_REG_RBX);
  r.rcx = reg(UC_X86_REG_RCX);
  r.rdx = reg(UC_X86_REG_RDX);
  r.rsi = reg(UC_X86_REG_RSI);
  r.rdi = reg(UC_X86_REG_RDI);
  r.r8 = reg(UC_X86_REG_R8);
  for (int i = 0; i < 6; ++i) uc_reg_read(uc_, UC_X86_REG_XMM0 + i, r.xmm[i]);
  r.cpl = static_cast<uint8_t>(reg(UC_X86_REG_CS) & 3);
  r.protected_mode = reg(UC_X86_REG_CR0) & 1;
  uc_x86_msr efer{0xC0000080u, 0};
  uc_reg_read(uc_, UC_X86_REG_MSR, &efer);
  r.long_mode = (efer.value >> 10) & 1;  // EFER.LMA; a 64-bit CS is assumed (compatibility mode is not told apart)
  switch (vm.bus().hypercall(vm.vcpu(index_), r)) {
    case HypercallAction::Complete:
      set_reg(UC_X86_REG_RAX, r.rax);
      set_reg(UC_X86_REG_RCX, r.rcx);
      set_reg(UC_X86_REG_RDX, r.rdx);
      set_reg(UC_X86_REG_R8, r.r8);
      for (int i = 0; i < 6; ++i) uc_reg_write(uc_, UC_X86_REG_XMM0 + i, r.xmm[i]);
      set_reg(UC_X86_REG_RIP, rip + 3);
      return true;
    case HypercallAction::Continue:
      // Re-executed after pending interrupts had their chance, as on KVM.
      set_reg(UC_X86_REG_RCX, r.rcx);
      set_reg(UC_X86_REG_RIP, rip);
      return true;
    case HypercallAction::InjectUD:
      defer(6, false, 0, rip);
      return true;
    case HypercallAction::Fault:
    default:
      end(Outcome::Stopped, vm.stop_message());
      return false;
  }
}

}  // namespace enlight::emu
