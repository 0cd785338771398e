// What the CPU this process runs on can do, and which kernels were chosen for it. Printed in the
// run header and by `mor bench sgemm`, so every figure names the kernels that produced it.
#pragma once
#include <string>

namespace mor {

struct CpuFeatures {
  bool avx2_fma = false;     // x86-64-v3 vector units
  bool avx512 = false;       // AVX-512 F, CD, BW, DQ, VL (x86-64-v4; OpenBLAS SkylakeX kernels)
  bool avx512_bf16 = false;  // VDPBF16PS: bf16 dot products with f32 accumulation (Zen 4, SPR)
  bool amx_bf16 = false;     // AMX tiles with bf16 (Sapphire Rapids)
};

// Detected once (CPUID; AMX also needs the OS to have enabled tile state).
const CpuFeatures& cpu_features();

// The CPU's model name from /proc/cpuinfo ("AMD EPYC 9R14 ..."), or "unknown CPU".
std::string cpu_model_name();

// "kernels x86-64-v4 (CPU: avx2+fma avx512 avx512-bf16)" -- the loaded kernel build and the
// features that matter for it.
std::string cpu_kernels_description();

}  // namespace mor
