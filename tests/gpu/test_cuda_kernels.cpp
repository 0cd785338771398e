// The CUDA kernel table against the CPU one, entry by entry, on random inputs: rows, norm, RoPE,
// activations, elementwise, losses, routing/selection, optimizer. Attention is in
// test_cuda_attention.cpp, GEMM and the fused LM head in test_cuda_gemm.cpp. Tolerances:
// gpu_test_util.h. Every test skips without a CUDA device.
#include "tests/gpu/gpu_test_util.h"

#include <algorithm>
#include <numeric>

namespace mor::gputest {
namespace {

template <typename T>
class CudaKernels : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaKernels, FloatTypes);

TYPED_TEST(CudaKernels, Rows) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t rows = 50, d = 37, n = 300;
  const auto table = uniform<T>(size_t(rows * d), 1);
  std::vector<int32_t> ids(n);
  std::mt19937 rng(2);
  for (auto& i : ids) i = int32_t(rng() % rows);  // repeats: scatter-add order matters
  const auto src = uniform<T>(size_t(n * d), 3);
  Dev<T> dtable(table), dsrc(src), dout(size_t(n * d));
  Dev<int32_t> dids(ids);

  std::vector<T> out(size_t(n * d));
  C.gather_rows(nullptr, n, d, table.data(), ids.data(), out.data());
  G.gather_rows(nullptr, n, d, dtable.get(), dids.get(), dout.get());
  expect_equal(out, dout.back(), "gather_rows");

  auto acc = table;
  C.scatter_add_rows(nullptr, n, d, src.data(), ids.data(), acc.data());
  Dev<T> dacc(table);
  G.scatter_add_rows(nullptr, n, d, dsrc.get(), dids.get(), dacc.get());
  expect_equal(acc, dacc.back(), "scatter_add_rows (bit-identical: same addition order)");

  // scatter_rows / zero_rows with distinct ids
  std::vector<int32_t> perm(rows);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  perm.resize(20);
  Dev<int32_t> dperm(perm);
  auto dst = table;
  C.scatter_rows(nullptr, 20, d, src.data(), perm.data(), dst.data());
  Dev<T> ddst(table);
  G.scatter_rows(nullptr, 20, d, dsrc.get(), dperm.get(), ddst.get());
  expect_equal(dst, ddst.back(), "scatter_rows");
  C.zero_rows(nullptr, 20, d, perm.data(), dst.data());
  G.zero_rows(nullptr, 20, d, dperm.get(), ddst.get());
  expect_equal(dst, ddst.back(), "zero_rows");

  // vocabulary shard [10, 30) of a 50-row vocabulary
  std::vector<T> y(size_t(n * d));
  C.embedding_shard_forward(nullptr, n, d, table.data(), ids.data(), 10, 20, y.data());
  G.embedding_shard_forward(nullptr, n, d, dtable.get(), dids.get(), 10, 20, dout.get());
  expect_equal(y, dout.back(), "embedding_shard_forward");
  auto shard = uniform<T>(size_t(20 * d), 4);
  Dev<T> dshard(shard);
  C.embedding_shard_backward(nullptr, n, d, src.data(), ids.data(), 10, 20, shard.data());
  G.embedding_shard_backward(nullptr, n, d, dsrc.get(), dids.get(), 10, 20, dshard.get());
  expect_equal(shard, dshard.back(), "embedding_shard_backward");
}

