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
echo ok
