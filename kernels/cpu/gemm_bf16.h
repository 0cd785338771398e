// bf16 GEMM on the CPU through oneDNN: the f32 operands are rounded to bfloat16 (nearest even),
// multiplied with f32 accumulation (AVX512_BF16 VDPBF16PS or AMX tiles), and written to f32 C:
//   C[M,N] = alpha * op(bf16(A)) @ op(bf16(B)) + beta * C
// Same calling convention as gemm<float> (row-major, row strides). Used by gemm<float> when the
// process-wide GEMM precision is bf16 (train.precision: bf16); see gemm.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mor::kernels {

// Empty when bf16 GEMMs can run here, otherwise why not (no oneDNN in the build, or a CPU or
// kernel build without bf16 dot products) -- phrased for an error message.
std::string bf16_gemm_unavailable_reason();

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The two halves of gemm_bf16, for callers that use one rounded operand in several GEMMs (the LM
// head rounds its weight once per call instead of twice per block of rows: the rounding streams
// the f32 operand from memory and was 15% of a bf16 training step).
// dst = bf16 copy of the rows x cols block at src (row stride ld), contiguous.
void round_to_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, std::vector<uint16_t>& dst);
// out[0, n) = bf16 of src[0, n) (one row; no threads: for callers inside their own row loop).
void round_row_to_bf16(const float* src, int64_t n, uint16_t* out);
// gemm_bf16 on rounded operands stored contiguously: A16 holds op(A) as stored ([M,K], or [K,M]
// when trans_a), B16 likewise ([K,N] or [N,K]).
void gemm_bf16_rounded(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A16,
                       const uint16_t* B16, float beta, float* C, int64_t ldc);

// While a scope is open, the f32 memory [begin, end) -- the parameter arena -- does not change: the
// trainer and `mor bench train` open one around a step's forward and backward passes (never around
// the optimizer) when the step uses its weights more than once. gemm_bf16 then rounds a B that
// lies in it once per scope and reorders it once per layout into oneDNN's blocked form, instead of
// on every call: a MoR step uses each shared weight once per recursion in the forward and again in
// the backward. The copies stay allocated between scopes (refilled at the next one). A scope covers
// the thread that opens it (other threads round per call); scopes do not nest (std::logic_error);
// outside one nothing is cached.
class Bf16ConstantScope {
 public:
  Bf16ConstantScope(const void* begin, const void* end);
  ~Bf16ConstantScope();
  Bf16ConstantScope(const Bf16ConstantScope&) = delete;
  Bf16ConstantScope& operator=(const Bf16ConstantScope&) = delete;
};

// A rounded op(B) [K, N] reordered once into the blocked layout oneDNN's matmul picks for it, for
// several products with it: with a plain B every matmul call reorders B itself (for AMX: into
// k-pairs), which for the LM head's weight, used by 2 GEMMs per block of rows, cost more than the
// products (kernels/lab/gemm_lab: lm_head dx 264 -> 542 GFLOP/s once the weight is blocked).
// The products are those of gemm_bf16_rounded up to f32 summation order (oneDNN may block K
// differently). Keep one object per use and call pack() whenever the weight changes: its storage
// is reused.
class Bf16PackedB {
 public:
  Bf16PackedB();
  ~Bf16PackedB();
  Bf16PackedB(const Bf16PackedB&) = delete;
  Bf16PackedB& operator=(const Bf16PackedB&) = delete;
  // B16 holds op(B) as stored, contiguous ([K, N], or [N, K] when trans_b) and must outlive the
  // products (they fall back to it where oneDNN has no blocked kernel for their shape); the layout
  // is chosen for products of m_hint rows.
  void pack(bool trans_b, int64_t K, int64_t N, const uint16_t* B16, int64_t m_hint);
  // C [M, N] (row stride ldc) = alpha * op(A16) @ op(B) + beta * C; A16 as in gemm_bf16_rounded.
  void gemm(bool trans_a, int64_t M, float alpha, const uint16_t* A16, float beta, float* C, int64_t ldc);
  // Whether products of M rows (op(A) transposed or not, C's row stride ldc, alpha, beta) run on
  // the blocked layout rather than falling back to the plain B16.
  bool runs_blocked(bool trans_a, int64_t M, int64_t ldc, float alpha, float beta);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mor::kernels
