/*
 * workload-timeread: reads the time in a tight loop for the run-length hint
 * (1000 ms when the host gave none), choosing the clock a Windows guest
 * would, from what 0x40000003.EAX advertises:
 *
 *   path 2  AccessPartitionReferenceTsc: the reference TSC page. The guest
 *           enables HV_X64_MSR_REFERENCE_TSC at a page of its own and reads
 *           ReferenceTime = ((rdtsc * TscScale) >> 64) + TscOffset under the
 *           page's sequence number (TLFS "Partition Reference Time
 *           Enlightenment"); a sequence of 0 sends that read to the MSR.
 *   path 1  AccessPartitionReferenceCounter: rdmsr HV_X64_MSR_TIME_REF_COUNT
 *           (100 ns units, one exit per read).
 *   path 3  legacy, as Windows without hv-time: the machine's ACPI PM
 *           timer (ENLIGHT_MACHINE_PORT_PM_TIMER, 3.579545 MHz, 24 bits),
 *           one I/O exit per read. Present when its high byte reads 0.
 *   path 0  legacy without a PM timer: rdtsc, no exit at all.
 *
 * Each read is also the loop's clock, so the run ends without a second time
 * source: paths 1 and 2 count in 100 ns units, path 3 in PM timer ticks
 * (wrap-safe deltas of the 24-bit count); path 0 converts TSC ticks with
 * the frequency from enlight_guest/clock.h (HV_X64_MSR_TSC_FREQUENCY when
 * advertised, else calibrated against the APIC timer). With neither (no
 * x2APIC) the legacy loop does a fixed budget of reads instead and reports
 * reads_per_second = 0, because it cannot tell time.
 *
 * Metrics: reads, reads_per_second, path, elapsed_us, and for path 0
 * tsc_hz and tsc_hz_source (GUEST_TSC_HZ_*).
 */
#include <enlight_guest/guest.h>

#define PATH_LEGACY_TSC 0u
#define PATH_REF_COUNTER_MSR 1u
#define PATH_REF_TSC_PAGE 2u
#define PATH_PM_TIMER 3u

#define DEFAULT_RUN_MS 1000u
/* Reads per requested millisecond when there is no clock at all: roughly
 * what a software CPU manages, so the run lasts about as asked. */
#define BLIND_READS_PER_MS 20000ull

static hv_info hv;
static uint8_t tsc_page[4096] __attribute__((aligned(4096)));

/* The reference TSC page as the TLFS lays it out. */
typedef struct ref_tsc_page {
  volatile uint32_t sequence;
  uint32_t reserved;
  volatile uint64_t scale;
  volatile int64_t offset;
} ref_tsc_page;

_Static_assert(__builtin_offsetof(ref_tsc_page, sequence) == HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(ref_tsc_page, scale) == HV_REFERENCE_TSC_PAGE_SCALE_OFFSET, "layout");
_Static_assert(__builtin_offsetof(ref_tsc_page, offset) == HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET, "layout");

/* One read through the page; falls back to the MSR while the hypervisor
 * marks the page invalid (sequence 0, or 0xFFFFFFFF in older revisions),
 * as the TLFS tells guests to. */
static uint64_t read_tsc_page(void) {
  const ref_tsc_page* p = (const ref_tsc_page*)tsc_page;
  for (;;) {
    const uint32_t seq = p->sequence;
    if (seq == HV_REFERENCE_TSC_SEQUENCE_INVALID || seq == HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY)
      return rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    const uint64_t scale = p->scale;
    const int64_t offset = p->offset;
    const uint64_t tsc = rdtsc();
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (p->sequence != seq) continue;  /* the hypervisor updated it under us */
    const uint64_t scaled = (uint64_t)(((unsigned __int128)tsc * scale) >> 64);
    return scaled + (uint64_t)offset;
  }
}

static uint64_t run_ref_time(uint32_t path, uint64_t budget_100ns, uint64_t* elapsed_100ns) {
  uint64_t reads = 0, now;
  const uint64_t start = path == PATH_REF_TSC_PAGE ? read_tsc_page() : rdmsr(HV_X64_MSR_TIME_REF_COUNT);
  if (path == PATH_REF_TSC_PAGE) {
    do {
      now = read_tsc_page();
      ++reads;
    } while (now - start < budget_100ns);
  } else {
    do {
      now = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
      ++reads;
    } while (now - start < budget_100ns);
  }
  *elapsed_100ns = now - start;
  return reads;
}

/* A machine without the device reads all ones; PM_TMR's bits 31:24 are 0. */
static bool pm_timer_present(void) { return (inl(ENLIGHT_MACHINE_PORT_PM_TIMER) & ~ENLIGHT_PM_TIMER_MASK) == 0; }

