// bf16 GEMMs (train.precision: bf16): gemm<float> under GemmPrecision::BF16 must equal the exact
// product of the bf16-rounded operands (f32 accumulation error only) for every transposition,
// strided operands, alpha and beta; GEMMs below the size threshold stay f32; the LM head's reuse
// of rounded operands and its weight in oneDNN's blocked layout (Bf16PackedB) change nothing but
// the summation order. Skipped, with the reason, where the CPU or the build has no bf16 matmul.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/lmhead_xent.h"
#include "src/core/bf16.h"
#include "src/core/rng.h"

namespace mor {
namespace {

struct PrecisionScope {  // restores f32 GEMMs when a test ends
  explicit PrecisionScope(kernels::GemmPrecision p) { kernels::set_gemm_precision(p); }
  ~PrecisionScope() { kernels::set_gemm_precision(kernels::GemmPrecision::F32); }
};

std::vector<float> random_matrix(int64_t n, uint64_t seed) {
  Rng rng(seed, "gemm-bf16");
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = float(rng.uniform() * 2 - 1);
  return v;
}

float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// One fused LM head + cross-entropy over h [n, d], w [V, d] and targets [n] (gradient scale 1/n),
// cut as `cut` sets rows, tile, keep, first, reuse_bf16 and combine; buffers sized for that cut.
template <typename T>
struct LmHeadOut {
  double loss = 0;
  std::vector<T> dh, dw;
};
template <typename T>
LmHeadOut<T> run_lmhead(const std::vector<T>& h, const std::vector<T>& w, const std::vector<int32_t>& target,
                        int64_t d, const std::function<void(kernels::LmHeadXent<T>&)>& cut) {
  kernels::LmHeadXent<T> p;
  p.n = int64_t(target.size()), p.V = int64_t(w.size()) / d, p.d = d;
  p.h = h.data(), p.w = w.data(), p.target = target.data();
  cut(p);
  const bool one_tile = p.tile <= 0 || p.tile >= p.V;
  std::vector<T> logits(size_t(p.rows * (p.keep || one_tile ? p.V : p.tile))), stats(size_t(3 * p.rows));
  LmHeadOut<T> o;
  o.dh.assign(size_t(p.n * d), T(0)), o.dw.assign(size_t(p.V * d), T(0));
  p.logits = logits.data(), p.stats = stats.data(), p.grad_scale = T(1) / T(p.n);
  p.dh = o.dh.data(), p.dw = o.dw.data();
  o.loss = kernels::lmhead_xent(p);
  return o;
}

// C = alpha * op(A) op(B) + beta * C0 in double; `rounded` rounds A and B to bf16 first.
std::vector<double> reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const std::vector<float>& A,
                              int64_t lda, const std::vector<float>& B, int64_t ldb, double beta,
                              const std::vector<float>& C0, int64_t ldc, bool rounded) {
  auto r = [&](float x) { return double(rounded ? round_bf16(x) : x); };
  std::vector<double> C(C0.begin(), C0.end());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += r(ta ? A[k * lda + i] : A[i * lda + k]) * r(tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * s + beta * C0[i * ldc + j];
    }
  return C;
}

// got == want up to f32 summation order: every element within 1e-5 of want's largest magnitude.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * scale) << what << ", element " << i;
}

}  // namespace

TEST(GemmBf16, EqualsTheProductOfRoundedOperands) {
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  PrecisionScope bf16(kernels::GemmPrecision::BF16);
  const int64_t M = 96, N = 80, K = 160, pad = 7;  // 2*M*N*K above kBf16MinFlops
  ASSERT_GE(2.0 * M * N * K, kernels::kBf16MinFlops);
  uint64_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, {0.5f, 1.0f}, {2.0f, -0.75f}}) {
        const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        const std::vector<float> A = random_matrix((ta ? K : M) * lda, seed++), B = random_matrix((tb ? N : K) * ldb, seed++);
        std::vector<float> C = random_matrix(M * ldc, seed++);
        const std::vector<float> C0 = C;
        kernels::gemm<float>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        const auto exact = reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, true);
        const auto unrounded = reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, false);
        double worst = 0, rounding = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            worst = std::max(worst, std::abs(C[i * ldc + j] - exact[i * ldc + j]));
            rounding = std::max(rounding, std::abs(exact[i * ldc + j] - unrounded[i * ldc + j]));
          }
        // f32 accumulation of K products of size <= 1: a few 1e-6; bf16 rounding of the inputs
        // (what this test must see, proving bf16 ran) is orders larger.
        EXPECT_LT(worst, 2e-4) << "ta=" << ta << " tb=" << tb << " alpha=" << alpha << " beta=" << beta;
        EXPECT_GT(rounding, 1e-3) << "the inputs' bf16 rounding should be visible";
        for (int64_t j = N; j < ldc; ++j) EXPECT_EQ(C[j], C0[j]) << "padding of row 0 was written";
      }
}