TYPED_TEST(CudaKernels, RmsNorm) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  for (int64_t d : {7, 300, 2500}) {
    const int64_t n = 130;  // several row chunks of the dw column sum
    const auto x = uniform<T>(size_t(n * d), 5), w = uniform<T>(size_t(d), 6, 0.5, 1.5),
               dy = uniform<T>(size_t(n * d), 7);
    std::vector<T> y(size_t(n * d)), rstd(static_cast<size_t>(n));
    Dev<T> dx_(x), dw_(w), ddy(dy), dy_out(size_t(n * d)), drstd(static_cast<size_t>(n));
    C.rmsnorm_forward(nullptr, n, d, x.data(), w.data(), T(1e-5), y.data(), rstd.data());
    G.rmsnorm_forward(nullptr, n, d, dx_.get(), dw_.get(), T(1e-5), dy_out.get(), drstd.get());
    expect_close(y, dy_out.back(), tol<T>(2e-5), "rmsnorm y d=" + std::to_string(d));
    expect_close(rstd, drstd.back(), tol<T>(2e-5), "rmsnorm rstd");
    for (bool acc : {false, true}) {
      auto gx = uniform<T>(size_t(n * d), 8), gw = uniform<T>(size_t(d), 9);
      Dev<T> dgx(gx), dgw(gw);
      C.rmsnorm_backward(nullptr, n, d, x.data(), w.data(), rstd.data(), dy.data(), gx.data(), acc, gw.data(), acc);
      G.rmsnorm_backward(nullptr, n, d, dx_.get(), dw_.get(), drstd.get(), ddy.get(), dgx.get(), acc, dgw.get(), acc);
      expect_close(gx, dgx.back(), tol<T>(5e-5), "rmsnorm dx");
      expect_close(gw, dgw.back(), tol<T>(5e-5), "rmsnorm dw (column sum over 130 rows)");
    }
  }
}

TYPED_TEST(CudaKernels, Rope) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t n = 40, heads = 5, n_rot = 3;
  for (int64_t D : {10, 64}) {
    const auto x = uniform<T>(size_t(n * heads * D), 10);
    std::vector<int32_t> pos(n);
    for (int64_t t = 0; t < n; ++t) pos[size_t(t)] = int32_t(3 * t + 1000);  // non-contiguous, large
    Dev<T> dxx(x);
    Dev<int32_t> dpos(pos);
    for (bool inverse : {false, true})
      for (bool acc : {false, true}) {
        auto y = uniform<T>(x.size(), 11);
        Dev<T> dyy(y);
        C.rope_apply(nullptr, n, heads, n_rot, D, x.data(), pos.data(), 10000.0, inverse, y.data(), acc);
        G.rope_apply(nullptr, n, heads, n_rot, D, dxx.get(), dpos.get(), 10000.0, inverse, dyy.get(), acc);
        // angles up to ~1100 rad: CUDA's powf may differ from glibc's by an ulp or two, which moves
        // an angle of ~1000 by ~1e-4 ulp-units of the angle (6e-5 rad) -> 2e-4 in f32
        expect_close(y, dyy.back(), tol<T>(2e-4), "rope D=" + std::to_string(D));
      }
  }
}

