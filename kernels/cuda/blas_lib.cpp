// Loads cuBLAS / cuBLASLt on first use; see blas_lib.h.
#include "kernels/cuda/blas_lib.h"

#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace mor::kernels::cu {
namespace {

void* open_lib(const char* base) {
  const std::string versioned = std::string(base) + ".so." + std::to_string(CUBLAS_VER_MAJOR);
  void* h = dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen((std::string(base) + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h)
    throw std::runtime_error("cannot load " + versioned + " (" + dlerror() +
                             "). Hint: put the CUDA toolkit's lib directory on LD_LIBRARY_PATH, or use device: cpu.");
  return h;
}

template <typename F>
void resolve(void* lib, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) throw std::runtime_error(std::string("cuBLAS has no symbol ") + name + ". Hint: match the toolkit the build used.");
}

BlasLib load() {
  void* lt = open_lib("libcublasLt");
  void* blas = open_lib("libcublas");
  BlasLib b;
  resolve(lt, "cublasLtCreate", b.lt_create);
  resolve(lt, "cublasLtMatmulDescCreate", b.desc_create);
  resolve(lt, "cublasLtMatmulDescSetAttribute", b.desc_set);
  resolve(lt, "cublasLtMatmulDescDestroy", b.desc_destroy);
  resolve(lt, "cublasLtMatrixLayoutCreate", b.layout_create);
  resolve(lt, "cublasLtMatrixLayoutDestroy", b.layout_destroy);
  resolve(lt, "cublasLtMatmulPreferenceCreate", b.pref_create);
  resolve(lt, "cublasLtMatmulPreferenceSetAttribute", b.pref_set);
  resolve(lt, "cublasLtMatmulPreferenceDestroy", b.pref_destroy);
  resolve(lt, "cublasLtMatmulAlgoGetHeuristic", b.heuristic);
  resolve(lt, "cublasLtMatmul", b.matmul);
  resolve(blas, "cublasCreate_v2", b.create);
  resolve(blas, "cublasSetStream_v2", b.set_stream);
  resolve(blas, "cublasDgemm_v2_64", b.dgemm);
  resolve(blas, "cublasGemmEx_64", b.gemm_ex);
  return b;  // the libraries stay loaded for the process
}

}  // namespace

const BlasLib& blas_lib() {
  static const BlasLib lib = load();
  return lib;
}

}  // namespace mor::kernels::cu
