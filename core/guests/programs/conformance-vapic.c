/*
 * conformance-vapic: the synthetic APIC MSRs and the VP assist page's
 * paravirtual EOI (TLFS "Virtual Interrupt Control": "Local APIC MSR
 * Accesses", "EOI Assist"; TLFS "Virtual Processor Assist Page"), when
 * 0x40000003.EAX advertises AccessIntrCtrlRegs.
 *
 * APIC MSRs: HV_X64_MSR_TPR is the APIC's TPR (a write shows in the x2APIC
 *   TPR and back), and a TPR at a vector's priority class holds that vector
 *   pending until it is lowered; a self IPI written to HV_X64_MSR_ICR (x2APIC
 *   destination layout, the guest's APIC mode) becomes pending in the IRR and
 *   is delivered; the ICR reads back what was written; an EOI written to
 *   HV_X64_MSR_EOI clears the in-service bit; EOI is write-only (#GP on read).
 * VP assist page: reads 0 at reset, enables at a guest page and reads back,
 *   the APIC-assist dword is 0 after enabling. Then, as Linux's
 *   hv_apic_eoi_write: the handler exchanges the dword with 0 and, when bit 0
 *   ("No EOI required") was set, skips its EOI.
 *   - N self IPIs one at a time, each with nothing else pending or in
 *     service: every one arrives with the bit set and is retired without an
 *     EOI write; the next IPI of the same vector is still delivered, so the
 *     hypervisor retired the vector itself.
 *   - after a PV-retired high vector, a lower-class vector is delivered (it
 *     would stay blocked behind a vector left in service).
 *   - two vectors pending at once: the higher arrives without the bit (an
 *     EOI is required: another vector is pending) and is EOIed through the
 *     MSR; the lower then arrives with it.
 *   - a conventional EOI while the bit is set still works.
 *   - with the page disabled the bit is never set again.
 *   - with 2+ vCPUs, vCPU 0 sends IPIs through HV_X64_MSR_ICR to each other
 *     vCPU's x2APIC ID; each receiver retires them by PV EOI on its own page.
 *   A hypervisor may never grant the bit (conventional EOIs always work;
 *   KVM with APICv never does): when the first interrupt arrives without
 *   it, the guest says so, checks that MSR EOIs still retire, and skips the
 *   PV checks (METRIC pv_eoi_offered = 0; the emu host test requires 1).
 * The host test reads the run's enlight_apic_pv_eois_total and the vapic
 * plugin's enlight_vapic_eoi_msr_total: the METRICs pv_eois / msr_eois here
 * must match them, so the skipped EOIs are shown not to have exited.
 */
#include <enlight_guest/guest.h>

/* Vectors: classes 5 and 9 (priority class = vector >> 4). */
#define VEC_LOW 0x50u
#define VEC_HIGH 0x90u
/* Priority class = vector >> 4: a TPR with VEC_LOW's class bits holds it. */
#define APIC_PRIORITY_CLASS_MASK 0xF0u
#define TPR_BLOCKS_LOW (VEC_LOW & APIC_PRIORITY_CLASS_MASK)
/* IRR and ISR are eight 32-bit registers, one bit per vector (SDM). */
#define APIC_VECTORS_PER_REG 32u
#define PV_ROUNDS 100u
#define AP_ROUNDS 50u
/* Spin bounds (no clock is assumed): a wait for an interrupt that should
 * come, and a window in which one that must not come is given a chance. */
#define SPIN_LIMIT 200000000ull
#define QUIET_SPINS 1000000u

static hv_info hv;
static uint8_t assist_page[GUEST_MAX_VCPUS][4096] __attribute__((aligned(4096)));

/* Per-vCPU, one writer each (the vCPU's handlers; locked RMW is not atomic
 * between emu vCPUs). */
typedef struct vcpu_state {
  volatile uint32_t pv_mode;          /* handler honours the assist bit */
  volatile uint32_t ignore_bit;       /* handler EOIs through the MSR even when allowed not to */
  volatile uint64_t irqs[256];
  volatile uint64_t granted[256];     /* arrived with "No EOI required" */
  volatile uint64_t pv_eois;          /* EOIs skipped */
  volatile uint64_t msr_eois;         /* EOIs written to HV_X64_MSR_EOI */
  volatile uint32_t apic_id;
  volatile uint32_t ready, done;
} vcpu_state;
static vcpu_state state[GUEST_MAX_VCPUS];
static volatile uint32_t go; /* hv is filled in: the other vCPUs may look at it */
static volatile uint32_t stop_aps;
static volatile bool pv_offered; /* the first PV probe on vCPU 0 saw the bit */

