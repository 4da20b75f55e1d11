/*
 * conformance-time: partition reference time (TLFS "Timers", "Partition
 * Reference Counter" and "Partition Reference Time Enlightenment") as a
 * Windows or Linux guest relies on it, each group only when 0x40000003.EAX
 * advertises it:
 *
 * AccessPartitionReferenceCounter: HV_X64_MSR_TIME_REF_COUNT reads, counts
 *   forward and never backwards, is read-only (#GP on write), and, when the
 *   frequency MSRs are advertised, runs at 10 MHz against the TSC rate that
 *   HV_X64_MSR_TSC_FREQUENCY reports.
 * AccessPartitionReferenceTsc: HV_X64_MSR_REFERENCE_TSC starts disabled;
 *   enabled at a guest page it reads back, the page is valid (a sequence
 *   other than 0 / 0xFFFFFFFF), its scale matches the TSC frequency, and a
 *   page reading agrees exactly with the MSR: page <= MSR <= page for an MSR
 *   read between two page reads (the TLFS defines both as one counter).
 *   100 000 page reads never go backwards; with 2+ vCPUs each vCPU checks
 *   every page reading against the latest reading every other vCPU has
 *   published (reference time is partition-wide and monotonic as seen by
 *   all VPs). Disabling stops the hypervisor writing the page; re-enabling
 *   at another page gives a valid page there that continues, not restarts,
 *   the time.
 *
 * That a page read causes no exit cannot be seen from inside; the guest
 * reports METRIC page_reads and the host test compares the run's MSR exits
 * with it (tests/core/guests/conformance_emu_test.cpp).
 */
#include <enlight_guest/guest.h>

/* Loop sizes: enough reads to catch a backwards step or an exit per read,
 * short enough to stay well under a second on a software CPU. */
#define MONOTONIC_MSR_READS 500u
#define BRACKET_ROUNDS 500u
#define AP_BRACKET_ROUNDS 100u
#define PAGE_READS 100000u
#define CROSS_VCPU_READS 20000u
#define CROSS_VCPU_READS_MAX 2000000u /* a vCPU that never catches up ends it */
/* Rate check: 20 ms of TSC, within 1 % (the frequency MSR is rounded to
 * kHz, far below that). */
#define RATE_WINDOW_DIVISOR 50u
#define RATE_TOLERANCE_DIVISOR 100u
/* Scale check: (scale * tsc_hz) >> 64 is 10^7 within 0.01 % (rounding of a
 * kHz-rounded frequency). */
#define SCALE_TOLERANCE_DIVISOR 10000u
/* How long a disabled page is watched for hypervisor writes, in 100 ns. */
#define DISABLED_WATCH_100NS 20000u
#define PAGE_PATTERN 0xA5u
/* Bound on any wait for the other vCPUs (TSC-free: a spin count). */
#define SPIN_LIMIT 2000000000ull

static hv_info hv;
static uint64_t tsc_hz;
static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint8_t page_b[4096] __attribute__((aligned(4096)));

/* Cross-vCPU phase. One writer per slot: a locked read-modify-write is not
 * atomic between emu vCPUs (docs/emu-backend.md). */
static volatile uint32_t go;
static volatile uint32_t cross_ready[GUEST_MAX_VCPUS]; /* start barrier of the cross-vCPU loop */
static volatile uint64_t cross_done[GUEST_MAX_VCPUS];  /* iterations each vCPU has done */
static volatile uint32_t page_on; /* set before go: page_a is enabled and valid */
static volatile uint32_t ap_done[GUEST_MAX_VCPUS];
static volatile uint64_t published[GUEST_MAX_VCPUS];
static volatile uint64_t page_reads[GUEST_MAX_VCPUS];

static bool has_priv(uint32_t bit) { return (hv.privileges_low & bit) != 0; }

static const hv_ref_tsc_page* page(void* p) { return (const hv_ref_tsc_page*)p; }

/* A page reading; a page gone invalid reads UINT64_MAX, which every
 * ordering check below then reports. */
static uint64_t read_page(void* p) {
  uint64_t t = 0;
  page_reads[guest_vcpu_index()]++;
  return hv_ref_tsc_page_read(page(p), &t) ? t : UINT64_MAX;
}

/* Rounds of page, MSR, page: returns how many broke page1 <= msr <= page2. */
static uint32_t bracket_violations(void* p, uint32_t rounds) {
  uint32_t bad = 0;
  for (uint32_t i = 0; i < rounds; ++i) {
    const uint64_t before = read_page(p);
    const uint64_t msr = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    const uint64_t after = read_page(p);
    if (!(before <= msr && msr <= after)) {
      if (bad == 0)
        guest_printf("  vCPU %u: page %llu, MSR %llu, page %llu\n", guest_vcpu_index(), (unsigned long long)before,
                     (unsigned long long)msr, (unsigned long long)after);
      ++bad;
    }
  }
  return bad;
}

