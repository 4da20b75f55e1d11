// stimer: when timers expire and what the guest receives: HVMSG_TIMER_EXPIRED
// in its message page (through the real synic plugin), or its direct-mode
// vector; busy slots, EOM/EOI retries, periodic timing and missed periods.
// The clock is the direct backend's manual one, in 100 ns units.
#include "stimer_test.hpp"

namespace enlight::test::stimer {
namespace {

constexpr uint64_t kMs = kUnitsPerMs;

// ---- One-shot -----------------------------------------------------------------

TEST(StimerOneShot, FiresOnceAtItsCountNotBefore) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 3 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  // TLFS: "The timer expires when the reference counter for the partition
  // is equal to or greater than the specified count value."
  at(*d, 3 * kMs - 1);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  EXPECT_EQ(injections(*d, 0, kSintVector), 0u);
  at(*d, 3 * kMs);
  const Slot s = consume(*d, 0);
  EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(s.expiration, 3 * kMs);
  EXPECT_EQ(s.delivery, 3 * kMs);
  EXPECT_EQ(injections(*d, 0, kSintVector), 1u);  // the SINT asserted its vector
  // "When a one-shot timer expires, it is automatically marked as disabled."
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, message_config() & ~HV_STIMER_CONFIG_ENABLE);
  EXPECT_EQ(d->rdmsr(0, count_msr(0)).value, 3 * kMs);
  for (uint64_t t = 4; t <= 20; ++t) at(*d, t * kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  EXPECT_EQ(metric(*d, kMessages), 1);
  EXPECT_EQ(metric(*d, kDirects), 0);
}

TEST(StimerOneShot, CountInThePastFiresAtOnce) {
  // TLFS: "If a one-shot is enabled and the specified count is in the past,
  // it will expire immediately": at the host timer's next opportunity,
  // before the vCPU runs guest code again (run_timers on direct).
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  at(*d, 50 * kMs);
  ASSERT_EQ(d->wrmsr(0, count_msr(1), 7), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(1), message_config()), Access::Ok);
  EXPECT_EQ(d->run_timers(0), 1u);
  const Slot s = read_slot(*d, 0);
  EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(s.timer_index, 1u);
  EXPECT_EQ(s.expiration, 7u);
  EXPECT_EQ(s.delivery, 50 * kMs);
  // A deadline the guest chose in the past is not host lateness.
  EXPECT_EQ(metric(*d, kLate), 0);
  EXPECT_EQ(histogram(*d, kLateness).counts.front(), 1u);
}

TEST(StimerOneShot, RewritingCountMovesTheDeadline) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint)), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 2 * kMs), Access::Ok);
  at(*d, 1 * kMs);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 5 * kMs), Access::Ok);
  at(*d, 4 * kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  at(*d, 5 * kMs);
  EXPECT_EQ(read_slot(*d, 0).expiration, 5 * kMs);
}

TEST(StimerOneShot, DisablingBeforeExpiryCancels) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 2 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), sintx(kSint)), Access::Ok);
  at(*d, 10 * kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  EXPECT_EQ(metric(*d, kMessages), 0);
}

// ---- Message contents ----------------------------------------------------------

