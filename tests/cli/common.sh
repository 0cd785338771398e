# Shared helpers for the CLI tests: $MOR is the binary under test; each test gets a temp dir.
set -euo pipefail
MOR="$1"
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, checks its exit code, leaves stderr in $WORK/err
expect_exit() {
  local want="$1"; shift
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "exit $got, expected $want: $*"; }
}

# expect_msg TEXT: the last command's stderr holds TEXT (fixed string).
expect_msg() { grep -qF -- "$1" "$WORK/err" || fail "message lacks '$1': $(cat "$WORK/err")"; }

# A small English corpus present on every Debian system (license texts), prepared once per test.
small_dataset() {
  "$MOR" prepare --input /usr/share/common-licenses --out "$WORK/ds" --vocab-size 512 --val-fraction 0.2 \
    --shard-tokens 20000 --quiet >/dev/null
}

# A tiny training config for that dataset (extra YAML lines appended from $1).
tiny_config() {
  cat >"$WORK/tiny.yaml" <<YAML
name: tiny-test
model:
  vocab_size: 512
  d_model: 64
  n_layers: 5
  n_heads: 4
  n_kv_heads: 2
  d_ff: 128
  recursion:
    sharing: middle_cycle
    num_recursions: 3
  mor:
    type: expert
train:
  seq_len: 32
  micro_batch: 4
  grad_accum: 2
  steps: 6
  lr: 3.0e-3
  eval_windows: 8
data:
  path: $WORK/ds
${1:-}
YAML
}
