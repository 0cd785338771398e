// Attention kernels; see attention.h.
// Per (sequence, head, block of 64 queries): S = scale * Q K^T over the keys visible to the
// block's last query (a prefix, since positions are sorted), masked softmax per row, O = P V.
// Backward recomputes P from the saved log-sum-exp (no [T, T] activations are stored) and runs
// per (sequence, kv-head) task so that dk/dv rows have exactly one writer (deterministic).
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gemm.h"
#include "math.h"

namespace mor::kernels {
namespace {

constexpr int64_t kBlockQ = 64;

// kend[i - q0] = number of keys of the sequence visible to query i, for i in [q0, q1).
void visible_key_counts(const AttentionLayout& L, int64_t s, std::vector<int64_t>& kend) {
  int64_t q0 = L.q_off[s], q1 = L.q_off[s + 1], k0 = L.k_off[s], k1 = L.k_off[s + 1];
  kend.resize(size_t(q1 - q0));
  int64_t j = k0;
  for (int64_t i = q0; i < q1; ++i) {
    while (j < k1 && L.k_pos[j] <= L.q_pos[i]) ++j;
    kend[size_t(i - q0)] = j - k0;
  }
}

// Rows of S [bq, kmax] -> probabilities, masked beyond kend; writes lse when `lse_out`,
// otherwise uses the given lse (backward recompute).
template <typename T>
void masked_softmax_rows(int64_t bq, int64_t kmax, const int64_t* kend, T* S, T* lse_out,
                         const T* lse_in, int64_t lse_stride) {
  for (int64_t r = 0; r < bq; ++r) {
    T* row = S + r * kmax;
    int64_t n = kend[r];
    if (n == 0) {
      for (int64_t j = 0; j < kmax; ++j) row[j] = 0;
      if (lse_out) lse_out[r * lse_stride] = -std::numeric_limits<T>::infinity();
      continue;
    }
    if (lse_out) {
      const T m = max_of(n, row);
      const T sum = exp_store(n, row, m, T(1), row);
      const T inv = T(1) / sum;
      for (int64_t j = 0; j < n; ++j) row[j] *= inv;
      lse_out[r * lse_stride] = m + std::log(sum);
    } else {
      exp_store(n, row, lse_in[r * lse_stride], T(1), row);
    }
    for (int64_t j = n; j < kmax; ++j) row[j] = 0;
  }
}

// Rough work size (query rows x heads x head dim): small problems skip the parallel region.
int64_t Nq_total_work(const AttentionLayout& L) { return L.q_off[L.n_seq] * L.hq * L.d; }

}  // namespace

template <typename T>
void attention_forward(const AttentionLayout& L, T scale, const T* q, const T* k, const T* v, T* out,
                       T* lse) {
  const int64_t group = L.hq / L.hkv;
  // Task list: (sequence, query head, query block).
  struct Task { int64_t s, h, b0, b1; };
  std::vector<Task> tasks;
  for (int64_t s = 0; s < L.n_seq; ++s)
    for (int64_t h = 0; h < L.hq; ++h)
      for (int64_t b0 = L.q_off[s]; b0 < L.q_off[s + 1]; b0 += kBlockQ)
        tasks.push_back({s, h, b0, std::min(b0 + kBlockQ, L.q_off[s + 1])});
  std::vector<std::vector<int64_t>> kends(static_cast<size_t>(L.n_seq));
  for (int64_t s = 0; s < L.n_seq; ++s) visible_key_counts(L, s, kends[size_t(s)]);

  const bool parallel = Nq_total_work(L) > 32768;
#pragma omp parallel if (parallel)
  {
    std::vector<T> S;
#pragma omp for schedule(dynamic, 1)
    for (size_t t = 0; t < tasks.size(); ++t) {
      const Task& tk = tasks[t];
      const int64_t q0 = L.q_off[tk.s], k0 = L.k_off[tk.s];
      const int64_t bq = tk.b1 - tk.b0, hk = tk.h / group;
      const int64_t* kend = kends[size_t(tk.s)].data() + (tk.b0 - q0);
      const int64_t kmax = kend[bq - 1];
      T* o = out + tk.b0 * L.o_stride + tk.h * L.d;
      if (kmax == 0) {
        for (int64_t r = 0; r < bq; ++r) {
          for (int64_t j = 0; j < L.d; ++j) o[r * L.o_stride + j] = 0;
          lse[(tk.b0 + r) * L.hq + tk.h] = -std::numeric_limits<T>::infinity();
        }
        continue;
      }
      S.resize(size_t(bq * kmax));
      const T* qb = q + tk.b0 * L.q_stride + tk.h * L.d;
      const T* kb = k + k0 * L.k_stride + hk * L.d;
      const T* vb = v + k0 * L.v_stride + hk * L.d;
      gemm<T>(false, true, bq, kmax, L.d, scale, qb, L.q_stride, kb, L.k_stride, T(0), S.data(), kmax);
      masked_softmax_rows<T>(bq, kmax, kend, S.data(), lse + tk.b0 * L.hq + tk.h, nullptr, L.hq);
      gemm<T>(false, false, bq, L.d, kmax, T(1), S.data(), kmax, vb, L.v_stride, T(0), o, L.o_stride);
    }
  }
}

template <typename T>
void attention_backward(const AttentionLayout& L, T scale, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t group = L.hq / L.hkv;
  const int64_t ntasks = L.n_seq * L.hkv;
#pragma omp parallel if (Nq_total_work(L) > 32768)
  {
    std::vector<T> P, dS, Drow;
    std::vector<int64_t> kend_all;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntasks; ++task) {
      const int64_t s = task / L.hkv, hk = task % L.hkv;
      const int64_t q0 = L.q_off[s], q1 = L.q_off[s + 1], k0 = L.k_off[s];
      visible_key_counts(L, s, kend_all);
      const T* kb = k + k0 * L.k_stride + hk * L.d;
      const T* vb = v + k0 * L.v_stride + hk * L.d;
      T* dkb = dk ? dk + k0 * L.k_stride + hk * L.d : nullptr;
      T* dvb = dv ? dv + k0 * L.v_stride + hk * L.d : nullptr;
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        for (int64_t b0 = q0; b0 < q1; b0 += kBlockQ) {
          const int64_t b1 = std::min(b0 + kBlockQ, q1), bq = b1 - b0;
          const int64_t* kend = kend_all.data() + (b0 - q0);
          const int64_t kmax = kend[bq - 1];
          if (kmax == 0) continue;
          const T* qb = q + b0 * L.q_stride + h * L.d;
          const T* ob = out + b0 * L.o_stride + h * L.d;
          const T* dob = dout + b0 * L.o_stride + h * L.d;
          P.resize(size_t(bq * kmax));
          dS.resize(size_t(bq * kmax));
          Drow.resize(size_t(bq));
          gemm<T>(false, true, bq, kmax, L.d, scale, qb, L.q_stride, kb, L.k_stride, T(0), P.data(), kmax);
          masked_softmax_rows<T>(bq, kmax, kend, P.data(), nullptr, lse + b0 * L.hq + h, L.hq);
          if (dvb)  // dV[0:kmax] += P^T dO
            gemm<T>(true, false, kmax, L.d, bq, T(1), P.data(), kmax, dob, L.o_stride, T(1), dvb, L.v_stride);
          if (!dq && !dkb) continue;
          // dP = dO V^T, then dS = P * (dP - rowsum(dO * O))
          gemm<T>(false, true, bq, kmax, L.d, T(1), dob, L.o_stride, vb, L.v_stride, T(0), dS.data(), kmax);
          for (int64_t r = 0; r < bq; ++r) {
            T acc = 0;
            const T* o_r = ob + r * L.o_stride;
            const T* do_r = dob + r * L.o_stride;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < L.d; ++j) acc += o_r[j] * do_r[j];
            T* ds = dS.data() + r * kmax;
            const T* p = P.data() + r * kmax;
#pragma omp simd
            for (int64_t j = 0; j < kmax; ++j) ds[j] = p[j] * (ds[j] - acc);
          }
          if (dq)
            gemm<T>(false, false, bq, L.d, kmax, scale, dS.data(), kmax, kb, L.k_stride, T(1),
                    dq + b0 * L.q_stride + h * L.d, L.q_stride);
          if (dkb)
            gemm<T>(true, false, kmax, L.d, bq, scale, dS.data(), kmax, qb, L.q_stride, T(1), dkb, L.k_stride);
        }
      }
    }
  }
}

template void attention_forward<float>(const AttentionLayout&, float, const float*, const float*, const float*,
                                       float*, float*);
template void attention_forward<double>(const AttentionLayout&, double, const double*, const double*,
                                        const double*, double*, double*);
template void attention_backward<float>(const AttentionLayout&, float, const float*, const float*, const float*,
                                        const float*, const float*, const float*, float*, float*, float*);
template void attention_backward<double>(const AttentionLayout&, double, const double*, const double*,
                                         const double*, const double*, const double*, const double*, double*,
                                         double*, double*);

}  // namespace mor::kernels
