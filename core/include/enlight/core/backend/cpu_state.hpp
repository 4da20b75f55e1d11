// One vCPU's architectural state as a snapshot holds it, in a form no
// backend owns: general registers, segments, control registers, the
// system MSRs a 64-bit guest sets, and the x87/SSE state in FXSAVE layout.
// Each backend fills what its CPU exposes and says, per field group, what
// it could not read (docs/snapshots.md); its private extras (the emu
// backend's local APIC model, KVM's LAPIC page) travel beside it as bytes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace enlight {

struct SegmentState {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  // Descriptor attributes as VMX and KVM pack them (type, S, DPL, P, AVL,
  // L, D/B, G in bits 0-15, with the limit bits 8-11 left out). Zero where
  // the backend cannot read them (the emu backend reloads from the GDT).
  uint16_t attributes = 0;
};

struct TableState {
  uint64_t base = 0;
  uint16_t limit = 0;
};

struct CpuState {
  // rax rcx rdx rbx rsp rbp rsi rdi r8-r15: the ModRM order.
  std::array<uint64_t, 16> gpr{};
  uint64_t rip = 0, rflags = 0;
  SegmentState cs, ds, es, fs, gs, ss, tr, ldtr;
  TableState gdtr, idtr;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0, efer = 0, xcr0 = 0;
  uint64_t kernel_gs_base = 0, star = 0, lstar = 0, cstar = 0, sfmask = 0;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0, pat = 0, tsc_aux = 0;
  uint64_t tsc = 0;  // the guest's TSC when the snapshot was taken
  // FXSAVE image: FCW, FSW, FTW, FOP, ..., MXCSR at 24, ST0-7 at 32, XMM0-15 at 160.
  std::array<uint8_t, 512> fxsave{};
  bool halted = false;  // stopped inside HLT: it waits for an interrupt again

  static constexpr uint32_t kFxsaveMxcsr = 24, kFxsaveSt0 = 32, kFxsaveXmm0 = 160;
};

// The MSRs a 64-bit guest sets beyond the registers above, and the field
// each is saved in: the one list both backends read and write. TSC_AUX
// last, so a backend whose CPU lacks it takes the first kCpuStateMsrCount - 1.
struct CpuStateMsr {
  uint32_t index;
  uint64_t CpuState::*field;
};
inline constexpr CpuStateMsr kCpuStateMsrs[] = {
    {0xC0000102, &CpuState::kernel_gs_base}, {0xC0000081, &CpuState::star},   {0xC0000082, &CpuState::lstar},
    {0xC0000083, &CpuState::cstar},          {0xC0000084, &CpuState::sfmask}, {0x174, &CpuState::sysenter_cs},
    {0x175, &CpuState::sysenter_esp},        {0x176, &CpuState::sysenter_eip}, {0x277, &CpuState::pat},
    {0xC0000103, &CpuState::tsc_aux},
};
inline constexpr uint32_t kCpuStateMsrCount = sizeof kCpuStateMsrs / sizeof kCpuStateMsrs[0];

// What a backend captures of one vCPU, and restores.
struct VcpuSnapshot {
  CpuState cpu;
  std::vector<uint8_t> backend;  // the backend's own format (its interrupt controller, pending events)
};

}  // namespace enlight
