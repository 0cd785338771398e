#!/usr/bin/env bash
# Careless or hostile input (the input-safety review; numbers are its issue items): outputs that
# overlap inputs, --overwrite of things the command did not write, concurrent writers, non-finite
# and duplicate config values, unreadable corpus directories, out-of-range flags, long prompts,
# misleading messages. Each refusal exits 2, names the flag/file and leaves everything in place.
source "$(dirname "$0")/common.sh"

# A small corpus of three documents beside an unrelated file.
mkdir -p "$WORK/par/data"
for d in 1 2 3; do
  for ((i = 0; i < 200; i++)); do printf 'the model learns to route token %d through shared layers. ' "$((i % 13))"; done \
    >"$WORK/par/data/doc$d.txt"
done
echo "keep me" >"$WORK/par/unrelated.txt"
corpus_intact() {
  [ "$(ls "$WORK/par/data" | wc -l)" -eq 3 ] && [ -f "$WORK/par/unrelated.txt" ] || fail "$1: the corpus was touched"
}

# --- 2. --overwrite never deletes an input, nor anything prepare did not write -------------------
expect_exit 2 "$MOR" prepare --input "$WORK/par/data" --out "$WORK/par" --vocab-size 300 --overwrite --quiet
expect_msg "--out $WORK/par: contains the input --input $WORK/par/data"
expect_msg "Hint:"
corpus_intact "prepare --out PARENT --overwrite"
expect_exit 2 "$MOR" prepare --input "$WORK/par/data" --out "$WORK/par/data/ds" --vocab-size 300 --quiet  # no --overwrite
expect_msg "lies inside the input --input $WORK/par/data"
[ ! -e "$WORK/par/data/ds" ] || fail "prepare wrote inside its input"
corpus_intact "prepare --out INSIDE_INPUT"
mkdir -p "$WORK/notes/sub" && echo x >"$WORK/notes/todo.txt"
expect_exit 2 "$MOR" prepare --input "$WORK/par/data" --out "$WORK/notes" --vocab-size 300 --overwrite --quiet
expect_msg "$WORK/notes: --overwrite refused: it is not a dataset directory but a directory holding sub/ and todo.txt"
[ -f "$WORK/notes/todo.txt" ] || fail "prepare --overwrite deleted a directory that is not a dataset"
"$MOR" prepare --input "$WORK/par/data" --out "$WORK/ds_par" --vocab-size 300 --val-fraction 0.3 --quiet >/dev/null
"$MOR" prepare --input "$WORK/par/data" --out "$WORK/ds_par" --vocab-size 300 --val-fraction 0.3 --overwrite --quiet >/dev/null
[ ! -e "$WORK/ds_par.lock" ] || fail "prepare left its lock file"

# A trained tiny model for export / import / generate / eval.
small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run" --quiet >/dev/null
ck="$WORK/run/$(cat "$WORK/run/latest")"
run_intact() { [ -f "$ck" ] && [ -f "$WORK/run/latest" ] && [ -f "$WORK/run/config.yaml" ] || fail "$1: the run directory was touched"; }

# --- 2. export / import outputs ---------------------------------------------------------------
expect_exit 2 "$MOR" export --checkpoint "$WORK/run" --out "$WORK/run" --overwrite
expect_msg "--out $WORK/run: is the same path as the input --checkpoint $WORK/run"
run_intact "export --out RUN_DIR --overwrite"
expect_exit 2 "$MOR" export --checkpoint "$WORK/run" --out "$WORK/run/hf"
expect_msg "lies inside the input --checkpoint"
run_intact "export --out RUN_DIR/hf"
expect_exit 2 "$MOR" export --checkpoint "$ck" --out "$WORK/ds" --overwrite  # the dataset holds the tokenizer
expect_msg "contains the input the tokenizer $WORK/ds/tokenizer.model"
[ -f "$WORK/ds/manifest.json" ] || fail "export --overwrite replaced the dataset"
expect_exit 2 "$MOR" export --checkpoint "$ck" --out "$WORK/notes" --overwrite
expect_msg "--overwrite refused: it is not an export directory but a directory holding sub/ and todo.txt"
[ -f "$WORK/notes/todo.txt" ] || fail "export --overwrite deleted a directory that is not an export"
"$MOR" export --checkpoint "$ck" --out "$WORK/hf" >/dev/null
"$MOR" export --checkpoint "$ck" --out "$WORK/hf" --overwrite >/dev/null  # an export is replaced
expect_exit 2 "$MOR" import --hf "$WORK/hf" --out "$WORK/hf/back.h5"
expect_msg "lies inside the input --hf $WORK/hf"
[ ! -e "$WORK/hf/back.h5" ] || fail "import wrote inside the export"
expect_exit 2 "$MOR" import --hf "$WORK/hf" --out "$WORK/par/unrelated.txt" --overwrite
expect_msg "--overwrite refused: it is not a MoR-Train checkpoint but a file of 8 bytes"
corpus_intact "import --out FILE --overwrite"
"$MOR" import --hf "$WORK/hf" --out "$WORK/back.h5" >/dev/null
"$MOR" import --hf "$WORK/hf" --out "$WORK/back.h5" --overwrite >/dev/null  # a checkpoint is replaced

