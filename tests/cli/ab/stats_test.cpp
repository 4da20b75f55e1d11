#include "ab/stats.hpp"

#include "ab/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace {

using namespace enlight::ab;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double u_statistic(const std::vector<double>& a, const std::vector<double>& b) {
  double u = 0;
  for (double x : a) {
    for (double y : b) u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  }
  return u;
}

// The exact two-sided p-value by definition: relabel the pooled sample in
// every one of the C(n1 + n2, n1) ways, and take twice the smaller tail of
// the resulting U values at the observed U (capped at 1).
double brute_force_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pooled = a;
  pooled.insert(pooled.end(), b.begin(), b.end());
  const unsigned n = static_cast<unsigned>(pooled.size());
  const double observed = u_statistic(a, b);
  uint64_t total = 0, low = 0, high = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (std::popcount(mask) != static_cast<int>(a.size())) continue;
    std::vector<double> aa, bb;
    for (unsigned i = 0; i < n; ++i) (mask >> i & 1u ? aa : bb).push_back(pooled[i]);
    const double u = u_statistic(aa, bb);
    ++total;
    low += u <= observed;
    high += u >= observed;
  }
  return std::min(1.0, 2.0 * static_cast<double>(std::min(low, high)) / static_cast<double>(total));
}

// Continuous draws, so no ties (checked by the callers that need it).
std::vector<double> draw(Rng& rng, std::size_t n, double shift) {
  std::vector<double> v(n);
  for (auto& x : v) x = shift + rng.unit() + rng.unit() + rng.unit();  // roughly bell-shaped
  return v;
}

bool has_ties(std::vector<double> a, const std::vector<double>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return std::adjacent_find(a.begin(), a.end()) != a.end();
}

// ---- quantile / summarize ------------------------------------------------

