// Training precision; see precision.h.
#include "precision.h"

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "src/core/cpu_features.h"
#include "src/core/error.h"
#include "src/model/param_table.h"
#ifdef MOR_HAVE_CUDA
#include "kernels/cuda/attention_tc.h"  // set_cuda_attention_tc
#include "kernels/cuda/gemm.h"          // set_cuda_tf32
#endif

namespace mor {

void apply_train_precision(const std::string& source, const TrainConfig& t, Device device) {
#ifdef MOR_HAVE_CUDA
  kernels::set_cuda_tf32(t.tf32);
  kernels::set_cuda_attention_tc(t.cuda_attention == "tensor_cores");
#endif
  if (t.precision == "fp32") {
    kernels::set_gemm_precision(kernels::GemmPrecision::F32);
    return;
  }
  if (device.is_cuda()) {  // every GPU the build targets (sm_80, sm_90) has bf16 tensor cores
    kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
    return;
  }
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty())
    fail_input(source, ": train.precision: bf16 cannot run on this machine (", cpu_model_name(), "): ", why,
               ". Hint: use train.precision: fp32 (--set train.precision=fp32).");
  kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
}

std::string train_precision_description(Device device) {
  const bool bf16 = kernels::gemm_precision() == kernels::GemmPrecision::BF16;
  if (device.is_cuda()) {
#ifdef MOR_HAVE_CUDA
    const bool tf32 = kernels::cuda_tf32();
#else
    const bool tf32 = false;
#endif
    return bf16 ? "bf16 GEMMs (cuBLASLt, f32 accumulation, f32 master weights)"
                : tf32 ? "fp32 (GEMMs on TF32 tensor cores; train.tf32: false for exact fp32)" : "fp32 (TF32 off)";
  }
  return bf16 ? "bf16 GEMMs (oneDNN, f32 accumulation, f32 master weights)" : "fp32";
}

bool weights_reused(const Config& c) { return c.model.recursion.num_recursions > 1 || c.train.grad_accum > 1; }

ConstantParamsScope::ConstantParamsScope(const ParamTable& params, bool reused) {
  const Tensor& values = params.values();
  if (!reused || kernels::gemm_precision() != kernels::GemmPrecision::BF16 || !values.device().is_cpu() ||
      values.numel() == 0)
    return;
  const float* begin = values.ptr<float>();
  scope_ = std::make_unique<kernels::Bf16ConstantScope>(begin, begin + values.numel());
}

ConstantParamsScope::~ConstantParamsScope() = default;

}  // namespace mor
