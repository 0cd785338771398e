# netns_hosts.sh: several "hosts" on one machine for multi-node MPI tests (PLATFORM.md section 10).
# Source it (bash, as root), then:
#
#   netns_trap          install the cleanup traps (EXIT, and INT/TERM/HUP turned into exit);
#                       call it before netns_up
#   netns_up N          create hosts 1..N: network namespaces joined by a bridge on a private
#                       /24 chosen here (one not routed on this machine), each with its own
#                       hostname (h1..hN, through a UTS namespace), an mpirun launch agent and
#                       a hostfile with NETNS_SLOTS (default 2) slots per host. TCP in the
#                       hosts gives up on an unreachable peer after ~10 s (tcp_retries2=5, set
#                       per namespace) instead of ~15 min. Returns 77 (the ctest
#                       SKIP_RETURN_CODE) when namespaces cannot be created, 1 on other failures.
#   netns_down          remove everything netns_up created (idempotent; safe on any exit path)
#   netns_mpirun ARGS   mpirun, started on host 1 (as on a cluster's first node), across the
#                       hosts over TCP only: btl tcp,self and the out-of-band channel
#                       restricted to the private subnet (other ARGS as for mpirun,
#                       e.g. -np 4 -x VAR prog args). Ranks yield when idle: all "hosts" share
#                       this machine's cores, and busy-polling ranks would starve each other.
#   netns_bounded SECS NAME CMD...  run CMD with stdout/stderr in $OUT/NAME.{out,err}; past SECS
#                       every process in the hosts is killed and the status is 124; status in $rc
#   netns_exec I CMD    run CMD in host I's namespace
#   netns_kill_all      SIGKILL every process running in the hosts (e.g. a job past its deadline)
#   netns_link_down I   cut host I off the network (its interface goes down)
#   netns_shape I QDISC ARGS  a tc qdisc on host I's link, e.g. netns_shape 1 tbf rate 1gbit burst 64kb
#                       latency 50ms, or netns_shape 1 netem delay 1ms rate 1gbit (where the kernel
#                       has sch_netem; this sandbox's has tbf and htb but not netem)
#
# After netns_up: NETNS_IPS (host addresses), NETNS_HOSTNAMES, NETNS_SUBNET, NETNS_HOSTFILE,
# NETNS_AGENT, NETNS_DIR. Names carry this shell's PID, so concurrent runs cannot collide (one
# netns_up per shell at a time).
# Network rule: the hosts have no route but their own /24 and loopback, and the bridge has no
# address, so traffic goes only between the namespaces created here.

NETNS_TAG="m$$"
NETNS_BRIDGE="${NETNS_TAG}br"
NETNS_NAMES=()
NETNS_IPS=()
NETNS_HOSTNAMES=()
NETNS_SUBNET=""
NETNS_DIR=""
NETNS_HOSTFILE=""
NETNS_AGENT=""
NETNS_SLOTS="${NETNS_SLOTS:-2}"
NETNS_MADE_ETC=0

# Prints a 10.X.Y prefix whose /24 overlaps no address or route on this machine.
_netns_pick_prefix() {
  python3 - "$$" <<'PY'
import ipaddress, subprocess, sys
pid = int(sys.argv[1])
used = []
for cmd in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
    for tok in subprocess.run(cmd, capture_output=True, text=True).stdout.split():
        try:
            net = ipaddress.ip_network(tok, strict=False)
        except ValueError:
            continue
        if net.prefixlen > 0:
            used.append(net)
for k in range(250 * 200):
    n = (pid + k) % (250 * 200)
    cand = ipaddress.ip_network(f"10.{50 + n // 250}.{n % 250}.0/24")
    if not any(cand.overlaps(u) for u in used):
        print(f"10.{50 + n // 250}.{n % 250}")
        sys.exit(0)
sys.exit(1)
PY
}

