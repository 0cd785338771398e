// The shuffled order of windows within one epoch: a bijection of [0, n) keyed by (seed, epoch).
// A 4-round Feistel network on the smallest even power of two >= n, with cycle walking (values
// >= n are permuted again until they land in range). O(1) memory and a few hash rounds per
// lookup, so any position of any epoch is computed directly (exact resume needs no replay).
#pragma once
#include <cstdint>

namespace mor::data {

class WindowPermutation {
 public:
  WindowPermutation(uint64_t n, uint64_t seed, uint64_t epoch);
  uint64_t operator()(uint64_t i) const;  // i in [0, n)

 private:
  uint64_t n_, half_bits_, mask_;
  uint64_t keys_[4];
};

}  // namespace mor::data
