// Our own f32 GEMM for AVX-512 CPUs (the x86-64-v4 copy of the kernels), chosen over OpenBLAS by
// measurement in kernels/lab/gemm_lab (README "Kernel lab").
//   C[M,N] = alpha * op(A) @ op(B) + beta * C,   row-major, op(X) = X or X^T.
//
// A 12 x 32 register tile (24 zmm accumulators; per k one broadcast of A per row and two loads of
// B) runs over operands packed per call:
//   B into [k][32] panels, in blocks of N that fit ~768 KB of L2 and stay there while every row
//     of A passes over them; a transposed B (the forward x W^T of every linear and the LM head)
//     through 16 x 16 register transposes. Packing even an untransposed B pays: its rows read in
//     place, when a power of two apart, fall into the same L1 sets (0.55x measured).
//   A into [k][12] panels, eight at a time (a transposed A, the weight gradients' dy^T, is then
//     read once, in whole lines), and once per pass over K for all column blocks when one thread
//     runs several of them and A is at most 4 MB (the LM head's forward).
// Variants measured and dropped (README "Our AVX-512 f32 GEMM"): A broadcast straight from memory,
// B read in place, software prefetch, non-temporal C stores, a 14-row tile, other L2 budgets.
// Blocking: K in passes of at most 512 (one pass for the step's K = d_model GEMMs).
// Threads: with at least as many column blocks as threads, the blocks are narrowed until their
// count is a multiple of the thread count and each thread packs its own; with fewer, rows are split
// into one chunk per thread, each packing its own copy of the B block (a shared B block packed
// together, with two barriers per pass over K, measured slower). Every element of C is summed in
// the same order at any thread count.
#pragma once
#include <cstdint>

#include "aligned_array.h"

namespace mor::kernels {

// True when this copy of the kernels was compiled for AVX-512 (else sgemm_avx512 must not be called).
bool sgemm_avx512_available();

// GFLOP/s of the 12 x 32 tile alone, on panels that stay in L1 (kc 256), on the calling thread, best
// of repeated runs over `seconds`: the ceiling of any GEMM built on this tile on this core
// (kernels/lab/gemm_lab prints it beside the FMA peak). 0 without AVX-512.
double sgemm_avx512_tile_gflops(double seconds);

void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// op(B) [K, N] packed once into the panels sgemm_avx512 would pack on every call ([k][32] per pass
// over K), for products that reuse it. kernels/lab/gemm_lab times it as `mor-avx512-pk` to decide
// whether keeping weights packed between their uses would pay (it does not: README "Our AVX-512
// f32 GEMM"). K * ceil(N / 32) * 32 floats.
class SgemmPackedB {
 public:
  SgemmPackedB(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);
  int64_t K() const { return K_; }
  int64_t N() const { return N_; }
  const float* data() const { return data_.get(); }

 private:
  int64_t K_, N_;
  AlignedArray<float> data_;
};

// sgemm_avx512 with op(B) = B as packed: the same C, bit for bit, without packing B.
void sgemm_avx512_packed(bool trans_a, int64_t M, float alpha, const float* A, int64_t lda, const SgemmPackedB& B,
                         float beta, float* C, int64_t ldc);

}  // namespace mor::kernels
