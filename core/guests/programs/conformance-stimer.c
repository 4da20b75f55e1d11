/*
 * conformance-stimer: the SynIC and the synthetic timers (TLFS "Inter-
 * Partition Communication", "Timers"), used the way Windows and Linux use
 * them, each group only when 0x40000003 advertises it.
 *
 * SynIC (AccessSynicRegs): SVERSION reads 1 and is read-only; every SINT
 *   starts masked; an unmasked SINT with a vector below 16 is #GP; SIMP and
 *   SIEFP enable at guest pages and read back; EOM reads 0.
 * Synthetic timers (AccessSyntheticTimerRegs, with the SynIC):
 *   - register rules: an enabled message-mode timer with SINTx 0 is marked
 *     disabled; AutoEnable turns a COUNT write into Enable; COUNT 0 stops.
 *   - STIMER0 periodic, 1 ms (COUNT = 10 000 in 100 ns units), message mode,
 *     on every vCPU at once, over one second of reference time: each of the
 *     1000 points of the timer's 1 ms grid in that second is either an
 *     HVMSG_TIMER_EXPIRED message or skipped, and a point is skipped only
 *     when the signal before it was delivered after it had passed (the TLFS
 *     lets a late timer skip expirations; the grid keeps its phase). So the
 *     timer runs at exactly 1 kHz of reference time whatever the host's
 *     load; at most 1020 messages arrive, and the message count is reported
 *     (METRIC stimer0_messages_per_second) for the host test's 98 % bound,
 *     which depends on the host running the vCPU in time. Every message has
 *     TimerIndex 0, PayloadSize 24, DeliveryTime >= ExpirationTime. The
 *     handler empties the slot and writes EOM only when MessagePending is
 *     set (TLFS "Recommended Message Handling").
 *   - busy slot (STIMER2 one-shot): a message left in the slot makes the
 *     next expiry set MessagePending instead of overwriting it; emptying the
 *     slot and writing EOM brings the second message, with its own
 *     ExpirationTime and a DeliveryTime after the EOM.
 *   - direct mode (0x40000003.EDX[19]): STIMER1 one-shot with an APIC vector
 *     runs that vector's handler, writes no message, and clears Enable.
 *     Without EDX[19], DirectMode is #GP (enlight's choice: the TLFS makes
 *     the mode depend on the bit, KVM refuses it only under enforce-cpuid).
 * Messages and events (PostMessages / SignalEvents): the synic plugin's
 *   echo connection (option echo-connection-id = ECHO_CONNECTION_ID,
 *   echo-sint = ECHO_SINT, set by the host test) sends a posted message
 *   back to this vCPU's slot ECHO_SINT and turns a signalled event into a
 *   flag in its SIEF slot. Checked: the message arrives intact with the
 *   SINT's interrupt; while the slot is full a second post is queued
 *   (MessagePending) and a third finds no buffer; a flag is set and
 *   interrupts only when it was clear; and the TLFS error answers (type 0,
 *   hypervisor type, payload over 240: INVALID_PARAMETER; unknown
 *   connection: INVALID_CONNECTION_ID; reserved bits:
 *   INVALID_HYPERCALL_INPUT; flag beyond the port: INVALID_PARAMETER). An
 *   unknown-connection answer to the first post means the host configured
 *   no echo connection: the guest says so and skips the loopback checks.
 *
 * Times come from the reference TSC page when advertised (no exit), else
 * from HV_X64_MSR_TIME_REF_COUNT.
 */
#include <enlight_guest/guest.h>

/* SINTs and vectors. The timer SINT is Linux's choice for stimer0
 * (VMBUS_MESSAGE_SINT); the echo SINT is the synic plugin's default
 * echo-sint, which the host test sets explicitly. */
#define TIMER_SINT VMBUS_MESSAGE_SINT
#define TIMER_SINT_VECTOR 0x60u
#define ECHO_SINT 3u
#define ECHO_SINT_VECTOR 0x61u
#define DIRECT_VECTOR 0x70u
/* The echo connection id the host test configures (24 bits; any value
 * not used by VMBus). */
#define ECHO_CONNECTION_ID 0x00E40Cu
/* A guest-chosen message type: non-zero, bit 31 clear (TLFS). */
#define ECHO_MESSAGE_TYPE 0x00000E40u
#define ECHO_FLAG 77u

/* A timer message's payload fields as qword indexes of hv_message.payload. */
#define TIMER_INDEX_QWORD (HV_TIMER_MESSAGE_TIMER_INDEX_OFFSET / sizeof(uint64_t))
#define EXPIRATION_QWORD (HV_TIMER_MESSAGE_EXPIRATION_TIME_OFFSET / sizeof(uint64_t))
#define DELIVERY_QWORD (HV_TIMER_MESSAGE_DELIVERY_TIME_OFFSET / sizeof(uint64_t))
/* Event flag k is bit k % 8 of byte k / 8 of the SINT's SIEF block (TLFS
 * HV_SYNIC_EVENT_FLAGS). */
