#!/usr/bin/env bash
# Exact resume: 2N steps straight == N steps, checkpoint, resume, N steps -- every loss bit for bit,
# for vanilla, MoR expert-choice and MoR token-choice (loss-free bias, a non-trainable state).
# Then crash safety, bad checkpoints, and a checkpoint that remembers its data and tokenizer.
source "$(dirname "$0")/common.sh"
small_dataset
losses() { python3 -c 'import json,sys; print([json.loads(l)["loss"] for l in open(sys.argv[1])])' "$1"; }
for variant in vanilla expert token; do
  case $variant in
    vanilla) tiny_config; sed -i 's/    type: expert/    type: none/; s/    sharing: middle_cycle/    sharing: none/; s/    num_recursions: 3/    num_recursions: 1/' "$WORK/tiny.yaml" ;;
    expert) tiny_config ;;
    token) tiny_config; sed -i 's/    type: expert/    type: token\n    balancing: loss_free\n    bias_update_rate: 0.01/' "$WORK/tiny.yaml" ;;
  esac
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-straight" --quiet >/dev/null
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-split" --quiet --stop-at-step 3 >"$WORK/log-a"
  grep -q "stopped after step 3" "$WORK/log-a" || fail "$variant: no stop line"
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-split" --quiet --resume >"$WORK/log-b"
  grep -q "resumed from .*ckpt-00000003.h5 at step 3" "$WORK/log-b" || fail "$variant: no resume line: $(head -3 "$WORK/log-b")"
  a=$(losses "$WORK/$variant-straight/metrics.jsonl"); b=$(losses "$WORK/$variant-split/metrics.jsonl")
  [ "$a" = "$b" ] || fail "$variant: resumed losses differ:\n$a\n$b"
  echo "$variant: resume bit-identical $b"
done

# Automatic resume (no flag) and --fresh.
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/token-split" --quiet >"$WORK/log-c"
grep -q "already complete at step 6 of 6" "$WORK/log-c" || fail "no automatic resume: $(cat "$WORK/log-c")"
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/token-split" --quiet --set train.steps=8 >"$WORK/log-c2"
grep -q "resumed from .*ckpt-00000006.h5 at step 6" "$WORK/log-c2" || fail "no automatic resume to extend the run"
grep -q "^step 8/8" "$WORK/log-c2" || fail "extended run did not reach step 8"
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/token-split" --quiet --fresh >"$WORK/log-d"
grep -q "resumed" "$WORK/log-d" && fail "--fresh resumed"
[ "$(wc -l <"$WORK/token-split/metrics.jsonl")" -eq 6 ] || fail "--fresh kept old metrics"

# A kill in the middle of a save leaves the previous checkpoint loadable.
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/crash" --quiet --stop-at-step 2 >/dev/null
set +e
MOR_TEST_ABORT_SAVE_AFTER=layers.1.mlp.gate_proj "$MOR" train --config "$WORK/tiny.yaml" --set train.ckpt_every=2 \
  --run-dir "$WORK/crash" --quiet >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || fail "the test hook did not SIGKILL the process during the save (rc $rc)"
