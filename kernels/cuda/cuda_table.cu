// The CUDA kernel table (kernels/kernel_table.h): every entry points at a kernel of
// kernels/cuda/*.cu (declared in ops.h), for f32 and f64 alike; no entry is left null. Stream
// arguments are cudaStream_t (nullptr: the default stream). Kernels run asynchronously on the
// stream except sum_squares, which synchronises and returns on the host, and lmhead_xent, which
// synchronises before calling its combine hook. Filling the table calls no CUDA API (the first
// kernel call does), so a process without a driver can build it.
#include "kernels/cuda/cuda_table.h"
#include "kernels/cuda/attention_tc.h"
#include "kernels/cuda/ops.h"

namespace mor::kernels {
namespace {

template <typename T>
FloatKernels<T> cuda_float_kernels() {
  FloatKernels<T> k;
  k.gather_rows = cu::gather_rows<T>;
  k.scatter_add_rows = cu::scatter_add_rows<T>;
  k.scatter_rows = cu::scatter_rows<T>;
  k.zero_rows = cu::zero_rows<T>;
  k.embedding_shard_forward = cu::embedding_shard_forward<T>;
  k.embedding_shard_backward = cu::embedding_shard_backward<T>;
  k.gemm = cu::gemm<T>;
  k.rmsnorm_forward = cu::rmsnorm_forward<T>;
  k.rmsnorm_backward = cu::rmsnorm_backward<T>;
  k.rope_apply = cu::rope_apply<T>;
  k.swiglu_forward = cu::swiglu_forward<T>;
  k.swiglu_backward = cu::swiglu_backward<T>;
  k.sigmoid_forward = cu::sigmoid_forward<T>;
  k.sigmoid_backward = cu::sigmoid_backward<T>;
  k.tanh_forward = cu::tanh_forward<T>;
  k.tanh_backward = cu::tanh_backward<T>;
  k.gelu_forward = cu::gelu_forward<T>;
  k.gelu_backward = cu::gelu_backward<T>;
  k.softmax_forward = cu::softmax_forward<T>;
  k.softmax_backward = cu::softmax_backward<T>;
  k.logsumexp_forward = cu::logsumexp_forward<T>;
  k.logsumexp_backward = cu::logsumexp_backward<T>;
  k.axpy = cu::axpy<T>;
  k.axpy_scalar = cu::axpy_scalar<T>;
  k.add = cu::add<T>;
  k.mul = cu::mul<T>;
  k.scale_rows = cu::scale_rows<T>;
  k.row_dots = cu::row_dots<T>;
  k.sum_all = cu::sum_all<T>;
  k.fill_scalar = cu::fill_scalar<T>;
  k.attention_forward = cu::attention_forward<T>;
  k.attention_backward = cu::attention_backward<T>;
  k.attention_forward_paged = cu::attention_forward_paged<T>;
  k.softmax_xent = cu::softmax_xent<T>;
  k.lmhead_xent = cu::lmhead_xent<T>;
  k.rescale_sum_exp = cu::rescale_sum_exp<T>;
  k.bce_with_logits_forward = cu::bce_with_logits_forward<T>;
  k.bce_with_logits_backward = cu::bce_with_logits_backward<T>;
  k.topk_per_sequence = cu::topk_per_sequence<T>;
  k.token_depth = cu::token_depth<T>;
  k.set_rows_one = cu::set_rows_one<T>;
  return k;
}

KernelTable make_cuda_table() {
  KernelTable t;
  t.device = "cuda";
  t.f32 = cuda_float_kernels<float>();
  t.f64 = cuda_float_kernels<double>();
  // f32 attention: the bf16 tensor-core kernels when switched on under the bf16 GEMM precision
  // (attention_tc.h), the fp32 ones otherwise.
  t.f32.attention_forward = cu::attention_forward_f32;
  t.f32.attention_backward = cu::attention_backward_f32;
  t.gather_i32 = cu::gather_i32;
  t.scatter_i32 = cu::scatter_i32;
  t.iota_i32 = cu::iota_i32;
  t.depth_counts = cu::depth_counts;
  t.split_by_depth = cu::split_by_depth;
  t.adamw_update = cu::adamw_update;
  t.sum_squares = cu::sum_squares;
  return t;
}

}  // namespace

const KernelTable& cuda_kernel_table() {
  static const KernelTable table = make_cuda_table();
  return table;
}

}  // namespace mor::kernels