#define FLAG_BITS_PER_BYTE 8u

#define ONE_MS_100NS (HV_REFERENCE_TIME_UNITS_PER_SECOND / 1000u)
#define PERIOD_100NS ONE_MS_100NS
#define MEASURE_100NS HV_REFERENCE_TIME_UNITS_PER_SECOND
#define EXPECTED_TICKS (MEASURE_100NS / PERIOD_100NS)
#define TICK_TOLERANCE (EXPECTED_TICKS / 50u) /* 2 % */
/* After the measured second, stragglers may still arrive: wait this long. */
#define GRACE_100NS (20u * ONE_MS_100NS)
/* Longest wait for a single event (timer, interrupt) before a FAIL. */
#define WAIT_100NS (200u * ONE_MS_100NS)
#define SPIN_LIMIT 2000000000ull

static hv_info hv;
static uint8_t tsc_page[4096] __attribute__((aligned(4096)));
static bool tsc_page_on;
static uint8_t simp[GUEST_MAX_VCPUS][4096] __attribute__((aligned(4096)));
static uint8_t siefp[GUEST_MAX_VCPUS][4096] __attribute__((aligned(4096)));
static uint8_t post_input[4096] __attribute__((aligned(4096)));

/* Per-vCPU state, one writer each (the vCPU and its own handlers): a
 * locked read-modify-write is not atomic between emu vCPUs. */
typedef struct vcpu_state {
  volatile uint32_t hold;          /* busy-slot tests: leave messages in the slot */
  volatile uint64_t timer_irqs;    /* TIMER_SINT_VECTOR interrupts */
  volatile uint64_t echo_irqs;     /* ECHO_SINT_VECTOR interrupts */
  volatile uint64_t direct_irqs;   /* DIRECT_VECTOR interrupts */
  volatile uint64_t eoms;          /* EOM writes the handler made */
  /* Periodic measurement of STIMER0 */
  volatile uint32_t measuring;
  volatile uint64_t window_start, window_end;
  volatile uint64_t counted;       /* messages with ExpirationTime in the window */
  volatile uint64_t skipped;       /* grid points in the window signalled by no message */
  volatile uint64_t prev_expiration, prev_delivery, last_expiration_seen;
  volatile uint32_t off_grid, early, malformed, unjustified_skips;
  volatile uint64_t max_lateness;  /* DeliveryTime - ExpirationTime, 100 ns */
  volatile uint32_t late_by_period; /* delivered a period or more late */
  /* The last timer message the handler consumed (any timer). */
  volatile uint32_t last_index;
  volatile uint64_t last_expiration, last_delivery;
  volatile uint64_t timer_messages;
} vcpu_state;
static vcpu_state state[GUEST_MAX_VCPUS];

static volatile uint32_t go;
static volatile uint32_t ap_done[GUEST_MAX_VCPUS];

static bool has_priv(uint32_t bit) { return (hv.privileges_low & bit) != 0; }
static bool has_priv_high(uint32_t bit) { return (hv.privileges_high & bit) != 0; }

static uint64_t now(void) {
  uint64_t t;
  if (tsc_page_on && hv_ref_tsc_page_read((const hv_ref_tsc_page*)tsc_page, &t)) return t;
  return rdmsr(HV_X64_MSR_TIME_REF_COUNT);
}

static volatile hv_message* slot(uint32_t vcpu, uint32_t sint) { return hv_message_slot(simp[vcpu], sint); }

/* Spins with interrupts enabled until *counter differs from `from` or
 * `timeout` (100 ns) passes; true if it changed. No HLT: when nothing is
 * coming (the checks that expect no interrupt) nothing would wake it. */
static bool wait_change(volatile uint64_t* counter, uint64_t from, uint64_t timeout) {
  irq_enable();
  const uint64_t start = now();
  while (*counter == from && now() - start < timeout) cpu_relax();
  return *counter != from;
}

/* Idles with interrupts on until reference time `until`. The periodic
 * timer wakes the HLT every millisecond. */
static void idle_until(uint64_t until) {
  for (;;) {
    irq_disable();
    if (now() >= until) break;
    cpu_safe_halt();
  }
  irq_enable();
}

/* ------------------------------------------------------------------------ */
/* Interrupt handlers                                                       */

