/*
 * conformance-ipi: HvCallSendSyntheticClusterIpi (0x000B) and its Ex form
 * (0x0015, with an HV_VP_SET), when 0x40000004.EAX[10] recommends them
 * (TLFS "Virtual Interrupt Control", hyperv-facts §7.4). Needs 2+ vCPUs.
 *
 * Every vCPU publishes the VP index it reads from HV_X64_MSR_VP_INDEX;
 * vCPU 0 then names vCPUs only by those indexes, never by vCPU number,
 * since the two differ when the host assigns VP indexes (the vpindex
 * plugin's `base` option: the emu host test runs this with base 64, so
 * every index is in bank 1 of a VP set and no ProcessorMask can name one).
 * Each IPI of a case gets a vector of its own; every vCPU's handler counts
 * its deliveries per vector and EOIs, and a case checks, after the expected
 * deliveries and a quiet window, that each named vCPU counted the vector
 * exactly once and every other vCPU not at all.
 *
 * Cases: 0x000B fast (RDX = vector, R8 = mask) and memory forms to one
 * other vCPU, to all including the caller, to all but the caller; a mask
 * naming only VPs no vCPU has reaches nobody and succeeds (with base 64
 * that is every mask). 0x0015 with a sparse set, with HV_GENERIC_SET_ALL,
 * with banks above bank 0 (a vCPU whose VP index is >= 64 must be reached;
 * VPs no vCPU has are ignored), with only VPs no vCPU has (nobody, SUCCESS),
 * and with a present bank that names nobody. With XMM input
 * (0x40000003.EDX[4]) 0x0015 again in its XMM fast form.
 * Errors, all HV_STATUS_INVALID_HYPERCALL_INPUT with nobody interrupted:
 * vectors 0x0F and 0x100, TargetVtl 1, non-zero padding (and RDX bits 63:32
 * in the fast form), a variable header that is not the bank count, set
 * format 2, a rep count.
 */
#include <enlight_guest/guest.h>

/* Bounds by the TSC, not by loop counts: a PAUSE costs anywhere from a
 * cycle (emu) to an in-kernel pause-loop exit (some kvm hosts). */
#define READY_WAIT_MS 5000u
#define DELIVERY_WAIT_MS 5000u
/* After the expected deliveries: time for a wrong or duplicate one to show. */
#define QUIET_MS 10u
#define FIRST_VECTOR 0x40u
#define ERROR_VECTOR 0x3Fu

static hv_info hv;
static uint32_t n_vcpus;
static uint64_t tsc_hz;
static uint8_t input_page[4096] __attribute__((aligned(4096)));

/* One writer each: the vCPU itself (its handler for counts). */
static volatile uint32_t ap_ready[GUEST_MAX_VCPUS];
static volatile uint32_t apic_ok[GUEST_MAX_VCPUS];
static volatile uint32_t vp_index[GUEST_MAX_VCPUS];
static volatile uint32_t vp_index_faulted[GUEST_MAX_VCPUS];
static volatile uint32_t counts[GUEST_MAX_VCPUS][256];

static uint64_t gpa(const void* p) { return (uint64_t)(uintptr_t)p; }
static uint64_t* in_qwords(void) { return (uint64_t*)input_page; }
static uint64_t varhead(uint32_t qwords) { return (uint64_t)qwords << HV_HYPERCALL_VARHEAD_SHIFT; }

static void on_ipi(guest_frame* frame) {
  counts[guest_vcpu_index()][frame->vector & 0xFF]++;
  apic_eoi();
}

