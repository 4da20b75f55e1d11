// The closed set of exits every backend turns its raw exits into, and the
// answers the bus gives back. A backend never calls a plugin directly.
#pragma once

#include <cstdint>

namespace enlight {

// Kinds of exit the bus dispatches; also the `kind` label of metrics.
enum class ExitKind : uint8_t { Cpuid, MsrRead, MsrWrite, Hypercall, IoIn, IoOut, Count };
const char* to_string(ExitKind k) noexcept;

// The answer to an MSR or I/O access.
enum class Access : uint8_t {
  Ok,     // value read or written
  GP,     // inject #GP(0)
  Fault,  // a plugin failed: the VM stops (Vm::stop_reason says why)
};

// Registers the hypercall ABI reads and writes (TLFS 3.7). The backend fills
// them from the vCPU and writes back what the bus changed.
struct HypercallRegs {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, r8 = 0;
  alignas(16) uint8_t xmm[6][16] = {};
  uint8_t cpl = 0;
  bool protected_mode = true;  // CR0.PE
  bool long_mode = true;       // EFER.LMA && CS.L: the 64-bit calling convention
};

enum class HypercallAction : uint8_t {
  Complete,  // result written to RAX (EDX:EAX); advance RIP past the call
  Continue,  // rep call not finished: RCX's rep start updated; do not advance RIP
  InjectUD,  // #UD: CPL > 0, real mode, or hypercalls not enabled
  Fault,     // a plugin failed: the VM stops
};

}  // namespace enlight