TYPED_TEST(CudaKernels, Activations) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t n = 33, f = 70, N = n * f;
  const auto gu = uniform<T>(size_t(2 * N), 12, -4, 4), dy = uniform<T>(size_t(N), 13);
  const auto x = uniform<T>(size_t(N), 14, -4, 4);
  Dev<T> dgu(gu), ddy(dy), dxx(x), dy_out(static_cast<size_t>(N));
  std::vector<T> y(static_cast<size_t>(N));
  C.swiglu_forward(nullptr, n, f, gu.data(), y.data());
  G.swiglu_forward(nullptr, n, f, dgu.get(), dy_out.get());
  expect_close(y, dy_out.back(), tol<T>(2e-6), "swiglu_forward");
  for (bool acc : {false, true}) {
    auto g = uniform<T>(size_t(2 * N), 15);
    Dev<T> dg(g);
    C.swiglu_backward(nullptr, n, f, gu.data(), dy.data(), g.data(), acc);
    G.swiglu_backward(nullptr, n, f, dgu.get(), ddy.get(), dg.get(), acc);
    expect_close(g, dg.back(), tol<T>(2e-6), "swiglu_backward");
  }
  using Fwd = void (*)(kernels::Stream, int64_t, const T*, T*);
  using Bwd = void (*)(kernels::Stream, int64_t, const T*, const T*, T*, bool);
  struct Case {
    const char* name;
    Fwd cf, gf;
    Bwd cb, gb;
    bool bwd_from_x;  // gelu's backward takes x, the others y
  };
  const Case cases[] = {{"sigmoid", C.sigmoid_forward, G.sigmoid_forward, C.sigmoid_backward, G.sigmoid_backward, false},
                        {"tanh", C.tanh_forward, G.tanh_forward, C.tanh_backward, G.tanh_backward, false},
                        {"gelu", C.gelu_forward, G.gelu_forward, C.gelu_backward, G.gelu_backward, true}};
  for (const Case& c : cases) {
    c.cf(nullptr, N, x.data(), y.data());
    c.gf(nullptr, N, dxx.get(), dy_out.get());
    expect_close(y, dy_out.back(), tol<T>(2e-6), std::string(c.name) + " forward");
    const auto& in = c.bwd_from_x ? x : y;
    Dev<T> din(in);
    for (bool acc : {false, true}) {
      auto g = uniform<T>(size_t(N), 16);
      Dev<T> dg(g);
      c.cb(nullptr, N, in.data(), dy.data(), g.data(), acc);
      c.gb(nullptr, N, din.get(), ddy.get(), dg.get(), acc);
      expect_close(g, dg.back(), tol<T>(2e-6), std::string(c.name) + " backward");
    }
  }
  // row softmax / logsumexp over c = 3 (router) and c = 1000 columns
  for (int64_t c : {3, 1000}) {
    const int64_t rows = 45;
    const auto z = uniform<T>(size_t(rows * c), 17, -5, 5), gz = uniform<T>(size_t(rows * c), 18);
    const auto gl = uniform<T>(size_t(rows), 19);
    Dev<T> dz(z), dgz(gz), dgl(gl), dsm(size_t(rows * c)), dl(static_cast<size_t>(rows));
    std::vector<T> sm(size_t(rows * c)), l(static_cast<size_t>(rows));
    C.softmax_forward(nullptr, rows, c, z.data(), sm.data());
    G.softmax_forward(nullptr, rows, c, dz.get(), dsm.get());
    expect_close(sm, dsm.back(), tol<T>(2e-5), "softmax_forward");
    C.logsumexp_forward(nullptr, rows, c, z.data(), l.data());
    G.logsumexp_forward(nullptr, rows, c, dz.get(), dl.get());
    expect_close(l, dl.back(), tol<T>(2e-5), "logsumexp_forward");
    for (bool acc : {false, true}) {
      auto g = uniform<T>(size_t(rows * c), 20);
      Dev<T> dg(g);
      C.softmax_backward(nullptr, rows, c, sm.data(), gz.data(), g.data(), acc);
      G.softmax_backward(nullptr, rows, c, dsm.get(), dgz.get(), dg.get(), acc);
      expect_close(g, dg.back(), tol<T>(2e-5), "softmax_backward");
      auto h = uniform<T>(size_t(rows * c), 21);
      Dev<T> dh(h);
      C.logsumexp_backward(nullptr, rows, c, z.data(), l.data(), gl.data(), h.data(), acc);
      G.logsumexp_backward(nullptr, rows, c, dz.get(), dl.get(), dgl.get(), dh.get(), acc);
      expect_close(h, dh.back(), tol<T>(2e-5), "logsumexp_backward");
    }
  }
}

