// The order of an experiment's runs. Measured runs of all variants are
// shuffled together, so a drift of the host (thermal, another job, a page
// cache warming) lands on every variant alike instead of on whichever ran
// last; the warm-up runs come first, shuffled the same way. The seed is
// recorded with the results, so an order can be replayed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace enlight::ab {

struct ScheduledRun {
  uint32_t index = 0;    // position in the schedule, from 0
  uint32_t variant = 0;  // index into the experiment's variants
  uint32_t repetition = 0;  // per variant, from 0 (warm-ups and measured runs counted apart)
  bool warmup = false;
};

std::vector<ScheduledRun> make_schedule(uint32_t variants, uint32_t repetitions, uint32_t warmup, uint64_t seed);

}  // namespace enlight::ab
