/*
 * test-msr-garbage: a hostile guest. Writes garbage to every MSR of the
 * synthetic range (HV_X64_MSR_SYNTHETIC_FIRST..LAST), claimed or not, and
 * reads each back: all ones, reserved bits, enable bits with GPAs far
 * outside RAM, SINT vectors below 16, random values. The host must answer
 * each access with #GP or the documented behaviour and keep running; the
 * guest must survive to report (tests/core/guests/hostile_guest_test.cpp).
 *
 * Which accesses faulted is folded into one signature (FNV-1a over MSR,
 * value index and fault bit), reported as METRIC fault_signature: a
 * deterministic function of the plugins' answers, so two backends running
 * the same profile must report the same signature. Values read back are
 * not folded in (the time MSRs move).
 *
 * What is kept out, and why (each is the guest's own affair, not a host
 * safety question, and would end this guest before it reports):
 *  - GPAs inside RAM other than a scratch page of this guest: a page
 *    overlay (SIMP, TSC page, VP assist page...) at a random page would
 *    overwrite the guest's own code or page tables;
 *  - ICR delivery modes other than Fixed: INIT or SIPI to itself resets
 *    the vCPU (architecturally), which is its own business;
 *  - reading HV_X64_MSR_GUEST_IDLE: it halts the vCPU with interrupts off.
 * Interrupts stay off throughout, so the garbage vectors it arms pend and
 * are never taken. At the end every timer and page it enabled is turned
 * off again.
 *
 * A last step arms STIMER0 periodic in direct mode with a 100 ns period
 * (COUNT 1) for 20 ms of reference time: a 10 MHz timer storm the host
 * must absorb without falling over.
 */
#include <enlight_guest/guest.h>

#define VALUES_PER_MSR 11u
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
/* Bit 38 set: a GPA at 256 GiB or above, outside any RAM enlight gives. */
#define FAR_GPA_BIT (UINT64_C(1) << 38)
/* The bits a random value keeps: the low 12 (enable, reserved, vectors)
 * and the top ones; the GPA bits in between are cleared, so with
 * FAR_GPA_BIT every page MSR's GPA lies outside RAM. */
#define RANDOM_KEEP_MASK UINT64_C(0xFFFFFFC000000FFF)
#define ICR_DELIVERY_MODE_MASK (UINT64_C(7) << 8)
#define STORM_VECTOR 0x40u
#define STORM_100NS 200000u /* 20 ms */

static uint8_t scratch[4096] __attribute__((aligned(4096)));
static uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint64_t fold(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xFF;
    h *= FNV_PRIME;
  }
  return h;
}

static uint64_t garbage(uint32_t msr, uint32_t k) {
  const uint64_t page = (uint64_t)(uintptr_t)scratch;
  uint64_t v;
  switch (k) {
    case 0: v = 0; break;
    case 1: v = ~UINT64_C(0); break;
    case 2: v = UINT64_C(0x8000000000000001); break;
    case 3: v = page | 1; break;         /* a valid enable at a page of ours */
    case 4: v = page | 0xFFF; break;     /* the same with every low reserved bit */
    case 5: v = FAR_GPA_BIT | 1; break;  /* enable at a GPA outside RAM */
    case 6: v = 0xE; break;              /* unmasked SINT vector 14; no enable bit */
    default: v = (xorshift() & RANDOM_KEEP_MASK) | FAR_GPA_BIT; break;
  }
  if (msr == HV_X64_MSR_ICR) v &= ~ICR_DELIVERY_MODE_MASK;
  return v;
}

static void disarm(void) {
  for (uint32_t t = 0; t < HV_SYNIC_STIMER_COUNT; ++t) wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG + 2 * t, 0);
  wrmsr_safe(HV_X64_MSR_SCONTROL, 0);
  wrmsr_safe(HV_X64_MSR_SIMP, 0);
  wrmsr_safe(HV_X64_MSR_SIEFP, 0);
  wrmsr_safe(HV_X64_MSR_VP_ASSIST_PAGE, 0);
  wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, 0);
  wrmsr_safe(HV_X64_MSR_HYPERCALL, 0);
}

int main(void) {
  irq_disable();
  hv_info hv;
  hv_detect(&hv);
  uint64_t signature = FNV_OFFSET, writes = 0, write_faults = 0, reads = 0, read_faults = 0;
  for (uint32_t msr = HV_X64_MSR_SYNTHETIC_FIRST; msr <= HV_X64_MSR_SYNTHETIC_LAST; ++msr) {
    for (uint32_t k = 0; k < VALUES_PER_MSR; ++k) {
      const bool wf = wrmsr_safe(msr, garbage(msr, k));
      ++writes;
      write_faults += wf;
      signature = fold(signature, ((uint64_t)msr << 16) | (k << 1) | wf);
      if (msr == HV_X64_MSR_GUEST_IDLE) continue;
      uint64_t back = 0;
      const bool rf = rdmsr_safe(msr, &back);
      ++reads;
      read_faults += rf;
      signature = fold(signature, ((uint64_t)msr << 16) | (k << 1) | rf | UINT64_C(1) << 15);
    }
  }
  disarm();

  /* The storm: only where the profile has direct-mode timers. */
  uint64_t storm_armed = 0;
  if ((hv.features & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE) && (hv.privileges_low & HV_ACCESS_SYNTHETIC_TIMER_REGS) &&
      (hv.privileges_low & HV_ACCESS_PARTITION_REFERENCE_COUNTER)) {
    const uint64_t config = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC | HV_STIMER_CONFIG_DIRECT_MODE |
                            ((uint64_t)STORM_VECTOR << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT);
    if (!wrmsr_safe(HV_X64_MSR_STIMER0_COUNT, 1) && !wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG, config)) {
      storm_armed = 1;
      const uint64_t t0 = rdmsr(HV_X64_MSR_TIME_REF_COUNT);
      while (rdmsr(HV_X64_MSR_TIME_REF_COUNT) - t0 < STORM_100NS) cpu_relax();
    }
    disarm();
  }

  METRIC("writes", writes);
  METRIC("write_faults", write_faults);
  METRIC("reads", reads);
  METRIC("read_faults", read_faults);
  METRIC("fault_signature", signature);
  METRIC("storm_armed", storm_armed);
  CHECK_EQ("garbage.every_msr_written", (HV_X64_MSR_SYNTHETIC_LAST - HV_X64_MSR_SYNTHETIC_FIRST + 1) * VALUES_PER_MSR,
           writes);
  /* Most of the range is unclaimed: far more faults than not. */
  CHECK_GE("garbage.unclaimed_msrs_fault", writes / 2, write_faults);
  return (int)guest_checks_failed();
}
