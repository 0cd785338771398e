// Argument checks and tensor forms shared by every Communicator backend; see communicator.h.
#include "communicator.h"

#include <cstdio>

#include "src/core/error.h"

namespace mor::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Max: return "max";
  }
  return "?";
}

std::string bytes_str(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 || bytes >= 100 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void scale_divide(void* buf, int64_t count, DType t, int n) {
  if (t == DType::F32) {
    float* p = static_cast<float*>(buf);
    const float s = 1.0f / float(n);
    for (int64_t i = 0; i < count; ++i) p[i] *= s;
  } else if (t == DType::F64) {
    double* p = static_cast<double*>(buf);
    const double s = 1.0 / double(n);
    for (int64_t i = 0; i < count; ++i) p[i] *= s;
  } else {
    fail_internal("scale_divide: dtype ", dtype_name(t), " is not f32/f64");
  }
}

void Communicator::check_reduce(const char* what, DType t, ReduceOp op) const {
  if (!can_reduce(t))
    fail_internal(what, " over ", name_, ": the ", backend(), " backend cannot reduce ", dtype_name(t),
                  " buffers. Hint: reduce in f32 (Tensor::to_dtype) or use a backend that supports ", dtype_name(t), ".");
  const bool floating = t == DType::F32 || t == DType::F64 || t == DType::BF16;
  if (op == ReduceOp::Avg && !floating)
    fail_internal(what, " over ", name_, ": op avg needs a floating dtype, got ", dtype_name(t),
                  ". Hint: use sum and divide by size() yourself.");
}

void Communicator::check_tensor(const char* what, const Tensor& t, int64_t expect_numel, const char* role) const {
  if (!t.defined()) fail_internal(what, " over ", name_, ": ", role, " tensor is undefined");
  // A host-memory backend (MPI, local) serves the CPU and the test device, as NCCL serves its GPU.
  const bool served = t.device() == device() || (device().is_cpu() && t.device().host_memory());
  if (!served)
    fail_internal(what, " over ", name_, ": ", role, " tensor is on ", t.device().str(), " but the ", backend(),
                  " communicator works on ", device().str(), ". Hint: move it with Tensor::to() or use the other backend.");
  if (expect_numel >= 0 && t.numel() != expect_numel)
    fail_internal(what, " over ", name_, ": ", role, " tensor has ", t.numel(), " elements, expected ", expect_numel,
                  " (group size ", size_, ")");
}

void Communicator::all_reduce(void* buf, int64_t count, DType t, ReduceOp op) {
  MOR_CHECK(count >= 0, "all_reduce count ", count);
  check_reduce("all_reduce", t, op);
  do_all_reduce(buf, count, t, op);
}

void Communicator::reduce_scatter(const void* in, void* out, int64_t chunk, DType t, ReduceOp op) {
  MOR_CHECK(chunk >= 0, "reduce_scatter chunk ", chunk);
  check_reduce("reduce_scatter", t, op);
  do_reduce_scatter(in, out, chunk, t, op);
}

void Communicator::all_gather(const void* in, void* out, int64_t chunk, DType t) {
  MOR_CHECK(chunk >= 0, "all_gather chunk ", chunk);
  do_all_gather(in, out, chunk, t);
}

void Communicator::broadcast(void* buf, int64_t count, DType t, int root) {
  MOR_CHECK(count >= 0, "broadcast count ", count);
  if (root < 0 || root >= size_)
    fail_internal("broadcast over ", name_, ": root ", root, " is not a rank of this group (size ", size_, ")");
  do_broadcast(buf, count, t, root);
}

void Communicator::barrier() { do_barrier(); }

void Communicator::all_reduce(Tensor& t, ReduceOp op) {
  check_tensor("all_reduce", t, -1, "the");
  all_reduce(t.numel() ? t.raw() : nullptr, t.numel(), t.dtype(), op);
}

void Communicator::reduce_scatter(const Tensor& in, Tensor& out, ReduceOp op) {
  check_tensor("reduce_scatter", out, -1, "output");
  check_tensor("reduce_scatter", in, out.numel() * size_, "input");
  if (in.dtype() != out.dtype())
    fail_internal("reduce_scatter over ", name_, ": input is ", dtype_name(in.dtype()), ", output ", dtype_name(out.dtype()));
  reduce_scatter(in.numel() ? in.raw() : nullptr, out.numel() ? out.raw() : nullptr, out.numel(), out.dtype(), op);
}

void Communicator::all_gather(const Tensor& in, Tensor& out) {
  check_tensor("all_gather", in, -1, "input");
  check_tensor("all_gather", out, in.numel() * size_, "output");
  if (in.dtype() != out.dtype())
    fail_internal("all_gather over ", name_, ": input is ", dtype_name(in.dtype()), ", output ", dtype_name(out.dtype()));
  all_gather(in.numel() ? in.raw() : nullptr, out.numel() ? out.raw() : nullptr, in.numel(), in.dtype());
}

void Communicator::broadcast(Tensor& t, int root) {
  check_tensor("broadcast", t, -1, "the");
  broadcast(t.numel() ? t.raw() : nullptr, t.numel(), t.dtype(), root);
}

double Communicator::all_reduce_value(double v, ReduceOp op) {
  MOR_CHECK(device().is_cpu(), "all_reduce_value needs a CPU communicator, this one is ", backend());
  all_reduce(&v, 1, DType::F64, op);
  return v;
}

int64_t Communicator::all_reduce_value(int64_t v, ReduceOp op) {
  MOR_CHECK(device().is_cpu(), "all_reduce_value needs a CPU communicator, this one is ", backend());
  all_reduce(&v, 1, DType::I64, op);
  return v;
}

}  // namespace mor::dist