static void on_timer_sint(guest_frame* frame) {
  (void)frame;
  const uint32_t self = guest_vcpu_index();
  vcpu_state* s = &state[self];
  s->timer_irqs++;
  volatile hv_message* m = slot(self, TIMER_SINT);
  if (!s->hold && m->type != HvMessageTypeNone) {
    if (m->type == HvMessageTimerExpired && m->payload_size == HV_TIMER_MESSAGE_PAYLOAD_SIZE) {
      const uint32_t index = (uint32_t)m->payload[TIMER_INDEX_QWORD];
      const uint64_t expiration = m->payload[EXPIRATION_QWORD];
      const uint64_t delivery = m->payload[DELIVERY_QWORD];
      s->last_index = index;
      s->last_expiration = expiration;
      s->last_delivery = delivery;
      s->timer_messages++;
      if (s->measuring && index == 0) {
        if (s->prev_expiration != 0) {
          /* Consecutive expirations are a whole number of periods apart
           * (the grid keeps its phase). More than one period: the points
           * between were skipped, which the TLFS allows only because the
           * previous signal came late, after those points had passed. */
          const uint64_t gap = expiration - s->prev_expiration;
          /* (A gap beyond the whole measurement is nonsense: not walked.) */
          if (expiration <= s->prev_expiration || gap % PERIOD_100NS != 0 || gap > MEASURE_100NS + WAIT_100NS) {
            s->off_grid++;
          } else {
            for (uint64_t point = s->prev_expiration + PERIOD_100NS; point < expiration; point += PERIOD_100NS) {
              if (s->prev_delivery < point) s->unjustified_skips++;
              if (point >= s->window_start && point < s->window_end) s->skipped++;
            }
          }
        }
        s->prev_expiration = expiration;
        s->prev_delivery = delivery;
        s->last_expiration_seen = expiration;
        if (delivery < expiration) s->early++;
        else if (delivery - expiration > s->max_lateness) s->max_lateness = delivery - expiration;
        if (delivery >= expiration + PERIOD_100NS) s->late_by_period++;
        if (expiration >= s->window_start && expiration < s->window_end) s->counted++;
      }
    } else {
      s->malformed++;
    }
    if (hv_message_ack(m)) s->eoms++;
  }
  apic_eoi();
}

static void on_echo_sint(guest_frame* frame) {
  (void)frame;
  state[guest_vcpu_index()].echo_irqs++;
  apic_eoi();
}

static void on_direct(guest_frame* frame) {
  (void)frame;
  state[guest_vcpu_index()].direct_irqs++;
  apic_eoi();
}

/* ------------------------------------------------------------------------ */
/* SynIC                                                                    */

/* Enables this vCPU's SynIC and unmasks the timer and echo SINTs; the
 * register checks run on vCPU 0 only (`report`). */
static bool synic_setup(uint32_t self, bool report) {
  char name[96];
  uint64_t v = 0;
  if (report) {
    CHECK_EQ("synic.sversion.read.no_fault", 0, rdmsr_safe(HV_X64_MSR_SVERSION, &v));
    CHECK_EQ("synic.sversion.is_1", HV_SYNIC_VERSION_1, v);
    CHECK_EQ("synic.sversion.write.gp", 1, wrmsr_safe(HV_X64_MSR_SVERSION, v));
    uint32_t not_masked = 0;
    for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
      rdmsr_safe(HV_X64_MSR_SINT0 + i, &v);
      if (!(v & HV_SYNIC_SINT_MASKED)) ++not_masked;
    }
    CHECK_EQ("synic.sints_masked_at_reset", 0, not_masked);
    /* TLFS: vectors 0-15 are not valid for an unmasked SINT. */
    CHECK_EQ("synic.sint.low_vector_unmasked.gp", 1,
             wrmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, hv_sint_value(HV_SYNIC_FIRST_VALID_VECTOR - 1)));
    CHECK_EQ("synic.eom.reads_zero", 0, rdmsr(HV_X64_MSR_EOM));
  }
  guest_snprintf(name, sizeof name, "synic.vcpu%u.enable.no_fault", self);
  if (!CHECK_TRUE(name, hv_synic_enable(simp[self], siefp[self]))) return false;
  if (report) {
    rdmsr_safe(HV_X64_MSR_SIMP, &v);
    CHECK_EQ("synic.simp.read_back", (uint64_t)(uintptr_t)simp[self] | HV_SYNIC_SIMP_ENABLE,
             v & ~HV_SYNIC_PAGE_RSVDP_MASK);
    rdmsr_safe(HV_X64_MSR_SIEFP, &v);
    CHECK_EQ("synic.siefp.read_back", (uint64_t)(uintptr_t)siefp[self] | HV_SYNIC_SIEFP_ENABLE,
             v & ~HV_SYNIC_PAGE_RSVDP_MASK);
    rdmsr_safe(HV_X64_MSR_SCONTROL, &v);
    CHECK_EQ("synic.scontrol.enabled", HV_SYNIC_SCONTROL_ENABLE, v & HV_SYNIC_SCONTROL_ENABLE);
  }
  /* RsvdP bits of the SINTs go back as read. */
  rdmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, &v);
  guest_snprintf(name, sizeof name, "synic.vcpu%u.timer_sint.unmask.no_fault", self);
  CHECK_EQ(name, 0,
           wrmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, (v & HV_SYNIC_SINT_RSVDP_MASK) | hv_sint_value(TIMER_SINT_VECTOR)));
  rdmsr_safe(HV_X64_MSR_SINT0 + ECHO_SINT, &v);
  wrmsr_safe(HV_X64_MSR_SINT0 + ECHO_SINT, (v & HV_SYNIC_SINT_RSVDP_MASK) | hv_sint_value(ECHO_SINT_VECTOR));
  if (report) {
    rdmsr_safe(HV_X64_MSR_SINT0 + TIMER_SINT, &v);
    CHECK_EQ("synic.timer_sint.read_back", hv_sint_value(TIMER_SINT_VECTOR), v & ~HV_SYNIC_SINT_RSVDP_MASK);
  }
  return true;
}

