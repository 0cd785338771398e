#!/usr/bin/env bash
# Data- or tensor-parallel training (dist.tp) across several machines over TCP, from an OpenMPI hostfile.
#   launch/mpirun_hosts.sh HOSTFILE N_RANKS IFACE_OR_SUBNET [mor train arguments...]
#   e.g. launch/mpirun_hosts.sh hosts 8 10.0.0.0/24 --config configs/paper/360m-mor3.yaml --run-dir /shared/runs/mor3
# HOSTFILE: one line per machine, "hostname slots=K" (K ranks there). IFACE_OR_SUBNET: the network
# the ranks and mpirun's daemons use (e.g. eth0 or 10.0.0.0/24); name it, or OpenMPI may pick a
# wrong interface and hang. The run directory and dataset must be on a file system every machine
# sees at the same path (rank 0 writes checkpoints, every rank reads the one it resumes from).
# MOR_RSH_AGENT overrides how mpirun reaches the machines (default ssh). Extra mpirun flags: MPIRUN_FLAGS.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 HOSTFILE N_RANKS IFACE_OR_SUBNET mor-train-args..." >&2; exit 2; }
HOSTS="$1"; N="$2"; NET="$3"; shift 3
[ -f "$HOSTS" ] || { echo "$HOSTS: no such hostfile. Hint: one line per machine, 'name slots=K'." >&2; exit 2; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOR="${MOR:-$ROOT/build/src/cli/mor}"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root)
[ -n "${MOR_RSH_AGENT:-}" ] && extra+=(--mca plm_rsh_agent "$MOR_RSH_AGENT")
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# A spinning OpenMP pool delays the peers of every collective (tensor parallelism has many).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# shellcheck disable=SC2086
exec mpirun "${extra[@]}" --hostfile "$HOSTS" -np "$N" --bind-to none --map-by slot \
  --mca btl tcp,self,vader --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" \
  -x OMP_NUM_THREADS -x OMP_WAIT_POLICY ${MPIRUN_FLAGS:-} "$MOR" train "$@"
