// Next-token sampling for the inference engine: greedy (temperature 0), or temperature sampling
// restricted to the top-k tokens and/or the smallest set whose probability reaches top-p. Each
// request has its own seeded stream, so its tokens do not depend on what else is in the batch.
#pragma once
#include <cstdint>

#include "src/core/rng.h"

namespace mor {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy (argmax; the lowest id wins ties)
  int64_t top_k = 0;         // 0: no top-k truncation
  double top_p = 1.0;        // 1: no nucleus truncation
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed, "sampling") {}
  // logits [V] (f32 or f64 values) -> the next token.
  int32_t next(const float* logits, int64_t V);
  int32_t next(const double* logits, int64_t V);

 private:
  template <typename T>
  int32_t pick(const T* z, int64_t V);
  SamplingParams p_;
  Rng rng_;
};

}  // namespace mor