void guest_ap_main(uint32_t index) {
  apic_ok[index] = apic_init();
  uint64_t vp = 0;
  vp_index_faulted[index] = rdmsr_safe(HV_X64_MSR_VP_INDEX, &vp);
  vp_index[index] = (uint32_t)vp;
  METRIC("vp_index", vp);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  ap_ready[index] = 1;
  /* Interrupts on from here; the run ends when vCPU 0's main returns. */
  for (;;) cpu_safe_halt();
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */

/* The first qword of either call: Vector u32, TargetVtl u8, padding[3]. */
static uint64_t head(uint32_t vector, uint8_t vtl, uint8_t pad0) {
  return (uint64_t)vector | ((uint64_t)vtl << 32) | ((uint64_t)pad0 << 40);
}

static uint32_t bank_count(const uint32_t* vps, uint32_t n, uint64_t empty_banks) {
  uint64_t mask = empty_banks;
  for (uint32_t i = 0; i < n; ++i) mask |= 1ull << (vps[i] / HV_VP_SET_VPS_PER_BANK);
  uint32_t count = 0;
  for (; mask != 0; mask &= mask - 1) ++count;
  return count;
}

static uint64_t send_fast(uint64_t rdx, uint64_t mask) {
  return hv_hypercall_fast(hv_control(HvCallSendSyntheticClusterIpi, 0), rdx, mask);
}

static uint64_t send_memory(uint64_t first, uint64_t mask) {
  uint64_t* in = in_qwords();
  in[0] = first;
  in[1] = mask;
  return hv_hypercall(hv_control(HvCallSendSyntheticClusterIpi, 0), gpa(in), 0);
}

/* Ex, memory form, sparse set; vh < 0: the right variable header. */
static uint64_t send_ex(uint64_t first, const uint32_t* vps, uint32_t n, uint64_t empty_banks, int vh) {
  uint64_t* in = in_qwords();
  in[0] = first;
  uint32_t banks = 0;
  hv_put_sparse_vp_set(in + 1, vps, n, empty_banks, &banks);
  return hv_hypercall(hv_control(HvCallSendSyntheticClusterIpiEx, 0) | varhead(vh >= 0 ? (uint32_t)vh : banks),
                      gpa(in), 0);
}

static uint64_t send_ex_all(uint64_t first) {
  uint64_t* in = in_qwords();
  in[0] = first;
  in[1] = HV_GENERIC_SET_ALL;
  in[2] = 0;
  return hv_hypercall(hv_control(HvCallSendSyntheticClusterIpiEx, 0), gpa(in), 0);
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */

static uint32_t next_vector = FIRST_VECTOR;
static bool all_below_64;

static uint32_t vcpus_mask_all(void) { return (n_vcpus >= 32 ? 0u : (1u << n_vcpus)) - 1u; }

static uint64_t processor_mask(uint32_t vcpus) {
  uint64_t m = 0;
  for (uint32_t i = 0; i < n_vcpus; ++i)
    if ((vcpus & (1u << i)) && vp_index[i] < 64) m |= 1ull << vp_index[i];
  return m;
}

static uint32_t vps_of(uint32_t vcpus, uint32_t* out) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n_vcpus; ++i)
    if (vcpus & (1u << i)) out[k++] = vp_index[i];
  return k;
}

static bool vp_held(uint32_t vp) {
  for (uint32_t i = 0; i < n_vcpus; ++i)
    if (vp_index[i] == vp) return true;
  return false;
}

/* VP indexes no vCPU has, from `candidates`. */
static uint32_t absent_vps(const uint32_t* candidates, uint32_t count, uint32_t* out) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < count; ++i)
    if (!vp_held(candidates[i])) out[k++] = candidates[i];
  return k;
}

static uint64_t deadline_ms(uint32_t ms) { return rdtsc() + guest_muldiv64(tsc_hz, ms, 1000); }

/* IF = 1 for the caller's own IPIs. */
static void quiet_window(void) {
  irq_enable();
  for (const uint64_t end = deadline_ms(QUIET_MS); rdtsc() < end;) cpu_relax();
}

/* The result of the call and, once the expected vCPUs counted the vector
 * and a quiet window passed, each vCPU's count: 1 for those in `expect`,
 * 0 for the others. */
static void expect_delivery(const char* name, uint64_t result, uint8_t vector, uint32_t expect) {
  char check[96];
  guest_snprintf(check, sizeof check, "%s.status", name);
  CHECK_EQ(check, HV_STATUS_SUCCESS, hv_result_status(result));
  irq_enable();
  const uint64_t end = deadline_ms(DELIVERY_WAIT_MS);
  for (uint32_t i = 0; i < n_vcpus; ++i) {
    if (!(expect & (1u << i))) continue;
    while (counts[i][vector] == 0 && rdtsc() < end) cpu_relax();
  }
  quiet_window();
  for (uint32_t i = 0; i < n_vcpus; ++i) {
    guest_snprintf(check, sizeof check, "%s.vcpu%u.count", name, i);
    CHECK_EQ(check, (expect & (1u << i)) ? 1 : 0, counts[i][vector]);
  }
}

