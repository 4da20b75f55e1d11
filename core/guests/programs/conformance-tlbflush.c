/*
 * conformance-tlbflush: the remote TLB flush hypercalls (TLFS "Virtual
 * Processor TLB Flushing": HvCallFlushVirtualAddressSpace 0x0002,
 * HvCallFlushVirtualAddressList 0x0003 and their Ex forms 0x0013/0x0014,
 * the last two with an HV_VP_SET), when 0x40000004.EAX[2] recommends them.
 * Needs 2+ vCPUs.
 *
 * The experiment, one round per form of the call: every other vCPU (a
 * reader) loads its own test page, which puts the page's translation in
 * that vCPU's TLB, then spins on a shared word without leaving guest mode.
 * vCPU 0 changes the PTEs, INVLPGs them only on itself, makes the flush
 * call naming the readers by the VP index each read from its own
 * HV_X64_MSR_VP_INDEX, and releases them. Each named reader reads its page
 * again and must not have used the translation cached before the call
 * (the TLFS promise: the call returns once the targets are flushed). Two
 * ways to see that, both changes of a mapping's attributes, never a remap:
 *   - not present: the PTE's present bit is cleared, and the reader must
 *     take #PF (the first flush round);
 *   - re-walked: the PTE's accessed bit is cleared (the page stays
 *     present), and the reader's access must set it again, which only a
 *     page walk does: a TLB hit leaves it clear (every other round).
 * A remap is not observable on the emu backend: Unicorn 2.0.1 walks the
 * tables, enforces presence and sets accessed bits, but uses the virtual
 * address as the physical one (docs/emu-backend.md). And only one #PF per
 * vCPU: on emu, a second fault the CPU raises becomes #DF and any
 * exception after that a triple fault (Unicorn leaves QEMU's exception
 * nesting state set when the backend delivers an exception itself), so
 * each reader takes at most one #PF here, and vCPU 0 one in its own check
 * of the paging helper (docs/guests.md, "Paging").
 *
 * The same two rounds without any hypercall come first and are METRICs,
 * tlb.stale_seen_without_flush (present bit) and
 * tlb.stale_seen_without_flush_accessed (accessed bit), 1 when vCPU 1 still
 * used its stale translation: they show whether the experiment can tell a
 * flush from none on this backend, which is the backend's business, so no
 * check. The emu host test requires both to be 1 (each vCPU is its own
 * Unicorn engine whose softmmu TLB keeps an entry until flushed).
 *
 * Also: the CPUID hints (EAX[2], EAX[11] Ex masks), a local check of the
 * paging helper (INVLPG of a not-present page, accessed bit set by a walk),
 * flags ALL_PROCESSORS, ALL_VIRTUAL_ADDRESS_SPACES, NON_GLOBAL_MAPPINGS_ONLY
 * and a ProcessorMask of 0 (all processors, KVM's Windows Server 2012
 * workaround), VPs no vCPU has, and the error answers (reserved flag bits,
 * NON_GLOBAL_MAPPINGS_ONLY on the List calls, set format 2, a variable
 * header that is not the bank count, rep count and variable header where
 * the call has none). With XMM input (0x40000003.EDX[4]) the four calls
 * again in their XMM fast forms. The ProcessorMask calls run only while
 * every VP index is below 64 (the vpindex plugin's `base` can move them).
 */
#include <enlight_guest/guest.h>
#include <enlight_guest/paging.h>

/* A wait for the readers, bounded by the TSC, not by loop counts: a PAUSE
 * costs anywhere from a cycle (emu) to an in-kernel pause-loop exit (some
 * kvm hosts). */
#define WAIT_MS 5000u
/* Test pages inside the split region: vCPU n's is FIRST_TEST_PAGE + n;
 * OTHER_PAGE is an unrelated one for the GVA lists. */
