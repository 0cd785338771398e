#!/usr/bin/env bash
# Several hosts (network namespaces, netns_hosts.sh): (1) mpi_tests on 4 ranks over 2 hosts over
# TCP, ranks 0-1 on h1 and 2-3 on h2, every test passing; (2) link cut: a loop of all-reduces on
# 4 ranks, host 2's link goes down mid-run, and the job must end (non-zero exit) within 45 s of
# the cut with the collective watchdog's message (timeout 3 s). Exit 77 (skipped) where network
# namespaces cannot be created.
set -uo pipefail
MPI_TESTS="$1"
PROBE="$2"
source "$(dirname "$0")/netns_hosts.sh"
OUT="$(mktemp -d)"
netns_trap
trap 'netns_down; rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$OUT"/*.out "$OUT"/*.err >&2 2>/dev/null; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

bounded() { netns_bounded "$@"; }

netns_up 2
up=$?
[ "$up" -eq 0 ] || { [ "$up" -eq 77 ] && exit 77; fail "netns_up failed ($up)"; }
echo "hosts: ${NETNS_HOSTNAMES[*]} at ${NETNS_IPS[*]} (subnet $NETNS_SUBNET)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 GTEST_COLOR=no

# (1) collectives across hosts
bounded 90 tests netns_mpirun -np 4 -x GTEST_COLOR -x MOR_TEST_EXPECT_NODES=2 -x MOR_COLLECTIVE_TIMEOUT=30 "$MPI_TESTS"
[ "$rc" -eq 0 ] || fail "mpi_tests on 4 ranks over 2 hosts: exit $rc"
grep -q "placement: 0@h1 1@h1 2@h2 3@h2" "$OUT/tests.out" || fail "ranks are not on both hosts (want 0-1 on h1, 2-3 on h2)"
grep -E "placement|PASSED" "$OUT/tests.out"

# (2) cut host 2 off in the middle of a loop of all-reduces
t0=$(now_ms)
( bounded 90 cut netns_mpirun -np 4 -x MOR_COLLECTIVE_TIMEOUT=3 "$PROBE" loop 120 1048576; echo "$rc" >"$OUT/cut.rc" ) &
job=$!
for _ in $(seq 1 300); do grep -q "iteration" "$OUT/cut.out" 2>/dev/null && break; sleep 0.1; done
grep -q "iteration" "$OUT/cut.out" || fail "the all-reduce loop did not start"
sleep 1
netns_link_down 2
cut=$(now_ms)
echo "cut h2's link $(( cut - t0 )) ms after the start: $(grep -c iteration "$OUT/cut.out") progress line(s) so far"
wait "$job"
end=$(now_ms)
rc=$(cat "$OUT/cut.rc")
echo "job ended $(( end - cut )) ms after the cut, exit $rc"
[ "$rc" -ne 124 ] || fail "the job was still running 90 s after its start"
[ "$rc" -ne 0 ] || fail "the job exited 0 although a host was cut off"
want='^rank [0-9] \(host h[12]\): all_reduce over world \(4 ranks, [0-9.]+ [KM]?B\) has not finished after 3 s: a peer rank died or the network is down\. Aborting the job\.'
grep -qE "$want" "$OUT/cut.err" || fail "no watchdog message after the link cut"
grep -E "$want" "$OUT/cut.err" | cut -c1-120
[ $(( end - cut )) -lt 45000 ] || fail "the job took $(( end - cut )) ms after the cut to end (bound 45 s)"
echo "PASS"
