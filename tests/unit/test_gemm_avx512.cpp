// Our AVX-512 f32 GEMM (kernels/cpu/gemm_avx512.h) against a double-precision product: every
// transposition, sizes that leave partial register tiles (M % 12, N % 32), K over several passes,
// strided sub-blocks, alpha and beta (beta = 0 must not read C, which holds NaN), K = 0; the result
// must not depend on the thread count, nor on whether B was packed once beforehand (SgemmPackedB).
// Skipped, with the reason, in a copy of the kernels without AVX-512 (the loader picked x86-64-v3
// or lower on this CPU).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_avx512.h"
#include "kernels/cpu/isa_level.h"
#include "src/core/rng.h"

namespace mor {
namespace {

std::vector<float> random_matrix(int64_t n, uint64_t seed) {
  Rng rng(seed, "gemm-avx512");
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = float(rng.uniform() * 2 - 1);
  return v;
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad;  // extra columns in every leading dimension (strided sub-blocks)
};

// Runs one case at `threads` threads into *out (C) and checks it against the double product.
void run_case(const Case& c, int threads, std::vector<float>* out = nullptr) {
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = (c.ta ? c.M : c.K) + c.pad;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = (c.tb ? c.K : c.N) + c.pad;
  const int64_t ldc = c.N + c.pad;
  const std::vector<float> A = random_matrix(a_rows * a_cols, 1), B = random_matrix(b_rows * b_cols, 2);
  std::vector<float> C0 = random_matrix(c.M * ldc, 3);
  if (c.beta == 0.f) C0.assign(C0.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> C = C0;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  kernels::sgemm_avx512(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), a_cols, B.data(), b_cols, c.beta, C.data(), ldc);
  omp_set_num_threads(saved);
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      if (j >= c.N) {  // padding columns are not C's: untouched
        ASSERT_TRUE(std::isnan(C0[i * ldc + j]) ? std::isnan(got) : got == C0[i * ldc + j]) << "wrote outside C at " << i << "," << j;
        continue;
      }
      double s = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = double(c.ta ? A[k * a_cols + i] : A[i * a_cols + k]) * double(c.tb ? B[j * b_cols + k] : B[k * b_cols + j]);
        s += p;
        mag += std::fabs(p);
      }
      const double want = c.alpha * s + (c.beta == 0.f ? 0.0 : c.beta * double(C0[i * ldc + j]));
      const double tol = 1e-6 * (std::fabs(c.alpha) * mag + std::fabs(c.beta) + 1);
      ASSERT_NEAR(got, want, tol) << "C[" << i << "][" << j << "] ta=" << c.ta << " tb=" << c.tb << " M=" << c.M
                                  << " N=" << c.N << " K=" << c.K;
    }
  }
  if (out) *out = C;
}

bool skip_reason(std::string* why) {
  if (kernels::sgemm_avx512_available()) return false;
  *why = std::string("this copy of the kernels (") + kernels::isa_level() + ") has no AVX-512 GEMM; OpenBLAS serves f32 GEMMs here";
  return true;
}

}  // namespace

TEST(GemmAvx512, MatchesTheDoubleProductForEveryLayout) {
  std::string why;
  if (skip_reason(&why)) GTEST_SKIP() << why;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      ASSERT_NO_FATAL_FAILURE(run_case({ta, tb, 1, 1, 1, 1.f, 0.f, 0}, 1));
      ASSERT_NO_FATAL_FAILURE(run_case({ta, tb, 13, 33, 17, 1.f, 0.f, 0}, 1));      // one row, one column past a tile
      ASSERT_NO_FATAL_FAILURE(run_case({ta, tb, 37, 70, 600, 0.5f, 0.25f, 3}, 1));  // two passes over K, strided, beta
      ASSERT_NO_FATAL_FAILURE(run_case({ta, tb, 24, 64, 1100, -1.f, 1.f, 0}, 1));   // three passes, whole tiles
      ASSERT_NO_FATAL_FAILURE(run_case({ta, tb, 11, 900, 40, 2.f, 0.f, 5}, 1));     // few rows, wide N
    }
}

