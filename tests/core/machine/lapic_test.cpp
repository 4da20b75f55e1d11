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
