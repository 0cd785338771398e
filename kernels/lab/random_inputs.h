// Random inputs shared by the CUDA kernel lab (kernels/lab/cuda_lab.cu) and the GPU tests
// (tests/gpu/): uniform values, position ranges and ascending random subsets of positions (the
// tokens a MoR router selects). Header-only; no test framework, no CUDA.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace mor::lab {

// n values uniform in [lo, hi), from a fixed generator seeded with `seed`.
template <typename T>
std::vector<T> uniform(size_t n, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = T(u(rng));
  return v;
}

// The positions [a, b), ascending.
inline std::vector<int32_t> positions(int32_t a, int32_t b) {
  std::vector<int32_t> v;
  for (int32_t i = a; i < b; ++i) v.push_back(i);
  return v;
}

// An ascending random subset of m of the positions [0, n).
inline std::vector<int32_t> random_subset(int32_t n, int32_t m, uint32_t seed) {
  auto all = positions(0, n);
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(size_t(m));
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace mor::lab
