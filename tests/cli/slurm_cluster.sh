# A private single-node Slurm cluster for the tests (source it): slurmctld + slurmd from Debian's
# slurm-wlm, started on free ports with their state, spool and logs under a directory, no munge
# (auth/none, cred/none: loopback only, nothing else can reach it), PMIx for srun-started MPI ranks.
#   slurm_cluster_start DIR   -> 0 and SLURM_CONF exported once the node is idle, 1 (with a reason
#                                in SLURM_SKIP) when slurm-wlm is missing or not root
#   slurm_cluster_stop        -> stops both daemons (start also runs it on EXIT, then removes $WORK)
#   slurm_wait_idle SECONDS   -> waits until no job is queued or running
SLURM_PIDS=()

slurm_cluster_start() {
  local dir="$1"
  SLURM_SKIP=""
  for cmd in slurmctld slurmd sbatch squeue sinfo; do
    command -v "$cmd" >/dev/null || { SLURM_SKIP="$cmd not installed (Debian: slurmctld slurmd slurm-client)"; return 1; }
  done
  [ "$(id -u)" -eq 0 ] || { SLURM_SKIP="slurmd must run as root to start jobs"; return 1; }
  mkdir -p "$dir/state" "$dir/spool"
  local host ports node
  host=$(hostname -s)
  ports=$(python3 -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(' '.join(str(x.getsockname()[1]) for x in s))")
  read -r ctld_port d_port <<<"$ports"
  # The node as slurmd sees it (sockets, cores, memory): a guessed layout makes the controller
  # plan multi-node allocations for a job that fits this one node.
  node=$(slurmd -C 2>/dev/null | grep '^NodeName=') || { SLURM_SKIP="slurmd -C failed"; return 1; }
  cat >"$dir/slurm.conf" <<EOF
ClusterName=mortest
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
$node State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -D -i -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
  SLURM_PIDS+=($!)
  slurmd -D -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
  SLURM_PIDS+=($!)
  trap 'slurm_cluster_stop; rm -rf "${WORK:-/nonexistent}"' EXIT  # common.sh's trap, plus the daemons
  for _ in $(seq 1 100); do
    sinfo -h -o %T 2>/dev/null | grep -q '^idle' && return 0
    sleep 0.2
  done
  SLURM_SKIP="the test cluster did not come up: $(tail -n 3 "$dir/slurmctld.log" "$dir/slurmd.log" 2>/dev/null | tr '\n' ' ')"
  slurm_cluster_stop
  return 1
}

slurm_cluster_stop() {
  [ ${#SLURM_PIDS[@]} -eq 0 ] && return 0
  kill "${SLURM_PIDS[@]}" 2>/dev/null || true
  wait "${SLURM_PIDS[@]}" 2>/dev/null || true
  SLURM_PIDS=()
  return 0
}

slurm_wait_idle() {
  local limit="$1"
  for _ in $(seq 1 $((limit * 5))); do
    [ -z "$(squeue -h 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}
