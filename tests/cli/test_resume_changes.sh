#!/usr/bin/env bash
# Resuming after something changed (the run-safety audit of 2026-12-07; before, each of these
# resumed with exit 0 and no word): a changed data order is refused (the saved loader position
# indexes it), a FLOP-budget run resumed at another global batch spends what is left of its budget
# (it spent 25% too much or 33% too little), a changed learning-rate schedule or batch is a note,
# a checkpoint whose name says another step (it was resumed from at every start while newer ones
# were pruned) or that is a link into another run is refused, --fresh deletes only checkpoint
# files, a symlinked `latest` and a cut metrics line are handled with a clear note.
source "$(dirname "$0")/common.sh"

small_dataset
tiny_config
T() { "$MOR" train --config "$WORK/tiny.yaml" --quiet "$@"; }
T --run-dir "$WORK/base" --set train.steps=12 --stop-at-step 6 >/dev/null
fresh_copy() { rm -rf "$WORK/$1" && cp -r "$WORK/base" "$WORK/$1"; }

# --- the data order --------------------------------------------------------------------------
fresh_copy c1
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.steps=12 --set train.seed=99 --run-dir "$WORK/c1"
expect_msg "ckpt-00000006.h5: written while reading the data in the order of data.shuffle true with train.seed 1234"
expect_msg "with data.shuffle true with train.seed 99 windows would repeat or be skipped"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.steps=12 --set data.shuffle=false --run-dir "$WORK/c1"
expect_msg "Hint: resume with train.seed 1234 and data.shuffle true"
[ "$(ls "$WORK/c1" | grep -c '^ckpt-')" -eq 1 ] && [ "$(wc -l <"$WORK/c1/metrics.jsonl")" -eq 6 ] ||
  fail "a refused resume changed the run directory"
# Without shuffling the seed does not order the data: a new seed resumes.
T --run-dir "$WORK/ns" --set train.steps=8 --set data.shuffle=false --stop-at-step 4 >/dev/null
T --run-dir "$WORK/ns" --set train.steps=8 --set data.shuffle=false --set train.seed=5 >/dev/null

# --- a FLOP budget resumed at another global batch -------------------------------------------
sed 's/^  steps: .*/  steps: 0/' "$WORK/tiny.yaml" >"$WORK/budget.yaml"
B() { "$MOR" train --config "$WORK/budget.yaml" --quiet --set train.budget_flops=1.05e9 "$@"; }
B --run-dir "$WORK/bud" --stop-at-step 6 >/dev/null  # 12 steps of 256 tokens
B --run-dir "$WORK/bud" --set train.micro_batch=2 --stop-at-step 15 >"$WORK/out" 2>"$WORK/err"  # 128 tokens per step now
expect_msg "note: resuming: the global batch changed since the checkpoint: 256 -> 128 tokens per step."
expect_msg "buy 12 more steps (18 in all)"
B --run-dir "$WORK/bud" --set train.micro_batch=2 >"$WORK/out" 2>"$WORK/err"  # resumed again, nothing changed
! grep -q "note: resuming" "$WORK/err" || fail "an unchanged resume after a batch change printed a note: $(cat "$WORK/err")"
grep -q "^done: 18 steps" "$WORK/out" || fail "budget resumed at half the batch: $(grep done: "$WORK/out")"
python3 - "$WORK/bud/metrics.jsonl" <<'PY' || fail "the budget was not spent as planned"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert last["step"] == 18 and abs(last["flops"] - 1.05e9) < 0.03 * 1.05e9, last
PY

# --- notes: the learning rate of the next step changes -----------------------------------------
fresh_copy c2
T --run-dir "$WORK/c2" --set train.steps=400 --stop-at-step 7 >/dev/null 2>"$WORK/err"
expect_msg "note: resuming: the learning rate of the next step is"
expect_msg "(train.steps 12 -> 400); the warm-up (20 steps of the new length) is not over."
fresh_copy c3
T --run-dir "$WORK/c3" --set train.steps=12 --stop-at-step 7 >/dev/null 2>"$WORK/err"
! grep -q "note: resuming" "$WORK/err" || fail "an unchanged resume printed a note: $(cat "$WORK/err")"
T --run-dir "$WORK/c3" --set train.steps=12 --set train.micro_batch=2 --stop-at-step 9 >/dev/null 2>"$WORK/err"
expect_msg "the global batch changed since the checkpoint: 256 -> 128 tokens per step"
T --run-dir "$WORK/c3" --set train.steps=12 --set train.micro_batch=2 --stop-at-step 10 >/dev/null 2>"$WORK/err"
! grep -q "note: resuming" "$WORK/err" || fail "an unchanged resume after a batch change printed a note: $(cat "$WORK/err")"

