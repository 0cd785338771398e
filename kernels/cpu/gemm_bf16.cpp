// bf16 GEMM through oneDNN's matmul primitive; see gemm_bf16.h.
//
// Per call: op(A) and op(B) are rounded to bf16 into per-thread buffers (kept in their stored
// layout; transposition is expressed by strides; gemm_bf16_rounded takes them already rounded),
// then one matmul with f32 accumulation writes
// C with output scale alpha and, for beta != 0, a sum post-op (C = alpha*AB + beta*C). Primitives
// are cached per thread by shape, since oneDNN's creation costs far more than a small GEMM.
// Bf16PackedB reorders a rounded B once into the layout oneDNN asks for (weights format `any`)
// and keeps its matmuls per product shape.
#include "gemm_bf16.h"

#include <omp.h>

#include "aligned_array.h"
#include "src/core/bf16.h"

#ifdef MOR_HAVE_DNNL
#include <dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iterator>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
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

struct Bf16PackedB::Impl {};
Bf16PackedB::Bf16PackedB() = default;
Bf16PackedB::~Bf16PackedB() = default;
Bf16ConstantScope::Bf16ConstantScope(const void*, const void*) {}
Bf16ConstantScope::~Bf16ConstantScope() = default;

// unreachable, as gemm_bf16
void Bf16PackedB::pack(bool, int64_t, int64_t, const uint16_t*, int64_t) { __builtin_trap(); }
void Bf16PackedB::gemm(bool, int64_t, float, const uint16_t*, float, float*, int64_t) { __builtin_trap(); }
bool Bf16PackedB::runs_blocked(bool, int64_t, int64_t, float, float) { return false; }

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

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

// C = alpha * product + beta * C: an output scale and a sum post-op.
dnnl::primitive_attr scale_and_sum(float alpha, float beta) {
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  return attr;
}

memory::desc f32_out(int64_t M, int64_t N, int64_t ldc) {
  return memory::desc(Dims{M, N}, memory::data_type::f32, Dims{ldc, 1});
}

// Whether oneDNN chose a kernel with native bf16 dot products (AVX512_BF16 or AMX) for a primitive,
// not its reference implementation.
bool native_bf16(const std::string& impl) {
  return impl.rfind("ref", 0) != 0 && (impl.find("bf16") != std::string::npos || impl.find("amx") != std::string::npos);
}

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, float, float>;

dnnl::matmul& primitive_for(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t ldc, float alpha, float beta) {
  thread_local std::map<Key, dnnl::matmul> cache;
  const Key key{ta, tb, M, N, K, ldc, alpha, beta};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // shapes vary with routing; keep the cache bounded
  const dnnl::matmul::desc d(bf16_desc(M, K, ta), bf16_desc(K, N, tb), f32_out(M, N, ldc));
  return cache.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(d, scale_and_sum(alpha, beta), cpu_engine())))
      .first->second;
}

// Bf16ConstantScope's range on this thread (begin 0: no scope open; other threads never see it and
// round per call) and the number of scopes opened so far: copies made in an earlier scope are stale.
thread_local uintptr_t t_constant_begin = 0, t_constant_end = 0;
std::atomic<uint64_t> g_constant_epoch{0};

// A weight in the constant range: its rounded copy (as stored) and its blocked layouts, indexed by
// trans_b (x W^T reads W transposed, dy W plain), each with the scope it was made in.
struct ConstantWeight {
  uint64_t rounded_in = 0, packed_in[2] = {0, 0};
  std::vector<uint16_t> plain;
  Bf16PackedB packed[2];
};

