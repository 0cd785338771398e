// Unit-test entry point: the same OpenBLAS kernels as `mor` (see src/core/blas_kernels.h), then
// GoogleTest.
#include <gtest/gtest.h>

#include "src/core/blas_kernels.h"

int main(int argc, char** argv) {
  mor::ensure_fast_blas_kernels(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
