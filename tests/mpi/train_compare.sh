# Helpers shared by the multi-rank training tests (source after tests/cli/common.sh): one thread
# per rank, the small dataset prepared, tolerance TOL (default 1e-4; GTOL, default 1e-3, for the
# gradient norm: a step whose norm spikes to 7x its neighbours amplifies the reduction order's
# rounding, 1.8e-4 relative seen for DP2 alone on an AVX-512 EPYC while its loss agreed to 2e-7), and
#   mpi N ARGS...               mor under mpirun on N local ranks
#   close A.jsonl B.jsonl WHAT  same steps, every step's loss and the final val loss within TOL,
#                               the gradient norm (relative above 1) within GTOL
#   same_params RUN_A RUN_B WHAT  the final parameters (exported) within TOL
export OMP_NUM_THREADS=1
TOL="${TOL:-1e-4}"
GTOL="${GTOL:-1e-3}"
small_dataset
mpi() { local n="$1"; shift; mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader -np "$n" "$MOR" "$@"; }
close() {
  python3 - "$1" "$2" "$TOL" "$3" "$GTOL" <<'PY' || fail "$3"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in a] == [r["step"] for r in b], "steps differ: %s vs %s" % ([r["step"] for r in a], [r["step"] for r in b])
d = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
g = max(abs(x["grad_norm"] - y["grad_norm"]) / max(1.0, x["grad_norm"]) for x, y in zip(a, b))
v = abs(a[-1].get("val_loss", 0) - b[-1].get("val_loss", 0))
print("%s: %d steps, max |loss diff| %.2e, |grad norm diff| %.2e, |val loss diff| %.2e" % (sys.argv[4], len(a), d, g, v))
tol = float(sys.argv[3])
assert d < tol and g < float(sys.argv[5]) and v < tol, "loss differs by %g (grad norm %g, val %g)" % (d, g, v)
PY
}
same_params() {
  "$MOR" export --checkpoint "$1" --out "$WORK/exp-a" --overwrite >/dev/null 2>&1
  "$MOR" export --checkpoint "$2" --out "$WORK/exp-b" --overwrite >/dev/null 2>&1
  d=$(python3 "$(dirname "${BASH_SOURCE[0]}")/compare_safetensors.py" "$WORK/exp-a/model.safetensors" "$WORK/exp-b/model.safetensors")
  echo "$3: final parameters max |diff| $d"
  python3 -c "import sys; sys.exit(0 if float('${d%% *}') < $TOL else 1)" || fail "$3: parameters differ by $d"
}
