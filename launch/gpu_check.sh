#!/usr/bin/env bash
# GPU check in one go (designed for < 8 minutes on one H100): build for the GPU present
# (CMAKE_CUDA_ARCHITECTURES=native), run the GPU tests (tests/gpu: every CUDA kernel-table entry
# against the CPU one; 5 training steps on the GPU against the CPU in fp32 with TF32 off for
# vanilla, expert- and token-choice MoR; a bf16 run within its band of fp32), the CUDA kernel lab's
# benchmark set (kernels/lab/cuda_lab.cu), `mor train` end to end on cuda (train, checkpoint, resume
# bit-exact, evaluate, generate), and `mor bench train --device cuda` on the 360M paper configs
# (vanilla, MoR-2, MoR-3) at T = 2048 in bf16, with the SIMT and the tensor-core attention; then a
# summary (CONFIGS, PRECISIONS, ATTENTIONS narrow or widen the benchmark set). MAX_BATCH=1 also searches each config's
# largest micro batch (slower); PRECISIONS="bf16 fp32" benchmarks fp32 too; SANITIZE=0 skips the compute-sanitizer memcheck of the kernel tests.
#   bash launch/gpu_check.sh            # build dir: build-gpu (BUILD_DIR=... to change)
# On a GPU machine without the project's Debian libraries (the lent ones), build the bundle here
# first (bash launch/gpu_bundle.sh) and carry .gpu-bundle.tar.gz: the script then runs it as is.
# Without a GPU (no nvidia-smi, or it lists none) it prints "no GPU: skipped" and exits 0.
# With a GPU and $OUT set (the device tool), the whole output and the logs also go to $OUT/gpu_check/.
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
start=$(date +%s)
# On a lent machine (the device tool, $OUT set) what is written under $OUT comes back, while the
# tool itself returns only the output's tail: the logs are written straight into $OUT/gpu_check/
# (there even if the run is killed at its time limit), with this script's whole output as
# gpu_check.out. The end-to-end runs (checkpoints) stay in a scratch directory; their metrics are
# copied at exit.
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  log_dir="$OUT/gpu_check"
  mkdir -p "$log_dir"
else
  log_dir=$(mktemp -d)
