/*
 * workload-timer-idle: every vCPU idles on a periodic 1 ms timer interrupt
 * with HLT between ticks, for the run-length hint (1000 ms when none), the
 * way an idle Windows or Linux guest spends its time. What it measures is
 * how many ticks actually arrive: ticks_per_second below the requested
 * 1000 shows timer latency (or lost ticks) in the backend.
 *
 * Timer source, chosen as Windows chooses its clock-interrupt source from
 * 0x40000003 (metric `path`):
 *   path 2  synthetic timer, direct mode: EAX[3] AccessSyntheticTimerRegs
 *           and EDX[19] (direct synthetic timers available). STIMER0
 *           periodic, DirectMode, ApicVector = the tick vector: no SynIC
 *           message, one fixed interrupt per period (TLFS "Direct Synthetic
 *           Timers").
 *   path 1  synthetic timer, message mode: EAX[3] and EAX[2]
 *           AccessSynicRegs. Each vCPU enables its SynIC (SIMP, SIEFP,
 *           SCONTROL), unmasks SINT TIMER_SINT with the tick vector and runs
 *           STIMER0 periodic with SINTx = TIMER_SINT; each tick is an
 *           HVMSG_TIMER_EXPIRED message the handler takes out of the slot
 *           (EOM when MessagePending is set).
 *   path 0  legacy: the x2APIC timer in periodic LVT mode (which the emu
 *           backend's local APIC models), divide by 1, counted at the APIC
 *           frequency from enlight_guest/clock.h.
 * A synthetic timer whose set-up faults sends that vCPU, and the run's
 * `path`, back to the APIC timer. Synthetic timer periods are in reference
 * time (100 ns units).
 *
 * Elapsed time is RDTSC against the TSC frequency (MSR or calibrated) on
 * every path, so the tick rate is measured against an independent clock,
 * not against the ticks themselves.
 *
 * Metrics per vCPU: ticks, ticks_per_second, elapsed_us; on vCPU 0 also
 * period_us and path.
 */
#include <enlight_guest/guest.h>

#define TICK_VECTOR 0x40u
#define TICK_PERIOD_US 1000u
#define TICK_PERIOD_100NS (TICK_PERIOD_US * (HV_REFERENCE_TIME_UNITS_PER_SECOND / 1000000u))
#define DEFAULT_RUN_MS 1000u
/* Linux's SINT for stimer0 messages. */
#define TIMER_SINT VMBUS_MESSAGE_SINT

#define PATH_APIC_TIMER 0u
#define PATH_STIMER_MESSAGE 1u
#define PATH_STIMER_DIRECT 2u

static hv_info hv;
static uint64_t tsc_hz;
static uint64_t apic_hz;
static volatile uint32_t go;
static volatile uint32_t ap_done[GUEST_MAX_VCPUS];  /* one writer each: locked RMW is not atomic across emu vCPUs */
static volatile uint64_t ticks[GUEST_MAX_VCPUS];
static volatile uint32_t fell_back; /* a vCPU could not set up the synthetic timer */
static uint32_t path;
static uint8_t simp[GUEST_MAX_VCPUS][4096] __attribute__((aligned(4096)));
static uint8_t siefp[GUEST_MAX_VCPUS][4096] __attribute__((aligned(4096)));

static void on_tick(guest_frame* frame) {
  (void)frame;
  const uint32_t self = guest_vcpu_index();
  ticks[self]++;
  if (path == PATH_STIMER_MESSAGE) {
    /* Take the message out so the next expiry finds the slot free. */
    volatile hv_message* m = hv_message_slot(simp[self], TIMER_SINT);
    if (m->type != HvMessageTypeNone) hv_message_ack(m);
  }
  apic_eoi();
}

/* STIMER0 periodic at the tick period, in the run's mode; false when a
 * write faulted (the vCPU then uses the APIC timer). */