// When a scope is open on this thread and the stored matrix B [rows, cols] (row stride ld) lies in
// its range, B's copies, rounded in this scope; else nullptr. Entries no scope used since the
// previous one (another model's, other shapes) are dropped when the next scope starts using them.
ConstantWeight* constant_weight(const float* B, int64_t rows, int64_t cols, int64_t ld, uint64_t* epoch) {
  if (t_constant_begin == 0 || rows <= 0 || cols <= 0) return nullptr;
  const uintptr_t first = reinterpret_cast<uintptr_t>(B);
  const uintptr_t last = first + uintptr_t(((rows - 1) * ld + cols) * int64_t(sizeof(float)));
  if (first < t_constant_begin || last > t_constant_end) return nullptr;
  using Key = std::tuple<const float*, int64_t, int64_t, int64_t>;
  thread_local std::map<Key, ConstantWeight> cache;
  thread_local uint64_t cache_epoch = 0;
  *epoch = g_constant_epoch.load(std::memory_order_relaxed);
  if (cache_epoch != *epoch) {  // this thread's first weight in a new scope
    for (auto it = cache.begin(); it != cache.end();)
      it = it->second.rounded_in == cache_epoch ? std::next(it) : cache.erase(it);
    cache_epoch = *epoch;
  }
  ConstantWeight& w = cache[Key{B, rows, cols, ld}];
  if (w.rounded_in != *epoch) {
    round_to_bf16(B, rows, cols, ld, w.plain);
    w.rounded_in = *epoch;
  }
  return &w;
}

}  // namespace

Bf16ConstantScope::Bf16ConstantScope(const void* begin, const void* end) {
  if (t_constant_begin != 0)
    throw std::logic_error("Bf16ConstantScope: a scope is already open on this thread (scopes do not nest)");
  g_constant_epoch.fetch_add(1, std::memory_order_relaxed);
  t_constant_begin = reinterpret_cast<uintptr_t>(begin);
  t_constant_end = reinterpret_cast<uintptr_t>(end);
}

Bf16ConstantScope::~Bf16ConstantScope() { t_constant_begin = t_constant_end = 0; }

std::string bf16_gemm_unavailable_reason() {
  constexpr const char* kNeeds = "bf16 needs AVX512_BF16 or AMX-BF16 (AMD Zen 4, Intel Sapphire Rapids or newer)";
  try {
    const dnnl::matmul::desc d(bf16_desc(64, 64, false), bf16_desc(64, 64, false), f32_out(64, 64, 64));
    const std::string impl = dnnl::matmul::primitive_desc(d, cpu_engine()).impl_info_str();
    if (native_bf16(impl)) return "";
    return "oneDNN has no native bf16 matmul for this CPU (it would use '" + impl + "'); " + kNeeds;
  } catch (const dnnl::error& e) {
    return std::string("oneDNN has no bf16 matmul for this CPU (") + e.what() + "); " + kNeeds;
  }
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<uint16_t> a16, b16;
  round_to_bf16(A, ta ? K : M, ta ? M : K, lda, a16);
  uint64_t epoch = 0;
  if (ConstantWeight* w = constant_weight(B, tb ? N : K, tb ? K : N, ldb, &epoch)) {  // a weight, in a step
    if (w->packed_in[tb] != epoch) {
      w->packed[tb].pack(tb, K, N, w->plain.data(), M);
      w->packed_in[tb] = epoch;
    }
    w->packed[tb].gemm(ta, M, alpha, a16.data(), beta, C, ldc);
    return;
  }
  round_to_bf16(B, tb ? N : K, tb ? K : N, ldb, b16);
  gemm_bf16_rounded(ta, tb, M, N, K, alpha, a16.data(), b16.data(), beta, C, ldc);
}

