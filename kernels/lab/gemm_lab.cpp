// Kernel lab: the GEMMs that dominate a training step, timed under each CPU implementation we
// could use, against the measured FMA peak, so GEMM choices are made by measurement.
//   gemm_lab [--rows N] [--d D] [--qkv Q] [--ff F] [--vocab V] [--threads T] [--seconds S]
// Defaults: configs/bench-llama-small.yaml (8 x 256 rows, d 384, q|k|v 1152, d_ff 1024, vocab
// 50304). Every linear y = x W^T appears three times per step: forward [N,d]x[out,d]^T, input
// gradient [N,out]x[out,d], weight gradient [N,out]^T x [N,d]. Implementations:
//   openblas     cblas_sgemm (packs both operands on every call)
//   mor-avx512   kernels::sgemm_avx512, what gemm<float> runs in the x86-64-v4 copy of the kernels
//                (packs B in L2-sized blocks and A per 12-row panel; "-" without AVX-512)
//   mor-avx512-pk  the same with the weight operand packed once into its panels (SgemmPackedB),
//                outside the timing: what keeping weights packed between their uses would gain
//                (fwd and dx rows; "-" for dw, whose weight is the output)
//   dnnl-f32     oneDNN f32 matmul on the plain layouts
//   dnnl-f32-pk  oneDNN f32 with the weight operand reordered once into oneDNN's blocked layout
//                (packing amortised: weights change once per step)
//   bf16         kernels::gemm_bf16, what train.precision: bf16 runs (rounds both operands per call)
//   bf16-pk      oneDNN bf16 with the weight operand rounded and blocked once
// Output: one row per shape, GFLOP/s and % of the f32 FMA peak (bf16 can exceed 100%).
// --decode: instead, the forward products of decoding (M = 1, 4, 8 rows), cblas_sgemm against
// kernels::gemv_rows (what `linear` runs for at most kGemvMaxRows rows) and, at M = 1, cblas_sgemv.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cpu/fma_peak.h"
#include "kernels/cpu/gemm_avx512.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/isa_level.h"
#include "kernels/lab/lab_args.h"

#ifdef MOR_HAVE_DNNL
#include <dnnl.hpp>
#endif

namespace {

struct Shape {
  std::string name;
  bool ta, tb;
  long M, N, K;
  bool weight_is_b;  // which operand is the weight (packed once in the -pk variants)
};

double best_gflops(double flops, double seconds, const std::function<void()>& f) {
  using clock = std::chrono::steady_clock;
  f();  // warm-up (creates primitives, touches memory)
  double best = 0;
  const auto start = clock::now();
  int runs = 0;
  do {
    const auto t0 = clock::now();
    f();
    best = std::max(best, flops / std::chrono::duration<double>(clock::now() - t0).count() / 1e9);
  } while (++runs < 3 || std::chrono::duration<double>(clock::now() - start).count() < seconds);
  return best;
}

#ifdef MOR_HAVE_DNNL
using dnnl::memory;
using Dims = memory::dims;

// op(X) as logical [rows, cols] over X stored contiguously (transposed: strides {1, rows}).
memory::desc plain(long rows, long cols, bool trans, memory::data_type dt) {
  return memory::desc(Dims{rows, cols}, dt, trans ? Dims{1, rows} : Dims{cols, 1});
}

// Times one oneDNN matmul of `s`; with `pack`, the weight operand gets format `any` and is
// reordered once, outside the timing.
double dnnl_gflops(const Shape& s, memory::data_type dt, bool pack, const std::vector<float>& A,
                   const std::vector<float>& B, std::vector<float>& C, double seconds) {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream st(eng);
  const memory::desc a_plain = plain(s.M, s.K, s.ta, dt), b_plain = plain(s.K, s.N, s.tb, dt);
  const memory::desc any_a(Dims{s.M, s.K}, dt, memory::format_tag::any), any_b(Dims{s.K, s.N}, dt, memory::format_tag::any);
  const memory::desc c_desc(Dims{s.M, s.N}, memory::data_type::f32, Dims{s.N, 1});
  const bool pack_a = pack && !s.weight_is_b, pack_b = pack && s.weight_is_b;
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(pack_a ? any_a : a_plain, pack_b ? any_b : b_plain, c_desc), eng);
  // f32 sources -> operands in the primitive's layout and type (done once here).
  auto stage = [&](const std::vector<float>& src, long rows, long cols, bool trans, const memory::desc& want) {
    memory f32(plain(rows, cols, trans, memory::data_type::f32), eng, const_cast<float*>(src.data()));
    memory out(want, eng);
    dnnl::reorder(f32, out).execute(st, f32, out);
    st.wait();
    return out;
  };
  memory am = stage(A, s.M, s.K, s.ta, pd.src_desc()), bm = stage(B, s.K, s.N, s.tb, pd.weights_desc());
  memory cm(c_desc, eng, C.data());
  dnnl::matmul mm(pd);
  return best_gflops(2.0 * s.M * s.N * s.K, seconds, [&] {
    mm.execute(st, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    st.wait();
  });
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using mor::lab::arg;
  if (mor::lab::help(argc, argv, "gemm_lab [--rows N] [--d D] [--qkv Q] [--ff F] [--vocab V] [--threads T] [--seconds S] [--decode]"))
    return 0;
  const long N = arg(argc, argv, "--rows", 2048), d = arg(argc, argv, "--d", 384), qkv = arg(argc, argv, "--qkv", 1152),
             ff = arg(argc, argv, "--ff", 1024), V = arg(argc, argv, "--vocab", 50304);
  const int threads = int(arg(argc, argv, "--threads", 1));
  const double seconds = double(arg(argc, argv, "--seconds", 1));
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);

