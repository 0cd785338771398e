#!/usr/bin/env bash
# Data- or tensor-parallel training (dist.tp) on one machine: N ranks of `mor train`, OpenMP threads split between them.
#   launch/mpirun_node.sh N [mor train arguments...]
#   e.g. launch/mpirun_node.sh 2 --config configs/tiny-mor.yaml --run-dir runs/tiny-dp2
# Ranks are not bound to cores (--bind-to none): each rank runs OMP_NUM_THREADS threads, by default
# the machine's cores divided by N. Shared memory (vader) carries the traffic. Runs as root too.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 N_RANKS mor-train-args..." >&2; exit 2; }
N="$1"; shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOR="${MOR:-$ROOT/build/src/cli/mor}"
[ -x "$MOR" ] || { echo "$MOR not found. Hint: bash launch/build.sh" >&2; exit 2; }
cores=$(nproc)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / N > 0 ? cores / N : 1 ))}"
# A spinning OpenMP pool delays the peers of every collective (tensor parallelism has many).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
[ "$N" -gt "$cores" ] && extra+=(--oversubscribe)
exec mpirun "${extra[@]}" -np "$N" --bind-to none --mca btl self,vader -x OMP_NUM_THREADS -x OMP_WAIT_POLICY \
  "$MOR" train "$@"