TYPED_TEST(CudaKernels, Elementwise) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t n = 77, d = 29, N = n * d;
  const auto x = uniform<T>(size_t(N), 22), y0 = uniform<T>(size_t(N), 23), s = uniform<T>(size_t(n), 24);
  const std::vector<T> c{T(0.375)};
  Dev<T> dx_(x), dy0(y0), ds(s), dc(c);
  for (bool acc : {false, true}) {
    auto y = y0;
    Dev<T> dy(y0);
    C.axpy(nullptr, N, T(0.5), x.data(), y.data(), acc);
    G.axpy(nullptr, N, T(0.5), dx_.get(), dy.get(), acc);
    expect_close(y, dy.back(), tol<T>(1e-6), "axpy");
    C.axpy_scalar(nullptr, N, c.data(), 1.0 / 3.0, x.data(), y.data(), acc);
    G.axpy_scalar(nullptr, N, dc.get(), 1.0 / 3.0, dx_.get(), dy.get(), acc);
    expect_close(y, dy.back(), tol<T>(1e-6), "axpy_scalar");
    C.mul(nullptr, N, x.data(), y0.data(), y.data(), acc);
    G.mul(nullptr, N, dx_.get(), dy0.get(), dy.get(), acc);
    expect_close(y, dy.back(), tol<T>(1e-6), "mul");
    C.scale_rows(nullptr, n, d, x.data(), s.data(), y.data(), acc);
    G.scale_rows(nullptr, n, d, dx_.get(), ds.get(), dy.get(), acc);
    expect_close(y, dy.back(), tol<T>(1e-6), "scale_rows");
    C.fill_scalar(nullptr, N, c.data(), y.data(), acc);
    G.fill_scalar(nullptr, N, dc.get(), dy.get(), acc);
    expect_close(y, dy.back(), tol<T>(1e-6), "fill_scalar");
    auto r = s;
    Dev<T> dr(s);
    C.row_dots(nullptr, n, d, x.data(), y0.data(), r.data(), acc);
    G.row_dots(nullptr, n, d, dx_.get(), dy0.get(), dr.get(), acc);
    expect_close(r, dr.back(), tol<T>(1e-5), "row_dots");
  }
  std::vector<T> z(static_cast<size_t>(N));
  Dev<T> dz(static_cast<size_t>(N));
  C.add(nullptr, N, x.data(), y0.data(), z.data());
  G.add(nullptr, N, dx_.get(), dy0.get(), dz.get());
  expect_equal(z, dz.back(), "add");
  for (int64_t m : {0, 1, 5000, 3000001}) {  // one and several partial blocks of the double sum
    const auto big = uniform<T>(size_t(m), 25);
    std::vector<T> out(1);
    Dev<T> dbig(big), dout(1);
    C.sum_all(nullptr, m, big.data(), out.data());
    G.sum_all(nullptr, m, dbig.get(), dout.get());
    expect_close(out, dout.back(), tol<T>(1e-6), "sum_all n=" + std::to_string(m));  // both in double
  }
}

// Empty inputs launch nothing (a grid of zero blocks is an invalid configuration, which the launch
// check would throw); the outputs a reduction over nothing still defines are written.
TYPED_TEST(CudaKernels, EmptyInputs) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& G = gpu().template of<T>();
  G.gather_rows(nullptr, 0, 16, nullptr, nullptr, nullptr);
  G.scatter_add_rows(nullptr, 0, 16, nullptr, nullptr, nullptr);
  G.embedding_shard_backward(nullptr, 0, 16, nullptr, nullptr, 0, 10, nullptr);
  G.rmsnorm_forward(nullptr, 0, 16, nullptr, nullptr, T(1e-5), nullptr, nullptr);
  G.rope_apply(nullptr, 0, 4, 2, 16, nullptr, nullptr, 10000.0, false, nullptr, false);
  G.swiglu_backward(nullptr, 0, 16, nullptr, nullptr, nullptr, true);
  G.gelu_backward(nullptr, 0, nullptr, nullptr, nullptr, true);
  G.softmax_forward(nullptr, 5, 0, nullptr, nullptr);  // rows without columns
  G.logsumexp_backward(nullptr, 0, 3, nullptr, nullptr, nullptr, nullptr, false);
  G.axpy(nullptr, 0, T(1), nullptr, nullptr, true);
  G.row_dots(nullptr, 0, 8, nullptr, nullptr, nullptr, false);
  Dev<T> dw(std::vector<T>{T(7)}), total(std::vector<T>{T(7)});
  G.rmsnorm_backward(nullptr, 0, 1, nullptr, nullptr, nullptr, nullptr, nullptr, false, dw.get(), false);
  G.sum_all(nullptr, 0, nullptr, total.get());
  EXPECT_EQ(dw.back(), std::vector<T>{T(0)}) << "rmsnorm dw over no rows";
  EXPECT_EQ(total.back(), std::vector<T>{T(0)}) << "sum_all over nothing";
}

