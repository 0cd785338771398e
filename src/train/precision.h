// Training precision (train.precision). fp32: every GEMM in f32 (on CUDA on TF32 tensor cores
// unless train.tf32 is false). bf16 (mixed precision): GEMM inputs rounded to bf16 with f32
// accumulation -- oneDNN on the CPU (kernels/cpu/gemm_bf16.h), cuBLASLt on CUDA
// (kernels/cuda/gemm.cu); master weights, gradients, optimizer state, the loss, norms and every
// non-GEMM op stay f32. On the CPU refused, with the reason, without bf16 dot-product instructions.
// train.cuda_attention: tensor_cores runs the CUDA training attention on bf16 tensor cores too.
#pragma once
#include <memory>
#include <string>

#include "src/config/config.h"
#include "src/core/device.h"

namespace mor {

namespace kernels {
class Bf16ConstantScope;
}
class ParamTable;

// Sets the process-wide GEMM precision for this run (call before the first forward pass).
// `source` names the config file for the error message.
void apply_train_precision(const std::string& source, const TrainConfig& t, Device device = Device::cpu());

// Whether one training step uses each layer weight more than once: shared layers applied N_r > 1
// times, or several micro-batches.
bool weights_reused(const Config& c);

// "fp32" or "bf16 GEMMs (f32 accumulation, f32 master weights)" for the run header.
std::string train_precision_description(Device device = Device::cpu());

// Held around one step's forward and backward passes (every micro-batch; never across the
// optimizer): the parameters do not change inside it, so under bf16 on the CPU the layer GEMMs keep
// their weights rounded and in oneDNN's layout for the whole step (kernels::Bf16ConstantScope) --
// when the step uses them more than once (weights_reused(): recursions, gradient accumulation). A
// vanilla step of one micro-batch uses each layout once, and keeping copies for it measured 2%
// slower. Does nothing in fp32 or on CUDA.
class ConstantParamsScope {
 public:
  ConstantParamsScope(const ParamTable& params, bool reused);
  ~ConstantParamsScope();
  ConstantParamsScope(const ConstantParamsScope&) = delete;
  ConstantParamsScope& operator=(const ConstantParamsScope&) = delete;

 private:
  std::unique_ptr<kernels::Bf16ConstantScope> scope_;
};

}  // namespace mor