#define FIRST_TEST_PAGE 17u
#define OTHER_PAGE 300u
#define ROUND_STOP 0xFFFFFFFFu
/* 64 banks of 64: the VP indexes an HV_VP_SET can name. */
#define VP_SET_LIMIT (HV_VP_SET_BANK_COUNT_MAX * HV_VP_SET_VPS_PER_BANK)

static hv_info hv;
static uint64_t split_base, other_va;
static uint32_t n_vcpus;
static uint64_t tsc_hz;
static uint8_t input_page[4096] __attribute__((aligned(4096)));

/* Shared words, one writer each (locked RMW is not atomic between emu
 * vCPUs): vCPU 0 writes the first three, each reader its own slots. */
static volatile uint32_t tables_ready;
static volatile uint32_t round_begin; /* round r: readers load their page */
static volatile uint32_t round_go;    /* round r: PTE changed, readers read again */
static volatile uint32_t ap_ready[GUEST_MAX_VCPUS];
static volatile uint32_t vp_index[GUEST_MAX_VCPUS];
static volatile uint32_t vp_index_faulted[GUEST_MAX_VCPUS];
static volatile uint32_t loaded[GUEST_MAX_VCPUS];
static volatile uint32_t before_faulted[GUEST_MAX_VCPUS];
static volatile uint64_t before_value[GUEST_MAX_VCPUS];
static volatile uint32_t finished[GUEST_MAX_VCPUS];
static volatile uint32_t after_faulted[GUEST_MAX_VCPUS];

enum { KIND_PRESENT, KIND_ACCESSED };

static uint32_t absent_vp;  /* a VP index no vCPU has, in a bank of its own */

static uint64_t gpa(const void* p) { return (uint64_t)(uintptr_t)p; }
static uint64_t* in_qwords(void) { return (uint64_t*)input_page; }
static uint64_t page_va(uint32_t vcpu) { return split_base + (FIRST_TEST_PAGE + vcpu) * PAGING_PAGE_SIZE; }

/* ------------------------------------------------------------------------ */
/* Readers                                                                  */

void guest_ap_main(uint32_t index) {
  while (!tables_ready) cpu_relax();
  paging_load();
  uint64_t vp = 0;
  vp_index_faulted[index] = rdmsr_safe(HV_X64_MSR_VP_INDEX, &vp);
  vp_index[index] = (uint32_t)vp;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  ap_ready[index] = 1;
  const uint64_t va = page_va(index);
  uint32_t seen = 0;
  for (;;) {
    uint32_t r;
    while ((r = round_begin) == seen) cpu_relax();
    seen = r;
    if (r == ROUND_STOP) return;
    uint64_t v = 0;
    before_faulted[index] = paging_read_faults(va, &v, NULL);
    before_value[index] = v;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    loaded[index] = r;
    /* No PAUSE, no exit of any kind: on kvm a VM exit is a chance for the
     * host to flush, which would make a missing flush look done. */
    while (round_go != r) __asm__ volatile("" ::: "memory");
    after_faulted[index] = paging_read_faults(va, &v, NULL);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    finished[index] = r;
  }
}

/* ------------------------------------------------------------------------ */
/* Rounds                                                                   */

static uint32_t round_no;
static bool aborted;

static bool wait_all(volatile uint32_t* word, uint32_t r) {
  const uint64_t end = rdtsc() + guest_muldiv64(tsc_hz, WAIT_MS, 1000);
  for (uint32_t i = 1; i < n_vcpus; ++i) {
    while (word[i] != r && rdtsc() < end) cpu_relax();
    if (word[i] != r) return false;
  }
  return true;
}

/* One round of `kind`: readers load their pages, vCPU 0 changes those of
 * the readers in `changed` (locally flushed only), `flush` (NULL: nothing)
 * makes the call, readers read again. Returns the readers that did not use
 * a stale translation (took #PF, or re-walked); each reader in `must_see`
 * is checked to be one. */
