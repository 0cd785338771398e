// Thread-count control; see threads.h.
#include "threads.h"

#include "blas_kernels.h"
#include "cpu_features.h"
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <sstream>

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_parallel(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace mor {

void set_num_threads(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

bool blas_is_openmp() { return openblas_get_parallel() == 2; }

std::string blas_description() {
  std::ostringstream os;
  os << "OpenBLAS " << (blas_is_openmp() ? "openmp" : "NOT-openmp(slow: two thread pools)") << " "
     << openblas_get_corename();
  if (const std::string note = blas_kernel_note(); !note.empty()) os << " (" << note << ")";
  os << ", " << num_threads() << " thread(s), f32 GEMM " << kernels::sgemm_backend_name() << ", "
     << cpu_kernels_description();
  return os.str();
}

}  // namespace mor
