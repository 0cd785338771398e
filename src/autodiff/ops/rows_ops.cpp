// Row ops: embedding (whole, or one vocabulary shard), gather_rows, scatter_add_rows, scatter_rows.
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/rows.h"
#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/profiler.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP(embedding)
MOR_REGISTER_OP(embedding_shard)
MOR_REGISTER_OP(gather_rows)
MOR_REGISTER_OP(scatter_add_rows)
MOR_REGISTER_OP(scatter_rows)

namespace mor::ad {
namespace {
void check_ids(const char* op, const Tensor& ids, int64_t limit) {
  MOR_CHECK(ids.dtype() == DType::I32 && ids.ndim() == 1, op, ": indices must be i32 [n]");
  int64_t bad = kernels::find_bad_index(ids.numel(), ids.data<int32_t>(), limit);
  if (bad >= 0)
    fail_input(op, ": index ", ids.data<int32_t>()[bad], " at position ", bad, " is outside [0, ", limit,
               "). Hint: the data's vocabulary must match model.vocab_size.");
}
}  // namespace

Var embedding(const Var& table, const Tensor& ids) {
  MOR_PROFILE_FORWARD("embedding");
  const Tensor& W = table->value;
  require_cpu("embedding", W);
  MOR_CHECK(W.ndim() == 2, "embedding table must be [V, d]");
  check_ids("embedding", ids, W.dim(0));
  const int64_t n = ids.numel(), d = W.dim(1);
  Tensor y = Tensor::empty({n, d}, W.dtype());
  MOR_DISPATCH_FLOAT(W.dtype(), T, kernels::gather_rows<T>(n, d, W.data<T>(), ids.data<int32_t>(), y.data<T>()));
  Var out = make_output(y, {&table});
  record(out, [table, ids, n, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("embedding");
    GradTarget g = grad_target_zeroed(table);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::scatter_add_rows<T>(n, d, dy.data<T>(), ids.data<int32_t>(), g.buf.data<T>()));
  });
  return out;
}

Var embedding_shard(const Var& table, const Tensor& ids, int64_t first_id, int64_t vocab) {
  MOR_PROFILE_FORWARD("embedding_shard");
  const Tensor& W = table->value;
  require_cpu("embedding_shard", W);
  MOR_CHECK(W.ndim() == 2 && first_id >= 0 && first_id + W.dim(0) <= vocab, "embedding_shard: rows [", first_id, ", ",
            first_id + W.dim(0), ") of a vocabulary of ", vocab);
  check_ids("embedding_shard", ids, vocab);
  const int64_t n = ids.numel(), d = W.dim(1), rows = W.dim(0);
  // The positions whose id lies in this shard, and the id's row in the shard.
  std::vector<int32_t> pos, local;
  const int32_t* id = ids.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    if (id[i] >= first_id && id[i] < first_id + rows) pos.push_back(int32_t(i)), local.push_back(int32_t(id[i] - first_id));
  const int64_t m = int64_t(pos.size());
  Tensor rows_pos = Tensor::from_vector(pos, {m}), rows_local = Tensor::from_vector(local, {m});
  Tensor y = Tensor::zeros({n, d}, W.dtype());
  MOR_DISPATCH_FLOAT(W.dtype(), T, {
    Tensor picked = Tensor::empty({m, d}, W.dtype());
    kernels::gather_rows<T>(m, d, W.data<T>(), rows_local.data<int32_t>(), picked.data<T>());
    kernels::scatter_rows<T>(m, d, picked.data<T>(), rows_pos.data<int32_t>(), y.data<T>());
  });
  Var out = make_output(y, {&table});
  record(out, [table, rows_pos, rows_local, m, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("embedding_shard");
    GradTarget g = grad_target_zeroed(table);
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      Tensor picked = Tensor::empty({m, d}, dy.dtype());
      kernels::gather_rows<T>(m, d, dy.data<T>(), rows_pos.data<int32_t>(), picked.data<T>());
      kernels::scatter_add_rows<T>(m, d, picked.data<T>(), rows_local.data<int32_t>(), g.buf.data<T>());
    });
  });
  return out;
}

