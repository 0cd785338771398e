// Kernel lab: the LM head fused with cross-entropy (loss, d loss/d h, d loss/d w of
// loss = sum_i CE(h_i w^T, target_i) / n), under the driver the trainer used before issue 15 and
// under the vocabulary-tiled kernels of kernels/cpu/lmhead_xent.h with several tilings, so the
// trainer's tiling is chosen by measurement.
//   lmhead_lab [--rows N] [--d D] [--vocab V] [--threads T] [--rounds R] [--precision fp32|bf16] [--only PART,PART,...]
// Defaults: configs/bench-llama-small.yaml (8 x 256 rows, d 384, vocab 50304); the isoFLOP
// configs are --d 256 --vocab 8192. Variants:
//   rowchunk             the pre-issue-15 driver: row chunks of 2^27 / V rows, their logits
//                        [chunk, V] materialised, softmax_xent_rows, then dh and dw by two GEMMs
//   recompute t=T r=R    blocks of R rows; pass 1 (stats) and pass 2 (gradients) each compute
//                        the logits tile [R, T] by a GEMM (4 GEMMs of n V d in all)
//   keep t=T r=R         blocks of R rows; pass 1 keeps the block's logits [R, V] for pass 2
//                        (3 GEMMs, an [R, V] buffer)
// First every variant is checked against a double-precision reference on a small shape whose
// vocabulary no tile divides, with ignored targets; then the variants run interleaved (one run of
// each per round) and the table gives each one's median time, GFLOP/s of the 3 GEMMs' work
// (6 n V d: the FLOPs the loss needs, so recomputation shows as a lower rate) and % of the
// register-only FMA peak measured first. Buffer: the logits memory the variant holds.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fma_peak.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/isa_level.h"
#include "kernels/lab/lab_args.h"
#include "kernels/cpu/lmhead_xent.h"
#include "kernels/cpu/loss.h"

namespace {

struct Problem {
  long n, d, V;
  std::vector<float> h, w;  // [n, d], [V, d]
  std::vector<int32_t> target;  // [n], some -1
};

Problem make_problem(long n, long d, long V, unsigned seed) {
  Problem p{n, d, V, std::vector<float>(size_t(n * d)), std::vector<float>(size_t(V * d)), std::vector<int32_t>(size_t(n))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& x : p.h) x = nd(rng);
  for (float& x : p.w) x = 0.05f * nd(rng);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(V - 1));
  for (long i = 0; i < n; ++i) p.target[size_t(i)] = i % 7 == 3 ? -1 : tok(rng);
  return p;
}

struct Result {
  double loss = 0;
  std::vector<float> dh, dw;
};

// A variant computes the mean loss over the non-ignored rows and writes dh, dw.
// Buffers persist across calls (as the trainer's caching allocator keeps them), so no variant pays
// page faults on every call.
struct Variant {
  std::string name;
  std::function<size_t(long n, long V)> buffer_bytes;
  std::function<void(const Problem&, Result&, std::vector<float>& buf)> run;
  std::vector<float> buf;
};

long valid_rows(const Problem& p) {
  long k = 0;
  for (int32_t t : p.target) k += t >= 0;
  return std::max(k, 1L);
}

void run_rowchunk(const Problem& p, Result& r, std::vector<float>& z) {
  using mor::kernels::gemm;
  const long n = p.n, d = p.d, V = p.V;
  const long chunk = std::clamp<long>((1L << 27) / V, 16, n);
  const float scale = 1.0f / float(valid_rows(p));
  z.resize(size_t(std::min(chunk, n) * V));
  std::vector<float> row_loss(static_cast<size_t>(chunk));
  double total = 0;
  for (long r0 = 0; r0 < n; r0 += chunk) {
    const long m = std::min(chunk, n - r0);
    gemm<float>(false, true, m, V, d, 1, p.h.data() + r0 * d, d, p.w.data(), d, 0, z.data(), V);
    total += mor::kernels::softmax_xent_rows<float>(m, V, z.data(), p.target.data() + r0, scale, row_loss.data());
    gemm<float>(false, false, m, d, V, 1, z.data(), V, p.w.data(), d, 0, r.dh.data() + r0 * d, d);
    gemm<float>(true, false, V, d, m, 1, z.data(), V, p.h.data() + r0 * d, d, r0 == 0 ? 0.0f : 1.0f, r.dw.data(), d);
  }
  r.loss = total * scale;
}

