// stimer: a hostile or confused guest. Random register values, random SynIC
// setups, random clock jumps, EOMs and EOIs, on several vCPUs: the plugin
// never faults, never stops the VM, and every register keeps the TLFS
// invariants. Also the time arithmetic at the edges of 64 bits.
#include "stimer_test.hpp"

#include <cstdio>
#include <random>

namespace enlight::test::stimer {
namespace {

constexpr uint64_t kMs = kUnitsPerMs;

// After any sequence of writes: no reserved bit is ever stored, no
// message-mode timer is enabled on SINT 0, and DirectMode only with a valid
// vector and the option on.
void expect_invariants(direct::DirectVm& d, bool direct_option) {
  for (uint32_t v = 0; v < d.vcpu_count(); ++v)
    for (uint32_t n = 0; n < HV_SYNIC_STIMER_COUNT; ++n) {
      const MsrRead r = d.rdmsr(v, config_msr(n));
      ASSERT_TRUE(r.ok());
      const uint64_t c = r.value;
      ASSERT_EQ(c & HV_STIMER_CONFIG_RSVDZ_MASK, 0u) << hex(c);
      const bool direct = c & HV_STIMER_CONFIG_DIRECT_MODE;
      if (direct) {
        ASSERT_TRUE(direct_option) << hex(c);
        ASSERT_GE((c & HV_STIMER_CONFIG_APIC_VECTOR_MASK) >> HV_STIMER_CONFIG_APIC_VECTOR_SHIFT, HV_SYNIC_FIRST_VALID_VECTOR);
      }
      if ((c & HV_STIMER_CONFIG_ENABLE) && !direct) {
        ASSERT_NE(c & HV_STIMER_CONFIG_SINTX_MASK, 0u) << hex(c);
      }
    }
}

// Values a fuzzer would favour: all ones, zero, single bits, small and
// large counts, and plain random.
uint64_t interesting(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return 0;
    case 1: return ~uint64_t{0};
    case 2: return uint64_t{1} << (rng() % 64);
    case 3: return rng() % 4;
    case 4: return rng() % (20 * kMs);
    case 5: return ~uint64_t{0} - rng() % 1000;
    default: return rng();
  }
}

void fuzz(const std::string& flags, bool direct_option, uint64_t seed) {
  constexpr uint32_t kVcpus = 3;
  auto d = make_vm(flags, kVcpus);
  std::mt19937_64 rng(seed);
  uint64_t t = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint32_t v = rng() % kVcpus;
    switch (rng() % 16) {
      case 0: case 1: case 2: case 3: {  // any STIMER register, any value, guest
        const uint32_t msr = HV_X64_MSR_STIMER0_CONFIG + rng() % kStimerMsrCount;
        ASSERT_NE(d->wrmsr(v, msr, interesting(rng)), Access::Fault);
        break;
      }
      case 4: case 5: {  // a plausible CONFIG, so timers really run
        uint64_t c = (rng() & (HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC | HV_STIMER_CONFIG_LAZY |
                               HV_STIMER_CONFIG_AUTO_ENABLE | HV_STIMER_CONFIG_DIRECT_MODE | HV_STIMER_CONFIG_APIC_VECTOR_MASK |
                               HV_STIMER_CONFIG_SINTX_MASK));
        ASSERT_NE(d->wrmsr(v, config_msr(rng() % HV_SYNIC_STIMER_COUNT), c), Access::Fault);
        ASSERT_NE(d->wrmsr(v, count_msr(rng() % HV_SYNIC_STIMER_COUNT), t + rng() % (3 * kMs)), Access::Fault);
        break;
      }
      case 6:  // host writes (a restore of garbage)
        ASSERT_NE(d->host_wrmsr(v, HV_X64_MSR_STIMER0_CONFIG + rng() % kStimerMsrCount, interesting(rng)), Access::Fault);
        break;
      case 7: {  // SynIC state the timers depend on, including nonsense
        const uint32_t pick = rng() % 4;
        if (pick == 0) (void)d->wrmsr(v, HV_X64_MSR_SIMP, rng() % 2 ? (simp_gpa(v) | HV_SYNIC_SIMP_ENABLE) : interesting(rng));
        if (pick == 1) (void)d->wrmsr(v, HV_X64_MSR_SINT0 + rng() % HV_SYNIC_SINT_COUNT, rng() % 2 ? 0x20 + rng() % 0xE0 : interesting(rng));
        if (pick == 2) (void)d->wrmsr(v, HV_X64_MSR_SCONTROL, rng() % 2);
        if (pick == 3) (void)d->wrmsr(v, HV_X64_MSR_EOM, interesting(rng));
        break;
      }
      case 8: {  // the guest empties a slot, maybe writes EOM
        const uint32_t sint = rng() % HV_SYNIC_SINT_COUNT;
        const uint32_t none = HvMessageTypeNone;
        (void)d->memory().write(slot_gpa(v, sint) + HV_MESSAGE_TYPE_OFFSET, &none, sizeof none);
        if (rng() % 2) {
          ASSERT_NE(d->wrmsr(v, HV_X64_MSR_EOM, 0), Access::Fault);
        }
        break;
      }
      case 9:  // the guest takes an interrupt and EOIs it
        if (d->take_interrupt(v)) (void)d->apic_write(v, HV_X64_MSR_EOI_X2APIC_INDEX, 0);
        break;
      case 10:  // the guest scribbles over its message page
        (void)d->memory().write(simp_gpa(v) + rng() % HV_PAGE_SIZE, &t, 1);
        break;
      case 11:  // a big clock jump
        t += rng() % (100 * kMs);
        at(*d, t);
        break;
      default:  // small steps
        t += rng() % kMs;
        at(*d, t);
        break;
    }
    d->run_timers(v);
    if (i % 1000 == 0) expect_invariants(*d, direct_option);
  }
  expect_invariants(*d, direct_option);
  // The traffic really ran timers through every path, not just the #GP one.
  std::printf("seed %llu: %lld messages, %lld direct, %lld redelivered, %lld late, %lld missed periods\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(metric(*d, kMessages)),
              static_cast<long long>(metric(*d, kDirects)), static_cast<long long>(metric(*d, kRedeliveries)),
              static_cast<long long>(metric(*d, kLate)), static_cast<long long>(metric(*d, kMissed)));
  EXPECT_GT(metric(*d, kMessages), 0);
  EXPECT_GT(metric(*d, kRedeliveries), 0);
  if (direct_option) {
    EXPECT_GT(metric(*d, kDirects), 0);
  }
  EXPECT_FALSE(d->vm().stopped()) << to_string(d->vm().stop_reason());
}