TYPED_TEST(CudaKernels, Losses) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  const int64_t n = 40, V = 1500;
  const auto logits = uniform<T>(size_t(n * V), 26, -6, 6);
  std::vector<int32_t> target(n);
  for (int64_t i = 0; i < n; ++i) target[size_t(i)] = i % 7 == 3 ? -1 : int32_t((i * 37) % V);  // some ignored
  Dev<int32_t> dt(target);
  for (T gs : {T(0), T(0.25)}) {
    auto z = logits;
    std::vector<T> row_loss(static_cast<size_t>(n)), loss(1);
    Dev<T> dz(logits), drow(static_cast<size_t>(n)), dloss(1);
    C.softmax_xent(nullptr, n, V, z.data(), target.data(), gs, row_loss.data(), 17.0, loss.data());
    G.softmax_xent(nullptr, n, V, dz.get(), dt.get(), gs, drow.get(), 17.0, dloss.get());
    expect_close(row_loss, drow.back(), tol<T>(2e-5), "softmax_xent row loss");
    expect_close(loss, dloss.back(), tol<T>(2e-5), "softmax_xent loss");
    expect_close(z, dz.back(), tol<T>(2e-6), "softmax_xent gradient in place");
  }
  const auto lm = uniform<T>(size_t(n), 27), gm = uniform<T>(size_t(n), 28, 1, 2);
  auto se = uniform<T>(size_t(n), 29, 1, 100);
  Dev<T> dlm(lm), dgm(gm), dse(se);
  C.rescale_sum_exp(nullptr, n, lm.data(), gm.data(), se.data());
  G.rescale_sum_exp(nullptr, n, dlm.get(), dgm.get(), dse.get());
  expect_close(se, dse.back(), tol<T>(1e-6), "rescale_sum_exp");

  const int64_t m = 10007;
  const auto x = uniform<T>(size_t(m), 30, -8, 8);
  std::vector<T> t(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) t[size_t(i)] = T(i % 3 == 0);
  const std::vector<T> dyv{T(0.5)};
  Dev<T> dxx(x), dtt(t), ddy(dyv), dl(1);
  std::vector<T> l(1);
  C.bce_with_logits_forward(nullptr, m, x.data(), t.data(), 3.0, l.data());
  G.bce_with_logits_forward(nullptr, m, dxx.get(), dtt.get(), 3.0, dl.get());
  expect_close(l, dl.back(), tol<T>(1e-6), "bce_with_logits_forward (double sums)");
  for (bool acc : {false, true}) {
    auto g = uniform<T>(size_t(m), 31);
    Dev<T> dg(g);
    C.bce_with_logits_backward(nullptr, m, x.data(), t.data(), dyv.data(), 3.0, g.data(), acc);
    G.bce_with_logits_backward(nullptr, m, dxx.get(), dtt.get(), ddy.get(), 3.0, dg.get(), acc);
    expect_close(g, dg.back(), tol<T>(2e-6), "bce_with_logits_backward");
  }
}