TEST(StimerMessage, HeaderAndPayloadAsTheTlfsLaysThemOut) {
  // HV_MESSAGE: type HvMessageTimerExpired, PayloadSize 24, no flags,
  // origin 0; HV_TIMER_MESSAGE_PAYLOAD: TimerIndex, reserved 0,
  // ExpirationTime, DeliveryTime. Each timer to its own SINT so that all
  // four land.
  auto d = make_vm(kFlags, 2);
  for (uint32_t v = 0; v < 2; ++v) {
    setup_synic(*d, v);
    for (uint32_t n = 0; n < 4; ++n) {
      const uint32_t sint = 8 + n;
      ASSERT_EQ(d->wrmsr(v, HV_X64_MSR_SINT0 + sint, 0x80 + 4 * v + n), Access::Ok);
      ASSERT_EQ(d->wrmsr(v, count_msr(n), (10 + n + 5 * v) * kMs), Access::Ok);
      ASSERT_EQ(d->wrmsr(v, config_msr(n), message_config(sint)), Access::Ok);
    }
  }
  at(*d, 30 * kMs);  // late for all of them: DeliveryTime is now
  for (uint32_t v = 0; v < 2; ++v)
    for (uint32_t n = 0; n < 4; ++n) {
      SCOPED_TRACE("vCPU " + std::to_string(v) + " timer " + std::to_string(n));
      const Slot s = read_slot(*d, v, 8 + n);
      EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
      EXPECT_EQ(s.type, 0x80000010u);  // the TLFS enum value
      EXPECT_EQ(s.payload_size, HV_TIMER_MESSAGE_PAYLOAD_SIZE);
      EXPECT_EQ(s.flags, 0u);
      EXPECT_EQ(s.origin, 0u);
      EXPECT_EQ(s.timer_index, n);
      EXPECT_EQ(s.reserved, 0u);
      EXPECT_EQ(s.expiration, (10 + n + 5 * v) * kMs);
      EXPECT_EQ(s.delivery, 30 * kMs);
      EXPECT_EQ(injections(*d, v, static_cast<uint8_t>(0x80 + 4 * v + n)), 1u);
    }
  EXPECT_EQ(metric(*d, kMessages), 8);
}

TEST(StimerMessage, GoesToItsOwnVcpusPage) {
  auto d = make_vm(kFlags, 3);
  for (uint32_t v = 0; v < 3; ++v) setup_synic(*d, v);
  ASSERT_EQ(d->wrmsr(1, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(1, config_msr(0), message_config()), Access::Ok);
  at(*d, kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  EXPECT_EQ(read_slot(*d, 1).type, HvMessageTypeTimerExpired);
  EXPECT_TRUE(read_slot(*d, 2).empty());
  EXPECT_EQ(injections(*d, 1, kSintVector), 1u);
  EXPECT_EQ(injections(*d, 0, kSintVector) + injections(*d, 2, kSintVector), 0u);
}

TEST(StimerMessage, MaskedSintStillGetsTheMessage) {
  // A masked SINT is the guest polling its slot (synic service contract):
  // the message lands, no interrupt.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SINT0 + kSint, HV_SYNIC_SINT_MASKED | kSintVector), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  at(*d, kMs);
  EXPECT_EQ(read_slot(*d, 0).type, HvMessageTypeTimerExpired);
  EXPECT_EQ(injections(*d, 0, kSintVector), 0u);
}

// ---- Periodic ----------------------------------------------------------------------

TEST(StimerPeriodic, OneMsFiresExactly1000TimesInOneSecond) {
  // Message mode; the guest consumes each message before the next tick.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config(kSint, true)), Access::Ok);
  uint64_t seen = 0;
  for (uint64_t t = 1; t <= 1000; ++t) {
    at(*d, t * kMs - 1);  // never early
    ASSERT_TRUE(read_slot(*d, 0).empty()) << t;
    at(*d, t * kMs);
    const Slot s = consume(*d, 0);
    ASSERT_EQ(s.type, HvMessageTypeTimerExpired) << t;
    ASSERT_EQ(s.expiration, t * kMs);
    ASSERT_EQ(s.delivery, t * kMs);
    ++seen;
  }
  EXPECT_EQ(seen, 1000u);
  EXPECT_EQ(metric(*d, kMessages), 1000);
  EXPECT_EQ(metric(*d, kMissed), 0);
  EXPECT_EQ(metric(*d, kLate), 0);
  // Periodic timers stay enabled (TLFS).
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, message_config(kSint, true));
}

TEST(StimerPeriodic, DirectModeFiresExactly1000TimesInQuarterMsSteps) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(2), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(2), direct_config(kDirectVector, true)), Access::Ok);
  const uint64_t step = kMs / 4;
  for (uint64_t t = step; t <= 1000 * kMs; t += step) {
    at(*d, t);
    ASSERT_EQ(injections(*d, 0, kDirectVector), t / kMs) << t;
  }
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1000u);
  EXPECT_EQ(metric(*d, kDirects), 1000);
  EXPECT_EQ(metric(*d, kMessages), 0);
}