static uint32_t round_run(const char* name, uint32_t kind, void (*flush)(const char* name), uint32_t changed,
                          uint32_t must_see) {
  char check[96];
  if (aborted) return 0;
  const uint32_t r = ++round_no;
  const uint64_t pattern = 0x7E57000000000000ull | r;
  for (uint32_t i = 1; i < n_vcpus; ++i) *(volatile uint64_t*)page_va(i) = pattern;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  round_begin = r;
  guest_snprintf(check, sizeof check, "%s.readers_loaded", name);
  if (!wait_all(loaded, r)) {
    CHECK_TRUE(check, false);
    aborted = true;
    return 0;
  }
  for (uint32_t i = 1; i < n_vcpus; ++i) {
    guest_snprintf(check, sizeof check, "%s.vcpu%u.reads_page_before", name, i);
    CHECK_EQ(check, pattern, before_faulted[i] ? ~0ull : before_value[i]);
  }
  /* From here to the readers' second read vCPU 0 does not touch their
   * pages: its own access would set the accessed bit. */
  for (uint32_t i = 1; i < n_vcpus; ++i) {
    if (!(changed & (1u << i))) continue;
    if (kind == KIND_PRESENT) paging_set_present(page_va(i), false);
    else *paging_pte(page_va(i)) &= ~PAGING_PTE_ACCESSED;
    paging_invlpg(page_va(i));
  }
  if (flush) flush(name);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  round_go = r;
  const bool all_finished = wait_all(finished, r);
  uint32_t fresh = 0;
  for (uint32_t i = 1; i < n_vcpus && all_finished; ++i) {
    if (kind == KIND_PRESENT) {
      if (after_faulted[i]) fresh |= 1u << i;
    } else {
      if (*paging_pte(page_va(i)) & PAGING_PTE_ACCESSED) fresh |= 1u << i;
      guest_snprintf(check, sizeof check, "%s.vcpu%u.reads_page_after", name, i);
      CHECK_EQ(check, 0, after_faulted[i]);
    }
    if (!(must_see & (1u << i))) continue;
    guest_snprintf(check, sizeof check, "%s.vcpu%u.%s", name, i,
                   kind == KIND_PRESENT ? "sees_not_present" : "rewalked");
    CHECK_EQ(check, 1, (fresh >> i) & 1u);
  }
  if (!all_finished) {
    guest_snprintf(check, sizeof check, "%s.readers_finished", name);
    CHECK_TRUE(check, false);
    aborted = true;
  }
  /* x86 caches no not-present translation: making the page present again
   * leaves nothing stale to flush. */
  for (uint32_t i = 1; i < n_vcpus; ++i)
    if ((changed & (1u << i)) && kind == KIND_PRESENT) paging_set_present(page_va(i), true);
  return fresh;
}

/* ------------------------------------------------------------------------ */
/* Hypercall inputs                                                         */

static uint32_t put_all_set(uint64_t* at) {
  at[0] = HV_GENERIC_SET_ALL;
  at[1] = 0;
  return 2;
}

static uint64_t varhead(uint32_t qwords) { return (uint64_t)qwords << HV_HYPERCALL_VARHEAD_SHIFT; }

static uint64_t page_entry(uint64_t va, uint32_t additional) {
  return (va & HV_GVA_RANGE_SIMPLE_PAGE_NUMBER_MASK) | (additional & HV_GVA_RANGE_SIMPLE_ADDITIONAL_PAGES_MASK);
}

/* One GVA range over every reader's page (they are consecutive). */
static uint64_t readers_entry(void) { return page_entry(page_va(1), n_vcpus - 2); }

/* Memory forms. */
static uint64_t call_space(uint64_t space, uint64_t flags, uint64_t mask) {
  uint64_t* in = in_qwords();
  in[0] = space;
  in[1] = flags;
  in[2] = mask;
  return hv_hypercall(hv_control(HvCallFlushVirtualAddressSpace, 0), gpa(in), 0);
}