/* ------------------------------------------------------------------------ */
/* Synthetic timers                                                         */

static uint64_t msg_config(uint32_t sint) { return (uint64_t)sint << HV_STIMER_CONFIG_SINTX_SHIFT; }

static void check_timer_rules(void) {
  uint64_t v = 0;
  /* TLFS: an enabled message-mode timer with SINTx 0 is marked disabled. */
  wrmsr_safe(HV_X64_MSR_STIMER3_COUNT, PERIOD_100NS);
  CHECK_EQ("stimer.config.write.no_fault", 0,
           wrmsr_safe(HV_X64_MSR_STIMER3_CONFIG, HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC));
  rdmsr_safe(HV_X64_MSR_STIMER3_CONFIG, &v);
  CHECK_EQ("stimer.sintx0_marks_disabled", 0, v & HV_STIMER_CONFIG_ENABLE);
  /* AutoEnable: a non-zero COUNT sets Enable; COUNT 0 clears it. The
   * expiry is far away: nothing fires. */
  wrmsr_safe(HV_X64_MSR_STIMER3_CONFIG, HV_STIMER_CONFIG_AUTO_ENABLE | msg_config(TIMER_SINT));
  wrmsr_safe(HV_X64_MSR_STIMER3_COUNT, now() + MEASURE_100NS * 60);
  rdmsr_safe(HV_X64_MSR_STIMER3_CONFIG, &v);
  CHECK_EQ("stimer.auto_enable_sets_enable", HV_STIMER_CONFIG_ENABLE, v & HV_STIMER_CONFIG_ENABLE);
  rdmsr_safe(HV_X64_MSR_STIMER3_COUNT, &v);
  CHECK_NE("stimer.count.read_back", 0, v);
  wrmsr_safe(HV_X64_MSR_STIMER3_COUNT, 0);
  rdmsr_safe(HV_X64_MSR_STIMER3_CONFIG, &v);
  CHECK_EQ("stimer.count0_clears_enable", 0, v & HV_STIMER_CONFIG_ENABLE);
  wrmsr_safe(HV_X64_MSR_STIMER3_CONFIG, 0);
}

/* STIMER0 periodic 1 ms in message mode for one measured second, on this
 * vCPU; reports per vCPU. */
static void periodic_second(uint32_t self) {
  char name[96];
  vcpu_state* s = &state[self];
  wrmsr_safe(HV_X64_MSR_STIMER0_COUNT, PERIOD_100NS);
  /* Interrupts off from the enabling write until the window is set: the
   * handler sees every message, none before the window is known. */
  irq_disable();
  s->window_start = s->window_end = 0;
  s->measuring = 1;
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.periodic.enable.no_fault", self);
  CHECK_EQ(name, 0,
           wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG,
                      HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC | msg_config(TIMER_SINT)));
  /* Any half-open window of 1000 periods holds exactly 1000 points of the
   * timer's grid, wherever it starts. */
  const uint64_t t0 = now();
  s->window_start = t0;
  s->window_end = t0 + MEASURE_100NS;
  idle_until(t0 + MEASURE_100NS + GRACE_100NS);
  /* Every point of the window accounted for: wait (bounded) for a message
   * beyond it, so a late last tick is counted or known to be skipped. */
  const uint64_t give_up = t0 + MEASURE_100NS + WAIT_100NS;
  while (s->last_expiration_seen < s->window_end && now() < give_up) idle_until(now() + PERIOD_100NS);
  uint64_t config = 0;
  rdmsr_safe(HV_X64_MSR_STIMER0_CONFIG, &config);
  wrmsr_safe(HV_X64_MSR_STIMER0_CONFIG, 0);
  irq_disable();
  s->measuring = 0;
  irq_enable();

  const uint64_t got = s->counted;
  guest_printf("  vCPU %u: %llu timer messages in 1 s, %llu periods skipped (%llu EOMs); %u delivered a period or "
               "more late, the latest by %llu x 100 ns\n",
               self, (unsigned long long)got, (unsigned long long)s->skipped, (unsigned long long)s->eoms,
               s->late_by_period, (unsigned long long)s->max_lateness);
  METRIC("stimer0_messages_per_second", got);
  METRIC("stimer0_skipped_periods", s->skipped);
  METRIC("stimer0_max_lateness_100ns", s->max_lateness);
  /* The timer's own rate, whatever the host's scheduling: every point of
   * the 1 ms grid in one second of reference time is a message or a
   * justified skip. */
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.every_period_signalled_or_skipped_late", self);
  CHECK_EQ(name, EXPECTED_TICKS, got + s->skipped);
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.skips_only_after_late_signal", self);
  CHECK_EQ(name, 0, s->unjustified_skips);
  /* What the guest receives: never more than 1000 a second (+2 %). How
   * many fewer arrive depends on the host scheduling the vCPU in time (a
   * skip needs a late signal, checked above), so the lower bound, 98 %, is
   * the host test's (metric stimer0_messages_per_second), which can tell a
   * saturated host from a broken timer and try again. */
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.messages_per_second_at_most_102pct", self);
  CHECK_TRUE(name, got <= EXPECTED_TICKS + TICK_TOLERANCE);
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.expirations_on_1ms_grid", self);
  CHECK_EQ(name, 0, s->off_grid);
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.delivery_not_before_expiration", self);
  CHECK_EQ(name, 0, s->early);
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.messages_well_formed", self);
  CHECK_EQ(name, 0, s->malformed);
  guest_snprintf(name, sizeof name, "stimer0.vcpu%u.periodic_stays_enabled", self);
  CHECK_EQ(name, HV_STIMER_CONFIG_ENABLE, config & HV_STIMER_CONFIG_ENABLE);
}

