// The AVX-512 f32 GEMM: register tile, B-panel packing and blocking; see gemm_avx512.h.
#include "gemm_avx512.h"

#include <cstdlib>

#if defined(__AVX512F__)
// GCC 12 flags its own intrinsics' internal _mm512_undefined_ps() as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <memory>
#include <new>
#include <utility>
#endif

namespace mor::kernels {

#if !defined(__AVX512F__)

bool sgemm_avx512_available() { return false; }
double sgemm_avx512_tile_gflops(double) { return 0; }
void sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t) {
  std::abort();  // callers check sgemm_avx512_available()
}
SgemmPackedB::SgemmPackedB(bool, int64_t, int64_t, const float*, int64_t) { std::abort(); }
void sgemm_avx512_packed(bool, int64_t, float, const float*, int64_t, const SgemmPackedB&, float, float*, int64_t) {
  std::abort();
}

#else

namespace {

constexpr int kMR = 12;               // rows of the register tile (broadcast operand)
constexpr int kNR = 32;               // columns: two zmm vectors
constexpr int64_t kMaxKc = 512;       // depth of one pass over C
constexpr int64_t kL2Bytes = 768 << 10;  // budget for one B block [kc, nb]
constexpr int64_t kPanelsPerBlock = 8;   // A panels packed together (a transposed A reads whole lines)
constexpr int64_t kACacheBytes = 4 << 20;  // at most this much of A kept packed across column blocks

// C[0:MR', 0:32] = alpha * sum_k a[k][i] b[k][:] + beta * C over MR' = MR rows, from packed panels
// a [kc][12] and b [kc][32]; C's columns outside the masks m0 (0-15) / m1 (16-31) are left alone.
template <int MR>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, __mmask16 m0,
          __mmask16 m1) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMR;
    b += kNR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
    if (beta != 0.f) {  // beta == 0 never reads C (it may hold NaN)
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
    }
    _mm512_mask_storeu_ps(ci, m0, r0);
    _mm512_mask_storeu_ps(ci + 16, m1, r1);
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, __mmask16, __mmask16);

template <int... MR>
constexpr std::array<TileFn, sizeof...(MR)> tile_table(std::integer_sequence<int, MR...>) {
  return {&tile<MR + 1>...};
}

// The tile for a panel of `rows` (1..12) rows.
TileFn tile_fn(int rows) {
  static constexpr std::array<TileFn, kMR> table = tile_table(std::make_integer_sequence<int, kMR>());
  return table[rows - 1];
}

__mmask16 cols_mask(int cols) { return cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1); }

// In-register transpose of 16 rows of 16 floats: r[i][j] -> r[j][i].
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + j], lane L: column 4L + j of rows 4i..4i+3
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // t reused as v: rows 0-7 in t[0..8), rows 8-15 in t[8..16)
    t[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    t[8 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
  }
  for (int x = 0; x < 8; ++x) {
    r[x] = _mm512_shuffle_f32x4(t[x], t[8 + x], 0x88);
    r[8 + x] = _mm512_shuffle_f32x4(t[x], t[8 + x], 0xDD);
  }
}

// Packs columns [0, cols) (cols <= 32) of op(B) = B^T, rows [0, kc), into dst[k][32] (zeros beyond
// cols). b points at B[j0][k0]: op(B)[k][j] = b[j * ldb + k].
void pack_transposed_b(const float* b, int64_t ldb, int cols, int64_t kc, float* dst) {
  for (int half = 0; half < 2; ++half) {
    const int c0 = half * 16, n = std::clamp(cols - c0, 0, 16);
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int kn = int(std::min<int64_t>(16, kc - k0));
      const __mmask16 km = kn == 16 ? __mmask16(0xFFFF) : __mmask16((1u << kn) - 1);
      __m512 r[16];
      for (int j = 0; j < 16; ++j)
        r[j] = j < n ? _mm512_maskz_loadu_ps(km, b + (c0 + j) * ldb + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int k = 0; k < kn; ++k) _mm512_store_ps(dst + (k0 + k) * kNR + c0, r[k]);
    }
  }
}

