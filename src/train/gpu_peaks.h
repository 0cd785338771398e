// Published dense (no 2:4 sparsity) peak throughput of GPUs, the MFU denominator on a GPU (on CPU
// it is the measured FMA peak, peak.h). Looked up by the device name CUDA reports
// (cudaDeviceProp::name, e.g. "NVIDIA H100 80GB HBM3"). Figures from NVIDIA's data sheets:
//
//   device              bf16 / fp16 tensor   tf32 tensor   fp32 (no tensor cores)   TFLOP/s
//   H100 SXM5           989.4                494.7         66.9
//   H100 PCIe           756.0                378.0         51.2
//   H100 NVL            835.0                417.5         60.0
//   H200 SXM            989.4                494.7         66.9
//   A100 (SXM / PCIe)   312.0                156.0         19.5
//
// `mor bench train` and the trainer divide by it on a GPU (gpu_mfu_peak).
#pragma once
#include <string>

#include "src/core/device.h"

namespace mor {

struct GpuPeak {
  const char* device;  // the table's name
  double bf16_tflops, tf32_tflops, fp32_tflops;
};

// nullptr for a device not in the table.
const GpuPeak* published_gpu_peak(const std::string& cuda_device_name);

// The MFU denominator of a CUDA device for the GEMM precision in use: bf16 tensor cores, TF32
// tensor cores (fp32 with TF32 on), or plain fp32. gflops 0 when the GPU is not in the table.
struct MfuPeak {
  double gflops = 0;
  std::string what;  // "NVIDIA H100 80GB HBM3: 989.4 TFLOP/s dense bf16 (published)"
};
MfuPeak gpu_mfu_peak(Device d, bool bf16, bool tf32);

}  // namespace mor