void gemm_bf16_rounded(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A16,
                       const uint16_t* B16, float beta, float* C, int64_t ldc) {
  dnnl::matmul& mm = primitive_for(ta, tb, M, N, K, ldc, alpha, beta);
  memory am(bf16_desc(M, K, ta), cpu_engine(), const_cast<uint16_t*>(A16));
  memory bm(bf16_desc(K, N, tb), cpu_engine(), const_cast<uint16_t*>(B16));
  memory cm(f32_out(M, N, ldc), cpu_engine(), C);
  mm.execute(cpu_stream(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  cpu_stream().wait();
}

struct Bf16PackedB::Impl {
  bool tb = false;
  int64_t K = -1, N = -1, m_hint = -1;
  const uint16_t* plain = nullptr;
  memory::desc blocked;  // the layout oneDNN picked (zero desc: none; products use `plain`)
  AlignedArray<uint8_t> storage;
  size_t storage_bytes = 0;
  memory blocked_mem;
  // Per product shape: a matmul on the blocked layout, or nullopt where oneDNN has only its
  // reference kernel (or none) for it.
  std::map<std::tuple<bool, int64_t, int64_t, float, float>, std::optional<dnnl::matmul>> products;

  // The layout for products of m_hint rows of op(B) [K, N] (tb, K, N set); an empty one where
  // oneDNN has no native bf16 kernel for it. Throws std::bad_alloc with nothing changed but the
  // shape, which is then forgotten so that the next pack() chooses again.
  void choose_layout(int64_t rows) {
    memory::desc want;
    try {
      const memory::desc any(Dims{K, N}, memory::data_type::bf16, memory::format_tag::any);
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(bf16_desc(rows, K, false), any, f32_out(rows, N, N)),
                                            cpu_engine());
      if (native_bf16(pd.impl_info_str())) want = pd.weights_desc();
    } catch (const dnnl::error&) {
    }
    if (want == blocked && want.get_size() <= storage_bytes) return;  // same layout: keep its matmuls
    products.clear();
    blocked = memory::desc();
    if (want.get_size() == 0) return;
    if (want.get_size() > storage_bytes) {
      AlignedArray<uint8_t> grown;
      try {
        grown = aligned_array<uint8_t>(want.get_size());
      } catch (const std::bad_alloc&) {
        K = N = -1;
        throw;
      }
      storage = std::move(grown);
      storage_bytes = (want.get_size() + 63) / 64 * 64;
    }
    blocked = want;
    blocked_mem = memory(blocked, cpu_engine(), storage.get());
  }

  std::optional<dnnl::matmul>& product(bool ta, int64_t M, int64_t ldc, float alpha, float beta) {
    const auto key = std::make_tuple(ta, M, ldc, alpha, beta);
    auto it = products.find(key);
    if (it != products.end()) return it->second;
    if (products.size() >= 64) products.clear();
    std::optional<dnnl::matmul> mm;
    try {
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(bf16_desc(M, K, ta), blocked, f32_out(M, N, ldc)),
                                            scale_and_sum(alpha, beta), cpu_engine());
      if (native_bf16(pd.impl_info_str())) mm.emplace(pd);
    } catch (const dnnl::error&) {
    }
    return products.emplace(key, std::move(mm)).first->second;
  }
};

Bf16PackedB::Bf16PackedB() : impl_(std::make_unique<Impl>()) {}
Bf16PackedB::~Bf16PackedB() = default;

void Bf16PackedB::pack(bool tb, int64_t K, int64_t N, const uint16_t* B16, int64_t m_hint) {
  Impl& d = *impl_;
  m_hint = std::max<int64_t>(m_hint, 1);
  if (d.tb != tb || d.K != K || d.N != N || d.m_hint != m_hint) {  // (evaluation may cut other blocks)
    d.tb = tb, d.K = K, d.N = N, d.m_hint = m_hint;
    d.choose_layout(m_hint);
  }
  d.plain = B16;
  if (d.blocked.get_size() == 0) return;
  memory plain(bf16_desc(K, N, tb), cpu_engine(), const_cast<uint16_t*>(B16));
  dnnl::reorder(plain, d.blocked_mem).execute(cpu_stream(), plain, d.blocked_mem);
  cpu_stream().wait();
}

bool Bf16PackedB::runs_blocked(bool ta, int64_t M, int64_t ldc, float alpha, float beta) {
  return impl_->blocked.get_size() && impl_->product(ta, M, ldc, alpha, beta).has_value();
}

void Bf16PackedB::gemm(bool ta, int64_t M, float alpha, const uint16_t* A16, float beta, float* C, int64_t ldc) {
  Impl& d = *impl_;
  std::optional<dnnl::matmul>* mm = d.blocked.get_size() ? &d.product(ta, M, ldc, alpha, beta) : nullptr;
  if (!mm || !mm->has_value()) {
    gemm_bf16_rounded(ta, d.tb, M, d.N, d.K, alpha, A16, d.plain, beta, C, ldc);
    return;
  }
  memory am(bf16_desc(M, d.K, ta), cpu_engine(), const_cast<uint16_t*>(A16));
  memory cm(f32_out(M, d.N, ldc), cpu_engine(), C);
  (*mm)->execute(cpu_stream(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, d.blocked_mem}, {DNNL_ARG_DST, cm}});
  cpu_stream().wait();
}

#endif

}  // namespace mor::kernels