/* A message left in the slot: the next expiry must queue behind it. */
static void check_busy_slot(void) {
  vcpu_state* s = &state[0];
  volatile hv_message* m = slot(0, TIMER_SINT);
  /* Linux's one-shot set-up: Enable | AutoEnable once, then each COUNT
   * write arms the timer. */
  wrmsr_safe(HV_X64_MSR_STIMER2_CONFIG, HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_AUTO_ENABLE | msg_config(TIMER_SINT));
  s->hold = 1;
  uint64_t irqs = s->timer_irqs;
  const uint64_t first = now() + ONE_MS_100NS;
  wrmsr_safe(HV_X64_MSR_STIMER2_COUNT, first);
  CHECK_TRUE("stimer2.oneshot.interrupt", wait_change(&s->timer_irqs, irqs, WAIT_100NS));
  CHECK_EQ("stimer2.oneshot.message_type", HvMessageTimerExpired, m->type);
  CHECK_EQ("stimer2.oneshot.payload_size", HV_TIMER_MESSAGE_PAYLOAD_SIZE, m->payload_size);
  CHECK_EQ("stimer2.oneshot.timer_index", 2, (uint32_t)m->payload[TIMER_INDEX_QWORD]);
  CHECK_EQ("stimer2.oneshot.expiration_is_count", first, m->payload[EXPIRATION_QWORD]);
  CHECK_GE("stimer2.oneshot.delivery_not_before_expiration", first,
           m->payload[DELIVERY_QWORD]);
  CHECK_EQ("stimer2.oneshot.no_pending_flag", 0, m->flags & HV_MESSAGE_FLAG_PENDING);
  uint64_t config = 0;
  rdmsr_safe(HV_X64_MSR_STIMER2_CONFIG, &config);
  CHECK_EQ("stimer2.oneshot.enable_cleared_after_expiry", 0, config & HV_STIMER_CONFIG_ENABLE);

  /* Second expiry while the first message is still there. */
  irqs = s->timer_irqs;
  const uint64_t second = now() + ONE_MS_100NS;
  wrmsr_safe(HV_X64_MSR_STIMER2_COUNT, second);
  const uint64_t give_up = second + WAIT_100NS;
  while (!(m->flags & HV_MESSAGE_FLAG_PENDING) && now() < give_up) cpu_relax();
  CHECK_EQ("stimer2.busy_slot.message_pending_set", HV_MESSAGE_FLAG_PENDING, m->flags & HV_MESSAGE_FLAG_PENDING);
  CHECK_EQ("stimer2.busy_slot.first_message_kept", first, m->payload[EXPIRATION_QWORD]);

  /* Empty the slot and write EOM: the queued message follows. */
  const uint64_t messages = s->timer_messages;
  irq_disable();
  s->hold = 0;
  const uint64_t freed_at = now();
  CHECK_TRUE("stimer2.busy_slot.ack_writes_eom", hv_message_ack(m));
  irq_enable();
  CHECK_TRUE("stimer2.redelivered.after_eom", wait_change(&s->timer_messages, messages, WAIT_100NS));
  CHECK_EQ("stimer2.redelivered.timer_index", 2, s->last_index);
  CHECK_EQ("stimer2.redelivered.expiration_is_second_count", second, s->last_expiration);
  CHECK_GE("stimer2.redelivered.delivery_not_before_expiration", second, s->last_delivery);
  CHECK_GE("stimer2.redelivered.delivery_after_eom", freed_at, s->last_delivery);
  wrmsr_safe(HV_X64_MSR_STIMER2_CONFIG, 0);
}