static volatile uint32_t* assist_word(uint32_t vcpu) {
  return (volatile uint32_t*)(assist_page[vcpu] + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET);
}

/* Linux's hv_apic_eoi_write: take the assist word (xchg with 0); with the
 * bit set the EOI is skipped, the hypervisor retires the vector itself. */
static void on_vector(guest_frame* frame) {
  const uint32_t self = guest_vcpu_index();
  vcpu_state* s = &state[self];
  const uint8_t vector = (uint8_t)frame->vector;
  s->irqs[vector]++;
  if (s->pv_mode) {
    const uint32_t old = __atomic_exchange_n(assist_word(self), 0u, __ATOMIC_SEQ_CST);
    if (old & HV_APIC_ASSIST_NO_EOI_REQUIRED) {
      s->granted[vector]++;
      if (!s->ignore_bit) {
        s->pv_eois++;
        return;
      }
    }
  }
  wrmsr(HV_X64_MSR_EOI, 0);
  s->msr_eois++;
}

static uint64_t icr_fixed(uint32_t dest_apic_id, uint8_t vector) {
  return ((uint64_t)dest_apic_id << HV_X64_MSR_ICR_HIGH_SHIFT) | APIC_ICR_LEVEL_ASSERT | APIC_ICR_DELIVERY_FIXED |
         vector;
}

static bool vector_bit(uint32_t first_msr, uint8_t vector) {
  return (rdmsr(first_msr + vector / APIC_VECTORS_PER_REG) >> (vector % APIC_VECTORS_PER_REG)) & 1u;
}

/* Spins with interrupts on until *counter reaches `target`; true if it did. */
static bool wait_count(volatile uint64_t* counter, uint64_t target) {
  irq_enable();
  for (uint64_t spin = 0; *counter < target && spin < SPIN_LIMIT; ++spin) cpu_relax();
  return *counter >= target;
}

static void quiet_window(void) {
  irq_enable();
  for (uint32_t spin = 0; spin < QUIET_SPINS; ++spin) cpu_relax();
}

static void self_ipi(uint8_t vector) { wrmsr(HV_X64_MSR_ICR, icr_fixed(state[0].apic_id, vector)); }

