// Training precision; see precision.h.
#include "precision.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

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

namespace {
// A checksum of n floats' bits (order-sensitive), for MOR_CHECK_CONSTANT_PARAMS.
uint64_t bits_checksum(const float* v, int64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, v + i, 4);
    h = (h ^ u) * 1099511628211ull;
  }
  return h;
}
}  // namespace

ConstantParamsScope::ConstantParamsScope(const ParamTable& params, bool reused) {
  const Tensor& values = params.values();
  if (!values.device().is_cpu() || values.numel() == 0) return;
  begin_ = values.ptr<float>();
  count_ = values.numel();
  const char* check = std::getenv("MOR_CHECK_CONSTANT_PARAMS");
  check_ = check != nullptr && std::string(check) == "1";
  if (check_) checksum_ = bits_checksum(begin_, count_);
  if (reused && kernels::gemm_precision() == kernels::GemmPrecision::BF16)
    scope_ = std::make_unique<kernels::Bf16ConstantScope>(begin_, begin_ + count_);
}

void ConstantParamsScope::close() {
  scope_.reset();
  if (check_ && bits_checksum(begin_, count_) != checksum_)
    throw std::logic_error(
        "the parameters changed between a step's first forward and its last backward pass "
        "(MOR_CHECK_CONSTANT_PARAMS); the bf16 weight copies (ConstantParamsScope, src/train/precision.h) "
        "rely on them not changing: move the update after the micro-batches, or close the scope first");
  check_ = false;
}

ConstantParamsScope::~ConstantParamsScope() = default;

}  // namespace mor