// Packs columns [0, cols) of an untransposed op(B) = B, rows [0, kc), into dst[k][32] (zeros
// beyond cols). b points at B[k0][j0]. Rows of B a power-of-two apart would all fall into the same
// L1 sets if the tile read them in place.
void pack_b(const float* b, int64_t ldb, int cols, int64_t kc, float* dst) {
  const __mmask16 m0 = cols_mask(cols), m1 = cols_mask(std::max(cols - 16, 0));
  for (int64_t k = 0; k < kc; ++k) {
    _mm512_store_ps(dst + k * kNR, _mm512_maskz_loadu_ps(m0, b + k * ldb));
    _mm512_store_ps(dst + k * kNR + 16, _mm512_maskz_loadu_ps(m1, b + k * ldb + 16));
  }
}

// Copies an untransposed A's 12-row panel, op(A)[i][k] = a[i * lda + k] for k < kc, into
// dst[k][12] by 16 x 16 register transposes (rows beyond `rows` read as zeros).
void pack_a(const float* a, int64_t lda, int rows, int64_t kc, float* dst) {
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int kn = int(std::min<int64_t>(16, kc - k0));
    const __mmask16 km = cols_mask(kn);
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(km, a + i * lda + k0) : _mm512_setzero_ps();
    transpose16(r);
    for (int k = 0; k < kn; ++k) _mm512_mask_storeu_ps(dst + (k0 + k) * kMR, __mmask16((1u << kMR) - 1), r[k]);
  }
}

// A per-thread buffer of at least `floats` floats (64-byte aligned), grown as needed.
class PackBuffer {
 public:
  float* get(int64_t floats) {
    if (floats > size_) {
      buf_.reset();  // (the old buffer goes first: the peak is the new one alone)
      size_ = 0;
      buf_ = aligned_array<float>(size_t(floats) * sizeof(float));
      size_ = floats;
    }
    return buf_.get();
  }

 private:
  AlignedArray<float> buf_;
  int64_t size_ = 0;
};

// Copies the 12-row panels of a transposed A's block of `rows` rows (op(A)[i][k] = a[k * lda + i],
// k < kc) into dst + p * kMR * kc, each [k][12]. One k at a time for all panels, so each row of A
// is read once, in order, rather than once per panel.
void pack_transposed_a(const float* a, int64_t lda, int64_t rows, int64_t kc, float* dst) {
  const int64_t panels = (rows + kMR - 1) / kMR;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t p = 0; p < panels; ++p) {
      const __mmask16 m = cols_mask(int(std::min<int64_t>(kMR, rows - p * kMR)));
      _mm512_mask_storeu_ps(dst + p * kMR * kc + k * kMR, m, _mm512_maskz_loadu_ps(m, a + k * lda + p * kMR));
    }
}

struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  int64_t kc_max, nb;
  const float* packed_b = nullptr;  // op(B) packed whole (SgemmPackedB), else packed per block here
};

// The depth of the passes over K: equal passes of at most kMaxKc.
int64_t pass_depth(int64_t K) {
  const int64_t passes = (K + kMaxKc - 1) / kMaxKc;
  return (K + passes - 1) / passes;
}

// Packs op(B) rows [k0, k0 + kc), columns [j0, j0 + cols) into dst: ceil(cols / 32) panels [kc][32].
void pack_b_block(bool tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t cols, float* dst) {
  for (int64_t q = 0; q * kNR < cols; ++q) {
    const int n = int(std::min<int64_t>(kNR, cols - q * kNR));
    if (tb)
      pack_transposed_b(B + (j0 + q * kNR) * ldb + k0, ldb, n, kc, dst + q * kNR * kc);
    else
      pack_b(B + k0 * ldb + j0 + q * kNR, ldb, n, kc, dst + q * kNR * kc);
  }
}

