// The local APIC model's priority rules, without guest code.
#include "lapic.hpp"

#include <gtest/gtest.h>

namespace enlight::emu {
namespace {

TEST(EmuLapic, HigherClassPreemptsLowerInServiceAndTprMasks) {
  Lapic a(0, 1'000'000'000);
  ASSERT_TRUE(a.set_irr(0x41));
  ASSERT_EQ(a.deliverable(), std::optional<uint8_t>(0x41));
  a.accept(0x41);
  EXPECT_TRUE(a.in_service(0x41));
  a.set_irr(0x45);  // same class as the one in service: waits
  EXPECT_FALSE(a.deliverable());
  a.set_irr(0x51);  // higher class: deliverable
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x51));
  std::optional<IpiRequest> ipi;
  ASSERT_TRUE(a.write(0x808, 0x50, 0, ipi));  // TPR class 5 masks 0x51
  EXPECT_FALSE(a.deliverable());
  ASSERT_TRUE(a.write(0x808, 0, 0, ipi));
  ASSERT_TRUE(a.write(0x80B, 0, 0, ipi));  // EOI 0x41
  EXPECT_FALSE(a.in_service(0x41));
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x51));
  EXPECT_FALSE(a.write(0x80B, 1, 0, ipi)) << "non-zero x2APIC EOI is #GP";
  EXPECT_FALSE(a.set_irr(15)) << "vectors 0-15 are illegal";
}

TEST(EmuLapic, IcrDecodesDestinations) {
  Lapic a(0, 1'000'000'000);
  std::optional<IpiRequest> ipi;
  ASSERT_TRUE(a.write(0x830, (uint64_t{3} << 32) | 0x60, 0, ipi));
  ASSERT_TRUE(ipi);
  EXPECT_EQ(ipi->dest, IpiRequest::Dest::Physical);
  EXPECT_EQ(ipi->target, 3u);
  EXPECT_EQ(ipi->vector, 0x60);
  ipi.reset();
  ASSERT_TRUE(a.write(0x830, (3u << 18) | 0x61, 0, ipi));
  EXPECT_EQ(ipi->dest, IpiRequest::Dest::AllButSelf);
}

TEST(EmuLapic, OneShotTimerFiresAtItsDeadline) {
  Lapic a(0, 1'000'000'000);  // 1 ns per count
  std::optional<IpiRequest> ipi;
  ASSERT_TRUE(a.write(0x80F, 0x1FF, 0, ipi));   // software-enable
  ASSERT_TRUE(a.write(0x83E, 0xB, 0, ipi));     // divide by 1
  ASSERT_TRUE(a.write(0x832, 0x70, 0, ipi));    // one-shot, vector 0x70, unmasked
  ASSERT_TRUE(a.write(0x838, 1000, 100, ipi));  // 1000 ns from t=100
  uint64_t cur = 0;
  ASSERT_TRUE(a.read(0x839, cur, 600));
  EXPECT_EQ(cur, 500u);
  EXPECT_FALSE(a.poll_timer(1099));
  EXPECT_TRUE(a.poll_timer(1100));
  EXPECT_EQ(a.deliverable(), std::optional<uint8_t>(0x70));
  EXPECT_FALSE(a.poll_timer(5000)) << "one-shot";
}

}  // namespace
}  // namespace enlight::emu