# --- 3. concurrent writers of one output are refused, naming the holder ------------------------
# A real prepare holds OUT.lock while it blocks reading its --tokenizer from a FIFO.
mkfifo "$WORK/tok.fifo"
"$MOR" prepare --input "$WORK/par/data" --out "$WORK/busy" --tokenizer "$WORK/tok.fifo" --quiet >/dev/null 2>&1 &
holder=$!
for ((i = 0; i < 500; i++)); do [ -s "$WORK/busy.lock" ] && break; sleep 0.01; done
expect_exit 2 "$MOR" prepare --input "$WORK/par/data" --out "$WORK/busy" --vocab-size 300 --quiet
expect_msg "dataset directory $WORK/busy is in use by another process (pid $holder on host"
timeout 20 bash -c 'cat "$1" >"$2"' _ "$WORK/ds/tokenizer.model" "$WORK/tok.fifo" || true  # let it go on
wait "$holder" || true
[ ! -e "$WORK/busy.lock" ] && [ ! -e "$WORK/busy" ] || fail "the first prepare left its lock or output behind"
# export and import: the lock held by flock(1) on the same file, with a holder line written in it.
hold_lock() {  # hold_lock FILE: flock FILE in the background until $WORK/release exists
  rm -f "$WORK/release" "$WORK/locked"
  flock "$1" bash -c 'echo "pid $$ on host flock-test" >"$1"; touch "$2"; while [ ! -e "$3" ]; do sleep 0.02; done' \
    _ "$1" "$WORK/locked" "$WORK/release" &
  locker=$!
  for ((i = 0; i < 500; i++)); do [ -e "$WORK/locked" ] && break; sleep 0.01; done
}
hold_lock "$WORK/hf2.lock"
expect_exit 2 "$MOR" export --checkpoint "$ck" --out "$WORK/hf2"
expect_msg "export directory $WORK/hf2 is in use by another process (pid "
grep -q "pid [0-9]* on host flock-test" "$WORK/err" || fail "export lock: holder not named: $(cat "$WORK/err")"
[ ! -e "$WORK/hf2" ] || fail "a refused export wrote its output"
touch "$WORK/release" && wait "$locker"
hold_lock "$WORK/back2.h5.lock"
expect_exit 2 "$MOR" import --hf "$WORK/hf" --out "$WORK/back2.h5"
expect_msg "checkpoint $WORK/back2.h5 is in use by another process (pid "
touch "$WORK/release" && wait "$locker"

# --- 6. non-finite config values, in the file (file:line:col) and through --set ----------------
sed 's/  lr: 3.0e-3/  lr: .inf/' "$WORK/tiny.yaml" >"$WORK/inf.yaml"
expect_exit 2 "$MOR" train --config "$WORK/inf.yaml" --run-dir "$WORK/r_inf"
expect_msg "inf.yaml:19:7: key 'train.lr' must be a finite number (got '.inf')"
[ ! -e "$WORK/r_inf" ] || fail "a refused config left a run directory"
for key in train.grad_clip train.weight_decay train.beta1 model.init_std; do
  expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set "$key=.nan"
  expect_msg "--set $key=.nan: key '$key' must be a finite number (got '.nan')"
done
for t in nan inf; do
  expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompt "x" --temperature "$t"
  expect_msg "--temperature: must be a finite number >= 0 (got $t)"
done

# --- 9. an unreadable subdirectory is an error naming it, never skipped ------------------------
# Root reads everything, so as root the check runs as the unprivileged user nobody (setpriv), on a
# corpus only root can read part of; skipped with a note when that cannot be arranged.
mkdir -p "$WORK/nob/corpus/open" "$WORK/nob/corpus/secret"
cp "$WORK/par/data/doc1.txt" "$WORK/nob/corpus/open/" && cp "$WORK/par/data/doc2.txt" "$WORK/nob/corpus/secret/"
chmod 755 "$WORK" "$WORK/nob/corpus" "$WORK/nob/corpus/open" && chmod 777 "$WORK/nob" && chmod 000 "$WORK/nob/corpus/secret"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  "${as_user[@]}" "$MOR" --version >/dev/null 2>&1 || as_user=(none)
fi
if [ "${as_user[0]:-}" = none ]; then
  echo "note: item 9 skipped: cannot run $MOR as user nobody (setpriv, or the build tree is not readable by others)"