netns_up() {
  local n="$1" i
  if ! ip netns add "${NETNS_TAG}h1" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here (ip netns add failed: needs root / CAP_SYS_ADMIN)" >&2
    return 77
  fi
  NETNS_NAMES=("${NETNS_TAG}h1")
  local prefix
  prefix="$(_netns_pick_prefix)" || { echo "netns_up: no free private /24 found" >&2; return 1; }
  NETNS_SUBNET="${prefix}.0/24"
  NETNS_DIR="$(mktemp -d)"
  [ -d /etc/netns ] || NETNS_MADE_ETC=1
  ip link add "$NETNS_BRIDGE" type bridge || return 1
  ip link set "$NETNS_BRIDGE" up || return 1
  for ((i = 1; i <= n; i++)); do
    local ns="${NETNS_TAG}h$i" veth="${NETNS_TAG}v$i" peer="${NETNS_TAG}p$i" ip="${prefix}.$((10 + i))"
    [ "$i" -eq 1 ] || { ip netns add "$ns" || return 1; NETNS_NAMES+=("$ns"); }
    # Name resolution inside the namespace stays local: ip netns exec mounts these over /etc.
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1 localhost\n%s h%d\n' "$ip" "$i" >"/etc/netns/$ns/hosts"
    : >"/etc/netns/$ns/resolv.conf"
    ip link add "$veth" type veth peer name "$peer" || return 1
    ip link set "$veth" netns "$ns" || return 1
    ip link set "$peer" master "$NETNS_BRIDGE" || return 1
    ip link set "$peer" up || return 1
    ip netns exec "$ns" ip addr add "$ip/24" dev "$veth" || return 1
    ip netns exec "$ns" ip link set "$veth" up || return 1
    ip netns exec "$ns" ip link set lo up || return 1
    ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_retries2=5 || return 1
    NETNS_IPS+=("$ip")
    NETNS_HOSTNAMES+=("h$i")
  done
  # Launch agent: mpirun calls `AGENT [ssh-like options] HOST COMMAND...`.
  NETNS_AGENT="$NETNS_DIR/agent.sh"
  {
    echo '#!/bin/bash'
    echo 'while [[ "$1" == -* ]]; do shift; done'
    echo 'host=$1; shift'
    echo 'case $host in'
    for ((i = 1; i <= n; i++)); do
      echo "  ${NETNS_IPS[i - 1]}) ns=${NETNS_NAMES[i - 1]}; name=h$i;;"
    done
    echo '  *) echo "agent: unknown host $host" >&2; exit 1;;'
    echo 'esac'
    echo 'exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $name && exec $*"'
  } >"$NETNS_AGENT"
  chmod +x "$NETNS_AGENT"
  NETNS_HOSTFILE="$NETNS_DIR/hostfile"
  : >"$NETNS_HOSTFILE"
  for ip in "${NETNS_IPS[@]}"; do echo "$ip slots=$NETNS_SLOTS" >>"$NETNS_HOSTFILE"; done
  return 0
}

netns_kill_all() {
  local ns
  for ns in "${NETNS_NAMES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  return 0
}

netns_down() {
  local ns i
  netns_kill_all
  for ((i = 1; i <= ${#NETNS_NAMES[@]}; i++)); do  # veth pairs left in this namespace by a failed netns_up
    ip link del "${NETNS_TAG}p$i" 2>/dev/null
    ip link del "${NETNS_TAG}v$i" 2>/dev/null
  done
  for ns in "${NETNS_NAMES[@]}"; do
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
  done
  NETNS_NAMES=()
  ip link del "$NETNS_BRIDGE" 2>/dev/null
  [ -n "$NETNS_DIR" ] && rm -rf "$NETNS_DIR"
  NETNS_DIR=""
  [ "$NETNS_MADE_ETC" -eq 1 ] && rmdir /etc/netns 2>/dev/null
  return 0
}

netns_trap() {
  trap netns_down EXIT
  trap 'exit 143' TERM INT HUP
}

# mpirun runs inside host 1 with hostname h1; its ranks there are its own children, the other
# hosts' ranks run under an orted started through the agent. Keepalives on the out-of-band
# channel let mpirun notice a host that went silent (~16 s) even when no message is pending.
netns_mpirun() {
  netns_exec 1 unshare --uts /bin/sh -c 'hostname h1 && exec "$@"' sh \
    mpirun --allow-run-as-root --hostfile "$NETNS_HOSTFILE" --mca plm_rsh_agent "$NETNS_AGENT" \
    --mca btl tcp,self --mca btl_tcp_if_include "$NETNS_SUBNET" --mca oob_tcp_if_include "$NETNS_SUBNET" \
    --mca mpi_yield_when_idle 1 \
    --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3 "$@"
}

netns_bounded() {
  local secs="$1" name="$2"; shift 2
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  local pid=$! t0; t0=$(( $(date +%s%N) / 1000000 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $(( $(date +%s%N) / 1000000 - t0 )) -gt $(( secs * 1000 )) ]; then
      netns_kill_all; kill "$pid" 2>/dev/null; wait "$pid"; rc=124; return
    fi
    sleep 0.1
  done
  wait "$pid"; rc=$?
}

netns_exec() {
  local i="$1"; shift
  ip netns exec "${NETNS_NAMES[i - 1]}" "$@"
}

netns_link_down() { netns_exec "$1" ip link set "${NETNS_TAG}v$1" down; }

netns_shape() {
  local i="$1"; shift
  netns_exec "$i" tc qdisc add dev "${NETNS_TAG}v$i" root "$@"
}
