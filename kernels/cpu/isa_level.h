// Which build of the CPU kernels this process runs. The kernels library exists once per x86-64
// level (kernels/CMakeLists.txt) and the dynamic loader picks the best one the CPU supports, so
// the answer is only known at run time: each copy reports the level it was compiled for.
#pragma once

namespace mor::kernels {

// "x86-64" (baseline), "x86-64-v2", "x86-64-v3" (AVX2 + FMA), "x86-64-v4" (AVX-512 F/BW/CD/DQ/VL),
// or "native" for a -DMOR_CPU_DISPATCH=OFF build.
const char* isa_level();

}  // namespace mor::kernels