static void check_apic_msrs(void) {
  vcpu_state* s = &state[0];
  uint64_t v = 0;
  /* TPR: one register, two names. */
  CHECK_EQ("tpr.write.no_fault", 0, wrmsr_safe(HV_X64_MSR_TPR, TPR_BLOCKS_LOW));
  CHECK_EQ("tpr.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_TPR, &v));
  CHECK_EQ("tpr.read_back", TPR_BLOCKS_LOW, v);
  CHECK_EQ("tpr.is_the_apic_tpr", TPR_BLOCKS_LOW, apic_get_tpr());
  apic_set_tpr(0);
  CHECK_EQ("tpr.apic_write_visible", 0, rdmsr(HV_X64_MSR_TPR));

  /* Self IPI through HV_X64_MSR_ICR, EOI through HV_X64_MSR_EOI. */
  irq_disable();
  const uint64_t icr = icr_fixed(s->apic_id, VEC_LOW);
  CHECK_EQ("icr.self_ipi.write.no_fault", 0, wrmsr_safe(HV_X64_MSR_ICR, icr));
  CHECK_TRUE("icr.self_ipi.pending_in_irr", vector_bit(X2APIC_MSR_IRR0, VEC_LOW));
  CHECK_EQ("icr.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_ICR, &v));
  CHECK_EQ("icr.read_back", icr, v);
  CHECK_TRUE("icr.self_ipi.delivered", wait_count(&s->irqs[VEC_LOW], 1));
  CHECK_EQ("eoi.msr_eoi_written", 1, s->msr_eois);
  CHECK_TRUE("eoi.in_service_cleared", !vector_bit(X2APIC_MSR_ISR0, VEC_LOW));
  CHECK_EQ("eoi.read.gp", 1, rdmsr_safe(HV_X64_MSR_EOI, &v));

  /* A TPR at the vector's class holds it; lowering the TPR releases it. */
  CHECK_EQ("tpr.block.write.no_fault", 0, wrmsr_safe(HV_X64_MSR_TPR, TPR_BLOCKS_LOW));
  self_ipi(VEC_LOW);
  quiet_window();
  CHECK_EQ("tpr.blocks_same_class", 1, s->irqs[VEC_LOW]);
  CHECK_TRUE("tpr.blocked_vector_pending", vector_bit(X2APIC_MSR_IRR0, VEC_LOW));
  wrmsr(HV_X64_MSR_TPR, 0);
  CHECK_TRUE("tpr.lowered_releases", wait_count(&s->irqs[VEC_LOW], 2));
}

static bool enable_assist(uint32_t self, bool report) {
  char name[96];
  uint64_t v = ~UINT64_C(0);
  rdmsr_safe(HV_X64_MSR_VP_ASSIST_PAGE, &v);
  if (report) CHECK_EQ("vp_assist.disabled_at_reset", 0, v & HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  /* A stale bit planted by the guest must be cleared by the enable. */
  *assist_word(self) = HV_APIC_ASSIST_NO_EOI_REQUIRED;
  const uint64_t value = (v & HV_X64_MSR_VP_ASSIST_PAGE_RSVDP_MASK) | (uint64_t)(uintptr_t)assist_page[self] |
                         HV_X64_MSR_VP_ASSIST_PAGE_ENABLE;
  guest_snprintf(name, sizeof name, "vp_assist.vcpu%u.enable.no_fault", self);
  if (!CHECK_EQ(name, 0, wrmsr_safe(HV_X64_MSR_VP_ASSIST_PAGE, value))) return false;
  if (report) {
    CHECK_EQ("vp_assist.read_back", value, rdmsr(HV_X64_MSR_VP_ASSIST_PAGE));
    CHECK_EQ("vp_assist.apic_assist_cleared_on_enable", 0, *assist_word(self));
  }
  state[self].pv_mode = 1;
  return true;
}

static void check_pv_eoi(void) {
  vcpu_state* s = &state[0];
  if (!enable_assist(0, true)) return;

  /* Whether this hypervisor grants PV EOI at all: it may not (TLFS:
   * conventional EOIs always work; KVM with APICv never sets the bit). The
   * first interrupt with nothing else pending or in service tells. */
  const uint64_t probe = s->irqs[VEC_LOW], probe_granted = s->granted[VEC_LOW];
  irq_enable();
  self_ipi(VEC_LOW);
  CHECK_TRUE("pv_eoi.probe.delivered", wait_count(&s->irqs[VEC_LOW], probe + 1));
  pv_offered = s->granted[VEC_LOW] != probe_granted;
  METRIC("pv_eoi_offered", pv_offered);
  if (!pv_offered) {
    guest_printf("conformance-vapic: the hypervisor never set \"No EOI required\"; PV EOI checks skipped\n");
    self_ipi(VEC_LOW);
    CHECK_TRUE("pv_eoi.not_offered.msr_eoi_retires", wait_count(&s->irqs[VEC_LOW], probe + 2));
    return;
  }

  /* One at a time: nothing else pending or in service, so each may arrive
   * with the bit set; each later one arriving proves the previous was
   * retired, without an EOI write when the bit was set. When to grant is
   * the hypervisor's choice (TLFS); that it never grants with another
   * vector pending, and that every ungranted one needs its MSR EOI, are
   * not. enlight's vapic grants every eligible one (the emu host test
   * holds it to the METRICs below); KVM's (offload) may decline some. */
  const uint64_t base = s->irqs[VEC_LOW], granted0 = s->granted[VEC_LOW], msr0 = s->msr_eois;
  irq_enable();
  uint32_t sent = 0;
  for (; sent < PV_ROUNDS; ++sent) {
    self_ipi(VEC_LOW);
    if (!wait_count(&s->irqs[VEC_LOW], base + sent + 1)) break;
  }
  CHECK_EQ("pv_eoi.same_vector.all_delivered", PV_ROUNDS, s->irqs[VEC_LOW] - base);
  const uint64_t same_granted = s->granted[VEC_LOW] - granted0;
  METRIC("pv_eoi_same_vector_granted", same_granted);
  CHECK_GE("pv_eoi.same_vector.granted", 1, same_granted);
  CHECK_EQ("pv_eoi.same_vector.msr_eoi_only_when_not_granted", PV_ROUNDS - same_granted, s->msr_eois - msr0);

  /* A PV-retired high vector does not block a lower class. */
  const uint64_t high = s->irqs[VEC_HIGH], low = s->irqs[VEC_LOW];
  const uint64_t msr_a = s->msr_eois, grants_a = s->granted[VEC_HIGH] + s->granted[VEC_LOW];
  self_ipi(VEC_HIGH);
  CHECK_TRUE("pv_eoi.high.delivered", wait_count(&s->irqs[VEC_HIGH], high + 1));
  self_ipi(VEC_LOW);
  CHECK_TRUE("pv_eoi.lower_class_after_pv_eoi.delivered", wait_count(&s->irqs[VEC_LOW], low + 1));
  const uint64_t grants_b = s->granted[VEC_HIGH] + s->granted[VEC_LOW];
  METRIC("pv_eoi_high_then_low_granted", grants_b - grants_a);
  CHECK_EQ("pv_eoi.lower_class_after_pv_eoi.msr_eoi_only_when_not_granted", 2 - (grants_b - grants_a),
           s->msr_eois - msr_a);

  /* Two pending: the first taken may not skip its EOI. */
  const uint64_t gh = s->granted[VEC_HIGH], gl = s->granted[VEC_LOW], msr_c = s->msr_eois;
  irq_disable();
  self_ipi(VEC_LOW);
  self_ipi(VEC_HIGH);
  CHECK_TRUE("pv_eoi.two_pending.high_delivered", wait_count(&s->irqs[VEC_HIGH], high + 2));
  CHECK_TRUE("pv_eoi.two_pending.low_delivered", wait_count(&s->irqs[VEC_LOW], low + 2));
  CHECK_EQ("pv_eoi.two_pending.high_not_granted", gh, s->granted[VEC_HIGH]);
  METRIC("pv_eoi_two_pending_low_granted", s->granted[VEC_LOW] - gl);
  CHECK_EQ("pv_eoi.two_pending.msr_eoi_for_high_and_any_ungranted_low", 2 - (s->granted[VEC_LOW] - gl),
           s->msr_eois - msr_c);

  /* A conventional EOI with the bit set still retires the vector. */
  s->ignore_bit = 1;
  const uint64_t msr1 = s->msr_eois;
  self_ipi(VEC_LOW);
  CHECK_TRUE("pv_eoi.conventional_eoi.delivered", wait_count(&s->irqs[VEC_LOW], low + 3));
  CHECK_EQ("pv_eoi.conventional_eoi.msr_written", msr1 + 1, s->msr_eois);
  s->ignore_bit = 0;
  self_ipi(VEC_LOW);
  CHECK_TRUE("pv_eoi.after_conventional_eoi.delivered", wait_count(&s->irqs[VEC_LOW], low + 4));
}

static void check_disable(void) {
  vcpu_state* s = &state[0];
  uint64_t v = rdmsr(HV_X64_MSR_VP_ASSIST_PAGE);
  CHECK_EQ("vp_assist.disable.no_fault", 0, wrmsr_safe(HV_X64_MSR_VP_ASSIST_PAGE, v & ~HV_X64_MSR_VP_ASSIST_PAGE_ENABLE));
  const uint64_t low = s->irqs[VEC_LOW], granted = s->granted[VEC_LOW], msr = s->msr_eois;
  self_ipi(VEC_LOW);
  CHECK_TRUE("vp_assist.disabled.delivered", wait_count(&s->irqs[VEC_LOW], low + 1));
  CHECK_EQ("vp_assist.disabled.bit_not_set", granted, s->granted[VEC_LOW]);
  CHECK_EQ("vp_assist.disabled.eoi_through_msr", msr + 1, s->msr_eois);
  self_ipi(VEC_LOW);
  CHECK_TRUE("vp_assist.disabled.next_delivered", wait_count(&s->irqs[VEC_LOW], low + 2));
  s->pv_mode = 0;
}

/* vCPU 0 sends to each other vCPU through HV_X64_MSR_ICR, one IPI at a
 * time; the receivers retire them by PV EOI. */
static void check_cross_vcpu(void) {
  char name[96];
  for (uint32_t i = 1; i < guest_vcpu_count(); ++i) {
    for (uint64_t spin = 0; !state[i].ready && spin < SPIN_LIMIT; ++spin) cpu_relax();
    guest_snprintf(name, sizeof name, "vcpu%u.ready", i);
    if (!CHECK_EQ(name, 1, state[i].ready)) continue;
    const uint64_t base = state[i].irqs[VEC_LOW];
    uint32_t sent = 0;
    for (; sent < AP_ROUNDS; ++sent) {
      wrmsr(HV_X64_MSR_ICR, icr_fixed(state[i].apic_id, VEC_LOW));
      if (!wait_count(&state[i].irqs[VEC_LOW], base + sent + 1)) break;
    }
    guest_snprintf(name, sizeof name, "icr.to_vcpu%u.all_delivered", i);
    CHECK_EQ(name, AP_ROUNDS, state[i].irqs[VEC_LOW] - base);
  }
  stop_aps = 1;
  for (uint32_t i = 1; i < guest_vcpu_count(); ++i) {
    /* The receivers halt with interrupts on: wake each for its report. */
    apic_send_ipi(state[i].apic_id, VEC_HIGH);
    for (uint64_t spin = 0; !state[i].done && spin < SPIN_LIMIT; ++spin) cpu_relax();
    guest_snprintf(name, sizeof name, "vcpu%u.finished", i);
    CHECK_EQ(name, 1, state[i].done);
  }
}

void guest_ap_main(uint32_t index) {
  char name[96];
  vcpu_state* s = &state[index];
  while (!go) cpu_relax();
  if (!apic_init() || !(hv.privileges_low & HV_ACCESS_INTR_CTRL_REGS) || !enable_assist(index, false)) return;
  s->apic_id = apic_id();
  s->ready = 1;
  while (!stop_aps) cpu_safe_halt();
  irq_disable();
  guest_snprintf(name, sizeof name, "pv_eoi.vcpu%u.ipis_received", index);
  CHECK_GE(name, AP_ROUNDS, s->irqs[VEC_LOW]);
  /* The TLFS lets the hypervisor decide when it sets NoEoiRequired; KVM
   * (offload) declines when another vector is pending at entry, enlight's
   * vapic grants whenever the vector is alone in service. So the guest
   * checks that PV EOI worked here at all, and reports how often it was
   * granted (the emu host test holds enlight to "every time"). */
  if (pv_offered) {
    guest_snprintf(name, sizeof name, "pv_eoi.vcpu%u.bit_set", index);
    CHECK_GE(name, 1, s->granted[VEC_LOW]);
  }
  METRIC("ap_ipis", s->irqs[VEC_LOW]);
  METRIC("ap_pv_eoi_granted", s->granted[VEC_LOW]);
  METRIC("pv_eois", s->pv_eois);
  METRIC("msr_eois", s->msr_eois);
  s->done = 1;
}

int main(void) {
  vcpu_state* s = &state[0];
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  guest_printf("conformance-vapic: %u vCPU(s), privileges 0x%x, recommendations 0x%x\n", guest_vcpu_count(),
               hv.privileges_low, hv.recommendations);
  if (!CHECK_TRUE("x2apic", apic_init())) return (int)guest_checks_failed();
  s->apic_id = apic_id();
  if (!(hv.privileges_low & HV_ACCESS_INTR_CTRL_REGS)) {
    guest_printf("conformance-vapic: AccessIntrCtrlRegs not advertised; nothing to check\n");
    return 0;
  }
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  guest_set_irq_handler(VEC_LOW, on_vector);
  guest_set_irq_handler(VEC_HIGH, on_vector);
  go = 1;

  check_apic_msrs();
  check_pv_eoi();
  check_disable();
  if (guest_vcpu_count() >= 2) check_cross_vcpu();
  irq_disable();
  METRIC("pv_eois", s->pv_eois);
  METRIC("msr_eois", s->msr_eois);
  return (int)guest_checks_failed();
}
