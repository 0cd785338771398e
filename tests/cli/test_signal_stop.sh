#!/usr/bin/env bash
# SIGINT during training stops cleanly after the current step with a resume hint.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --set train.steps=100000 --run-dir "$WORK/run" --quiet >"$WORK/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q "^step " "$WORK/log" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "exit code $rc after SIGINT"
grep -q "stopped by signal 2" "$WORK/log" || fail "no clean-stop message: $(tail -3 "$WORK/log")"
# The resume hint names the resolved config (with the --set overrides), and following it continues.
grep -q "resume with: mor train --config $WORK/run/config.yaml --run-dir $WORK/run --resume" "$WORK/log" ||
  fail "resume hint: $(grep resume "$WORK/log")"
grep -q "steps: 100000" "$WORK/run/config.yaml" || fail "config.yaml lost the --set override"
done_steps=$(sed -n 's/.*stopped by signal 2 after step \([0-9]*\).*/\1/p' "$WORK/log")
"$MOR" train --config "$WORK/run/config.yaml" --run-dir "$WORK/run" --resume --quiet --stop-at-step $((done_steps + 1)) >"$WORK/log2"
grep -q "resumed from" "$WORK/log2" || fail "resume via the hint: $(cat "$WORK/log2")"
echo ok
