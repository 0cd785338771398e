// bf16 GEMM through oneDNN's matmul primitive; see gemm_bf16.h.
//
// Per call: op(A) and op(B) are rounded to bf16 into per-thread buffers (kept in their stored
// layout; transposition is expressed by strides; gemm_bf16_rounded takes them already rounded),
// then one matmul with f32 accumulation writes
// C with output scale alpha and, for beta != 0, a sum post-op (C = alpha*AB + beta*C). Primitives
// are cached per thread by shape, since oneDNN's creation costs far more than a small GEMM.
#include "gemm_bf16.h"

#include <omp.h>

#include "src/core/bf16.h"

#ifdef MOR_HAVE_DNNL
#include <dnnl.hpp>

#include <map>
#include <tuple>
#endif

namespace mor::kernels {

void round_row_to_bf16(const float* src, int64_t n, uint16_t* out) {
  for (int64_t c = 0; c < n; ++c) out[c] = f32_to_bf16(src[c]);
}

void round_to_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, std::vector<uint16_t>& dst) {
  dst.resize(size_t(rows * cols));
  uint16_t* out = dst.data();
  const bool parallel = !omp_in_parallel() && rows * cols >= (1 << 16);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) round_row_to_bf16(src + r * ld, cols, out + r * cols);
}

#ifndef MOR_HAVE_DNNL

std::string bf16_gemm_unavailable_reason() {
  return "this build has no oneDNN (install libdnnl-dev, e.g. with launch/install_deps.sh, then rebuild)";
}

void gemm_bf16(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
               float*, int64_t) {
  __builtin_trap();  // unreachable: callers check bf16_gemm_unavailable_reason() first
}

void gemm_bf16_rounded(bool, bool, int64_t, int64_t, int64_t, float, const uint16_t*, const uint16_t*, float, float*,
                       int64_t) {
  __builtin_trap();  // unreachable, as gemm_bf16
}

#else

namespace {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// op(X) as a logical [rows, cols] matrix over a contiguous bf16 copy of X as stored.
memory::desc bf16_desc(int64_t rows, int64_t cols, bool trans) {
  return memory::desc(Dims{rows, cols}, memory::data_type::bf16, trans ? Dims{1, rows} : Dims{cols, 1});
}

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, float, float>;

dnnl::matmul& primitive_for(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t ldc, float alpha, float beta) {
  thread_local std::map<Key, dnnl::matmul> cache;
  const Key key{ta, tb, M, N, K, ldc, alpha, beta};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // shapes vary with routing; keep the cache bounded
  const memory::desc c(Dims{M, N}, memory::data_type::f32, Dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc d(bf16_desc(M, K, ta), bf16_desc(K, N, tb), c);
  return cache.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, cpu_engine()))).first->second;
}

}  // namespace

std::string bf16_gemm_unavailable_reason() {
  constexpr const char* kNeeds = "bf16 needs AVX512_BF16 or AMX-BF16 (AMD Zen 4, Intel Sapphire Rapids or newer)";
  try {
    const dnnl::matmul::desc d(bf16_desc(64, 64, false), bf16_desc(64, 64, false),
                               memory::desc(Dims{64, 64}, memory::data_type::f32, Dims{64, 1}));
    const std::string impl = dnnl::matmul::primitive_desc(d, cpu_engine()).impl_info_str();
    if (impl.find("bf16") != std::string::npos || impl.find("amx") != std::string::npos) return "";
    return "oneDNN has no native bf16 matmul for this CPU (it would use '" + impl + "'); " + kNeeds;
  } catch (const dnnl::error& e) {
    return std::string("oneDNN has no bf16 matmul for this CPU (") + e.what() + "); " + kNeeds;
  }
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<uint16_t> a16, b16;
  round_to_bf16(A, ta ? K : M, ta ? M : K, lda, a16);
  round_to_bf16(B, tb ? N : K, tb ? K : N, ldb, b16);
  gemm_bf16_rounded(ta, tb, M, N, K, alpha, a16.data(), b16.data(), beta, C, ldc);
}

void gemm_bf16_rounded(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A16,
                       const uint16_t* B16, float beta, float* C, int64_t ldc) {
  dnnl::matmul& mm = primitive_for(ta, tb, M, N, K, ldc, alpha, beta);
  const memory::desc c(Dims{M, N}, memory::data_type::f32, Dims{ldc, 1});
  memory am(bf16_desc(M, K, ta), cpu_engine(), const_cast<uint16_t*>(A16));
  memory bm(bf16_desc(K, N, tb), cpu_engine(), const_cast<uint16_t*>(B16));
  memory cm(c, cpu_engine(), C);
  thread_local dnnl::stream stream(cpu_engine());
  mm.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  stream.wait();
}

#endif

}  // namespace mor::kernels
