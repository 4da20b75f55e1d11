#include "ab/stats.hpp"

#include "ab/random.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::ab {

namespace {

void require_sample(std::span<const double> xs, const char* what) {
  if (xs.empty()) throw std::invalid_argument(std::string(what) + ": empty sample");
  for (double x : xs) {
    if (!std::isfinite(x)) throw std::invalid_argument(std::string(what) + ": non-finite value");
  }
}

// Type 7 on a sorted, already validated sample.
double quantile_sorted(std::span<const double> xs, double p) {
  const double h = static_cast<double>(xs.size() - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, xs.size() - 1);
  const double frac = h - static_cast<double>(lo);
  // Returning the order statistic itself when it's hit keeps e.g. the
  // median of {x} exactly x instead of x + 0 * (...).
  if (frac == 0.0 || xs[lo] == xs[hi]) return xs[lo];
  return xs[lo] + frac * (xs[hi] - xs[lo]);
}

double median_of(std::vector<double>& scratch) {
  std::sort(scratch.begin(), scratch.end());
  return quantile_sorted(scratch, 0.5);
}

// Number of arrangements of n1 a's and n2 b's, indexed by U of a, by the
// recurrence of Mann & Whitney (1947): the largest observation is either an
// a, which beats all n b's (U += n), or a b, which adds nothing. Only the
// previous row of m is kept.
std::vector<uint64_t> exact_u_counts(std::size_t n1, std::size_t n2) {
  std::vector<std::vector<uint64_t>> prev(n2 + 1), cur(n2 + 1);
  for (auto& row : prev) row.assign(1, 1);  // m = 0: only U = 0
  for (std::size_t m = 1; m <= n1; ++m) {
    cur[0].assign(1, 1);
    for (std::size_t n = 1; n <= n2; ++n) {
      cur[n].assign(m * n + 1, 0);
      const auto& a_last = prev[n];     // f(m-1, n, .), max U (m-1)*n
      const auto& b_last = cur[n - 1];  // f(m, n-1, .), max U m*(n-1)
      for (std::size_t u = 0; u < b_last.size(); ++u) cur[n][u] += b_last[u];
      for (std::size_t u = 0; u < a_last.size(); ++u) cur[n][u + n] += a_last[u];
    }
    std::swap(prev, cur);
  }
  return prev[n2];
}

}  // namespace

double quantile(std::span<const double> sorted, double p) {
  require_sample(sorted, "quantile");
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument("quantile: p must be in [0, 1]");
  if (!std::is_sorted(sorted.begin(), sorted.end()))
    throw std::invalid_argument("quantile: sample is not sorted");
  return quantile_sorted(sorted, p);
}

Summary summarize(std::span<const double> xs) {
  require_sample(xs, "summarize");
  std::vector<double> s(xs.begin(), xs.end());
  std::sort(s.begin(), s.end());
  Summary r{};
  r.n = s.size();
  r.median = quantile_sorted(s, 0.5);
  r.q1 = quantile_sorted(s, 0.25);
  r.q3 = quantile_sorted(s, 0.75);
  r.iqr = r.q3 - r.q1;
  r.min = s.front();
  r.max = s.back();
  r.mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
  return r;
}