TEST(GemmBf16, SmallGemmsStayF32) {
  PrecisionScope bf16(kernels::GemmPrecision::BF16);
  const int64_t M = 8, N = 8, K = 64;
  ASSERT_LT(2.0 * M * N * K, kernels::kBf16MinFlops);
  const std::vector<float> A = random_matrix(M * K, 11), B = random_matrix(K * N, 12);
  std::vector<float> C(size_t(M * N), 0.0f);
  kernels::gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
  const auto exact = reference(false, false, M, N, K, 1.0, A, K, B, N, 0.0, std::vector<float>(C.size(), 0.0f), N, false);
  for (size_t i = 0; i < C.size(); ++i) EXPECT_NEAR(C[i], exact[i], 1e-5);
}

// The LM head under bf16 rounds its weight once per call and each block's h and gradient tile once
// for all their GEMMs; that must give exactly what rounding per GEMM gives (loss, dh, dw bit for
// bit), across blocks of rows, vocabulary tiles (one partial), kept and recomputed logits and
// ignored rows -- and not what f32 gives (bf16 really ran).
TEST(GemmBf16, LmHeadReusesRoundedOperands) {
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  const int64_t n = 96, V = 700, d = 48;
  const std::vector<float> h = random_matrix(n * d, 21), w = random_matrix(V * d, 22);
  std::vector<int32_t> target(n);
  for (int64_t i = 0; i < n; ++i) target[size_t(i)] = i % 9 == 4 ? -1 : int32_t((i * 37) % V);
  using Out = LmHeadOut<float>;
  // Blocks of 40 rows run their GEMMs in bf16 (the partial tile too); the last block, of 16 rows,
  // stays below kBf16MinFlops and f32 on both paths.
  ASSERT_GE(2.0 * 40 * (V - 512) * d, kernels::kBf16MinFlops);
  ASSERT_LT(2.0 * 16 * 256 * d, kernels::kBf16MinFlops);
  int64_t tile = 0;
  auto run = [&](bool keep, bool reuse, kernels::GemmPrecision precision) -> Out {
    PrecisionScope scope(precision);
    return run_lmhead<float>(h, w, target, d, [&](kernels::LmHeadXent<float>& p) {
      p.rows = 40, p.tile = tile, p.keep = keep, p.reuse_bf16 = reuse;
    });
  };
  // Tiles of 256 (the partial one too): exactly the per-call path. One tile over the whole
  // vocabulary, whose weight goes to oneDNN's blocked layouts once per call (that those run blocked
  // on this CPU is BlockedWeightEqualsThePlainProduct's check): the same up to summation order.
  for (int64_t t : {256, 0})
    for (bool keep : {true, false}) {
      tile = t;
      const Out reused = run(keep, true, kernels::GemmPrecision::BF16), per_call = run(keep, false, kernels::GemmPrecision::BF16);
      const Out f32 = run(keep, true, kernels::GemmPrecision::F32);
      if (t > 0) {  // the same rounded operands through the same matmuls: bit for bit
        EXPECT_EQ(reused.loss, per_call.loss) << "keep=" << keep << " tile=" << t;
        EXPECT_EQ(reused.dh, per_call.dh) << "keep=" << keep << " tile=" << t;
        EXPECT_EQ(reused.dw, per_call.dw) << "keep=" << keep << " tile=" << t;
      } else {  // the blocked weight may be summed in another order
        EXPECT_NEAR(reused.loss, per_call.loss, 1e-5 * std::fabs(per_call.loss)) << "keep=" << keep;
        expect_close(reused.dh, per_call.dh, "dh");
        expect_close(reused.dw, per_call.dw, "dw");
      }
      EXPECT_NE(reused.dw, f32.dw) << "bf16 should round (keep=" << keep << " tile=" << t << ")";
      EXPECT_NEAR(reused.loss, f32.loss, 1e-2 * n) << "keep=" << keep << " tile=" << t;
    }
}

