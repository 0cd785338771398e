// Row gather / scatter kernels over row-major [rows, d] tables with int32 row ids (rows.h on the
// CPU), and the vocabulary-shard embedding. Elementwise over n*d with 64-bit grid-stride indices.
//
// Scatter-add (ids may repeat) is deterministic and bit-identical to the CPU: the (id, i) pairs
// are sorted by id with a stable radix sort (CUB), then one block per distinct id adds its source
// rows in ascending i onto the destination row, in the CPU's order ((dst + s_i1) + s_i2) + ...
#include <cub/device/device_radix_sort.cuh>

#include <climits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels::cu {
namespace {

constexpr int32_t kSkip = INT32_MAX;  // sort key of rows that add nowhere (outside the shard)

#define MOR_GRID_STRIDE(e, total) \
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

// out [n, d] = table[ids]
template <typename T>
__global__ void gather_rows_kernel(int64_t n, int64_t d, const T* table, const int32_t* ids, T* out) {
  MOR_GRID_STRIDE(e, n * d) {
    const int64_t i = e / d, j = e - i * d;
    out[e] = table[int64_t(ids[i]) * d + j];
  }
}

// dst[ids] = src [n, d]
template <typename T>
__global__ void scatter_rows_kernel(int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst) {
  MOR_GRID_STRIDE(e, n * d) {
    const int64_t i = e / d, j = e - i * d;
    dst[int64_t(ids[i]) * d + j] = src[e];
  }
}

template <typename T>
__global__ void zero_rows_kernel(int64_t n, int64_t d, const int32_t* ids, T* x) {
  MOR_GRID_STRIDE(e, n * d) {
    const int64_t i = e / d, j = e - i * d;
    x[int64_t(ids[i]) * d + j] = T(0);
  }
}

// y [n, d]: table[ids[i] - first] for ids in [first, first + rows), else 0.
template <typename T>
__global__ void embedding_shard_kernel(int64_t n, int64_t d, const T* table, const int32_t* ids, int64_t first,
                                       int64_t rows, T* y) {
  MOR_GRID_STRIDE(e, n * d) {
    const int64_t i = e / d, j = e - i * d;
    const int64_t id = ids[i];
    y[e] = (id >= first && id < first + rows) ? table[(id - first) * d + j] : T(0);
  }
}

__global__ void iota_kernel(int64_t n, int32_t* out) {
  MOR_GRID_STRIDE(i, n) out[i] = int32_t(i);
}

// key[i] = ids[i] - first inside the shard, kSkip outside.
__global__ void shard_keys_kernel(int64_t n, const int32_t* ids, int64_t first, int64_t rows, int32_t* key) {
  MOR_GRID_STRIDE(i, n) {
    const int64_t id = ids[i];
    key[i] = (id >= first && id < first + rows) ? int32_t(id - first) : kSkip;
  }
}

// One block per segment of equal sorted keys (found at its head p): dst[key] += src[rows in order].
template <typename T>
__global__ void add_sorted_segments_kernel(int64_t n, int64_t d, const int32_t* key, const int32_t* row,
                                           const T* src, T* dst) {
  for (int64_t p = blockIdx.x; p < n; p += gridDim.x) {
    const int32_t k = key[p];
    if (k == kSkip || (p > 0 && key[p - 1] == k)) continue;  // uniform over the block
    int64_t end = p + 1;
    while (end < n && key[end] == k) ++end;
    T* out = dst + int64_t(k) * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      T acc = out[j];
      for (int64_t q = p; q < end; ++q) acc += src[int64_t(row[q]) * d + j];
      out[j] = acc;
    }
  }
}