void run_tiled(const Problem& p, Result& r, std::vector<float>& buf, long tile, long rows, bool keep) {
  const long R = std::min(rows, p.n);
  buf.resize(size_t(keep ? R * p.V : R * std::min(tile, p.V)));
  std::vector<float> stats(size_t(3 * R));
  mor::kernels::LmHeadXent<float> x;
  x.n = p.n, x.V = p.V, x.d = p.d;
  x.h = p.h.data(), x.w = p.w.data(), x.target = p.target.data();
  x.rows = R, x.tile = tile, x.keep = keep;
  x.logits = buf.data(), x.stats = stats.data();
  x.grad_scale = 1.0f / float(valid_rows(p));
  x.dh = r.dh.data(), x.dw = r.dw.data();
  r.loss = mor::kernels::lmhead_xent<float>(x) * x.grad_scale;
}

// Double-precision reference, straight from the definition.
void run_reference(const Problem& p, double& loss, std::vector<double>& dh, std::vector<double>& dw) {
  const long n = p.n, d = p.d, V = p.V;
  const double scale = 1.0 / double(valid_rows(p));
  dh.assign(size_t(n * d), 0.0), dw.assign(size_t(V * d), 0.0);
  loss = 0;
  std::vector<double> z(static_cast<size_t>(V));
  for (long i = 0; i < n; ++i) {
    const int32_t t = p.target[size_t(i)];
    if (t < 0) continue;
    double mx = -1e300;
    for (long j = 0; j < V; ++j) {
      double s = 0;
      for (long k = 0; k < d; ++k) s += double(p.h[size_t(i * d + k)]) * double(p.w[size_t(j * d + k)]);
      z[size_t(j)] = s;
      mx = std::max(mx, s);
    }
    double se = 0;
    for (long j = 0; j < V; ++j) se += std::exp(z[size_t(j)] - mx);
    loss += (mx + std::log(se) - z[size_t(t)]) * scale;
    for (long j = 0; j < V; ++j) {
      const double g = (std::exp(z[size_t(j)] - mx) / se - (j == t ? 1.0 : 0.0)) * scale;
      for (long k = 0; k < d; ++k) {
        dh[size_t(i * d + k)] += g * double(p.w[size_t(j * d + k)]);
        dw[size_t(j * d + k)] += g * double(p.h[size_t(i * d + k)]);
      }
    }
  }
}

// max |a - ref| / max |ref|
double rel_err(const std::vector<float>& a, const std::vector<double>& ref) {
  double e = 0, m = 0;
  for (size_t i = 0; i < ref.size(); ++i) e = std::max(e, std::abs(double(a[i]) - ref[i])), m = std::max(m, std::abs(ref[i]));
  return e / std::max(m, 1e-300);
}