// With one shard and the block's logits kept in one tile, the LM head runs both passes row by row
// (each row's statistics, then its gradient while the row is in cache); a combine hook, even one
// that changes nothing, makes it run them as two passes over the block. Same bits either way: f32
// and double, f32 and (where there is a bf16 GEMM) bf16 GEMMs; a vocabulary of several 2048-column
// chunks, a shard that does not start at 0 (targets outside it), ignored rows, blocks big enough
// for the parallel row loop and a partial last block.
template <typename T>
void expect_row_by_row_equals_two_passes(kernels::GemmPrecision precision) {
  const int64_t n = 70, V = 4500, d = 32, first = 5;
  std::vector<T> h(size_t(n * d)), w(size_t(V * d));
  const std::vector<float> hf = random_matrix(n * d, 41), wf = random_matrix(V * d, 42);
  std::copy(hf.begin(), hf.end(), h.begin());
  std::copy(wf.begin(), wf.end(), w.begin());
  std::vector<int32_t> target(n);  // ids of the full vocabulary [0, V + 10); this shard holds [5, V + 5)
  for (int64_t i = 0; i < n; ++i) target[size_t(i)] = i % 7 == 3 ? -1 : int32_t((i * 997) % (V + 10));
  PrecisionScope scope(precision);
  using Out = LmHeadOut<T>;
  auto run = [&](bool two_passes) {
    return run_lmhead<T>(h, w, target, d, [&](kernels::LmHeadXent<T>& p) {
      p.first = first;
      p.rows = 32;  // blocks of 32, 32 and 6 rows; 32 x 4500 logits run the row loop in parallel
      if (two_passes) p.combine = [](int64_t, T*) {};
    });
  };
  const Out rows = run(false), passes = run(true);
  EXPECT_EQ(rows.loss, passes.loss);
  EXPECT_EQ(rows.dh, passes.dh);
  EXPECT_EQ(rows.dw, passes.dw);
  EXPECT_NE(rows.dh, std::vector<T>(size_t(n * d), T(0))) << "the gradient was computed";
}

TEST(GemmBf16, LmHeadRowByRowPassesEqualTheTwoPasses) {
  expect_row_by_row_equals_two_passes<float>(kernels::GemmPrecision::F32);
  expect_row_by_row_equals_two_passes<double>(kernels::GemmPrecision::F32);
  if (kernels::bf16_gemm_unavailable_reason().empty())
    expect_row_by_row_equals_two_passes<float>(kernels::GemmPrecision::BF16);
}

// Under bf16 the LM head's gradient rows go from the logits to bf16 through 2048-column chunks;
// that must equal rounding each f32 gradient row (the per-call path, reuse_bf16 = false) bit for
// bit: vocabulary tiles of 2200 columns (two chunks, the second partial) and a short last tile,
// logits kept and recomputed.
TEST(GemmBf16, LmHeadGradientRowsInChunksEqualRoundingTheRow) {
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  const int64_t n = 40, V = 4500, d = 32;
  const std::vector<float> h = random_matrix(n * d, 51), w = random_matrix(V * d, 52);
  std::vector<int32_t> target(n);
  for (int64_t i = 0; i < n; ++i) target[size_t(i)] = i % 5 == 2 ? -1 : int32_t((i * 1237) % V);
  PrecisionScope scope(kernels::GemmPrecision::BF16);
  for (bool keep : {true, false}) {
    auto run = [&](bool reuse) {
      return run_lmhead<float>(h, w, target, d, [&](kernels::LmHeadXent<float>& p) {
        p.rows = 20, p.tile = 2200, p.keep = keep, p.reuse_bf16 = reuse;
      });
    };
    const LmHeadOut<float> chunks = run(true), rows = run(false);
    EXPECT_EQ(chunks.loss, rows.loss) << "keep=" << keep;
    EXPECT_EQ(chunks.dh, rows.dh) << "keep=" << keep;
    EXPECT_EQ(chunks.dw, rows.dw) << "keep=" << keep;
  }
}

