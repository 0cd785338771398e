// Our own f32 GEMM for AVX-512 CPUs (the x86-64-v4 copy of the kernels), chosen over OpenBLAS by
// measurement in kernels/lab/gemm_lab (README "Kernel lab").
//   C[M,N] = alpha * op(A) @ op(B) + beta * C,   row-major, op(X) = X or X^T.
//
// What makes it faster than a general BLAS on a training step's shapes is what it does not do: it
// packs neither A nor an untransposed B. A 12 x 32 register tile (24 zmm accumulators) broadcasts
// op(A)'s elements straight from memory, whether A is stored [M,K] (12 row streams) or [K,M] (12
// neighbours of one row), and loads untransposed B rows directly; only a transposed B (the forward
// x W^T of every linear and the LM head) is repacked, by 16 x 16 register transposes, into
// [k][32] panels per block of N that stays in L2 while every row of A passes over it.
// Blocking: K in passes of at most 512 (one pass for the step's K = d_model GEMMs), N in blocks
// whose packed B fits ~768 KB of L2, rows in blocks of 8 panels. Threads: with at least as many
// column blocks as threads, the blocks are narrowed until their count is a multiple of the thread
// count and each thread packs its own; with fewer, rows are split into one chunk per thread, each
// packing its own copy of the B block (a shared B block packed together, with two barriers per pass
// over K, measured slower). Every element of C is summed in the same order at any thread count.
#pragma once
#include <cstdint>

namespace mor::kernels {

// True when this copy of the kernels was compiled for AVX-512 (else sgemm_avx512 must not be called).
bool sgemm_avx512_available();

// GFLOP/s of the 12 x 32 tile alone, on panels that stay in L1 (kc 256), on the calling thread, best
// of repeated runs over `seconds`: the ceiling of any GEMM built on this tile on this core
// (kernels/lab/gemm_lab prints it beside the FMA peak). 0 without AVX-512.
double sgemm_avx512_tile_gflops(double seconds);

void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace mor::kernels
