#!/usr/bin/env bash
# A/B of two `mor` binaries or settings on one config, interleaved A B A B ... in one time window:
# medians of tokens/s, of CPU seconds per step (less disturbed than wall time when other
# processes share the cores) and of peak RSS.
#   bash launch/bench_ab.sh THREADS ROUNDS CONFIG "A: COMMAND [-- BENCH_ARGS]" "B: COMMAND [-- BENCH_ARGS]"
# e.g. bash launch/bench_ab.sh 1 3 configs/bench-llama-small.yaml "old: /tmp/old/mor" "new: build/src/cli/mor"
#      bash launch/bench_ab.sh 1 3 configs/bench-llama-small.yaml "f32: env OPENBLAS_CORETYPE=Haswell build/src/cli/mor" \
#           "skx: env OPENBLAS_CORETYPE=SkylakeX build/src/cli/mor"
#      bash launch/bench_ab.sh 1 3 configs/bench-llama-small.yaml "fp32: build/src/cli/mor" \
#           "bf16: build/src/cli/mor -- --set train.precision=bf16"
# Each run is `COMMAND bench train --config CONFIG --threads THREADS --steps STEPS --json BENCH_ARGS`
# (STEPS from the environment, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="$1"; ROUNDS="$2"; CONFIG="$3"; A="$4"; B="$5"; STEPS="${STEPS:-3}"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
out=$(mktemp); trap 'rm -f "$out"' EXIT
run() {  # "NAME: COMMAND [-- BENCH_ARGS]"
  local name="${1%%:*}" cmd="${1#*: }" extra=""
  if [[ "$cmd" == *" -- "* ]]; then extra="${cmd#* -- }"; cmd="${cmd%% -- *}"; fi
  # shellcheck disable=SC2086 # word lists on purpose
  $cmd bench train --config "$CONFIG" --threads "$THREADS" --steps "$STEPS" --json $extra | sed "s/^/$name /" >>"$out"
}
for r in $(seq 1 "$ROUNDS"); do run "$A"; run "$B"; done
echo "$(uptime)"
python3 - "$out" "$THREADS" "$CONFIG" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    rows.setdefault(who, []).append(json.loads(js))
med = lambda xs: statistics.median(xs)
names = list(rows)
for who in names:
    r = rows[who]
    tps = [d["tokens_per_s"] for d in r]
    print(f"{who}: {med(tps):.1f} tok/s (runs {', '.join(f'{x:.1f}' for x in tps)}) | "
          f"cpu {med([d['cpu_s_per_step_median'] for d in r]):.3f} s/step | peak RSS {med([d['peak_rss_mb'] for d in r]):.1f} MB | "
          f"MFU {100 * med([d['mfu'] for d in r]):.1f}% of {med([d['fma_peak_gflops'] for d in r]):.1f} GFLOP/s | {r[0]['blas']}")
if len(names) == 2:
    a, b = rows[names[0]], rows[names[1]]
    t = med([d["tokens_per_s"] for d in b]) / med([d["tokens_per_s"] for d in a])
    c = med([d["cpu_s_per_step_median"] for d in a]) / med([d["cpu_s_per_step_median"] for d in b])
    print(f"{names[1]} / {names[0]} ({sys.argv[3]}, {sys.argv[2]} thread(s)): tokens/s {t:.3f}x, CPU time per step {c:.3f}x")
PY