TEST(StimerGarbage, RandomMessageModeTrafficNeverFaults) { fuzz(kFlags, false, 1); }
TEST(StimerGarbage, RandomDirectModeTrafficNeverFaults) { fuzz(kDirectFlags, true, 2); }
TEST(StimerGarbage, MoreSeeds) {
  for (uint64_t seed = 10; seed < 14; ++seed) {
    SCOPED_TRACE(seed);
    fuzz(seed % 2 ? kDirectFlags : kFlags, seed % 2, seed);
  }
}

TEST(StimerGarbage, HugePeriodNeverWrapsIntoAStorm) {
  // now + COUNT beyond 2^64 saturates: the timer never fires, instead of
  // wrapping into the past and firing on every opportunity.
  auto d = make_vm(kDirectFlags);
  at(*d, 5 * kMs);
  for (uint64_t period : {~uint64_t{0}, ~uint64_t{0} - 5 * kMs + 1, uint64_t{1} << 63}) {
    ASSERT_EQ(d->wrmsr(0, count_msr(0), period), Access::Ok);
    ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
    for (int i = 0; i < 10; ++i) at(*d, now(*d) + kMs);
    EXPECT_TRUE(d->injected().empty()) << hex(period);
  }
}

TEST(StimerGarbage, OneShotAtTheEndOfTimeNeverFires) {
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), ~uint64_t{0}), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  at(*d, 1000 * kMs);
  EXPECT_TRUE(d->injected().empty());
  EXPECT_TRUE(d->rdmsr(0, config_msr(0)).value & HV_STIMER_CONFIG_ENABLE);
}

TEST(StimerGarbage, ShortestPeriodFiresOncePerOpportunity) {
  // A 100 ns period cannot flood the host: one expiry per timer per
  // opportunity (each run of the vCPU's timers), the rest skipped.
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 1), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), direct_config(kDirectVector, true)), Access::Ok);
  at(*d, kMs);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 1u);
  EXPECT_EQ(metric(*d, kMissed), static_cast<int64_t>(kMs - 1));
  at(*d, kMs + 1);
  EXPECT_EQ(injections(*d, 0, kDirectVector), 2u);
}

}  // namespace
}  // namespace enlight::test::stimer
