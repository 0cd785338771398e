// Routing kernels (select.h and the integer entries of the kernel table), no gradients:
//   topk_per_sequence  one block per sequence: radix select of the k-th largest score (8-bit
//                      digits over an order-preserving unsigned key, -0 folded onto +0 so that
//                      equal scores tie as on the CPU), then an in-order compaction that takes
//                      every row above the threshold and the lowest-numbered rows equal to it
//                      (ties: lower row first); rows come out ascending at out[sum of k before s].
//   token_depth        one thread per row: first argmax of p + bias in double.
//   depth_counts       one block per sequence, shared-memory histogram of the depths.
//   split_by_depth     one block, chunked in-order scans (stable partition).
//   set_rows_one, gather_i32, iota_i32: elementwise.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/token_depth_rule.h"

namespace mor::kernels::cu {
namespace {

#define MOR_GRID_STRIDE(e, total) \
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

// Unsigned keys ordered like the scores (larger score -> larger key; -0 == +0).
__device__ __forceinline__ uint32_t order_key(float x) {
  if (x == 0.0f) x = 0.0f;
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ uint64_t order_key(double x) {
  if (x == 0.0) x = 0.0;
  const uint64_t u = uint64_t(__double_as_longlong(x));
  return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
}

constexpr int kSelectThreads = 512;

template <typename T>
__global__ void __launch_bounds__(kSelectThreads) topk_kernel(int64_t n_seq, const int64_t* off, const T* scores,
                                                               const int64_t* kk, int32_t* out) {
  using Key = decltype(order_key(T(0)));
  constexpr int kBits = int(sizeof(Key)) * 8;
  __shared__ unsigned hist[256];
  __shared__ long long sh_ll[32];
  __shared__ int sh_i[32];
  __shared__ Key s_prefix;
  __shared__ long long s_want;
  const int tid = threadIdx.x;
  for (int64_t s = blockIdx.x; s < n_seq; s += gridDim.x) {
    const int64_t b = off[s], e = off[s + 1], k = kk[s];
    long long o = 0;  // this sequence's first output slot: sum of k before it
    for (int64_t q = tid; q < s; q += kSelectThreads) o += kk[q];
    o = block_sum(o, sh_ll);
    if (k <= 0) continue;  // uniform over the block

    // Radix select: the k-th largest key (prefix) and how many rows equal to it to take (want).
    Key prefix = 0, mask = 0;
    long long want = k;
    for (int shift = kBits - 8; shift >= 0; shift -= 8) {
      for (int i = tid; i < 256; i += kSelectThreads) hist[i] = 0;
      __syncthreads();
      for (int64_t r = b + tid; r < e; r += kSelectThreads) {
        const Key key = order_key(scores[r]);
        if ((key & mask) == prefix) atomicAdd(&hist[int((key >> shift) & Key(255))], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        long long above = 0;
        int digit = 0;
        for (int dg = 255; dg >= 0; --dg) {
          if (above + hist[dg] >= want) {
            digit = dg;
            break;
          }
          above += hist[dg];
        }
        s_want = want - above;
        s_prefix = prefix | (Key(digit) << shift);
      }
      __syncthreads();
      want = s_want;
      prefix = s_prefix;
      mask |= Key(255) << shift;
      __syncthreads();  // all have read s_want / s_prefix before the next pass
    }

    // In-order compaction: rows above the threshold, and the first `want` rows equal to it.
    long long eq_seen = 0, written = 0;
    for (int64_t c0 = b; c0 < e; c0 += kSelectThreads) {
      const int64_t r = c0 + tid;
      const bool valid = r < e;
      const Key key = valid ? order_key(scores[r]) : Key(0);
      const int eq = (valid && key == prefix) ? 1 : 0;
      int eq_total = 0;
      const int eq_incl = block_inclusive_scan(eq, sh_i, &eq_total);
      const int sel = (valid && (key > prefix || (eq && eq_seen + eq_incl - 1 < want))) ? 1 : 0;
      int sel_total = 0;
      const int sel_incl = block_inclusive_scan(sel, sh_i, &sel_total);
      if (sel) out[o + written + sel_incl - 1] = int32_t(r);
      eq_seen += eq_total;
      written += sel_total;
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void token_depth_kernel(int64_t n, int64_t nr, const T* p, const T* bias, bool all_deepest,
                                   int32_t* depth, int32_t* gate_index) {
  MOR_GRID_STRIDE(t, n) {
    const int32_t best = token_depth_of(p + t * nr, bias, nr, all_deepest);
    depth[t] = best;
    gate_index[t] = int32_t(t * nr + best);
  }
}

template <typename T>
__global__ void set_rows_one_kernel(int64_t m, const int32_t* idx, T* y) {
  MOR_GRID_STRIDE(i, m) y[idx[i]] = T(1);
}

__global__ void gather_i32_kernel(int64_t n, const int32_t* table, const int32_t* idx, int32_t* out) {
  MOR_GRID_STRIDE(i, n) out[i] = table[idx[i]];
}

__global__ void scatter_i32_kernel(int64_t n, const int32_t* src, const int32_t* idx, int32_t* out) {
  MOR_GRID_STRIDE(i, n) out[idx[i]] = src[i];
}

__global__ void iota_i32_kernel(int64_t n, int32_t* out) {
  MOR_GRID_STRIDE(i, n) out[i] = int32_t(i);
}

constexpr int kCountBins = 1024;

// counts [n_seq, nr]: one block per sequence, depths counted kCountBins at a time.
__global__ void depth_counts_kernel(int64_t n_seq, const int64_t* off, int64_t nr, const int32_t* depth,
                                    int64_t* counts) {
  __shared__ unsigned long long bins[kCountBins];
  for (int64_t s = blockIdx.x; s < n_seq; s += gridDim.x) {
    for (int64_t j0 = 0; j0 < nr; j0 += kCountBins) {
      for (int j = threadIdx.x; j < kCountBins; j += blockDim.x) bins[j] = 0;
      __syncthreads();
      for (int64_t i = off[s] + threadIdx.x; i < off[s + 1]; i += blockDim.x) {
        const int64_t dj = int64_t(depth[i]) - j0;
        if (dj >= 0 && dj < kCountBins) atomicAdd(&bins[dj], 1ull);
      }
      __syncthreads();
      for (int64_t j = threadIdx.x; j < kCountBins && j0 + j < nr; j += blockDim.x)
        counts[s * nr + j0 + j] = int64_t(bins[j]);
      __syncthreads();
    }
  }
}

constexpr int kSplitThreads = 1024;

// Stable partition of 0..n-1 by depth == r, one block, in chunks of kSplitThreads rows.
__global__ void __launch_bounds__(kSplitThreads) split_by_depth_kernel(int64_t n, const int32_t* depth, int32_t r,
                                                                        int32_t* exits, int32_t* stays) {
  __shared__ int sh[32];
  int64_t exit_base = 0, stay_base = 0;
  const int tid = threadIdx.x;
  for (int64_t c0 = 0; c0 < n; c0 += kSplitThreads) {
    const int64_t i = c0 + tid;
    const bool valid = i < n;
    const int ex = (valid && depth[i] == r) ? 1 : 0;
    int ex_total = 0;
    const int ex_incl = block_inclusive_scan(ex, sh, &ex_total);
    if (ex) exits[exit_base + ex_incl - 1] = int32_t(i);
    else if (valid) stays[stay_base + tid - ex_incl] = int32_t(i);  // non-exits at or before tid, minus one
    const int64_t chunk = n - c0 < kSplitThreads ? n - c0 : kSplitThreads;
    exit_base += ex_total;
    stay_base += chunk - ex_total;
  }
}

}  // namespace

template <typename T>
void topk_per_sequence(Stream st, int64_t n_seq, const int64_t* off, const T* scores, const int64_t* k,
                       int32_t* out) {
  if (n_seq <= 0) return;
  const unsigned blocks = unsigned(n_seq < 65535 ? n_seq : 65535);
  topk_kernel<T><<<blocks, kSelectThreads, 0, as_stream(st)>>>(n_seq, off, scores, k, out);
  check_launch("topk_per_sequence");
}

template <typename T>
void token_depth(Stream st, int64_t n, int64_t nr, const T* p, const T* bias, bool all_deepest, int32_t* depth,
                 int32_t* gate_index) {
  if (n <= 0) return;
  token_depth_kernel<T><<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, nr, p, bias, all_deepest, depth, gate_index);
  check_launch("token_depth");
}

template <typename T>
void set_rows_one(Stream st, int64_t m, const int32_t* idx, T* y) {
  if (m <= 0) return;
  set_rows_one_kernel<T><<<grid_for(m), kThreads, 0, as_stream(st)>>>(m, idx, y);
  check_launch("set_rows_one");
}

void gather_i32(Stream st, int64_t n, const int32_t* table, const int32_t* idx, int32_t* out) {
  if (n <= 0) return;
  gather_i32_kernel<<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, table, idx, out);
  check_launch("gather_i32");
}

void scatter_i32(Stream st, int64_t n, const int32_t* src, const int32_t* idx, int32_t* out) {
  if (n <= 0) return;
  scatter_i32_kernel<<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, src, idx, out);
  check_launch("scatter_i32");
}

void iota_i32(Stream st, int64_t n, int32_t* out) {
  if (n <= 0) return;
  iota_i32_kernel<<<grid_for(n), kThreads, 0, as_stream(st)>>>(n, out);
  check_launch("iota_i32");
}

void depth_counts(Stream st, int64_t n_seq, const int64_t* off, int64_t nr, const int32_t* depth, int64_t* counts) {
  if (n_seq <= 0 || nr <= 0) return;
  const unsigned blocks = unsigned(n_seq < 65535 ? n_seq : 65535);
  depth_counts_kernel<<<blocks, kThreads, 0, as_stream(st)>>>(n_seq, off, nr, depth, counts);
  check_launch("depth_counts");
}

void split_by_depth(Stream st, int64_t n, const int32_t* depth, int32_t r, int32_t* exits, int32_t* stays) {
  if (n <= 0) return;
  split_by_depth_kernel<<<1, kSplitThreads, 0, as_stream(st)>>>(n, depth, r, exits, stays);
  check_launch("split_by_depth");
}

#define MOR_INST(T)                                                                                          \
  template void topk_per_sequence<T>(Stream, int64_t, const int64_t*, const T*, const int64_t*, int32_t*);   \
  template void token_depth<T>(Stream, int64_t, int64_t, const T*, const T*, bool, int32_t*, int32_t*);      \
  template void set_rows_one<T>(Stream, int64_t, const int32_t*, T*);
MOR_INST(float)
MOR_INST(double)

}  // namespace mor::kernels::cu
