// Routing index ops (no gradient): row numbers, gathers of row numbers, the BCE target, token-choice
// depths and their per-sequence counts. They keep routing state on the device; only depth_counts
// returns host values (and so synchronises).
#include <algorithm>

#include "src/autodiff/dispatch.h"
#include "src/autodiff/op_registry.h"
#include "src/autodiff/ops.h"

MOR_REGISTER_OP_NO_GRAD(iota_rows)
MOR_REGISTER_OP_NO_GRAD(take_i32)
MOR_REGISTER_OP_NO_GRAD(ones_at)
MOR_REGISTER_OP_NO_GRAD(token_depths)
MOR_REGISTER_OP_NO_GRAD(depth_counts)
MOR_REGISTER_OP_NO_GRAD(split_by_depth)
MOR_REGISTER_OP_NO_GRAD(scatter_rows_into)

namespace mor::ad {

Tensor iota_rows(int64_t n, Device device) {
  Tensor out = Tensor::empty({n}, DType::I32, device);
  if (n > 0) MOR_RUN_TABLE("iota_rows", device, iota_i32, n, out.ptr<int32_t>());
  return out;
}

Tensor take_i32(const Tensor& table, const Tensor& idx) {
  const Device dev = op_device("take_i32", {&table, &idx});
  MOR_CHECK(table.dtype() == DType::I32 && idx.dtype() == DType::I32, "take_i32 needs i32 tensors");
  Tensor out = Tensor::empty({idx.numel()}, DType::I32, dev);
  if (idx.numel() > 0)
    MOR_RUN_TABLE("take_i32", dev, gather_i32, idx.numel(), table.ptr<int32_t>(), idx.ptr<int32_t>(), out.ptr<int32_t>());
  return out;
}

Tensor i32_on(const std::vector<int32_t>& v, Device device) {
  const Tensor host = Tensor::from_vector(v, {int64_t(v.size())});
  return device.is_cpu() ? host : host.to(device);
}

void scatter_rows_into(Tensor& dst, const Tensor& idx, const Tensor& src) {
  const Device dev = op_device("scatter_rows_into", {&dst, &idx, &src});
  const int64_t n = idx.numel();
  MOR_CHECK(idx.dtype() == DType::I32 && src.dtype() == dst.dtype() && src.dim(0) == n &&
                src.numel() / std::max<int64_t>(n, 1) == dst.numel() / std::max<int64_t>(dst.dim(0), 1),
            "scatter_rows_into: ", shape_str(src.shape()), " rows into ", shape_str(dst.shape()), " at ", n, " indices");
  if (n == 0) return;
  if (dst.dtype() == DType::I32) {
    MOR_CHECK(dst.ndim() == 1, "scatter_rows_into: i32 needs 1-d tensors");
    MOR_RUN_TABLE("scatter_rows_into", dev, scatter_i32, n, src.ptr<int32_t>(), idx.ptr<int32_t>(), dst.ptr<int32_t>());
    return;
  }
  const int64_t d = src.numel() / n;
  MOR_DISPATCH_FLOAT(dst.dtype(), T,
                     MOR_RUN("scatter_rows_into", dev, T, scatter_rows, n, d, src.ptr<T>(), idx.ptr<int32_t>(), dst.ptr<T>()));
}

Tensor ones_at(int64_t n, const Tensor& idx, DType dtype) {
  const Device dev = idx.device();
  Tensor out = Tensor::zeros({n}, dtype, dev);
  if (idx.numel() > 0)
    MOR_DISPATCH_FLOAT(dtype, T, MOR_RUN("ones_at", dev, T, set_rows_one, idx.numel(), idx.ptr<int32_t>(), out.ptr<T>()));
  return out;
}

TokenDepths token_depths(const Tensor& p, const Tensor& bias, bool all_deepest) {
  const Device dev = op_device("token_depths", {&p, &bias});
  MOR_CHECK(p.ndim() == 2, "token_depths: p must be [n, N_r], got ", shape_str(p.shape()));
  const int64_t n = p.dim(0), nr = p.dim(1);
  MOR_CHECK(!bias.defined() || (bias.numel() == nr && bias.dtype() == p.dtype()), "token_depths: bias must be [", nr,
            "] of the probabilities' dtype");
  TokenDepths t{Tensor::empty({n}, DType::I32, dev), Tensor::empty({n}, DType::I32, dev)};
  if (n > 0)
    MOR_DISPATCH_FLOAT(p.dtype(), T,
                       MOR_RUN("token_depths", dev, T, token_depth, n, nr, p.ptr<T>(),
                               bias.defined() ? bias.ptr<T>() : nullptr, all_deepest, t.depth.ptr<int32_t>(),
                               t.gate_index.ptr<int32_t>()));
  return t;
}

std::vector<int64_t> depth_counts(const std::vector<int64_t>& counts, int64_t nr, const Tensor& depth) {
  const Device dev = depth.device();
  const int64_t S = int64_t(counts.size());
  std::vector<int64_t> off(size_t(S + 1), 0);
  for (int64_t s = 0; s < S; ++s) off[size_t(s + 1)] = off[size_t(s)] + counts[size_t(s)];
  MOR_CHECK(off.back() == depth.numel(), "depth_counts: ", depth.numel(), " depths for ", off.back(), " rows");
  if (S * nr == 0) return {};
  Tensor off_t = Tensor::from_vector(off, {S + 1});
  if (!dev.is_cpu()) off_t = off_t.to(dev);  // an upload, no sync
  Tensor out = Tensor::empty({S * nr}, DType::I64, dev);
  MOR_RUN_TABLE("depth_counts", dev, depth_counts, S, off_t.ptr<int64_t>(), nr, depth.ptr<int32_t>(),
                out.ptr<int64_t>());
  return out.to_vector<int64_t>();  // the synchronisation
}

DepthSplit split_by_depth(const Tensor& depth, int32_t r, int64_t n_exit) {
  const Device dev = depth.device();
  const int64_t n = depth.numel();
  MOR_CHECK(0 <= n_exit && n_exit <= n, "split_by_depth: ", n_exit, " exits of ", n, " rows");
  DepthSplit s{Tensor::empty({n_exit}, DType::I32, dev), Tensor::empty({n - n_exit}, DType::I32, dev)};
  if (n > 0)
    MOR_RUN_TABLE("split_by_depth", dev, split_by_depth, n, depth.ptr<int32_t>(), r, s.exits.ptr<int32_t>(),
                  s.stays.ptr<int32_t>());
  return s;
}

}  // namespace mor::ad