TEST(StimerPeriodic, FirstPeriodStartsWhenEnabled) {
  // TLFS: "The first period begins when the synthetic timer is enabled."
  auto d = make_vm(kDirectFlags);
  at(*d, 7 * kMs + 123);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 2 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, 9 * kMs + 122);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 0u);
  at(*d, 9 * kMs + 123);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
  at(*d, 11 * kMs + 123);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 2u);
}

TEST(StimerPeriodic, RewritingCountRestartsThePeriodFromNow) {
  // KVM stimer_set_count(): cleanup, then a fresh start at now + COUNT.
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, kMs / 2);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 2 * kMs), Access::Ok);
  at(*d, 2 * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 0u);
  at(*d, 2 * kMs + kMs / 2);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
}

TEST(StimerPeriodic, MissedPeriodsAreSkippedOnTheTimersGrid) {
  // Policy (KVM stimer_start): after a late expiry the next one is the next
  // point of the timer's grid after now; the periods in between get no
  // signal of their own. ExpirationTime says which expiry was signalled.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config(kSint, true)), Access::Ok);
  at(*d, 3 * kMs + kMs / 2);  // 1 ms was due; 2 ms and 3 ms are missed
  Slot s = consume(*d, 0);
  EXPECT_EQ(s.expiration, 1 * kMs);
  EXPECT_EQ(s.delivery, 3 * kMs + kMs / 2);
  EXPECT_EQ(metric(*d, kMessages), 1);
  EXPECT_EQ(metric(*d, kMissed), 2);
  EXPECT_EQ(metric(*d, kLate), 1);  // 2.5 ms late
  at(*d, 4 * kMs - 1);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  at(*d, 4 * kMs);
  s = consume(*d, 0);
  EXPECT_EQ(s.expiration, 4 * kMs);  // back on the grid: phase kept
  EXPECT_EQ(metric(*d, kMissed), 2);
  EXPECT_EQ(metric(*d, kLate), 1);
}

TEST(StimerPeriodic, LateExactlyOnAGridPointSkipsIt) {
  // Delivered at 3 ms for the 1 ms expiry: 2 ms and 3 ms are skipped (the
  // one at "now" too, as KVM does: remainder 0 means next = now + period).
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, 3 * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
  EXPECT_EQ(metric(*d, kMissed), 2);
  at(*d, 4 * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 2u);
}

TEST(StimerPeriodic, LazyBitChangesNothing) {
  // Lazy only tells the hypervisor it may skip late ticks (TLFS); the grid
  // policy already does that for every periodic timer (KVM ignores Lazy).
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true) | HV_STIMER_CONFIG_LAZY), Access::Ok);
  for (uint64_t t = 1; t <= 10; ++t) at(*d, t * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 10u);
}

TEST(StimerPeriodic, CountZeroStopsIt) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, 2 * kMs);
  ASSERT_EQ(injections(*d, 0, kDirectVector), 1u);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 0), Access::Ok);
  EXPECT_FALSE(d->rdmsr(0, config_msr(0)).value & HV_STIMER_CONFIG_ENABLE);
  for (uint64_t t = 3; t <= 10; ++t) at(*d, t * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
}

TEST(StimerPeriodic, ClearingEnableStopsIt) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, kMs);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true) & ~HV_STIMER_CONFIG_ENABLE), Access::Ok);
  for (uint64_t t = 2; t <= 10; ++t) at(*d, t * kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
}

// ---- AutoEnable ----------------------------------------------------------------------

