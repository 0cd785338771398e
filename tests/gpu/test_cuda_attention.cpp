// CUDA attention (forward, backward, paged forward) against the CPU kernels on packed layouts:
// plain causal rows with an empty sequence, GQA, q/k/v as head slices of one fused tensor (and
// fused gradients), MoR's compacted token subsets with non-contiguous positions, KV sharing
// (queries a subset, keys the full sequence: Nk != Nq), queries that see no key (out 0, lse
// -inf), head sizes 16 / 40 / 128 / 200 (every D-chunk variant), f32 and f64. Whole output buffers
// are compared, padding included, so a write out of bounds shows. Tolerance: 2e-4 of max(1, |ref|)
// in f32 (dot products of <= 200 terms and sums over <= 300 keys or queries in another order),
// 1e-10 in f64.
// The bf16 tensor-core variant (kernels/cuda/attention_tc.h; the table's f32 entries with the
// switch on under the bf16 GEMM precision) on the same layouts at head sizes 64 and 128, against
// the CPU in fp32: tolerance 1e-2 of max(1, |ref|) (bf16-rounded Q, K, V, dO and P, fp32
// accumulation; the expected error is ~1e-3), plus bitwise determinism of its backward and the
// fp32 fallback for other head sizes.
#include "tests/gpu/gpu_test_util.h"

#include <algorithm>
#include <optional>

#include "kernels/cuda/attention_tc.h"