TYPED_TEST(CudaKernels, TopkTies) {
  MOR_REQUIRE_GPU();
  using T = TypeParam;
  const auto& C = cpu().template of<T>();
  const auto& G = gpu().template of<T>();
  // Sequences: empty, all selected, many ties (scores from a few values, +0 and -0), long ones.
  const std::vector<int64_t> len{0, 5, 1000, 3000, 1, 2500}, k{0, 5, 300, 1, 1, 2499};
  std::vector<int64_t> off{0};
  for (int64_t l : len) off.push_back(off.back() + l);
  std::vector<T> scores(size_t(off.back()));
  std::mt19937 rng(32);
  for (size_t i = 0; i < scores.size(); ++i) {
    const int v = int(rng() % 5);
    scores[i] = v == 0 ? T(0) : v == 1 ? T(-0.0) : T(v) * T(0.25) - T(0.5);
  }
  scores[1300] = T(2);  // a unique maximum inside the 3000-row sequence
  const int64_t total_k = std::accumulate(k.begin(), k.end(), int64_t(0));
  std::vector<int32_t> out(static_cast<size_t>(total_k));
  Dev<int64_t> doff(off), dk(k);
  Dev<T> ds(scores);
  Dev<int32_t> dout(static_cast<size_t>(total_k));
  C.topk_per_sequence(nullptr, int64_t(len.size()), off.data(), scores.data(), k.data(), out.data());
  G.topk_per_sequence(nullptr, int64_t(len.size()), doff.get(), ds.get(), dk.get(), dout.get());
  expect_equal(out, dout.back(), "topk_per_sequence (ties: lower row first)");

  // token depth (ties to the first maximum), with and without bias, and all_deepest
  const int64_t n = 500, nr = 4;
  std::vector<T> p(size_t(n * nr));
  for (auto& v : p) v = T(int(rng() % 3)) * T(0.5);
  const std::vector<T> bias{T(0), T(0.5), T(0), T(-0.5)};
  Dev<T> dp(p), db(bias);
  for (int mode = 0; mode < 3; ++mode) {
    std::vector<int32_t> depth(n), gate(n);
    Dev<int32_t> ddepth(static_cast<size_t>(n)), dgate(static_cast<size_t>(n));
    const T* bc = mode == 1 ? bias.data() : nullptr;
    const T* bg = mode == 1 ? db.get() : nullptr;
    C.token_depth(nullptr, n, nr, p.data(), bc, mode == 2, depth.data(), gate.data());
    G.token_depth(nullptr, n, nr, dp.get(), bg, mode == 2, ddepth.get(), dgate.get());
    expect_equal(depth, ddepth.back(), "token_depth");
    expect_equal(gate, dgate.back(), "token_depth gate index");
  }
  std::vector<int32_t> idx{3, 9, 0, 77};
  auto y = uniform<T>(100, 33);
  Dev<T> dy(y);
  Dev<int32_t> didx(idx);
  C.set_rows_one(nullptr, 4, idx.data(), y.data());
  G.set_rows_one(nullptr, 4, didx.get(), dy.get());
  expect_equal(y, dy.back(), "set_rows_one");
}

TEST(CudaKernelsInt, RoutingState) {
  MOR_REQUIRE_GPU();
  const int64_t n = 2600;  // more than one 1024-row chunk of split_by_depth
  const int64_t nr = 3;
  std::vector<int32_t> depth(n);
  std::mt19937 rng(34);
  for (auto& d : depth) d = int32_t(rng() % nr);
  const std::vector<int64_t> off{0, 1000, 1000, 2600};
  Dev<int32_t> ddepth(depth);
  Dev<int64_t> doff(off);
  std::vector<int64_t> counts(3 * nr);
  Dev<int64_t> dcounts(counts.size());
  cpu().depth_counts(nullptr, 3, off.data(), nr, depth.data(), counts.data());
  gpu().depth_counts(nullptr, 3, doff.get(), nr, ddepth.get(), dcounts.get());
  expect_equal(counts, dcounts.back(), "depth_counts");
  const int64_t n_exit = std::count(depth.begin(), depth.end(), 1);
  std::vector<int32_t> exits(n_exit), stays(n - n_exit);
  Dev<int32_t> dexits(exits.size()), dstays(stays.size());
  cpu().split_by_depth(nullptr, n, depth.data(), 1, exits.data(), stays.data());
  gpu().split_by_depth(nullptr, n, ddepth.get(), 1, dexits.get(), dstays.get());
  expect_equal(exits, dexits.back(), "split_by_depth exits");
  expect_equal(stays, dstays.back(), "split_by_depth stays");
  std::vector<int32_t> idx{5, 0, 2599, 17}, got(4);
  Dev<int32_t> didx(idx), dgot(4);
  cpu().gather_i32(nullptr, 4, depth.data(), idx.data(), got.data());
  gpu().gather_i32(nullptr, 4, ddepth.get(), didx.get(), dgot.get());
  expect_equal(got, dgot.back(), "gather_i32");
  std::vector<int32_t> scattered(depth.size(), -1);  // out[idx[i]] = src[i] at distinct idx
  Dev<int32_t> dscattered(scattered), dsrc(got);
  cpu().scatter_i32(nullptr, 4, got.data(), idx.data(), scattered.data());
  gpu().scatter_i32(nullptr, 4, dsrc.get(), didx.get(), dscattered.get());
  expect_equal(scattered, dscattered.back(), "scatter_i32");
  std::vector<int32_t> io(n);
  Dev<int32_t> dio(static_cast<size_t>(n));
  cpu().iota_i32(nullptr, n, io.data());
  gpu().iota_i32(nullptr, n, dio.get());
  expect_equal(io, dio.back(), "iota_i32");
}

