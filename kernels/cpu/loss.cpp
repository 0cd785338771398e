// Fused softmax cross-entropy kernel; see loss.h. One pass for the max, one that stores and sums
// the exponentials, one (optional) that scales them into the gradient in place.
#include "loss.h"

#include <cmath>

#include "math.h"

namespace mor::kernels {

template <typename T>
double softmax_xent_rows(int64_t n, int64_t V, T* logits, const int32_t* target, T grad_scale,
                         T* row_loss) {
#pragma omp parallel for schedule(static) if (n * V > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T* z = logits + i * V;
    const int32_t t = target[i];
    if (t < 0) {
      row_loss[i] = 0;
      if (grad_scale != T(0))
        for (int64_t j = 0; j < V; ++j) z[j] = 0;
      continue;
    }
    const T m = max_of(V, z);
    const T zt = z[t];
    if (grad_scale == T(0)) {
      row_loss[i] = m + std::log(exp_sum(V, z, m)) - zt;
      continue;
    }
    // One exp per element: z <- exp(z - m), then scale by grad_scale / sum (a row stays in L2).
    const T sum = exp_store(V, z, m, T(1), z);
    row_loss[i] = m + std::log(sum) - zt;
    const T c = grad_scale / sum;
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) z[j] *= c;
    z[t] -= grad_scale;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += double(row_loss[i]);
  return total;
}

template <typename T>
void xent_shard_max(int64_t n, int64_t V, const T* logits, T* row_max) {
#pragma omp parallel for schedule(static) if (n * V > 32768)
  for (int64_t i = 0; i < n; ++i) row_max[i] = max_of(V, logits + i * V);
}

template <typename T>
void xent_shard_exp(int64_t n, int64_t V, T* logits, const T* row_max, const int32_t* target, int64_t first,
                    bool store_exp, T* sum_exp, T* target_logit) {
#pragma omp parallel for schedule(static) if (n * V > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T* z = logits + i * V;
    const int64_t t = int64_t(target[i]) - first;
    target_logit[i] = t >= 0 && t < V ? z[t] : T(0);
    sum_exp[i] = store_exp ? exp_store(V, z, row_max[i], T(1), z) : exp_sum(V, z, row_max[i]);
  }
}

template <typename T>
void xent_shard_grad(int64_t n, int64_t V, T* exps, const T* sum_exp, const int32_t* target, int64_t first, T grad_scale) {
#pragma omp parallel for schedule(static) if (n * V > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T* z = exps + i * V;
    if (target[i] < 0) {
      for (int64_t j = 0; j < V; ++j) z[j] = 0;
      continue;
    }
    const T c = grad_scale / sum_exp[i];
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) z[j] *= c;
    const int64_t t = int64_t(target[i]) - first;
    if (t >= 0 && t < V) z[t] -= grad_scale;
  }
}

#define MOR_XENT_SHARD(T)                                                                                          \
  template void xent_shard_max<T>(int64_t, int64_t, const T*, T*);                                                 \
  template void xent_shard_exp<T>(int64_t, int64_t, T*, const T*, const int32_t*, int64_t, bool, T*, T*);          \
  template void xent_shard_grad<T>(int64_t, int64_t, T*, const T*, const int32_t*, int64_t, T);
MOR_XENT_SHARD(float)
MOR_XENT_SHARD(double)

template double softmax_xent_rows<float>(int64_t, int64_t, float*, const int32_t*, float, float*);
template double softmax_xent_rows<double>(int64_t, int64_t, double*, const int32_t*, double, double*);

}  // namespace mor::kernels