/* Every vCPU: each page reading must be at least the latest reading each
 * other vCPU published before it (loaded before this reading's RDTSC).
 * All start together and each goes on until every vCPU has done its
 * CROSS_VCPU_READS, so the loops overlap for as long as the slowest runs. */
static bool all_done(uint32_t count, uint64_t minimum) {
  for (uint32_t j = 0; j < count; ++j)
    if (cross_done[j] < minimum) return false;
  return true;
}

static uint32_t cross_vcpu_violations(uint32_t self, uint32_t count) {
  uint32_t bad = 0;
  uint64_t last_seen = 0, moves = 0;
  cross_ready[self] = 1;
  for (uint32_t j = 0; j < count; ++j)
    for (uint64_t spin = 0; !cross_ready[j] && spin < SPIN_LIMIT; ++spin) cpu_relax();
  for (uint64_t i = 0; i < CROSS_VCPU_READS || (!all_done(count, CROSS_VCPU_READS) && i < CROSS_VCPU_READS_MAX); ++i) {
    cross_done[self] = i;
    uint64_t seen = 0;
    for (uint32_t j = 0; j < count; ++j)
      if (j != self && published[j] > seen) seen = published[j];
    moves += seen != last_seen;
    last_seen = seen;
    const uint64_t now = read_page(page_a);
    if (now < seen) {
      if (bad == 0)
        guest_printf("  vCPU %u: read %llu after another vCPU published %llu\n", self, (unsigned long long)now,
                     (unsigned long long)seen);
      ++bad;
    }
    published[self] = now;
  }
  cross_done[self] = UINT64_MAX;
  /* How often another vCPU's reading changed under this loop: how much the
   * loops overlapped (the host may not run them at the same time). */
  METRIC("cross_vcpu_readings_seen", moves);
  return bad;
}

void guest_ap_main(uint32_t index) {
  char name[96];
  while (!go) cpu_relax();
  if (!page_on) return;
  /* The MSR and the page are one partition-wide counter on every vCPU. */
  guest_snprintf(name, sizeof name, "reference_tsc.vcpu%u.page_brackets_msr", index);
  CHECK_EQ(name, 0, bracket_violations(page_a, AP_BRACKET_ROUNDS));
  guest_snprintf(name, sizeof name, "reference_tsc.vcpu%u.monotonic_across_vcpus", index);
  CHECK_EQ(name, 0, cross_vcpu_violations(index, guest_vcpu_count()));
  METRIC("page_reads", page_reads[index]);
  ap_done[index] = 1;
}

