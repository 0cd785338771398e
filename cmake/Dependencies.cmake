# Third-party dependencies, all from Debian packages (launch/install_deps.sh installs them).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(MPI REQUIRED COMPONENTS C)
find_package(HDF5 REQUIRED COMPONENTS C CXX)
find_package(yaml-cpp REQUIRED)                  # target: yaml-cpp (0.7 has no namespace)
find_package(GTest REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(PkgConfig REQUIRED)
# oneDNN (libdnnl-dev): bf16 GEMMs for train.precision: bf16 on CPUs with bf16 dot products.
find_package(dnnl CONFIG QUIET)

# OpenBLAS, OpenMP flavour: it shares libgomp's thread pool with our kernels, and calls made
# from inside an OpenMP parallel region run single-threaded (no oversubscription, no two pools
# busy-waiting against each other). Linked by full path + rpath so that the pthread flavour
# behind the libopenblas.so.0 alternative is not picked up at run time.
set(MOR_OPENBLAS_DIR "/usr/lib/x86_64-linux-gnu/openblas-openmp" CACHE PATH "OpenBLAS (openmp) dir")
find_library(MOR_OPENBLAS_LIB NAMES openblas PATHS ${MOR_OPENBLAS_DIR} NO_DEFAULT_PATH)
find_path(MOR_OPENBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(NOT MOR_OPENBLAS_LIB OR NOT MOR_OPENBLAS_INCLUDE)
  message(FATAL_ERROR "OpenBLAS (OpenMP flavour) not found in ${MOR_OPENBLAS_DIR}.\n"
                      "Hint: run launch/install_deps.sh (apt-get install libopenblas-openmp-dev).")
endif()
add_library(mor::openblas UNKNOWN IMPORTED)
set_target_properties(mor::openblas PROPERTIES IMPORTED_LOCATION "${MOR_OPENBLAS_LIB}"
                      INTERFACE_INCLUDE_DIRECTORIES "${MOR_OPENBLAS_INCLUDE}")

pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)

# ---- optional CUDA ----
set(MOR_HAVE_CUDA OFF)
if(NOT MOR_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)        # "native" fails on machines without a GPU
    endif()
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)                  # CMake 3.25 does not know nvcc's C++20 flag
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/local/cuda/lib)
    if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
      add_library(NCCL::nccl UNKNOWN IMPORTED)
      set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                            INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
    endif()
    set(MOR_HAVE_CUDA ON)
  elseif(MOR_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MOR_CUDA=ON but no CUDA compiler was found. Hint: put nvcc on PATH or use -DMOR_CUDA=AUTO.")
  endif()
endif()
message(STATUS "MoR-Train: CUDA kernels ${MOR_HAVE_CUDA}")