// Process CPU time: robust to other processes taking the cores (run with OMP_WAIT_POLICY=PASSIVE
// so that waiting threads do not spin).
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using mor::lab::arg;
  using mor::lab::sarg;
  if (mor::lab::help(argc, argv, "lmhead_lab [--rows N] [--d D] [--vocab V] [--threads T] [--rounds R] [--precision fp32|bf16] [--only PART,PART,...]")) return 0;
  const long n = arg(argc, argv, "--rows", 2048), d = arg(argc, argv, "--d", 384), V = arg(argc, argv, "--vocab", 50304);
  const int threads = int(arg(argc, argv, "--threads", 1));
  const int rounds = int(arg(argc, argv, "--rounds", 3));
  const std::string only = sarg(argc, argv, "--only", "");
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  const bool bf16 = std::strcmp(sarg(argc, argv, "--precision", "fp32"), "bf16") == 0;
  if (bf16) {
    const std::string why = mor::kernels::bf16_gemm_unavailable_reason();
    if (!why.empty()) {
      std::printf("--precision bf16: %s\n", why.c_str());
      return 2;
    }
    mor::kernels::set_gemm_precision(mor::kernels::GemmPrecision::BF16);
  }

  std::vector<Variant> variants;
  variants.push_back({"rowchunk", [](long n, long V) { return size_t(std::min(std::clamp<long>((1L << 27) / V, 16, n), n) * V * 4); },
                      run_rowchunk, {}});
  auto tile_name = [](long t) { return t >= (1L << 30) ? std::string("V") : std::to_string(t); };
  constexpr long kWhole = 1L << 30;  // one tile: the whole vocabulary
  for (long rows : {512L, 2048L, 8192L})
    for (long tile : {256L, 1024L, 4096L})
      variants.push_back({"recompute t=" + tile_name(tile) + " r=" + std::to_string(rows),
                          [=](long n, long V) { return size_t(std::min(rows, n) * std::min(tile, V) * 4); },
                          [=](const Problem& p, Result& r, std::vector<float>& b) { run_tiled(p, r, b, tile, rows, false); }, {}});
  for (long rows : {128L, 256L, 512L, 1024L})
    for (long tile : {1024L, 4096L, 16384L, kWhole})
      variants.push_back({"keep t=" + tile_name(tile) + " r=" + std::to_string(rows),
                          [=](long n, long V) { return size_t(std::min(rows, n) * V * 4); },
                          [=](const Problem& p, Result& r, std::vector<float>& b) { run_tiled(p, r, b, tile, rows, true); }, {}});
  if (!only.empty()) {  // keep rowchunk (the baseline) and the variants named by any comma-separated part of --only
    auto wanted = [&](const std::string& name) {
      for (size_t a = 0; a <= only.size();) {
        const size_t b = std::min(only.find(',', a), only.size());
        if (b > a && name.find(only.substr(a, b - a)) != std::string::npos) return true;
        a = b + 1;
      }
      return name == "rowchunk";
    };
    variants.erase(std::remove_if(variants.begin(), variants.end(), [&](const Variant& v) { return !wanted(v.name); }),
                   variants.end());
  }

  // Check: a small shape no tile divides (vocab 4099), every seventh row ignored, 2 row blocks and more.
  {
    const Problem p = make_problem(300, 48, 4099, 7);
    double ref_loss;
    std::vector<double> ref_dh, ref_dw;
    run_reference(p, ref_loss, ref_dh, ref_dw);
    bool ok = true;
    for (const Variant& v : variants) {
      Result r{0, std::vector<float>(size_t(p.n * p.d)), std::vector<float>(size_t(p.V * p.d))};
      std::vector<float> buf;
      v.run(p, r, buf);
      const double el = std::abs(r.loss - ref_loss) / std::abs(ref_loss), eh = rel_err(r.dh, ref_dh), ew = rel_err(r.dw, ref_dw);
      const double tol = bf16 ? 3e-2 : 1e-3;  // bf16 GEMM inputs: 8 mantissa bits
      if (!(el < tol / 10 && eh < tol && ew < tol)) {
        std::printf("CHECK FAILED %-24s loss %.3g dh %.3g dw %.3g (relative to the f64 reference)\n", v.name.c_str(), el, eh, ew);
        ok = false;
      }
    }
    if (!ok) return 1;
    std::printf("check: %zu variants agree with the f64 reference (n 300, d 48, vocab 4099, ignored rows)\n", variants.size());
  }

  const mor::kernels::FmaPeak peak = mor::kernels::measure_fma_peak(1.0, threads);
  std::printf("lmhead_lab | kernels %s | %d thread(s) | n %ld d %ld vocab %ld | GEMMs %s | f32 FMA peak %.1f GFLOP/s\n",
              mor::kernels::isa_level(), threads, n, d, V, bf16 ? "bf16 (oneDNN)" : "fp32", peak.gflops);
  const Problem p = make_problem(n, d, V, 11);
  Result r{0, std::vector<float>(size_t(n * d)), std::vector<float>(size_t(V * d))};
  std::vector<std::vector<double>> secs(variants.size()), cpu(variants.size());
  std::vector<double> losses(variants.size());
  using clock = std::chrono::steady_clock;
  for (Variant& v : variants) v.run(p, r, v.buf);  // warm-up (allocates the buffers)
  for (int round = 0; round < rounds; ++round)
    for (size_t i = 0; i < variants.size(); ++i) {
      const auto t0 = clock::now();
      const double c0 = cpu_seconds();
      variants[i].run(p, r, variants[i].buf);
      secs[i].push_back(std::chrono::duration<double>(clock::now() - t0).count());
      cpu[i].push_back(cpu_seconds() - c0);
      losses[i] = r.loss;
    }
  const double flops = 6.0 * double(n) * double(V) * double(d);
  std::printf("%-24s %9s %9s %8s %9s %7s %10s  (GFLOP/s and %% peak from CPU time; 6 n V d FLOPs)\n", "variant",
              "wall ms", "cpu ms", "GFLOP/s", "% peak", "vs [0]", "buffer MB");
  const double base = median(cpu[0]);
  for (size_t i = 0; i < variants.size(); ++i) {
    const double w = median(secs[i]), c = median(cpu[i]);
    std::printf("%-24s %9.1f %9.1f %8.1f %8.0f%% %6.2fx %10.1f  (loss %.6f)\n", variants[i].name.c_str(), 1e3 * w, 1e3 * c,
                flops / c / 1e9, 100 * flops / c / 1e9 / peak.gflops, base / c, double(variants[i].buffer_bytes(n, V)) / 1048576.0,
                losses[i]);
  }
  return 0;
}
