/*
 * conformance-msrs: every synthetic MSR a feature advertises behaves as
 * advertised, on every vCPU. Like Windows, the guest only touches what
 * 0x40000003 advertises; the one probe of an unadvertised MSR is the SynIC's
 * SINT0, checked for #GP only when the SynIC is not advertised.
 */
#include <enlight_guest/guest.h>

static hv_info hv;
static volatile uint32_t go;
/* One flag per AP (a shared counter's increment is not atomic between emu
 * vCPUs). */
static volatile uint32_t ap_done[GUEST_MAX_VCPUS];

static uint32_t aps_done(void) {
  uint32_t n = 0;
  for (uint32_t i = 1; i < GUEST_MAX_VCPUS; ++i) n += ap_done[i];
  return n;
}

static bool has_priv(uint32_t bit) { return (hv.privileges_low & bit) != 0; }
static bool has_feature(uint32_t bit) { return (hv.features & bit) != 0; }

/* Checks that each vCPU runs for itself. */
static void per_vcpu_checks(uint32_t index) {
  char name[96];
  uint64_t v = 0;
  if (has_priv(HV_ACCESS_VP_INDEX)) {
    guest_snprintf(name, sizeof name, "vp_index.vcpu%u.read.no_fault", index);
    CHECK_EQ(name, 0, rdmsr_safe(HV_X64_MSR_VP_INDEX, &v));
    guest_snprintf(name, sizeof name, "vp_index.vcpu%u.equals_index", index);
    CHECK_EQ(name, index, v);
    guest_snprintf(name, sizeof name, "vp_index.vcpu%u.write.gp", index);
    CHECK_EQ(name, 1, wrmsr_safe(HV_X64_MSR_VP_INDEX, v + 1));
    rdmsr_safe(HV_X64_MSR_VP_INDEX, &v);
    guest_snprintf(name, sizeof name, "vp_index.vcpu%u.unchanged_after_write", index);
    CHECK_EQ(name, index, v);
  }
  if (has_priv(HV_ACCESS_VP_RUNTIME_REG)) {
    uint64_t a = 0, b = 0;
    guest_snprintf(name, sizeof name, "vp_runtime.vcpu%u.read.no_fault", index);
    CHECK_EQ(name, 0, rdmsr_safe(HV_X64_MSR_VP_RUNTIME, &a));
    for (volatile uint32_t spin = 0; spin < 200000; ++spin) {
    }
    rdmsr_safe(HV_X64_MSR_VP_RUNTIME, &b);
    guest_snprintf(name, sizeof name, "vp_runtime.vcpu%u.monotonic", index);
    CHECK_GE(name, a, b);
    guest_snprintf(name, sizeof name, "vp_runtime.vcpu%u.write.gp", index);
    CHECK_EQ(name, 1, wrmsr_safe(HV_X64_MSR_VP_RUNTIME, 0));
  }
}

void guest_ap_main(uint32_t index) {
  while (!go) cpu_relax();
  per_vcpu_checks(index);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  ap_done[guest_vcpu_index()] = 1;
}

static void read_only_nonzero(const char* what, uint32_t msr) {
  char name[96];
  uint64_t v = 0, after = 0;
  guest_snprintf(name, sizeof name, "%s.read.no_fault", what);
  CHECK_EQ(name, 0, rdmsr_safe(msr, &v));
  guest_snprintf(name, sizeof name, "%s.nonzero", what);
  CHECK_NE(name, 0, v);
  guest_snprintf(name, sizeof name, "%s.write.gp", what);
  CHECK_EQ(name, 1, wrmsr_safe(msr, v + 1));
  rdmsr_safe(msr, &after);
  guest_snprintf(name, sizeof name, "%s.unchanged_after_write", what);
  CHECK_EQ(name, v, after);
  guest_printf("%s = %llu\n", what, (unsigned long long)v);
}

