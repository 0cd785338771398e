// Paged attention forward; see attention_paged.h.
#include "attention_paged.h"

#include <cmath>
#include <limits>
#include <vector>

namespace mor::kernels {

template <typename T>
void attention_forward_paged(const PagedAttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                             T* lse) {
  const int64_t group = L.hq / L.hkv, D = L.d;
  const int64_t nq = L.q_off[L.n_seq];
  // Work items: (query row, head); the sequence of each row from the offsets.
  std::vector<int64_t> seq_of(static_cast<size_t>(nq));
  int64_t keys = 0;
  for (int64_t s = 0; s < L.n_seq; ++s) {
    for (int64_t i = L.q_off[s]; i < L.q_off[s + 1]; ++i) seq_of[size_t(i)] = s;
    for (int64_t g = L.pg_off[s]; g < L.pg_off[s + 1]; ++g) keys += L.pages[2 * g + 1] * (L.q_off[s + 1] - L.q_off[s]);
  }
  const int64_t items = nq * L.hq;
#pragma omp parallel for schedule(static) if (keys * L.hq * D > 65536)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t i = it / L.hq, h = it % L.hq, hk = h / group, s = seq_of[size_t(i)];
    const T* qi = q + i * L.q_stride + h * D;
    const int32_t qp = L.q_pos[i];
    T m = -std::numeric_limits<T>::infinity(), l = 0;
    T acc[1024];  // D <= 1024 (config validation)
    for (int64_t j = 0; j < D; ++j) acc[j] = 0;
    bool done = false;
    for (int64_t g = L.pg_off[s]; g < L.pg_off[s + 1] && !done; ++g) {
      const int64_t r0 = L.pages[2 * g], r1 = r0 + L.pages[2 * g + 1];
      for (int64_t r = r0; r < r1; ++r) {
        if (L.k_pos[r] > qp) {  // positions ascend: no later key is visible either
          done = true;
          break;
        }
        const T* kr = k + r * L.k_stride + hk * D;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < D; ++j) dot += qi[j] * kr[j];
        const T sc = dot * scale;
        if (sc > m) {  // rescale what was accumulated under the old maximum
          const T c = std::exp(m - sc);
          l *= c;
#pragma omp simd
          for (int64_t j = 0; j < D; ++j) acc[j] *= c;
          m = sc;
        }
        const T w = std::exp(sc - m);
        l += w;
        const T* vr = v + r * L.v_stride + hk * D;
#pragma omp simd
        for (int64_t j = 0; j < D; ++j) acc[j] += w * vr[j];
      }
    }
    T* o = out + i * L.o_stride + h * D;
    if (l == 0) {
      for (int64_t j = 0; j < D; ++j) o[j] = 0;
      lse[i * L.hq + h] = -std::numeric_limits<T>::infinity();
      continue;
    }
    const T inv = T(1) / l;
    for (int64_t j = 0; j < D; ++j) o[j] = acc[j] * inv;
    lse[i * L.hq + h] = m + std::log(l);
  }
}

template void attention_forward_paged<float>(const PagedAttentionLayout&, float, const float*, const float*,
                                             const float*, float*, float*);
template void attention_forward_paged<double>(const PagedAttentionLayout&, double, const double*, const double*,
                                              const double*, double*, double*);

}  // namespace mor::kernels
