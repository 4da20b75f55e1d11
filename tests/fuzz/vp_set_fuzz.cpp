// libFuzzer target: parse_vp_set (sdk/include/enlight/vp_set.hpp) on
// guest-controlled bytes. The first two input bytes choose the set's
// offset and the control word's variable header size; the rest is the
// hypercall input. The parser must never read out of bounds (ASan), and a
// parsed sparse set must agree with an independent reading of its banks:
// every VP it yields lies in a valid bank, in ascending order, and their
// count equals the popcount of the bank words.
#include <enlight/vp_set.hpp>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t offset = data[0] % 40;
  const uint16_t var_header = data[1] % 70;
  // A copy of exactly the remaining bytes, so ASan sees any overread.
  std::vector<uint8_t> input(data + 2, data + size);
  enlight::VpSet set;
  const enlight::VpSetError err = enlight::parse_vp_set(input, offset, var_header, set);
  if (err != enlight::VpSetError::None || set.all) return 0;
  if (std::popcount(set.valid_banks) != var_header) std::abort();
  uint64_t expected = 0;
  for (int i = 0; i < std::popcount(set.valid_banks); ++i) {
    uint64_t bank;
    std::memcpy(&bank, set.banks + i * 8, 8);
    expected += static_cast<uint64_t>(std::popcount(bank));
  }
  uint64_t seen = 0;
  int64_t last = -1;
  set.for_each([&](uint32_t vp) {
    if (static_cast<int64_t>(vp) <= last || vp >= 64 * 64) std::abort();
    if (((set.valid_banks >> (vp / 64)) & 1) == 0) std::abort();
    last = vp;
    ++seen;
  });
  if (seen != expected) std::abort();
  return 0;
}