Var gather_rows(const Var& x, const Tensor& idx) {
  MOR_PROFILE_FORWARD("gather_rows");
  const Tensor& X = x->value;
  require_cpu("gather_rows", X);
  MOR_CHECK(X.ndim() >= 1, "gather_rows needs at least 1 dim");
  check_ids("gather_rows", idx, X.dim(0));
  const int64_t m = idx.numel(), d = X.dim(0) ? X.numel() / X.dim(0) : 0;
  Shape s = X.shape();
  s[0] = m;
  Tensor y = Tensor::empty(s, X.dtype());
  MOR_DISPATCH_FLOAT(X.dtype(), T, kernels::gather_rows<T>(m, d, X.data<T>(), idx.data<int32_t>(), y.data<T>()));
  Var out = make_output(y, {&x});
  record(out, [x, idx, m, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("gather_rows");
    GradTarget g = grad_target_zeroed(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       kernels::scatter_add_rows<T>(m, d, dy.data<T>(), idx.data<int32_t>(), g.buf.data<T>()));
  });
  return out;
}

Var scatter_add_rows(const Var& base, const Tensor& idx, const Var& src) {
  MOR_PROFILE_FORWARD("scatter_add_rows");
  const Tensor& B = base->value;
  const Tensor& S = src->value;
  require_cpu("scatter_add_rows", B);
  check_ids("scatter_add_rows", idx, B.dim(0));
  const int64_t m = idx.numel(), d = B.dim(0) ? B.numel() / B.dim(0) : 0;
  require_shape("scatter_add_rows", "src", S.numel() == m * d && S.dtype() == B.dtype(), S.shape(),
                "[" + std::to_string(m) + ", " + std::to_string(d) + "]");
  Tensor y = B.clone();
  MOR_DISPATCH_FLOAT(B.dtype(), T, kernels::scatter_add_rows<T>(m, d, S.data<T>(), idx.data<int32_t>(), y.data<T>()));
  Var out = make_output(y, {&base, &src});
  record(out, [base, src, idx, m, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scatter_add_rows");
    if (base->requires_grad) {
      GradTarget g = grad_target(base);
      MOR_DISPATCH_FLOAT(dy.dtype(), T, kernels::axpy<T>(dy.numel(), T(1), dy.data<T>(), g.buf.data<T>(), g.accumulate));
    }
    if (src->requires_grad) {
      GradTarget g = grad_target(src);
      MOR_DISPATCH_FLOAT(dy.dtype(), T, {
        if (g.accumulate) {
          Tensor tmp = Tensor::empty(g.buf.shape(), dy.dtype());
          kernels::gather_rows<T>(m, d, dy.data<T>(), idx.data<int32_t>(), tmp.data<T>());
          kernels::axpy<T>(tmp.numel(), T(1), tmp.data<T>(), g.buf.data<T>(), true);
        } else {
          kernels::gather_rows<T>(m, d, dy.data<T>(), idx.data<int32_t>(), g.buf.data<T>());
        }
      });
    }
  });
  return out;
}

Var scatter_rows(const Var& base, const Tensor& idx, const Var& src) {
  MOR_PROFILE_FORWARD("scatter_rows");
  const Tensor& B = base->value;
  const Tensor& S = src->value;
  require_cpu("scatter_rows", B);
  check_ids("scatter_rows", idx, B.dim(0));
  const int64_t m = idx.numel(), d = B.dim(0) ? B.numel() / B.dim(0) : 0;
  require_shape("scatter_rows", "src", S.numel() == m * d && S.dtype() == B.dtype(), S.shape(),
                "[" + std::to_string(m) + ", " + std::to_string(d) + "]");
  Tensor y = B.clone();
  MOR_DISPATCH_FLOAT(B.dtype(), T, kernels::scatter_rows<T>(m, d, S.data<T>(), idx.data<int32_t>(), y.data<T>()));
  Var out = make_output(y, {&base, &src});
  record(out, [base, src, idx, m, d](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scatter_rows");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (base->requires_grad) {  // replaced rows get no gradient
        Tensor masked = dy.clone();
        kernels::zero_rows<T>(m, d, idx.data<int32_t>(), masked.data<T>());
        GradTarget g = grad_target(base);
        kernels::axpy<T>(masked.numel(), T(1), masked.data<T>(), g.buf.data<T>(), g.accumulate);
      }
      if (src->requires_grad) {
        GradTarget g = grad_target(src);
        Tensor rows = Tensor::empty(src->value.shape(), dy.dtype());
        kernels::gather_rows<T>(m, d, dy.data<T>(), idx.data<int32_t>(), rows.data<T>());
        kernels::axpy<T>(rows.numel(), T(1), rows.data<T>(), g.buf.data<T>(), g.accumulate);
      }
    });
  });
  return out;
}

}  // namespace mor::ad