fi
work_dir=$(mktemp -d)
exec 3>&1 4>&2
exec > >(tee "$log_dir/gpu_check.out") 2>&1
tee_pid=$!
finish() {
  local rc=$?
  exec 1>&3 2>&4
  wait "$tee_pid" 2>/dev/null  # the copy of the output is complete before anything leaves
  if [ "$log_dir" = "${OUT:-}/gpu_check" ]; then
    for m in "$work_dir"/run/*/metrics.jsonl; do
      [ -f "$m" ] && cp "$m" "$log_dir/metrics-$(basename "$(dirname "$m")").jsonl"
    done
  else
    rm -rf "$log_dir"
  fi
  rm -rf "$work_dir"
  exit "$rc"
}
trap finish EXIT
echo "gpu_check: $gpu_name"

if [ -f .gpu-bundle.tar.gz ]; then
  # Built elsewhere by launch/gpu_bundle.sh with the libraries this machine lacks.
  echo "== bundle (.gpu-bundle.tar.gz, built by launch/gpu_bundle.sh) =="
  rm -rf .gpu-bundle && mkdir -p .gpu-bundle && tar -C .gpu-bundle -xzf .gpu-bundle.tar.gz
  BUILD_DIR=.gpu-bundle/bundle/build
  extra_libs=$(python3 - <<'PY' 2>/dev/null
import importlib, os
dirs = []
for mod in ("nvidia.nccl", "nvidia.cublas", "nvidia.cuda_runtime"):
    try:
        m = importlib.import_module(mod)
        for p in getattr(m, "__path__", []):
            dirs.append(os.path.join(p, "lib"))
    except Exception:
        pass
print(":".join(d for d in dirs if os.path.isdir(d)))
PY
)
  for lib in libnccl.so.2 libcublas.so.13; do  # wherever this machine keeps them (CUDA toolkit, pip wheels)
    found=$(find /usr/local /opt /usr/lib -name "$lib" 2>/dev/null | head -1)
    [ -n "$found" ] && extra_libs="${extra_libs:+$extra_libs:}$(dirname "$found")"
  done
  export LD_LIBRARY_PATH="$PWD/.gpu-bundle/bundle/lib:/usr/local/cuda/lib64:${extra_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  ldd "$BUILD_DIR/src/cli/mor" | grep "not found" && { echo "gpu_check: FAILED: libraries missing (above)"; exit 1; }
  [ -d datasets/pydocs ] || { mkdir -p datasets && cp -r .gpu-bundle/bundle/datasets/pydocs datasets/; }
else
  echo "== build (${JOBS} jobs) =="
  if ! cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=native \
         >"$log_dir/cmake.log" 2>&1; then
    tail -30 "$log_dir/cmake.log"; echo "gpu_check: FAILED at cmake (the lent GPU machines lack the project's Debian libraries: build .gpu-bundle.tar.gz with launch/gpu_bundle.sh and carry it)"; exit 1
  fi
  grep -q "CUDA kernels ON" "$log_dir/cmake.log" || { echo "gpu_check: FAILED: cmake found no CUDA compiler"; exit 1; }
  if ! timeout 300 ninja -C "$BUILD_DIR" -j "$JOBS" gpu_tests cuda_lab mor >"$log_dir/build.log" 2>&1; then
    tail -40 "$log_dir/build.log"; echo "gpu_check: FAILED at build"; exit 1
  fi
fi
build_s=$(( $(date +%s) - start ))

echo "== gpu tests =="
timeout 180 "$BUILD_DIR/tests/gpu/gpu_tests" --gtest_color=no 2>&1 | tee "$log_dir/tests.log" | grep -E "^\[ *(OK|FAILED|SKIPPED) *\]|Failure|error" 
tests_rc=${PIPESTATUS[0]}
tests_line=$(grep -E "^\[  (PASSED|FAILED) " "$log_dir/tests.log" | head -2 | tr '\n' ' ')

sanitize_rc=0
if [ "${SANITIZE:-1}" = 1 ] && command -v compute-sanitizer >/dev/null 2>&1; then
  # Out-of-bounds and misaligned accesses, on the kernel tests (not the training ones: slow there).
  echo "== compute-sanitizer memcheck (tests/gpu kernels) =="
  timeout 180 compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD_DIR/tests/gpu/gpu_tests" \
    --gtest_filter='-*CudaTraining*' --gtest_brief=1 2>&1 | tail -15
  sanitize_rc=${PIPESTATUS[0]}
fi

echo "== cuda_lab =="
timeout 240 "$BUILD_DIR/kernels/lab/cuda_lab" --kernel all --reps 10 2>&1 | tee "$log_dir/lab.log"
lab_rc=${PIPESTATUS[0]}

echo "== mor train on cuda: train, checkpoint, resume, evaluate, generate =="
mor="$BUILD_DIR/src/cli/mor"
e2e_rc=0
run="$work_dir/run"
common=(-c configs/tiny-mor.yaml --quiet --set train.device=cuda --set train.steps=20 --set train.ckpt_every=10
        --set train.eval_every=20 --set train.eval_windows=16)
if MOR="$mor" bash launch/prepare_default_corpus.sh >"$log_dir/prepare.log" 2>&1 &&
   timeout 120 "$mor" train "${common[@]}" --run-dir "$run/full" 2>&1 | tail -4 &&
   timeout 60 "$mor" train "${common[@]}" --run-dir "$run/cut" --stop-at-step 10 >/dev/null 2>&1 &&
   timeout 60 "$mor" train "${common[@]}" --run-dir "$run/cut" --resume >/dev/null 2>&1; then
  a=$(grep '"step":20' "$run/full/metrics.jsonl" | grep -o '"loss":[^,]*')
  b=$(grep '"step":20' "$run/cut/metrics.jsonl" | grep -o '"loss":[^,]*')
  echo "step 20 loss: uninterrupted $a | stopped at 10 and resumed $b"
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "resume is not bit-exact"; e2e_rc=1; }
  timeout 60 "$mor" eval --checkpoint "$run/full" --data datasets/pydocs --max-windows 32 --device cuda || e2e_rc=1
  timeout 60 "$mor" generate --checkpoint "$run/full" --prompt "def main" --max-new-tokens 16 --device cuda --seed 1 || e2e_rc=1
else
  tail -20 "$log_dir/prepare.log"; e2e_rc=1
fi

echo "== mor bench train --device cuda (360M, T = 2048) =="
bench_rc=0
for cfg in ${CONFIGS:-360m-vanilla 360m-mor2 360m-mor3}; do
  for prec in ${PRECISIONS:-bf16}; do
    for attn in ${ATTENTIONS:-simt tensor_cores}; do
      [ "$prec" = fp32 ] && [ "$attn" = tensor_cores ] && continue  # the tensor-core attention is bf16
      extra=()
      [ "${MAX_BATCH:-0}" = 1 ] && [ "$prec" = bf16 ] && [ "$attn" = simt ] && extra=(--max-batch)
      echo "-- $cfg $prec attention $attn"
      timeout 120 "$mor" bench train -c "configs/paper/$cfg.yaml" --device cuda --steps 3 --set train.grad_accum=1 \
        --set train.micro_batch="${MICRO_BATCH:-8}" --set train.precision=$prec --set train.cuda_attention=$attn \
        "${extra[@]}" 2>&1 | grep -v "^#" || bench_rc=1
    done
  done
done

total_s=$(( $(date +%s) - start ))
echo
echo "== summary ($gpu_name) =="
echo "build:     ${build_s} s"
echo "gpu tests: $([ "$tests_rc" = 0 ] && echo ok || echo "FAILED (exit $tests_rc)")  ${tests_line}"
echo "memcheck:  $([ "$sanitize_rc" = 0 ] && echo ok || echo "FAILED (exit $sanitize_rc)")"
echo "cuda_lab:  $([ "$lab_rc" = 0 ] && echo ok || echo "FAILED (exit $lab_rc)")"
echo "mor train: $([ "$e2e_rc" = 0 ] && echo ok || echo FAILED)"
echo "bench:     $([ "$bench_rc" = 0 ] && echo ok || echo FAILED)"
grep -E "^  time " "$log_dir/lab.log" | sed 's/^  time /  /'
echo "total:     ${total_s} s"
[ "$tests_rc" = 0 ] && [ "$sanitize_rc" = 0 ] && [ "$lab_rc" = 0 ] && [ "$e2e_rc" = 0 ] && [ "$bench_rc" = 0 ]
