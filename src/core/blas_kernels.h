// OpenBLAS kernel selection. Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its GEMM kernels
// from the CPU's model number and falls back to the generic SSE3 "Prescott" kernels on CPUs newer
// than it knows -- e.g. a Sapphire Rapids guest that reports "Intel(R) Xeon(R) Processor" -- which
// made sgemm 5x slower on such a machine (26.6 vs 136 GFLOP/s, 1 thread). OpenBLAS reads
// OPENBLAS_CORETYPE only when it is loaded, so `mor` re-executes itself once, with that variable
// set to the best kernel family the CPU supports (SkylakeX for AVX-512, Haswell for AVX2 + FMA).
// A user's own OPENBLAS_CORETYPE is always respected.
#pragma once
#include <string>

namespace mor {

// Call first thing in main(): returns when OpenBLAS's choice stands (or re-executing failed);
// otherwise the process image is replaced by the same command with OPENBLAS_CORETYPE set.
void ensure_fast_blas_kernels(char** argv);

// The kernel family to use instead of `detected` on this CPU, or "" to keep it. Pure function of
// its inputs (exposed for the test).
std::string better_blas_core(const std::string& detected, bool avx2_fma, bool avx512);

// "" normally; after a re-execution: "chosen by mor: OpenBLAS detected <core>"; when the user's
// OPENBLAS_CORETYPE names narrower kernels than the CPU runs (Haswell on an AVX-512 CPU: half the
// GEMM width), says so (narrow_user_blas_core_note).
std::string blas_kernel_note();

// The note for a user-set OPENBLAS_CORETYPE `user` on a CPU with these features, or "" when the
// setting is not narrower than the CPU. Pure (exposed for the test).
std::string narrow_user_blas_core_note(const std::string& user, bool avx2_fma, bool avx512);

}  // namespace mor