TEST(StimerAutoEnable, NonZeroCountArmsTheTimer) {
  // Linux's clockevent programs each event with one COUNT write this way.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint)), Access::Ok);
  for (uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(d->wrmsr(0, count_msr(0), now(*d) + kMs), Access::Ok);
    at(*d, now(*d) + kMs - 1);
    ASSERT_TRUE(read_slot(*d, 0).empty()) << i;
    at(*d, now(*d) + 1);
    ASSERT_EQ(consume(*d, 0).type, HvMessageTypeTimerExpired) << i;
    // One-shot: Enable cleared until the next COUNT write.
    EXPECT_FALSE(d->rdmsr(0, config_msr(0)).value & HV_STIMER_CONFIG_ENABLE);
  }
  EXPECT_EQ(metric(*d, kMessages), 5);
}

TEST(StimerAutoEnable, CountZeroStopsDespiteAutoEnable) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint)), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 0), Access::Ok);
  at(*d, 5 * kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
}

// ---- SINTx == 0 ------------------------------------------------------------------------

TEST(StimerSint0, MessageTimerOnSint0NeverFires) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SINT0, kOtherVector), Access::Ok);  // even with SINT0 usable
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(1), HV_STIMER_CONFIG_AUTO_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(1), kMs), Access::Ok);
  at(*d, 10 * kMs);
  EXPECT_TRUE(read_slot(*d, 0, 0).empty());
  EXPECT_TRUE(d->injected().empty());
  EXPECT_EQ(metric(*d, kMessages), 0);
}

TEST(StimerSint0, DirectTimerIgnoresSintx) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);  // SINTx 0
  at(*d, kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
}

// ---- Direct mode ---------------------------------------------------------------------------

