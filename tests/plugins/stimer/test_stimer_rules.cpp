// stimer: the register rules and time arithmetic of plugins/stimer/
// stimer_rules.hpp, as pure functions (no VM), including the 64-bit edges
// a guest can reach with COUNT.
#include "stimer_rules.hpp"

#include <gtest/gtest.h>

namespace enlight::stimer {
namespace {

constexpr uint64_t kMax = ~uint64_t{0};

TEST(StimerRules, MsrLayout) {
  EXPECT_EQ(kFirstMsr, 0x400000B0u);
  EXPECT_EQ(kLastMsr, 0x400000B7u);
  EXPECT_EQ(kMsrStride, 2u);
  EXPECT_EQ(kCountOffset, 1u);
  EXPECT_EQ(kTimerCount, 4u);
}

TEST(StimerRules, Fields) {
  const uint64_t c = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC | HV_STIMER_CONFIG_AUTO_ENABLE |
                     HV_STIMER_CONFIG_DIRECT_MODE | (uint64_t{0xAB} << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT) |
                     (uint64_t{0xC} << HV_STIMER_CONFIG_SINTX_SHIFT);
  EXPECT_TRUE(enabled(c));
  EXPECT_TRUE(periodic(c));
  EXPECT_TRUE(auto_enable(c));
  EXPECT_TRUE(direct_mode(c));
  EXPECT_EQ(apic_vector(c), 0xAB);
  EXPECT_EQ(sintx(c), 0xCu);
  EXPECT_FALSE(enabled(0) || periodic(0) || auto_enable(0) || direct_mode(0));
}

TEST(StimerRules, CheckConfig) {
  EXPECT_EQ(check_config(0, false), ConfigCheck::Ok);
  EXPECT_EQ(check_config(HV_STIMER_CONFIG_RSVDZ_MASK, true), ConfigCheck::Reserved);
  EXPECT_EQ(check_config(uint64_t{1} << 13, true), ConfigCheck::Reserved);
  EXPECT_EQ(check_config(uint64_t{1} << 63, true), ConfigCheck::Reserved);
  const uint64_t direct16 = HV_STIMER_CONFIG_DIRECT_MODE | (uint64_t{16} << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT);
  EXPECT_EQ(check_config(direct16, false), ConfigCheck::DirectUnavailable);
  EXPECT_EQ(check_config(direct16, true), ConfigCheck::Ok);
  EXPECT_EQ(check_config(HV_STIMER_CONFIG_DIRECT_MODE | (uint64_t{15} << HV_STIMER_CONFIG_APIC_VECTOR_SHIFT), true),
            ConfigCheck::DirectVector);
  // Reserved bits win over the direct checks: one answer per value.
  EXPECT_EQ(check_config(direct16 | (uint64_t{1} << 20), false), ConfigCheck::Reserved);
}

TEST(StimerRules, EnforceSint) {
  EXPECT_EQ(enforce_sint(HV_STIMER_CONFIG_ENABLE), 0u);
  const uint64_t on_sint1 = HV_STIMER_CONFIG_ENABLE | (uint64_t{1} << HV_STIMER_CONFIG_SINTX_SHIFT);
  EXPECT_EQ(enforce_sint(on_sint1), on_sint1);
  const uint64_t direct = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_DIRECT_MODE;
  EXPECT_EQ(enforce_sint(direct), direct);
  EXPECT_EQ(enforce_sint(HV_STIMER_CONFIG_PERIODIC), HV_STIMER_CONFIG_PERIODIC);
}

TEST(StimerRules, CountWrite) {
  const uint64_t sint1 = uint64_t{1} << HV_STIMER_CONFIG_SINTX_SHIFT;
  const uint64_t ae = HV_STIMER_CONFIG_AUTO_ENABLE | sint1;
  EXPECT_EQ(config_after_count_write(ae, 5), ae | HV_STIMER_CONFIG_ENABLE);
  EXPECT_EQ(config_after_count_write(ae | HV_STIMER_CONFIG_ENABLE, 0), ae);
  EXPECT_EQ(config_after_count_write(sint1, 5), sint1);
  EXPECT_EQ(config_after_count_write(sint1 | HV_STIMER_CONFIG_ENABLE, 5), sint1 | HV_STIMER_CONFIG_ENABLE);
  EXPECT_EQ(config_after_count_write(HV_STIMER_CONFIG_AUTO_ENABLE, 5), HV_STIMER_CONFIG_AUTO_ENABLE);  // SINT 0
}

TEST(StimerRules, FirstExpiration) {
  EXPECT_EQ(first_expiration(0, 100, 5000), 100u);                          // one-shot: absolute
  EXPECT_EQ(first_expiration(HV_STIMER_CONFIG_PERIODIC, 100, 5000), 5100u);  // periodic: from now
  EXPECT_EQ(first_expiration(HV_STIMER_CONFIG_PERIODIC, kMax, 5000), kNever);
  EXPECT_EQ(first_expiration(HV_STIMER_CONFIG_PERIODIC, kMax - 4999, 5000), kNever);
  EXPECT_EQ(first_expiration(HV_STIMER_CONFIG_PERIODIC, kMax - 5000, 5000), kMax);
}

TEST(StimerRules, NextPeriodicExpirationFollowsKvm) {
  // Signalled on time: one period later.
  EXPECT_EQ(next_periodic_expiration(100, 10, 100), 110u);
  // Late by less than a period: the next grid point.
  EXPECT_EQ(next_periodic_expiration(100, 10, 105), 110u);
  // Late by several periods: the first grid point after now.
  EXPECT_EQ(next_periodic_expiration(100, 10, 137), 140u);
  // Late exactly onto a grid point: the one after it (KVM: remainder 0).
  EXPECT_EQ(next_periodic_expiration(100, 10, 130), 140u);
  // Never before now, never a wrap.
  EXPECT_EQ(next_periodic_expiration(100, kMax, 200), kNever);
  EXPECT_EQ(next_periodic_expiration(kMax - 5, 10, kMax - 2), kNever);
  EXPECT_EQ(next_periodic_expiration(100, 0, 200), kNever);
  EXPECT_EQ(next_periodic_expiration(300, 10, 200), 300u);
}

TEST(StimerRules, SkippedPeriods) {
  EXPECT_EQ(skipped_periods(100, 10, 100), 0u);
  EXPECT_EQ(skipped_periods(100, 10, 109), 0u);
  EXPECT_EQ(skipped_periods(100, 10, 110), 1u);
  EXPECT_EQ(skipped_periods(100, 10, 137), 3u);
  EXPECT_EQ(skipped_periods(100, 0, 137), 0u);
  EXPECT_EQ(skipped_periods(200, 10, 100), 0u);
  // Consistent with the next expiration: every grid point in (expired,
  // next) was skipped.
  for (uint64_t now = 100; now < 200; ++now) {
    const uint64_t next = next_periodic_expiration(100, 7, now);
    EXPECT_EQ(skipped_periods(100, 7, now), (next - 100) / 7 - 1) << now;
  }
}

}  // namespace
}  // namespace enlight::stimer