namespace mor::gputest {
namespace {

// A packed layout on the host: per sequence, query and key positions (ascending).
struct Layout {
  std::vector<int64_t> q_off{0}, k_off{0};
  std::vector<int32_t> q_pos, k_pos;
  int64_t hq = 1, hkv = 1, d = 16;
  void add(const std::vector<int32_t>& qp, const std::vector<int32_t>& kp) {
    q_pos.insert(q_pos.end(), qp.begin(), qp.end());
    k_pos.insert(k_pos.end(), kp.begin(), kp.end());
    q_off.push_back(q_off.back() + int64_t(qp.size()));
    k_off.push_back(k_off.back() + int64_t(kp.size()));
  }
  int64_t nq() const { return q_off.back(); }
  int64_t nk() const { return k_off.back(); }
};

using lab::positions;
using lab::random_subset;

// The tensor-core attention for the scope (the switch on, the bf16 GEMM precision); restored after.
struct TensorCoreAttention {
  kernels::GemmPrecision before = kernels::gemm_precision();
  TensorCoreAttention() {
    kernels::set_cuda_attention_tc(true);
    kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
  }
  ~TensorCoreAttention() {
    kernels::set_cuda_attention_tc(false);
    kernels::set_gemm_precision(before);
  }
};

// The CUDA entries run with the tensor-core variant when `tc` (the CPU reference stays fp32).
template <typename T>
void check_attention(const Layout& H, bool fused, double f32_tol, const std::string& name, bool tc = false) {
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t D = H.d, nq = H.nq(), nk = H.nk();
  kernels::AttentionLayout L;
  L.n_seq = int64_t(H.q_off.size()) - 1;
  L.hq = H.hq, L.hkv = H.hkv, L.d = D;
  // q/k/v: one fused [rows, hq + 2 hkv heads] tensor (needs nq == nk), or separate padded ones.
  int64_t q_at = 0, k_at = 0, v_at = 0;
  if (fused) {
    L.q_stride = L.k_stride = L.v_stride = (H.hq + 2 * H.hkv) * D;
    k_at = H.hq * D, v_at = (H.hq + H.hkv) * D;
  } else {
    L.q_stride = H.hq * D + 3, L.k_stride = H.hkv * D + 1, L.v_stride = H.hkv * D + 7;
  }
  L.o_stride = H.hq * D + 5;
  const size_t q_len = size_t(std::max<int64_t>(nq, 1) * L.q_stride), k_len = size_t(std::max<int64_t>(nk, 1) * L.k_stride),
               v_len = size_t(std::max<int64_t>(nk, 1) * L.v_stride), o_len = size_t(std::max<int64_t>(nq, 1) * L.o_stride);
  const auto qb = uniform<T>(q_len, 40), kb = fused ? qb : uniform<T>(k_len, 41), vb = fused ? qb : uniform<T>(v_len, 42);
  const T scale = T(1) / std::sqrt(T(D));
  Dev<T> dqb(qb), dkb(kb), dvb(vb);
  Dev<int64_t> dq_off(H.q_off), dk_off(H.k_off);
  Dev<int32_t> dq_pos(H.q_pos), dk_pos(H.k_pos);
  kernels::AttentionLayout LC = L, LG = L;
  LC.q_off = H.q_off.data(), LC.k_off = H.k_off.data(), LC.q_pos = H.q_pos.data(), LC.k_pos = H.k_pos.data();
  LG.q_off = dq_off.get(), LG.k_off = dk_off.get(), LG.q_pos = dq_pos.get(), LG.k_pos = dk_pos.get();

  auto out = uniform<T>(o_len, 43);
  std::vector<T> lse(size_t(nq * H.hq));
  Dev<T> dout(out), dlse(lse.size());
  C.attention_forward(nullptr, LC, scale, qb.data() + q_at, kb.data() + k_at, vb.data() + v_at, out.data(), lse.data());
  {
    std::optional<TensorCoreAttention> on;
    if (tc) on.emplace();
    G.attention_forward(nullptr, LG, scale, dqb.get() + q_at, dkb.get() + k_at, dvb.get() + v_at, dout.get(),
                        dlse.get());
  }
  expect_close(out, dout.back(), tol<T>(f32_tol), name + ": out (whole buffer, padding included)");
  expect_close(lse, dlse.back(), tol<T>(f32_tol), name + ": lse");

  // Backward with accumulation into non-zero gradients; then with dq only and dk/dv only.
  const auto go = uniform<T>(o_len, 44);
  Dev<T> dgo(go);
  for (int which = 0; which < 3; ++which) {
    const bool want_q = which != 2, want_kv = which != 1;
    auto gq = uniform<T>(q_len, 45), gk = fused ? gq : uniform<T>(k_len, 46), gv = fused ? gq : uniform<T>(v_len, 47);
    Dev<T> dgq(gq), dgk(gk), dgv(gv);
    T* cq = want_q ? gq.data() + q_at : nullptr;
    T* ck = want_kv ? (fused ? gq.data() : gk.data()) + k_at : nullptr;
    T* cv = want_kv ? (fused ? gq.data() : gv.data()) + v_at : nullptr;
    T* xq = want_q ? dgq.get() + q_at : nullptr;
    T* xk = want_kv ? (fused ? dgq.get() : dgk.get()) + k_at : nullptr;
    T* xv = want_kv ? (fused ? dgq.get() : dgv.get()) + v_at : nullptr;
    C.attention_backward(nullptr, LC, scale, qb.data() + q_at, kb.data() + k_at, vb.data() + v_at, out.data(),
                         lse.data(), go.data(), cq, ck, cv);
    {
      std::optional<TensorCoreAttention> on;
      if (tc) on.emplace();
      G.attention_backward(nullptr, LG, scale, dqb.get() + q_at, dkb.get() + k_at, dvb.get() + v_at, dout.get(),
                           dlse.get(), dgo.get(), xq, xk, xv);
    }
    const std::string tag = name + (which == 0 ? "" : which == 1 ? " (dq only)" : " (dk/dv only)");
    expect_close(gq, dgq.back(), tol<T>(f32_tol), tag + ": dq" + (fused ? "/dk/dv (fused)" : ""));
    if (!fused) {
      expect_close(gk, dgk.back(), tol<T>(f32_tol), tag + ": dk");
      expect_close(gv, dgv.back(), tol<T>(f32_tol), tag + ": dv");
    }
  }
}

// Causal rows, an empty sequence between two others, GQA 4:2, fused q/k/v and gradients.
Layout causal_layout() {
  Layout H;
  H.hq = 4, H.hkv = 2, H.d = 16;
  H.add(positions(0, 37), positions(0, 37));
  H.add({}, {});
  H.add(positions(0, 70), positions(0, 70));
  return H;
}

// Compacted subsets and KV sharing: queries a subset of the keys' positions (Nk != Nq), queries
// before every key (no visible key), a sequence with keys and no queries, and a subset attending
// among itself; GQA 6:2, D = 40.
Layout compacted_layout(int64_t d) {
  Layout H;
  H.hq = 6, H.hkv = 2, H.d = d;
  H.add(random_subset(100, 23, 1), positions(0, 100));
  H.add({1, 2, 7, 30}, positions(5, 41));
  H.add({}, positions(10, 20));
  const auto sel = random_subset(64, 20, 2);
  H.add(sel, sel);
  H.add(positions(0, 140), positions(0, 140));  // several query/key tiles
  return H;
}

TEST(CudaAttention, CausalGqaFusedF32) {
  MOR_REQUIRE_GPU();
  check_attention<float>(causal_layout(), true, 2e-4, "causal GQA fused");
}

TEST(CudaAttention, CompactedKvSharingF32) {
  MOR_REQUIRE_GPU();
  check_attention<float>(compacted_layout(40), false, 2e-4, "compacted/KV sharing D=40");
}

TEST(CudaAttention, HeadSizesF32) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {64, 128, 200}) {
    Layout H;
    H.hq = 2, H.hkv = 1, H.d = d;
    H.add(positions(0, 130), positions(0, 130));
    H.add(random_subset(50, 17, 3), positions(0, 50));
    check_attention<float>(H, false, 2e-4, "head size " + std::to_string(d));
  }
}