static uint64_t call_list(uint64_t space, uint64_t flags, uint64_t mask, const uint64_t* entries, uint32_t n) {
  uint64_t* in = in_qwords();
  in[0] = space;
  in[1] = flags;
  in[2] = mask;
  for (uint32_t i = 0; i < n; ++i) in[3 + i] = entries[i];
  return hv_hypercall(hv_control(HvCallFlushVirtualAddressList, n), gpa(in), 0);
}

/* Ex: the set is given as VP indexes (sparse) or all (vps == NULL). `vh`
 * overrides the variable header size when >= 0. */
static uint64_t call_ex(uint32_t code, uint64_t flags, const uint32_t* vps, uint32_t n, const uint64_t* entries,
                        uint32_t reps, int vh) {
  uint64_t* in = in_qwords();
  in[0] = paging_read_cr3();
  in[1] = flags;
  uint32_t banks = 0;
  const uint32_t set = vps ? hv_put_sparse_vp_set(in + 2, vps, n, 0, &banks) : put_all_set(in + 2);
  for (uint32_t i = 0; i < reps; ++i) in[2 + set + i] = entries[i];
  const uint64_t control = hv_control(code, reps) | varhead(vh >= 0 ? (uint32_t)vh : banks);
  return hv_hypercall(control, gpa(in), 0);
}

/* XMM fast forms: the same bytes as the memory form, RDX/R8 then XMM0-5. */
static uint64_t xmm_bytes(uint32_t code, uint32_t reps, uint32_t vh, uint32_t qwords) {
  return hv_hypercall_xmm_fast(hv_control(code, reps) | varhead(vh), in_qwords(), qwords * 8u);
}

static void expect_success(const char* name, uint64_t result, uint32_t reps) {
  char check[96];
  guest_snprintf(check, sizeof check, "%s.status", name);
  CHECK_EQ(check, HV_STATUS_SUCCESS, hv_result_status(result));
  if (reps != 0) {
    guest_snprintf(check, sizeof check, "%s.reps_completed", name);
    CHECK_EQ(check, reps, hv_result_reps(result));
  }
}

/* ------------------------------------------------------------------------ */
/* The flush of each round                                                  */

/* A ProcessorMask names VPs 0-63 only; the rounds that use one run only
 * when every VP index is below 64. */
static uint64_t reader1_mask(void) { return vp_index[1] < 64 ? 1ull << vp_index[1] : 0; }

static void flush_space(const char* name) { expect_success(name, call_space(paging_read_cr3(), 0, reader1_mask()), 0); }

static void flush_space_all_processors(const char* name) {
  /* The mask is ignored with the flag: name nobody in it. */
  expect_success(name, call_space(paging_read_cr3(), HV_FLUSH_ALL_PROCESSORS, 0), 0);
}

static void flush_space_mask_zero(const char* name) {
  /* Mask 0 without ALL_PROCESSORS means every processor (KVM's workaround
   * for Windows Server 2012, which sends that). */
  expect_success(name, call_space(paging_read_cr3(), 0, 0), 0);
}

static void flush_space_all_spaces(const char* name) {
  /* With ALL_VIRTUAL_ADDRESS_SPACES the address space is ignored: a value
   * that is no CR3 of ours must still flush ours. */
  expect_success(name, call_space(0x1234000ull, HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES, reader1_mask()), 0);
}

static void flush_space_non_global(const char* name) {
  /* The test PTE is not global, so it goes too. */
  expect_success(name, call_space(paging_read_cr3(), HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, reader1_mask()), 0);
}

static void flush_list(const char* name) {
  /* Two ranges: an unrelated page, then one starting a page below vCPU 1's
   * and covering it (2 additional pages). */
  const uint64_t entries[2] = {page_entry(other_va, 0), page_entry(page_va(0), 2)};
  expect_success(name, call_list(paging_read_cr3(), 0, reader1_mask(), entries, 2), 2);
}

