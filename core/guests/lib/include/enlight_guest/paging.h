/*
 * Guest-owned page tables: 4-level, identity mapping GVA == GPA over
 * [0, PAGING_MAPPED_BYTES) with 2 MiB pages, except one 2 MiB region (the
 * "split" region) mapped by 512 4 KiB PTEs, so a test can change one small
 * page (present, accessed, writable) and watch which vCPUs still use the
 * old translation (conformance-tlbflush).
 *
 * Why the mapping stays an identity map: the emu backend's Unicorn 2.0.1
 * walks the tables (presence and permissions are enforced, #PF is raised)
 * but uses the virtual address as the physical one, so a PTE pointing
 * elsewhere would be honoured on kvm and ignored on emu. A change of
 * presence or permission is visible on both (docs/emu-backend.md).
 *
 * Entry state differs per backend: emu enters long mode with CR0.PG clear,
 * kvm with its own identity tables loaded. paging_load() handles both.
 * Tables live in .bss: build them once (any vCPU), then load them on every
 * vCPU that should use them. The PTE helpers change memory only; what a
 * vCPU has cached is the caller's business (paging_invlpg locally, a
 * hypercall for the others).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAGING_PAGE_SIZE 0x1000ull
#define PAGING_LARGE_PAGE_SIZE 0x200000ull
/* 4 GiB: all of guest RAM the harness gives (well below), with room to
 * spare, and one page directory per GiB. */
#define PAGING_MAPPED_BYTES (4ull << 30)

/* Page-table entry bits (SDM vol. 3, "4-Level Paging"). */
#define PAGING_PTE_PRESENT (1ull << 0)
#define PAGING_PTE_WRITABLE (1ull << 1)
#define PAGING_PTE_ACCESSED (1ull << 5)
#define PAGING_PTE_DIRTY (1ull << 6)
#define PAGING_PDE_LARGE (1ull << 7)
#define PAGING_PTE_ADDRESS_MASK 0x000FFFFFFFFFF000ull

#define PAGING_CR0_WP (1ull << 16)
#define PAGING_CR0_PG (1ull << 31)
#define PAGING_CR4_PAE (1ull << 5)

/* The first 2 MiB boundary at or above the end of .bss: guest RAM the
 * program does not use, so its pages may be made absent without hiding
 * code, data or stacks. The run's RAM must extend 2 MiB past it. */
uint64_t paging_default_split_base(void);

/* Builds the tables with the split region at `split_base` (2 MiB aligned,
 * below PAGING_MAPPED_BYTES). Every identity entry present and writable, no
 * global bit. False (and nothing built) on a bad base. Does not load them. */
bool paging_build(uint64_t split_base);

/* Loads the built tables on the calling vCPU: CR4.PAE, CR3, then CR0.PG and
 * CR0.WP if paging was off (emu), or CR3 alone if it was on (kvm). A CR3
 * write flushes this vCPU's non-global translations. False if the tables
 * were not built. */
bool paging_load(void);

/* GPA of the PML4 (what CR3 holds once paging_load ran), 0 before build. */
uint64_t paging_root(void);
/* The split region's base, 0 before build. */
uint64_t paging_split_base(void);

/* The 4 KiB PTE mapping `va`, or NULL when `va` is outside the split
 * region. */
volatile uint64_t* paging_pte(uint64_t va);

/* Sets or clears the present / writable bit of the 4 KiB page holding
 * `va` (in the split region). Memory only: no TLB is flushed. False when
 * `va` is outside the split region. */
bool paging_set_present(uint64_t va, bool present);
bool paging_set_writable(uint64_t va, bool writable);

/* Drops this vCPU's translation of `va`, and only this vCPU's. */
static inline void paging_invlpg(uint64_t va) {
  __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint64_t paging_read_cr0(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr0, %0" : "=r"(v));
  return v;
}
static inline uint64_t paging_read_cr2(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}
static inline uint64_t paging_read_cr3(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  return v;
}
static inline uint64_t paging_read_cr4(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}

/* One 8-byte load from / store to `va` that may take #PF: true if it did
 * (then *value is 0 and *error_code holds the error code the handler saw;
 * the emu backend always reports 0 there, as Unicorn does not pass it). The
 * access is one instruction at a known address, so the fault is recovered
 * exactly (guest_expect_fault). error_code may be NULL. */
bool paging_read_faults(uint64_t va, uint64_t* value, uint64_t* error_code);
bool paging_write_faults(uint64_t va, uint64_t value, uint64_t* error_code);

#ifdef __cplusplus
}
#endif
