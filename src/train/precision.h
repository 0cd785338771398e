// Training precision (train.precision). fp32: every GEMM in f32 (on CUDA on TF32 tensor cores
// unless train.tf32 is false). bf16 (mixed precision): GEMM inputs rounded to bf16 with f32
// accumulation -- oneDNN on the CPU (kernels/cpu/gemm_bf16.h), cuBLASLt on CUDA
// (kernels/cuda/gemm.cu); master weights, gradients, optimizer state, the loss, norms and every
// non-GEMM op stay f32. On the CPU refused, with the reason, without bf16 dot-product instructions.
// train.cuda_attention: tensor_cores runs the CUDA training attention on bf16 tensor cores too.
#pragma once
#include <cstdint>
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

// "fp32" or "bf16 GEMMs (f32 accumulation, f32 master weights)" for the run header.
std::string train_precision_description(Device device = Device::cpu());

// Held around one step's forward and backward passes (every micro-batch; never across the
// optimizer): the parameters do not change inside it, so under bf16 on the CPU the layer GEMMs keep
// their weights rounded and in oneDNN's layout for the whole step (kernels::Bf16ConstantScope) --
// when the step uses them more than once (weights_reused(), config.h: recursions, gradient
// accumulation). A
// vanilla step of one micro-batch uses each layout once, and keeping copies for it measured 2%
// slower. Does nothing in fp32 or on CUDA. With MOR_CHECK_CONSTANT_PARAMS=1 in the environment
// (tests), close() also checks the promise on the CPU, whatever the precision: a checksum of the
// parameter arena taken at the start must still hold.
class ConstantParamsScope {
 public:
  ConstantParamsScope(const ParamTable& params, bool reused);
  ~ConstantParamsScope();
  ConstantParamsScope(const ConstantParamsScope&) = delete;
  ConstantParamsScope& operator=(const ConstantParamsScope&) = delete;
  // Ends the scope; throws std::logic_error naming what changed when the check is on and failed.
  void close();

 private:
  const float* begin_ = nullptr;
  int64_t count_ = 0;
  uint64_t checksum_ = 0;
  bool check_ = false;
  std::unique_ptr<kernels::Bf16ConstantScope> scope_;
};

}  // namespace mor
