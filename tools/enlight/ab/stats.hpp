#pragma once

// Statistics for `enlight ab`. Run times of a VM configuration are skewed
// and often multi-modal (page-cache state, host noise), so the comparisons
// are rank-based and distribution-free rather than t-tests on means, and
// the effect is reported as a shift with a bootstrap interval. Samples are
// small (tens of runs per variant): everything is O(n1*n2) or better and
// favours clarity over speed.
//
// Every function rejects an empty sample and non-finite values with
// std::invalid_argument: a run that produced NaN or inf is a broken
// measurement, and NaN has no rank.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace enlight::ab {

struct Summary {
  std::size_t n;
  double median, q1, q3, iqr, min, max, mean;
};

// Quantiles are R's type 7 (Hyndman & Fan 1996), the default of R and
// NumPy, so the numbers match what a user gets re-analysing the raw data.
Summary summarize(std::span<const double> xs);

// Type-7 quantile of an ascending sample: linear interpolation between the
// order statistics at h = (n - 1) * p. p must be in [0, 1]; an unsorted
// input is rejected rather than silently giving a wrong answer.
double quantile(std::span<const double> sorted, double p);

struct RankTest {
  double u;            // U of a: pairs with a > b, ties counting 1/2
  double p_two_sided;  // capped at 1
  bool exact;          // true: permutation distribution; false: normal approx
};

// The exact distribution is used up to this combined size: the DP is
// O(n1^2 * n2^2) at worst (~2e5 steps at 30 vs 30) and the counts it adds,
// at most C(60, 30) ~ 1.2e17, still fit in uint64_t.
inline constexpr std::size_t kMannWhitneyExactMaxTotal = 60;

// Wilcoxon-Mann-Whitney rank-sum test. Exact when allow_exact is set, there
// are no ties in the pooled sample, and n1 + n2 <= kMannWhitneyExactMaxTotal;
// otherwise the normal approximation with tie and continuity correction.
// allow_exact = false forces the approximation (to check it against the
// exact value). If every value in both samples is the same, p = 1.
RankTest mann_whitney(std::span<const double> a, std::span<const double> b,
                      bool allow_exact = true);

// Cliff's delta = P(b > a) - P(b < a) over all pairs, in [-1, 1]. Positive
// means b tends to be larger than a (e.g. variant b is slower if the values
// are times). Equals 1 - 2U / (n1 n2) with U from mann_whitney(a, b).
double cliffs_delta(std::span<const double> a, std::span<const double> b);

// Hodges-Lehmann estimate of the shift from a to b: the median of all
// n1 * n2 differences b_j - a_i (positive: b is larger).
double hodges_lehmann_shift(std::span<const double> a, std::span<const double> b);

struct Interval {
  double low, high;
};

// Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) for
// median(b) - median(a), each sample resampled independently with
// replacement. Deterministic for a given seed on every platform (see Rng).
// confidence must be in (0, 1) and resamples >= 100.
Interval bootstrap_median_difference(std::span<const double> a, std::span<const double> b,
                                     double confidence, uint32_t resamples, uint64_t seed);

// Holm's step-down adjustment (Holm 1979) of p-values tested together,
// e.g. every variant against one baseline: each adjusted p can be read
// against the usual level while the chance of any false positive among them
// stays at that level. Same order as the input; each in [0, 1]. Throws
// std::invalid_argument on a value outside [0, 1] or NaN.
std::vector<double> holm_adjust(std::span<const double> p);

}  // namespace enlight::ab
