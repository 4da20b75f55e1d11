/* Hyper-V discovery, guest OS ID, hypercall page and hypercalls. */
#include <enlight_guest/guest.h>

/* start.S */
extern uint8_t guest_vmcall_fault_rip[], guest_vmcall_resume_rip[];
extern uint8_t guest_vmmcall_fault_rip[], guest_vmmcall_resume_rip[];
uint64_t guest_vmcall_raw(uint64_t control, uint64_t in, uint64_t out);
uint64_t guest_vmmcall_raw(uint64_t control, uint64_t in, uint64_t out);

_Static_assert(__builtin_offsetof(hv_ref_tsc_page, sequence) == HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_ref_tsc_page, scale) == HV_REFERENCE_TSC_PAGE_SCALE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_ref_tsc_page, offset) == HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET, "layout");
_Static_assert(sizeof(hv_message) == HV_MESSAGE_SIZE, "layout");
_Static_assert(__builtin_offsetof(hv_message, type) == HV_MESSAGE_TYPE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_message, payload_size) == HV_MESSAGE_PAYLOAD_SIZE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_message, flags) == HV_MESSAGE_FLAGS_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_message, origin) == HV_MESSAGE_ORIGIN_OFFSET, "layout");
_Static_assert(__builtin_offsetof(hv_message, payload) == HV_MESSAGE_PAYLOAD_OFFSET, "layout");

static uint8_t hypercall_page_storage[4096] __attribute__((aligned(4096)));
/* Where hv_hypercall calls; set by hv_enable_hypercall_page. */
void* hv_hypercall_page_ptr;

static void copy_reg(char* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = (char)(v >> (8 * i));
}

bool hv_detect(hv_info* info) {
  memset(info, 0, sizeof *info);
  info->hypervisor_bit = (cpuid(1, 0).ecx & (1u << 31)) != 0;
  if (!info->hypervisor_bit) return false;
  guest_cpuid r = cpuid(HV_CPUID_VENDOR_AND_MAX_FUNCTIONS, 0);
  info->max_leaf = r.eax;
  copy_reg(info->vendor, r.ebx);
  copy_reg(info->vendor + 4, r.ecx);
  copy_reg(info->vendor + 8, r.edx);
  info->vendor[12] = '\0';
  if (info->max_leaf < HV_CPUID_MIN_MAX_LEAF) return false;
  info->interface = cpuid(HV_CPUID_INTERFACE, 0).eax;
  if (info->interface != HV_CPUID_INTERFACE_SIGNATURE) return false;
  r = cpuid(HV_CPUID_VERSION, 0);
  info->build = r.eax;
  info->version = r.ebx;
  r = cpuid(HV_CPUID_FEATURES, 0);
  info->privileges_low = r.eax;
  info->privileges_high = r.ebx;
  info->features_ecx = r.ecx;
  info->features = r.edx;
  r = cpuid(HV_CPUID_ENLIGHTENMENT_INFO, 0);
  info->recommendations = r.eax;
  info->spin_retries = r.ebx;
  r = cpuid(HV_CPUID_IMPLEMENT_LIMITS, 0);
  info->max_vps = r.eax;
  info->max_lps = r.ebx;
  return true;
}

void hv_set_guest_os_id(uint64_t id) { wrmsr(HV_X64_MSR_GUEST_OS_ID, id); }

void* hv_default_hypercall_page(void) { return hypercall_page_storage; }
void* hv_hypercall_page(void) { return hv_hypercall_page_ptr; }

