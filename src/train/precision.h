// Training precision (train.precision). fp32: every GEMM in f32 (on CUDA on TF32 tensor cores
// unless train.tf32 is false). bf16 (mixed precision): GEMM inputs rounded to bf16 with f32
// accumulation -- oneDNN on the CPU (kernels/cpu/gemm_bf16.h), cuBLASLt on CUDA
// (kernels/cuda/gemm.cu); master weights, gradients, optimizer state, the loss, norms and every
// non-GEMM op stay f32. On the CPU refused, with the reason, without bf16 dot-product instructions.
// train.cuda_attention: tensor_cores runs the CUDA training attention on bf16 tensor cores too.
#pragma once
#include <string>

#include "src/config/config.h"
#include "src/core/device.h"

namespace mor {

// Sets the process-wide GEMM precision for this run (call before the first forward pass).
// `source` names the config file for the error message.
void apply_train_precision(const std::string& source, const TrainConfig& t, Device device = Device::cpu());

// "fp32" or "bf16 GEMMs (f32 accumulation, f32 master weights)" for the run header.
std::string train_precision_description(Device device = Device::cpu());

}  // namespace mor