int main(void) {
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  guest_printf("conformance-msrs: %u vCPU(s), privileges 0x%x features 0x%x\n", guest_vcpu_count(),
               hv.privileges_low, hv.features);
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);

  /* Per vCPU: this one, then the others in parallel. */
  per_vcpu_checks(0);
  go = 1;
  uint32_t others = guest_vcpu_count() > 0 ? guest_vcpu_count() - 1 : 0;
  for (uint64_t spin = 0; aps_done() < others && spin < 2000000000ull; ++spin)
    cpu_relax();
  CHECK_EQ("smp.all_vcpus_checked", others, aps_done());

  /* Frequencies: both the privilege and the feature bit. */
  if (has_priv(HV_ACCESS_FREQUENCY_REGS) && has_feature(HV_FEATURE_FREQUENCY_REGS_AVAILABLE)) {
    read_only_nonzero("tsc_frequency", HV_X64_MSR_TSC_FREQUENCY);
    read_only_nonzero("apic_frequency", HV_X64_MSR_APIC_FREQUENCY);
  }

  /* Crash parameters are plain storage; CRASH_CTL says what is supported.
   * CRASH_CTL is never written with CrashNotify: that would end the run. */
  if (has_feature(HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE)) {
    char name[96];
    for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i) {
      uint64_t pattern = UINT64_C(0x0123456789ABCDEF) ^ ((uint64_t)i << 56) ^ i, v = 0;
      guest_snprintf(name, sizeof name, "crash_p%u.write.no_fault", i);
      CHECK_EQ(name, 0, wrmsr_safe(HV_X64_MSR_CRASH_P0 + i, pattern));
      guest_snprintf(name, sizeof name, "crash_p%u.read_back", i);
      rdmsr_safe(HV_X64_MSR_CRASH_P0 + i, &v);
      CHECK_EQ(name, pattern, v);
      wrmsr_safe(HV_X64_MSR_CRASH_P0 + i, 0);
    }
    uint64_t ctl = 0;
    CHECK_EQ("crash_ctl.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_CRASH_CTL, &ctl));
    CHECK_EQ("crash_ctl.crash_notify_supported", HV_CRASH_CTL_CRASH_NOTIFY, ctl & HV_CRASH_CTL_CRASH_NOTIFY);
  }

  if (has_priv(HV_ACCESS_RESET_REG)) {
    uint64_t v = ~UINT64_C(0);
    CHECK_EQ("reset.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_RESET, &v));
    CHECK_EQ("reset.reads_zero", 0, v);
    CHECK_EQ("reset.write_zero.no_fault", 0, wrmsr_safe(HV_X64_MSR_RESET, 0));
  }

  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER)) {
    uint64_t a = 0, b = 0;
    CHECK_EQ("time_ref_count.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &a));
    for (volatile uint32_t spin = 0; spin < 200000; ++spin) {
    }
    rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &b);
    CHECK_GE("time_ref_count.monotonic", a, b);
    CHECK_EQ("time_ref_count.write.gp", 1, wrmsr_safe(HV_X64_MSR_TIME_REF_COUNT, 0));
  }

  /* The hypercall MSRs are always there with "Hv#1". */
  uint64_t v = 0;
  CHECK_EQ("guest_os_id.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_GUEST_OS_ID, &v));
  CHECK_EQ("guest_os_id.read_back", HV_GUEST_OS_ID_ENLIGHT, v);
  CHECK_EQ("hypercall.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_HYPERCALL, &v));

  /* An unclaimed synthetic MSR is #GP on read and write. */
  if (!has_priv(HV_ACCESS_SYNIC_REGS)) {
    CHECK_EQ("unclaimed.sint0.read.gp", 1, rdmsr_safe(HV_X64_MSR_SINT0, &v));
    CHECK_EQ("unclaimed.sint0.write.gp", 1, wrmsr_safe(HV_X64_MSR_SINT0, 0x10000));
  }
  return (int)guest_checks_failed();
}