bool hv_enable_hypercall_page(uint64_t gpa) {
  uint64_t os_id = 0;
  if (rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &os_id)) return false;
  if (os_id == 0 && wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, HV_GUEST_OS_ID_ENLIGHT)) return false;
  uint64_t value = (gpa & HV_X64_MSR_HYPERCALL_PAGE_MASK) | HV_X64_MSR_HYPERCALL_ENABLE;
  if (wrmsr_safe(HV_X64_MSR_HYPERCALL, value)) return false;
  uint64_t back = 0;
  if (rdmsr_safe(HV_X64_MSR_HYPERCALL, &back) || !(back & HV_X64_MSR_HYPERCALL_ENABLE)) return false;
  hv_hypercall_page_ptr = (void*)(uintptr_t)(gpa & HV_X64_MSR_HYPERCALL_PAGE_MASK);
  return true;
}

void hv_disable_hypercall_page(void) {
  uint64_t v = rdmsr(HV_X64_MSR_HYPERCALL);
  wrmsr(HV_X64_MSR_HYPERCALL, v & ~HV_X64_MSR_HYPERCALL_ENABLE);
  hv_hypercall_page_ptr = NULL;
}

/*
 * A near CALL into the page, as Linux's hv_do_hypercall: RCX control, RDX
 * input, R8 output; RAX result. The page may clobber what a call may.
 * Compiled with -mno-red-zone, so the CALL's push cannot hit live data.
 */
uint64_t hv_hypercall(uint64_t control, uint64_t in_gpa, uint64_t out_gpa) {
  uint64_t result;
  register uint64_t r8 __asm__("r8") = out_gpa;
  __asm__ volatile("call *%[page]"
                   : "=a"(result), "+c"(control), "+d"(in_gpa), "+r"(r8)
                   : [page] "m"(hv_hypercall_page_ptr)
                   : "cc", "memory", "r9", "r10", "r11");
  return result;
}

uint64_t hv_hypercall_fast(uint64_t control, uint64_t in1, uint64_t in2) {
  return hv_hypercall(control | HV_HYPERCALL_FAST, in1, in2);
}

uint64_t hv_hypercall_rep(uint64_t control, uint32_t rep_count, uint64_t in_gpa, uint64_t out_gpa) {
  control &= ~(HV_HYPERCALL_REP_COUNT_MASK | HV_HYPERCALL_REP_START_MASK);
  control |= ((uint64_t)rep_count << HV_HYPERCALL_REP_COUNT_SHIFT) & HV_HYPERCALL_REP_COUNT_MASK;
  uint64_t result;
  for (;;) {
    result = hv_hypercall(control, in_gpa, out_gpa);
    if (hv_result_status(result) != HV_STATUS_SUCCESS) return result;
    uint32_t done = hv_result_reps(result);
    if (done >= rep_count) return result;
    control &= ~HV_HYPERCALL_REP_START_MASK;
    control |= ((uint64_t)done << HV_HYPERCALL_REP_START_SHIFT) & HV_HYPERCALL_REP_START_MASK;
  }
}

bool hv_hypercall_direct_faults(uint64_t control, uint64_t in_gpa, uint64_t out_gpa, uint64_t* result) {
  uint64_t r;
  if (cpu_is_amd()) {
    guest_expect_fault(GUEST_VECTOR_UD, (uint64_t)(uintptr_t)guest_vmmcall_fault_rip,
                       (uint64_t)(uintptr_t)guest_vmmcall_resume_rip);
    r = guest_vmmcall_raw(control, in_gpa, out_gpa);
  } else {
    guest_expect_fault(GUEST_VECTOR_UD, (uint64_t)(uintptr_t)guest_vmcall_fault_rip,
                       (uint64_t)(uintptr_t)guest_vmcall_resume_rip);
    r = guest_vmcall_raw(control, in_gpa, out_gpa);
  }
  bool faulted = guest_fault_take(NULL) != GUEST_NO_FAULT;
  if (result) *result = r;
  return faulted;
}

/* ------------------------------------------------------------------------ */
/* Reference time and SynIC                                                 */

