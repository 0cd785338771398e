// GEMM on CUDA, row-major like kernels/cpu/gemm.h: C[M,N] = alpha op(A) op(B) + beta C, with row
// strides lda/ldb/ldc. A row-major matrix is the transpose of the same memory read column-major,
// so the column-major libraries compute C^T = op(B)^T op(A)^T: B goes first, M and N swap.
//   f32: cuBLASLt, fp32 compute (TF32 tensor cores unless set_cuda_tf32(false)); under the bf16
//        GEMM precision, GEMMs of at least kBf16MinFlops round A and B to bf16 (nearest even,
//        copied into a stream-ordered scratch, rows padded to 16 bytes) and run bf16 x bf16 -> fp32
//        with fp32 compute, as the CPU's gemm_bf16 does.
//   f64: cublasDgemm_64.
// Handles: one cuBLASLt handle, one cuBLAS handle (bound to the stream) and one workspace per
// (device, stream), created on first use; the chosen cuBLASLt algorithm is cached per problem.
// A problem cuBLASLt's heuristic has no algorithm for runs through cublasGemmEx instead.
// The libraries themselves are loaded on the first GEMM (blas_lib.h), not linked.
#include "kernels/cuda/gemm.h"

#include <cuda_bf16.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/cpu/gemm.h"  // gemm_precision(), kBf16MinFlops
#include "kernels/cuda/blas_lib.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace mor::kernels {

namespace {
std::atomic<bool> g_tf32{true};
}
void set_cuda_tf32(bool on) { g_tf32.store(on); }
bool cuda_tf32() { return g_tf32.load(std::memory_order_relaxed); }

namespace cu {
namespace {

void check_blas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS ") + what + " failed with status " + std::to_string(int(s)) +
                             ". Hint: check the GEMM shapes and strides, or run with CUBLASLT_LOG_LEVEL=2.");
}

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's recommendation for Hopper

// The cuBLASLt problem: everything the chosen algorithm depends on.
struct LtKey {
  int type, compute;  // cudaDataType of A/B, cublasComputeType_t
  int op_a, op_b;
  int64_t m, n, k, lda, ldb, ldc;
  int align_a, align_b, align_c;
  auto tie() const { return std::tie(type, compute, op_a, op_b, m, n, k, lda, ldb, ldc, align_a, align_b, align_c); }
  bool operator<(const LtKey& o) const { return tie() < o.tie(); }
};

// What a problem runs with: cuBLASLt's algorithm, or cublasGemmEx where the heuristic had none.
struct LtChoice {
  bool lt = false;
  cublasLtMatmulAlgo_t algo{};
};

struct Handles {
  cublasLtHandle_t lt = nullptr;
  cublasHandle_t blas = nullptr;
  void* workspace = nullptr;
  std::mutex mu;  // the algorithm cache
  std::map<LtKey, LtChoice> algos;
};

Handles& handles_for(cudaStream_t s) {
  static std::mutex mu;
  static std::map<std::pair<int, cudaStream_t>, std::unique_ptr<Handles>> all;  // never freed: lives as the process
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mu);
  auto& h = all[{dev, s}];
  if (!h) {
    auto fresh = std::make_unique<Handles>();
    check_blas(blas_lib().lt_create(&fresh->lt), "cublasLtCreate");
    check_blas(blas_lib().create(&fresh->blas), "cublasCreate");
    check_blas(blas_lib().set_stream(fresh->blas, s), "cublasSetStream");
    check(cudaMalloc(&fresh->workspace, kWorkspaceBytes), "cudaMalloc (cuBLASLt workspace)");
    h = std::move(fresh);
  }
  return *h;
}

int alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (int b = 16; b > 1; b /= 2)
    if (a % uintptr_t(b) == 0) return b;
  return 1;
}

// RAII for the cuBLASLt descriptors of one call.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  ~LtDescs() {
    if (a) blas_lib().layout_destroy(a);
    if (b) blas_lib().layout_destroy(b);
    if (c) blas_lib().layout_destroy(c);
    if (op) blas_lib().desc_destroy(op);
  }
};

