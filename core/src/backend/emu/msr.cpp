// RDMSR/WRMSR trapping. Unicorn 2.0.1 cannot hook either instruction, and
// at CPL0 it executes them silently (reads 0, drops writes). So every byte
// pair 0F 32 / 0F 30 in the loaded image gets a code hook limited to that
// one address. A pair inside another instruction (an immediate, a ModRM)
// never starts an instruction, so its hook never fires; the hook re-reads
// the bytes in case the code changed. Only those addresses pay for a hook.
#include "emu_impl.hpp"
#include "vcpu.hpp"

namespace enlight::emu {

std::vector<uint64_t> scan_msr_sites(const uint8_t* image, uint64_t size, uint64_t load_address) {
  std::vector<uint64_t> sites;
  for (uint64_t i = 0; i + 1 < size; ++i)
    if (image[i] == 0x0F && (image[i + 1] == 0x30 || image[i + 1] == 0x32)) sites.push_back(load_address + i);
  return sites;
}

namespace {
// MSRs the emulated CPU itself implements: left to it when no plugin claims
// them (EFER, SYSCALL/SYSENTER, segment bases, PAT, MTRRs, TSC...).
bool native_msr(uint32_t index) {
  return index == 0x10 || index == 0xFE || index == 0x1A0 || index == 0x277 || (index >= 0x174 && index <= 0x176) ||
         (index >= 0x200 && index <= 0x2FF) || (index >= 0xC0000080 && index <= 0xC0000084) ||
         (index >= 0xC0000100 && index <= 0xC0000103);
}
}  // namespace

void EmuVcpu::on_msr_site(uc_engine*, uint64_t address, uint32_t, void* self) {
  auto& v = *static_cast<EmuVcpu*>(self);
  uint8_t b[2] = {};
  if (!v.vm_.vm->memory().read(address, b, 2) || b[0] != 0x0F || (b[1] != 0x30 && b[1] != 0x32)) return;
  v.msr_exit(address, b[1] == 0x30);
}

void EmuVcpu::msr_exit(uint64_t rip, bool write) {
  Vm& vm = *vm_.vm;
  const uint32_t index = static_cast<uint32_t>(reg(UC_X86_REG_RCX));
  const bool claimed = vm.bus().find_msr(index) != nullptr;
  if (!claimed && native_msr(index)) return;  // the instruction runs on the emulated CPU
  vm_.msr_exits.fetch_add(1, std::memory_order_relaxed);
  Access a;
  uint64_t value = 0;
  if (write) {
    value = (reg(UC_X86_REG_RDX) << 32) | (reg(UC_X86_REG_RAX) & 0xFFFFFFFFu);
    if (!claimed && Lapic::is_apic_msr(index))
      a = apic_msr_write(index, value) ? Access::Ok : Access::GP;
    else
      a = vm.bus().msr_write(vm.vcpu(index_), index, value);
  } else {
    if (!claimed && Lapic::is_apic_msr(index))
      a = apic_msr_read(index, value) ? Access::Ok : Access::GP;
    else
      a = vm.bus().msr_read(vm.vcpu(index_), index, value);
    if (a == Access::Ok) {
      set_reg(UC_X86_REG_RAX, value & 0xFFFFFFFFu);
      set_reg(UC_X86_REG_RDX, value >> 32);
    }
  }
  switch (a) {
    case Access::Ok:
      // Writing RIP from a code hook makes Unicorn 2.0.1 leave the block
      // and resume at the new RIP: the instruction itself never executes
      // (tests/core/emu/msr_test.cpp checks it).
      set_reg(UC_X86_REG_RIP, rip + 2);
      break;
    case Access::GP:
      defer(13, true, 0, rip);
      stop_engine(Stop::Resume);
      break;
    case Access::Fault:
      end(Outcome::Stopped, vm.stop_message());
      break;
  }
}

bool EmuVcpu::apic_msr_read(uint32_t index, uint64_t& value) { return lapic_.read(index, value, vm_.now_ns()); }

bool EmuVcpu::apic_msr_write(uint32_t index, uint64_t value) {
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  if (!lapic_.write(index, value, vm_.now_ns(), ipi, eoi)) return false;
  if (ipi) vm_.route_ipi(index_, *ipi);
  if (eoi >= 0) vm_.vm->notify_eoi(index_, static_cast<uint8_t>(eoi), false);
  // An EOI, a TPR change or a self-IPI may make a vector deliverable now:
  // stop at the next block (on_block). Not uc_emu_stop here: the RIP write
  // that skips the instruction makes Unicorn drop that stop request.
  if (lapic_.deliverable()) kicked_.store(true);
  return true;
}

}  // namespace enlight::emu
