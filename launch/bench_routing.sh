#!/usr/bin/env bash
# MoR routing overhead: training tokens/s of configs/isoflop/mor3.yaml vs configs/isoflop/vanilla.yaml
# (same 8 effective layers), interleaved A B A B ... in one time window. Prints the medians, the
# measured speed-up, the FLOPs-per-token ratios (MOR.md section 6, and 6N + 12LTd with the lm_head),
# and speed-up / FLOP ratio (issue target: >= 0.85).
#   bash launch/bench_routing.sh [THREADS] [ROUNDS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"; ROUNDS="${2:-3}"; STEPS="${3:-5}"
MOR="${MOR:-build/src/cli/mor}"
A=configs/isoflop/vanilla.yaml; B=configs/isoflop/mor3.yaml
out=$(mktemp); trap 'rm -f "$out"' EXIT
"$MOR" flops --config "$A" --json | sed 's/^/flops-vanilla /' >>"$out"
"$MOR" flops --config "$B" --json | sed 's/^/flops-mor3 /' >>"$out"
for r in $(seq 1 "$ROUNDS"); do
  "$MOR" bench train --config "$A" --threads "$THREADS" --steps "$STEPS" --json | sed 's/^/vanilla /' >>"$out"
  "$MOR" bench train --config "$B" --threads "$THREADS" --steps "$STEPS" --json | sed 's/^/mor3 /' >>"$out"
done
python3 - "$out" "$THREADS" <<'PY'
import json, statistics, sys
rows, flops = {"vanilla": [], "mor3": []}, {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    if who.startswith("flops-"):
        flops[who[6:]] = d
    else:
        rows[who].append(d["tokens_per_s"])
v, m = statistics.median(rows["vanilla"]), statistics.median(rows["mor3"])
budget = flops["vanilla"]["flops_per_token"] / flops["mor3"]["flops_per_token"]
train = flops["vanilla"]["train_flops_per_token"] / flops["mor3"]["train_flops_per_token"]
runs = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
print(f"threads {sys.argv[2]}: vanilla {v:.0f} tok/s ({runs(rows['vanilla'])}) | MoR-3 {m:.0f} tok/s ({runs(rows['mor3'])})")
print(f"speed-up {m / v:.3f}x | FLOP ratio {budget:.3f} (MOR.md 6) / {train:.3f} (6N+12LTd) | "
      f"speed-up / FLOP ratio {m / v / budget:.2f} / {m / v / train:.2f}")
PY
