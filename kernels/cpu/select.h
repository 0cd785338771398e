// Per-sequence top-k selection (no gradient), as MoR expert-choice routing needs it.
#pragma once
#include <cstdint>

namespace mor::kernels {

// For each sequence s (rows [off[s], off[s+1]) of `scores`), picks the k[s] rows with the largest
// score (ties: lower row first), and writes their global row numbers sorted ascending into
// out[out_off[s] .. out_off[s] + k[s]), where out_off is the prefix sum of k.
template <typename T>
void topk_per_sequence(int64_t n_seq, const int64_t* off, const T* scores, const int64_t* k,
                       int32_t* out);

}  // namespace mor::kernels
