// Sampling; see sampling.h.
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace mor {

template <typename T>
int32_t Sampler::pick(const T* z, int64_t V) {
  if (p_.temperature <= 0) return int32_t(std::max_element(z, z + V) - z);
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  const size_t keep_k = p_.top_k > 0 ? std::min<size_t>(size_t(p_.top_k), idx.size()) : idx.size();
  auto by_logit = [&](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + long(keep_k), idx.end(), by_logit);
  // Probabilities of the kept tokens at this temperature, in descending order.
  const double mx = double(z[idx[0]]);
  std::vector<double> w(keep_k);
  double total = 0;
  for (size_t k = 0; k < keep_k; ++k) total += (w[k] = std::exp((double(z[idx[k]]) - mx) / p_.temperature));
  size_t keep = keep_k;
  if (p_.top_p < 1.0) {  // the smallest prefix whose mass reaches top_p
    double mass = 0;
    for (size_t k = 0; k < keep_k; ++k) {
      mass += w[k] / total;
      if (mass >= p_.top_p) {
        keep = k + 1;
        break;
      }
    }
    total = 0;
    for (size_t k = 0; k < keep; ++k) total += w[k];
  }
  double u = rng_.uniform() * total;
  for (size_t k = 0; k < keep; ++k)
    if ((u -= w[k]) <= 0) return idx[k];
  return idx[keep - 1];
}

int32_t Sampler::next(const float* logits, int64_t V) { return pick(logits, V); }
int32_t Sampler::next(const double* logits, int64_t V) { return pick(logits, V); }

}  // namespace mor
