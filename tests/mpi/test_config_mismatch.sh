#!/usr/bin/env bash
# Every rank of a job must train the same config: ranks started with other --set values (an MPMD
# mpirun line, a per-node script) are refused before the first step, naming the rank and the keys
# (before: other learning rates trained on unnoticed; another d_ff failed in an all-reduce with
# "message truncated"). Usage: test_config_mismatch.sh MOR_BINARY
source "$(dirname "$0")/../cli/common.sh"
export OMP_NUM_THREADS=1
small_dataset
tiny_config
mpmd() {  # mpmd "SET_FOR_RANK_0" "SET_FOR_RANK_1": one rank each
  local common=(train --config "$WORK/tiny.yaml" --quiet --set train.steps=2 --set train.micro_batch=2)
  set +e
  timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader \
    -np 1 "$MOR" "${common[@]}" --run-dir "$WORK/run" $1 : -np 1 "$MOR" "${common[@]}" --run-dir "$WORK/run" $2 \
    >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
}
mpmd "" "--set train.lr=0.03"
[ "$rc" -eq 2 ] || fail "ranks with different train.lr: exit $rc, expected 2: $(cat "$WORK/err")"
grep -qF "error: rank 1 was started with another config than rank 0: train.lr (rank 0: 0.003, here: 0.03)" "$WORK/err" ||
  fail "the message does not name the rank and key: $(cat "$WORK/err")"
[ ! -e "$WORK/run/metrics.jsonl" ] || [ ! -s "$WORK/run/metrics.jsonl" ] || fail "a refused job trained"
mpmd "--set model.d_ff=64" ""
[ "$rc" -eq 2 ] || fail "ranks with different d_ff: exit $rc"
grep -qF "model.d_ff (rank 0: 64, here: 128)" "$WORK/err" || fail "d_ff mismatch not named: $(cat "$WORK/err")"
mpmd "--set train.lr=0.01" "--set train.lr=0.01"  # the same values on every rank train
[ "$rc" -eq 0 ] || fail "ranks with the same config failed: $(cat "$WORK/err")"
# Settings of the process itself may differ (threads, watchdog), and one dataset spelled two ways.
rm -rf "$WORK/run"
mpmd "--set train.threads=1" "--set train.threads=2 --set dist.collective_timeout_s=600 --set data.path=$WORK/ds/../ds"
[ "$rc" -eq 0 ] || fail "ranks differing only in process settings failed: $(cat "$WORK/err")"
# A copy of the dataset elsewhere (a node-local copy) trains; another dataset is refused.
cp -r "$WORK/ds" "$WORK/ds_copy"
rm -rf "$WORK/run"
mpmd "" "--set data.path=$WORK/ds_copy"
[ "$rc" -eq 0 ] || fail "a copy of the dataset on rank 1 was refused: $(cat "$WORK/err")"
"$MOR" prepare --input /usr/share/common-licenses --out "$WORK/ds_other" --vocab-size 512 --val-fraction 0.3 \
  --shard-tokens 20000 --quiet >/dev/null 2>&1
mpmd "" "--set data.path=$WORK/ds_other"
[ "$rc" -eq 2 ] && grep -qF "rank 1: data.path $WORK/ds_other holds another dataset than rank 0's" "$WORK/err" ||
  fail "another dataset: $(cat "$WORK/err")"
# Another run name (it decides the default run directory) is refused.
mpmd "" "--set name=other"
[ "$rc" -eq 2 ] && grep -qF "name (rank 0: tiny-test, here: other)" "$WORK/err" || fail "another name: $(cat "$WORK/err")"
echo "config mismatch across ranks: ok"