TEST(GemmBf16, BlockedWeightEqualsThePlainProduct) {
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  // The LM head's two uses of its weight w [V, d]: logits h w^T (B = w^T) and dh = g w (B = w),
  // on the blocked layout; then with a strided C, beta and another row count than the layout was
  // chosen for (where oneDNN may fall back to the plain B); a new weight, a new row count and a
  // larger shape through the same object. The same rounded operands: equal to the plain product up
  // to f32 summation order.
  const int64_t V = 1000, d = 64;
  std::vector<uint16_t> w16, h16, g16;
  kernels::round_to_bf16(random_matrix(V * d, 31).data(), V, d, d, w16);
  for (bool trans_b : {true, false}) {
    const int64_t K = trans_b ? d : V, N = trans_b ? V : d;
    kernels::Bf16PackedB packed;
    packed.pack(trans_b, K, N, w16.data(), 48);
    for (int64_t M : {48, 20}) {
      kernels::round_to_bf16(random_matrix(M * K, 32 + M).data(), M, K, K, h16);
      const int64_t ldc = M == 48 ? N : N + 3;  // a strided C has no blocked kernel: the plain product
      const float beta = M == 48 ? 0.f : 0.5f;
      std::vector<float> plain = random_matrix(M * ldc, 33), blocked = plain;
      kernels::gemm_bf16_rounded(false, trans_b, M, N, K, 1.f, h16.data(), w16.data(), beta, plain.data(), ldc);
      packed.gemm(false, M, 1.f, h16.data(), beta, blocked.data(), ldc);
      expect_close(blocked, plain, "trans_b=" + std::to_string(trans_b) + " M=" + std::to_string(M));
      if (M == 48) {
        EXPECT_TRUE(packed.runs_blocked(false, M, ldc, 1.f, beta)) << "trans_b=" << trans_b;
      }
    }
    // A new weight through the same object (the next step's): reordered again.
    std::vector<uint16_t> w2(w16.size());
    for (size_t i = 0; i < w2.size(); ++i) w2[i] = w16[(i * 7 + 3) % w16.size()];
    packed.pack(trans_b, K, N, w2.data(), 48);
    std::vector<float> plain(size_t(48 * N)), blocked(size_t(48 * N));
    kernels::round_to_bf16(random_matrix(48 * K, 34).data(), 48, K, K, h16);
    kernels::gemm_bf16_rounded(false, trans_b, 48, N, K, 1.f, h16.data(), w2.data(), 0.f, plain.data(), N);
    packed.gemm(false, 48, 1.f, h16.data(), 0.f, blocked.data(), N);
    expect_close(blocked, plain, "repacked, trans_b=" + std::to_string(trans_b));
  }
  // The same object chooses its layout again for another row count and for a larger weight.
  kernels::Bf16PackedB packed;
  for (const auto& [rows, m_hint] : {std::pair<int64_t, int64_t>{300, 48}, {300, 20}, {1000, 64}}) {
    const int64_t K = d, N = rows;  // logits-like: op(B) = w^T of a [rows, d] weight
    std::vector<uint16_t> w(size_t(rows * d)), a;
    for (size_t i = 0; i < w.size(); ++i) w[i] = w16[(i * 5 + 1) % w16.size()];
    packed.pack(true, K, N, w.data(), m_hint);
    kernels::round_to_bf16(random_matrix(m_hint * K, 35).data(), m_hint, K, K, a);
    std::vector<float> plain(size_t(m_hint * N)), blocked(size_t(m_hint * N));
    kernels::gemm_bf16_rounded(false, true, m_hint, N, K, 1.f, a.data(), w.data(), 0.f, plain.data(), N);
    packed.gemm(false, m_hint, 1.f, a.data(), 0.f, blocked.data(), N);
    expect_close(blocked, plain, "re-chosen layout, rows=" + std::to_string(rows) + " m=" + std::to_string(m_hint));
  }
}

TEST(GemmBf16, ConstantScopeRoundsAWeightOncePerScope) {
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no bf16 GEMM here: " << why;
  PrecisionScope bf16(kernels::GemmPrecision::BF16);
  // An "arena" holding a weight W [N, K]; y = x W^T (W read transposed) and dx = dy W (W plain).
  const int64_t M = 64, N = 96, K = 128;
  std::vector<float> arena = random_matrix(N * K + 32, 41), outside = random_matrix(N * K, 42);
  float* W = arena.data() + 16;
  const std::vector<float> x = random_matrix(M * K, 43), dy = random_matrix(M * N, 44);
  auto fwd = [&](const float* w) {
    std::vector<float> y(size_t(M * N));
    kernels::gemm<float>(false, true, M, N, K, 1.f, x.data(), K, w, K, 0.f, y.data(), N);
    return y;
  };
  auto dx = [&](const float* w) {
    std::vector<float> g(size_t(M * K));
    kernels::gemm<float>(false, false, M, K, N, 1.f, dy.data(), N, w, K, 0.f, g.data(), K);
    return g;
  };
  const std::vector<float> y0 = fwd(W), g0 = dx(W);  // no scope: rounded per call
  std::vector<float> y1, g1;
  {
    kernels::Bf16ConstantScope scope(arena.data(), arena.data() + arena.size());
    y1 = fwd(W), g1 = dx(W);
    expect_close(y1, y0, "forward in a scope");
    expect_close(g1, g0, "input gradient in a scope");
    for (int64_t i = 0; i < N * K; ++i) W[i] *= 2;  // breaks the scope's promise: the copies are kept
    EXPECT_EQ(fwd(W), y1);
    EXPECT_EQ(dx(W), g1);
    // B outside the range is rounded per call, as without a scope.
    const std::vector<float> o = fwd(outside.data());
    for (float& v : outside) v *= 2;
    EXPECT_NE(fwd(outside.data()), o);
  }
  std::vector<float> y_doubled = fwd(W);  // no scope: the doubled weight
  for (size_t i = 0; i < y0.size(); ++i) EXPECT_NEAR(y_doubled[i], 2 * y0[i], 1e-5 + 1e-5 * std::fabs(y0[i]));
  {
    kernels::Bf16ConstantScope scope(arena.data(), arena.data() + arena.size());  // a new step: rounded again
    expect_close(fwd(W), y_doubled, "forward in the next scope");
  }
}

}  // namespace mor
