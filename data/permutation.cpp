// Feistel window permutation; see permutation.h.
#include "permutation.h"

#include "src/core/error.h"
#include "src/core/rng.h"

namespace mor::data {

WindowPermutation::WindowPermutation(uint64_t n, uint64_t seed, uint64_t epoch) : n_(n) {
  MOR_CHECK(n > 0 && n < (uint64_t(1) << 62), "permutation size ", n);
  uint64_t bits = 2;
  while ((uint64_t(1) << bits) < n) ++bits;
  bits += bits % 2;
  half_bits_ = bits / 2;
  mask_ = (uint64_t(1) << half_bits_) - 1;
  uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ (epoch + 1) * 0xbf58476d1ce4e5b9ull;
  for (auto& k : keys_) k = splitmix64(x);
}

uint64_t WindowPermutation::operator()(uint64_t i) const {
  MOR_CHECK(i < n_, "permutation index ", i, " >= ", n_);
  uint64_t x = i;
  do {  // cycle walking: the domain is at most 4n, so this takes ~4 rounds at worst on average
    uint64_t l = x >> half_bits_, r = x & mask_;
    for (uint64_t k : keys_) {
      uint64_t f = r ^ k;
      f = splitmix64(f) & mask_;
      const uint64_t next_l = r;
      r = l ^ f;
      l = next_l;
    }
    x = (l << half_bits_) | r;
  } while (x >= n_);
  return x;
}

}  // namespace mor::data