// C rows [i_begin, i_end), column blocks [jb_begin, jb_end): every pass over K. With several
// column blocks and a small enough A (the LM head's forward: 512 rows of h against 99 blocks of
// the vocabulary), A's panels are packed once per pass and reused by every block, not repacked
// per block.
void run_blocks(const Problem& p, int64_t i_begin, int64_t i_end, int64_t jb_begin, int64_t jb_end) {
  thread_local PackBuffer b_buffer, a_buffer, a_cache;
  float* b_block = p.packed_b ? nullptr : b_buffer.get(p.nb * p.kc_max);
  const int64_t n_padded = (p.N + kNR - 1) / kNR * kNR;
  const int64_t rows_padded = (i_end - i_begin + kMR - 1) / kMR * kMR;
  const bool reuse_a = jb_end - jb_begin > 1 && rows_padded * p.kc_max * int64_t(sizeof(float)) <= kACacheBytes;
  float* a_all = reuse_a ? a_cache.get(rows_padded * p.kc_max + 16) : nullptr;
  float* a_block = reuse_a ? nullptr : a_buffer.get(kPanelsPerBlock * kMR * p.kc_max + 16);
  for (int64_t k0 = 0; k0 < p.K; k0 += p.kc_max) {
    const int64_t kc = std::min(p.kc_max, p.K - k0);
    const float beta = k0 == 0 ? p.beta : 1.f;
    // The A panels of rows [b0, b0 + block_rows) into dst (panel r / kMR at dst + r * kc).
    auto pack_rows = [&](int64_t b0, int64_t block_rows, float* dst) {
      if (p.ta)
        pack_transposed_a(p.A + k0 * p.lda + b0, p.lda, block_rows, kc, dst);
      else
        for (int64_t r = 0; r < block_rows; r += kMR)
          pack_a(p.A + (b0 + r) * p.lda + k0, p.lda, int(std::min<int64_t>(kMR, block_rows - r)), kc, dst + r * kc);
    };
    if (reuse_a)
      for (int64_t b0 = i_begin; b0 < i_end; b0 += kPanelsPerBlock * kMR)
        pack_rows(b0, std::min(kPanelsPerBlock * kMR, i_end - b0), a_all + (b0 - i_begin) * kc);
    for (int64_t jb = jb_begin; jb < jb_end; ++jb) {
      const int64_t j0 = jb * p.nb, nb = std::min(p.nb, p.N - j0), panels = (nb + kNR - 1) / kNR;
      // SgemmPackedB's layout: pass k0 at k0 * n_padded, its panel j0 / 32 at j0 * kc within it.
      const float* packed = p.packed_b ? p.packed_b + k0 * n_padded + j0 * kc : b_block;
      if (!p.packed_b) pack_b_block(p.tb, p.B, p.ldb, k0, kc, j0, nb, b_block);
      for (int64_t b0 = i_begin; b0 < i_end; b0 += kPanelsPerBlock * kMR) {
        const int64_t block_rows = std::min(kPanelsPerBlock * kMR, i_end - b0);
        const float* a = reuse_a ? a_all + (b0 - i_begin) * kc : a_block;
        if (!reuse_a) pack_rows(b0, block_rows, a_block);
        for (int64_t r = 0; r < block_rows; r += kMR) {
          const int rows = int(std::min<int64_t>(kMR, block_rows - r));
          float* c_row = p.C + (b0 + r) * p.ldc + j0;
          for (int64_t q = 0; q < panels; ++q) {
            const int cols = int(std::min<int64_t>(kNR, nb - q * kNR));
            const __mmask16 m0 = cols_mask(cols), m1 = cols_mask(std::max(cols - 16, 0));
            tile_fn(rows)(kc, a + r * kc, packed + q * kNR * kc, c_row + q * kNR, p.ldc, p.alpha, beta, m0, m1);
          }
        }
      }
    }
  }
}

// C = beta C, for the products with nothing to add (K = 0 or alpha = 0); true when that was all.
bool scale_only(int64_t M, int64_t N, int64_t K, float alpha, float beta, float* C, int64_t ldc) {
  if (K > 0 && alpha != 0.f) return false;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
  return true;
}

