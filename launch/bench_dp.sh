#!/usr/bin/env bash
# Data-parallel scaling on this machine, interleaved in one time window (A B C A B C ...):
#   A: 1 rank  x 1 thread,  micro_batch 8
#   B: 2 ranks x 1 thread,  micro_batch 8 each (twice the global batch: weak scaling)
#   C: 1 rank  x 2 threads, micro_batch 8
#   D: 2 ranks x 1 thread as one TP2 group, micro_batch 8 (the global batch of A: strong scaling)
# Each run trains configs/tiny-mor.yaml on the default corpus for STEPS steps (no evaluation, no
# checkpoint but the last); tokens/s is the median over steps 3..STEPS of the global tokens per
# second in metrics.jsonl, comm_s the median seconds per step in DP (B) or TP (D) collectives.
#   bash launch/bench_dp.sh [ROUNDS] [STEPS] [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"; STEPS="${2:-12}"; CFG="${3:-configs/tiny-mor.yaml}"
MOR="${MOR:-build/src/cli/mor}"
bash launch/prepare_default_corpus.sh >/dev/null
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
root=(); [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
common=(train --config "$CFG" --quiet --fresh --set train.steps="$STEPS" --set train.budget_flops=0 --set train.micro_batch=8
        --set train.eval=false)  # budget_flops 0: STEPS decide, also for a budget config
for r in $(seq 1 "$ROUNDS"); do
  OMP_NUM_THREADS=1 "$MOR" "${common[@]}" --run-dir "$out/A$r" >/dev/null
  OMP_NUM_THREADS=1 mpirun "${root[@]}" -np 2 --bind-to none --mca btl self,vader -x OMP_NUM_THREADS \
    "$MOR" "${common[@]}" --run-dir "$out/B$r" >/dev/null
  OMP_NUM_THREADS=2 "$MOR" "${common[@]}" --run-dir "$out/C$r" >/dev/null
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE mpirun "${root[@]}" -np 2 --bind-to none --mca btl self,vader \
    -x OMP_NUM_THREADS -x OMP_WAIT_POLICY "$MOR" "${common[@]}" --set dist.tp=2 --run-dir "$out/D$r" >/dev/null
done
python3 - "$out" "$ROUNDS" <<'PY'
import json, statistics, sys, glob
d, rounds = sys.argv[1], int(sys.argv[2])
def run(name):
    rows = [json.loads(l) for l in open(f"{d}/{name}/metrics.jsonl")][2:]
    return statistics.median(r["tokens_per_s"] for r in rows), statistics.median(r.get("comm_s", 0) for r in rows), \
           statistics.median(r["step_s"] for r in rows)
res = {k: [run(f"{k}{i}") for i in range(1, rounds + 1)] for k in "ABCD"}
med = {k: statistics.median(x[0] for x in v) for k, v in res.items()}
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
print(f"CPU: {cpu}; load average before: {open('/proc/loadavg').read().split()[0]}")
for k, label in zip("ABCD", ["1 rank x 1 thread ", "2 ranks x 1 thread", "1 rank x 2 threads", "TP2, 2 x 1 thread "]):
    runs = ", ".join(f"{x[0]:.0f}" for x in res[k])
    extra = f" | comm {statistics.median(x[1] for x in res[k]) * 1000:.1f} ms of {statistics.median(x[2] for x in res[k]) * 1000:.0f} ms/step" if k in "BD" else ""
    print(f"{label}: {med[k]:7.0f} tok/s (runs {runs}){extra}")
print(f"DP scaling 2 ranks / 1 rank: {med['B'] / med['A']:.2f}x | 2 ranks x 1 thread / 1 rank x 2 threads: {med['B'] / med['C']:.2f}x")
print(f"TP2 / 1 rank: {med['D'] / med['A']:.2f}x | TP2 / DP2: {med['D'] / med['B']:.2f}x")
PY
