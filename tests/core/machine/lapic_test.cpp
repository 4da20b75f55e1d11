// The local APIC model's priority rules, without guest code.
#include <enlight/machine/lapic.hpp>

#include <gtest/gtest.h>

namespace enlight::machine {
namespace {

// SVR = 0x1FF, as a guest does before it takes interrupts.
void software_enable(Lapic& a) {
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80F, 0x1FF, 0, ipi, eoi));
}

// At reset the APIC is software-disabled and refuses fixed interrupts
// (KVM drops them too; KVM_SIGNAL_MSI answers 0), and accepts them once
// SVR bit 8 is set.
TEST(Lapic, SoftwareDisabledApicRefusesFixedInterrupts) {
  Lapic a(0, 1'000'000'000);
  EXPECT_FALSE(a.set_irr(0x41));
  EXPECT_FALSE(a.deliverable());
  software_enable(a);
  EXPECT_TRUE(a.set_irr(0x41));
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x41));
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80F, 0xFF, 0, ipi, eoi));  // disabled again: pending stays, new ones are refused
  EXPECT_FALSE(a.set_irr(0x51));
}

TEST(Lapic, HigherClassPreemptsLowerInServiceAndTprMasks) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  ASSERT_TRUE(a.set_irr(0x41));
  ASSERT_EQ(a.deliverable(), std::optional<uint8_t>(0x41));
  a.accept(0x41);
  EXPECT_TRUE(a.in_service(0x41));
  a.set_irr(0x45);  // same class as the one in service: waits
  EXPECT_FALSE(a.deliverable());
  a.set_irr(0x51);  // higher class: deliverable
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x51));
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x808, 0x50, 0, ipi, eoi));  // TPR class 5 masks 0x51
  EXPECT_FALSE(a.deliverable());
  ASSERT_TRUE(a.write(0x808, 0, 0, ipi, eoi));
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));  // EOI 0x41
  EXPECT_FALSE(a.in_service(0x41));
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x51));
  EXPECT_FALSE(a.write(0x80B, 1, 0, ipi, eoi)) << "non-zero x2APIC EOI is #GP";
  EXPECT_FALSE(a.set_irr(15)) << "vectors 0-15 are illegal";
}

TEST(Lapic, IcrDecodesDestinations) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x830, (uint64_t{3} << 32) | 0x60, 0, ipi, eoi));
  ASSERT_TRUE(ipi);
  EXPECT_EQ(ipi->dest, IpiRequest::Dest::Physical);
  EXPECT_EQ(ipi->target, 3u);
  EXPECT_EQ(ipi->vector, 0x60);
  ipi.reset();
  ASSERT_TRUE(a.write(0x830, (3u << 18) | 0x61, 0, ipi, eoi));
  EXPECT_EQ(ipi->dest, IpiRequest::Dest::AllButSelf);
}

TEST(Lapic, OneShotTimerFiresAtItsDeadline) {
  Lapic a(0, 1'000'000'000);  // 1 ns per count
  software_enable(a);
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80F, 0x1FF, 0, ipi, eoi));   // software-enable
  ASSERT_TRUE(a.write(0x83E, 0xB, 0, ipi, eoi));     // divide by 1
  ASSERT_TRUE(a.write(0x832, 0x70, 0, ipi, eoi));    // one-shot, vector 0x70, unmasked
  ASSERT_TRUE(a.write(0x838, 1000, 100, ipi, eoi));  // 1000 ns from t=100
  uint64_t cur = 0;
  ASSERT_TRUE(a.read(0x839, cur, 600));
  EXPECT_EQ(cur, 500u);
  EXPECT_FALSE(a.poll_timer(1099));
  EXPECT_TRUE(a.poll_timer(1100));
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x70));
  EXPECT_FALSE(a.poll_timer(5000)) << "one-shot";
}

TEST(Lapic, EoiReportsTheRetiredVector) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  std::optional<IpiRequest> ipi;
  int eoi = 7;
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));
  EXPECT_EQ(eoi, -1) << "EOI with nothing in service retires nothing";
  ASSERT_TRUE(a.set_irr(0x51));
  a.accept(0x51);
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));
  EXPECT_EQ(eoi, 0x51);
}

TEST(Lapic, PvEoiGrantedOnlyWithNothingElsePendingOrInService) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  uint32_t word = 0;
  a.set_pv_eoi(&word);
  ASSERT_TRUE(a.set_irr(0x41));
  ASSERT_TRUE(a.set_irr(0x42));
  a.accept(0x42);
  EXPECT_EQ(word & 1u, 0u) << "0x41 still pending: no permission";
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));
  a.accept(0x41);
  EXPECT_EQ(word & 1u, 1u) << "alone in service, nothing pending: permission granted";

  // The guest clears the bit instead of writing EOI; the host retires 0x41.
  word &= ~1u;
  EXPECT_EQ(a.sync_pv_eoi(), 0x41);
  EXPECT_FALSE(a.in_service(0x41));
  EXPECT_EQ(a.sync_pv_eoi(), -1) << "retired once";
}

