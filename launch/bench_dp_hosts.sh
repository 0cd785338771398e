#!/usr/bin/env bash
# Data vs tensor parallelism across two "hosts" (network namespaces, tests/mpi/netns_hosts.sh; as root) over
# a shaped link (a tc qdisc on each host's interface; default "tbf rate 1gbit burst 64kb latency
# 50ms", a 1 Gbit/s link; "netem delay 1ms rate 1gbit" adds latency where sch_netem exists): one rank per
# host, 1 thread each, configs/tiny-mor.yaml on the default corpus; plain DP vs ZeRO-1 vs TP2
# (the TP group spans the link), interleaved, the same global batch (TP: micro_batch x 2).
# Reports the median step time and the median share of it spent in collectives (comm_s in
# metrics.jsonl: DP's gradient reduction, ZeRO's all-gather and the statistics; TP's per-layer
# all-reduces and the vocab-parallel loss's combines).
#   bash launch/bench_dp_hosts.sh [ROUNDS] [STEPS] [QDISC ARGS...]
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-2}"; STEPS="${2:-10}"
NETEM=(tbf rate 1gbit burst 64kb latency 50ms)
[ $# -gt 2 ] && NETEM=("${@:3}")
MOR="$(pwd)/${MOR:-build/src/cli/mor}"
bash launch/prepare_default_corpus.sh >/dev/null 2>&1 || { echo "prepare failed" >&2; exit 1; }
source tests/mpi/netns_hosts.sh
OUT="$(mktemp -d)"
netns_trap
trap 'netns_down; rm -rf "$OUT"' EXIT
NETNS_SLOTS=1 netns_up 2 || { echo "cannot create network namespaces here" >&2; exit 1; }
for i in 1 2; do netns_shape "$i" "${NETEM[@]}" || { echo "tc qdisc ${NETEM[*]} is not available here" >&2; exit 1; }; done
# PASSIVE: a spinning OpenMP pool starves the peer rank during TP's many small collectives.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --config configs/tiny-mor.yaml --quiet --fresh --set train.steps="$STEPS" --set train.eval=false
        --set data.path="$(pwd)/datasets/pydocs")
for r in $(seq 1 "$ROUNDS"); do
  for mode in dp zero tp; do
    set_mode=(--set dist.zero=0)
    [ $mode = zero ] && set_mode=(--set dist.zero=1)
    [ $mode = tp ] && set_mode=(--set dist.tp=2 --set train.micro_batch=16)
    netns_bounded 600 "$mode$r" netns_mpirun -np 2 -x OMP_NUM_THREADS -x OMP_WAIT_POLICY "$MOR" "${common[@]}" "${set_mode[@]}" --run-dir "$OUT/$mode$r"
    [ "$rc" -eq 0 ] || { cat "$OUT/$mode$r.err" >&2; exit 1; }
  done
done
python3 - "$OUT" "$ROUNDS" "${NETEM[*]}" <<'PY'
import json, statistics, sys
d, rounds, netem = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
print(f"2 hosts x 1 rank x 1 thread, link: tc qdisc {netem}; CPU {cpu}")
for mode, label in (("dp", "plain DP"), ("zero", "ZeRO-1  "), ("tp", "TP2     ")):
    rows = [r for i in range(1, rounds + 1) for r in [json.loads(l) for l in open(f"{d}/{mode}{i}/metrics.jsonl")][2:]]
    step = statistics.median(r["step_s"] for r in rows)
    comm = statistics.median(r["comm_s"] for r in rows)
    tps = statistics.median(r["tokens_per_s"] for r in rows)
    print(f"{label}: step {step * 1000:.0f} ms | comm {comm * 1000:.0f} ms ({100 * comm / step:.0f}%) | {tps:.0f} tok/s")
PY
