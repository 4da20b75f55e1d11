/*
 * workload-ipi: vCPU 0 sends IPIs to the other vCPUs in turn, for the
 * run-length hint (1000 ms when none); each receiver counts the IPI and
 * acknowledges it with an IPI back to vCPU 0, which waits for that ack
 * before the next send. One send + ack is a round trip: the figure an IPI
 * enlightenment exists to improve. The receiver acks from its idle loop,
 * after the handler's IRET, as a Linux call-function IPI's work runs.
 *
 * Send path, from what CPUID advertises (as Windows chooses):
 *   path 1  0x40000004.EAX[10] (UseSyntheticClusterIpi): the fast hypercall
 *           HvCallSendSyntheticClusterIpi {vector, reserved, processor mask
 *           by VP index}. No plugin implements it yet; should the call fail
 *           the guest says so and falls back to path 0 for the rest.
 *   path 0  legacy: a fixed IPI through the x2APIC ICR (MSR 0x830) to the
 *           target's x2APIC ID.
 * Acks always go through the ICR (Windows uses the same path both ways;
 * the ack is the measuring device here, not the thing measured).
 *
 * With one vCPU there is nobody to send to: the guest prints why, reports
 * the metrics as 0 and exits 0, so a profile sweep over vCPU counts does
 * not fail on its 1-vCPU point.
 *
 * Metrics: on vCPU 0 ipis_sent, ipis_received (acks back), round_trips,
 * round_trips_per_second, path, elapsed_us; on each receiver
 * ipis_received.
 */
#include <enlight_guest/guest.h>

#define IPI_VECTOR 0x50u
#define ACK_VECTOR 0x51u
#define DEFAULT_RUN_MS 1000u
#define PATH_ICR 0u
#define PATH_SYNTHETIC_CLUSTER_IPI 1u

static hv_info hv;
static uint64_t tsc_hz;
static volatile uint32_t stop;
/* Per-vCPU words with a single writer each: a locked read-modify-write is
 * not atomic between emu vCPUs (docs/emu-backend.md). */
static volatile uint32_t ready[GUEST_MAX_VCPUS];
static volatile uint32_t finished[GUEST_MAX_VCPUS];
static volatile uint32_t apic_ids[GUEST_MAX_VCPUS];
static volatile uint64_t received[GUEST_MAX_VCPUS];  /* written by each receiver */
static volatile uint64_t acks;                       /* written by vCPU 0's handler */

static volatile uint32_t ack_due[GUEST_MAX_VCPUS];  /* set by the receiver's handler, cleared by its idle loop */

/* Counts, and leaves the ack to the idle loop: the ack goes out after IRET,
 * so vCPU 0's next IPI never lands while this handler runs. (On the emu
 * backend an interrupt arriving inside a handler, IF = 0, can corrupt the
 * handler's stack: see docs/emu-backend.md, Known limitations.) */
static void on_ipi(guest_frame* frame) {
  (void)frame;
  const uint32_t i = guest_vcpu_index();
  received[i]++;
  ack_due[i] = 1;
  apic_eoi();
}

static void on_ack(guest_frame* frame) {
  (void)frame;
  acks++;
  apic_eoi();
}

void guest_ap_main(uint32_t index) {
  if (!apic_init()) return;  /* vCPU 0 notices: ready stays 0 */
  apic_ids[index] = apic_id();
  ready[index] = 1;
  /* Idle with interrupts on until vCPU 0 is done sending; ack each IPI. */
  while (!stop) {
    irq_disable();
    if (ack_due[index]) {
      ack_due[index] = 0;
      apic_send_ipi(apic_ids[0], ACK_VECTOR);
      continue;
    }
    if (stop) break;
    cpu_safe_halt();
  }
  irq_disable();
  METRIC("ipis_received", received[index]);
  finished[index] = 1;
}

/* Sends one IPI on the chosen path; false if the hypercall failed. */
static bool send(uint32_t path, uint32_t target) {
  if (path == PATH_SYNTHETIC_CLUSTER_IPI) {
    /* Input: Vector (u32), reserved (u32), ProcessorMask (u64) by VP index,
     * which is the vCPU index in enlight. */
    const uint64_t r = hv_hypercall_fast(hv_control(HvCallSendSyntheticClusterIpi, 0), IPI_VECTOR,
                                         UINT64_C(1) << target);
    return hv_result_status(r) == HV_STATUS_SUCCESS;
  }
  apic_send_ipi(apic_ids[target], IPI_VECTOR);
  return true;
}