static void flush_list_all_processors(const char* name) {
  const uint64_t entry = readers_entry();
  expect_success(name, call_list(paging_read_cr3(), HV_FLUSH_ALL_PROCESSORS, 0, &entry, 1), 1);
}

static void flush_space_ex_sparse(const char* name) {
  const uint32_t vp = vp_index[1];
  expect_success(name, call_ex(HvCallFlushVirtualAddressSpaceEx, 0, &vp, 1, NULL, 0, -1), 0);
}

static void flush_space_ex_all(const char* name) {
  expect_success(name, call_ex(HvCallFlushVirtualAddressSpaceEx, 0, NULL, 0, NULL, 0, -1), 0);
}

static void flush_list_ex_sparse(const char* name) {
  /* vCPU 1 and a VP no vCPU has, in a bank of its own: the absent VP is
   * ignored, vCPU 1 is flushed. */
  const uint32_t vps[2] = {vp_index[1], absent_vp};
  const uint64_t entry = page_entry(page_va(1), 0);
  expect_success(name, call_ex(HvCallFlushVirtualAddressListEx, 0, vps, 2, &entry, 1, -1), 1);
}

static void flush_list_ex_all(const char* name) {
  const uint64_t entry = readers_entry();
  expect_success(name, call_ex(HvCallFlushVirtualAddressListEx, 0, NULL, 0, &entry, 1, -1), 1);
}

static void flush_space_xmm(const char* name) {
  uint64_t* in = in_qwords();
  in[0] = paging_read_cr3();
  in[1] = 0;
  in[2] = reader1_mask();
  expect_success(name, xmm_bytes(HvCallFlushVirtualAddressSpace, 0, 0, 3), 0);
}

static void flush_list_xmm(const char* name) {
  uint64_t* in = in_qwords();
  in[0] = paging_read_cr3();
  in[1] = 0;
  in[2] = reader1_mask();
  in[3] = page_entry(other_va, 0);
  in[4] = page_entry(page_va(1), 0);
  expect_success(name, xmm_bytes(HvCallFlushVirtualAddressList, 2, 0, 5), 2);
}

static void flush_space_ex_xmm(const char* name) {
  uint64_t* in = in_qwords();
  in[0] = paging_read_cr3();
  in[1] = 0;
  const uint32_t vp = vp_index[1];
  uint32_t banks = 0;
  const uint32_t set = hv_put_sparse_vp_set(in + 2, &vp, 1, 0, &banks);
  expect_success(name, xmm_bytes(HvCallFlushVirtualAddressSpaceEx, 0, banks, 2 + set), 0);
}

static void flush_list_ex_xmm(const char* name) {
  uint64_t* in = in_qwords();
  in[0] = paging_read_cr3();
  in[1] = 0;
  const uint32_t vp = vp_index[1];
  uint32_t banks = 0;
  const uint32_t set = hv_put_sparse_vp_set(in + 2, &vp, 1, 0, &banks);
  in[2 + set] = page_entry(page_va(1), 0);
  expect_success(name, xmm_bytes(HvCallFlushVirtualAddressListEx, 1, banks, 2 + set + 1), 1);
}

/* ------------------------------------------------------------------------ */

/* The helper on vCPU 0 alone: INVLPG makes a cleared present bit seen, a
 * page walk sets the accessed bit. One #PF only (see the top). */
