// Random token batches for model tests (unit and multi-rank): i32 [B, T+1], ids uniform in [0, V).
#pragma once
#include "src/core/rng.h"
#include "src/core/tensor.h"

namespace mor::testing {

inline Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Tensor t = Tensor::empty({B, T + 1}, DType::I32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = int32_t(rng.below(uint64_t(V)));
  return t;
}

}  // namespace mor::testing
