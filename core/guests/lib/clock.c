/* Guest-side TSC and APIC timer frequencies (enlight_guest/clock.h). */
#include <enlight_guest/guest.h>

bool guest_frequency_msrs_available(const hv_info* hv) {
  /* QEMU's hv-frequencies sets both; Windows and Linux need both. */
  return (hv->privileges_low & HV_ACCESS_FREQUENCY_REGS) != 0 &&
         (hv->features & HV_FEATURE_FREQUENCY_REGS_AVAILABLE) != 0;
}

uint64_t guest_apic_timer_hz(const hv_info* hv) {
  if (guest_frequency_msrs_available(hv)) {
    uint64_t hz = 0;
    if (!rdmsr_safe(HV_X64_MSR_APIC_FREQUENCY, &hz) && hz != 0) return hz;
  }
  return GUEST_APIC_HZ_ASSUMED;
}

uint64_t guest_muldiv64(uint64_t a, uint64_t b, uint64_t c) {
  if (c == 0) return UINT64_MAX;
  uint64_t lo, hi;
  __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "a"(a), "rm"(b));
  /* DIV raises #DE when the quotient overflows 64 bits: check first. */
  if (hi >= c) return UINT64_MAX;
  uint64_t q, r;
  __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(c));
  (void)r;
  return q;
}

/* RDTSC across apic_hz / 50 APIC counts (20 ms): long enough that the
 * MSR-read latency at both ends is noise (well under 0.1 %), short enough
 * not to matter in a run. The timer is masked: no interrupt, only the
 * count is read. Bounded: a count that never moves gives 0. */
static uint64_t calibrate_tsc(uint64_t apic_hz) {
  const uint64_t span64 = apic_hz / 50;
  const uint32_t span = span64 > 0xF0000000u ? 0xF0000000u : (uint32_t)span64;
  if (span < 1000) return 0;
  wrmsr(X2APIC_MSR_LVT_TIMER, APIC_LVT_MASKED | 0x20u);
  wrmsr(X2APIC_MSR_TIMER_DIVIDE, APIC_TIMER_DIVIDE_BY_1);
  wrmsr(X2APIC_MSR_TIMER_INITIAL, span);
  const uint32_t first = (uint32_t)rdmsr(X2APIC_MSR_TIMER_CURRENT);
  const uint64_t t0 = rdtsc();
  uint32_t now = first;
  /* Stop half way: a one-shot count reads 0 once it runs out and the end
   * point would be lost, and a vCPU can be descheduled for milliseconds
   * between two reads, so the margin before zero must be wide. */
  for (uint64_t spins = 0; spins < 500000000ull; ++spins) {
    now = (uint32_t)rdmsr(X2APIC_MSR_TIMER_CURRENT);
    if (now == 0 || first - now >= span / 2) break;
  }
  const uint64_t t1 = rdtsc();
  wrmsr(X2APIC_MSR_TIMER_INITIAL, 0);
  if (now == 0 || now >= first) return 0;
  return guest_muldiv64(t1 - t0, apic_hz, first - now);
}

uint64_t guest_tsc_hz(const hv_info* hv, uint32_t* how) {
  if (how) *how = GUEST_TSC_HZ_UNKNOWN;
  if (guest_frequency_msrs_available(hv)) {
    uint64_t hz = 0;
    if (!rdmsr_safe(HV_X64_MSR_TSC_FREQUENCY, &hz) && hz != 0) {
      if (how) *how = GUEST_TSC_HZ_FROM_MSR;
      return hz;
    }
  }
  if (!apic_x2apic_supported()) return 0;
  /* A vCPU descheduled for half the window loses the end point (the count
   * ran out): seen on the emu backend on a loaded host (a ctest -j2 beside
   * a build). A few tries cost at most 100 ms and make that rare. */
  uint64_t hz = 0;
  for (int attempt = 0; attempt < 5 && hz == 0; ++attempt) hz = calibrate_tsc(guest_apic_timer_hz(hv));
  if (hz != 0 && how) *how = GUEST_TSC_HZ_CALIBRATED;
  return hz;
}
