#!/usr/bin/env bash
# `mor` under mpirun: (1) a command that fails with bad input on every rank ends the whole job
# with exit code 2 and a rank-tagged error; (2) `mor bench comm` on 2 ranks prints one JSON
# object (rank 0 only) with every op and size; (3) outside mpirun the same failing command
# starts no MPI (plain "error:" line, no rank tag); (4) a bad --sizes value is bad input (exit 2).
set -euo pipefail
MOR="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$WORK/out" "$WORK/err" >&2 || true; exit 1; }
MPIRUN=(timeout 60 mpirun --allow-run-as-root -np 2 --oversubscribe --mca btl self,vader)

set +e
"${MPIRUN[@]}" "$MOR" eval --checkpoint "$WORK/missing.h5" --data "$WORK/none" >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad input under mpirun: exit $rc, expected 2"
grep -qE "^rank [01] \(host $(hostname)\): error: .*missing.h5" "$WORK/err" || fail "no rank-tagged error naming the checkpoint"
echo "bad input under mpirun: exit 2, $(grep -m1 -E '^rank [01] ' "$WORK/err")"

"${MPIRUN[@]}" "$MOR" bench comm --sizes 4K 64K --iters 3 --warmup 1 --json >"$WORK/out" 2>"$WORK/err" || fail "bench comm failed"
[ "$(grep -c '"results"' "$WORK/out")" -eq 1 ] || fail "expected exactly one JSON object (rank 0 prints)"
python3 - "$WORK/out" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["ranks"] == 2, d
ops = sorted({(r["op"], r["bytes"]) for r in d["results"]})
want = sorted((op, b) for op in ("all_reduce", "reduce_scatter", "all_gather") for b in (4096, 65536))
assert ops == want, ops
for r in d["results"]:
    assert r["ours_s"] > 0 and r["plain_s"] > 0, r
    assert abs(r["ours_busbw_gbps"] - r["ours_algbw_gbps"] * (1.0 if r["op"] == "all_reduce" else 0.5)) < 1e-4 * r["ours_algbw_gbps"], r
print("bench comm json ok:", len(d["results"]), "rows")
PY

set +e
"$MOR" eval --checkpoint "$WORK/missing.h5" --data "$WORK/none" >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bad input without mpirun: exit $rc, expected 2"
grep -q "^error: .*missing.h5" "$WORK/err" || fail "without mpirun the error should be a plain 'error:' line"
grep -q "^rank " "$WORK/err" && fail "without mpirun no rank tag is expected (MPI must not start)"

set +e
"$MOR" bench comm --sizes 3X >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bench comm --sizes 3X: exit $rc, expected 2"
grep -q "not a message size" "$WORK/err" || fail "no size error message"
echo "PASS"
