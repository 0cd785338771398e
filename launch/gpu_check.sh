#!/usr/bin/env bash
# GPU check in one go (designed for < 8 minutes on one H100): build the CUDA kernels for the GPU
# present (CMAKE_CUDA_ARCHITECTURES=native), run the GPU kernel tests (tests/gpu: every CUDA
# kernel-table entry against the CPU one), run the CUDA kernel lab's benchmark set
# (kernels/lab/cuda_lab.cu: checks, then GB/s and TFLOP/s), and print a summary.
#   bash launch/gpu_check.sh            # build dir: build-gpu (BUILD_DIR=... to change)
# Without a GPU (no nvidia-smi, or it lists none) it prints "no GPU: skipped" and exits 0.
# Exit status: 0 when the tests and the lab's checks pass, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-gpu}"
JOBS="${JOBS:-$(nproc)}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "gpu_check: no GPU: skipped (nvidia-smi absent or lists no device)."
  exit 0
fi
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "gpu_check: $gpu_name"
start=$(date +%s)
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

echo "== build (${JOBS} jobs) =="
if ! cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=native \
       >"$log_dir/cmake.log" 2>&1; then
  tail -30 "$log_dir/cmake.log"; echo "gpu_check: FAILED at cmake"; exit 1
fi
grep -q "CUDA kernels ON" "$log_dir/cmake.log" || { echo "gpu_check: FAILED: cmake found no CUDA compiler"; exit 1; }
if ! timeout 300 ninja -C "$BUILD_DIR" -j "$JOBS" gpu_tests cuda_lab >"$log_dir/build.log" 2>&1; then
  tail -40 "$log_dir/build.log"; echo "gpu_check: FAILED at build"; exit 1
fi
build_s=$(( $(date +%s) - start ))

echo "== gpu tests =="
timeout 180 "$BUILD_DIR/tests/gpu/gpu_tests" --gtest_color=no 2>&1 | tee "$log_dir/tests.log" | grep -E "^\[ *(OK|FAILED|SKIPPED) *\]|Failure|error" 
tests_rc=${PIPESTATUS[0]}
tests_line=$(grep -E "^\[  (PASSED|FAILED) " "$log_dir/tests.log" | head -2 | tr '\n' ' ')

echo "== cuda_lab =="
timeout 240 "$BUILD_DIR/kernels/lab/cuda_lab" --kernel all --reps 10 2>&1 | tee "$log_dir/lab.log"
lab_rc=${PIPESTATUS[0]}

total_s=$(( $(date +%s) - start ))
echo
echo "== summary ($gpu_name) =="
echo "build:     ${build_s} s"
echo "gpu tests: $([ "$tests_rc" = 0 ] && echo ok || echo "FAILED (exit $tests_rc)")  ${tests_line}"
echo "cuda_lab:  $([ "$lab_rc" = 0 ] && echo ok || echo "FAILED (exit $lab_rc)")"
grep -E "^  time " "$log_dir/lab.log" | sed 's/^  time /  /'
echo "total:     ${total_s} s"
[ "$tests_rc" = 0 ] && [ "$lab_rc" = 0 ]
