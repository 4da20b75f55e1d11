/*
 * conformance-spinlocks: the spinlock retry count a guest reads from
 * 0x40000004.EBX, and HvCallNotifyLongSpinWait when it is advertised
 * (EBX != 0xFFFFFFFF, "never notify"). The retry count is also reported as a
 * METRIC record, so the host can compare it with the profile.
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
static uint64_t spin_input[512] __attribute__((aligned(4096)));

static void notify_on_this_vcpu(uint32_t index) {
  char name[96];
  guest_snprintf(name, sizeof name, "notify_long_spin_wait.fast.vcpu%u", index);
  uint64_t r = hv_hypercall_fast(hv_control(HvCallNotifyLongSpinWait, 0), 1, 0);
  CHECK_EQ(name, HV_STATUS_SUCCESS, hv_result_status(r));
}

void guest_ap_main(uint32_t index) {
  while (!go) cpu_relax();
  notify_on_this_vcpu(index);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  ap_done[guest_vcpu_index()] = 1;
}

int main(void) {
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  guest_printf("conformance-spinlocks: 0x40000004.EBX = 0x%x\n", hv.spin_retries);
  METRIC("cpuid.40000004.ebx.spin_retries", hv.spin_retries);
  CHECK_NE("cpuid.40000004.ebx.nonzero", 0, hv.spin_retries);
  if (hv.spin_retries == HV_SPINLOCK_NEVER_NOTIFY) {
    guest_printf("spinlock notification not advertised; nothing more to check\n");
    return (int)guest_checks_failed();
  }

  CHECK_EQ("hypercall_page.enable", 1, hv_enable_hypercall_page((uint64_t)(uintptr_t)hv_default_hypercall_page()));
  notify_on_this_vcpu(0);

  /* Memory form: input is SpinCount (u32), 8-byte aligned, one page. */
  spin_input[0] = 1;
  uint64_t r = hv_hypercall(hv_control(HvCallNotifyLongSpinWait, 0), (uint64_t)(uintptr_t)spin_input, 0);
  CHECK_EQ("notify_long_spin_wait.memory", HV_STATUS_SUCCESS, hv_result_status(r));

  /* A simple call: a rep count or a variable header is invalid input. */
  r = hv_hypercall_fast(hv_control(HvCallNotifyLongSpinWait, 1), 1, 0);
  CHECK_EQ("notify_long_spin_wait.rep_count", HV_STATUS_INVALID_HYPERCALL_INPUT, hv_result_status(r));
  r = hv_hypercall_fast(hv_control(HvCallNotifyLongSpinWait, 0) | (UINT64_C(1) << HV_HYPERCALL_VARHEAD_SHIFT), 1, 0);
  CHECK_EQ("notify_long_spin_wait.varhead", HV_STATUS_INVALID_HYPERCALL_INPUT, hv_result_status(r));

  /* Every other vCPU (the hypercall page is partition-wide). */
  go = 1;
  uint32_t others = guest_vcpu_count() > 0 ? guest_vcpu_count() - 1 : 0;
  for (uint64_t spin = 0; aps_done() < others && spin < 2000000000ull; ++spin)
    cpu_relax();
  CHECK_EQ("smp.all_vcpus_notified", others, aps_done());
  return (int)guest_checks_failed();
}
