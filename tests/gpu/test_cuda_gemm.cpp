// CUDA GEMM (cuBLASLt f32 with TF32 off, cuBLAS f64, the bf16 mixed-precision path) and the fused
// LM head + cross-entropy against the CPU kernels.
// Tolerances: f32 GEMM 1e-4 of max(1, |ref|) (fp32 dot products of <= 300 terms of O(1) values,
// summed in another order; TF32 off); f64 1e-10. bf16: (a) against an exact product of the
// bf16-rounded inputs, 1e-4 (the GPU must round A and B to bf16 and accumulate in fp32, nothing
// coarser), and (b) against the fp32 product, Frobenius-relative error below 1e-2 (bf16 keeps 8
// mantissa bits: ~2^-9 relative per input, averaging down over the sums). LM head: 2e-4 (GEMMs of
// d = 24, sums of exponentials over 300 columns in another order).
#include "tests/gpu/gpu_test_util.h"

#include <cstring>

namespace mor::gputest {
namespace {

// Stored shape [rows, cols] of an operand with row stride ld = cols + pad.
template <typename T>
struct Mat {
  int64_t rows, cols, ld;
  std::vector<T> h;
  Mat(int64_t r, int64_t c, int64_t pad, uint32_t seed) : rows(r), cols(c), ld(c + pad), h(uniform<T>(size_t(r * ld), seed)) {}
};

template <typename T>
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, T beta, double f32_tol) {
  const Mat<T> A(ta ? K : M, ta ? M : K, 3, 60), B(tb ? N : K, tb ? K : N, 1, 61);
  Mat<T> Cm(M, N, 2, 62);
  Dev<T> dA(A.h), dB(B.h), dC(Cm.h);
  cpu().template of<T>().gemm(nullptr, ta, tb, M, N, K, alpha, A.h.data(), A.ld, B.h.data(), B.ld, beta, Cm.h.data(),
                              Cm.ld);
  gpu().template of<T>().gemm(nullptr, ta, tb, M, N, K, alpha, dA.get(), A.ld, dB.get(), B.ld, beta, dC.get(), Cm.ld);
  expect_close(Cm.h, dC.back(), tol<T>(f32_tol),
               "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " M=" + std::to_string(M) +
                   " N=" + std::to_string(N) + " K=" + std::to_string(K));
}

TEST(CudaGemm, F32AndF64) {
  MOR_REQUIRE_GPU();
  NoTf32 exact;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm<float>(ta, tb, 37, 53, 300, 1.0f, 0.0f, 1e-4);
      check_gemm<float>(ta, tb, 5, 129, 64, 0.5f, 1.0f, 1e-4);  // few rows (decode), accumulate
      check_gemm<double>(ta, tb, 37, 53, 300, 1.0, 0.0, 0);
      check_gemm<double>(ta, tb, 5, 129, 64, -2.0, 0.5, 0);
    }
  check_gemm<float>(false, false, 7, 9, 0, 1.0f, 0.5f, 1e-6);  // K = 0: C = beta C
  check_gemm<float>(false, false, 7, 9, 0, 1.0f, 0.0f, 1e-6);
  check_gemm<double>(false, true, 7, 9, 0, 1.0, 0.0, 0);
}

// Round to bf16, nearest even (as the GPU's conversion and the CPU's gemm_bf16).
float to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

TEST(CudaGemm, Bf16MixedPrecision) {
  MOR_REQUIRE_GPU();
  const int64_t M = 96, N = 160, K = 512;  // 2 M N K above kBf16MinFlops: takes the bf16 path
  ASSERT_GE(2.0 * M * N * K, kernels::kBf16MinFlops);
  const auto A = uniform<float>(size_t(M * K), 63), B = uniform<float>(size_t(N * K), 64);  // C = A B^T
  Dev<float> dA(A), dB(B), dC(size_t(M * N));
  const kernels::GemmPrecision saved = kernels::gemm_precision();
  kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
  gpu().f32.gemm(nullptr, false, true, M, N, K, 1.0f, dA.get(), K, dB.get(), K, 0.0f, dC.get(), N);
  const auto got = dC.back();
  kernels::set_gemm_precision(saved);
  std::vector<float> rounded(size_t(M * N)), full(size_t(M * N));
  double err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double r = 0, f = 0;
      for (int64_t k = 0; k < K; ++k) {
        r += double(to_bf16(A[size_t(i * K + k)])) * double(to_bf16(B[size_t(j * K + k)]));
        f += double(A[size_t(i * K + k)]) * double(B[size_t(j * K + k)]);
      }
      rounded[size_t(i * N + j)] = float(r), full[size_t(i * N + j)] = float(f);
      const double e = double(got[size_t(i * N + j)]) - f;
      err2 += e * e, ref2 += f * f;
    }
  expect_close(rounded, got, 1e-4, "bf16 gemm vs exact product of bf16-rounded inputs");
  EXPECT_LT(std::sqrt(err2 / ref2), 1e-2) << "bf16 gemm vs fp32 product (Frobenius-relative)";
}

