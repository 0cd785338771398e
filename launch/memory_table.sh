#!/usr/bin/env bash
# The rows of README "Memory estimate": for each, the start-up estimate against the measured peak
# RSS (train rows: mor flops vs /usr/bin/time -v mor train; bench rows: mor bench train --json).
#   bash launch/memory_table.sh     # prints "run | estimate MB | measured MB"
# Needs /usr/bin/time (Debian package time). About 2 minutes on 2 cores.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
M="${MOR:-$ROOT/build/src/cli/mor}"
# The CLI tests' license-text dataset and tiny config (tests/cli/common.sh), in a scratch directory.
source "$ROOT/tests/cli/common.sh" "$M"
export OMP_WAIT_POLICY=PASSIVE
cd "$WORK"
small_dataset
tiny_config
W="$WORK"
train_row() {  # name config sets...
  local name=$1 cfg=$2; shift 2
  local est=$($M flops --config $cfg "$@" --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)['memory_total_bytes']/1e6,1))")
  rm -rf run; /usr/bin/time -v $M train --config $cfg "$@" --run-dir run --quiet >/dev/null 2>time.txt
  local rss=$(awk '/Maximum resident/ {printf "%.1f", $6/1024}' time.txt)
  echo "$name | $est | $rss"
}
bench_row() {
  local name=$1 cfg=$2; shift 2
  $M bench train --config $cfg "$@" --steps 1 --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print('$name |', round(r['estimated_peak_mb'],1), '|', round(r['peak_rss_mb'],1))"
}
export OMP_NUM_THREADS=2
train_row "tiny mb4" tiny.yaml
train_row "tiny mb64" tiny.yaml --set train.micro_batch=64
train_row "tiny mb256" tiny.yaml --set train.micro_batch=256
train_row "tiny mb64 share" tiny.yaml --set train.micro_batch=64 --set model.kv_mode=share
train_row "tiny mb64 token 40" tiny.yaml --set train.micro_batch=64 --set model.mor.type=token --set train.steps=40 --set train.eval_windows=1
train_row "tiny-mor 2 steps" $ROOT/configs/tiny-mor.yaml --set data.path=$W/ds --set model.vocab_size=512 --set train.steps=2 --set train.eval_windows=4
bench_row "bench tiny-mor" $ROOT/configs/tiny-mor.yaml
bench_row "bench llama-small" $ROOT/configs/bench-llama-small.yaml
bench_row "bench llama-small bf16 1t" $ROOT/configs/bench-llama-small.yaml --threads 1 --set train.precision=bf16
bench_row "bench isoflop mor3 bf16 1t" $ROOT/configs/isoflop/mor3.yaml --threads 1 --set train.precision=bf16
