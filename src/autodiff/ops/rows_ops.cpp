// Row ops: embedding (whole, or one vocabulary shard), gather_rows, scatter_add_rows, scatter_rows.
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
// Indices are validated where they enter (token ids: split_tokens in the model, from the data
// layer's checked shards; rows: the selection kernels), not scanned again per op.
void check_index(const char* op, const Tensor& ids) {
  MOR_CHECK(ids.dtype() == DType::I32 && ids.ndim() == 1, op, ": indices must be i32 [n]");
}
}  // namespace

Var embedding(const Var& table, const Tensor& ids) {
  MOR_PROFILE_FORWARD("embedding");
  const Tensor& W = table->value;
  const Device dev = op_device("embedding", {&W, &ids});
  MOR_CHECK(W.ndim() == 2, "embedding table must be [V, d]");
  check_index("embedding", ids);
  const int64_t n = ids.numel(), d = W.dim(1);
  Tensor y = Tensor::empty({n, d}, W.dtype(), dev);
  MOR_DISPATCH_FLOAT(W.dtype(), T, MOR_RUN("embedding", dev, T, gather_rows, n, d, W.ptr<T>(), ids.ptr<int32_t>(), y.ptr<T>()));
  Var out = make_output(y, {&table});
  record(out, [table, ids, n, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("embedding");
    GradTarget g = grad_target_zeroed(table);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("embedding", dev, T, scatter_add_rows, n, d, dy.ptr<T>(), ids.ptr<int32_t>(), g.buf.ptr<T>()));
  });
  return out;
}

Var embedding_shard(const Var& table, const Tensor& ids, int64_t first_id, int64_t vocab) {
  MOR_PROFILE_FORWARD("embedding_shard");
  const Tensor& W = table->value;
  const Device dev = op_device("embedding_shard", {&W, &ids});
  MOR_CHECK(W.ndim() == 2 && first_id >= 0 && first_id + W.dim(0) <= vocab, "embedding_shard: rows [", first_id, ", ",
            first_id + W.dim(0), ") of a vocabulary of ", vocab);
  check_index("embedding_shard", ids);
  const int64_t n = ids.numel(), d = W.dim(1), rows = W.dim(0);
  Tensor y = Tensor::empty({n, d}, W.dtype(), dev);
  MOR_DISPATCH_FLOAT(W.dtype(), T,
                     MOR_RUN("embedding_shard", dev, T, embedding_shard_forward, n, d, W.ptr<T>(), ids.ptr<int32_t>(),
                             first_id, rows, y.ptr<T>()));
  Var out = make_output(y, {&table});
  record(out, [table, ids, n, d, first_id, rows, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("embedding_shard");
    GradTarget g = grad_target_zeroed(table);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("embedding_shard", dev, T, embedding_shard_backward, n, d, dy.ptr<T>(),
                               ids.ptr<int32_t>(), first_id, rows, g.buf.ptr<T>()));
  });
  return out;
}

Var gather_rows(const Var& x, const Tensor& idx) {
  MOR_PROFILE_FORWARD("gather_rows");
  const Tensor& X = x->value;
  const Device dev = op_device("gather_rows", {&X, &idx});
  MOR_CHECK(X.ndim() >= 1, "gather_rows needs at least 1 dim");
  check_index("gather_rows", idx);
  const int64_t m = idx.numel(), d = X.dim(0) ? X.numel() / X.dim(0) : 0;
  Shape s = X.shape();
  s[0] = m;
  Tensor y = Tensor::empty(s, X.dtype(), dev);
  MOR_DISPATCH_FLOAT(X.dtype(), T, MOR_RUN("gather_rows", dev, T, gather_rows, m, d, X.ptr<T>(), idx.ptr<int32_t>(), y.ptr<T>()));
  Var out = make_output(y, {&x});
  record(out, [x, idx, m, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("gather_rows");
    GradTarget g = grad_target_zeroed(x);
    MOR_DISPATCH_FLOAT(dy.dtype(), T,
                       MOR_RUN("gather_rows", dev, T, scatter_add_rows, m, d, dy.ptr<T>(), idx.ptr<int32_t>(), g.buf.ptr<T>()));
  });
  return out;
}

