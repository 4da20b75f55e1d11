// Reads the emulated CPU's own CPUID.1 once, in a throw-away engine: the
// CPUID hook replaces the instruction, so it cannot ask the CPU itself.
#include "vcpu.hpp"

namespace enlight::emu {

NativeLeaf1 probe_native_leaf1() {
  NativeLeaf1 r;
  uc_engine* uc = nullptr;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) return r;
  static const uint8_t code[] = {0x0F, 0xA2, 0xF4};  // cpuid; hlt
  uint64_t rax = 1, rcx = 0;
  if (uc_mem_map(uc, 0x1000, 0x1000, UC_PROT_ALL) == UC_ERR_OK && uc_mem_write(uc, 0x1000, code, sizeof code) == UC_ERR_OK &&
      uc_reg_write(uc, UC_X86_REG_RAX, &rax) == UC_ERR_OK && uc_reg_write(uc, UC_X86_REG_RCX, &rcx) == UC_ERR_OK &&
      uc_emu_start(uc, 0x1000, 0x1000 + 2, 0, 0) == UC_ERR_OK) {
    uint64_t v = 0;
    uc_reg_read(uc, UC_X86_REG_RAX, &v); r.eax = static_cast<uint32_t>(v);
    uc_reg_read(uc, UC_X86_REG_RBX, &v); r.ebx = static_cast<uint32_t>(v);
    uc_reg_read(uc, UC_X86_REG_RCX, &v); r.ecx = static_cast<uint32_t>(v);
    uc_reg_read(uc, UC_X86_REG_RDX, &v); r.edx = static_cast<uint32_t>(v);
  }
  uc_close(uc);
  return r;
}

}  // namespace enlight::emu