TEST(CudaAttention, CompactedF64) {
  MOR_REQUIRE_GPU();
  check_attention<double>(compacted_layout(40), false, 0, "f64 compacted D=40");
  check_attention<double>(compacted_layout(200), false, 0, "f64 compacted D=200");
  check_attention<double>(causal_layout(), true, 0, "f64 causal fused");
}

// ---- the bf16 tensor-core variant ----

constexpr double kTcTol = 1e-2;

// Causal rows of lengths that are not multiples of the 64-row tiles (several tiles, a partial
// one), an empty sequence, a one-row sequence; GQA 4:2.
Layout causal_tc_layout(int64_t d) {
  Layout H;
  H.hq = 4, H.hkv = 2, H.d = d;
  H.add(positions(0, 37), positions(0, 37));
  H.add({}, {});
  H.add(positions(0, 200), positions(0, 200));
  H.add({0}, {0});
  H.add(positions(0, 129), positions(0, 129));
  return H;
}

TEST(CudaAttention, TensorCoreCausalGqaFused) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {64, 128}) {
    Layout H = causal_tc_layout(d);
    check_attention<float>(H, true, kTcTol, "tc causal GQA fused D=" + std::to_string(d), true);
  }
}

TEST(CudaAttention, TensorCoreCausalStrided) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {64, 128})
    check_attention<float>(causal_tc_layout(d), false, kTcTol, "tc causal strided D=" + std::to_string(d), true);
}

// Compacted subsets with non-contiguous positions, KV sharing (Nk != Nq), queries that see no key
// (out 0, lse -inf), a sequence with keys and no queries, a long subset over all keys (several
// query and key tiles, with partly visible ones); GQA 6:2 and 8:1.
TEST(CudaAttention, TensorCoreCompactedKvSharing) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {64, 128}) {
    Layout H = compacted_layout(d);
    H.add(random_subset(400, 150, 5), positions(0, 400));
    check_attention<float>(H, false, kTcTol, "tc compacted/KV sharing D=" + std::to_string(d), true);
    Layout M;
    M.hq = 8, M.hkv = 1, M.d = d;
    M.add({3, 4, 90, 91, 92, 250}, positions(50, 260));  // the first two see no key
    const auto sel = random_subset(300, 130, 6);
    M.add(sel, sel);
    check_attention<float>(M, false, kTcTol, "tc subsets GQA 8:1 D=" + std::to_string(d), true);
  }
}

