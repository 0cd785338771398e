// Top-k per sequence; see select.h. nth_element + sort: O(T) expected per sequence.
#include "select.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace mor::kernels {

template <typename T>
void topk_per_sequence(int64_t n_seq, const int64_t* off, const T* scores, const int64_t* k,
                       int32_t* out) {
  std::vector<int64_t> out_off(size_t(n_seq) + 1, 0);
  for (int64_t s = 0; s < n_seq; ++s) out_off[size_t(s) + 1] = out_off[size_t(s)] + k[s];
#pragma omp parallel for schedule(dynamic, 1) if (off[n_seq] > 4096)
  for (int64_t s = 0; s < n_seq; ++s) {
    const int64_t b = off[s], n = off[s + 1] - off[s], kk = k[s];
    std::vector<int32_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), int32_t(b));
    auto better = [&](int32_t a, int32_t c) {
      return scores[a] > scores[c] || (scores[a] == scores[c] && a < c);
    };
    if (kk < n) std::nth_element(idx.begin(), idx.begin() + kk, idx.end(), better);
    std::sort(idx.begin(), idx.begin() + kk);
    std::copy(idx.begin(), idx.begin() + kk, out + out_off[size_t(s)]);
  }
}

template void topk_per_sequence<float>(int64_t, const int64_t*, const float*, const int64_t*, int32_t*);
template void topk_per_sequence<double>(int64_t, const int64_t*, const double*, const int64_t*, int32_t*);

}  // namespace mor::kernels
