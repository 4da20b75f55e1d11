// stimer: the timers through save/load as the core restores them (RAM,
// reference time set to the saved one, synic's state, then stimer's): an
// armed timer fires at its saved expiration, a pending signal is delivered
// once, a periodic timer keeps its grid.
#include "stimer_test.hpp"

#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test::stimer {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

struct Saved {
  snap::Blobs synic, stimer;
  std::vector<uint8_t> ram;
  uint64_t reference_time = 0;
};

Saved save_all(DirectVm& a) {
  Saved s;
  s.synic = snap::save(a, "synic");
  s.stimer = snap::save(a, "stimer");
  s.ram.assign(a.memory().base(), a.memory().base() + 0x200000);
  s.reference_time = a.vm().reference_time();
  return s;
}

std::unique_ptr<DirectVm> restore(const Saved& s, const std::string& flags = kFlags, uint32_t vcpus = 1) {
  auto b = make_vm(flags, vcpus);
  std::memcpy(b->memory().base(), s.ram.data(), s.ram.size());
  b->vm().set_reference_time(s.reference_time);
  EXPECT_EQ(snap::load(*b, "synic", s.synic), "");
  EXPECT_EQ(snap::load(*b, "stimer", s.stimer), "");
  return b;
}

// B's clock runs from 0 while its reference time continues from the save:
// `units` of reference time from now.
void run_for(DirectVm& b, uint64_t units) { b.advance_ns(units * kNsPerUnit); }

TEST(StimerSnapshot, OneShotFiresAtItsSavedExpiration) {
  auto a = make_vm(kFlags, 2);
  setup_synic(*a, 1);
  at(*a, 1000);
  ASSERT_EQ(a->wrmsr(1, config_msr(2), message_config()), Access::Ok);
  ASSERT_EQ(a->wrmsr(1, count_msr(2), 5000), Access::Ok);
  at(*a, 2000);
  const Saved s = save_all(*a);
  auto b = restore(s, kFlags, 2);
  EXPECT_EQ(b->rdmsr(1, config_msr(2)).value, message_config());
  EXPECT_EQ(b->rdmsr(1, count_msr(2)).value, 5000u);
  run_for(*b, 2999);
  EXPECT_TRUE(read_slot(*b, 1).empty()) << "not before 5000";
  run_for(*b, 1);
  const Slot m = read_slot(*b, 1);
  EXPECT_EQ(m.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(m.timer_index, 2u);
  EXPECT_EQ(m.expiration, 5000u);
  EXPECT_EQ(m.delivery, 5000u);
  EXPECT_EQ(b->rdmsr(1, config_msr(2)).value & HV_STIMER_CONFIG_ENABLE, 0u) << "one-shot: disabled once expired";
  consume(*b, 1);
  run_for(*b, 100'000);
  EXPECT_TRUE(read_slot(*b, 1).empty()) << "once";
}

TEST(StimerSnapshot, PendingPeriodicSignalIsDeliveredOnceAndTheGridKept) {
  auto a = make_vm(kFlags);
  setup_synic(*a, 0);
  ASSERT_EQ(a->wrmsr(0, config_msr(0), message_config(kSint, true)), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, count_msr(0), 1000), Access::Ok);  // period 1000 from 0
  at(*a, 1000);
  ASSERT_EQ(read_slot(*a, 0).expiration, 1000u);  // not consumed: the slot stays full
  at(*a, 2000);  // busy: pending, MessagePending set
  ASSERT_TRUE(read_slot(*a, 0).pending_flag());
  at(*a, 2500);
  const Saved s = save_all(*a);

  auto b = restore(s);
  b->run_timers(0);  // the load's retry: the slot is still full, nothing doubles
  EXPECT_EQ(read_slot(*b, 0).expiration, 1000u);
  EXPECT_EQ(metric(*b, kMessages), 0);
  // The guest takes the 1000 message, sees MessagePending and writes EOM.
  ASSERT_TRUE(consume(*b, 0).pending_flag());
  b->run_timers(0);
  Slot m = read_slot(*b, 0);
  EXPECT_EQ(m.expiration, 2000u) << "the pending period, delivered once";
  EXPECT_EQ(m.delivery, 2500u);
  EXPECT_EQ(metric(*b, kMessages), 1);
  consume(*b, 0);
  run_for(*b, 499);
  EXPECT_TRUE(read_slot(*b, 0).empty());
  run_for(*b, 1);
  m = read_slot(*b, 0);
  EXPECT_EQ(m.expiration, 3000u) << "the grid goes on: 3000, not 3500";
  EXPECT_EQ(metric(*b, kMessages), 2);
}

TEST(StimerSnapshot, DirectTimerFiresAtItsSavedExpiration) {
  auto a = make_vm(kDirectFlags);
  ASSERT_EQ(a->wrmsr(0, config_msr(1), direct_config(kDirectVector, true)), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, count_msr(1), 300), Access::Ok);
  at(*a, 450);
  ASSERT_EQ(injections(*a, 0, kDirectVector), 1u);
  const Saved s = save_all(*a);
  auto b = restore(s, kDirectFlags);
  run_for(*b, 149);
  EXPECT_EQ(injections(*b, 0, kDirectVector), 0u);
  run_for(*b, 1);  // 600
  EXPECT_EQ(injections(*b, 0, kDirectVector), 1u);
  ASSERT_EQ(b->take_interrupt(0), std::optional<uint8_t>(kDirectVector));
  ASSERT_TRUE(b->apic_write(0, 0x80B, 0));  // the guest's EOI
  run_for(*b, 300);  // 900
  EXPECT_EQ(injections(*b, 0, kDirectVector), 2u);
}