int main(void) {
  const uint32_t run_ms = guest_run_ms() != 0 ? guest_run_ms() : DEFAULT_RUN_MS;
  const uint32_t n = guest_vcpu_count();
  if (n < 2) {
    guest_printf("workload-ipi: needs at least 2 vCPUs, this run has %u: nothing to measure\n", n);
    METRIC("ipis_sent", 0);
    METRIC("ipis_received", 0);
    METRIC("round_trips_per_second", 0);
    return 0;
  }
  hv_detect(&hv);
  if (!CHECK_TRUE("ipi.x2apic", apic_init())) return (int)guest_checks_failed();
  apic_ids[0] = apic_id();
  uint32_t how = GUEST_TSC_HZ_UNKNOWN;
  tsc_hz = guest_tsc_hz(&hv, &how);
  if (!CHECK_NE("ipi.tsc_hz_known", 0, tsc_hz)) return (int)guest_checks_failed();

  uint32_t path = PATH_ICR;
  if ((hv.recommendations & HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI) && n <= 64 &&
      hv_enable_hypercall_page((uint64_t)(uintptr_t)hv_default_hypercall_page()))
    path = PATH_SYNTHETIC_CLUSTER_IPI;

  guest_set_irq_handler(IPI_VECTOR, on_ipi);
  guest_set_irq_handler(ACK_VECTOR, on_ack);
  const uint64_t second = tsc_hz;
  uint64_t t0 = rdtsc();
  for (uint32_t i = 1; i < n; ++i) {
    while (!ready[i] && rdtsc() - t0 < second) cpu_relax();
    char name[96];
    guest_snprintf(name, sizeof name, "ipi.vcpu%u.ready", i);
    if (!CHECK_EQ(name, 1, ready[i])) {
      stop = 1;
      return (int)guest_checks_failed();
    }
  }
  guest_printf("workload-ipi: %u ms, %u vCPU(s), %s path\n", run_ms, n,
               path == PATH_ICR ? "x2APIC ICR" : "HvCallSendSyntheticClusterIpi");

  irq_enable();
  const uint64_t budget = guest_muldiv64(run_ms, tsc_hz, 1000);
  const uint64_t start = rdtsc();
  uint64_t sent = 0, now = start;
  bool timed_out = false;
  uint32_t target = 1;
  while (now - start < budget) {
    const uint64_t want = acks + 1;
    if (!send(path, target)) {
      guest_printf("workload-ipi: HvCallSendSyntheticClusterIpi failed; using the x2APIC ICR from here on\n");
      path = PATH_ICR;
      continue;
    }
    ++sent;
    /* Wait for the ack; a lost IPI is a failure, not a hang. */
    const uint64_t sent_at = rdtsc();
    while (acks < want) {
      cpu_relax();
      if (rdtsc() - sent_at > second) {
        timed_out = true;
        break;
      }
    }
    if (timed_out) break;
    target = target + 1 < n ? target + 1 : 1;
    now = rdtsc();
  }
  irq_disable();
  stop = 1;
  for (uint32_t i = 1; i < n; ++i) apic_send_ipi(apic_ids[i], IPI_VECTOR - 0x10u);  /* wake the HLT; no handler: counted, EOIed */

  const uint64_t elapsed = now - start;
  const uint64_t got = acks;
  METRIC("ipis_sent", sent);
  METRIC("ipis_received", got);
  METRIC("round_trips", got);
  METRIC("round_trips_per_second", guest_muldiv64(got, tsc_hz, elapsed ? elapsed : 1));
  METRIC("path", path);
  METRIC("elapsed_us", guest_muldiv64(elapsed, 1000000, tsc_hz));
  CHECK_TRUE("ipi.no_lost_ack", !timed_out);
  CHECK_GE("ipi.round_trips", 1, got);

  t0 = rdtsc();
  for (uint32_t i = 1; i < n; ++i) {
    while (!finished[i] && rdtsc() - t0 < second) cpu_relax();
    char name[96];
    guest_snprintf(name, sizeof name, "ipi.vcpu%u.finished", i);
    CHECK_EQ(name, 1, finished[i]);
  }
  return (int)guest_checks_failed();
}
