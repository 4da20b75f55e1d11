#include "ab/schedule.hpp"

#include "ab/random.hpp"

namespace enlight::ab {

std::vector<ScheduledRun> make_schedule(uint32_t variants, uint32_t repetitions, uint32_t warmup, uint64_t seed) {
  Rng rng(seed);
  std::vector<ScheduledRun> out;
  for (const bool is_warmup : {true, false}) {
    std::vector<ScheduledRun> block;
    const uint32_t per_variant = is_warmup ? warmup : repetitions;
    for (uint32_t v = 0; v < variants; ++v)
      for (uint32_t r = 0; r < per_variant; ++r) block.push_back({0, v, r, is_warmup});
    shuffle(block, rng);
    // Repetition numbers follow the order the runs happen in.
    std::vector<uint32_t> seen(variants, 0);
    for (ScheduledRun& s : block) s.repetition = seen[s.variant]++;
    out.insert(out.end(), block.begin(), block.end());
  }
  for (uint32_t i = 0; i < out.size(); ++i) out[i].index = i;
  return out;
}

}  // namespace enlight::ab
