// Kernel lab for the CUDA kernel table (in the spirit of llm.c's dev/cuda): for each kernel, the
// CPU table's kernel on a small instance is the reference and the CUDA one is checked against it;
// then the CUDA kernel is timed with cudaEvents on a training-sized instance and its rate printed
// (GB/s for memory-bound kernels, TFLOP/s for the others, with the formula used).
//   cuda_lab [--kernel all|attention|attention_tc|rmsnorm|swiglu|lmhead|adamw|gemm] [--reps R]
// Sizes: attention 4 sequences x T=2048, 9 query / 3 kv heads of 64 (causal; FLOPs 4 B Hq T^2 D / 2
// forward, 2.5x that backward); attention_tc: the fp32 SIMT kernels against the bf16 tensor-core
// ones (attention_tc.h) at T=2048 x4, heads of 64 and 128, causal and MoR-compacted (half the
// tokens as queries and keys; half as queries over all keys), FLOPs 4 Hq D x (visible pairs)
// forward, 2.5x that backward; rmsnorm and swiglu over 16384 rows (d 1024, f 2816); lmhead_xent
// n=8192 d=1024 V=50304 with gradients (6 n V d FLOPs); adamw over 360M parameters (28 bytes per
// parameter); the GEMMs of a 360M Llama (d 960, 15/5 heads of 64, ffn 2560) over 8192 tokens, in
// fp32 (TF32 off), TF32 and bf16. Exits 0 with a message when there is no device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cuda/attention_tc.h"
#include "kernels/cuda/cuda_table.h"
#include "kernels/cuda/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/lab/lab_args.h"
#include "kernels/lab/random_inputs.h"