TEST(StimerSnapshot, HostileBlobs) {
  auto a = make_vm(kDirectFlags);
  setup_synic(*a, 0);
  ASSERT_EQ(a->wrmsr(0, config_msr(0), message_config(kSint, true)), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, count_msr(0), 1000), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, config_msr(1), direct_config()), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, count_msr(1), 5000), Access::Ok);  // one-shot, running
  at(*a, 1000);
  at(*a, 2000);  // timer 0 pending (slot full)
  const Saved s = save_all(*a);
  const std::vector<uint8_t> blob = s.stimer.vcpus.at(0);
  ASSERT_EQ(blob.size(), 8u + 4 * 35);
  auto b = make_vm(kDirectFlags);
  std::memcpy(b->memory().base(), s.ram.data(), s.ram.size());
  b->vm().set_reference_time(s.reference_time);
  ASSERT_EQ(snap::load(*b, "synic", s.synic), "");
  snap::sweep(blob, [&](const std::vector<uint8_t>& x) { return snap::load_vcpu(*b, "stimer", 0, x); },
              [&] {
                consume(*b, 0);
                b->run_timers(0);
              });
  run_for(*b, 100'000);
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);

  const auto refused = [&](const std::vector<uint8_t>& x) { return snap::load_vcpu(*b, "stimer", 0, x); };
  // Timer n's fields: CONFIG at 8 + 35n, COUNT +8, running +16, pending +17,
  // refused +18, expiration +19, started_at +27.
  constexpr size_t t2 = 8 + 2 * 35;
  EXPECT_THAT(refused(snap::with_u64(blob, t2, uint64_t{1} << 13)),
              HasSubstr("HV_X64_MSR_STIMER2_CONFIG = 0x0000000000002000: reserved bits set"));
  EXPECT_THAT(refused(snap::with_u64(blob, t2, HV_STIMER_CONFIG_ENABLE)), HasSubstr("SINT 0"));
  EXPECT_THAT(refused(snap::with_u64(blob, t2, HV_STIMER_CONFIG_DIRECT_MODE | vector(5))), HasSubstr("vector below 16"));
  std::vector<uint8_t> bad = blob;
  bad[8 + 16] = 1;  // timer 0: running and pending
  EXPECT_THAT(refused(bad), HasSubstr("synthetic timer 0"));
  bad = blob;
  bad[8 + 35 + 16] = 0;  // timer 1: enabled with a COUNT, idle
  EXPECT_THAT(refused(bad), HasSubstr("neither running nor pending"));
  bad = blob;
  bad[8 + 35 + 18] = 1;  // timer 1: running, and refused without a pending signal
  EXPECT_THAT(refused(bad), HasSubstr("a refused delivery without a pending signal"));
  bad = blob;
  bad[8 + 18] = 0;
  bad[8 + 17] = 0;  // timer 0 neither: idle too
  EXPECT_THAT(refused(bad), HasSubstr("neither running nor pending"));
  EXPECT_THAT(refused(snap::with_u64(blob, 8 + 35 + 19, 5001)), HasSubstr("one-shot expiration other than its COUNT"));
  EXPECT_THAT(refused(snap::with_u64(blob, 8 + 19, s.reference_time + 10'000'000)), HasSubstr("pending before its expiration"));
  // Direct mode where hv-stimer-direct is off.
  auto plain = make_vm(kFlags);
  plain->vm().set_reference_time(s.reference_time);
  EXPECT_THAT(snap::load_vcpu(*plain, "stimer", 0, blob), HasSubstr("direct mode without hv-stimer-direct"));
  EXPECT_EQ(plain->rdmsr(0, config_msr(0)).value, 0u) << "a refused load changes nothing";
}

}  // namespace
}  // namespace enlight::test::stimer