static bool stimer_start(uint32_t index) {
  uint64_t config = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC;
  if (path == PATH_STIMER_DIRECT) {
    config |= HV_STIMER_CONFIG_DIRECT_MODE | ((uint64_t)TICK_VECTOR << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT);
  } else {
    uint64_t sint = 0;
    if (!hv_synic_enable(simp[index], siefp[index]) || rdmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, &sint) ||
        wrmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, (sint & HV_SYNIC_SINT_RSVDP_MASK) | hv_sint_value(TICK_VECTOR)))
      return false;
    config |= (uint64_t)TIMER_SINT << HV_STIMER_CONFIG_SINTX_SHIFT;
  }
  return !wrmsr_safe(HV_X64_MSR_STIMER0_COUNT, TICK_PERIOD_100NS) && !wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG, config);
}

static void stimer_stop(void) {
  wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG, 0);
  if (path == PATH_STIMER_MESSAGE) {
    uint64_t sint = 0;
    if (!rdmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, &sint))
      wrmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, sint | HV_SYNIC_SINT_MASKED);
    hv_synic_disable();
  }
}

static void apic_timer_start(void) {
  const uint64_t count = guest_muldiv64(apic_hz, TICK_PERIOD_US, 1000000);
  wrmsr(X2APIC_MSR_TIMER_DIVIDE, APIC_TIMER_DIVIDE_BY_1);
  wrmsr(X2APIC_MSR_LVT_TIMER, APIC_LVT_TIMER_PERIODIC | TICK_VECTOR);
  wrmsr(X2APIC_MSR_TIMER_INITIAL, count > 0xFFFFFFFFu ? 0xFFFFFFFFu : count);
}

static void apic_timer_stop(void) {
  wrmsr(X2APIC_MSR_TIMER_INITIAL, 0);
  wrmsr(X2APIC_MSR_LVT_TIMER, APIC_LVT_MASKED | TICK_VECTOR);
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
  bool synthetic = path != PATH_APIC_TIMER;
  if (synthetic && !stimer_start(index)) {
    guest_printf("workload-timer-idle: vCPU %u: synthetic timer set-up faulted; APIC timer instead\n", index);
    stimer_stop();
    fell_back = 1;
    synthetic = false;
  }
  const uint64_t budget = guest_muldiv64(run_ms, tsc_hz, 1000);
  const uint64_t start = rdtsc();
  if (!synthetic) apic_timer_start();
  uint64_t now;
  for (;;) {
    irq_disable();
    now = rdtsc();
    if (now - start >= budget) break;
    /* sti; hlt: a tick between the check and the HLT wakes the HLT. */
    cpu_safe_halt();
  }
  if (synthetic)
    stimer_stop();
  else
    apic_timer_stop();
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
  if (hv.privileges_low & HV_ACCESS_SYNTHETIC_TIMER_REGS) {
    if (hv.features & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE)
      path = PATH_STIMER_DIRECT;
    else if (hv.privileges_low & HV_ACCESS_SYNIC_REGS)
      path = PATH_STIMER_MESSAGE;
  }
  if (path != PATH_APIC_TIMER) hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  /* Every vCPU needs its APIC: it takes the tick on every path. */
  if (!apic_init()) {
    CHECK_TRUE("timer_idle.x2apic", false);
    return (int)guest_checks_failed();
  }
  uint32_t how = GUEST_TSC_HZ_UNKNOWN;
  apic_hz = guest_apic_timer_hz(&hv);
  tsc_hz = guest_tsc_hz(&hv, &how);
  if (!CHECK_NE("timer_idle.tsc_hz_known", 0, tsc_hz)) return (int)guest_checks_failed();
  static const char* const names[] = {"the APIC timer", "STIMER0 in message mode", "STIMER0 in direct mode"};
  guest_printf("workload-timer-idle: %u ms, %u us ticks on %s (APIC %llu Hz), TSC %llu Hz (source %u), %u vCPU(s)\n",
               run_ms, TICK_PERIOD_US, names[path], (unsigned long long)apic_hz, (unsigned long long)tsc_hz, how,
               guest_vcpu_count());
  METRIC("period_us", TICK_PERIOD_US);
  METRIC("tsc_hz", tsc_hz);
  METRIC("tsc_hz_source", how);
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
  /* The path the run actually took: a fall-back on any vCPU makes it a
   * legacy (or mixed) run. */
  METRIC("path", fell_back ? PATH_APIC_TIMER : path);
  return (int)guest_checks_failed();
}