static void check_ref_counter(void) {
  uint64_t a = 0, b = 0;
  CHECK_EQ("time_ref_count.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &a));
  /* It counts: a later read is larger (bounded spin, 100 ns is short). */
  b = a;
  for (uint64_t spin = 0; b == a && spin < 100000000ull; ++spin) b = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
  CHECK_TRUE("time_ref_count.advances", b > a);

  uint32_t backwards = 0;
  uint64_t prev = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
  for (uint32_t i = 0; i < MONOTONIC_MSR_READS; ++i) {
    const uint64_t now = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    if (now < prev) ++backwards;
    prev = now;
  }
  CHECK_EQ("time_ref_count.monotonic", 0, backwards);
  CHECK_EQ("time_ref_count.write.gp", 1, wrmsr_safe(HV_X64_MSR_TIME_REF_COUNT, 0));
  rdmsr_safe(HV_X64_MSR_TIME_REF_COUNT, &b);
  CHECK_GE("time_ref_count.not_reset_by_write", prev, b);

  if (tsc_hz != 0) {
    /* 10 MHz against the TSC: the counter must advance by the TSC ticks
     * scaled to 100 ns, as the frequency MSR tells the guest. Each MSR read
     * is bracketed by TSC reads, because an exit can take any time (the
     * host may deschedule the vCPU in it): the counter's two samples were
     * taken between the brackets, so their distance lies between the inner
     * and the outer TSC distance. */
    const uint64_t window = tsc_hz / RATE_WINDOW_DIVISOR;
    const uint64_t a0 = rdtsc();
    const uint64_t r0 = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    const uint64_t b0 = rdtsc();
    uint64_t a1;
    do a1 = rdtsc();
    while (a1 - b0 < window);
    const uint64_t r1 = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    const uint64_t b1 = rdtsc();
    const uint64_t least = guest_muldiv64(a1 - b0, HV_REFERENCE_TIME_UNITS_PER_SECOND, tsc_hz);
    const uint64_t most = guest_muldiv64(b1 - a0, HV_REFERENCE_TIME_UNITS_PER_SECOND, tsc_hz);
    const uint64_t got = r1 - r0;
    guest_printf("  TIME_REF_COUNT advanced %llu; the TSC says between %llu and %llu\n", (unsigned long long)got,
                 (unsigned long long)least, (unsigned long long)most);
    CHECK_TRUE("time_ref_count.rate_is_10mhz_of_tsc",
               got + least / RATE_TOLERANCE_DIVISOR >= least && got <= most + most / RATE_TOLERANCE_DIVISOR);
  }
}

#define PAGE_FAILED (-1)
#define PAGE_INVALID 0
#define PAGE_VALID 1

/* Enables the page at `p`; the checks are named after `what`. The TLFS
 * lets the hypervisor leave the page invalid (sequence 0: read the MSR
 * instead), and enlight does so where the host's TSC is no reliable clock
 * (the kvm backend on a host whose Linux marked its TSC unstable, as KVM
 * does without its master clock; docs/timers.md). With `allow_invalid`
 * that is PAGE_INVALID, not a failure; the caller reports it. */
static int enable_page(const char* what, void* p, bool allow_invalid) {
  char name[96];
  const uint64_t gpa = (uint64_t)(uintptr_t)p;
  uint64_t v = 0;
  rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v);
  /* RsvdP bits go back as they were read. */
  const uint64_t value = (v & HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK) | gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE;
  guest_snprintf(name, sizeof name, "reference_tsc.%s.enable.no_fault", what);
  if (!CHECK_EQ(name, 0, wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, value))) return PAGE_FAILED;
  rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v);
  guest_snprintf(name, sizeof name, "reference_tsc.%s.read_back", what);
  CHECK_EQ(name, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE, v & ~HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK);
  const uint32_t seq = page(p)->sequence;
  const bool valid = seq != HV_REFERENCE_TSC_SEQUENCE_INVALID && seq != HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY;
  if (!valid && allow_invalid) {
    /* Invalid the TLFS way: sequence 0 (not the legacy 0xFFFFFFFF). */
    guest_snprintf(name, sizeof name, "reference_tsc.%s.invalid_is_sequence_0", what);
    CHECK_EQ(name, HV_REFERENCE_TSC_SEQUENCE_INVALID, seq);
    return PAGE_INVALID;
  }
  guest_snprintf(name, sizeof name, "reference_tsc.%s.sequence_valid", what);
  return CHECK_TRUE(name, valid) ? PAGE_VALID : PAGE_FAILED;
}

static void disable_page(void) {
  uint64_t v = 0;
  rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v);
  CHECK_EQ("reference_tsc.disable.no_fault", 0, wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, v & ~HV_X64_MSR_REFERENCE_TSC_ENABLE));
  rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v);
  CHECK_EQ("reference_tsc.disable.read_back", 0, v & HV_X64_MSR_REFERENCE_TSC_ENABLE);
}

