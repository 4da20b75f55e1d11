/*
 * Guest page tables (enlight_guest/paging.h): an identity map with one 2 MiB
 * region split into 4 KiB pages. In the optional archive: only the programs
 * that call it carry its 36 KiB of tables.
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/paging.h>

#define ENTRIES 512u
#define GIB (1ull << 30)
#define DIRECTORIES (PAGING_MAPPED_BYTES / GIB)

_Static_assert(DIRECTORIES <= ENTRIES, "one PDPT covers the map");

extern uint8_t __bss_end[]; /* guest.ld */

static uint64_t pml4[ENTRIES] __attribute__((aligned(4096)));
static uint64_t pdpt[ENTRIES] __attribute__((aligned(4096)));
static uint64_t pd[DIRECTORIES][ENTRIES] __attribute__((aligned(4096)));
static volatile uint64_t pt[ENTRIES] __attribute__((aligned(4096)));
static uint64_t split_base_;
static volatile uint32_t built_;

/* The faulting accesses, each one instruction between two labels so the
 * #PF handler resumes exactly after it (the pattern of start.S's MSR and
 * VMCALL sites). RAX is zeroed first: a faulted load leaves it 0. */
__asm__(
    "\t.text\n"
    "\t.globl guest_paging_read_raw, guest_paging_read_fault_rip, guest_paging_read_resume_rip\n"
    "\t.type guest_paging_read_raw, @function\n"
    "guest_paging_read_raw:\n"
    "\txor %eax, %eax\n"
    "guest_paging_read_fault_rip:\n"
    "\tmov (%rdi), %rax\n"
    "guest_paging_read_resume_rip:\n"
    "\tret\n"
    "\t.size guest_paging_read_raw, . - guest_paging_read_raw\n"
    "\t.globl guest_paging_write_raw, guest_paging_write_fault_rip, guest_paging_write_resume_rip\n"
    "\t.type guest_paging_write_raw, @function\n"
    "guest_paging_write_raw:\n"
    "guest_paging_write_fault_rip:\n"
    "\tmov %rsi, (%rdi)\n"
    "guest_paging_write_resume_rip:\n"
    "\tret\n"
    "\t.size guest_paging_write_raw, . - guest_paging_write_raw\n");

extern uint8_t guest_paging_read_fault_rip[], guest_paging_read_resume_rip[];
extern uint8_t guest_paging_write_fault_rip[], guest_paging_write_resume_rip[];
uint64_t guest_paging_read_raw(uint64_t va);
void guest_paging_write_raw(uint64_t va, uint64_t value);

static uint64_t gpa_of(const volatile void* p) { return (uint64_t)(uintptr_t)p; }

uint64_t paging_default_split_base(void) {
  return (gpa_of(__bss_end) + PAGING_LARGE_PAGE_SIZE - 1) & ~(PAGING_LARGE_PAGE_SIZE - 1);
}

bool paging_build(uint64_t split_base) {
  if ((split_base & (PAGING_LARGE_PAGE_SIZE - 1)) != 0 || split_base >= PAGING_MAPPED_BYTES) return false;
  const uint64_t rw = PAGING_PTE_PRESENT | PAGING_PTE_WRITABLE;
  for (uint32_t i = 0; i < ENTRIES; ++i) pml4[i] = pdpt[i] = 0;
  pml4[0] = gpa_of(pdpt) | rw;
  for (uint64_t d = 0; d < DIRECTORIES; ++d) {
    pdpt[d] = gpa_of(pd[d]) | rw;
    for (uint64_t e = 0; e < ENTRIES; ++e) pd[d][e] = (d * GIB + e * PAGING_LARGE_PAGE_SIZE) | rw | PAGING_PDE_LARGE;
  }
  for (uint64_t i = 0; i < ENTRIES; ++i) pt[i] = (split_base + i * PAGING_PAGE_SIZE) | rw;
  pd[split_base / GIB][(split_base % GIB) / PAGING_LARGE_PAGE_SIZE] = gpa_of(pt) | rw;
  split_base_ = split_base;
  /* The tables are complete before another vCPU may see them as built. */
  __atomic_store_n(&built_, 1u, __ATOMIC_SEQ_CST);
  return true;
}

bool paging_load(void) {
  if (!__atomic_load_n(&built_, __ATOMIC_SEQ_CST)) return false;
  const uint64_t cr0 = paging_read_cr0();
  const uint64_t root = gpa_of(pml4);
  if (cr0 & PAGING_CR0_PG) {
    /* kvm: long mode already runs on the backend's identity tables, and
     * CR4.PAE cannot change while it does. Ours map the same. */
    __asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
    if (!(cr0 & PAGING_CR0_WP)) __asm__ volatile("mov %0, %%cr0" : : "r"(cr0 | PAGING_CR0_WP) : "memory");
  } else {
    /* emu: Unicorn's 64-bit mode starts with EFER.LME|LMA and CR0.PG clear;
     * turning PG on with PAE set keeps long mode. WP so a read-only page
     * faults at CPL0 too, as it does on kvm. */
    __asm__ volatile("mov %0, %%cr4" : : "r"(paging_read_cr4() | PAGING_CR4_PAE) : "memory");
    __asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
    __asm__ volatile("mov %0, %%cr0" : : "r"(cr0 | PAGING_CR0_PG | PAGING_CR0_WP) : "memory");
  }
  return true;
}

uint64_t paging_root(void) { return built_ ? gpa_of(pml4) : 0; }
uint64_t paging_split_base(void) { return built_ ? split_base_ : 0; }

volatile uint64_t* paging_pte(uint64_t va) {
  if (!built_ || va < split_base_ || va - split_base_ >= PAGING_LARGE_PAGE_SIZE) return NULL;
  return &pt[(va - split_base_) / PAGING_PAGE_SIZE];
}

static bool set_bit(uint64_t va, uint64_t bit, bool on) {
  volatile uint64_t* pte = paging_pte(va);
  if (pte == NULL) return false;
  /* A plain store, not a locked one: the CPU may set Accessed/Dirty in the
   * same entry concurrently only while another vCPU walks it, and the
   * tests change a PTE while its users wait. */
  *pte = on ? (*pte | bit) : (*pte & ~bit);
  return true;
}

bool paging_set_present(uint64_t va, bool present) { return set_bit(va, PAGING_PTE_PRESENT, present); }
bool paging_set_writable(uint64_t va, bool writable) { return set_bit(va, PAGING_PTE_WRITABLE, writable); }

bool paging_read_faults(uint64_t va, uint64_t* value, uint64_t* error_code) {
  guest_expect_fault(GUEST_VECTOR_PF, (uint64_t)(uintptr_t)guest_paging_read_fault_rip,
                     (uint64_t)(uintptr_t)guest_paging_read_resume_rip);
  const uint64_t v = guest_paging_read_raw(va);
  uint64_t error = 0;
  const bool faulted = guest_fault_take(&error) != GUEST_NO_FAULT;
  if (value) *value = faulted ? 0 : v;
  if (error_code) *error_code = faulted ? error : 0;
  return faulted;
}

bool paging_write_faults(uint64_t va, uint64_t value, uint64_t* error_code) {
  guest_expect_fault(GUEST_VECTOR_PF, (uint64_t)(uintptr_t)guest_paging_write_fault_rip,
                     (uint64_t)(uintptr_t)guest_paging_write_resume_rip);
  guest_paging_write_raw(va, value);
  uint64_t error = 0;
  const bool faulted = guest_fault_take(&error) != GUEST_NO_FAULT;
  if (error_code) *error_code = faulted ? error : 0;
  return faulted;
}