TEST(Quantile, Type7HandComputed) {
  const std::vector<double> x{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile(x, 0.25), 1.75);  // h = 0.75
  EXPECT_DOUBLE_EQ(quantile(x, 0.5), 2.5);    // h = 1.5
  EXPECT_DOUBLE_EQ(quantile(x, 0.75), 3.25);  // h = 2.25
  EXPECT_DOUBLE_EQ(quantile(x, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile(x, 1.0), 4.0);

  const std::vector<double> y{10, 20, 30};
  EXPECT_DOUBLE_EQ(quantile(y, 0.1), 12.0);  // h = 0.2
  EXPECT_DOUBLE_EQ(quantile(y, 0.5), 20.0);  // lands on an order statistic
  EXPECT_DOUBLE_EQ(quantile(y, 0.9), 28.0);  // h = 1.8
}

TEST(Quantile, RejectsBadInput) {
  const std::vector<double> x{1, 2, 3};
  EXPECT_THROW(quantile(std::span<const double>{}, 0.5), std::invalid_argument);
  EXPECT_THROW(quantile(x, -0.01), std::invalid_argument);
  EXPECT_THROW(quantile(x, 1.01), std::invalid_argument);
  EXPECT_THROW(quantile(x, kNaN), std::invalid_argument);
  EXPECT_THROW(quantile(std::vector<double>{3, 1, 2}, 0.5), std::invalid_argument);
  EXPECT_THROW(quantile(std::vector<double>{1, kNaN}, 0.5), std::invalid_argument);
}

TEST(Summarize, SmallSample) {
  const Summary s = summarize(std::vector<double>{1, 2, 3, 4});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
  EXPECT_DOUBLE_EQ(s.iqr, 1.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

TEST(Summarize, UnsortedInputWithDuplicates) {
  // Sorted: 1 1 2 3 4 5 6 9. q1: h = 1.75 -> 1 + .75*(2-1); median: h = 3.5
  // -> 3.5; q3: h = 5.25 -> 5 + .25*(6-5); mean 31/8.
  const Summary s = summarize(std::vector<double>{3, 1, 4, 1, 5, 9, 2, 6});
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.median, 3.5);
  EXPECT_DOUBLE_EQ(s.q3, 5.25);
  EXPECT_DOUBLE_EQ(s.iqr, 3.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.mean, 3.875);
}

TEST(Summarize, SingleValue) {
  const Summary s = summarize(std::vector<double>{7.25});
  EXPECT_EQ(s.n, 1u);
  EXPECT_EQ(s.median, 7.25);
  EXPECT_EQ(s.q1, 7.25);
  EXPECT_EQ(s.q3, 7.25);
  EXPECT_EQ(s.iqr, 0.0);
  EXPECT_EQ(s.min, 7.25);
  EXPECT_EQ(s.max, 7.25);
  EXPECT_EQ(s.mean, 7.25);
}

TEST(Summarize, RejectsEmptyAndNonFinite) {
  EXPECT_THROW(summarize(std::span<const double>{}), std::invalid_argument);
  EXPECT_THROW(summarize(std::vector<double>{1, kNaN}), std::invalid_argument);
  EXPECT_THROW(summarize(std::vector<double>{1, kInf}), std::invalid_argument);
}

// ---- Mann-Whitney ----------------------------------------------------------

TEST(MannWhitney, ExactMatchesBruteForce) {
  struct Case {
    std::size_t n1, n2;
    double shift;
  };
  const Case cases[] = {{4, 5, 0.0}, {3, 3, 0.0}, {3, 3, 1.0}, {4, 5, 0.8}, {1, 6, 0.3},
                        {6, 7, 0.5}, {2, 9, -0.4}, {5, 5, 0.0}, {7, 6, 1.2}};
  Rng rng(1);
  for (const Case& c : cases) {
    const auto a = draw(rng, c.n1, 0.0);
    const auto b = draw(rng, c.n2, c.shift);
    ASSERT_FALSE(has_ties(a, b));
    const RankTest t = mann_whitney(a, b);
    EXPECT_TRUE(t.exact) << c.n1 << " vs " << c.n2;
    EXPECT_EQ(t.u, u_statistic(a, b));
    EXPECT_NEAR(t.p_two_sided, brute_force_p(a, b), 1e-12) << c.n1 << " vs " << c.n2 << " U=" << t.u;
  }
}

TEST(MannWhitney, HandPickedExactValues) {
  // a = {1, 4, 6}, b = {2, 3, 5, 7}: U = 0 + 2 + 3 = 5 of 12; the 35 splits
  // enumerated by brute_force_p give the reference.
  const std::vector<double> a{1, 4, 6}, b{2, 3, 5, 7};
  const RankTest t = mann_whitney(a, b);
  EXPECT_TRUE(t.exact);
  EXPECT_EQ(t.u, 5.0);
  EXPECT_NEAR(t.p_two_sided, brute_force_p(a, b), 1e-12);
}

TEST(MannWhitney, CompletelySeparatedSamples) {
  // Only 1 of the C(10,5) = 252 splits puts all of a below b: p = 2/252.
  const std::vector<double> lo{1, 2, 3, 4, 5}, hi{6, 7, 8, 9, 10};
  RankTest t = mann_whitney(lo, hi);
  EXPECT_TRUE(t.exact);
  EXPECT_EQ(t.u, 0.0);
  EXPECT_NEAR(t.p_two_sided, 2.0 / 252.0, 1e-15);
  EXPECT_NEAR(t.p_two_sided, 0.00794, 5e-6);

  t = mann_whitney(hi, lo);
  EXPECT_EQ(t.u, 25.0);
  EXPECT_NEAR(t.p_two_sided, 2.0 / 252.0, 1e-15);

  // 3 vs 3: 2 / C(6,3) = 0.1, the smallest p a 3-vs-3 experiment can give.
  t = mann_whitney(std::vector<double>{1, 2, 3}, std::vector<double>{4, 5, 6});
  EXPECT_NEAR(t.p_two_sided, 0.1, 1e-15);
}

TEST(MannWhitney, TextbookExample) {
  // Hollander & Wolfe (1973) p. 69, the example of R's ?wilcox.test:
  // wilcox.test(x, y, alternative = "g") gives W = 35, p = 0.1272; the
  // two-sided exact p is twice that, 764/3003.
  const std::vector<double> x{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y{1.15, 0.88, 0.90, 0.74, 1.21};
  const RankTest t = mann_whitney(x, y);
  EXPECT_TRUE(t.exact);
  EXPECT_EQ(t.u, 35.0);
  EXPECT_NEAR(t.p_two_sided, 764.0 / 3003.0, 1e-12);
  EXPECT_NEAR(t.p_two_sided, 2 * 0.1272, 1e-4);
}

TEST(MannWhitney, SwappingSamplesMirrorsU) {
  Rng rng(8);
  for (bool allow_exact : {true, false}) {
    const auto a = draw(rng, 6, 0.0);
    const auto b = draw(rng, 9, 0.4);
    const RankTest ab = mann_whitney(a, b, allow_exact);
    const RankTest ba = mann_whitney(b, a, allow_exact);
    EXPECT_EQ(ab.exact, allow_exact);
    EXPECT_EQ(ba.exact, allow_exact);
    EXPECT_DOUBLE_EQ(ab.u + ba.u, 6.0 * 9.0);
    EXPECT_NEAR(ab.p_two_sided, ba.p_two_sided, 1e-12);
  }
  // With ties too.
  const std::vector<double> a{1, 2, 2, 3, 5}, b{2, 3, 4, 5, 5, 6};
  const RankTest ab = mann_whitney(a, b), ba = mann_whitney(b, a);
  EXPECT_DOUBLE_EQ(ab.u + ba.u, 30.0);
  EXPECT_NEAR(ab.p_two_sided, ba.p_two_sided, 1e-12);
}

TEST(MannWhitney, TiesUseTieCorrectedNormalApproximation) {
  // a = {1,2,2,3}, b = {2,3,4,5}. U = 0 + .5 + .5 + 1.5 = 2.5, mean 8.
  // Tie groups {2,2,2} and {3,3}: sum(t^3 - t) = 24 + 6 = 30, so
  // var = 16/12 * (9 - 30/56) = 11.2857142857; z = (5.5 - .5)/sqrt(var)
  // = 1.48835139; p = erfc(z / sqrt 2) = 0.1366582477 (by hand/calculator).
  const std::vector<double> a{1, 2, 2, 3}, b{2, 3, 4, 5};
  const RankTest t = mann_whitney(a, b);
  EXPECT_FALSE(t.exact);
  EXPECT_EQ(t.u, 2.5);
  EXPECT_NEAR(t.p_two_sided, 0.1366582477, 1e-9);
}

TEST(MannWhitney, AllValuesIdentical) {
  const std::vector<double> a{3, 3, 3}, b{3, 3};
  const RankTest t = mann_whitney(a, b);
  EXPECT_FALSE(t.exact);
  EXPECT_EQ(t.u, 3.0);  // every pair is a tie: 6 * 1/2
  EXPECT_EQ(t.p_two_sided, 1.0);
}

TEST(MannWhitney, PIsCappedAtOne) {
  // U exactly at the centre: both tails hold more than half the mass.
  RankTest t = mann_whitney(std::vector<double>{1, 4}, std::vector<double>{2, 3});
  EXPECT_TRUE(t.exact);
  EXPECT_EQ(t.u, 2.0);
  EXPECT_EQ(t.p_two_sided, 1.0);
  t = mann_whitney(std::vector<double>{1}, std::vector<double>{2});
  EXPECT_EQ(t.p_two_sided, 1.0);
  t = mann_whitney(std::vector<double>{1, 4}, std::vector<double>{2, 3}, false);
  EXPECT_EQ(t.p_two_sided, 1.0);
}

TEST(MannWhitney, NormalApproximationAgreesWithExact) {
  // At 20 vs 20 the continuity-corrected normal approximation is accurate
  // to a few thousandths over the whole range of p (largest here: 4.2e-3
  // at p = 0.51; 1.1e-3 at p = 0.028). The exact values for these draws
  // were also checked against an independent big-integer DP.
  Rng rng(20);
  for (double shift : {0.0, 0.1, 0.2, 0.3, 0.45, 0.6}) {
    const auto a = draw(rng, 20, 0.0);
    const auto b = draw(rng, 20, shift);
    ASSERT_FALSE(has_ties(a, b));
    const RankTest exact = mann_whitney(a, b);
    const RankTest normal = mann_whitney(a, b, /*allow_exact=*/false);
    ASSERT_TRUE(exact.exact);
    ASSERT_FALSE(normal.exact);
    EXPECT_EQ(exact.u, normal.u);
    EXPECT_NEAR(normal.p_two_sided, exact.p_two_sided, 0.005)
        << "shift " << shift << " U " << exact.u;
  }
}

TEST(MannWhitney, ExactLimit) {
  Rng rng(60);
  const auto a = draw(rng, 30, 0.0);
  const auto b = draw(rng, 30, 0.3);
  ASSERT_FALSE(has_ties(a, b));
  static_assert(kMannWhitneyExactMaxTotal == 60);
  const RankTest at_limit = mann_whitney(a, b);
  EXPECT_TRUE(at_limit.exact);
  // The largest DP sums to C(60, 30) ~ 1.2e17. Reference from an
  // independent big-integer DP over rank sums (Python) for U = 306.
  EXPECT_EQ(at_limit.u, 306.0);
  EXPECT_NEAR(at_limit.p_two_sided, 0.033176069497324955, 1e-12);
  EXPECT_NEAR(at_limit.p_two_sided, mann_whitney(a, b, false).p_two_sided, 0.005);

  const auto b31 = draw(rng, 31, 0.3);
  ASSERT_FALSE(has_ties(a, b31));
  EXPECT_FALSE(mann_whitney(a, b31).exact);
}

TEST(MannWhitney, RejectsEmptyAndNaN) {
  const std::vector<double> x{1, 2};
  EXPECT_THROW(mann_whitney(std::span<const double>{}, x), std::invalid_argument);
  EXPECT_THROW(mann_whitney(x, std::span<const double>{}), std::invalid_argument);
  EXPECT_THROW(mann_whitney(x, std::vector<double>{kNaN}), std::invalid_argument);
}

// ---- Cliff's delta -----------------------------------------------------------

TEST(CliffsDelta, Extremes) {
  const std::vector<double> lo{1, 2, 3}, hi{4, 5, 6, 7};
  EXPECT_EQ(cliffs_delta(lo, hi), 1.0);   // b always larger
  EXPECT_EQ(cliffs_delta(hi, lo), -1.0);  // b always smaller
  EXPECT_EQ(cliffs_delta(lo, lo), 0.0);
  EXPECT_EQ(cliffs_delta(std::vector<double>{2, 2}, std::vector<double>{2, 2, 2}), 0.0);
}

TEST(CliffsDelta, HandComputedAndConsistentWithU) {
  // a = {1,2,3}, b = {2,3,4}: b > a in 6 pairs, b < a in 1 (2 vs 3), 2 ties.
  const std::vector<double> a{1, 2, 3}, b{2, 3, 4};
  EXPECT_DOUBLE_EQ(cliffs_delta(a, b), 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(cliffs_delta(a, b), 1.0 - 2.0 * mann_whitney(a, b).u / 9.0);
  EXPECT_THROW(cliffs_delta(a, std::span<const double>{}), std::invalid_argument);
}

// ---- Hodges-Lehmann ----------------------------------------------------------

TEST(HodgesLehmann, ShiftedCopyGivesTheShift) {
  // Values in steps of 1/4 so every difference is exact in binary.
  const std::vector<double> a{1.0, 3.5, 2.25, 8.0, 4.75, 5.0, 0.5};
  std::vector<double> b = a;
  for (auto& x : b) x += 2.5;
  EXPECT_EQ(hodges_lehmann_shift(a, b), 2.5);
  EXPECT_EQ(hodges_lehmann_shift(b, a), -2.5);
}

TEST(HodgesLehmann, HandComputed) {
  // Differences b - a: 4-1, 4-2, 7-1, 7-2 = 3, 2, 6, 5 -> median 4.
  EXPECT_EQ(hodges_lehmann_shift(std::vector<double>{1, 2}, std::vector<double>{4, 7}), 4.0);
  // Odd count: 10-1, 10-2, 10-6 = 9, 8, 4 -> 8.
  EXPECT_EQ(hodges_lehmann_shift(std::vector<double>{1, 2, 6}, std::vector<double>{10}), 8.0);
  EXPECT_THROW(hodges_lehmann_shift(std::span<const double>{}, std::vector<double>{1}),
               std::invalid_argument);
}

// ---- bootstrap -----------------------------------------------------------------

TEST(Bootstrap, DeterministicForSeed) {
  Rng rng(4);
  const auto a = draw(rng, 15, 0.0);
  const auto b = draw(rng, 12, 0.5);
  const Interval i1 = bootstrap_median_difference(a, b, 0.95, 1000, 123);
  const Interval i2 = bootstrap_median_difference(a, b, 0.95, 1000, 123);
  EXPECT_EQ(i1.low, i2.low);
  EXPECT_EQ(i1.high, i2.high);
  EXPECT_LE(i1.low, i1.high);
  const Interval other = bootstrap_median_difference(a, b, 0.95, 1000, 124);
  EXPECT_TRUE(other.low != i1.low || other.high != i1.high);
}

TEST(Bootstrap, ContainsTrueShift) {
  // Both samples from the same distribution (sum of 3 uniforms, sd 0.5),
  // b shifted by 2: the interval must cover 2 and exclude 0.
  Rng rng(2718);
  const auto a = draw(rng, 30, 10.0);
  const auto b = draw(rng, 30, 12.0);
  const Interval ci = bootstrap_median_difference(a, b, 0.95, 2000, 99);
  EXPECT_LT(ci.low, 2.0);
  EXPECT_GT(ci.high, 2.0);
  EXPECT_GT(ci.low, 0.0);
  EXPECT_LT(ci.high - ci.low, 1.0);
}

TEST(Bootstrap, HigherConfidenceIsWider) {
  Rng rng(5);
  const auto a = draw(rng, 20, 0.0);
  const auto b = draw(rng, 20, 0.2);
  const Interval narrow = bootstrap_median_difference(a, b, 0.80, 1000, 7);
  const Interval wide = bootstrap_median_difference(a, b, 0.99, 1000, 7);
  EXPECT_LE(wide.low, narrow.low);
  EXPECT_GE(wide.high, narrow.high);
  EXPECT_LT(wide.low, narrow.low);  // strictly, for continuous data
}

TEST(Bootstrap, EachSampleIsResampled) {
  // With one sample constant, all the spread of the interval must come from
  // resampling the other one.
  const std::vector<double> constant(10, 5.0);
  const std::vector<double> spread{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const Interval b_varies = bootstrap_median_difference(constant, spread, 0.9, 500, 3);
  EXPECT_LT(b_varies.low, 0.5);  // median(spread) = 5.5
  EXPECT_GT(b_varies.high, 0.5);
  const Interval a_varies = bootstrap_median_difference(spread, constant, 0.9, 500, 3);
  EXPECT_LT(a_varies.low, -0.5);
  EXPECT_GT(a_varies.high, -0.5);
}

TEST(Bootstrap, ConstantSamples) {
  const std::vector<double> zeros{0, 0, 0, 0};
  Interval ci = bootstrap_median_difference(zeros, zeros, 0.95, 100, 1);
  EXPECT_EQ(ci.low, 0.0);
  EXPECT_EQ(ci.high, 0.0);
  ci = bootstrap_median_difference(std::vector<double>{1, 1, 1}, std::vector<double>{3, 3}, 0.9, 500, 1);
  EXPECT_EQ(ci.low, 2.0);
  EXPECT_EQ(ci.high, 2.0);
}

TEST(Bootstrap, ValidatesArguments) {
  const std::vector<double> x{1, 2, 3};
  EXPECT_THROW(bootstrap_median_difference(x, x, 0.0, 1000, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(x, x, 1.0, 1000, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(x, x, 1.5, 1000, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(x, x, kNaN, 1000, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(x, x, 0.95, 99, 1), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(std::span<const double>{}, x, 0.95, 1000, 1),
               std::invalid_argument);
  EXPECT_THROW(bootstrap_median_difference(x, std::vector<double>{kInf}, 0.95, 1000, 1),
               std::invalid_argument);
  EXPECT_NO_THROW(bootstrap_median_difference(x, x, 0.95, 100, 1));
}

}  // namespace

namespace {

using enlight::ab::holm_adjust;

// Holm's step-down, worked by hand: sorted p 0.01, 0.02, 0.04 get x3, x2,
// x1 = 0.03, 0.04, 0.04 (the last raised to keep the order monotone), in
// the input's order.
TEST(Holm, StepDownByHand) {
  const std::vector<double> p = {0.04, 0.01, 0.02};
  const std::vector<double> h = holm_adjust(p);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_DOUBLE_EQ(h[1], 0.03);
  EXPECT_DOUBLE_EQ(h[2], 0.04);
  EXPECT_DOUBLE_EQ(h[0], 0.04);
}

TEST(Holm, OneTestIsUnchangedAndValuesAreCapped) {
  EXPECT_EQ(holm_adjust(std::vector<double>{0.3}), std::vector<double>{0.3});
  const std::vector<double> h = holm_adjust(std::vector<double>{0.6, 0.5});
  EXPECT_DOUBLE_EQ(h[0], 1.0);
  EXPECT_DOUBLE_EQ(h[1], 1.0);
  EXPECT_TRUE(holm_adjust(std::vector<double>{}).empty());
}

TEST(Holm, NeverBelowTheRawPAndMonotoneInIt) {
  const std::vector<double> p = {0.001, 0.2, 0.03, 0.03, 0.5, 0.0002};
  const std::vector<double> h = holm_adjust(p);
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_GE(h[i], p[i]);
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[i] < p[j]) {
        EXPECT_LE(h[i], h[j]) << i << " " << j;
      }
    }
  }
  EXPECT_EQ(h[2], h[3]) << "equal p, equal adjusted p";
}

TEST(Holm, RefusesValuesThatAreNotProbabilities) {
  EXPECT_THROW(holm_adjust(std::vector<double>{0.1, 1.5}), std::invalid_argument);
  EXPECT_THROW(holm_adjust(std::vector<double>{-0.1}), std::invalid_argument);
  EXPECT_THROW(holm_adjust(std::vector<double>{std::nan("")}), std::invalid_argument);
}

}  // namespace
