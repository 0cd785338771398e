// Rotary position embedding, rotate-half form (HF Llama): for i < D/2, with
// a = pos * theta^(-2i/D):  y[i] = x[i] cos a - x[i+D/2] sin a,  y[i+D/2] = x[i+D/2] cos a + x[i] sin a.
// Positions are explicit per token, so compacted token subsets keep their original positions.
#pragma once
#include <cstdint>

namespace mor::kernels {

// x, y [n, n_heads, D]. Heads [0, n_rot) are rotated, heads [n_rot, n_heads) copied (this lets
// one call rotate q and k inside a fused qkv tensor). inverse=true rotates by -a (the backward).
// accumulate: y += result instead of y = result.
template <typename T>
void rope_apply(int64_t n, int64_t n_heads, int64_t n_rot, int64_t D, const T* x,
                const int32_t* pos, double theta, bool inverse, T* y, bool accumulate);

}  // namespace mor::kernels
