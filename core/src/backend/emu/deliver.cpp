// Interrupt and exception delivery through the guest's 64-bit IDT, done by
// the host because Unicorn hands every exception to a hook instead: read
// the gate, push SS, RSP, RFLAGS, CS, RIP (and an error code) on the
// 16-byte-aligned stack, clear IF for an interrupt gate, enter the handler.
#include "emu_impl.hpp"
#include "vcpu.hpp"

#include <cstdio>

namespace enlight::emu {

bool EmuVcpu::enter_gate(uint8_t vector, bool has_error, uint32_t error, uint64_t rip, std::string& why) {
  GuestMemory& mem = vm_.vm->memory();
  uc_x86_mmr idtr{};
  uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
  const uint32_t offset = uint32_t{vector} * 16;
  if (idtr.limit < offset + 15) {
    why = idtr.limit == 0 ? "no IDT" : "vector beyond the IDT limit";
    return false;
  }
  uint8_t g[16];
  // The guest is identity mapped: its linear addresses are GPAs.
  if (!mem.read(idtr.base + offset, g, sizeof g)) {
    why = "IDT gate outside RAM";
    return false;
  }
  const uint8_t type = g[5] & 0x0F;
  if (!(g[5] & 0x80) || (type != 0xE && type != 0xF)) {
    why = "gate not present or not a 64-bit interrupt/trap gate";
    return false;
  }
  if (g[4] & 7) {
    why = "IST stacks are not modelled";
    return false;
  }
  const uint64_t cs = reg(UC_X86_REG_CS);
  if (cs & 3) {
    why = "delivery from CPL3 (TSS stack switch) is not modelled";
    return false;
  }
  const uint16_t selector = static_cast<uint16_t>(g[2] | (g[3] << 8));
  const uint64_t handler = uint64_t{g[0]} | (uint64_t{g[1]} << 8) | (uint64_t{g[6]} << 16) | (uint64_t{g[7]} << 24) |
                           (uint64_t{g[8]} << 32) | (uint64_t{g[9]} << 40) | (uint64_t{g[10]} << 48) |
                           (uint64_t{g[11]} << 56);
  const uint64_t rsp = reg(UC_X86_REG_RSP);
  const uint64_t rflags = reg(UC_X86_REG_RFLAGS);
  const uint64_t frame[6] = {has_error ? error : 0, rip, cs, rflags, rsp, reg(UC_X86_REG_SS)};
  const uint64_t* first = has_error ? frame : frame + 1;
  const uint64_t bytes = has_error ? 48 : 40;
  const uint64_t top = rsp & ~uint64_t{0xF};
  if (top < bytes || !mem.write(top - bytes, first, bytes)) {
    why = "stack outside RAM";
    return false;
  }
  set_reg(UC_X86_REG_RSP, top - bytes);
  // TF, NT, RF cleared; IF too for an interrupt gate (trap gates keep it).
  uint64_t flags = rflags & ~((1ull << 8) | (1ull << 14) | (1ull << 16));
  if (type == 0xE) flags &= ~(1ull << 9);
  set_reg(UC_X86_REG_RFLAGS, flags);
  if (selector != cs) set_reg(UC_X86_REG_CS, selector);
  set_reg(UC_X86_REG_RIP, handler);
  vm_.interrupts.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool EmuVcpu::raise(uint8_t vector, bool has_error, uint32_t error, uint64_t rip) {
  std::string why, why_df;
  if (enter_gate(vector, has_error, error, rip, why)) return true;
  // A fault while delivering a fault is a double fault; one while
  // delivering the double fault is a triple fault (shutdown).
  if (vector != 8 && enter_gate(8, true, 0, rip, why_df)) return true;
  char text[320];
  std::snprintf(text, sizeof text, "vCPU %u: triple fault: vector %u at RIP 0x%llx could not be delivered (%s)%s%s",
                index_, vector, static_cast<unsigned long long>(rip), why.c_str(),
                why_df.empty() ? "" : "; double fault: ", why_df.c_str());
  end(Outcome::TripleFault, text);
  return false;
}

bool EmuVcpu::deliver_pending() {
  if (!interrupts_enabled()) return true;
  const auto vector = lapic_.deliverable();
  if (!vector) return true;
  uint64_t rip = reg(UC_X86_REG_RIP);
  // STI's one-instruction interrupt shadow is invisible from outside
  // Unicorn. For the idiom `sti; hlt` stopped between the two, returning
  // to the HLT would sleep forever: take the interrupt as after the HLT.
  uint8_t b[2] = {};
  if (rip > 0 && vm_.vm->memory().read(rip - 1, b, 2) && b[0] == 0xFB && b[1] == 0xF4) rip += 1;
  lapic_.accept(*vector);
  std::string why;
  if (enter_gate(*vector, false, 0, rip, why)) return true;
  // A bad gate for an external interrupt is #GP(vector * 8 + 3: the IDT and EXT bits).
  return raise(13, true, uint32_t{*vector} * 8 + 3, rip);
}

}  // namespace enlight::emu