namespace {

using namespace mor::kernels;
namespace lab = mor::lab;

void ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "cuda_lab: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

template <typename T>
T* to_dev(const std::vector<T>& h) {
  T* p = nullptr;
  ok(cudaMalloc(&p, std::max<size_t>(h.size(), 1) * sizeof(T)), "cudaMalloc");
  if (!h.empty()) ok(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}
template <typename T>
T* dev_zeros(size_t n) {
  T* p = nullptr;
  ok(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
  ok(cudaMemset(p, 0, std::max<size_t>(n, 1) * sizeof(T)), "cudaMemset");
  return p;
}
template <typename T>
std::vector<T> to_host(const T* p, size_t n) {
  std::vector<T> h(n);
  ok(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return h;
}

// Largest |a - b| / max(1, |a|), infinities equal when both are.
template <typename T>
double max_err(const std::vector<T>& ref, const std::vector<T>& got) {
  double e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(double(ref[i])) && ref[i] == got[i]) continue;
    const double d = std::fabs(double(ref[i]) - double(got[i])) / std::max(1.0, std::fabs(double(ref[i])));
    e = std::isnan(d) ? INFINITY : std::max(e, d);
  }
  return e;
}

int g_failures = 0;
void report_check(const char* what, double err, double tol) {
  const bool pass = err <= tol;
  g_failures += !pass;
  std::printf("  check %-28s max rel err %.2e (tol %.0e) %s\n", what, err, tol, pass ? "ok" : "FAILED");
}

// Median milliseconds of `reps` runs of f (after 2 warm-up runs), timed with events.
double time_ms(int reps, const std::function<void()>& f) {
  cudaEvent_t a, b;
  cudaEventCreate(&a), cudaEventCreate(&b);
  f(), f();
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  ok(cudaGetLastError(), "timed kernel");
  cudaEventDestroy(a), cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void rate(const char* what, double ms, double flops, double bytes) {
  if (flops > 0) std::printf("  time  %-28s %9.3f ms  %8.2f TFLOP/s\n", what, ms, flops / ms * 1e-9);
  else std::printf("  time  %-28s %9.3f ms  %8.1f GB/s\n", what, ms, bytes / ms * 1e-6);
}

const KernelTable& C() { return cpu_kernel_table(); }
const KernelTable& G() { return cuda_kernel_table(); }

// Causal attention over B sequences of T rows, hq / hkv heads of D, fused-free contiguous layout.
struct Attn {
  std::vector<int64_t> off;
  std::vector<int32_t> pos;
  AttentionLayout L;
  Attn(int64_t B, int64_t T, int64_t hq, int64_t hkv, int64_t D) {
    off.push_back(0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) pos.push_back(int32_t(t));
      off.push_back(off.back() + T);
    }
    L.n_seq = B, L.hq = hq, L.hkv = hkv, L.d = D;
    L.q_stride = L.o_stride = hq * D, L.k_stride = L.v_stride = hkv * D;
  }
};

void lab_attention(int reps) {
  std::printf("attention (causal, GQA 9:3, D 64)\n");
  {  // check: 3 sequences of 150 rows
    Attn a(3, 150, 9, 3, 64);
    const int64_t nq = a.off.back();
    const auto q = lab::uniform<float>(size_t(nq * 9 * 64), 1), k = lab::uniform<float>(size_t(nq * 3 * 64), 2),
               v = lab::uniform<float>(size_t(nq * 3 * 64), 3), dout = lab::uniform<float>(size_t(nq * 9 * 64), 4);
    std::vector<float> out(q.size()), lse(size_t(nq * 9)), dq(q.size()), dk(k.size()), dv(v.size());
    AttentionLayout LC = a.L;
    LC.q_off = LC.k_off = a.off.data(), LC.q_pos = LC.k_pos = a.pos.data();
    C().f32.attention_forward(nullptr, LC, 0.125f, q.data(), k.data(), v.data(), out.data(), lse.data());
    C().f32.attention_backward(nullptr, LC, 0.125f, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(),
                               dq.data(), dk.data(), dv.data());
    AttentionLayout LG = a.L;
    int64_t* doff = to_dev(a.off);
    int32_t* dpos = to_dev(a.pos);
    LG.q_off = LG.k_off = doff, LG.q_pos = LG.k_pos = dpos;
    float *gq = to_dev(q), *gk = to_dev(k), *gv = to_dev(v), *gdo = to_dev(dout);
    float *go = dev_zeros<float>(out.size()), *gl = dev_zeros<float>(lse.size());
    float *gdq = dev_zeros<float>(dq.size()), *gdk = dev_zeros<float>(dk.size()), *gdv = dev_zeros<float>(dv.size());
    G().f32.attention_forward(nullptr, LG, 0.125f, gq, gk, gv, go, gl);
    G().f32.attention_backward(nullptr, LG, 0.125f, gq, gk, gv, go, gl, gdo, gdq, gdk, gdv);
    report_check("attention out", max_err(out, to_host(go, out.size())), 2e-4);
    report_check("attention lse", max_err(lse, to_host(gl, lse.size())), 2e-4);
    report_check("attention dq", max_err(dq, to_host(gdq, dq.size())), 2e-4);
    report_check("attention dk", max_err(dk, to_host(gdk, dk.size())), 2e-4);
    report_check("attention dv", max_err(dv, to_host(gdv, dv.size())), 2e-4);
    for (void* p : {(void*)doff, (void*)dpos, (void*)gq, (void*)gk, (void*)gv, (void*)gdo, (void*)go, (void*)gl,
                    (void*)gdq, (void*)gdk, (void*)gdv})
      cudaFree(p);
  }
  const int64_t B = 4, T = 2048, hq = 9, hkv = 3, D = 64, nq = B * T;
  Attn a(B, T, hq, hkv, D);
  AttentionLayout LG = a.L;
  int64_t* doff = to_dev(a.off);
  int32_t* dpos = to_dev(a.pos);
  LG.q_off = LG.k_off = doff, LG.q_pos = LG.k_pos = dpos;
  const size_t q_n = size_t(nq * hq * D), kv_n = size_t(nq * hkv * D);
  float *q = to_dev(lab::uniform<float>(q_n, 5)), *k = to_dev(lab::uniform<float>(kv_n, 6)),
        *v = to_dev(lab::uniform<float>(kv_n, 7)), *dout = to_dev(lab::uniform<float>(q_n, 8));
  float *out = dev_zeros<float>(size_t(nq * hq * D)), *lse = dev_zeros<float>(size_t(nq * hq));
  float *dq = dev_zeros<float>(size_t(nq * hq * D)), *dk = dev_zeros<float>(size_t(nq * hkv * D)),
        *dv = dev_zeros<float>(size_t(nq * hkv * D));
  const double fwd_flops = 4.0 * B * hq * (double(T) * T / 2) * D;
  rate("attention fwd T=2048 x4", time_ms(reps, [&] { G().f32.attention_forward(nullptr, LG, 0.125f, q, k, v, out, lse); }),
       fwd_flops, 0);
  rate("attention bwd T=2048 x4", time_ms(reps, [&] {
         G().f32.attention_backward(nullptr, LG, 0.125f, q, k, v, out, lse, dout, dq, dk, dv);
       }),
       2.5 * fwd_flops, 0);
  for (void* p : {(void*)doff, (void*)dpos, (void*)q, (void*)k, (void*)v, (void*)dout, (void*)out, (void*)lse,
                  (void*)dq, (void*)dk, (void*)dv})
    cudaFree(p);
}

// A packed attention instance on the host (per sequence: ascending query and key positions),
// contiguous q/k/v/out rows, and its device copy with gradients.
struct AttnCase {
  std::vector<int64_t> q_off{0}, k_off{0};
  std::vector<int32_t> q_pos, k_pos;
  int64_t hq, hkv, d;
  AttnCase(int64_t hq_, int64_t hkv_, int64_t d_) : hq(hq_), hkv(hkv_), d(d_) {}
  void add(const std::vector<int32_t>& qp, const std::vector<int32_t>& kp) {
    q_pos.insert(q_pos.end(), qp.begin(), qp.end());
    k_pos.insert(k_pos.end(), kp.begin(), kp.end());
    q_off.push_back(q_off.back() + int64_t(qp.size()));
    k_off.push_back(k_off.back() + int64_t(kp.size()));
  }
  int64_t nq() const { return q_off.back(); }
  int64_t nk() const { return k_off.back(); }
  // Sum over the queries of the keys each sees (the attention's work, for TFLOP/s).
  double visible_pairs() const {
    double n = 0;
    for (size_t s = 0; s + 1 < q_off.size(); ++s)
      for (int64_t i = q_off[s]; i < q_off[s + 1]; ++i)
        for (int64_t j = k_off[s]; j < k_off[s + 1] && k_pos[size_t(j)] <= q_pos[size_t(i)]; ++j) n += 1;
    return n;
  }
  AttentionLayout layout() const {
    AttentionLayout L;
    L.n_seq = int64_t(q_off.size()) - 1, L.hq = hq, L.hkv = hkv, L.d = d;
    L.q_stride = L.o_stride = hq * d, L.k_stride = L.v_stride = hkv * d;
    return L;
  }
};


struct AttnDev {
  AttentionLayout L;
  int64_t *q_off, *k_off;
  int32_t *q_pos, *k_pos;
  float *q, *k, *v, *dout, *out, *lse, *dq, *dk, *dv;
  explicit AttnDev(const AttnCase& c) : L(c.layout()) {
    const size_t nq = size_t(c.nq()), nk = size_t(c.nk());
    const size_t dq_n = nq * size_t(c.hq * c.d), dk_n = nk * size_t(c.hkv * c.d);
    q_off = to_dev(c.q_off), k_off = to_dev(c.k_off), q_pos = to_dev(c.q_pos), k_pos = to_dev(c.k_pos);
    L.q_off = q_off, L.k_off = k_off, L.q_pos = q_pos, L.k_pos = k_pos;
    q = to_dev(lab::uniform<float>(dq_n, 31)), k = to_dev(lab::uniform<float>(dk_n, 32));
    v = to_dev(lab::uniform<float>(dk_n, 33));
    dout = to_dev(lab::uniform<float>(dq_n, 34));
    out = dev_zeros<float>(dq_n), lse = dev_zeros<float>(nq * size_t(c.hq));
    dq = dev_zeros<float>(dq_n), dk = dev_zeros<float>(dk_n), dv = dev_zeros<float>(dk_n);
  }
  ~AttnDev() {
    for (void* p : {(void*)q_off, (void*)k_off, (void*)q_pos, (void*)k_pos, (void*)q, (void*)k, (void*)v, (void*)dout,
                    (void*)out, (void*)lse, (void*)dq, (void*)dk, (void*)dv})
      cudaFree(p);
  }
};

// The tensor-core variant on or off for the CUDA table's f32 attention (it needs the bf16 GEMM
// precision too).
void attention_variant(bool tc) {
  set_cuda_attention_tc(tc);
  set_gemm_precision(tc ? GemmPrecision::BF16 : GemmPrecision::F32);
}

// The tensor-core kernels against the CPU's (fp32) on a small instance. Tolerance 1e-2 of
// max(1, |ref|): bf16 inputs (8-bit mantissa) in dot products of D terms, fp32 accumulation.
void check_attention_tc(const AttnCase& c, const std::string& name) {
  const int64_t nq = c.nq(), nk = c.nk();
  AttnDev g(c);
  const size_t qn = size_t(nq * c.hq * c.d), kn = size_t(nk * c.hkv * c.d);
  const auto q = to_host(g.q, qn), k = to_host(g.k, kn), v = to_host(g.v, kn), dout = to_host(g.dout, qn);
  std::vector<float> out(qn), lse(size_t(nq * c.hq)), dq(qn), dk(kn), dv(kn);
  AttentionLayout LC = c.layout();
  LC.q_off = c.q_off.data(), LC.k_off = c.k_off.data(), LC.q_pos = c.q_pos.data(), LC.k_pos = c.k_pos.data();
  const float scale = 1.0f / std::sqrt(float(c.d));
  attention_variant(false);  // the CPU reference in fp32
  C().f32.attention_forward(nullptr, LC, scale, q.data(), k.data(), v.data(), out.data(), lse.data());
  C().f32.attention_backward(nullptr, LC, scale, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(),
                             dq.data(), dk.data(), dv.data());
  attention_variant(true);
  G().f32.attention_forward(nullptr, g.L, scale, g.q, g.k, g.v, g.out, g.lse);
  G().f32.attention_backward(nullptr, g.L, scale, g.q, g.k, g.v, g.out, g.lse, g.dout, g.dq, g.dk, g.dv);
  attention_variant(false);
  const double tol = 1e-2;
  report_check((name + " out").c_str(), max_err(out, to_host(g.out, qn)), tol);
  report_check((name + " lse").c_str(), max_err(lse, to_host(g.lse, lse.size())), tol);
  report_check((name + " dq").c_str(), max_err(dq, to_host(g.dq, qn)), tol);
  report_check((name + " dk").c_str(), max_err(dk, to_host(g.dk, kn)), tol);
  report_check((name + " dv").c_str(), max_err(dv, to_host(g.dv, kn)), tol);
}

// fp32 SIMT vs bf16 tensor cores on one instance: forward and backward, TFLOP/s of the useful work.
void time_attention_variants(int reps, const AttnCase& c, const std::string& name) {
  AttnDev g(c);
  const double fwd_flops = 4.0 * double(c.hq * c.d) * c.visible_pairs();
  const float scale = 1.0f / std::sqrt(float(c.d));
  for (bool tc : {false, true}) {
    attention_variant(tc);
    const std::string tag = name + (tc ? " bf16-tc" : " fp32");
    rate(("fwd " + tag).c_str(), time_ms(reps, [&] {
           G().f32.attention_forward(nullptr, g.L, scale, g.q, g.k, g.v, g.out, g.lse);
         }),
         fwd_flops, 0);
    rate(("bwd " + tag).c_str(), time_ms(reps, [&] {
           G().f32.attention_backward(nullptr, g.L, scale, g.q, g.k, g.v, g.out, g.lse, g.dout, g.dq, g.dk, g.dv);
         }),
         2.5 * fwd_flops, 0);
  }
  attention_variant(false);
}

void lab_attention_tc(int reps) {
  std::printf("attention, bf16 tensor cores (attention_tc.h) vs fp32 SIMT\n");
  for (int64_t d : {64, 128}) {  // check: causal GQA, partial tiles, a compacted subset with KV sharing
    AttnCase c(4, 2, d);
    c.add(lab::positions(0, 150), lab::positions(0, 150));
    c.add(lab::random_subset(300, 77, 1), lab::positions(0, 300));        // queries a subset, keys all (Nk != Nq)
    c.add({0, 3, 9}, lab::positions(5, 40));                  // a query before every key (out 0, lse -inf)
    const auto sel = lab::random_subset(200, 90, 2);
    c.add(sel, sel);                                      // a subset among itself
    check_attention_tc(c, "tc D" + std::to_string(d));
  }
  const int32_t T = 2048;
  for (int64_t d : {64, 128}) {
    const int64_t hq = d == 64 ? 16 : 8, hkv = d == 64 ? 4 : 2;
    const std::string heads = " " + std::to_string(hq) + ":" + std::to_string(hkv) + "x" + std::to_string(d);
    AttnCase causal(hq, hkv, d), sub(hq, hkv, d), share(hq, hkv, d);
    for (int b = 0; b < 4; ++b) {
      causal.add(lab::positions(0, T), lab::positions(0, T));
      const auto sel = lab::random_subset(T, T / 2, unsigned(10 + b));
      sub.add(sel, sel);
      share.add(sel, lab::positions(0, T));
    }
    time_attention_variants(reps, causal, "causal T2048x4" + heads);
    time_attention_variants(reps, sub, "subset 1024/2048 x4" + heads);
    time_attention_variants(reps, share, "subset q / all kv x4" + heads);
  }
}

void lab_rmsnorm_swiglu(int reps, bool norm, bool swiglu) {
  if (norm) {
    std::printf("rmsnorm\n");
    const int64_t n = 16384, d = 1024, sn = 100;
    const auto x = lab::uniform<float>(size_t(n * d), 9), w = lab::uniform<float>(size_t(d), 10, 0.5, 1.5),
               dy = lab::uniform<float>(size_t(n * d), 11);
    std::vector<float> y(size_t(sn * d)), r(static_cast<size_t>(sn)), dx(size_t(sn * d)), dw(static_cast<size_t>(d));
    float *gx = to_dev(x), *gw = to_dev(w), *gdy = to_dev(dy), *gy = dev_zeros<float>(size_t(n * d)),
          *gr = dev_zeros<float>(static_cast<size_t>(n)), *gdx = dev_zeros<float>(size_t(n * d)), *gdw = dev_zeros<float>(static_cast<size_t>(d));
    C().f32.rmsnorm_forward(nullptr, sn, d, x.data(), w.data(), 1e-5f, y.data(), r.data());
    C().f32.rmsnorm_backward(nullptr, sn, d, x.data(), w.data(), r.data(), dy.data(), dx.data(), false, dw.data(), false);
    G().f32.rmsnorm_forward(nullptr, sn, d, gx, gw, 1e-5f, gy, gr);
    G().f32.rmsnorm_backward(nullptr, sn, d, gx, gw, gr, gdy, gdx, false, gdw, false);
    report_check("rmsnorm y", max_err(y, to_host(gy, y.size())), 2e-5);
    report_check("rmsnorm dx", max_err(dx, to_host(gdx, dx.size())), 5e-5);
    report_check("rmsnorm dw", max_err(dw, to_host(gdw, dw.size())), 5e-5);
    const double bytes = 2.0 * n * d * 4;
    rate("rmsnorm fwd 16384x1024", time_ms(reps, [&] { G().f32.rmsnorm_forward(nullptr, n, d, gx, gw, 1e-5f, gy, gr); }),
         0, bytes);
    rate("rmsnorm bwd 16384x1024", time_ms(reps, [&] {
           G().f32.rmsnorm_backward(nullptr, n, d, gx, gw, gr, gdy, gdx, false, gdw, false);
         }),
         0, 3.0 * n * d * 4);
    for (float* p : {gx, gw, gdy, gy, gr, gdx, gdw}) cudaFree(p);
  }
  if (swiglu) {
    std::printf("swiglu\n");
    const int64_t n = 16384, f = 2816, sn = 50;
    const auto gu = lab::uniform<float>(size_t(n * 2 * f), 12, -4, 4), dy = lab::uniform<float>(size_t(n * f), 13);
    std::vector<float> y(size_t(sn * f)), dgu(size_t(sn * 2 * f));
    float *ggu = to_dev(gu), *gdy = to_dev(dy), *gy = dev_zeros<float>(size_t(n * f)),
          *gdgu = dev_zeros<float>(size_t(n * 2 * f));
    C().f32.swiglu_forward(nullptr, sn, f, gu.data(), y.data());
    C().f32.swiglu_backward(nullptr, sn, f, gu.data(), dy.data(), dgu.data(), false);
    G().f32.swiglu_forward(nullptr, sn, f, ggu, gy);
    G().f32.swiglu_backward(nullptr, sn, f, ggu, gdy, gdgu, false);
    report_check("swiglu y", max_err(y, to_host(gy, y.size())), 2e-6);
    report_check("swiglu dgu", max_err(dgu, to_host(gdgu, dgu.size())), 2e-6);
    rate("swiglu fwd 16384x2816", time_ms(reps, [&] { G().f32.swiglu_forward(nullptr, n, f, ggu, gy); }), 0,
         3.0 * n * f * 4);
    rate("swiglu bwd 16384x2816", time_ms(reps, [&] { G().f32.swiglu_backward(nullptr, n, f, ggu, gdy, gdgu, false); }),
         0, 5.0 * n * f * 4);
    for (float* p : {ggu, gdy, gy, gdgu}) cudaFree(p);
  }
}

void lab_lmhead(int reps) {
  std::printf("lmhead_xent (TF32 on for the timing, off for the check)\n");
  auto run = [](const KernelTable& t, int64_t n, int64_t V, int64_t d, const float* h, const float* w,
                const int32_t* target, float* logits, float* stats, float* dh, float* dw, float* loss, int64_t rows) {
    LmHeadXent<float> p;
    p.n = n, p.V = V, p.d = d, p.h = h, p.w = w, p.target = target, p.rows = rows, p.keep = true;
    p.logits = logits, p.stats = stats, p.grad_scale = 1.0f / float(n), p.dh = dh, p.dw = dw;
    t.f32.lmhead_xent(nullptr, p, double(n), loss);
  };
  {
    set_cuda_tf32(false);
    const int64_t n = 40, V = 1000, d = 64, rows = 16;
    const auto h = lab::uniform<float>(size_t(n * d), 14), w = lab::uniform<float>(size_t(V * d), 15);
    std::vector<int32_t> t(n);
    for (int64_t i = 0; i < n; ++i) t[size_t(i)] = i % 5 == 0 ? -1 : int32_t((i * 97) % V);
    std::vector<float> logits(size_t(rows * V)), stats(size_t(3 * rows)), dh(size_t(n * d)), dw(size_t(V * d)), loss(1);
    run(C(), n, V, d, h.data(), w.data(), t.data(), logits.data(), stats.data(), dh.data(), dw.data(), loss.data(), rows);
    float *gh = to_dev(h), *gw = to_dev(w), *gl = dev_zeros<float>(logits.size()), *gs = dev_zeros<float>(stats.size()),
          *gdh = dev_zeros<float>(dh.size()), *gdw = dev_zeros<float>(dw.size()), *gloss = dev_zeros<float>(1);
    int32_t* gt = to_dev(t);
    run(G(), n, V, d, gh, gw, gt, gl, gs, gdh, gdw, gloss, rows);
    report_check("lmhead loss", max_err(loss, to_host(gloss, 1)), 2e-4);
    report_check("lmhead dh", max_err(dh, to_host(gdh, dh.size())), 2e-4);
    report_check("lmhead dw", max_err(dw, to_host(gdw, dw.size())), 2e-4);
    for (void* p : {(void*)gh, (void*)gw, (void*)gl, (void*)gs, (void*)gdh, (void*)gdw, (void*)gloss, (void*)gt})
      cudaFree(p);
    set_cuda_tf32(true);
  }
  const int64_t n = 8192, V = 50304, d = 1024, rows = lmhead_block_rows(n, V);
  std::vector<int32_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[size_t(i)] = int32_t((i * 7919) % V);
  float *h = to_dev(lab::uniform<float>(size_t(n * d), 16, -0.1, 0.1)), *w = to_dev(lab::uniform<float>(size_t(V * d), 17, -0.1, 0.1));
  float *logits = dev_zeros<float>(size_t(rows * V)), *stats = dev_zeros<float>(size_t(3 * rows)),
        *dh = dev_zeros<float>(size_t(n * d)), *dw = dev_zeros<float>(size_t(V * d)), *loss = dev_zeros<float>(1);
  int32_t* gt = to_dev(t);
  for (GemmPrecision prec : {GemmPrecision::F32, GemmPrecision::BF16}) {
    set_gemm_precision(prec);
    const std::string name = std::string("lmhead n8192 V50304 ") + (prec == GemmPrecision::BF16 ? "bf16" : "tf32");
    rate(name.c_str(), time_ms(reps, [&] { run(G(), n, V, d, h, w, gt, logits, stats, dh, dw, loss, rows); }),
         6.0 * n * V * d, 0);
  }
  set_gemm_precision(GemmPrecision::F32);
  for (void* p : {(void*)h, (void*)w, (void*)logits, (void*)stats, (void*)dh, (void*)dw, (void*)loss, (void*)gt})
    cudaFree(p);
}

void lab_adamw(int reps) {
  std::printf("adamw + sum_squares\n");
  AdamWArgs a;
  a.lr = 3e-4f, a.weight_decay = 0.1f, a.bias_correction1 = 0.1f, a.bias_correction2 = 0.05f;
  {
    const int64_t n = 100003;
    auto p = lab::uniform<float>(size_t(n), 18), m = lab::uniform<float>(size_t(n), 19, -0.01, 0.01),
         v = lab::uniform<float>(size_t(n), 20, 0, 1e-4);
    const auto g = lab::uniform<float>(size_t(n), 21);
    float *gp = to_dev(p), *gm = to_dev(m), *gv = to_dev(v), *gg = to_dev(g);
    C().adamw_update(nullptr, n, p.data(), g.data(), m.data(), v.data(), a);
    G().adamw_update(nullptr, n, gp, gg, gm, gv, a);
    report_check("adamw p", max_err(p, to_host(gp, size_t(n))), 1e-6);
    const double sc = C().sum_squares(nullptr, n, g.data()), sg = G().sum_squares(nullptr, n, gg);
    report_check("sum_squares", std::fabs(sc - sg) / std::max(1.0, sc), 1e-6);
    for (float* q : {gp, gm, gv, gg}) cudaFree(q);
  }
  const int64_t n = 360000000;
  float *p = dev_zeros<float>(static_cast<size_t>(n)), *g = dev_zeros<float>(static_cast<size_t>(n)), *m = dev_zeros<float>(static_cast<size_t>(n)),
        *v = dev_zeros<float>(static_cast<size_t>(n));
  rate("adamw 360M params", time_ms(reps, [&] { G().adamw_update(nullptr, n, p, g, m, v, a); }), 0, 28.0 * n);
  rate("sum_squares 360M", time_ms(reps, [&] { G().sum_squares(nullptr, n, g); }), 0, 4.0 * n);
  for (float* q : {p, g, m, v}) cudaFree(q);
}

void lab_gemm(int reps) {
  std::printf("gemm (360M Llama over 8192 tokens: C = A W^T)\n");
  {
    set_cuda_tf32(false);
    const int64_t M = 70, N = 90, K = 300;
    const auto A = lab::uniform<float>(size_t(M * K), 22), B = lab::uniform<float>(size_t(N * K), 23);
    std::vector<float> c(size_t(M * N));
    float *ga = to_dev(A), *gb = to_dev(B), *gc = dev_zeros<float>(c.size());
    C().f32.gemm(nullptr, false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c.data(), N);
    G().f32.gemm(nullptr, false, true, M, N, K, 1.0f, ga, K, gb, K, 0.0f, gc, N);
    report_check("gemm f32 (TF32 off)", max_err(c, to_host(gc, c.size())), 1e-4);
    for (float* q : {ga, gb, gc}) cudaFree(q);
  }
  struct Shape {
    const char* name;
    int64_t N, K;
  } shapes[] = {{"qkv 960->1600", 1600, 960}, {"attn out 960->960", 960, 960}, {"gate+up 960->5120", 5120, 960},
                {"down 2560->960", 960, 2560}};
  const int64_t M = 8192;
  for (const Shape& s : shapes) {
    float *a = to_dev(lab::uniform<float>(size_t(M * s.K), 24)), *w = to_dev(lab::uniform<float>(size_t(s.N * s.K), 25)),
          *c = dev_zeros<float>(size_t(M * s.N));
    const double flops = 2.0 * M * s.N * s.K;
    for (int mode = 0; mode < 3; ++mode) {
      set_cuda_tf32(mode == 1);
      set_gemm_precision(mode == 2 ? GemmPrecision::BF16 : GemmPrecision::F32);
      const std::string name = std::string(s.name) + (mode == 0 ? " fp32" : mode == 1 ? " tf32" : " bf16");
      rate(name.c_str(), time_ms(reps, [&] { G().f32.gemm(nullptr, false, true, M, s.N, s.K, 1.0f, a, s.K, w, s.K, 0.0f, c, s.N); }),
           flops, 0);
    }
    set_cuda_tf32(true);
    set_gemm_precision(GemmPrecision::F32);
    for (float* q : {a, w, c}) cudaFree(q);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (mor::lab::help(argc, argv, "cuda_lab [--kernel all|attention|attention_tc|rmsnorm|swiglu|lmhead|adamw|gemm] [--reps R]"))
    return 0;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("cuda_lab: no CUDA device: nothing to measure.\n");
    return 0;
  }
  cudaDeviceProp prop;
  ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("cuda_lab on %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  const std::string k = mor::lab::sarg(argc, argv, "--kernel", "all");
  const int reps = int(mor::lab::arg(argc, argv, "--reps", 10));
  const bool all = k == "all";
  if (all || k == "attention") lab_attention(reps);
  if (all || k == "attention" || k == "attention_tc") lab_attention_tc(reps);
  if (all || k == "rmsnorm" || k == "swiglu") lab_rmsnorm_swiglu(reps, all || k == "rmsnorm", all || k == "swiglu");
  if (all || k == "lmhead") lab_lmhead(reps);
  if (all || k == "adamw") lab_adamw(reps);
  if (all || k == "gemm") lab_gemm(reps);
  std::printf("cuda_lab: %d check(s) failed\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
