/*
 * XMM fast hypercalls. The one library file built without
 * -mgeneral-regs-only: the compiler itself still uses no XMM here (no
 * floating point, no vectorisable loops); only the inline asm loads
 * XMM0-XMM5, and start.S enabled SSE (CR4.OSFXSR) on every vCPU.
 */
#include <enlight_guest/guest.h>

extern void* hv_hypercall_page_ptr;

uint64_t hv_hypercall_xmm_fast(uint64_t control, const void* input, size_t size) {
  uint64_t block[HV_HYPERCALL_XMM_INPUT_MAX_BYTES / 8] __attribute__((aligned(16)));
  const uint8_t* src = input;
  uint8_t* dst = (uint8_t*)block;
  if (size > HV_HYPERCALL_XMM_INPUT_MAX_BYTES) size = HV_HYPERCALL_XMM_INPUT_MAX_BYTES;
  for (size_t i = 0; i < sizeof block; ++i) {
    dst[i] = i < size ? src[i] : 0;
    __asm__ volatile("" ::: "memory"); /* keep this a byte loop: no vectorised copy */
  }
  uint64_t result;
  uint64_t rcx = control | HV_HYPERCALL_FAST;
  uint64_t rdx = block[0];
  register uint64_t r8 __asm__("r8") = block[1];
  /* One statement: nothing can run between the XMM loads and the call. */
  __asm__ volatile(
      "movdqa 0x00(%[xmm]), %%xmm0\n\t"
      "movdqa 0x10(%[xmm]), %%xmm1\n\t"
      "movdqa 0x20(%[xmm]), %%xmm2\n\t"
      "movdqa 0x30(%[xmm]), %%xmm3\n\t"
      "movdqa 0x40(%[xmm]), %%xmm4\n\t"
      "movdqa 0x50(%[xmm]), %%xmm5\n\t"
      "call *%[page]"
      : "=a"(result), "+c"(rcx), "+d"(rdx), "+r"(r8)
      : [xmm] "r"(&block[2]), [page] "m"(hv_hypercall_page_ptr)
      : "cc", "memory", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5");
  return result;
}