ls "$WORK/crash"/*.tmp >/dev/null 2>&1 || fail "expected a half-written .tmp after the crash"
[ "$(cat "$WORK/crash/latest")" = "ckpt-00000002.h5" ] || fail "latest moved to an incomplete checkpoint"
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/crash" --quiet --resume >"$WORK/log-e"
grep -q "resumed from .*ckpt-00000002.h5" "$WORK/log-e" || fail "could not resume after a crash during save"
ls "$WORK/crash"/*.tmp >/dev/null 2>&1 && fail "stale .tmp not cleaned"

# Bad checkpoints: another model, truncated file, --resume without a checkpoint.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/crash" --set model.d_ff=96
grep -q "model.d_ff (checkpoint 128, config 96)" "$WORK/err" || fail "model mismatch message: $(cat "$WORK/err")"
last=$(cat "$WORK/crash/latest")
head -c 5000 "$WORK/crash/$last" >"$WORK/cut.h5" && mv "$WORK/cut.h5" "$WORK/crash/$last"
# A truncated newest checkpoint is set aside (not deleted) and the run resumes from the one before.
expect_exit 0 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/crash"
grep -q "$last fails verification" "$WORK/err" || fail "truncated checkpoint note: $(cat "$WORK/err")"
[ -f "$WORK/crash/$last.corrupt" ] || fail "the truncated checkpoint was not set aside as .corrupt"
grep -q "resumed from .*ckpt-00000002.h5" "$WORK/out" || fail "did not fall back to ckpt-2: $(head -3 "$WORK/out")"
mkdir -p "$WORK/empty-run"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/empty-run" --resume
grep -q "holds no checkpoint" "$WORK/err" || fail "resume without checkpoint message"
[ -z "$(ls -A "$WORK/empty-run")" ] || fail "a refused --resume wrote into the run directory: $(ls "$WORK/empty-run")"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/no-such-run" --resume
grep -q "does not exist" "$WORK/err" || fail "resume into a missing directory: $(cat "$WORK/err")"
[ ! -e "$WORK/no-such-run" ] || fail "a refused --resume created the run directory"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/crash" --resume --fresh
grep -q "contradict" "$WORK/err" || fail "--resume --fresh: $(cat "$WORK/err")"
touch "$WORK/a-file"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/a-file"
grep -q "not a directory" "$WORK/err" || fail "run dir is a file: $(cat "$WORK/err")"
# The checkpoint remembers its training data: another tokenizer (same vocabulary size) or the same
# tokenizer over other text (the loader position would mean other batches) is refused on resume;
# generate, eval and export refuse a tokenizer or dataset the model was not trained with.
mkdir -p "$WORK/sub" && cp /usr/share/common-licenses/{GPL-3,Apache-2.0,LGPL-3} "$WORK/sub/"
"$MOR" prepare --input "$WORK/sub" --out "$WORK/ds-other-tok" --vocab-size 512 --val-fraction 0.2 --quiet >/dev/null
"$MOR" prepare --input "$WORK/sub" --out "$WORK/ds-same-tok" --tokenizer "$WORK/ds/tokenizer.model" --val-fraction 0.2 --quiet >/dev/null
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/expert-split" --set train.steps=8 --set data.path="$WORK/ds-other-tok"
grep -q "another tokenizer" "$WORK/err" || fail "resume on another tokenizer's data: $(cat "$WORK/err")"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/expert-split" --set train.steps=8 --set data.path="$WORK/ds-same-tok"
grep -q "windows per epoch" "$WORK/err" || fail "resume on other data: $(cat "$WORK/err")"
ck="$WORK/expert-split/ckpt-00000006.h5"
expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompt "the" --max-new-tokens 2 --tokenizer "$WORK/ds-other-tok/tokenizer.model"
grep -q "not the tokenizer the model was trained with" "$WORK/err" || fail "generate with another tokenizer: $(cat "$WORK/err")"
expect_exit 2 "$MOR" export --checkpoint "$ck" --format hf --out "$WORK/exp" --tokenizer "$WORK/ds-other-tok/tokenizer.model"
grep -q "not the tokenizer the model was trained with" "$WORK/err" || fail "export with another tokenizer: $(cat "$WORK/err")"
[ ! -e "$WORK/exp" ] || fail "a refused export left $WORK/exp"
expect_exit 2 "$MOR" eval --checkpoint "$ck" --data "$WORK/ds-other-tok"
grep -q "encoded with another tokenizer" "$WORK/err" || fail "eval on another tokenizer's data: $(cat "$WORK/err")"
"$MOR" eval --checkpoint "$ck" --data "$WORK/ds-same-tok" >/dev/null || fail "eval on other text with the same tokenizer"
"$MOR" generate --checkpoint "$ck" --prompt "the" --max-new-tokens 2 --tokenizer "$WORK/ds-same-tok/tokenizer.model" >/dev/null \
  || fail "generate with the training tokenizer"
echo ok
