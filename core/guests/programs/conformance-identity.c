/*
 * conformance-identity: the Hyper-V identity a guest discovers first, as
 * Windows and Linux do: the hypervisor CPUID leaves, the guest OS ID, the
 * hypercall page and the hypercall interface's error answers.
 *
 * The page's content is the hypervisor's choice (TLFS "Establishing the
 * Hypercall Interface": guests call the page, never VMCALL themselves), and
 * enlight's backends choose differently: VMCALL/VMMCALL + RET on emu, where
 * the instruction reaches the bus wherever it runs; `out 0xEB, eax` + RET
 * (the "ioport" form, ENLIGHT_HYPERCALL_IO_PORT) on kvm, where VMCALL and
 * VMMCALL stay in the kernel (docs/kvm-backend.md). The checks of a direct
 * VMCALL/VMMCALL outside the page (#UD while hypercalls are off, an answer
 * once they are on) hold only for the first form, so the guest learns the
 * form first (enabling the page once, then putting the partition back to
 * its reset state) and runs them only there; the run reports which
 * (METRIC direct_instruction_checked), so a skip is never silent.
 */
#include <enlight/abi.h>
#include <enlight_guest/guest.h>

/* A code no plugin claims: outside 0x0000-0x01FF and the extended range. */
#define UNKNOWN_HYPERCALL_CODE UINT32_C(0x7FFF)

#define INSN_VMCALL 0x0F01C1u
#define INSN_VMMCALL 0x0F01D9u
#define INSN_OUT_IMM8_EAX 0xE7u
#define INSN_RET 0xC3u

typedef enum page_form { PAGE_UNKNOWN, PAGE_DIRECT_INSTRUCTION, PAGE_IOPORT } page_form;

static page_form classify(const volatile uint8_t* page) {
  const uint32_t insn = (uint32_t)page[0] << 16 | (uint32_t)page[1] << 8 | page[2];
  if ((insn == INSN_VMCALL || insn == INSN_VMMCALL) && page[3] == INSN_RET) return PAGE_DIRECT_INSTRUCTION;
  if (page[0] == INSN_OUT_IMM8_EAX && page[1] == ENLIGHT_HYPERCALL_IO_PORT && page[2] == INSN_RET) return PAGE_IOPORT;
  return PAGE_UNKNOWN;
}

/* Calls the page's instruction while hypercalls may be off: true if it
 * raised #UD there (the guest resumes at the page's RET, which returns). */
static bool page_call_faults(const volatile uint8_t* page, page_form form, uint64_t control) {
  const uint64_t entry = (uint64_t)(uintptr_t)page;
  guest_expect_fault(GUEST_VECTOR_UD, entry, entry + (form == PAGE_IOPORT ? 2 : 3));
  register uint64_t r8 __asm__("r8") = 0;
  uint64_t rdx = 0, result;
  __asm__ volatile("call *%[page]"
                   : "=a"(result), "+c"(control), "+d"(rdx), "+r"(r8)
                   : [page] "r"(entry)
                   : "cc", "memory", "r9", "r10", "r11");
  (void)result;
  return guest_fault_take(NULL) != GUEST_NO_FAULT;
}

/* Enables the page once to see its form, then undoes it: OS ID 0 clears
 * the enable bit (checked again below), and both MSRs read their reset 0. */
static page_form probe_page_form(uint64_t page_gpa) {
  if (!hv_enable_hypercall_page(page_gpa)) return PAGE_UNKNOWN;
  const page_form form = classify((const volatile uint8_t*)hv_default_hypercall_page());
  hv_disable_hypercall_page();
  wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, 0);
  uint64_t hypercall = ~UINT64_C(0), os_id = ~UINT64_C(0);
  rdmsr_safe(HV_X64_MSR_HYPERCALL, &hypercall);
  rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &os_id);
  CHECK_EQ("probe.hypercall_msr_back_to_disabled", 0, hypercall & HV_X64_MSR_HYPERCALL_ENABLE);
  CHECK_EQ("probe.guest_os_id_back_to_zero", 0, os_id);
  /* The page's content stays in guest memory; clear it so the real enable
   * below is seen to write it. */
  volatile uint8_t* p = (volatile uint8_t*)hv_default_hypercall_page();
  for (int i = 0; i < 16; ++i) p[i] = 0;
  return form;
}

