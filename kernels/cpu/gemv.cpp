// Small-M products; see gemv.h.
#include "gemv.h"

#include "math.h"

namespace mor::kernels {

void gemv_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx, const float* w,
               int64_t ldw, float beta, float* y, int64_t ldy) {
  if (M <= 0 || N <= 0) return;
  const int64_t K8 = K / 8 * 8;
#pragma omp parallel for schedule(static) if (M * N * K > 65536)
  for (int64_t n = 0; n < N; ++n) {
    const float* wn = w + n * ldw;
    v8f acc[kGemvMaxRows];
    for (int64_t m = 0; m < M; ++m) acc[m] = splat8(0.0f);
    for (int64_t k = 0; k < K8; k += 8) {
      const v8f wv = load8(wn + k);
      for (int64_t m = 0; m < M; ++m) acc[m] += load8(x + m * ldx + k) * wv;
    }
    for (int64_t m = 0; m < M; ++m) {
      float s = hsum8(acc[m]);
      for (int64_t k = K8; k < K; ++k) s += x[m * ldx + k] * wn[k];
      float* out = y + m * ldy + n;
      *out = beta == 0.0f ? alpha * s : alpha * s + beta * *out;
    }
  }
}

}  // namespace mor::kernels