TEST(StimerDirect, InjectsApicVectorInsteadOfAMessage) {
  auto d = make_vm(kDirectFlags, 2);
  setup_synic(*d, 1);
  ASSERT_EQ(d->wrmsr(1, count_msr(3), 4 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(1, config_msr(3), direct_config(0xEC) | sintx(kSint)), Access::Ok);
  at(*d, 4 * kMs - 1);
  EXPECT_TRUE(d->injected().empty());
  at(*d, 4 * kMs);
  ASSERT_EQ(d->injected().size(), 1u);
  EXPECT_EQ(d->injected()[0], (std::pair<uint32_t, uint8_t>{1, 0xEC}));
  EXPECT_TRUE(read_slot(*d, 1).empty());  // no message, even with a SINT named
  EXPECT_EQ(d->take_interrupt(1), std::optional<uint8_t>(0xEC));
  EXPECT_FALSE(d->rdmsr(1, config_msr(3)).value & HV_STIMER_CONFIG_ENABLE);  // one-shot: disabled
  EXPECT_EQ(metric(*d, kDirects), 1);
  EXPECT_EQ(metric(*d, kMessages), 0);
}

TEST(StimerDirect, WorksWithoutAnySynicSetup) {
  // Direct mode does not touch the SynIC: no SIMP, no SINT needed.
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE | HV_STIMER_CONFIG_DIRECT_MODE |
                                           vector(kDirectVector)),
            Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  at(*d, kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
}

// ---- Busy slot, EOM, EOI, unavailable SynIC ------------------------------------------------------

// Two one-shot timers aimed at one SINT, both due at 1 ms: the first
// message lands, the second finds the slot busy.
std::unique_ptr<direct::DirectVm> two_timers_one_slot() {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  for (uint32_t n : {0u, 1u}) {
    EXPECT_EQ(d->wrmsr(0, count_msr(n), kMs), Access::Ok);
    EXPECT_EQ(d->wrmsr(0, config_msr(n), message_config()), Access::Ok);
  }
  at(*d, kMs);
  return d;
}

TEST(StimerBusy, SecondMessageWaitsAndIsRetriedAfterEom) {
  auto d = two_timers_one_slot();
  Slot s = read_slot(*d, 0);
  EXPECT_EQ(s.timer_index, 0u);
  // The synic set MessagePending, so the guest knows to write EOM.
  EXPECT_TRUE(s.pending_flag());
  // Timer 1 is still enabled: its expiry is pending, not lost.
  EXPECT_TRUE(d->rdmsr(0, config_msr(1)).value & HV_STIMER_CONFIG_ENABLE);
  EXPECT_FALSE(d->rdmsr(0, config_msr(0)).value & HV_STIMER_CONFIG_ENABLE);
  EXPECT_EQ(metric(*d, kMessages), 1);
  at(*d, 2 * kMs);  // time passing alone retries nothing: the slot is still full
  EXPECT_EQ(read_slot(*d, 0).timer_index, 0u);

  at(*d, 3 * kMs);
  s = consume(*d, 0);  // frees the slot and, seeing MessagePending, writes EOM
  ASSERT_EQ(s.timer_index, 0u);
  d->run_timers(0);  // before the vCPU next runs guest code
  s = read_slot(*d, 0);
  EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(s.timer_index, 1u);
  EXPECT_EQ(s.expiration, kMs);
  EXPECT_EQ(s.delivery, 3 * kMs);  // the time the retry wrote it
  EXPECT_FALSE(d->rdmsr(0, config_msr(1)).value & HV_STIMER_CONFIG_ENABLE);
  EXPECT_EQ(metric(*d, kMessages), 2);
  EXPECT_EQ(metric(*d, kRedeliveries), 1);
  EXPECT_EQ(injections(*d, 0, kSintVector), 2u);
}

TEST(StimerBusy, RetriedAfterEoiOfTheSintVector) {
  auto d = two_timers_one_slot();
  // The guest takes the interrupt, empties the slot, and EOIs without
  // writing EOM: the EOI alone is a retry point (TLFS, KVM).
  ASSERT_EQ(d->take_interrupt(0), std::optional<uint8_t>(kSintVector));
  const uint32_t none = HvMessageTypeNone;
  ASSERT_TRUE(d->memory().write(slot_gpa(0, kSint) + HV_MESSAGE_TYPE_OFFSET, &none, sizeof none));
  ASSERT_TRUE(d->apic_write(0, HV_X64_MSR_EOI_X2APIC_INDEX, 0));
  d->run_timers(0);
  const Slot s = read_slot(*d, 0);
  EXPECT_EQ(s.timer_index, 1u);
  EXPECT_EQ(metric(*d, kRedeliveries), 1);
}

TEST(StimerBusy, EomWithTheSlotStillFullKeepsWaiting) {
  auto d = two_timers_one_slot();
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);  // slot not emptied
  d->run_timers(0);
  EXPECT_EQ(read_slot(*d, 0).timer_index, 0u);
  EXPECT_EQ(metric(*d, kMessages), 1);
  consume(*d, 0);
  d->run_timers(0);
  EXPECT_EQ(read_slot(*d, 0).timer_index, 1u);
  EXPECT_EQ(metric(*d, kRedeliveries), 1);
}

TEST(StimerBusy, EomOnAnotherSintRetriesOnlyWhatWaitsThere) {
  // EOM notifies every SINT (KVM); a timer waits only on its own.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  for (uint32_t n : {0u, 1u}) {
    ASSERT_EQ(d->wrmsr(0, count_msr(n), kMs), Access::Ok);
    ASSERT_EQ(d->wrmsr(0, config_msr(n), message_config(kOtherSint)), Access::Ok);
  }
  at(*d, kMs);
  ASSERT_EQ(read_slot(*d, 0, kOtherSint).timer_index, 0u);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  d->run_timers(0);
  EXPECT_EQ(read_slot(*d, 0, kOtherSint).timer_index, 0u);
  EXPECT_TRUE(read_slot(*d, 0, kSint).empty());
}