# --- checkpoints that do not belong where they are ----------------------------------------------
fresh_copy c4
cp "$WORK/c4/ckpt-00000006.h5" "$WORK/c4/ckpt-00000099.h5"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.steps=12 --run-dir "$WORK/c4"
expect_msg "ckpt-00000099.h5: holds step 6, not the step 99 its name says. Hint: rename it to ckpt-00000006.h5"
[ -f "$WORK/c4/ckpt-00000006.h5" ] && [ -f "$WORK/c4/ckpt-00000099.h5" ] || fail "a refused resume removed a checkpoint"
fresh_copy c5  # a link to another run's file of another step: refused as misnamed
T --run-dir "$WORK/other" --set train.steps=2 >/dev/null
ln -s "$WORK/other/ckpt-00000002.h5" "$WORK/c5/ckpt-00000012.h5"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.steps=14 --run-dir "$WORK/c5"
expect_msg "ckpt-00000012.h5: holds step 2, not the step 12 its name says"
fresh_copy c5b  # the run's own checkpoint moved to other storage and linked back: resumed, with a note
mkdir -p "$WORK/store" && mv "$WORK/c5b/ckpt-00000006.h5" "$WORK/store/" && ln -s "$WORK/store/ckpt-00000006.h5" "$WORK/c5b/"
T --run-dir "$WORK/c5b" --set train.steps=12 --stop-at-step 7 >/dev/null 2>"$WORK/err"
expect_msg "note: ckpt-00000006.h5 is a symbolic link to $WORK/store/ckpt-00000006.h5; resuming from it"

# --- --fresh deletes checkpoint files only -----------------------------------------------------
fresh_copy c6
echo "my notes" >"$WORK/c6/ckpt-notes.txt"
cp "$WORK/c6/ckpt-00000006.h5" "$WORK/c6/ckpt-00000006-backup.h5"
touch "$WORK/c6/ckpt-00000003.h5.corrupt"
T --run-dir "$WORK/c6" --set train.steps=2 --fresh >/dev/null
[ -f "$WORK/c6/ckpt-notes.txt" ] && [ -f "$WORK/c6/ckpt-00000006-backup.h5" ] || fail "--fresh deleted files it did not write"
[ ! -e "$WORK/c6/ckpt-00000006.h5" ] && [ ! -e "$WORK/c6/ckpt-00000003.h5.corrupt" ] || fail "--fresh kept the run's checkpoints"

# --- a symlinked `latest`, a cut metrics line ---------------------------------------------------
fresh_copy c7
T --run-dir "$WORK/c7" --set train.steps=8 --stop-at-step 7 >/dev/null
rm "$WORK/c7/latest" && ln -s ckpt-00000006.h5 "$WORK/c7/latest"
T --run-dir "$WORK/c7" --set train.steps=8 >/dev/null 2>"$WORK/err"
expect_msg "latest names ckpt-00000006.h5; using the newest checkpoint that verifies, ckpt-00000007.h5"
fresh_copy c8
head -c -20 "$WORK/base/metrics.jsonl" >"$WORK/c8/metrics.jsonl"  # the last line cut short
T --run-dir "$WORK/c8" --set train.steps=7 >/dev/null 2>"$WORK/err"
expect_msg "metrics.jsonl: dropped 1 line cut short or unreadable"
echo '{"step":null}' >>"$WORK/c8/metrics.jsonl"  # after the checkpoint's step: trained again, no note
T --run-dir "$WORK/c8" --set train.steps=8 >/dev/null 2>"$WORK/err"
! grep -q "dropped" "$WORK/err" || fail "a cut line after the checkpoint's step was reported missing: $(cat "$WORK/err")"
# Records rewritten by another JSON writer ("step": 1, CRLF) are kept.
fresh_copy c9
python3 - "$WORK/c9/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
open(sys.argv[1], "w", newline="").write("".join(json.dumps(r) + "\r\n" for r in rows))
PY
T --run-dir "$WORK/c9" --set train.steps=7 >/dev/null 2>"$WORK/err"
! grep -q "dropped" "$WORK/err" || fail "readable records were dropped: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/c9/metrics.jsonl")" -eq 7 ] || fail "records lost: $(wc -l <"$WORK/c9/metrics.jsonl") lines"
echo "resume changes: ok"