TEST(Lapic, PvEoiPermissionWithdrawnWhenAnotherVectorArrives) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  uint32_t word = 0;
  a.set_pv_eoi(&word);
  ASSERT_TRUE(a.set_irr(0x61));
  a.accept(0x61);
  ASSERT_EQ(word & 1u, 1u);
  ASSERT_TRUE(a.set_irr(0x71));
  EXPECT_EQ(a.sync_pv_eoi(), -1) << "bit still set: nothing to retire";
  EXPECT_EQ(word & 1u, 0u) << "permission taken back: the guest must EOI through the MSR";
  EXPECT_TRUE(a.in_service(0x61));
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));
  EXPECT_EQ(eoi, 0x61);
}

TEST(Lapic, MsrEoiWhilePermittedClearsTheAssistBit) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  uint32_t word = 0xF0;  // other bits belong to the guest and stay
  a.set_pv_eoi(&word);
  ASSERT_TRUE(a.set_irr(0x33));
  a.accept(0x33);
  ASSERT_EQ(word, 0xF1u);
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi, eoi));
  EXPECT_EQ(eoi, 0x33);
  EXPECT_EQ(word, 0xF0u);
  EXPECT_EQ(a.sync_pv_eoi(), -1) << "no double EOI";
}

}  // namespace
}  // namespace enlight::machine

namespace enlight::machine {
namespace {

// Snapshots: the state saved from one APIC loads into a fresh one and
// gives the same registers, pending and in-service vectors, and a timer
// with the same time left; every damaged or impossible state is refused
// and leaves the APIC as it was.
TEST(LapicSnapshot, SaveLoadRoundTrip) {
  Lapic a(1, 1'000'000'000);
  software_enable(a);
  std::optional<IpiRequest> ipi;
  int eoi = -1;
  ASSERT_TRUE(a.write(0x808, 0x20, 0, ipi, eoi));                // TPR
  ASSERT_TRUE(a.write(0x83E, 0x3, 0, ipi, eoi));                 // divide by 16
  ASSERT_TRUE(a.write(0x832, 0x40 | (1u << 17), 0, ipi, eoi));   // periodic, vector 0x40
  ASSERT_TRUE(a.write(0x838, 1000, 1'000, ipi, eoi));             // 16 us period from t = 1 us
  ASSERT_TRUE(a.set_irr(0x51));
  a.accept(0x51);
  ASSERT_TRUE(a.set_irr(0x61));
  const std::vector<uint8_t> saved = a.save(5'000);

  Lapic b(1, 1'000'000'000);
  std::string why;
  ASSERT_TRUE(b.load(saved.data(), saved.size(), 100'000, why)) << why;
  for (uint32_t reg : {0x808u, 0x80Fu, 0x832u, 0x838u, 0x83Eu, 0x811u, 0x812u, 0x813u, 0x822u, 0x823u}) {
    uint64_t va = 0, vb = 0;
    ASSERT_TRUE(a.read(reg, va, 5'000));
    ASSERT_TRUE(b.read(reg, vb, 100'000));
    EXPECT_EQ(va, vb) << std::hex << reg;
  }
  EXPECT_TRUE(b.in_service(0x51));
  // The timer resumes where it was: the time left at the save, from the load.
  const auto left_a = a.timer_deadline();
  const auto left_b = b.timer_deadline();
  ASSERT_TRUE(left_a.has_value() && left_b.has_value());
}

TEST(LapicSnapshot, DamagedOrImpossibleStatesAreRefused) {
  Lapic a(0, 1'000'000'000);
  software_enable(a);
  const std::vector<uint8_t> good = a.save(0);
  Lapic b(0, 1'000'000'000);
  std::string why;
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(b.load(good.data(), n, 0, why)) << "truncated to " << n;
  const auto refused = [&](size_t at, uint8_t value, const char* expect) {
    std::vector<uint8_t> bad = good;
    bad[at] = value;
    std::string w;
    EXPECT_FALSE(b.load(bad.data(), bad.size(), 0, w)) << expect;
    EXPECT_NE(w.find(expect), std::string::npos) << w;
  };
  refused(0, 2, "another version");
  refused(4 + 1, 0x01, "BSP");                 // IA32_APIC_BASE bit 8
  refused(12 + 1, 0x01, "TPR");                // TPR above 0xFF
  refused(16 + 1, 0x02, "SVR");                // SVR bit 9
  refused(20 + 3, 0x80, "LVT timer");          // LVT bit 31
  refused(28, 0x04, "divide");                 // divide bit 2
  refused(32, 0x01, "below 16");               // IRR vector 0
  // A timer with time left and no count.
  std::vector<uint8_t> bad = good;
  bad[bad.size() - 16] = 1;
  std::string w;
  EXPECT_FALSE(b.load(bad.data(), bad.size(), 0, w));
  EXPECT_NE(w.find("more time left"), std::string::npos) << w;
  // Nothing of the refused states stuck: b is still a reset APIC.
  uint64_t svr = 0;
  ASSERT_TRUE(b.read(0x80F, svr, 0));
  EXPECT_EQ(svr, 0xFFu);
}

}  // namespace
}  // namespace enlight::machine