static void check_direct_mode(void) {
  vcpu_state* s = &state[0];
  const uint64_t direct = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_DIRECT_MODE |
                          ((uint64_t)DIRECT_VECTOR << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT);
  if (!(hv.features & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE)) {
    CHECK_EQ("stimer1.direct_unadvertised.gp", 1, wrmsr_safe(HV_X64_MSR_STIMER1_CONFIG, direct));
    return;
  }
  volatile hv_message* m0 = slot(0, 0);
  const uint32_t slot0_before = m0->type;
  const uint64_t irqs = s->direct_irqs;
  const uint64_t messages = s->timer_messages;
  wrmsr_safe(HV_X64_MSR_STIMER1_COUNT, now() + ONE_MS_100NS);
  CHECK_EQ("stimer1.direct.enable.no_fault", 0, wrmsr_safe(HV_X64_MSR_STIMER1_CONFIG, direct));
  CHECK_TRUE("stimer1.direct.vector_handler_ran", wait_change(&s->direct_irqs, irqs, WAIT_100NS));
  CHECK_EQ("stimer1.direct.exactly_one_interrupt", irqs + 1, s->direct_irqs);
  CHECK_EQ("stimer1.direct.no_timer_message", messages, s->timer_messages);
  CHECK_EQ("stimer1.direct.no_message_in_sint0", slot0_before, m0->type);
  uint64_t config = 0;
  rdmsr_safe(HV_X64_MSR_STIMER1_CONFIG, &config);
  CHECK_EQ("stimer1.direct.oneshot_enable_cleared", 0, config & HV_STIMER_CONFIG_ENABLE);
  wrmsr_safe(HV_X64_MSR_STIMER1_CONFIG, 0);
}

/* ------------------------------------------------------------------------ */
/* HvCallPostMessage / HvCallSignalEvent through the echo connection        */

static uint16_t post(uint32_t connection, uint32_t reserved, uint32_t type, uint32_t size, uint8_t fill) {
  memset(post_input, 0, HV_POST_MESSAGE_INPUT_SIZE);
  memcpy(post_input + HV_POST_MESSAGE_CONNECTION_ID_OFFSET, &connection, sizeof connection);
  memcpy(post_input + HV_POST_MESSAGE_CONNECTION_ID_OFFSET + sizeof connection, &reserved, sizeof reserved);
  memcpy(post_input + HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET, &type, sizeof type);
  memcpy(post_input + HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET, &size, sizeof size);
  for (uint32_t i = 0; i < size && i < HV_MESSAGE_PAYLOAD_BYTE_COUNT; ++i)
    post_input[HV_POST_MESSAGE_PAYLOAD_OFFSET + i] = (uint8_t)(fill + i);
  return hv_result_status(hv_hypercall(hv_control(HvCallPostMessage, 0), (uint64_t)(uintptr_t)post_input, 0));
}

/* The fast form: the 8 input bytes in RDX. */
static uint64_t signal_input(uint64_t connection, uint64_t flag) {
  return (connection << HV_SIGNAL_EVENT_FAST_CONNECTION_ID_SHIFT) | (flag << HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_SHIFT);
}

static uint16_t signal_raw(uint64_t input) {
  return hv_result_status(hv_hypercall_fast(hv_control(HvCallSignalEvent, 0), input, 0));
}

static uint16_t signal(uint64_t connection, uint64_t flag) { return signal_raw(signal_input(connection, flag)); }

static bool payload_matches(volatile hv_message* m, uint32_t size, uint8_t fill) {
  const volatile uint8_t* p = (const volatile uint8_t*)m->payload;
  for (uint32_t i = 0; i < size; ++i)
    if (p[i] != (uint8_t)(fill + i)) return false;
  return true;
}