/* Reads the PM timer for budget_ticks of its own count; the 24-bit count
 * wraps every 4.69 s, far longer than one loop iteration. */
static uint64_t run_pm_timer(uint64_t budget_ticks, uint64_t* elapsed_ticks) {
  uint64_t reads = 0, ticks = 0;
  uint32_t last = inl(ENLIGHT_MACHINE_PORT_PM_TIMER);
  do {
    const uint32_t now = inl(ENLIGHT_MACHINE_PORT_PM_TIMER);
    ticks += (now - last) & ENLIGHT_PM_TIMER_MASK;
    last = now;
    ++reads;
  } while (ticks < budget_ticks);
  *elapsed_ticks = ticks;
  return reads;
}

int main(void) {
  const uint32_t run_ms = guest_run_ms() != 0 ? guest_run_ms() : DEFAULT_RUN_MS;
  hv_detect(&hv);  /* no Hyper-V: hv stays zero and the legacy path runs */
  apic_init();     /* for TSC calibration; harmless when absent */

  uint32_t path = PATH_LEGACY_TSC;
  if (hv.privileges_low & HV_ACCESS_PARTITION_REFERENCE_TSC) {
    hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
    const uint64_t gpa = (uint64_t)(uintptr_t)tsc_page;
    if (!wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE))
      path = PATH_REF_TSC_PAGE;
    else
      guest_printf("workload-timeread: enabling the reference TSC page faulted; not using it\n");
  }
  if (path == PATH_LEGACY_TSC && (hv.privileges_low & HV_ACCESS_PARTITION_REFERENCE_COUNTER)) {
    uint64_t v;
    if (!rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &v)) path = PATH_REF_COUNTER_MSR;
  }
  /* The TSC-page path reads the MSR when the page is invalid: it needs the
   * counter too, which the TLFS pairs with it. */
  if (path == PATH_LEGACY_TSC && pm_timer_present()) path = PATH_PM_TIMER;

  static const char* const names[] = {"legacy rdtsc", "HV_X64_MSR_TIME_REF_COUNT", "reference TSC page",
                                      "ACPI PM timer"};
  guest_printf("workload-timeread: %u ms on the %s path\n", run_ms, names[path]);

  uint64_t reads = 0, per_second = 0, elapsed_us = 0;
  if (path == PATH_PM_TIMER) {
    uint64_t ticks = 0;
    /* One tick past the truncated budget, so the run is never short of it. */
    reads = run_pm_timer(guest_muldiv64(run_ms, ENLIGHT_PM_TIMER_HZ, 1000) + 1, &ticks);
    elapsed_us = guest_muldiv64(ticks, 1000000, ENLIGHT_PM_TIMER_HZ);
    per_second = guest_muldiv64(reads, ENLIGHT_PM_TIMER_HZ, ticks);
  } else if (path != PATH_LEGACY_TSC) {
    uint64_t elapsed = 0;
    reads = run_ref_time(path, (uint64_t)run_ms * (HV_REFERENCE_TIME_UNITS_PER_SECOND / 1000), &elapsed);
    elapsed_us = elapsed / 10;
    per_second = guest_muldiv64(reads, HV_REFERENCE_TIME_UNITS_PER_SECOND, elapsed);
  } else {
    uint32_t how = GUEST_TSC_HZ_UNKNOWN;
    const uint64_t hz = guest_tsc_hz(&hv, &how);
    METRIC("tsc_hz", hz);
    METRIC("tsc_hz_source", how);
    if (hz != 0) {
      const uint64_t budget = guest_muldiv64(run_ms, hz, 1000);
      const uint64_t start = rdtsc();
      uint64_t now;
      do {
        now = rdtsc();
        ++reads;
      } while (now - start < budget);
      elapsed_us = guest_muldiv64(now - start, 1000000, hz);
      per_second = guest_muldiv64(reads, hz, now - start);
    } else {
      guest_printf("workload-timeread: no TSC frequency (no MSR, no x2APIC): fixed budget, no rate\n");
      const uint64_t budget = (uint64_t)run_ms * BLIND_READS_PER_MS;
      volatile uint64_t sink = 0;
      for (; reads < budget; ++reads) sink = rdtsc();
      (void)sink;
    }
  }
  METRIC("reads", reads);
  METRIC("reads_per_second", per_second);
  METRIC("path", path);
  METRIC("elapsed_us", elapsed_us);
  CHECK_GE("timeread.reads", 1, reads);
  return (int)guest_checks_failed();
}
