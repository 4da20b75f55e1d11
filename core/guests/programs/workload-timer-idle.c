/*
 * workload-timer-idle: every vCPU idles on a periodic 1 ms timer interrupt
 * with HLT between ticks, for the run-length hint (1000 ms when none), the
 * way an idle Windows or Linux guest spends its time. What it measures is
 * how many ticks actually arrive: ticks_per_second below the requested
 * 1000 shows timer latency (or lost ticks) in the backend.
 *
 * Timer source. The enlightened one would be a Hyper-V synthetic timer
 * (HV_X64_MSR_STIMER0_CONFIG in direct mode) when 0x40000003.EAX advertises
 * AccessSyntheticTimerRegs; it arrives with the stimer plugin, so every
 * profile takes the legacy source here: the x2APIC timer in periodic LVT
 * mode (which the emu backend's local APIC models), divide by 1, counted at
 * the APIC frequency from enlight_guest/clock.h. Elapsed time is RDTSC
 * against the TSC frequency (MSR or calibrated), so the tick rate is
 * measured against an independent clock, not against the ticks themselves.
 *
 * Metrics per vCPU: ticks, ticks_per_second, elapsed_us; on vCPU 0 also
 * period_us and path (0 = APIC timer).
 */
#include <enlight_guest/guest.h>

#define TICK_VECTOR 0x40u
#define TICK_PERIOD_US 1000u
#define DEFAULT_RUN_MS 1000u

static hv_info hv;
static uint64_t tsc_hz;
static uint64_t apic_hz;
static volatile uint32_t go;
static volatile uint32_t ap_done[GUEST_MAX_VCPUS];  /* one writer each: locked RMW is not atomic across emu vCPUs */
static volatile uint64_t ticks[GUEST_MAX_VCPUS];

static void on_tick(guest_frame* frame) {
  (void)frame;
  ticks[guest_vcpu_index()]++;
  apic_eoi();
}

/* Runs this vCPU's timer for run_ms and reports what arrived; false when the
 * vCPU has no usable APIC. */
static bool idle_on_timer(uint32_t index, uint32_t run_ms) {
  char name[96];
  if (!apic_init()) {
    guest_snprintf(name, sizeof name, "timer_idle.vcpu%u.x2apic", index);
    CHECK_TRUE(name, false);
    return false;
  }
  const uint64_t count = guest_muldiv64(apic_hz, TICK_PERIOD_US, 1000000);
  wrmsr(X2APIC_MSR_TIMER_DIVIDE, APIC_TIMER_DIVIDE_BY_1);
  wrmsr(X2APIC_MSR_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | TICK_VECTOR);
  const uint64_t budget = guest_muldiv64(run_ms, tsc_hz, 1000);
  const uint64_t start = rdtsc();
  wrmsr(X2APIC_MSR_TIMER_INITIAL, count > 0xFFFFFFFFu ? 0xFFFFFFFFu : count);
  uint64_t now;
  for (;;) {
    irq_disable();
    now = rdtsc();
    if (now - start >= budget) break;
    /* sti; hlt: a tick between the check and the HLT wakes the HLT. */
    cpu_safe_halt();
  }
  wrmsr(X2APIC_MSR_TIMER_INITIAL, 0);
  wrmsr(X2APIC_MSR_LVT_TIMER, APIC_LVT_MASKED | TICK_VECTOR);
  const uint64_t got = ticks[index];
  METRIC("ticks", got);
  METRIC("ticks_per_second", guest_muldiv64(got, tsc_hz, now - start));
  METRIC("elapsed_us", guest_muldiv64(now - start, 1000000, tsc_hz));
  guest_snprintf(name, sizeof name, "timer_idle.vcpu%u.ticks", index);
  CHECK_GE(name, 1, got);
  return true;
}

void guest_ap_main(uint32_t index) {
  while (!go) cpu_relax();
  idle_on_timer(index, guest_run_ms() != 0 ? guest_run_ms() : DEFAULT_RUN_MS);
  ap_done[index] = 1;
}

int main(void) {
  const uint32_t run_ms = guest_run_ms() != 0 ? guest_run_ms() : DEFAULT_RUN_MS;
  hv_detect(&hv);
  /* The stimer path (AccessSyntheticTimerRegs) comes with the stimer
   * plugin; until then the APIC timer is the source on every profile. */
  if (!apic_init()) {
    CHECK_TRUE("timer_idle.x2apic", false);
    return (int)guest_checks_failed();
  }
  uint32_t how = GUEST_TSC_HZ_UNKNOWN;
  apic_hz = guest_apic_timer_hz(&hv);
  tsc_hz = guest_tsc_hz(&hv, &how);
  if (!CHECK_NE("timer_idle.tsc_hz_known", 0, tsc_hz)) return (int)guest_checks_failed();
  guest_printf("workload-timer-idle: %u ms, %u us ticks on the APIC timer (%llu Hz), TSC %llu Hz (source %u), %u vCPU(s)\n",
               run_ms, TICK_PERIOD_US, (unsigned long long)apic_hz, (unsigned long long)tsc_hz, how,
               guest_vcpu_count());
  METRIC("period_us", TICK_PERIOD_US);
  METRIC("path", 0);
  guest_set_irq_handler(TICK_VECTOR, on_tick);
  go = 1;
  idle_on_timer(0, run_ms);

  /* The others started together; give them their run plus a second. */
  const uint64_t limit = guest_muldiv64(run_ms + 1000u, tsc_hz, 1000);
  const uint64_t t0 = rdtsc();
  for (uint32_t i = 1; i < guest_vcpu_count(); ++i) {
    while (!ap_done[i] && rdtsc() - t0 < limit) cpu_relax();
    char name[96];
    guest_snprintf(name, sizeof name, "timer_idle.vcpu%u.finished", i);
    CHECK_EQ(name, 1, ap_done[i]);
  }
  return (int)guest_checks_failed();
}