static void check_ref_tsc_page(void) {
  uint64_t v = ~UINT64_C(0);
  CHECK_EQ("reference_tsc.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_REFERENCE_TSC, &v));
  CHECK_EQ("reference_tsc.disabled_at_reset", 0, v & HV_X64_MSR_REFERENCE_TSC_ENABLE);
  const int a = enable_page("page_a", page_a, true);
  METRIC("page_valid", a == PAGE_VALID);
  if (a == PAGE_INVALID) {
    guest_printf("  the host left the page invalid (sequence 0): the page checks do not apply, time is the MSR's\n");
    disable_page();
  }
  if (a != PAGE_VALID) return;

  if (tsc_hz != 0) {
    /* scale = 2^64 * 10^7 / tsc_hz, so (scale * tsc_hz) >> 64 is 10^7:
     * the page converts the TSC the frequency MSR describes. */
    const uint64_t per_second = (uint64_t)(((unsigned __int128)page(page_a)->scale * tsc_hz) >> 64);
    const uint64_t diff = per_second > HV_REFERENCE_TIME_UNITS_PER_SECOND ? per_second - HV_REFERENCE_TIME_UNITS_PER_SECOND
                                                                          : HV_REFERENCE_TIME_UNITS_PER_SECOND - per_second;
    guest_printf("  scale 0x%llx: %llu units per TSC second\n", (unsigned long long)page(page_a)->scale,
                 (unsigned long long)per_second);
    CHECK_TRUE("reference_tsc.scale_matches_tsc_frequency",
               diff <= HV_REFERENCE_TIME_UNITS_PER_SECOND / SCALE_TOLERANCE_DIVISOR);
  }

  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER))
    CHECK_EQ("reference_tsc.page_brackets_msr", 0, bracket_violations(page_a, BRACKET_ROUNDS));

  /* A long run of reads: never backwards. (The host test checks these
   * reads left no MSR exits behind.) */
  uint32_t backwards = 0;
  uint64_t prev = read_page(page_a);
  for (uint32_t i = 0; i < PAGE_READS; ++i) {
    const uint64_t now = read_page(page_a);
    if (now < prev) ++backwards;
    prev = now;
  }
  CHECK_EQ("reference_tsc.page.monotonic", 0, backwards);
  CHECK_TRUE("reference_tsc.page.advanced", prev != UINT64_MAX && prev > 0);

  /* Every vCPU reads the page together, each against the others. */
  const uint32_t count = guest_vcpu_count();
  page_on = 1;
  go = 1;
  if (count >= 2) CHECK_EQ("reference_tsc.vcpu0.monotonic_across_vcpus", 0, cross_vcpu_violations(0, count));
  for (uint32_t i = 1; i < count; ++i) {
    for (uint64_t spin = 0; !ap_done[i] && spin < SPIN_LIMIT; ++spin) cpu_relax();
    char name[96];
    guest_snprintf(name, sizeof name, "reference_tsc.vcpu%u.finished", i);
    CHECK_EQ(name, 1, ap_done[i]);
  }
  const uint64_t last_a = read_page(page_a);

  /* Disabled, the page is the guest's memory again: nothing writes it. */
  disable_page();
  memset(page_a, PAGE_PATTERN, sizeof page_a);
  /* Watched by the TSC when its rate is known (no exits to skew the host's
   * exit count), else by the MSR. */
  if (tsc_hz != 0) {
    const uint64_t ticks = guest_muldiv64(DISABLED_WATCH_100NS, tsc_hz, HV_REFERENCE_TIME_UNITS_PER_SECOND);
    const uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < ticks) cpu_relax();
  } else if (has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER)) {
    const uint64_t t0 = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
    while (rdmsr(HV_X64_MSR_TIME_REF_COUNT) - t0 < DISABLED_WATCH_100NS) cpu_relax();
  }
  uint32_t changed = 0;
  for (uint32_t i = 0; i < sizeof page_a; ++i) changed += ((volatile uint8_t*)page_a)[i] != PAGE_PATTERN;
  CHECK_EQ("reference_tsc.disabled.page_untouched", 0, changed);

  /* Re-enabled elsewhere: a valid page that continues the time. */
  /* The host gave a valid page_a: page_b must be valid too. */
  if (enable_page("page_b", page_b, false) != PAGE_VALID) return;
  changed = 0;
  const uint64_t first_b = read_page(page_b);
  CHECK_GE("reference_tsc.page_b.continues_time", last_a, first_b);
  CHECK_TRUE("reference_tsc.page_b.not_invalid", first_b != UINT64_MAX);
  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER))
    CHECK_EQ("reference_tsc.page_b.brackets_msr", 0, bracket_violations(page_b, BRACKET_ROUNDS));
  for (uint32_t i = 0; i < sizeof page_a; ++i) changed += ((volatile uint8_t*)page_a)[i] != PAGE_PATTERN;
  CHECK_EQ("reference_tsc.old_page_untouched_after_remap", 0, changed);
  disable_page();
}

int main(void) {
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  guest_printf("conformance-time: %u vCPU(s), privileges 0x%x features 0x%x\n", guest_vcpu_count(), hv.privileges_low,
               hv.features);
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  /* The TSC rate only from the MSR: a calibration would measure against
   * the very clocks under test. */
  if (guest_frequency_msrs_available(&hv) && rdmsr_safe(HV_X64_MSR_TSC_FREQUENCY, &tsc_hz)) tsc_hz = 0;

  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER))
    check_ref_counter();
  else
    guest_printf("conformance-time: AccessPartitionReferenceCounter not advertised; skipped\n");

  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_TSC))
    check_ref_tsc_page();
  else
    guest_printf("conformance-time: AccessPartitionReferenceTsc not advertised; skipped\n");
  go = 1; /* releases the other vCPUs if the page phase never did */

  uint64_t total = 0;
  for (uint32_t i = 0; i < guest_vcpu_count(); ++i) total += page_reads[i];
  METRIC("page_reads", page_reads[0]);
  guest_printf("conformance-time: %llu page reads on all vCPUs\n", (unsigned long long)total);
  return (int)guest_checks_failed();
}
