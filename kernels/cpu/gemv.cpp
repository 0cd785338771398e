// Small-M products; see gemv.h.
#include "gemv.h"

#include <cblas.h>

namespace mor::kernels {

void gemv_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* x, int64_t ldx, const float* w,
               int64_t ldw, float beta, float* y, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m)  // y[m, :] = alpha * w @ x[m, :] + beta * y[m, :]
    cblas_sgemv(CblasRowMajor, CblasNoTrans, int(N), int(K), alpha, w, int(ldw), x + m * ldx, 1, beta, y + m * ldy, 1);
}

}  // namespace mor::kernels