// Head sizes without tensor-core kernels take the fp32 ones, switch or not (fp32 tolerance).
TEST(CudaAttention, TensorCoreFallsBackForOtherHeadSizes) {
  MOR_REQUIRE_GPU();
  EXPECT_FALSE(kernels::cu::attention_tc_supports(40));
  check_attention<float>(compacted_layout(40), false, 2e-4, "tc switch on, D=40 (fp32 kernels)", true);
}

TEST(CudaAttention, TensorCoreSwitchNeedsBf16Precision) {
  MOR_REQUIRE_GPU();
  EXPECT_FALSE(kernels::cuda_attention_tc());  // off by default
  kernels::set_cuda_attention_tc(true);
  const auto before = kernels::gemm_precision();
  kernels::set_gemm_precision(kernels::GemmPrecision::F32);
  EXPECT_FALSE(kernels::cu::attention_tc_applies(64));
  kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
  EXPECT_TRUE(kernels::cu::attention_tc_applies(64));
  EXPECT_TRUE(kernels::cu::attention_tc_applies(128));
  EXPECT_FALSE(kernels::cu::attention_tc_applies(96));
  kernels::set_cuda_attention_tc(false);
  EXPECT_FALSE(kernels::cu::attention_tc_applies(64));
  kernels::set_gemm_precision(before);
}

// Two runs of the tensor-core backward give bitwise equal gradients (no atomics), and no NaN.
TEST(CudaAttention, TensorCoreBackwardDeterministic) {
  MOR_REQUIRE_GPU();
  Layout H = compacted_layout(64);
  H.add(positions(0, 300), positions(0, 300));
  kernels::AttentionLayout L;
  L.n_seq = int64_t(H.q_off.size()) - 1, L.hq = H.hq, L.hkv = H.hkv, L.d = H.d;
  L.q_stride = L.o_stride = H.hq * H.d, L.k_stride = L.v_stride = H.hkv * H.d;
  const size_t qn = size_t(H.nq() * L.q_stride), kn = size_t(H.nk() * L.k_stride);
  Dev<float> q(uniform<float>(qn, 60)), k(uniform<float>(kn, 61)), v(uniform<float>(kn, 62));
  Dev<float> go(uniform<float>(qn, 63));
  Dev<float> out(qn), lse(size_t(H.nq() * H.hq));
  Dev<int64_t> q_off(H.q_off), k_off(H.k_off);
  Dev<int32_t> q_pos(H.q_pos), k_pos(H.k_pos);
  L.q_off = q_off.get(), L.k_off = k_off.get(), L.q_pos = q_pos.get(), L.k_pos = k_pos.get();
  TensorCoreAttention on;
  const auto& G = gpu().f32;
  G.attention_forward(nullptr, L, 0.125f, q.get(), k.get(), v.get(), out.get(), lse.get());
  std::vector<float> first[3];
  for (int run = 0; run < 2; ++run) {
    Dev<float> dq(qn), dk(kn), dv(kn);
    G.attention_backward(nullptr, L, 0.125f, q.get(), k.get(), v.get(), out.get(), lse.get(), go.get(), dq.get(),
                         dk.get(), dv.get());
    const std::vector<float> got[3] = {dq.back(), dk.back(), dv.back()};
    for (int i = 0; i < 3; ++i) {
      for (float x : got[i]) ASSERT_FALSE(std::isnan(x)) << "gradient " << i;
      if (run == 0) first[i] = got[i];
      else expect_equal(first[i], got[i], "tc backward run 2 vs run 1, gradient " + std::to_string(i));
    }
  }
}

