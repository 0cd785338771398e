// Deterministic reductions: work is split into fixed-size chunks (independent of the thread
// count), each chunk reduces serially, and the chunk partials are combined in index order.
// Results are bit-identical for any number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mor::kernels {

constexpr int64_t kRowChunk = 64;

// out[j] (+)= sum_r contrib(r)[j] for j < d. `add_row(r, acc)` adds row r's contribution to acc[d].
template <typename T, typename AddRow>
void column_sum(int64_t n, int64_t d, AddRow add_row, T* out, bool accumulate) {
  int64_t nchunks = (n + kRowChunk - 1) / kRowChunk;
  std::vector<T> partial(size_t(nchunks * d), T(0));
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t c = 0; c < nchunks; ++c) {
    T* acc = partial.data() + c * d;
    int64_t end = (c + 1) * kRowChunk < n ? (c + 1) * kRowChunk : n;
    for (int64_t r = c * kRowChunk; r < end; ++r) add_row(r, acc);
  }
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t j = 0; j < d; ++j) {
    T s = T(0);
    for (int64_t c = 0; c < nchunks; ++c) s += partial[size_t(c * d + j)];
    out[j] = accumulate ? out[j] + s : s;
  }
}

// sum_i value(i) for i < n, accumulated in double.
template <typename Value>
double scalar_sum(int64_t n, Value value) {
  constexpr int64_t kChunk = 4096;
  int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(size_t(nchunks), 0.0);
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    double s = 0;
    int64_t end = (c + 1) * kChunk < n ? (c + 1) * kChunk : n;
    for (int64_t i = c * kChunk; i < end; ++i) s += double(value(i));
    partial[size_t(c)] = s;
  }
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

}  // namespace mor::kernels
