#!/usr/bin/env bash
# Watchdog test: on 2 ranks, rank 1 skips an all_reduce that rank 0 enters. The collective
# watchdog of rank 0 (timeout 2 s) must end the whole job: exit code 1 (abort_job's code for a
# hang), its message naming the rank, host, collective, group, size and timeout, well within 30 s.
set -euo pipefail
PROBE="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$WORK/err" >&2 || true; exit 1; }

start=$(date +%s%N)
set +e
timeout 60 mpirun --allow-run-as-root -np 2 --oversubscribe --mca btl self,vader "$PROBE" skip 2 >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "exit $rc after ${elapsed_ms} ms"
[ "$rc" -ne 124 ] || fail "the job hung: the timeout(1) guard killed it after 60 s"
[ "$rc" -eq 1 ] || fail "exit code $rc, expected 1 (abort_job from the watchdog)"
want="rank 0 (host $(hostname)): all_reduce over world (2 ranks, 4 B) has not finished after 2 s: a peer rank died or the network is down. Aborting the job."
grep -qF "$want" "$WORK/err" || fail "no watchdog message: expected '$want'"
[ "$(grep -cF 'has not finished after' "$WORK/err")" -eq 1 ] || fail "the watchdog message is not printed exactly once"
[ "$elapsed_ms" -lt 30000 ] || fail "the job took ${elapsed_ms} ms to end (watchdog 2 s)"
grep -F "has not finished" "$WORK/err"
echo "PASS"