bool hv_ref_tsc_page_read(const hv_ref_tsc_page* page, uint64_t* time) {
  for (;;) {
    const uint32_t seq = page->sequence;
    if (seq == HV_REFERENCE_TSC_SEQUENCE_INVALID || seq == HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY) return false;
    /* Loads of scale/offset after the sequence, and the TSC after them:
     * without the LFENCE the CPU may read the TSC early, and a reading
     * compared against a value another vCPU published could go backwards. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    const uint64_t scale = page->scale;
    const int64_t offset = page->offset;
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (page->sequence != seq) continue; /* the hypervisor updated it under us */
    const uint64_t tsc = ((uint64_t)hi << 32) | lo;
    *time = (uint64_t)(((unsigned __int128)tsc * scale) >> 64) + (uint64_t)offset;
    return true;
  }
}

bool hv_synic_enable(void* simp_page, void* siefp_page) {
  uint64_t v = 0;
  if (rdmsr_safe(HV_X64_MSR_SIMP, &v)) return false;
  /* RsvdP bits are written back as read. */
  v = (v & HV_SYNIC_PAGE_RSVDP_MASK) | ((uint64_t)(uintptr_t)simp_page & HV_SYNIC_PAGE_MASK) | HV_SYNIC_SIMP_ENABLE;
  if (wrmsr_safe(HV_X64_MSR_SIMP, v)) return false;
  if (rdmsr_safe(HV_X64_MSR_SIEFP, &v)) return false;
  v = (v & HV_SYNIC_PAGE_RSVDP_MASK) | ((uint64_t)(uintptr_t)siefp_page & HV_SYNIC_PAGE_MASK) | HV_SYNIC_SIEFP_ENABLE;
  if (wrmsr_safe(HV_X64_MSR_SIEFP, v)) return false;
  if (rdmsr_safe(HV_X64_MSR_SCONTROL, &v)) return false;
  return !wrmsr_safe(HV_X64_MSR_SCONTROL, v | HV_SYNIC_SCONTROL_ENABLE);
}

void hv_synic_disable(void) {
  uint64_t v = 0;
  if (!rdmsr_safe(HV_X64_MSR_SCONTROL, &v)) wrmsr_safe(HV_X64_MSR_SCONTROL, v & ~HV_SYNIC_SCONTROL_ENABLE);
  if (!rdmsr_safe(HV_X64_MSR_SIMP, &v)) wrmsr_safe(HV_X64_MSR_SIMP, v & ~HV_SYNIC_SIMP_ENABLE);
  if (!rdmsr_safe(HV_X64_MSR_SIEFP, &v)) wrmsr_safe(HV_X64_MSR_SIEFP, v & ~HV_SYNIC_SIEFP_ENABLE);
}

bool hv_message_ack(volatile hv_message* slot) {
  slot->type = HvMessageTypeNone;
  /* MessagePending is read after the store of the type is visible: a
   * hypervisor that found the slot busy set the flag before that store, one
   * that looks after it finds the slot free and needs no EOM. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!(slot->flags & HV_MESSAGE_FLAG_PENDING)) return false;
  wrmsr(HV_X64_MSR_EOM, 0);
  return true;
}

uint32_t hv_put_sparse_vp_set(uint64_t* at, const uint32_t* vps, uint32_t n, uint64_t empty_banks, uint32_t* banks) {
  uint64_t mask = empty_banks;
  for (uint32_t i = 0; i < n; ++i) mask |= 1ull << (vps[i] / HV_VP_SET_VPS_PER_BANK);
  at[0] = HV_GENERIC_SET_SPARSE_4K;
  at[1] = mask;
  uint32_t k = 0;
  for (uint32_t b = 0; b < HV_VP_SET_BANK_COUNT_MAX; ++b) {
    if (!(mask & (1ull << b))) continue;
    uint64_t bits = 0;
    for (uint32_t i = 0; i < n; ++i)
      if (vps[i] / HV_VP_SET_VPS_PER_BANK == b) bits |= 1ull << (vps[i] % HV_VP_SET_VPS_PER_BANK);
    at[2 + k++] = bits;
  }
  *banks = k;
  return 2 + k;
}
