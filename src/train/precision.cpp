// Training precision; see precision.h.
#include "precision.h"

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "src/core/cpu_features.h"
#include "src/core/error.h"

namespace mor {

void apply_train_precision(const std::string& source, const TrainConfig& t) {
  if (t.precision == "fp32") {
    kernels::set_gemm_precision(kernels::GemmPrecision::F32);
    return;
  }
  const std::string why = kernels::bf16_gemm_unavailable_reason();
  if (!why.empty())
    fail_input(source, ": train.precision: bf16 cannot run on this machine (", cpu_model_name(), "): ", why,
               ". Hint: use train.precision: fp32 (--set train.precision=fp32).");
  kernels::set_gemm_precision(kernels::GemmPrecision::BF16);
}

std::string train_precision_description() {
  return kernels::gemm_precision() == kernels::GemmPrecision::BF16
             ? "bf16 GEMMs (oneDNN, f32 accumulation, f32 master weights)"
             : "fp32";
}

}  // namespace mor
