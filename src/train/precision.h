// Training precision (train.precision). fp32: every GEMM in f32. bf16 (mixed precision, CPU):
// GEMM inputs rounded to bf16 with f32 accumulation (oneDNN, kernels/cpu/gemm_bf16.h); master
// weights, gradients, optimizer state and every non-GEMM op stay f32. Refused, with the reason,
// on a machine without bf16 dot-product instructions.
#pragma once
#include <string>

#include "src/config/config.h"

namespace mor {

// Sets the process-wide GEMM precision for this run (call before the first forward pass).
// `source` names the config file for the error message.
void apply_train_precision(const std::string& source, const TrainConfig& t);

// "fp32" or "bf16 GEMMs (f32 accumulation, f32 master weights)" for the run header.
std::string train_precision_description();

}  // namespace mor