static void check_paging_locally(void) {
  const uint64_t va = page_va(0);
  CHECK_TRUE("paging.cr0.pg", (paging_read_cr0() & PAGING_CR0_PG) != 0);
  CHECK_EQ("paging.cr3.ours", paging_root(), paging_read_cr3() & PAGING_PTE_ADDRESS_MASK);
  CHECK_TRUE("paging.pte.split_region_only", paging_pte(va) != NULL && paging_pte(split_base - 1) == NULL &&
                                                 paging_pte(split_base + PAGING_LARGE_PAGE_SIZE) == NULL);
  uint64_t v = 0;
  *(volatile uint64_t*)va = 0x1111222233334444ull;
  CHECK_EQ("paging.test_page.read", 0x1111222233334444ull, paging_read_faults(va, &v, NULL) ? ~0ull : v);
  paging_set_present(va, false);
  paging_invlpg(va);
  CHECK_EQ("paging.not_present.read_pf", 1, paging_read_faults(va, &v, NULL));
  CHECK_EQ("paging.not_present.cr2", va, paging_read_cr2());
  CHECK_EQ("paging.not_present.other_page_reads", 0, paging_read_faults(other_va, &v, NULL));
  paging_set_present(va, true);
  paging_invlpg(va);
  CHECK_EQ("paging.present_again.read", 0x1111222233334444ull, paging_read_faults(va, &v, NULL) ? ~0ull : v);
  *paging_pte(va) &= ~PAGING_PTE_ACCESSED;
  paging_invlpg(va);
  CHECK_EQ("paging.accessed.read", 0x1111222233334444ull, paging_read_faults(va, &v, NULL) ? ~0ull : v);
  CHECK_TRUE("paging.accessed.set_by_walk", (*paging_pte(va) & PAGING_PTE_ACCESSED) != 0);
}

static void check_errors(void) {
  const uint64_t cr3 = paging_read_cr3();
  const uint64_t entry = page_entry(page_va(1), 0);
  const uint32_t vp = vp_index[1];
  const uint64_t mask = reader1_mask();
  /* Flags bits 63:4 are reserved. */
  CHECK_EQ("flush.space.reserved_flag_bit4", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_space(cr3, 1ull << 4, mask)));
  CHECK_EQ("flush.space.reserved_flag_bit63", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_space(cr3, 1ull << 63, mask)));
  CHECK_EQ("flush.list.reserved_flag_bit4", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_list(cr3, 1ull << 4, mask, &entry, 1)));
  CHECK_EQ("flush.space_ex.reserved_flag_bit4", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_ex(HvCallFlushVirtualAddressSpaceEx, 1ull << 4, &vp, 1, NULL, 0, -1)));
  CHECK_EQ("flush.list_ex.reserved_flag_bit32", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_ex(HvCallFlushVirtualAddressListEx, 1ull << 32, &vp, 1, &entry, 1, -1)));
  /* NON_GLOBAL_MAPPINGS_ONLY means nothing for a list of addresses. */
  CHECK_EQ("flush.list.non_global_only", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(call_list(cr3, HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, mask, &entry, 1)));
  CHECK_EQ("flush.list_ex.non_global_only", HV_STATUS_INVALID_PARAMETER,
           hv_result_status(
               call_ex(HvCallFlushVirtualAddressListEx, HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, &vp, 1, &entry, 1, -1)));
  /* HV_VP_SET format 2 is neither sparse 4K nor all. */
  uint64_t* in = in_qwords();
  in[0] = cr3;
  in[1] = 0;
  in[2] = 2;
  in[3] = 1;
  in[4] = 1ull << (vp % 64);
  CHECK_EQ("flush.space_ex.set_format_2", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(hv_hypercall(hv_control(HvCallFlushVirtualAddressSpaceEx, 0) | varhead(1), gpa(in), 0)));
  in[5] = entry;
  CHECK_EQ("flush.list_ex.set_format_2", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(hv_hypercall(hv_control(HvCallFlushVirtualAddressListEx, 1) | varhead(1), gpa(in), 0)));
  /* The variable header is the bank words: it must be popcount(mask). */
  CHECK_EQ("flush.space_ex.varhead_below_banks", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(call_ex(HvCallFlushVirtualAddressSpaceEx, 0, &vp, 1, NULL, 0, 0)));
  CHECK_EQ("flush.space_ex.varhead_above_banks", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(call_ex(HvCallFlushVirtualAddressSpaceEx, 0, &vp, 1, NULL, 0, 2)));
  const uint32_t two_banks[2] = {vp, absent_vp};
  CHECK_EQ("flush.list_ex.varhead_below_banks", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(call_ex(HvCallFlushVirtualAddressListEx, 0, two_banks, 2, &entry, 1, 1)));
  /* A simple call with a rep count, a rep call without one, and a
   * variable header on a call that has none (TLFS "Hypercall Interface"). */
  in[0] = cr3;
  in[1] = 0;
  in[2] = mask;
  CHECK_EQ("flush.space.rep_count", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(hv_hypercall(hv_control(HvCallFlushVirtualAddressSpace, 1), gpa(in), 0)));
  CHECK_EQ("flush.list.rep_count_0", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(hv_hypercall(hv_control(HvCallFlushVirtualAddressList, 0), gpa(in), 0)));
  CHECK_EQ("flush.space.varhead", HV_STATUS_INVALID_HYPERCALL_INPUT,
           hv_result_status(hv_hypercall(hv_control(HvCallFlushVirtualAddressSpace, 0) | varhead(1), gpa(in), 0)));
  /* A valid call naming only a VP no vCPU has succeeds and does nothing. */
  const uint32_t absent = absent_vp;
  CHECK_EQ("flush.space_ex.absent_vp_only", HV_STATUS_SUCCESS,
           hv_result_status(call_ex(HvCallFlushVirtualAddressSpaceEx, 0, &absent, 1, NULL, 0, -1)));
}

