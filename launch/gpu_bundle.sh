#!/usr/bin/env bash
# Builds, on this machine (where the project's Debian packages are installed), everything
# launch/gpu_check.sh runs on a GPU machine, and packs it with the shared libraries it needs into
# one archive, .gpu-bundle.tar.gz: the lent GPU machines have CUDA, CMake and ninja but none of
# the project's Debian libraries (HDF5, OpenBLAS, yaml-cpp, SentencePiece, MPI, GoogleTest) and
# nothing can be installed there. Single-process runs need no MPI start-up, so the bundle runs
# there with LD_LIBRARY_PATH set; NCCL and cuBLAS come from the GPU machine's own CUDA.
#   bash launch/gpu_bundle.sh        # then: carry .gpu-bundle.tar.gz, run bash launch/gpu_check.sh
# CUDA architectures: 90 (H100, H200) and 80 (A100), as cubins, plus PTX for newer GPUs.
# oneDNN (the CPU bf16 path, ~40 MB) is left out of this build to keep the archive small.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-gpu-bundle}"
OUT=.gpu-bundle.tar.gz
bash launch/install_deps.sh >/dev/null
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="80;90" \
  -DCMAKE_DISABLE_FIND_PACKAGE_dnnl=ON >/dev/null
ninja -C "$BUILD_DIR" mor gpu_tests cuda_lab

# The build tree's binaries and libraries keep their relative places (their RPATHs use $ORIGIN).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/lib"
mkdir -p "$stage/bundle/build"
(cd "$BUILD_DIR" && find . \( -name '*.so' -o -name '*.so.*' -o -path ./src/cli/mor -o -path ./tests/gpu/gpu_tests \
  -o -path ./kernels/lab/cuda_lab \) -type f -print0 | tar --null -T - -cf -) | tar -C "$stage/bundle/build" -xf -
# Libraries from outside the tree that the GPU machine lacks: everything ldd resolves to the
# system's library directories, except glibc's own, the CUDA driver/runtime, NCCL and cuBLAS
# (the GPU machine's CUDA provides them).
skip='/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|libcuda|libcudart|libnccl|libcublas|libcublasLt)\.so'
for bin in "$BUILD_DIR/src/cli/mor" "$BUILD_DIR/tests/gpu/gpu_tests" "$BUILD_DIR/kernels/lab/cuda_lab"; do
  ldd "$bin" | awk '/=> \// {print $3}'
done | sort -u | grep -vE "$skip" | grep -v "/$BUILD_DIR/" | while read -r lib; do
  cp -L "$lib" "$stage/bundle/lib/"
done
# The built-in corpus, prepared (the GPU machine has no python3.11-doc to prepare it from).
MOR="$BUILD_DIR/src/cli/mor" bash launch/prepare_default_corpus.sh >/dev/null
mkdir -p "$stage/bundle/datasets" && cp -r datasets/pydocs "$stage/bundle/datasets/"
tar -C "$stage" -czf "$OUT" bundle
grep -qxF "/$OUT" .git/info/exclude 2>/dev/null || echo "/$OUT" >>.git/info/exclude
echo "gpu_bundle: $OUT $(du -h "$OUT" | cut -f1) ($(ls "$stage/bundle/lib" | wc -l) outside libraries); carry it with the gpu_check run"