static uint8_t take_vector(void) {
  const uint32_t v = next_vector++;
  guest_set_irq_handler((uint8_t)v, on_ipi);
  return (uint8_t)v;
}

static void cases_processor_mask(void) {
  const uint32_t all = vcpus_mask_all();
  const uint32_t others = all & ~1u;
  const uint32_t last = 1u << (n_vcpus - 1);
  uint8_t v;
  if (all_below_64) {
    v = take_vector();
    expect_delivery("ipi.fast.one_other", send_fast(v, processor_mask(1u << 1)), v, 1u << 1);
    v = take_vector();
    expect_delivery("ipi.memory.one_other", send_memory(head(v, 0, 0), processor_mask(last)), v, last);
    v = take_vector();
    expect_delivery("ipi.fast.all_with_self", send_fast(v, processor_mask(all)), v, all);
    v = take_vector();
    expect_delivery("ipi.memory.all_but_self", send_memory(head(v, 0, 0), processor_mask(others)), v, others);
    /* Bit 63 names a VP no vCPU has: ignored beside the one that exists. */
    v = take_vector();
    expect_delivery("ipi.fast.mask_with_absent_vp",
                    send_fast(v, processor_mask(1u << 1) | (vp_held(63) ? 0 : 1ull << 63)), v, 1u << 1);
    /* The top of the vector range (also the spurious vector, whose
     * interrupts the runtime does not EOI: this handler does). */
    guest_set_irq_handler(0xFF, on_ipi);
    expect_delivery("ipi.fast.vector_ff", send_fast(0xFF, processor_mask(1u << 1)), 0xFF, 1u << 1);
  }
  /* Every VP 0-63 that no vCPU has: with indexes >= 64, all 64 bits. */
  v = take_vector();
  expect_delivery("ipi.fast.absent_vps_only", send_fast(v, ~processor_mask(all)), v, 0);
}

static void cases_vp_set(void) {
  const uint32_t all = vcpus_mask_all();
  const uint32_t others = all & ~1u;
  uint32_t vps[GUEST_MAX_VCPUS + 8];
  uint8_t v;

  v = take_vector();
  uint32_t k = vps_of(1u << 1, vps);
  expect_delivery("ipi.ex.sparse_one_other", send_ex(head(v, 0, 0), vps, k, 0, -1), v, 1u << 1);

  v = take_vector();
  k = vps_of(all, vps);
  expect_delivery("ipi.ex.sparse_all_with_self", send_ex(head(v, 0, 0), vps, k, 0, -1), v, all);

  v = take_vector();
  expect_delivery("ipi.ex.set_all", send_ex_all(head(v, 0, 0)), v, all);

  /* Every other vCPU, plus absent VPs in banks 1 and 3, so the set has
   * banks above 0 whatever the indexes are; with base 64 the vCPUs
   * themselves are in bank 1. */
  const uint32_t high_candidates[] = {127, 126, 200, 199};
  uint32_t absent[4];
  const uint32_t a = absent_vps(high_candidates, 4, absent);
  k = vps_of(others, vps);
  for (uint32_t i = 0; i < a; ++i) vps[k++] = absent[i];
  v = take_vector();
  expect_delivery("ipi.ex.high_banks", send_ex(head(v, 0, 0), vps, k, 0, -1), v, others);

  /* Only VPs no vCPU has: nobody, and still SUCCESS. */
  const uint32_t nobody_candidates[] = {100, 101, 130, 4000};
  k = absent_vps(nobody_candidates, 4, vps);
  v = take_vector();
  expect_delivery("ipi.ex.absent_vps_only", send_ex(head(v, 0, 0), vps, k, 0, -1), v, 0);

  /* A present bank that names nobody (bank 5) beside vCPU 1's. */
  k = vps_of(1u << 1, vps);
  v = take_vector();
  expect_delivery("ipi.ex.with_empty_bank", send_ex(head(v, 0, 0), vps, k, 1ull << 5, -1), v, 1u << 1);

  if (hv.features & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE) {
    uint64_t* in = in_qwords();
    uint32_t banks = 0;
    k = vps_of(1u << 1, vps);
    v = take_vector();
    in[0] = head(v, 0, 0);
    const uint32_t q = 1 + hv_put_sparse_vp_set(in + 1, vps, k, 0, &banks);
    expect_delivery("ipi.ex.xmm_fast_sparse",
                    hv_hypercall_xmm_fast(hv_control(HvCallSendSyntheticClusterIpiEx, 0) | varhead(banks), in, q * 8),
                    v, 1u << 1);
    v = take_vector();
    in[0] = head(v, 0, 0);
    in[1] = HV_GENERIC_SET_ALL;
    in[2] = 0;
    expect_delivery("ipi.ex.xmm_fast_all",
                    hv_hypercall_xmm_fast(hv_control(HvCallSendSyntheticClusterIpiEx, 0), in, 24), v, all);
  } else {
    guest_printf("conformance-ipi: no XMM hypercall input (0x40000003.EDX[4]): the Ex fast form skipped\n");
  }
}

