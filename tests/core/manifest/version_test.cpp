#include <enlight/core/manifest.hpp>

#include <gtest/gtest.h>

namespace enlight {
namespace {

TEST(Version, ParsesOneTwoOrThreeParts) {
  EXPECT_EQ(Version::parse("1"), (Version{1, 0, 0}));
  EXPECT_EQ(Version::parse("1.2"), (Version{1, 2, 0}));
  EXPECT_EQ(Version::parse("10.20.30"), (Version{10, 20, 30}));
  EXPECT_EQ(Version::parse("1.2.3").str(), "1.2.3");
}

TEST(Version, RefusesMalformedText) {
  for (const char* bad : {"", "1.", ".1", "1.2.3.4", "x", "1.x", "-1", "0x1", "1..2", "99999999999"})
    EXPECT_THROW(Version::parse(bad), std::invalid_argument) << bad;
}

TEST(Version, OrdersByMajorMinorPatch) {
  EXPECT_LT(Version::parse("1.9.9"), Version::parse("2"));
  EXPECT_LT(Version::parse("1.2.3"), Version::parse("1.2.4"));
  EXPECT_GT(Version::parse("1.10"), Version::parse("1.9"));
}

TEST(VersionRange, ConjunctionOfBounds) {
  const VersionRange r = VersionRange::parse(">=1.0 <2");
  ASSERT_EQ(r.bounds.size(), 2u);
  EXPECT_TRUE(r.contains(Version::parse("1.0.0")));
  EXPECT_TRUE(r.contains(Version::parse("1.99.7")));
  EXPECT_FALSE(r.contains(Version::parse("2.0.0")));
  EXPECT_FALSE(r.contains(Version::parse("0.9.9")));
}

TEST(VersionRange, EveryOperator) {
  const Version v = Version::parse("1.2.0");
  EXPECT_TRUE(VersionRange::parse("=1.2").contains(v));
  EXPECT_FALSE(VersionRange::parse("=1.2.1").contains(v));
  EXPECT_TRUE(VersionRange::parse(">1.1").contains(v));
  EXPECT_FALSE(VersionRange::parse(">1.2").contains(v));
  EXPECT_TRUE(VersionRange::parse("<=1.2").contains(v));
  EXPECT_FALSE(VersionRange::parse("<1.2").contains(v));
}

TEST(VersionRange, SpaceAfterOperatorAndEmptyRange) {
  EXPECT_FALSE(VersionRange::parse(">= 2.0").contains(Version::parse("1.5")));
  EXPECT_TRUE(VersionRange::parse("").contains(Version::parse("7.0.0")));
  EXPECT_TRUE(VersionRange::parse("   ").bounds.empty());
}

TEST(VersionRange, RefusesBareVersionsAndDanglingOperators) {
  for (const char* bad : {"1.0", ">=", ">= <2", ">=x", "==1.0", ">=1.0 2"})
    EXPECT_THROW(VersionRange::parse(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace enlight
