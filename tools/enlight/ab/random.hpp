#pragma once

// A seeded PRNG for `enlight ab` whose output is fixed by the algorithm
// alone. The standard <random> engines are portable, but the distributions
// (std::uniform_int_distribution, std::shuffle, ...) are not: libstdc++,
// libc++ and MSVC map the same engine output to different values. An
// experiment's run order and bootstrap intervals must be reproducible from
// its seed on any machine, so everything here is spelled out.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace enlight::ab {

class Rng {
 public:
  // The seed goes through splitmix64 (Steele, Lea & Flood, "Fast Splittable
  // Pseudorandom Number Generators", OOPSLA 2014) as Blackman & Vigna
  // recommend: nearby seeds (0, 1, 2, ...) then give unrelated streams, and
  // four consecutive outputs of a bijection can't all be zero, the one state
  // xoshiro must never be in.
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }

  // xoshiro256** 1.0 (Blackman & Vigna, "Scrambled Linear Pseudorandom
  // Number Generators", ACM TOMS 2021; reference code at prng.di.unimi.it).
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n) without modulo bias: Lemire, "Fast Random Integer
  // Generation in an Interval" (ACM TOMACS 2019). The high word of next()*n
  // is the candidate; the low word tells whether it came from the short
  // final bucket, which is rejected. The threshold (2^64 mod n) costs a
  // division only on the rare path.
  uint64_t below(uint64_t n) {
    if (n == 0) throw std::invalid_argument("Rng::below: n must be > 0");
    uint64_t hi = 0;
    uint64_t lo = mul64(next(), n, hi);
    if (lo < n) {
      const uint64_t threshold = (0 - n) % n;
      while (lo < threshold) lo = mul64(next(), n, hi);
    }
    return hi;
  }

  // The top 53 bits scaled by 2^-53: every value is a multiple of 2^-53 in
  // [0, 1), so rounding never produces 1.0.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  static uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Full 64x64 -> 128-bit product; returns the low word, high word in `hi`.
  // The schoolbook fallback keeps the result identical where __int128 is
  // missing (MSVC).
  static uint64_t mul64(uint64_t a, uint64_t b, uint64_t& hi) {
#if defined(__SIZEOF_INT128__)
    const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
    hi = static_cast<uint64_t>(p >> 64);
    return static_cast<uint64_t>(p);
#else
    const uint64_t a_lo = a & 0xffffffffULL, a_hi = a >> 32;
    const uint64_t b_lo = b & 0xffffffffULL, b_hi = b >> 32;
    const uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi;
    const uint64_t hl = a_hi * b_lo, hh = a_hi * b_hi;
    const uint64_t mid = (ll >> 32) + (lh & 0xffffffffULL) + (hl & 0xffffffffULL);
    hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return (mid << 32) | (ll & 0xffffffffULL);
#endif
  }

  uint64_t s_[4];
};

// Fisher-Yates (Durstenfeld's in-place form, Knuth TAOCP vol. 2, 3.4.2
// Algorithm P), drawing each index with Rng::below so the permutation for
// a seed is the same everywhere, unlike std::shuffle.
template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.below(i));
    using std::swap;
    swap(v[i - 1], v[j]);
  }
}

}  // namespace enlight::ab
