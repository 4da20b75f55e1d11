/* Hyper-V discovery, guest OS ID, hypercall page and hypercalls. */
#include <enlight_guest/guest.h>

/* start.S */
extern uint8_t guest_vmcall_fault_rip[], guest_vmcall_resume_rip[];
extern uint8_t guest_vmmcall_fault_rip[], guest_vmmcall_resume_rip[];
uint64_t guest_vmcall_raw(uint64_t control, uint64_t in, uint64_t out);
uint64_t guest_vmmcall_raw(uint64_t control, uint64_t in, uint64_t out);

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
