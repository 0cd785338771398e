// The CUDA kernels' table (kernels/kernel_table.h), filled in kernels/cuda/cuda_table.cu.
// Host-callable; building it touches no CUDA API, so it is safe without a driver or a GPU.
#pragma once
#include "kernels/kernel_table.h"

namespace mor::kernels {

const KernelTable& cuda_kernel_table();

}  // namespace mor::kernels