TEST(GemmAvx512, ColumnBlocksAndThreadsDoNotChangeTheResult) {
  std::string why;
  if (skip_reason(&why)) GTEST_SKIP() << why;
  // N over several L2 column blocks, M over several row chunks: 1, 2 and 3 threads agree bit for bit.
  for (const Case& c : {Case{false, true, 200, 1500, 384, 1.f, 0.f, 0}, Case{true, false, 300, 64, 700, 1.f, 0.5f, 1}}) {
    std::vector<float> one, many;
    ASSERT_NO_FATAL_FAILURE(run_case(c, 1, &one));
    for (int threads : {2, 3}) {
      ASSERT_NO_FATAL_FAILURE(run_case(c, threads, &many));
      ASSERT_EQ(one.size(), many.size());
      for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], many[i]) << "element " << i << " at " << threads << " threads";
    }
  }
}

TEST(GemmAvx512, KZeroScalesCAndGemmDispatchesToIt) {
  std::string why;
  if (skip_reason(&why)) GTEST_SKIP() << why;
  std::vector<float> C = {1, 2, 3, 4};
  kernels::sgemm_avx512(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2}));
  C.assign(4, std::numeric_limits<float>::quiet_NaN());
  kernels::sgemm_avx512(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0, 0, 0, 0}));
  // Without MOR_SGEMM, gemm<float> runs on it wherever it exists (the run header says so).
  if (std::getenv("MOR_SGEMM") == nullptr) {
    EXPECT_EQ(kernels::sgemm_backend(), kernels::SgemmBackend::Avx512);
  }
}

TEST(GemmAvx512, PrePackedBGivesTheSameProductBitForBit) {
  std::string why;
  if (skip_reason(&why)) GTEST_SKIP() << why;
  // op(B) packed once (SgemmPackedB) against packed per call: every transposition, partial tiles,
  // one to three passes over K (the last one shorter), strided operands, beta, several column
  // blocks, row chunks, K = 0, 1 and 2 threads.
  const Case cases[] = {{false, false, 13, 33, 17, 1.f, 0.f, 0},   {false, true, 37, 70, 600, 0.5f, 0.25f, 3},
                        {true, false, 24, 64, 1100, -1.f, 1.f, 0}, {true, true, 11, 900, 40, 2.f, 0.f, 5},
                        {false, true, 200, 1500, 384, 1.f, 0.f, 0}, {true, true, 30, 1500, 1100, 1.f, 0.5f, 2},
                        {false, true, 200, 64, 100, 1.f, 0.f, 0},  // one column block: row chunks at 2 threads
                        {false, false, 5, 40, 0, 1.f, 0.5f, 0}};   // K = 0: C = beta C
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      const int64_t a_cols = (c.ta ? c.M : c.K) + c.pad, b_cols = (c.tb ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
      const std::vector<float> A = random_matrix((c.ta ? c.K : c.M) * a_cols, 4), B = random_matrix((c.tb ? c.N : c.K) * b_cols, 5);
      const std::vector<float> C0 = random_matrix(c.M * ldc, 6);
      std::vector<float> per_call = C0, packed = C0;
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
      kernels::sgemm_avx512(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), a_cols, B.data(), b_cols, c.beta, per_call.data(), ldc);
      const kernels::SgemmPackedB pb(c.tb, c.K, c.N, B.data(), b_cols);
      kernels::sgemm_avx512_packed(c.ta, c.M, c.alpha, A.data(), a_cols, pb, c.beta, packed.data(), ldc);
      omp_set_num_threads(saved);
      ASSERT_EQ(pb.K(), c.K);
      ASSERT_EQ(pb.N(), c.N);
      for (size_t i = 0; i < per_call.size(); ++i)
        ASSERT_EQ(std::memcmp(&per_call[i], &packed[i], sizeof(float)), 0)
            << "element " << i << ": " << per_call[i] << " vs " << packed[i] << " (ta=" << c.ta << " tb=" << c.tb << " M=" << c.M
            << " N=" << c.N << " K=" << c.K << ", " << threads << " threads)";
    }
}

}  // namespace mor