  std::vector<Shape> shapes;
  auto linear = [&](const std::string& name, long out, long in) {
    shapes.push_back({name + " fwd", false, true, N, out, in, true});    // x[N,in] W[out,in]^T
    shapes.push_back({name + " dx", false, false, N, in, out, true});    // dy[N,out] W[out,in]
    shapes.push_back({name + " dw", true, false, out, in, N, false});    // dy^T x: the weight is the output
  };
  linear("qkv", qkv, d);
  linear("o", d, d);
  linear("gate|up", 2 * ff, d);
  linear("down", d, ff);
  linear("lm_head", V, d);

  bool decode = false;
  for (int i = 1; i < argc; ++i) decode = decode || std::strcmp(argv[i], "--decode") == 0;
  const mor::kernels::FmaPeak peak = mor::kernels::measure_fma_peak(seconds, threads);
  if (decode) {
    std::printf("gemm_lab --decode | kernels %s | %d thread(s) | f32 FMA peak %.1f GFLOP/s\n", mor::kernels::isa_level(),
                threads, peak.gflops);
    std::printf("%-10s %4s %6s %6s | %-14s %-14s %-14s\n", "linear", "M", "N", "K", "openblas", "gemv_rows", "sgemv");
    const std::pair<const char*, std::pair<long, long>> lin[] = {
        {"qkv", {qkv, d}}, {"o", {d, d}}, {"gate|up", {2 * ff, d}}, {"down", {d, ff}}, {"lm_head", {V, d}}};
    for (const auto& [name, nk] : lin)
      for (long M : {1L, 4L, 8L}) {
        const long Nn = nk.first, K = nk.second;
        std::vector<float> X(size_t(M * K), 0.01f), W(size_t(Nn * K), 0.02f), Y(size_t(M * Nn));
        const double flops = 2.0 * M * Nn * K;
        const double blas = best_gflops(flops, seconds, [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(Nn), int(K), 1.0f, X.data(), int(K), W.data(),
                      int(K), 0.0f, Y.data(), int(Nn));
        });
        const double ours = best_gflops(flops, seconds, [&] {
          mor::kernels::gemv_rows(M, Nn, K, 1.0f, X.data(), K, W.data(), K, 0.0f, Y.data(), Nn);
        });
        double gv = 0;
        if (M == 1)
          gv = best_gflops(flops, seconds, [&] {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, int(Nn), int(K), 1.0f, W.data(), int(K), X.data(), 1, 0.0f, Y.data(), 1);
          });
        auto cell = [&](double g) {
          char buf[32];
          if (g <= 0) return std::string("-");
          std::snprintf(buf, sizeof buf, "%.2f (%.1f%%)", g, 100 * g / peak.gflops);
          return std::string(buf);
        };
        std::printf("%-10s %4ld %6ld %6ld | %-14s %-14s %-14s\n", name, M, Nn, K, cell(blas).c_str(), cell(ours).c_str(),
                    cell(gv).c_str());
        std::fflush(stdout);
      }
    return 0;
  }
  std::printf("gemm_lab | kernels %s | %d thread(s) | f32 FMA peak %.1f GFLOP/s (%d-lane register-only loop)\n",
              mor::kernels::isa_level(), threads, peak.gflops, peak.lanes);
  if (mor::kernels::sgemm_avx512_available()) {
    const double tile = mor::kernels::sgemm_avx512_tile_gflops(seconds) * threads;
    std::printf("mor-avx512 12x32 tile on L1-resident panels: %.1f GFLOP/s (%.0f%% of the FMA peak; its GEMM's ceiling)\n",
                tile, 100 * tile / peak.gflops);
  }
  const std::string bf16_why = mor::kernels::bf16_gemm_unavailable_reason();
  if (!bf16_why.empty()) std::printf("bf16 columns skipped: %s\n", bf16_why.c_str());
  std::printf("%-14s %6s %6s %6s | %-14s %-14s %-14s %-14s %-14s %-14s %-14s\n", "gemm", "M", "N", "K", "openblas",
              "mor-avx512", "mor-avx512-pk", "dnnl-f32", "dnnl-f32-pk", "bf16", "bf16-pk");
  auto cell = [&](double g) {
    char buf[32];
    if (g <= 0) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.1f (%.0f%%)", g, 100 * g / peak.gflops);
    return std::string(buf);
  };
  for (const Shape& s : shapes) {
    std::vector<float> A(size_t(s.M * s.K), 0.01f), B(size_t(s.K * s.N), 0.02f), C(size_t(s.M * s.N));
    const long lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    const double flops = 2.0 * s.M * s.N * s.K;
    const double blas = best_gflops(flops, seconds, [&] {
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, int(s.M), int(s.N),
                  int(s.K), 1.0f, A.data(), int(lda), B.data(), int(ldb), 0.0f, C.data(), int(s.N));
    });
    double ours = 0, ours_pk = 0, f32 = 0, f32pk = 0, bf = 0, bfpk = 0;
    if (mor::kernels::sgemm_avx512_available()) {
      ours = best_gflops(flops, seconds, [&] {
        mor::kernels::sgemm_avx512(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), s.N);
      });
      if (s.weight_is_b) {
        const mor::kernels::SgemmPackedB packed(s.tb, s.K, s.N, B.data(), ldb);
        ours_pk = best_gflops(flops, seconds, [&] {
          mor::kernels::sgemm_avx512_packed(s.ta, s.M, 1.0f, A.data(), lda, packed, 0.0f, C.data(), s.N);
        });
      }
    }
#ifdef MOR_HAVE_DNNL
    f32 = dnnl_gflops(s, memory::data_type::f32, false, A, B, C, seconds);
    f32pk = dnnl_gflops(s, memory::data_type::f32, true, A, B, C, seconds);
    if (bf16_why.empty()) {
      bf = best_gflops(flops, seconds, [&] {
        mor::kernels::gemm_bf16(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), s.N);
      });
      bfpk = dnnl_gflops(s, memory::data_type::bf16, true, A, B, C, seconds);
    }
#endif
    std::printf("%-14s %6ld %6ld %6ld | %-14s %-14s %-14s %-14s %-14s %-14s %-14s\n", s.name.c_str(), s.M, s.N, s.K,
                cell(blas).c_str(), cell(ours).c_str(), cell(ours_pk).c_str(), cell(f32).c_str(), cell(f32pk).c_str(),
                cell(bf).c_str(), cell(bfpk).c_str());
    std::fflush(stdout);
  }
  return 0;
}