template <typename T>
void check_paged(int64_t D, double f32_tol) {
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  // A cache of 200 rows in pages of 16 (the last of a sequence partial), assigned to 3 sequences
  // in a shuffled page order; each sequence's keys have ascending positions along its page list.
  const int64_t hq = 4, hkv = 2, rows = 200;
  std::vector<int32_t> k_pos(size_t(rows), 0);
  std::vector<int64_t> pages, pg_off{0}, q_off{0};
  std::vector<int32_t> q_pos;
  std::vector<int64_t> page_rows;
  for (int64_t r = 0; r < rows; r += 16) page_rows.push_back(r);
  std::mt19937 rng(48);
  std::shuffle(page_rows.begin(), page_rows.end(), rng);
  const int64_t seq_keys[3] = {70, 0, 100};
  size_t next_page = 0;
  for (int64_t s = 0; s < 3; ++s) {
    int32_t pos = 0;
    for (int64_t left = seq_keys[s]; left > 0;) {
      const int64_t first = page_rows[next_page++], n = std::min<int64_t>({left, 16, rows - first});
      pages.push_back(first), pages.push_back(n);
      for (int64_t r = first; r < first + n; ++r) k_pos[size_t(r)] = pos++;
      left -= n;
    }
    pg_off.push_back(int64_t(pages.size() / 2));
    // decode queries: the last position, one in the middle, and (sequence 1) one with no key
    const std::vector<int32_t> qp = s == 1 ? std::vector<int32_t>{0} : std::vector<int32_t>{pos / 2, pos - 1};
    q_pos.insert(q_pos.end(), qp.begin(), qp.end());
    q_off.push_back(int64_t(q_pos.size()));
  }
  const int64_t nq = q_off.back();
  kernels::PagedAttentionLayout L;
  L.n_seq = 3, L.hq = hq, L.hkv = hkv, L.d = D;
  L.q_stride = hq * D + 2, L.k_stride = hkv * D + 1, L.v_stride = hkv * D, L.o_stride = hq * D + 3;
  const auto q = uniform<T>(size_t(nq * L.q_stride), 49), k = uniform<T>(size_t(rows * L.k_stride), 50),
             v = uniform<T>(size_t(rows * L.v_stride), 51);
  auto out = uniform<T>(size_t(nq * L.o_stride), 52);
  std::vector<T> lse(size_t(nq * hq));
  Dev<T> dq(q), dk(k), dv(v), dout(out), dlse(lse.size());
  Dev<int64_t> dq_off(q_off), dpg_off(pg_off), dpages(pages);
  Dev<int32_t> dq_pos(q_pos), dk_pos(k_pos);
  kernels::PagedAttentionLayout LC = L, LG = L;
  LC.q_off = q_off.data(), LC.q_pos = q_pos.data(), LC.pg_off = pg_off.data(), LC.pages = pages.data(),
  LC.k_pos = k_pos.data();
  LG.q_off = dq_off.get(), LG.q_pos = dq_pos.get(), LG.pg_off = dpg_off.get(), LG.pages = dpages.get(),
  LG.k_pos = dk_pos.get();
  const T scale = T(1) / std::sqrt(T(D));
  C.attention_forward_paged(nullptr, LC, scale, q.data(), k.data(), v.data(), out.data(), lse.data());
  G.attention_forward_paged(nullptr, LG, scale, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get());
  expect_close(out, dout.back(), tol<T>(f32_tol), "paged out D=" + std::to_string(D));
  expect_close(lse, dlse.back(), tol<T>(f32_tol), "paged lse D=" + std::to_string(D));
}

TEST(CudaAttention, PagedF32) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {16, 64, 128, 200, 300}) check_paged<float>(d, 2e-4);
}

TEST(CudaAttention, PagedF64) {
  MOR_REQUIRE_GPU();
  for (int64_t d : {40, 300}) check_paged<double>(d, 0);
}

}  // namespace
}  // namespace mor::gputest