static void check_post_message(void) {
  vcpu_state* s = &state[0];
  volatile hv_message* m = slot(0, ECHO_SINT);
  /* Validation comes first: these never reach a connection. */
  CHECK_EQ("post_message.type0.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           post(ECHO_CONNECTION_ID, 0, HvMessageTypeNone, 8, 0));
  CHECK_EQ("post_message.hypervisor_type.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           post(ECHO_CONNECTION_ID, 0, HvMessageTimerExpired, 8, 0));
  CHECK_EQ("post_message.payload_241.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           post(ECHO_CONNECTION_ID, 0, ECHO_MESSAGE_TYPE, HV_MESSAGE_PAYLOAD_BYTE_COUNT + 1, 0));
  CHECK_EQ("post_message.reserved_dword.invalid_hypercall_input", HV_STATUS_INVALID_HYPERCALL_INPUT,
           post(ECHO_CONNECTION_ID, 1, ECHO_MESSAGE_TYPE, 8, 0));
  CHECK_EQ("post_message.unknown_connection.invalid_connection_id", HV_STATUS_INVALID_CONNECTION_ID,
           post(ECHO_CONNECTION_ID + 1, 0, ECHO_MESSAGE_TYPE, 8, 0));

  /* First post: delivered at once, with the SINT's interrupt. */
  s->hold = 1; /* the echo handler never empties the slot: this code does */
  uint64_t irqs = s->echo_irqs;
  const uint16_t first = post(ECHO_CONNECTION_ID, 0, ECHO_MESSAGE_TYPE, HV_MESSAGE_PAYLOAD_BYTE_COUNT, 0x10);
  if (first == HV_STATUS_INVALID_CONNECTION_ID) {
    guest_printf("conformance-stimer: no echo connection 0x%x configured; loopback checks skipped\n",
                 ECHO_CONNECTION_ID);
    s->hold = 0;
    return;
  }
  CHECK_EQ("post_message.echo.success", HV_STATUS_SUCCESS, first);
  CHECK_TRUE("post_message.echo.interrupt", wait_change(&s->echo_irqs, irqs, WAIT_100NS));
  CHECK_EQ("post_message.echo.type", ECHO_MESSAGE_TYPE, m->type);
  CHECK_EQ("post_message.echo.payload_size", HV_MESSAGE_PAYLOAD_BYTE_COUNT, m->payload_size);
  CHECK_TRUE("post_message.echo.payload_intact", payload_matches(m, HV_MESSAGE_PAYLOAD_BYTE_COUNT, 0x10));

  /* Slot full: the next post is queued (MessagePending), the one after
   * finds the port out of buffers. */
  irqs = s->echo_irqs;
  CHECK_EQ("post_message.echo.busy.queued", HV_STATUS_SUCCESS, post(ECHO_CONNECTION_ID, 0, ECHO_MESSAGE_TYPE, 16, 0x40));
  CHECK_EQ("post_message.echo.busy.pending_flag", HV_MESSAGE_FLAG_PENDING, m->flags & HV_MESSAGE_FLAG_PENDING);
  CHECK_EQ("post_message.echo.busy.first_kept", HV_MESSAGE_PAYLOAD_BYTE_COUNT, m->payload_size);
  CHECK_EQ("post_message.echo.busy.insufficient_buffers", HV_STATUS_INSUFFICIENT_BUFFERS,
           post(ECHO_CONNECTION_ID, 0, ECHO_MESSAGE_TYPE, 16, 0x80));
  CHECK_TRUE("post_message.echo.ack_writes_eom", hv_message_ack(m));
  CHECK_TRUE("post_message.echo.queued.interrupt", wait_change(&s->echo_irqs, irqs, WAIT_100NS));
  CHECK_EQ("post_message.echo.queued.type", ECHO_MESSAGE_TYPE, m->type);
  CHECK_EQ("post_message.echo.queued.payload_size", 16, m->payload_size);
  CHECK_TRUE("post_message.echo.queued.payload_intact", payload_matches(m, 16, 0x40));
  hv_message_ack(m);
  s->hold = 0;
}

static void check_signal_event(void) {
  vcpu_state* s = &state[0];
  volatile uint8_t* flags = siefp[0] + (size_t)ECHO_SINT * HV_EVENT_FLAGS_BYTE_COUNT;
  const uint8_t flag_bit = (uint8_t)(1u << (ECHO_FLAG % FLAG_BITS_PER_BYTE));
  /* ConnectionId bit 24, the first of the reserved bits 31:24. */
  const uint64_t lowest_reserved_bit = HV_SIGNAL_EVENT_FAST_RSVDZ_MASK & (~HV_SIGNAL_EVENT_FAST_RSVDZ_MASK + 1);
  CHECK_EQ("signal_event.unknown_connection.invalid_connection_id", HV_STATUS_INVALID_CONNECTION_ID,
           signal(ECHO_CONNECTION_ID + 1, 0));
  CHECK_EQ("signal_event.reserved_bits.invalid_hypercall_input", HV_STATUS_INVALID_HYPERCALL_INPUT,
           signal_raw(signal_input(ECHO_CONNECTION_ID, 0) | lowest_reserved_bit));
  uint64_t irqs = s->echo_irqs;
  const uint16_t first = signal(ECHO_CONNECTION_ID, ECHO_FLAG);
  if (first == HV_STATUS_INVALID_CONNECTION_ID) return; /* no echo connection: said above */
  CHECK_EQ("signal_event.echo.success", HV_STATUS_SUCCESS, first);
  CHECK_TRUE("signal_event.echo.interrupt", wait_change(&s->echo_irqs, irqs, WAIT_100NS));
  CHECK_EQ("signal_event.echo.flag_set", flag_bit, flags[ECHO_FLAG / FLAG_BITS_PER_BYTE] & flag_bit);
  /* TLFS: no new interrupt for a flag that is already set. */
  irqs = s->echo_irqs;
  CHECK_EQ("signal_event.echo.again.success", HV_STATUS_SUCCESS, signal(ECHO_CONNECTION_ID, ECHO_FLAG));
  CHECK_TRUE("signal_event.echo.again.no_interrupt", !wait_change(&s->echo_irqs, irqs, 5u * ONE_MS_100NS));
  /* Cleared by the guest, the flag signals again. */
  __atomic_fetch_and(&flags[ECHO_FLAG / FLAG_BITS_PER_BYTE], (uint8_t)~flag_bit, __ATOMIC_SEQ_CST);
  CHECK_EQ("signal_event.echo.after_clear.success", HV_STATUS_SUCCESS, signal(ECHO_CONNECTION_ID, ECHO_FLAG));
  CHECK_TRUE("signal_event.echo.after_clear.interrupt", wait_change(&s->echo_irqs, irqs, WAIT_100NS));
  CHECK_EQ("signal_event.echo.flag_beyond_port.invalid_parameter", HV_STATUS_INVALID_PARAMETER,
           signal(ECHO_CONNECTION_ID, HV_EVENT_FLAGS_COUNT));
}

/* ------------------------------------------------------------------------ */

void guest_ap_main(uint32_t index) {
  while (!go) cpu_relax();
  if (apic_init() && synic_setup(index, false)) periodic_second(index);
  hv_synic_disable();
  ap_done[index] = 1;
}

int main(void) {
  if (!hv_detect(&hv)) {
    CHECK_TRUE("hyperv.present", false);
    return (int)guest_checks_failed();
  }
  guest_printf("conformance-stimer: %u vCPU(s), privileges 0x%x/0x%x features 0x%x\n", guest_vcpu_count(),
               hv.privileges_low, hv.privileges_high, hv.features);
  hv_set_guest_os_id(HV_GUEST_OS_ID_ENLIGHT);
  if (!has_priv(HV_ACCESS_SYNIC_REGS)) {
    guest_printf("conformance-stimer: AccessSynicRegs not advertised; nothing to check\n");
    return 0;
  }
  if (!CHECK_TRUE("x2apic", apic_init())) return (int)guest_checks_failed();
  if (has_priv(HV_ACCESS_PARTITION_REFERENCE_TSC) &&
      !wrmsr_safe(HV_X64_MSR_REFERENCE_TSC, (uint64_t)(uintptr_t)tsc_page | HV_X64_MSR_REFERENCE_TSC_ENABLE))
    tsc_page_on = true;
  if (!tsc_page_on && !has_priv(HV_ACCESS_PARTITION_REFERENCE_COUNTER)) {
    guest_printf("conformance-stimer: no reference time advertised; nothing to measure with\n");
    return 0;
  }
  guest_set_irq_handler(TIMER_SINT_VECTOR, on_timer_sint);
  guest_set_irq_handler(ECHO_SINT_VECTOR, on_echo_sint);
  guest_set_irq_handler(DIRECT_VECTOR, on_direct);
  if (!synic_setup(0, true)) return (int)guest_checks_failed();

  if (has_priv(HV_ACCESS_SYNTHETIC_TIMER_REGS)) {
    check_timer_rules();
    go = 1; /* every vCPU measures its own STIMER0 over the same second */
    periodic_second(0);
    for (uint32_t i = 1; i < guest_vcpu_count(); ++i) {
      for (uint64_t spin = 0; !ap_done[i] && spin < SPIN_LIMIT; ++spin) cpu_relax();
      char name[96];
      guest_snprintf(name, sizeof name, "stimer0.vcpu%u.finished", i);
      CHECK_EQ(name, 1, ap_done[i]);
    }
    check_busy_slot();
    check_direct_mode();
  } else {
    guest_printf("conformance-stimer: AccessSyntheticTimerRegs not advertised; timers skipped\n");
  }

  if (has_priv_high(HV_POST_MESSAGES) || has_priv_high(HV_SIGNAL_EVENTS)) {
    if (!CHECK_TRUE("hypercall_page.enable", hv_enable_hypercall_page((uint64_t)(uintptr_t)hv_default_hypercall_page())))
      return (int)guest_checks_failed();
    if (has_priv_high(HV_POST_MESSAGES)) check_post_message();
    if (has_priv_high(HV_SIGNAL_EVENTS)) check_signal_event();
  }
  hv_synic_disable();
  return (int)guest_checks_failed();
}