// Column-major D[m,n] = alpha op_a(A) op_b(B) + beta C (C = D, fp32), A and B of `type`.
void lt_matmul(cudaStream_t s, cudaDataType type, cublasComputeType_t compute, bool ta, bool tb, int64_t m,
               int64_t n, int64_t k, float alpha, const void* A, int64_t lda, const void* B, int64_t ldb, float beta,
               float* C, int64_t ldc) {
  Handles& h = handles_for(s);
  LtDescs d;
  const cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_blas(blas_lib().desc_create(&d.op, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
  check_blas(blas_lib().desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)), "TRANSA");
  check_blas(blas_lib().desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)), "TRANSB");
  check_blas(blas_lib().layout_create(&d.a, type, ta ? k : m, ta ? m : k, lda), "layout A");
  check_blas(blas_lib().layout_create(&d.b, type, tb ? n : k, tb ? k : n, ldb), "layout B");
  check_blas(blas_lib().layout_create(&d.c, CUDA_R_32F, m, n, ldc), "layout C");

  LtKey key;
  key.type = int(type);
  key.compute = int(compute);
  key.op_a = int(op_a);
  key.op_b = int(op_b);
  key.m = m, key.n = n, key.k = k, key.lda = lda, key.ldb = ldb, key.ldc = ldc;
  key.align_a = alignment(A), key.align_b = alignment(B), key.align_c = alignment(C);
  LtChoice choice;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(h.mu);
    auto it = h.algos.find(key);
    if (it != h.algos.end()) choice = it->second, found = true;
  }
  if (!found) {
    cublasLtMatmulPreference_t pref = nullptr;
    check_blas(blas_lib().pref_create(&pref), "cublasLtMatmulPreferenceCreate");
    const size_t ws = kWorkspaceBytes;
    const uint32_t aa = uint32_t(key.align_a), ab = uint32_t(key.align_b), ac = uint32_t(key.align_c);
    // Checked: an alignment preference not taken would let the heuristic assume 256-byte aligned operands.
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    const auto prefer = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* value, size_t bytes) {
      if (st == CUBLAS_STATUS_SUCCESS) st = blas_lib().pref_set(pref, attr, value, bytes);
    };
    prefer(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof(aa));
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab, sizeof(ab));
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof(ac));
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof(ac));
    cublasLtMatmulHeuristicResult_t result;
    int count = 0;
    if (st == CUBLAS_STATUS_SUCCESS) st = blas_lib().heuristic(h.lt, d.op, d.a, d.b, d.c, d.c, pref, 1, &result, &count);
    blas_lib().pref_destroy(pref);
    // No algorithm for these layouts and alignments (NOT_SUPPORTED, or a count of 0): the classic
    // cuBLAS entry point takes any layout, so the problem goes there, remembered per shape.
    if (st != CUBLAS_STATUS_NOT_SUPPORTED) check_blas(st, "cublasLtMatmulAlgoGetHeuristic (or its preferences)");
    choice.lt = st == CUBLAS_STATUS_SUCCESS && count > 0;
    if (choice.lt) choice.algo = result.algo;
    std::lock_guard<std::mutex> lock(h.mu);
    h.algos.emplace(key, choice);
  }
  if (!choice.lt) {
    check_blas(blas_lib().gemm_ex(h.blas, op_a, op_b, m, n, k, &alpha, A, type, lda, B, type, ldb, &beta, C,
                                  CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx (no cuBLASLt algorithm for this problem)");
    return;
  }
  check_blas(blas_lib().matmul(h.lt, d.op, &alpha, A, d.a, B, d.b, &beta, C, d.c, C, d.c, &choice.algo, h.workspace,
                            kWorkspaceBytes, s),
             "cublasLtMatmul");
}

// C[M,N] (row stride ldc) = beta C: the K = 0 case (beta 0 writes zeros, whatever C held).
template <typename T>
__global__ void scale_matrix_kernel(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < M * N; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / N, j = e - i * N;
    T& c = C[i * ldc + j];
    c = beta == T(0) ? T(0) : beta * c;
  }
}

// out [rows, cols] bf16 (row stride out_ld) = in [rows, cols] (row stride ld) rounded to nearest even.
__global__ void to_bf16_kernel(int64_t rows, int64_t cols, const float* in, int64_t ld, __nv_bfloat16* out,
                               int64_t out_ld) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < rows * cols;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / cols, j = e - i * cols;
    out[i * out_ld + j] = __float2bfloat16_rn(in[i * ld + j]);
  }
}

// Row stride of a packed bf16 copy: a multiple of 8 elements (16 bytes), so that every row
// starts 16-byte aligned, as cuBLASLt's tensor-core kernels want (odd K would otherwise leave
// only slow kernels, or none).
int64_t bf16_ld(int64_t cols) { return (cols + 7) / 8 * 8; }

void gemm_f32(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const bool bf16 = gemm_precision() == GemmPrecision::BF16 && bf16_sized(M, N, K);
  if (!bf16) {
    const cublasComputeType_t compute = cuda_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    lt_matmul(s, CUDA_R_32F, compute, tb, ta, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc);
    return;
  }
  // Stored shapes: A is [K, M] when transposed, else [M, K]; B is [N, K] when transposed, else [K, N].
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t a_ld = bf16_ld(a_cols), b_ld = bf16_ld(b_cols);
  Scratch<__nv_bfloat16> a16(a_rows * a_ld, s), b16(b_rows * b_ld, s);
  to_bf16_kernel<<<grid_for(a_rows * a_cols), kThreads, 0, s>>>(a_rows, a_cols, A, lda, a16.get(), a_ld);
  check_launch("gemm: A to bf16");
  to_bf16_kernel<<<grid_for(b_rows * b_cols), kThreads, 0, s>>>(b_rows, b_cols, B, ldb, b16.get(), b_ld);
  check_launch("gemm: B to bf16");
  lt_matmul(s, CUDA_R_16BF, CUBLAS_COMPUTE_32F, tb, ta, N, M, K, alpha, b16.get(), b_ld, a16.get(), a_ld, beta, C,
            ldc);
}

void gemm_f64(cudaStream_t s, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  Handles& h = handles_for(s);
  check_blas(blas_lib().dgemm(h.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha,
                            B, ldb, A, lda, &beta, C, ldc),
             "cublasDgemm");
}

}  // namespace

template <typename T>
void gemm(Stream st, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const cudaStream_t s = as_stream(st);
  if (K <= 0) {
    scale_matrix_kernel<T><<<grid_for(M * N), kThreads, 0, s>>>(M, N, beta, C, ldc);
    check_launch("gemm (K = 0)");
    return;
  }
  if constexpr (sizeof(T) == 4) gemm_f32(s, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else gemm_f64(s, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(Stream, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(Stream, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace cu
}  // namespace mor::kernels
