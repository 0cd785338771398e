// Thread-count control for OpenMP and OpenBLAS (one pool: the OpenMP flavour of OpenBLAS).
#pragma once
#include <string>

namespace mor {

// Sets both OpenMP's and OpenBLAS's thread count; n <= 0 keeps the defaults.
void set_num_threads(int n);
int num_threads();
// "OpenBLAS 0.3.21 (openmp, 2 threads, Cooperlake)"; warns when the pthread flavour was loaded.
std::string blas_description();
// True when the OpenBLAS loaded at run time is the OpenMP build.
bool blas_is_openmp();

}  // namespace mor