static void cases_errors(void) {
  const uint32_t all = vcpus_mask_all();
  const uint64_t mask = all_below_64 ? processor_mask(all) : 0;
  const uint8_t v = ERROR_VECTOR;
  guest_set_irq_handler(v, on_ipi);
  uint32_t vps[GUEST_MAX_VCPUS];
  const uint32_t k = vps_of(all, vps);
  const uint64_t bad = HV_STATUS_INVALID_HYPERCALL_INPUT;
  CHECK_EQ("ipi.fast.vector_0x0f", bad, hv_result_status(send_fast(0x0F, mask)));
  CHECK_EQ("ipi.fast.vector_0x100", bad, hv_result_status(send_fast(0x100, mask)));
  CHECK_EQ("ipi.fast.rdx_bit32_target_vtl", bad, hv_result_status(send_fast(v | (1ull << 32), mask)));
  CHECK_EQ("ipi.fast.rdx_bit40_padding", bad, hv_result_status(send_fast(v | (1ull << 40), mask)));
  CHECK_EQ("ipi.memory.vector_0x0f", bad, hv_result_status(send_memory(head(0x0F, 0, 0), mask)));
  CHECK_EQ("ipi.memory.vector_0x100", bad, hv_result_status(send_memory(head(0x100, 0, 0), mask)));
  CHECK_EQ("ipi.memory.target_vtl_1", bad, hv_result_status(send_memory(head(v, 1, 0), mask)));
  CHECK_EQ("ipi.memory.padding", bad, hv_result_status(send_memory(head(v, 0, 1), mask)));
  CHECK_EQ("ipi.ex.vector_0x0f", bad, hv_result_status(send_ex(head(0x0F, 0, 0), vps, k, 0, -1)));
  CHECK_EQ("ipi.ex.vector_0x100", bad, hv_result_status(send_ex(head(0x100, 0, 0), vps, k, 0, -1)));
  CHECK_EQ("ipi.ex.target_vtl_1", bad, hv_result_status(send_ex(head(v, 1, 0), vps, k, 0, -1)));
  CHECK_EQ("ipi.ex.padding", bad, hv_result_status(send_ex(head(v, 0, 1), vps, k, 0, -1)));
  /* The variable header is the bank words, one per bank in the mask (the
   * vCPUs' banks and an empty bank 7 here): one fewer, one more, none. */
  const uint32_t banks = bank_count(vps, k, 1ull << 7);
  CHECK_EQ("ipi.ex.varhead_below_banks", bad,
           hv_result_status(send_ex(head(v, 0, 0), vps, k, 1ull << 7, (int)banks - 1)));
  CHECK_EQ("ipi.ex.varhead_above_banks", bad,
           hv_result_status(send_ex(head(v, 0, 0), vps, k, 1ull << 7, (int)banks + 1)));
  CHECK_EQ("ipi.ex.varhead_zero", bad, hv_result_status(send_ex(head(v, 0, 0), vps, k, 0, 0)));
  uint64_t* in = in_qwords();
  in[0] = head(v, 0, 0);
  in[1] = 2; /* neither HV_GENERIC_SET_SPARSE_4K nor HV_GENERIC_SET_ALL */
  in[2] = 1;
  in[3] = 1;
  CHECK_EQ("ipi.ex.set_format_2", bad,
           hv_result_status(hv_hypercall(hv_control(HvCallSendSyntheticClusterIpiEx, 0) | varhead(1), gpa(in), 0)));
  /* TLFS "Hypercall Interface": a simple call has no rep count and 0x000B
   * no variable header. */
  in[0] = head(v, 0, 0);
  in[1] = mask;
  CHECK_EQ("ipi.memory.rep_count", bad,
           hv_result_status(hv_hypercall(hv_control(HvCallSendSyntheticClusterIpi, 1), gpa(in), 0)));
  CHECK_EQ("ipi.memory.varhead", bad,
           hv_result_status(hv_hypercall(hv_control(HvCallSendSyntheticClusterIpi, 0) | varhead(1), gpa(in), 0)));
  quiet_window();
  uint32_t got = 0;
  for (uint32_t i = 0; i < n_vcpus; ++i) got += counts[i][v];
  CHECK_EQ("ipi.errors.nobody_interrupted", 0, got);
}