// Blocks p (M, N, K set) and runs it on the threads.
void run(Problem& p) {
  const int64_t M = p.M, N = p.N;
  p.kc_max = pass_depth(p.K);
  p.nb = std::max<int64_t>(kNR, kL2Bytes / (p.kc_max * int64_t(sizeof(float))) / kNR * kNR);
  int64_t col_blocks = (N + p.nb - 1) / p.nb;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Work for every thread with as little repacking as possible: with at least as many column
  // blocks as threads, narrower blocks so that their count is a multiple of the thread count
  // (each B element packed once); with fewer, row chunks (each packs its own copy of its B block),
  // one per thread, each at least 4 tiles tall.
  int64_t row_chunks = 1;
  if (threads > 1 && col_blocks >= threads && col_blocks % threads != 0) {
    col_blocks = (col_blocks + threads - 1) / threads * threads;
    p.nb = ((N + col_blocks - 1) / col_blocks + kNR - 1) / kNR * kNR;
    col_blocks = (N + p.nb - 1) / p.nb;
  } else if (threads > 1 && col_blocks < threads) {
    row_chunks = std::clamp<int64_t>((threads + col_blocks - 1) / col_blocks, 1, std::max<int64_t>(1, M / (4 * kMR)));
  }
  const int64_t chunk_rows = ((M + row_chunks - 1) / row_chunks + kMR - 1) / kMR * kMR;
  const int64_t tasks = col_blocks * row_chunks;
  if (threads == 1 || tasks == 1) {
    run_blocks(p, 0, M, 0, col_blocks);
    return;
  }
  std::exception_ptr error;  // (an exception may not leave the parallel region: a failed buffer allocation)
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t jb = t / row_chunks, rc = t % row_chunks;
    const int64_t i_begin = rc * chunk_rows, i_end = std::min(M, i_begin + chunk_rows);
    try {
      if (i_begin < i_end) run_blocks(p, i_begin, i_end, jb, jb + 1);
    } catch (...) {
#pragma omp critical(mor_sgemm_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

bool sgemm_avx512_available() { return true; }

double sgemm_avx512_tile_gflops(double seconds) {
  constexpr int64_t kc = 256, reps = 200;
  PackBuffer a_buf, b_buf;
  float* a = a_buf.get(kMR * kc);
  float* b = b_buf.get(kNR * kc);
  for (int64_t i = 0; i < kMR * kc; ++i) a[i] = 1e-3f * float(i % 7);
  for (int64_t i = 0; i < kNR * kc; ++i) b[i] = 1e-3f * float(i % 5);
  alignas(64) float c[kMR * kNR] = {};
  const TileFn f = tile_fn(kMR);
  double best = 0;
  const auto start = std::chrono::steady_clock::now();
  do {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < reps; ++r) f(kc, a, b, c, kNR, 1.f, 1.f, __mmask16(0xFFFF), __mmask16(0xFFFF));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * kMR * kNR * kc * reps / s / 1e9);
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
  return c[0] == c[0] ? best : 0;  // reads c so the loop is not optimised away
}

void sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || scale_only(M, N, K, alpha, beta, C, ldc)) return;
  Problem p{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0, 0};
  run(p);
}

SgemmPackedB::SgemmPackedB(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb) : K_(K), N_(N) {
  const int64_t n_padded = (N + kNR - 1) / kNR * kNR, kc_max = pass_depth(std::max<int64_t>(K, 1));
  data_ = aligned_array<float>(size_t(K * n_padded) * sizeof(float));
  const int64_t passes = (K + kc_max - 1) / kc_max, panels = n_padded / kNR;
#pragma omp parallel for collapse(2) schedule(static) if (!omp_in_parallel())
  for (int64_t pass = 0; pass < passes; ++pass)
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t k0 = pass * kc_max, kc = std::min(kc_max, K - k0);
      float* dst = data_.get() + k0 * n_padded + q * kNR * kc;
      pack_b_block(tb, B, ldb, k0, kc, q * kNR, std::min<int64_t>(kNR, N - q * kNR), dst);
    }
}

void sgemm_avx512_packed(bool ta, int64_t M, float alpha, const float* A, int64_t lda, const SgemmPackedB& B,
                         float beta, float* C, int64_t ldc) {
  const int64_t N = B.N(), K = B.K();
  if (M <= 0 || N <= 0 || scale_only(M, N, K, alpha, beta, C, ldc)) return;
  Problem p{ta, false, M, N, K, alpha, A, lda, nullptr, 0, beta, C, ldc, 0, 0, B.data()};
  run(p);
}

#endif

}  // namespace mor::kernels