int main(void) {
  n_vcpus = guest_vcpu_count();
  if (!CHECK_TRUE("hyperv.present", hv_detect(&hv))) return (int)guest_checks_failed();
  CHECK_TRUE("cpuid.40000004.eax.remote_tlb_flush", (hv.recommendations & HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL) != 0);
  CHECK_TRUE("cpuid.40000004.eax.ex_processor_masks", (hv.recommendations & HV_RECOMMEND_EX_PROCESSOR_MASKS) != 0);
  CHECK_TRUE("cpuid.40000003.eax.vp_index", (hv.privileges_low & HV_ACCESS_VP_INDEX) != 0);
  if (!CHECK_GE("vcpus.at_least_2", 2, n_vcpus)) return (int)guest_checks_failed();
  /* The x2APIC timer is the clock the TSC is calibrated against. */
  if (!CHECK_TRUE("apic.x2apic", apic_init())) return (int)guest_checks_failed();
  uint32_t how = GUEST_TSC_HZ_UNKNOWN;
  tsc_hz = guest_tsc_hz(&hv, &how);
  if (!CHECK_NE("tsc_hz.known", 0, tsc_hz)) return (int)guest_checks_failed();
  if (!CHECK_TRUE("hypercall_page.enabled", hv_enable_hypercall_page(gpa(hv_default_hypercall_page()))))
    return (int)guest_checks_failed();

  split_base = paging_default_split_base();
  other_va = split_base + OTHER_PAGE * PAGING_PAGE_SIZE;
  if (!CHECK_TRUE("paging.build", paging_build(split_base))) return (int)guest_checks_failed();
  CHECK_TRUE("paging.load", paging_load());
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  tables_ready = 1;
  check_paging_locally();

  uint64_t vp0 = 0;
  CHECK_EQ("vp_index.vcpu0.read", 0, rdmsr_safe(HV_X64_MSR_VP_INDEX, &vp0));
  vp_index[0] = (uint32_t)vp0;
  if (!wait_all(ap_ready, 1)) {
    CHECK_TRUE("readers.ready", false);
    return (int)guest_checks_failed();
  }
  bool below_64 = vp0 < 64, nameable = vp0 < VP_SET_LIMIT;
  for (uint32_t i = 1; i < n_vcpus; ++i) {
    char check[96];
    guest_snprintf(check, sizeof check, "vp_index.vcpu%u.read", i);
    CHECK_EQ(check, 0, vp_index_faulted[i]);
    below_64 = below_64 && vp_index[i] < 64;
    nameable = nameable && vp_index[i] < VP_SET_LIMIT;
  }
  /* A VP above 4095 cannot be named by any flush call. */
  if (!CHECK_TRUE("vp_index.nameable_by_vp_set", nameable)) return (int)guest_checks_failed();
  /* The last VP of the highest bank no vCPU is in. */
  for (uint32_t bank = HV_VP_SET_BANK_COUNT_MAX; bank-- > 0 && absent_vp == 0;) {
    bool used = false;
    for (uint32_t i = 0; i < n_vcpus; ++i) used = used || vp_index[i] / HV_VP_SET_VPS_PER_BANK == bank;
    if (!used) absent_vp = bank * HV_VP_SET_VPS_PER_BANK + HV_VP_SET_VPS_PER_BANK - 1;
  }
  const uint32_t reader1 = 1u << 1;
  uint32_t readers = 0;
  for (uint32_t i = 1; i < n_vcpus; ++i) readers |= 1u << i;

  /* First, no flush at all: is a stale translation observable here? */
  uint32_t fresh = round_run("noflush.present", KIND_PRESENT, NULL, readers, 0);
  if (!aborted) METRIC("tlb.stale_seen_without_flush", (fresh & reader1) ? 0 : 1);
  fresh = round_run("noflush.accessed", KIND_ACCESSED, NULL, readers, 0);
  if (!aborted) METRIC("tlb.stale_seen_without_flush_accessed", (fresh & reader1) ? 0 : 1);

  /* The one not-present round names vCPU 1 only: its page alone changes,
   * so no other reader spends its one #PF here. */
  if (below_64) {
    round_run("flush.space", KIND_PRESENT, flush_space, reader1, reader1);
    round_run("flush.space.accessed", KIND_ACCESSED, flush_space, reader1, reader1);
  } else {
    round_run("flush.space_ex.sparse", KIND_PRESENT, flush_space_ex_sparse, reader1, reader1);
  }
  if (below_64) {
    round_run("flush.space.all_processors", KIND_ACCESSED, flush_space_all_processors, readers, readers);
    round_run("flush.space.mask_zero", KIND_ACCESSED, flush_space_mask_zero, readers, readers);
    round_run("flush.space.all_address_spaces", KIND_ACCESSED, flush_space_all_spaces, reader1, reader1);
    round_run("flush.space.non_global_only", KIND_ACCESSED, flush_space_non_global, reader1, reader1);
    round_run("flush.list", KIND_ACCESSED, flush_list, reader1, reader1);
    round_run("flush.list.all_processors", KIND_ACCESSED, flush_list_all_processors, readers, readers);
  } else {
    guest_printf("conformance-tlbflush: a VP index >= 64: the ProcessorMask calls cannot name it, skipped\n");
  }
  round_run("flush.space_ex.sparse.accessed", KIND_ACCESSED, flush_space_ex_sparse, reader1, reader1);
  round_run("flush.space_ex.all", KIND_ACCESSED, flush_space_ex_all, readers, readers);
  round_run("flush.list_ex.sparse", KIND_ACCESSED, flush_list_ex_sparse, reader1, reader1);
  round_run("flush.list_ex.all", KIND_ACCESSED, flush_list_ex_all, readers, readers);
  if (hv.features & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE) {
    if (below_64) {
      round_run("flush.space.xmm_fast", KIND_ACCESSED, flush_space_xmm, reader1, reader1);
      round_run("flush.list.xmm_fast", KIND_ACCESSED, flush_list_xmm, reader1, reader1);
    }
    round_run("flush.space_ex.xmm_fast", KIND_ACCESSED, flush_space_ex_xmm, reader1, reader1);
    round_run("flush.list_ex.xmm_fast", KIND_ACCESSED, flush_list_ex_xmm, reader1, reader1);
  } else {
    guest_printf("conformance-tlbflush: no XMM hypercall input (0x40000003.EDX[4]): fast forms skipped\n");
  }
  check_errors();

  round_begin = ROUND_STOP;
  return (int)guest_checks_failed();
}
