#!/usr/bin/env bash
# MoR routing overhead: training tokens/s of configs/isoflop/mor3.yaml vs configs/isoflop/vanilla.yaml
# (same 8 effective layers), interleaved A B A B ... in one time window. Prints the medians, the
# measured speed-up, the FLOPs-per-token ratios (executed: the forward as it runs x 3, lm_head and
# routers included, as `mor bench train` counts them for MFU; MOR.md section 6, which leaves out the
# lm_head; 6N + 12LTd), and speed-up / FLOP ratio for each (issue 15's target, on the executed
# ratio: >= 0.95, i.e. MoR-3 runs at >= 0.95 of vanilla's MFU).
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
rows, flops, executed = {"vanilla": [], "mor3": []}, {}, {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    if who.startswith("flops-"):
        flops[who[6:]] = d
    else:
        rows[who].append(d["tokens_per_s"])
        executed[who] = d["flops_per_token"]
v, m = statistics.median(rows["vanilla"]), statistics.median(rows["mor3"])
budget = flops["vanilla"]["flops_per_token"] / flops["mor3"]["flops_per_token"]
train = flops["vanilla"]["train_flops_per_token"] / flops["mor3"]["train_flops_per_token"]
ex = executed["vanilla"] / executed["mor3"]
runs = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
print(f"threads {sys.argv[2]}: vanilla {v:.0f} tok/s ({runs(rows['vanilla'])}) | MoR-3 {m:.0f} tok/s ({runs(rows['mor3'])})")
print(f"speed-up {m / v:.3f}x | FLOP ratio {ex:.3f} (executed) / {budget:.3f} (MOR.md 6) / {train:.3f} (6N+12LTd) | "
      f"speed-up / FLOP ratio {m / v / ex:.2f} / {m / v / budget:.2f} / {m / v / train:.2f}")
PY