template <typename T>
void check_lmhead(bool keep, int64_t tile, double f32_tol) {
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  // 50 rows in blocks of 16 (the last partial), V = 300 in tiles of `tile`; some rows ignored.
  const int64_t n = 50, V = 300, d = 24, rows = 16;
  const auto h = uniform<T>(size_t(n * d), 65), w = uniform<T>(size_t(V * d), 66);
  std::vector<int32_t> target(n);
  for (int64_t i = 0; i < n; ++i) target[size_t(i)] = i % 9 == 4 ? -1 : int32_t((i * 61) % V);
  const int64_t lw = keep || tile <= 0 ? rows * V : rows * std::min(tile, V);  // lmhead_xent.h's buffer sizes
  Dev<T> dh_in(h), dw_in(w), dlogits(static_cast<size_t>(lw)), dstats(size_t(3 * rows)), ddh(size_t(n * d)), ddw(size_t(V * d)),
      dloss(1);
  Dev<int32_t> dt(target);
  std::vector<T> logits(static_cast<size_t>(lw)), stats(size_t(3 * rows)), gh(size_t(n * d)), gw(size_t(V * d)), loss(1);
  // combine: record each block's statistics (the GPU's through its device pointer).
  std::vector<std::vector<T>> seen_cpu, seen_gpu;
  kernels::LmHeadXent<T> p;
  p.n = n, p.V = V, p.d = d, p.first = 0, p.rows = rows, p.tile = tile, p.keep = keep, p.grad_scale = T(0.7);
  p.h = h.data(), p.w = w.data(), p.target = target.data(), p.logits = logits.data(), p.stats = stats.data();
  p.dh = gh.data(), p.dw = gw.data();
  p.combine = [&](int64_t m, T* s) { seen_cpu.emplace_back(s, s + 3 * m); };
  C.lmhead_xent(nullptr, p, 41.0, loss.data());
  kernels::LmHeadXent<T> g = p;
  g.h = dh_in.get(), g.w = dw_in.get(), g.target = dt.get(), g.logits = dlogits.get(), g.stats = dstats.get();
  g.dh = ddh.get(), g.dw = ddw.get();
  g.combine = [&](int64_t m, T* s) {
    std::vector<T> host(size_t(3 * m));
    cudaMemcpy(host.data(), s, host.size() * sizeof(T), cudaMemcpyDeviceToHost);
    seen_gpu.push_back(host);
  };
  G.lmhead_xent(nullptr, g, 41.0, dloss.get());
  const std::string tag = std::string(keep ? "kept" : "recomputed") + " tile=" + std::to_string(tile);
  expect_close(loss, dloss.back(), tol<T>(f32_tol), "lmhead loss " + tag);
  expect_close(gh, ddh.back(), tol<T>(f32_tol), "lmhead dh " + tag);
  expect_close(gw, ddw.back(), tol<T>(f32_tol), "lmhead dw " + tag);
  ASSERT_EQ(seen_cpu.size(), 4u);
  ASSERT_EQ(seen_gpu.size(), seen_cpu.size());
  for (size_t b = 0; b < seen_cpu.size(); ++b) expect_close(seen_cpu[b], seen_gpu[b], tol<T>(f32_tol), "combine stats " + tag);

  // Loss only (no gradient pass), no combine.
  p.grad_scale = T(0), g.grad_scale = T(0);
  p.combine = nullptr, g.combine = nullptr;
  C.lmhead_xent(nullptr, p, 1.0, loss.data());
  G.lmhead_xent(nullptr, g, 1.0, dloss.get());
  expect_close(loss, dloss.back(), tol<T>(f32_tol), "lmhead loss only " + tag);
}

TEST(CudaLmHead, BlocksTilesIgnoredRows) {
  MOR_REQUIRE_GPU();
  NoTf32 exact;
  for (bool keep : {true, false})
    for (int64_t tile : {0, 128}) {
      check_lmhead<float>(keep, tile, 2e-4);
      check_lmhead<double>(keep, tile, 0);
    }
}

}  // namespace
}  // namespace mor::gputest
