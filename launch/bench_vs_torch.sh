#!/usr/bin/env bash
# `mor bench train` vs the PyTorch reference (launch/bench_torch_llama.py, Debian python3-torch),
# interleaved A B A B ... in one time window; prints the median tokens/s of each and their ratio.
#   bash launch/bench_vs_torch.sh [THREADS] [ROUNDS] [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-1}"; ROUNDS="${2:-3}"; CONFIG="${3:-configs/bench-llama-small.yaml}"
MOR="${MOR:-build/src/cli/mor}"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
# PyTorch (Debian's, on the system OpenBLAS) gets the same OpenBLAS kernels as mor: where OpenBLAS
# misdetects the CPU, mor re-executes itself with a better OPENBLAS_CORETYPE (src/core/blas_kernels.h).
CORE=$("$MOR" bench sgemm --size 64 --seconds 0.01 | grep -o 'openmp [A-Za-z0-9]*' | cut -d' ' -f2)
echo "OpenBLAS kernels for both: $CORE"
out=$(mktemp)
for r in $(seq 1 "$ROUNDS"); do
  "$MOR" bench train --config "$CONFIG" --threads "$THREADS" --steps 3 --json | sed 's/^/mor /' >>"$out"
  OPENBLAS_CORETYPE="$CORE" /usr/bin/python3 launch/bench_torch_llama.py --config "$CONFIG" --threads "$THREADS" --steps 3 | sed 's/^/torch /' >>"$out"
done
python3 - "$out" "$THREADS" <<'PY'
import json, statistics, sys
rows = {"mor": [], "torch": []}
mfu = []
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    rows[who].append(d["tokens_per_s"])
    if who == "mor":
        mfu.append(d["mfu"])
m, t = statistics.median(rows["mor"]), statistics.median(rows["torch"])
print(f"threads {sys.argv[2]}: mor {m:.1f} tok/s (runs {', '.join(f'{x:.1f}' for x in rows['mor'])}; MFU {statistics.median(mfu)*100:.0f}%) | "
      f"torch {t:.1f} tok/s (runs {', '.join(f'{x:.1f}' for x in rows['torch'])}) | ratio {m / t:.2f}x")
PY
rm -f "$out"