// dst[keys[i]] += src[i] for keys[i] != kSkip, deterministic (see the file comment).
template <typename T>
void sorted_add_rows(cudaStream_t s, int64_t n, int64_t d, const T* src, const int32_t* keys, T* dst) {
  if (n <= 0 || d <= 0) return;
  if (n > INT_MAX) throw std::runtime_error("CUDA scatter_add_rows: more than 2^31 rows in one call");
  Scratch<int32_t> rows_in(n, s), keys_out(n, s), rows_out(n, s);
  launch_grid_stride("iota", n, kThreads, s, iota_kernel, n, rows_in.get());
  size_t bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, keys_out.get(), rows_in.get(), rows_out.get(), int(n),
                                        0, 32, s),
        "cub::DeviceRadixSort (size)");
  Scratch<char> temp(int64_t(bytes), s);
  check(cub::DeviceRadixSort::SortPairs(temp.get(), bytes, keys, keys_out.get(), rows_in.get(), rows_out.get(),
                                        int(n), 0, 32, s),
        "cub::DeviceRadixSort");
  const int threads = d >= 256 ? 256 : d > 64 ? 128 : 32;
  const int64_t blocks = n < (int64_t(1) << 20) ? n : (int64_t(1) << 20);
  add_sorted_segments_kernel<T><<<unsigned(blocks), threads, 0, s>>>(n, d, keys_out.get(), rows_out.get(), src, dst);
  check_launch("add_sorted_segments");
}

}  // namespace

template <typename T>
void gather_rows(Stream st, int64_t n, int64_t d, const T* table, const int32_t* ids, T* out) {
  launch_grid_stride("gather_rows", n * d, kThreads, st, gather_rows_kernel<T>, n, d, table, ids, out);
}

template <typename T>
void scatter_add_rows(Stream st, int64_t n, int64_t d, const T* dout, const int32_t* ids, T* dtable) {
  sorted_add_rows<T>(as_stream(st), n, d, dout, ids, dtable);
}

template <typename T>
void scatter_rows(Stream st, int64_t n, int64_t d, const T* src, const int32_t* ids, T* dst) {
  launch_grid_stride("scatter_rows", n * d, kThreads, st, scatter_rows_kernel<T>, n, d, src, ids, dst);
}

template <typename T>
void zero_rows(Stream st, int64_t n, int64_t d, const int32_t* ids, T* x) {
  launch_grid_stride("zero_rows", n * d, kThreads, st, zero_rows_kernel<T>, n, d, ids, x);
}

template <typename T>
void embedding_shard_forward(Stream st, int64_t n, int64_t d, const T* table, const int32_t* ids, int64_t first,
                             int64_t rows, T* y) {
  launch_grid_stride("embedding_shard_forward", n * d, kThreads, st, embedding_shard_kernel<T>, n, d, table, ids, first,
                     rows, y);
}

template <typename T>
void embedding_shard_backward(Stream st, int64_t n, int64_t d, const T* dy, const int32_t* ids, int64_t first,
                              int64_t rows, T* dtable) {
  if (n <= 0 || d <= 0) return;
  const cudaStream_t s = as_stream(st);
  Scratch<int32_t> keys(n, s);
  launch_grid_stride("shard_keys", n, kThreads, s, shard_keys_kernel, n, ids, first, rows, keys.get());
  sorted_add_rows<T>(s, n, d, dy, keys.get(), dtable);
}

#define MOR_INST(T)                                                                                              \
  template void gather_rows<T>(Stream, int64_t, int64_t, const T*, const int32_t*, T*);                          \
  template void scatter_add_rows<T>(Stream, int64_t, int64_t, const T*, const int32_t*, T*);                     \
  template void scatter_rows<T>(Stream, int64_t, int64_t, const T*, const int32_t*, T*);                         \
  template void zero_rows<T>(Stream, int64_t, int64_t, const int32_t*, T*);                                      \
  template void embedding_shard_forward<T>(Stream, int64_t, int64_t, const T*, const int32_t*, int64_t, int64_t, \
                                           T*);                                                                  \
  template void embedding_shard_backward<T>(Stream, int64_t, int64_t, const T*, const int32_t*, int64_t, int64_t, T*);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels::cu