int main(void) {
  n_vcpus = guest_vcpu_count();
  if (!CHECK_TRUE("hyperv.present", hv_detect(&hv))) return (int)guest_checks_failed();
  CHECK_TRUE("cpuid.40000004.eax.cluster_ipi", (hv.recommendations & HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI) != 0);
  CHECK_TRUE("cpuid.40000004.eax.ex_processor_masks", (hv.recommendations & HV_RECOMMEND_EX_PROCESSOR_MASKS) != 0);
  CHECK_TRUE("cpuid.40000003.eax.vp_index", (hv.privileges_low & HV_ACCESS_VP_INDEX) != 0);
  if (!CHECK_GE("vcpus.at_least_2", 2, n_vcpus)) return (int)guest_checks_failed();
  if (!CHECK_TRUE("apic.x2apic", apic_init())) return (int)guest_checks_failed();
  uint32_t how = GUEST_TSC_HZ_UNKNOWN;
  tsc_hz = guest_tsc_hz(&hv, &how);
  if (!CHECK_NE("tsc_hz.known", 0, tsc_hz)) return (int)guest_checks_failed();
  if (!CHECK_TRUE("hypercall_page.enabled", hv_enable_hypercall_page(gpa(hv_default_hypercall_page()))))
    return (int)guest_checks_failed();
  uint64_t vp0 = 0;
  CHECK_EQ("vp_index.vcpu0.read", 0, rdmsr_safe(HV_X64_MSR_VP_INDEX, &vp0));
  vp_index[0] = (uint32_t)vp0;
  METRIC("vp_index", vp0);

  const uint64_t ready_end = deadline_ms(READY_WAIT_MS);
  for (uint32_t i = 1; i < n_vcpus; ++i) {
    while (!ap_ready[i] && rdtsc() < ready_end) cpu_relax();
    char check[96];
    guest_snprintf(check, sizeof check, "vcpu%u.ready", i);
    if (!CHECK_EQ(check, 1, ap_ready[i])) return (int)guest_checks_failed();
    guest_snprintf(check, sizeof check, "vcpu%u.x2apic", i);
    CHECK_EQ(check, 1, apic_ok[i]);
    guest_snprintf(check, sizeof check, "vp_index.vcpu%u.read", i);
    CHECK_EQ(check, 0, vp_index_faulted[i]);
  }
  all_below_64 = true;
  bool distinct = true;
  for (uint32_t i = 0; i < n_vcpus; ++i) {
    all_below_64 = all_below_64 && vp_index[i] < 64;
    for (uint32_t j = 0; j < i; ++j) distinct = distinct && vp_index[i] != vp_index[j];
  }
  CHECK_TRUE("vp_index.distinct", distinct);
  /* 64 banks of 64: a VP above 4095 cannot be named by any IPI call. */
  bool nameable = true;
  for (uint32_t i = 0; i < n_vcpus; ++i)
    nameable = nameable && vp_index[i] < HV_VP_SET_BANK_COUNT_MAX * HV_VP_SET_VPS_PER_BANK;
  if (!CHECK_TRUE("vp_index.nameable_by_vp_set", nameable)) return (int)guest_checks_failed();
  if (!all_below_64)
    guest_printf("conformance-ipi: VP indexes >= 64: the ProcessorMask cases can name nobody, only that is checked\n");

  cases_processor_mask();
  cases_vp_set();
  cases_errors();
  irq_disable();
  return (int)guest_checks_failed();
}