else
  expect_exit 2 "${as_user[@]}" "$MOR" prepare --input "$WORK/nob/corpus" --out "$WORK/nob/ds" --vocab-size 300 --quiet
  expect_msg "$WORK/nob/corpus/secret: cannot list the directory (Permission denied)"
  [ ! -e "$WORK/nob/ds" ] || fail "prepare wrote a dataset without the unreadable directory"
fi
chmod 700 "$WORK/nob/corpus/secret"

# --- 10. smaller ones ------------------------------------------------------------------------
# Duplicate keys: refused with both positions.
sed 's/  d_ff: 128/  d_ff: 128\n  d_model: 32/' "$WORK/tiny.yaml" >"$WORK/dup.yaml"
expect_exit 2 "$MOR" flops --config "$WORK/dup.yaml"
expect_msg "dup.yaml:9:3: duplicate key 'model.d_model' (first at $WORK/dup.yaml:4:3)"
# A --set whose value is a map merges into the section: the model stays expert-choice MoR.
"$MOR" flops --config "$WORK/tiny.yaml" --set 'model={d_model: 32}' --json >"$WORK/merge.json"
python3 - "$WORK/merge.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["capacities"]) == 3, r  # still 3 recursions with expert capacities, not vanilla
PY
# Negative / out-of-range flags and thread counts.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/r_stop" --stop-at-step -3
expect_msg "--stop-at-step: must be an integer >= 0 (got -3)"
[ ! -e "$WORK/r_stop" ] || fail "--stop-at-step -3 started a run"
expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompt "x" --max-new-tokens -3
expect_msg "--max-new-tokens: must be a positive integer (got -3)"
grep -q "[0-9]\{30\}" "$WORK/err" && fail "range error prints a huge number: $(cat "$WORK/err")"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.threads=-1
expect_msg "--set train.threads=-1: train.threads must be >= 0 (got -1)"
sed 's/  eval_windows: 8/  eval_windows: 8\n  threads: -4/' "$WORK/tiny.yaml" >"$WORK/neg.yaml"
expect_exit 2 "$MOR" flops --config "$WORK/neg.yaml"
expect_msg "neg.yaml:21:12: train.threads must be >= 0 (got -4)"
cpus=$(nproc)
expect_exit 0 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/r_threads" --set train.threads=64 --set train.steps=1 --quiet
[ "$(grep -c "warning: train.threads 64" "$WORK/err")" -eq 1 ] || fail "threads warning: $(cat "$WORK/err")"
expect_msg "more than the $cpus CPU"
expect_exit 0 "$MOR" prepare --input "$WORK/par/data" --out "$WORK/ds_t" --vocab-size 300 --threads 1000 --quiet --json
expect_msg "--threads 1000 is more than the $cpus CPU"
grep -q "\"threads\":$cpus" "$WORK/out" || fail "prepare --threads 1000 not capped: $(cat "$WORK/out")"
# generate streams the same text as --json's completion.
"$MOR" generate --checkpoint "$ck" --prompt "Licensed under" --max-new-tokens 12 --seed 5 --json >"$WORK/g.json"
"$MOR" generate --checkpoint "$ck" --prompt "Licensed under" --max-new-tokens 12 --seed 5 >"$WORK/g.txt" 2>/dev/null
python3 - "$WORK/g.json" "$WORK/g.txt" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2], encoding="utf-8").read()
assert text == j["prompt"] + j["completion"] + "\n", (text, j)
PY
# Prompts beyond train.seq_len (32): a warning; beyond 8 x seq_len: refused with a hint.
long_prompt=$(for ((i = 0; i < 12; i++)); do printf 'Licensed under the terms. '; done)
expect_exit 0 "$MOR" generate --checkpoint "$ck" --prompt "$long_prompt" --max-new-tokens 4
expect_msg "exceed the model's train.seq_len 32"
huge_prompt=$(for ((i = 0; i < 120; i++)); do printf 'Licensed under the terms. '; done)
expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompt "$huge_prompt" --max-new-tokens 4
expect_msg "more than 8 x the model's train.seq_len 32 (256). Hint: shorten the prompt"
# eval on a run directory that has no checkpoint yet.
mkdir -p "$WORK/fresh_run" && cp "$WORK/run/config.yaml" "$WORK/fresh_run/"
expect_exit 2 "$MOR" eval --checkpoint "$WORK/fresh_run" --data "$WORK/ds"
expect_msg "$WORK/fresh_run: the run directory holds no checkpoint yet"
expect_msg "Hint:"
# Shards and manifest from different tokenizers of equal size: the message says so.
cp -r "$WORK/ds" "$WORK/ds_h"
python3 - "$WORK/ds_h/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["tokenizer"]["hash"] = 12345
json.dump(m, open(sys.argv[1], "w"))
PY
expect_exit 2 "$MOR" eval --checkpoint "$ck" --data "$WORK/ds_h"
expect_msg "same vocabulary of 512, but tokenizer hash"
expect_msg "vs 12345)"
echo ok
