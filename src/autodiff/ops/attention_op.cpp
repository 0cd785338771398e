// attention: causal GQA over packed variable-length sequences with explicit positions.
// Saves only the log-sum-exp per (query, head); the backward recomputes probabilities.
#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_paged.h"
#include "src/autodiff/dispatch.h"
#include "src/autodiff/flop_counter.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(attention)

namespace mor::ad {

SeqLayout SeqLayout::dense(int64_t B, int64_t T) {
  SeqLayout L;
  L.offsets = Tensor::empty({B + 1}, DType::I64);
  L.positions = Tensor::empty({B * T}, DType::I32);
  int64_t* off = L.offsets.data<int64_t>();
  int32_t* pos = L.positions.data<int32_t>();
  for (int64_t b = 0; b <= B; ++b) off[b] = b * T;
  for (int64_t i = 0; i < B * T; ++i) pos[i] = int32_t(i % T);
  return L;
}

namespace {
// The head counts and row strides both kernels' layouts share.
template <typename Layout>
void set_heads(Layout& L, const HeadSlice& q, const HeadSlice& k, const HeadSlice& v) {
  const int64_t D = q.t->value.dim(2);
  L.hq = q.n_heads;
  L.hkv = k.n_heads;
  L.d = D;
  L.q_stride = q.t->value.dim(1) * D;
  L.k_stride = k.t->value.dim(1) * D;
  L.v_stride = v.t->value.dim(1) * D;
  L.o_stride = q.n_heads * D;
}

void check_paged_layout(const SeqLayout& L, int64_t rows) {
  MOR_CHECK(L.offsets.dtype() == DType::I64 && L.pages.dtype() == DType::I64 && L.positions.dtype() == DType::I32,
            "attention: paged layout must be i64 page offsets and pages + i32 positions");
  MOR_CHECK(L.rows() == rows, "attention: paged layout has positions for ", L.rows(), " rows, tensor has ", rows);
  const int64_t* off = L.offsets.data<int64_t>();
  const int64_t* pg = L.pages.data<int64_t>();
  MOR_CHECK(off[0] == 0 && off[L.n_seq()] == L.pages.numel() / 2, "attention: page offsets must span the page list");
  for (int64_t g = 0; g < L.pages.numel() / 2; ++g)
    MOR_CHECK(pg[2 * g] >= 0 && pg[2 * g + 1] >= 0 && pg[2 * g] + pg[2 * g + 1] <= rows, "attention: page ", g,
              " out of range");
}

// Forward over a paged key/value layout (the engine's caches); not differentiable.
Var attention_paged(const HeadSlice& q, const HeadSlice& k, const HeadSlice& v, const SeqLayout& q_layout,
                    const SeqLayout& kv_layout) {
  const Tensor& Q = q.t->value;
  const Tensor& K = k.t->value;
  const Tensor& V = v.t->value;
  MOR_CHECK(!(active_tape() && (q.t->requires_grad || k.t->requires_grad || v.t->requires_grad)),
            "attention: a paged key/value layout has no backward (decoding only)");
  check_paged_layout(kv_layout, K.dim(0));
  kernels::PagedAttentionLayout L;
  L.n_seq = q_layout.n_seq();
  L.q_off = q_layout.offsets.data<int64_t>();
  L.q_pos = q_layout.positions.data<int32_t>();
  L.pg_off = kv_layout.offsets.data<int64_t>();
  L.pages = kv_layout.pages.data<int64_t>();
  L.k_pos = kv_layout.positions.data<int32_t>();
  set_heads(L, q, k, v);
  // Useful FLOPs: QK^T and PV over visible (query, key) pairs, 2 flops per multiply-add.
  double visible = 0;
  for (int64_t s = 0; s < L.n_seq; ++s)
    for (int64_t i = L.q_off[s]; i < L.q_off[s + 1]; ++i)
      for (int64_t g = L.pg_off[s]; g < L.pg_off[s + 1]; ++g)
        for (int64_t r = L.pages[2 * g]; r < L.pages[2 * g] + L.pages[2 * g + 1] && L.k_pos[r] <= L.q_pos[i]; ++r) ++visible;
  flops_add(4.0 * double(L.d) * double(q.n_heads) * visible);
  Tensor O = Tensor::empty({Q.dim(0), q.n_heads, L.d}, Q.dtype());
  Tensor lse = Tensor::empty({Q.dim(0), q.n_heads}, Q.dtype());
  const double scale = 1.0 / std::sqrt(double(L.d));
  MOR_DISPATCH_FLOAT(Q.dtype(), T,
                     kernels::attention_forward_paged<T>(L, T(scale), Q.data<T>() + q.head_offset * L.d,
                                                         K.data<T>() + k.head_offset * L.d,
                                                         V.data<T>() + v.head_offset * L.d, O.data<T>(), lse.data<T>()));
  return make_var(O);
}

void check_layout(const SeqLayout& L, int64_t rows, const char* what) {
  MOR_CHECK(L.offsets.dtype() == DType::I64 && L.positions.dtype() == DType::I32, "attention: ", what,
            " layout must be i64 offsets + i32 positions");
  MOR_CHECK(L.rows() == rows, "attention: ", what, " layout has ", L.rows(), " rows, tensor has ", rows);
  const int64_t* off = L.offsets.data<int64_t>();
  MOR_CHECK(off[0] == 0 && off[L.n_seq()] == rows, "attention: ", what, " offsets must span [0, ", rows, "]");
}
}  // namespace

Var attention(const HeadSlice& q, const HeadSlice& k, const HeadSlice& v, const SeqLayout& q_layout,
              const SeqLayout& kv_layout) {
  MOR_PROFILE_FORWARD("attention");
  const Tensor& Q = q.t->value;
  const Tensor& K = k.t->value;
  const Tensor& V = v.t->value;
  require_cpu("attention", Q);
  MOR_CHECK(Q.ndim() == 3 && K.ndim() == 3 && V.ndim() == 3, "attention: q/k/v tensors must be [rows, H, D]");
  const int64_t D = Q.dim(2), Nq = Q.dim(0), Nk = K.dim(0);
  MOR_CHECK(K.dim(2) == D && V.dim(2) == D && V.dim(0) == Nk, "attention: head dims/rows differ");
  MOR_CHECK(q.n_heads > 0 && k.n_heads > 0 && k.n_heads == v.n_heads && q.n_heads % k.n_heads == 0,
            "attention: Hq=", q.n_heads, " must be a multiple of Hkv=", k.n_heads);
  MOR_CHECK(q.head_offset + q.n_heads <= Q.dim(1) && k.head_offset + k.n_heads <= K.dim(1) &&
                v.head_offset + v.n_heads <= V.dim(1),
            "attention: head slice out of range");
  check_layout(q_layout, Nq, "query");
  if (kv_layout.paged()) {
    MOR_CHECK(q_layout.n_seq() == kv_layout.n_seq(), "attention: query and key layouts differ in sequence count");
    return attention_paged(q, k, v, q_layout, kv_layout);
  }
  check_layout(kv_layout, Nk, "key/value");
  MOR_CHECK(q_layout.n_seq() == kv_layout.n_seq(), "attention: query and key layouts differ in sequence count");

  kernels::AttentionLayout L;
  L.n_seq = q_layout.n_seq();
  L.q_off = q_layout.offsets.data<int64_t>();
  L.k_off = kv_layout.offsets.data<int64_t>();
  L.q_pos = q_layout.positions.data<int32_t>();
  L.k_pos = kv_layout.positions.data<int32_t>();
  set_heads(L, q, k, v);
  const double scale = 1.0 / std::sqrt(double(D));

  // Useful FLOPs: QK^T and PV over visible (query, key) pairs, 2 flops per multiply-add.
  double visible = 0;
  for (int64_t s = 0; s < L.n_seq; ++s) {
    int64_t j = L.k_off[s];
    for (int64_t i = L.q_off[s]; i < L.q_off[s + 1]; ++i) {
      while (j < L.k_off[s + 1] && L.k_pos[j] <= L.q_pos[i]) ++j;
      visible += double(j - L.k_off[s]);
    }
  }
  const double attn_flops = 4.0 * double(D) * double(q.n_heads) * visible;
  flops_add(attn_flops);
  Tensor O = Tensor::empty({Nq, q.n_heads, D}, Q.dtype());
  Tensor lse = Tensor::empty({Nq, q.n_heads}, Q.dtype());
  MOR_DISPATCH_FLOAT(Q.dtype(), T,
                     kernels::attention_forward<T>(L, T(scale), Q.data<T>() + q.head_offset * D,
                                                   K.data<T>() + k.head_offset * D, V.data<T>() + v.head_offset * D,
                                                   O.data<T>(), lse.data<T>()));
  Var out = make_output(O, {&q.t, &k.t, &v.t});
  record(out, [q, k, v, q_layout, kv_layout, L, O, lse, scale, D, attn_flops](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("attention");
    flops_add(2 * attn_flops);
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      auto slot = [&](const HeadSlice& hs) -> T* {
        if (!hs.t->requires_grad) return nullptr;
        return grad_target_zeroed(hs.t).buf.template data<T>() + hs.head_offset * D;
      };
      T* dq = slot(q);
      T* dk = slot(k);
      T* dv = slot(v);
      kernels::attention_backward<T>(L, T(scale), q.t->value.data<T>() + q.head_offset * D,
                                     k.t->value.data<T>() + k.head_offset * D,
                                     v.t->value.data<T>() + v.head_offset * D, O.data<T>(), lse.data<T>(),
                                     dy.data<T>(), dq, dk, dv);
    });
  });
  return out;
}

}  // namespace mor::ad
