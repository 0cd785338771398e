#!/usr/bin/env bash
# End to end: prepare a corpus, train a tiny MoR model twice with the same seed -> bit-identical
# loss sequences; metrics.jsonl carries the documented fields; the run prints step lines.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run1" --quiet >"$WORK/log1"
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run2" --quiet >"$WORK/log2"
grep -q "^step 6/6 | loss" "$WORK/log1" || fail "no step line"
grep -q "eval (final)" "$WORK/log1" || fail "no final evaluation"
[ "$(wc -l <"$WORK/run1/metrics.jsonl")" -eq 6 ] || fail "expected 6 metric records"
for key in step loss lr grad_norm tokens_per_s tokens flops route_tokens dead_ratio; do
  grep -q "\"$key\"" "$WORK/run1/metrics.jsonl" || fail "metrics.jsonl lacks $key"
done
losses() { python3 -c 'import json,sys; print([json.loads(l)["loss"] for l in open(sys.argv[1])])' "$1"; }
[ "$(losses "$WORK/run1/metrics.jsonl")" = "$(losses "$WORK/run2/metrics.jsonl")" ] || fail "same seed, different losses"
test -f "$WORK/run1/summary.json" || fail "no summary.json"
echo "ok: $(losses "$WORK/run1/metrics.jsonl")"