int main(void) {
  guest_printf("conformance-identity: %u vCPU(s)\n", guest_vcpu_count());

  /* --- Discovery ------------------------------------------------------- */
  hv_info hv;
  bool present = hv_detect(&hv);
  CHECK_EQ("cpuid.1.ecx.hypervisor", 1, hv.hypervisor_bit);
  if (!hv.hypervisor_bit) return (int)guest_checks_failed();
  guest_printf("hypervisor: max leaf 0x%x vendor \"%s\" interface 0x%x\n", hv.max_leaf, hv.vendor, hv.interface);
  CHECK_GE("cpuid.40000000.eax.max_leaf", HV_CPUID_MIN_MAX_LEAF, hv.max_leaf);
  CHECK_TRUE("cpuid.40000000.max_leaf_below_kvm_base", hv.max_leaf < HV_CPUID_KVM_LEAVES_BASE);
  CHECK_NE("cpuid.40000000.vendor_nonempty", 0, (uint8_t)hv.vendor[0]);
  CHECK_EQ("cpuid.40000001.eax.interface_hv1", HV_CPUID_INTERFACE_SIGNATURE, hv.interface);
  if (!present) return (int)guest_checks_failed();

  guest_printf("version: build %u, %u.%u; privileges 0x%x:0x%x features 0x%x recommendations 0x%x\n", hv.build,
               hv.version >> HV_VERSION_MAJOR_SHIFT, hv.version & HV_VERSION_MINOR_MASK, hv.privileges_high,
               hv.privileges_low, hv.features, hv.recommendations);
  CHECK_NE("cpuid.40000002.eax.build", 0, hv.build);
  CHECK_NE("cpuid.40000002.ebx.major", 0, (hv.version & HV_VERSION_MAJOR_MASK) >> HV_VERSION_MAJOR_SHIFT);
  /* "Hv#1" promises the hypercall MSRs: AccessHypercallMsrs must be set. */
  CHECK_EQ("cpuid.40000003.eax.access_hypercall_msrs", HV_ACCESS_HYPERCALL_MSRS,
           hv.privileges_low & HV_ACCESS_HYPERCALL_MSRS);
  CHECK_NE("cpuid.40000005.ebx.max_lps", 0, hv.max_lps);
  /* Every leaf up to the maximum answers (zero leaves fill gaps). */
  for (uint32_t leaf = HV_CPUID_VERSION; leaf <= hv.max_leaf && leaf < HV_CPUID_KVM_LEAVES_BASE; ++leaf) (void)cpuid(leaf, 0);

  /* --- Before the guest OS ID -------------------------------------------- */
  uint64_t v = ~UINT64_C(0);
  CHECK_EQ("guest_os_id.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &v));
  CHECK_EQ("guest_os_id.reset_value", 0, v);
  CHECK_EQ("hypercall_msr.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_HYPERCALL, &v));
  CHECK_EQ("hypercall_msr.reset_value", 0, v);

  uint64_t page_gpa = (uint64_t)(uintptr_t)hv_default_hypercall_page();
  const page_form form = probe_page_form(page_gpa);
  const bool direct = form == PAGE_DIRECT_INSTRUCTION;
  CHECK_TRUE("hypercall_page.form_known", form != PAGE_UNKNOWN);
  METRIC("direct_instruction_checked", direct ? 1 : 0);
  if (!direct)
    guest_printf("hypercall page is the %s form: direct VMCALL/VMMCALL checks do not apply\n",
                 form == PAGE_IOPORT ? "ioport" : "unknown");

  uint64_t result = 0;
  if (direct)
    CHECK_EQ("hypercall.before_guest_os_id.ud", 1,
             hv_hypercall_direct_faults(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST, 0, 0, &result));

  /* The page cannot be enabled while GUEST_OS_ID is 0 (TLFS); the write is
   * ignored without a fault (KVM). */
  CHECK_EQ("hypercall_msr.enable_without_os_id.no_fault", 0,
           wrmsr_safe(HV_X64_MSR_HYPERCALL, page_gpa | HV_X64_MSR_HYPERCALL_ENABLE));
  rdmsr_safe(HV_X64_MSR_HYPERCALL, &v);
  CHECK_EQ("hypercall_msr.enable_without_os_id.ignored", 0, v & HV_X64_MSR_HYPERCALL_ENABLE);

  /* --- Guest OS ID --------------------------------------------------------- */
  CHECK_EQ("guest_os_id.write.no_fault", 0, wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, HV_GUEST_OS_ID_ENLIGHT));
  rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &v);
  CHECK_EQ("guest_os_id.read_back", HV_GUEST_OS_ID_ENLIGHT, v);

  /* Still no page: a hypercall is #UD here (enlight; KVM would already
   * answer once the OS ID is non-zero). */
  if (direct)
    CHECK_EQ("hypercall.before_page.ud", 1,
             hv_hypercall_direct_faults(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST, 0, 0, &result));

  /* --- Hypercall page ------------------------------------------------------ */
  const volatile uint8_t* page = hv_default_hypercall_page();
  CHECK_EQ("hypercall_page.enable", 1, hv_enable_hypercall_page(page_gpa));
  rdmsr_safe(HV_X64_MSR_HYPERCALL, &v);
  CHECK_EQ("hypercall_msr.read_back", page_gpa | HV_X64_MSR_HYPERCALL_ENABLE, v);
  /* A callable page, the same form as the probe saw: VMCALL (0F 01 C1) or
   * VMMCALL (0F 01 D9) then RET, or OUT 0xEB, EAX (E7 EB) then RET. */
  guest_printf("hypercall page at 0x%llx: %x %x %x %x\n", (unsigned long long)page_gpa, page[0], page[1], page[2],
               page[3]);
  CHECK_EQ("hypercall_page.same_form_as_probe", form, classify(page));

  /* --- Hypercall answers ----------------------------------------------------- */
  result = hv_hypercall_fast(hv_control(UNKNOWN_HYPERCALL_CODE, 0), 0, 0);
  CHECK_EQ("hypercall.unknown_code.fast", HV_STATUS_INVALID_HYPERCALL_CODE, hv_result_status(result));
  result = hv_hypercall(hv_control(UNKNOWN_HYPERCALL_CODE, 0), 0, 0);
  CHECK_EQ("hypercall.unknown_code.memory", HV_STATUS_INVALID_HYPERCALL_CODE, hv_result_status(result));
  result = hv_hypercall_fast(hv_control(0x0000, 0), 0, 0);
  CHECK_EQ("hypercall.code_0", HV_STATUS_INVALID_HYPERCALL_CODE, hv_result_status(result));

  /* Reserved control bits come before the code check (KVM order). */
  static const struct {
    const char* name;
    uint64_t bits;
  } reserved[] = {
      {"hypercall.rsvd.bit27", UINT64_C(1) << 27},
      {"hypercall.rsvd.nested_bit31", HV_HYPERCALL_NESTED},
      {"hypercall.rsvd.bit44", UINT64_C(1) << 44},
      {"hypercall.rsvd.bit60", UINT64_C(1) << 60},
  };
  for (unsigned i = 0; i < sizeof reserved / sizeof reserved[0]; ++i) {
    result = hv_hypercall_fast(hv_control(HvCallNotifyLongSpinWait, 0) | reserved[i].bits, 0, 0);
    CHECK_EQ(reserved[i].name, HV_STATUS_INVALID_HYPERCALL_INPUT, hv_result_status(result));
  }
  result = hv_hypercall_fast(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | (UINT64_C(1) << 27), 0, 0);
  CHECK_EQ("hypercall.rsvd.unknown_code", HV_STATUS_INVALID_HYPERCALL_INPUT, hv_result_status(result));

  /* A direct VMCALL, now that hypercalls are on, answers like the page. */
  if (direct) {
    bool faulted = hv_hypercall_direct_faults(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST, 0, 0, &result);
    CHECK_EQ("hypercall.direct_after_enable.no_ud", 0, faulted);
    if (!faulted)
      CHECK_EQ("hypercall.direct_after_enable.status", HV_STATUS_INVALID_HYPERCALL_CODE, hv_result_status(result));
  }

  /* --- Turning hypercalls off ------------------------------------------------ */
  hv_disable_hypercall_page();
  rdmsr_safe(HV_X64_MSR_HYPERCALL, &v);
  CHECK_EQ("hypercall_msr.disable", 0, v & HV_X64_MSR_HYPERCALL_ENABLE);
  /* The page's content stays, but calling it is #UD now, in either form. */
  CHECK_EQ("hypercall.page_after_disable.ud", 1,
           page_call_faults(page, form, hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST));
  if (direct)
    CHECK_EQ("hypercall.after_disable.ud", 1,
             hv_hypercall_direct_faults(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST, 0, 0, &result));

  /* Re-enable, then clear GUEST_OS_ID: that clears the enable bit too. */
  CHECK_EQ("hypercall_page.reenable", 1, hv_enable_hypercall_page(page_gpa));
  wrmsr_safe(HV_X64_MSR_GUEST_OS_ID, 0);
  rdmsr_safe(HV_X64_MSR_HYPERCALL, &v);
  CHECK_EQ("guest_os_id.zero_disables_hypercall_page", 0, v & HV_X64_MSR_HYPERCALL_ENABLE);
  CHECK_EQ("hypercall.page_after_os_id_zero.ud", 1,
           page_call_faults(page, form, hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST));
  if (direct)
    CHECK_EQ("hypercall.after_os_id_zero.ud", 1,
             hv_hypercall_direct_faults(hv_control(UNKNOWN_HYPERCALL_CODE, 0) | HV_HYPERCALL_FAST, 0, 0, &result));

  /* Leave the partition enabled, as a guest would. */
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  CHECK_EQ("hypercall_page.final_enable", 1, hv_enable_hypercall_page(page_gpa));

  return (int)guest_checks_failed();
}