TEST(CudaKernelsOptim, AdamWAndSumSquares) {
  MOR_REQUIRE_GPU();
  kernels::AdamWArgs a;
  a.lr = 3e-4f, a.weight_decay = 0.1f, a.bias_correction1 = 0.19f, a.bias_correction2 = 0.0975f, a.grad_scale = 0.8f;
  for (int64_t shift : {0, 1}) {  // aligned (float4 path + tail) and misaligned pointers
    const int64_t n = 1000003;
    auto p = uniform<float>(size_t(n + 1), 35), m = uniform<float>(size_t(n + 1), 36, -0.01, 0.01),
         v = uniform<float>(size_t(n + 1), 37, 0, 1e-4);
    const auto g = uniform<float>(size_t(n + 1), 38);
    Dev<float> dp(p), dm(m), dv(v), dg(g);
    cpu().adamw_update(nullptr, n, p.data() + shift, g.data() + shift, m.data() + shift, v.data() + shift, a);
    gpu().adamw_update(nullptr, n, dp.get() + shift, dg.get() + shift, dm.get() + shift, dv.get() + shift, a);
    // same float formula; FMA contraction may differ (a few ulps of the update)
    expect_close(p, dp.back(), 1e-6, "adamw p");
    expect_close(m, dm.back(), 1e-6, "adamw m");
    expect_close(v, dv.back(), 1e-6, "adamw v");
  }
  for (int64_t n : {0, 3, 5000000}) {
    const auto x = uniform<float>(size_t(n), 39);
    Dev<float> dx(x);
    const double c = cpu().sum_squares(nullptr, n, x.data()), g = gpu().sum_squares(nullptr, n, dx.get());
    // the CPU sums float lanes per chunk, the GPU doubles: relative 1e-6
    EXPECT_NEAR(c, g, 1e-6 * std::max(1.0, c)) << "sum_squares n=" << n;
  }
}

TEST(CudaKernelsTable, EveryEntryFilled) {
  MOR_REQUIRE_GPU();
  // The table is plain pointers: count the null ones of each float table by their bytes.
  const auto nulls = [](const auto& k) {
    const auto* p = reinterpret_cast<void* const*>(&k);
    size_t z = 0;
    for (size_t i = 0; i < sizeof(k) / sizeof(void*); ++i) z += p[i] == nullptr;
    return z;
  };
  EXPECT_EQ(nulls(gpu().f32), 0u);
  EXPECT_EQ(nulls(gpu().f64), 0u);
  EXPECT_TRUE(gpu().gather_i32 && gpu().scatter_i32 && gpu().iota_i32 && gpu().depth_counts && gpu().split_by_depth && gpu().adamw_update &&
              gpu().sum_squares);
  EXPECT_STREQ(gpu().device, "cuda");
}

}  // namespace
}  // namespace mor::gputest
