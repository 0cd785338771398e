// Helpers of the GPU kernel tests (tests/gpu): device buffers, random inputs, and comparisons of a
// CUDA table entry's result against the CPU table entry's. Every test starts with MOR_REQUIRE_GPU(),
// which skips when no device is visible before any CUDA call (nothing here runs at static
// initialisation).
//
// Tolerances (stated per check, relative to max(1, |reference|) unless said otherwise):
//   exact        rows gathers/scatters, scatter-add (same addition order by construction),
//                selection and integer kernels;
//   f32 pointwise 2e-6 rel: same formulas, expf/erff/tanhf of CUDA (<= 2 ulp) against the CPU's
//                own exp polynomial (~2 ulp) and libm, and FMA contraction differing;
//   f32 reductions 1e-5 .. 5e-5: sums in another order (tree vs. sequential) over up to a few
//                thousand terms of O(1) values; the bound is a few ulps times sqrt(terms);
//   f32 GEMM / attention / LM head with TF32 off: 1e-4 .. 2e-4 of max(1, |ref|), fp32 sums of
//                dot products of length <= 1000 in another order;
//   f64          1e-10: the same orders as f32, at double precision;
//   bf16 GEMM    see test_cuda_gemm.cpp.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cuda/cuda_table.h"
#include "kernels/cuda/gemm.h"
#include "kernels/kernel_table.h"
#include "kernels/lab/random_inputs.h"
#include "src/core/device.h"

#define MOR_REQUIRE_GPU()                                                                            \
  do {                                                                                               \
    if (mor::cuda_device_count() == 0)                                                               \
      GTEST_SKIP() << "no CUDA device: the CUDA kernels are compared against the CPU ones on a GPU " \
                      "machine (launch/gpu_check.sh)";                                               \
  } while (0)

namespace mor::gputest {

// ADD_FAILURE, not ASSERT: usable in constructors and value-returning helpers.
inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) ADD_FAILURE() << what << ": " << cudaGetErrorString(e);
}

// A device copy of a host vector (or n uninitialised elements); back() copies it to the host.
template <typename T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& h) : n_(h.size()) {
    cuda_ok(cudaMalloc(reinterpret_cast<void**>(&p_), bytes()), "Dev: cudaMalloc");
    if (!h.empty()) cuda_ok(cudaMemcpy(p_, h.data(), bytes(), cudaMemcpyHostToDevice), "Dev: copy to the device");
  }
  explicit Dev(size_t n) : Dev(std::vector<T>(n, T(0))) {}
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() const { return p_; }
  // A kernel fault surfaces here (asynchronously): it fails the test rather than leave zeros.
  std::vector<T> back() const {
    cuda_ok(cudaDeviceSynchronize(), "Dev::back: a kernel before this copy failed");
    std::vector<T> h(n_);
    if (n_) cuda_ok(cudaMemcpy(h.data(), p_, bytes(), cudaMemcpyDeviceToHost), "Dev::back: copy to the host");
    return h;
  }

 private:
  size_t bytes() const { return (n_ ? n_ : 1) * sizeof(T); }
  T* p_ = nullptr;
  size_t n_;
};

using lab::uniform;

// |got - ref| <= tol * max(1, |ref|) elementwise; infinities must match exactly.
template <typename T>
void expect_close(const std::vector<T>& ref, const std::vector<T>& got, double tol, const std::string& what) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  double worst = 0;
  size_t at = 0, bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = double(ref[i]), g = double(got[i]);
    if (std::isinf(r) || std::isinf(g)) {
      if (r != g) ++bad, at = i, worst = INFINITY;
      continue;
    }
    const double err = std::fabs(r - g) / std::max(1.0, std::fabs(r));
    if (!(err <= tol)) {  // NaN counts as bad
      ++bad;
      if (!(err <= worst)) worst = err, at = i;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << ref.size() << " elements off, worst at " << at << ": ref "
                     << double(ref[at]) << " got " << double(got[at]) << " (tolerance " << tol << ")";
}

template <typename T>
void expect_equal(const std::vector<T>& ref, const std::vector<T>& got, const std::string& what) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(ref[i] == got[i])) {
      ADD_FAILURE() << what << ": first difference at " << i << ": ref " << double(ref[i]) << " got "
                    << double(got[i]);
      return;
    }
}

// Tolerance for T at f32 level `f32_tol` (f64: 1e-10).
template <typename T>
double tol(double f32_tol) {
  return sizeof(T) == 4 ? f32_tol : 1e-10;
}

inline const kernels::KernelTable& cpu() { return kernels::cpu_kernel_table(); }
inline const kernels::KernelTable& gpu() { return kernels::cuda_kernel_table(); }

// Exact fp32 GEMMs for the comparisons; restores TF32 afterwards.
struct NoTf32 {
  NoTf32() { kernels::set_cuda_tf32(false); }
  ~NoTf32() { kernels::set_cuda_tf32(true); }
};

}  // namespace mor::gputest