Var scatter_add_rows(const Var& base, const Tensor& idx, const Var& src) {
  MOR_PROFILE_FORWARD("scatter_add_rows");
  const Tensor& B = base->value;
  const Tensor& S = src->value;
  const Device dev = op_device("scatter_add_rows", {&B, &S, &idx});
  check_index("scatter_add_rows", idx);
  const int64_t m = idx.numel(), d = B.dim(0) ? B.numel() / B.dim(0) : 0;
  require_shape("scatter_add_rows", "src", S.numel() == m * d && S.dtype() == B.dtype(), S.shape(),
                "[" + std::to_string(m) + ", " + std::to_string(d) + "]");
  Tensor y = B.clone();
  MOR_DISPATCH_FLOAT(B.dtype(), T, MOR_RUN("scatter_add_rows", dev, T, scatter_add_rows, m, d, S.ptr<T>(), idx.ptr<int32_t>(), y.ptr<T>()));
  Var out = make_output(y, {&base, &src});
  record(out, [base, src, idx, m, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scatter_add_rows");
    if (base->requires_grad) {
      GradTarget g = grad_target(base);
      MOR_DISPATCH_FLOAT(dy.dtype(), T, MOR_RUN("scatter_add_rows", dev, T, axpy, dy.numel(), T(1), dy.ptr<T>(), g.buf.ptr<T>(), g.accumulate));
    }
    if (src->requires_grad) {
      GradTarget g = grad_target(src);
      MOR_DISPATCH_FLOAT(dy.dtype(), T, {
        if (g.accumulate) {
          Tensor tmp = Tensor::empty(g.buf.shape(), dy.dtype(), dev);
          MOR_RUN("scatter_add_rows", dev, T, gather_rows, m, d, dy.ptr<T>(), idx.ptr<int32_t>(), tmp.ptr<T>());
          MOR_RUN("scatter_add_rows", dev, T, axpy, tmp.numel(), T(1), tmp.ptr<T>(), g.buf.ptr<T>(), true);
        } else {
          MOR_RUN("scatter_add_rows", dev, T, gather_rows, m, d, dy.ptr<T>(), idx.ptr<int32_t>(), g.buf.ptr<T>());
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
  const Device dev = op_device("scatter_rows", {&B, &S, &idx});
  check_index("scatter_rows", idx);
  const int64_t m = idx.numel(), d = B.dim(0) ? B.numel() / B.dim(0) : 0;
  require_shape("scatter_rows", "src", S.numel() == m * d && S.dtype() == B.dtype(), S.shape(),
                "[" + std::to_string(m) + ", " + std::to_string(d) + "]");
  Tensor y = B.clone();
  MOR_DISPATCH_FLOAT(B.dtype(), T, MOR_RUN("scatter_rows", dev, T, scatter_rows, m, d, S.ptr<T>(), idx.ptr<int32_t>(), y.ptr<T>()));
  Var out = make_output(y, {&base, &src});
  record(out, [base, src, idx, m, d, dev](const Tensor& dy) {
    MOR_PROFILE_BACKWARD("scatter_rows");
    MOR_DISPATCH_FLOAT(dy.dtype(), T, {
      if (base->requires_grad) {  // replaced rows get no gradient
        Tensor masked = dy.clone();
        MOR_RUN("scatter_rows", dev, T, zero_rows, m, d, idx.ptr<int32_t>(), masked.ptr<T>());
        GradTarget g = grad_target(base);
        MOR_RUN("scatter_rows", dev, T, axpy, masked.numel(), T(1), masked.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
      if (src->requires_grad) {
        GradTarget g = grad_target(src);
        Tensor rows = Tensor::empty(src->value.shape(), dy.dtype(), dev);
        MOR_RUN("scatter_rows", dev, T, gather_rows, m, d, dy.ptr<T>(), idx.ptr<int32_t>(), rows.ptr<T>());
        MOR_RUN("scatter_rows", dev, T, axpy, rows.numel(), T(1), rows.ptr<T>(), g.buf.ptr<T>(), g.accumulate);
      }
    });
  });
  return out;
}

}  // namespace mor::ad
