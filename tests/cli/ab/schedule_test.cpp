// make_schedule (tools/enlight/ab/schedule.cpp): every run once, warm-ups
// first, measured runs of all variants shuffled together by the seed.
#include "ab/schedule.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using namespace enlight::ab;

struct Shape {
  uint32_t variants, repetitions, warmup;
  uint64_t seed;
};

void check_schedule(const Shape& s) {
  SCOPED_TRACE(testing::Message() << s.variants << " variants x " << s.repetitions << " reps + " << s.warmup
                                  << " warm-up, seed " << s.seed);
  const std::vector<ScheduledRun> runs = make_schedule(s.variants, s.repetitions, s.warmup, s.seed);
  ASSERT_EQ(runs.size(), static_cast<size_t>(s.variants) * (s.repetitions + s.warmup));

  const size_t warmups = static_cast<size_t>(s.variants) * s.warmup;
  std::vector<uint32_t> next_measured(s.variants, 0), next_warmup(s.variants, 0);
  for (size_t i = 0; i < runs.size(); ++i) {
    const ScheduledRun& r = runs[i];
    EXPECT_EQ(r.index, i);
    ASSERT_LT(r.variant, s.variants) << "run " << i;
    // Every warm-up comes before every measured run.
    EXPECT_EQ(r.warmup, i < warmups) << "run " << i;
    // Repetition numbers count up per variant in the order runs happen.
    std::vector<uint32_t>& next = r.warmup ? next_warmup : next_measured;
    EXPECT_EQ(r.repetition, next[r.variant]) << "run " << i;
    ++next[r.variant];
  }
  for (uint32_t v = 0; v < s.variants; ++v) {
    EXPECT_EQ(next_measured[v], s.repetitions) << "variant " << v;
    EXPECT_EQ(next_warmup[v], s.warmup) << "variant " << v;
  }
}

TEST(MakeSchedule, CountsOrderAndNumbering) {
  for (const Shape& s : {Shape{2, 10, 1, 1}, Shape{3, 10, 1, 11}, Shape{3, 8, 2, 12345}, Shape{5, 3, 3, 0},
                         Shape{2, 2, 1, UINT64_MAX}, Shape{1, 4, 1, 7}})
    check_schedule(s);
}

TEST(MakeSchedule, ZeroWarmup) {
  check_schedule({3, 10, 0, 99});
  const std::vector<ScheduledRun> runs = make_schedule(3, 10, 0, 99);
  ASSERT_EQ(runs.size(), 30u);
  for (const ScheduledRun& r : runs) EXPECT_FALSE(r.warmup);
}

bool same_order(const std::vector<ScheduledRun>& a, const std::vector<ScheduledRun>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].index != b[i].index || a[i].variant != b[i].variant || a[i].repetition != b[i].repetition ||
        a[i].warmup != b[i].warmup)
      return false;
  return true;
}

TEST(MakeSchedule, SameSeedSameSchedule) {
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xDEADBEEFull}) {
    SCOPED_TRACE(seed);
    EXPECT_TRUE(same_order(make_schedule(3, 10, 1, seed), make_schedule(3, 10, 1, seed)));
  }
}

TEST(MakeSchedule, DifferentSeedsDifferentOrder) {
  // 33 runs of 3 variants: the chance two seeds give one order is ~1e-14.
  const auto a = make_schedule(3, 10, 1, 1), b = make_schedule(3, 10, 1, 2), c = make_schedule(3, 10, 1, 3);
  EXPECT_FALSE(same_order(a, b));
  EXPECT_FALSE(same_order(a, c));
  EXPECT_FALSE(same_order(b, c));
}

TEST(MakeSchedule, MeasuredRunsAreInterleaved) {
  for (uint64_t seed : {7ull, 11ull, 2024ull}) {
    SCOPED_TRACE(seed);
    const std::vector<ScheduledRun> runs = make_schedule(3, 10, 1, seed);
    std::vector<uint32_t> variants;
    for (const ScheduledRun& r : runs)
      if (!r.warmup) variants.push_back(r.variant);
    ASSERT_EQ(variants.size(), 30u);
    // Not in blocks (all of one variant, then the next): count the changes
    // of variant along the schedule; blocks would give 2.
    int changes = 0;
    for (size_t i = 1; i < variants.size(); ++i) changes += variants[i] != variants[i - 1];
    EXPECT_GT(changes, 6) << "the runs are hardly interleaved";
    // Variant 0's runs are not all first.
    bool zero_first = true;
    for (size_t i = 0; i < 10; ++i) zero_first = zero_first && variants[i] == 0;
    EXPECT_FALSE(zero_first);
    // The first half of the schedule holds runs of every variant.
    std::vector<int> seen(3, 0);
    for (size_t i = 0; i < 15; ++i) ++seen[variants[i]];
    for (int n : seen) EXPECT_GT(n, 0);
  }
}

TEST(MakeSchedule, WarmupsAreShuffledToo) {
  // 4 variants x 3 warm-ups: some seed gives a warm-up order other than
  // variant by variant.
  bool shuffled = false;
  for (uint64_t seed = 0; seed < 8 && !shuffled; ++seed) {
    const auto runs = make_schedule(4, 2, 3, seed);
    for (size_t i = 0; i < 12; ++i) shuffled = shuffled || runs[i].variant != i / 3;
  }
  EXPECT_TRUE(shuffled);
}

TEST(MakeSchedule, EmptyWhenNothingToRun) {
  EXPECT_TRUE(make_schedule(0, 10, 1, 1).empty());
  EXPECT_TRUE(make_schedule(3, 0, 0, 1).empty());
}

}  // namespace