RankTest mann_whitney(std::span<const double> a, std::span<const double> b, bool allow_exact) {
  require_sample(a, "mann_whitney");
  require_sample(b, "mann_whitney");
  const std::size_t n1 = a.size(), n2 = b.size(), total = n1 + n2;

  // Counting pairs directly (rather than via rank sums) gives U exactly,
  // with ties as halves, and n1*n2 is small here.
  double u = 0;
  for (double x : a) {
    for (double y : b) u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  }

  std::vector<double> pooled(a.begin(), a.end());
  pooled.insert(pooled.end(), b.begin(), b.end());
  std::sort(pooled.begin(), pooled.end());
  double tie_sum = 0;  // sum of t^3 - t over tie groups of size t
  for (std::size_t i = 0; i < total;) {
    std::size_t j = i;
    while (j < total && pooled[j] == pooled[i]) ++j;
    const auto t = static_cast<double>(j - i);
    tie_sum += t * t * t - t;
    i = j;
  }

  const double n1d = static_cast<double>(n1), n2d = static_cast<double>(n2);
  const double nd = static_cast<double>(total);

  // The exact null distribution assumes every split of distinct ranks is
  // equally likely; with ties the pooled ranks aren't 1..N, so ties go to
  // the normal path.
  if (allow_exact && tie_sum == 0 && total <= kMannWhitneyExactMaxTotal) {
    const auto counts = exact_u_counts(n1, n2);
    const auto k = static_cast<std::size_t>(u);  // integral without ties
    uint64_t all = 0, at_most = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      all += counts[i];
      if (i <= k) at_most += counts[i];
    }
    const uint64_t at_least = all - at_most + counts[k];
    // Two-sided as twice the smaller tail, as R's wilcox.test does; the
    // null distribution is symmetric about n1*n2/2, so this is also the
    // probability of a U at least as far from the centre.
    const double p = 2.0 * static_cast<double>(std::min(at_most, at_least)) / static_cast<double>(all);
    return {u, std::min(1.0, p), true};
  }

  // Normal approximation with the tie-corrected variance
  //   n1 n2 / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1)))
  // and a continuity correction of 1/2 (Hollander & Wolfe, Nonparametric
  // Statistical Methods, 2nd ed., sec. 4.1; same as R's wilcox.test).
  const double mean = n1d * n2d / 2.0;
  const double var = n1d * n2d / 12.0 * ((nd + 1.0) - tie_sum / (nd * (nd - 1.0)));
  // Zero variance: every value is the same, so nothing separates a from b.
  if (!(var > 0.0)) return {u, 1.0, false};
  const double z = std::max(0.0, std::fabs(u - mean) - 0.5) / std::sqrt(var);
  const double p = std::erfc(z / std::sqrt(2.0));  // 2 * (1 - Phi(z))
  return {u, std::min(1.0, p), false};
}

double cliffs_delta(std::span<const double> a, std::span<const double> b) {
  require_sample(a, "cliffs_delta");
  require_sample(b, "cliffs_delta");
  // Cliff (1993), "Dominance statistics: ordinal analyses to answer ordinal
  // questions"; oriented b-versus-a so its sign agrees with the shift.
  long long dominance = 0;
  for (double x : a) {
    for (double y : b) dominance += (y > x) - (y < x);
  }
  return static_cast<double>(dominance) / (static_cast<double>(a.size()) * static_cast<double>(b.size()));
}

double hodges_lehmann_shift(std::span<const double> a, std::span<const double> b) {
  require_sample(a, "hodges_lehmann_shift");
  require_sample(b, "hodges_lehmann_shift");
  // Hodges & Lehmann (1963): the shift estimate that inverts the rank-sum
  // test, so it is robust in the same way the p-value is.
  std::vector<double> diffs;
  diffs.reserve(a.size() * b.size());
  for (double x : a) {
    for (double y : b) diffs.push_back(y - x);
  }
  return median_of(diffs);
}

Interval bootstrap_median_difference(std::span<const double> a, std::span<const double> b,
                                     double confidence, uint32_t resamples, uint64_t seed) {
  require_sample(a, "bootstrap_median_difference");
  require_sample(b, "bootstrap_median_difference");
  if (!(confidence > 0.0 && confidence < 1.0))
    throw std::invalid_argument("bootstrap_median_difference: confidence must be in (0, 1)");
  // Fewer resamples than this leave the tail percentiles resting on a
  // handful of values.
  if (resamples < 100)
    throw std::invalid_argument("bootstrap_median_difference: resamples must be >= 100");

  // The two samples are independent runs, so each is resampled on its own
  // (a two-sample bootstrap); drawing a then b from one stream keeps the
  // result a function of the seed alone.
  Rng rng(seed);
  std::vector<double> ra(a.size()), rb(b.size()), diffs;
  diffs.reserve(resamples);
  for (uint32_t r = 0; r < resamples; ++r) {
    for (auto& x : ra) x = a[static_cast<std::size_t>(rng.below(a.size()))];
    for (auto& y : rb) y = b[static_cast<std::size_t>(rng.below(b.size()))];
    diffs.push_back(median_of(rb) - median_of(ra));
  }
  std::sort(diffs.begin(), diffs.end());
  const double alpha = 1.0 - confidence;
  return {quantile_sorted(diffs, alpha / 2.0), quantile_sorted(diffs, 1.0 - alpha / 2.0)};
}

std::vector<double> holm_adjust(std::span<const double> p) {
  for (double v : p)
    if (!(v >= 0.0 && v <= 1.0)) throw std::invalid_argument("holm_adjust: a p-value outside [0, 1]");
  const std::size_t m = p.size();
  std::vector<std::size_t> order(m);
  for (std::size_t i = 0; i < m; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> out(m);
  double running = 0.0;  // adjusted values never decrease along the sorted order
  for (std::size_t k = 0; k < m; ++k) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - k) * p[order[k]]));
    out[order[k]] = running;
  }
  return out;
}

}  // namespace enlight::ab