TEST(StimerBusy, PeriodicTimerKeepsOnePendingTickThenReturnsToItsGrid) {
  // A periodic timer whose slot stays busy is not re-armed: one signal is
  // outstanding at a time, so ticks never pile up. When the slot frees, the
  // waiting tick is delivered and the timer resumes on its grid.
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config(kSint, true)), Access::Ok);
  at(*d, kMs);
  ASSERT_EQ(read_slot(*d, 0).expiration, kMs);  // not consumed
  for (uint64_t t = 2; t <= 5; ++t) at(*d, t * kMs);
  EXPECT_EQ(read_slot(*d, 0).expiration, kMs);
  EXPECT_TRUE(read_slot(*d, 0).pending_flag());
  EXPECT_EQ(metric(*d, kMessages), 1);
  at(*d, 5 * kMs + kMs / 2);
  consume(*d, 0);
  d->run_timers(0);
  Slot s = consume(*d, 0);
  EXPECT_EQ(s.expiration, 2 * kMs);              // the tick that waited
  EXPECT_EQ(s.delivery, 5 * kMs + kMs / 2);
  EXPECT_EQ(metric(*d, kRedeliveries), 1);
  EXPECT_EQ(metric(*d, kMissed), 3);             // 3, 4 and 5 ms
  at(*d, 6 * kMs - 1);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  at(*d, 6 * kMs);
  EXPECT_EQ(consume(*d, 0).expiration, 6 * kMs);
  EXPECT_EQ(metric(*d, kMessages), 3);
}

TEST(StimerUnavailable, MessagePageOffKeepsTheExpiryUntilEom) {
  // SIMP disabled: nothing can be written; the expiry is kept (KVM) and
  // retried when the guest, having mapped its page, writes EOM.
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SINT0 + kSint, kSintVector), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  at(*d, 2 * kMs);
  EXPECT_EQ(metric(*d, kMessages), 0);
  EXPECT_TRUE(d->rdmsr(0, config_msr(0)).value & HV_STIMER_CONFIG_ENABLE);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, simp_gpa(0) | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  at(*d, 3 * kMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());  // enabling the page alone is not a retry point (KVM)
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  d->run_timers(0);
  const Slot s = read_slot(*d, 0);
  EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(s.expiration, kMs);
  EXPECT_EQ(s.delivery, 3 * kMs);
  EXPECT_EQ(metric(*d, kRedeliveries), 1);
}

TEST(StimerUnavailable, RewritingTheTimerDropsThePendingExpiry) {
  // KVM stimer_cleanup() on every CONFIG/COUNT write: a pending expiry is
  // the old programming's, not the new one's.
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  at(*d, 2 * kMs);  // SIMP off: pending
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 10 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  d->run_timers(0);
  EXPECT_TRUE(read_slot(*d, 0).empty());
  at(*d, 10 * kMs);
  EXPECT_EQ(read_slot(*d, 0).expiration, 10 * kMs);
  EXPECT_EQ(metric(*d, kRedeliveries), 0);
}

// ---- Lateness metrics ------------------------------------------------------------------------

TEST(StimerMetrics, LatenessHistogramIsDeliveryMinusExpiration) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  at(*d, kMs + 3 * kMs);  // 3 ms late
  auto h = histogram(*d, kLateness);
  ASSERT_TRUE(h.found);
  EXPECT_EQ(h.total(), 1u);
  EXPECT_EQ(h.sum_ns, 3'000'000u);
  // In the (2 ms, 5 ms] bucket.
  for (size_t b = 0; b < h.counts.size(); ++b) {
    const bool here = b < h.bounds_ns.size() && h.bounds_ns[b] == 5'000'000u;
    EXPECT_EQ(h.counts[b], here ? 1u : 0u) << b;
  }
  EXPECT_EQ(metric(*d, kLate), 1);
  // On time: the first bucket, not late.
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 10 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  at(*d, 10 * kMs);
  h = histogram(*d, kLateness);
  EXPECT_EQ(h.total(), 2u);
  EXPECT_EQ(h.counts.front(), 1u);
  EXPECT_EQ(metric(*d, kLate), 1);
}

TEST(StimerMetrics, UnderOneMsIsNotLate) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  at(*d, 2 * kMs - 1);  // 999.9 us late
  EXPECT_EQ(metric(*d, kLate), 0);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 3 * kMs), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  at(*d, 4 * kMs);  // exactly 1 ms late
  EXPECT_EQ(metric(*d, kLate), 1);
}

}  // namespace
}  // namespace enlight::test::stimer
