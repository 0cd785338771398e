#!/usr/bin/env bash
# Fault injection, part 1 (the run directory): each case of the run-safety issue that concerns a
# training run, done as a careless or hostile user would, with the outcome checked. Numbers are the
# issue's items. Part 2 (bad input to prepare/export/import/config/generate) is test_faults_input.sh.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
CFG="$WORK/tiny.yaml"
trap 'jobs -p | xargs -r kill -9 2>/dev/null || true; umount "$WORK/full" 2>/dev/null || true; umount "$WORK/ro" 2>/dev/null || true; rm -rf "$WORK"' EXIT
train() { "$MOR" train --config "$CFG" --quiet "$@"; }
# Every metrics line must be a whole JSON object.
metrics_whole() { python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$1" || fail "metrics not whole: $1"; }
last_step() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["step"])' "$1"; }

# ---- 1. A missing or dangling `latest` must not restart the run or delete good checkpoints ----
R="$WORK/r1"
train --run-dir "$R" --set train.steps=12 --set train.ckpt_every=3 >/dev/null
[ "$(cat "$R/latest")" = "ckpt-00000012.h5" ] || fail "1: latest after the first run"
rm "$R/latest"
expect_exit 0 train --run-dir "$R" --set train.steps=14 --set train.ckpt_every=3
grep -q "latest is missing; using the newest checkpoint that verifies, ckpt-00000012.h5" "$WORK/err" || fail "1: no note: $(cat "$WORK/err")"
grep -q "resumed from .*ckpt-00000012.h5 at step 12" "$WORK/out" || fail "1: did not resume at 12: $(head -2 "$WORK/out")"
[ "$(last_step "$R/metrics.jsonl")" = 14 ] || fail "1: metrics do not end at step 14"
echo "ckpt-99999999.h5" >"$R/latest"
expect_exit 0 train --run-dir "$R" --set train.steps=16 --set train.ckpt_every=3 --resume
grep -q "names ckpt-99999999.h5, which does not exist" "$WORK/err" || fail "1: dangling latest note: $(cat "$WORK/err")"
grep -q "resumed from .*ckpt-00000014.h5 at step 14" "$WORK/out" || fail "1: dangling: $(head -2 "$WORK/out")"
[ "$(cat "$R/latest")" = "ckpt-00000016.h5" ] || fail "1: latest not repaired"
# Corrupt the newest: it is set aside (kept), the one before is used.
size=$(stat -c %s "$R/ckpt-00000016.h5")
head -c 65536 /dev/urandom | dd of="$R/ckpt-00000016.h5" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null  # 64 kB: surely tensor data
expect_exit 0 train --run-dir "$R" --set train.steps=17
grep -q "ckpt-00000016.h5 fails verification" "$WORK/err" || fail "1: corrupt note: $(cat "$WORK/err")"
[ -f "$R/ckpt-00000016.h5.corrupt" ] || fail "1: corrupt checkpoint not kept"
grep -q "resumed from .*ckpt-00000015.h5" "$WORK/out" || fail "1: corrupt fallback: $(head -2 "$WORK/out")"
# No checkpoint verifies: refused, nothing deleted, --fresh named as the way out.
for f in "$R"/ckpt-*.h5; do truncate -s 4000 "$f"; done
n_before=$(ls "$R" | grep -c ckpt-)
expect_exit 2 train --run-dir "$R" --set train.steps=20
grep -q "none verifies" "$WORK/err" && grep -q -- "--fresh" "$WORK/err" || fail "1: all corrupt: $(cat "$WORK/err")"
[ "$(ls "$R" | grep -c ckpt-)" = "$n_before" ] || fail "1: files disappeared when nothing verified"
expect_exit 2 train --run-dir "$R" --set train.steps=20 --resume
grep -q "none verifies" "$WORK/err" || fail "1: --resume with all corrupt: $(cat "$WORK/err")"
echo "1 ok: latest is a hint; corrupt checkpoints set aside; nothing deleted without a newer one"

# ---- 3. One trainer per run directory; a dead holder's lock is stale ----
R="$WORK/r3"
"$MOR" train --config "$CFG" --quiet --run-dir "$R" --set train.steps=100000 --set train.eval=false >"$WORK/bg.out" 2>&1 &
bg=$!
for _ in $(seq 100); do grep -q "^step *1/" "$WORK/bg.out" 2>/dev/null && break; sleep 0.1; done
grep -q "^step *1/" "$WORK/bg.out" || fail "3: background trainer did not start: $(cat "$WORK/bg.out")"
expect_exit 2 train --run-dir "$R" --set train.steps=100000
grep -q "run directory $R is in use by another process (pid $bg on host" "$WORK/err" || fail "3: second trainer: $(cat "$WORK/err")"
kill -9 $bg; wait $bg 2>/dev/null || true
[ -s "$R/.lock" ] || fail "3: a killed trainer should leave its lock file behind"
expect_exit 0 train --run-dir "$R" --set train.steps=2 --fresh
grep -q "was locked by pid $bg .*no longer running; taking it over" "$WORK/err" || fail "3: stale lock note: $(cat "$WORK/err")"
[ ! -e "$R/.lock" ] || fail "3: the lock file outlived a clean run"
echo "3 ok: second trainer refused with the holder's pid; stale lock taken over"

# ---- 4. Validation data is checked before the first step ----
"$MOR" prepare --input /usr/share/common-licenses --out "$WORK/ds-noval" --tokenizer "$WORK/ds/tokenizer.model" \
  --val-fraction 0 --quiet >/dev/null
expect_exit 2 train --run-dir "$WORK/r4a" --set data.path="$WORK/ds-noval"
grep -q "train.eval" "$WORK/err" || fail "4: empty val split: $(cat "$WORK/err")"
[ ! -e "$WORK/r4a" ] || fail "4: a refused run created its run directory"
expect_exit 0 train --run-dir "$WORK/r4b" --set data.path="$WORK/ds-noval" --set train.eval=false
[ -f "$WORK/r4b/ckpt-00000006.h5" ] || fail "4: train.eval=false did not train to the end"
cp -r "$WORK/ds" "$WORK/ds-badval"
for s in "$WORK/ds-badval"/val/*.bin; do printf 'XXXXXXXX' | dd of="$s" bs=1 seek=0 conv=notrunc 2>/dev/null; done
expect_exit 2 train --run-dir "$WORK/r4c" --set data.path="$WORK/ds-badval"
grep -q "val" "$WORK/err" && grep -q "checked at start-up" "$WORK/err" || fail "4: corrupt val shard: $(cat "$WORK/err")"
expect_exit 2 train --run-dir "$WORK/r4d" --set train.seq_len=100000 --set train.micro_batch=1
grep -q "no validation window\|train.seq_len" "$WORK/err" || fail "4: val shorter than seq_len: $(cat "$WORK/err")"
# A failure after training (the val split removed under a running job) still saves the final checkpoint.
cp -r "$WORK/ds" "$WORK/ds-late"
"$MOR" train --config "$CFG" --quiet --run-dir "$WORK/r4e" --set data.path="$WORK/ds-late" --set train.steps=40 >"$WORK/late.out" 2>"$WORK/late.err" &
bg=$!
for _ in $(seq 100); do grep -q "^step *1/" "$WORK/late.out" 2>/dev/null && break; sleep 0.05; done
kill -STOP $bg
rm -rf "$WORK/ds-late/val"
kill -CONT $bg
set +e; wait $bg; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "4: late eval failure exit $rc: $(cat "$WORK/late.err")"
grep -q "saved .*ckpt-00000040.h5 before stopping" "$WORK/late.err" || fail "4: no final checkpoint: $(cat "$WORK/late.err")"
[ "$(cat "$WORK/r4e/latest")" = "ckpt-00000040.h5" ] || fail "4: latest is not the final step"
echo "4 ok: val split checked at start; train.eval=false; late failure saved the final checkpoint"

# ---- 5. A blown-up model is never checkpointed over a good one ----
R="$WORK/r5"
train --run-dir "$R" --set train.steps=20 >/dev/null
expect_exit 3 train --run-dir "$R" --set train.steps=40 --set train.lr=1e6 --set train.ckpt_every=1 --set train.warmup_steps=0
grep -q "the run stopped before applying it" "$WORK/err" || fail "5: no guard stop: $(cat "$WORK/err")"
[ "$(cat "$R/latest")" = "ckpt-00000020.h5" ] || fail "5: latest moved to a blown-up checkpoint: $(cat "$R/latest"); $(cat "$WORK/err")"
ls "$R"/*.tmp >/dev/null 2>&1 && fail "5: a rejected snapshot left a .tmp"
expect_exit 0 train --run-dir "$R" --set train.steps=24
grep -q "resumed from .*ckpt-00000020.h5" "$WORK/out" || fail "5: resume after the guard stop"
# Spikes: warn / skip / stop (a small threshold makes ordinary steps spikes once there is history).
expect_exit 0 train --run-dir "$WORK/r5w" --set train.guard.loss_spike=1.0001 --set train.guard.warmup=1 \
  --set train.steps=8 --set train.lr=0.3 --set train.ckpt_every=2
metrics_whole "$WORK/r5w/metrics.jsonl"
grep -q '"spike"' "$WORK/r5w/metrics.jsonl" || fail "5: no spike recorded with a hair-trigger guard"
grep -q "SPIKE" "$WORK/out" || fail "5: no SPIKE in the step line"
grep -q '"loss_ratio"' "$WORK/r5w/metrics.jsonl" || fail "5: no loss_ratio in metrics"
expect_exit 3 train --run-dir "$WORK/r5s" --set train.guard.loss_spike=1.0001 --set train.guard.warmup=1 \
  --set train.steps=8 --set train.lr=0.3 --set train.guard.action=stop
grep -q "train.guard.action=stop" "$WORK/err" || fail "5: action=stop: $(cat "$WORK/err")"
expect_exit 0 train --run-dir "$WORK/r5k" --set train.guard.loss_spike=1.0001 --set train.guard.warmup=1 \
  --set train.steps=8 --set train.lr=0.3 --set train.guard.action=skip
grep -q '"skipped":1' "$WORK/r5k/metrics.jsonl" || fail "5: action=skip recorded no skipped step"
echo "5 ok: non-finite stops before saving; spikes warn/skip/stop; latest stays the last good checkpoint"

# ---- 8. Disk full during training (a real full file system: a small tmpfs) ----
D="$WORK/full"
mkdir -p "$D"
if mount -t tmpfs -o size=2600k tmpfs "$D" 2>/dev/null; then
  # A checkpoint of this model is ~1.7 MB: the first fits, the second does not.
  expect_exit 1 train --run-dir "$D/run" --set train.steps=12 --set train.ckpt_every=3 --set train.ckpt_retries=1
  grep -q "could not be written: .*No space left on device" "$WORK/err" || fail "8: no ENOSPC line: $(cat "$WORK/err")"
  [ "$(grep -c "HDF5-DIAG" "$WORK/err")" = 0 ] || fail "8: HDF5 diagnostics printed"
  grep -q "stopping: 2 checkpoint write(s) failed" "$WORK/err" || fail "8: did not stop after the retries: $(cat "$WORK/err")"
  [ "$(cat "$D/run/latest")" = "ckpt-00000003.h5" ] || fail "8: latest is not the last good checkpoint"
  ls "$D/run"/*.tmp >/dev/null 2>&1 && fail "8: temp files left: $(ls "$D/run")"
  metrics_whole "$D/run/metrics.jsonl"
  # The same disk filled by something else: metrics lines stay whole.
  mount -o remount,size=20m "$D"
  expect_exit 0 train --run-dir "$D/run" --set train.steps=12 --set train.ckpt_every=3
  grep -q "resumed from .*ckpt-00000003.h5" "$WORK/out" || fail "8: resume after freeing space"
  metrics_whole "$D/run/metrics.jsonl"
  # mor import onto a full disk leaves no temp file either.
  "$MOR" export --checkpoint "$D/run" --out "$WORK/exp" >/dev/null
  dd if=/dev/zero of="$D/filler" bs=64k 2>/dev/null || true  # fill the disk, then leave 200 kB
  truncate -s -200k "$D/filler"
  expect_exit 1 "$MOR" import --hf "$WORK/exp" --out "$D/imported.h5"
  grep -q "No space left on device" "$WORK/err" || fail "8: import on a full disk: $(cat "$WORK/err")"
  ls "$D"/*.tmp >/dev/null 2>&1 && fail "8: import left a temp file"
  set +e; "$MOR" export --checkpoint "$D/run" --out "$D/exp2" >/dev/null 2>"$WORK/err"; rc=$?; set -e
  [ "$rc" -ne 0 ] && grep -q "No space left on device" "$WORK/err" || fail "8: export on a full disk (exit $rc): $(cat "$WORK/err")"
  ls -d "$D"/exp2* >/dev/null 2>&1 && fail "8: export left $(ls -d "$D"/exp2*)"
  umount "$D"
  echo "8 ok: disk full reported in one line, retried, stopped; previous checkpoint intact; metrics whole; no temp files"
else
  echo "8 SKIPPED: cannot mount a tmpfs here (needs root)"
fi

# ---- 10. The run-control smaller ones ----
expect_exit 2 train --run-dir "$WORK/r10" --stop-at-step -3
grep -q "stop-at-step" "$WORK/err" || fail "10: --stop-at-step -3: $(cat "$WORK/err")"
train --run-dir "$WORK/r10" --stop-at-step 3 >/dev/null
expect_exit 2 train --run-dir "$WORK/r10" --stop-at-step 2
grep -q "already at step 3" "$WORK/err" || fail "10: --stop-at-step behind the run: $(cat "$WORK/err")"
# A run that only reports "already complete" leaves config.yaml as trained.
train --run-dir "$WORK/r10" >/dev/null
cp "$WORK/r10/config.yaml" "$WORK/config.before"
expect_exit 0 train --run-dir "$WORK/r10" --set train.lr=0.5
grep -q "already complete" "$WORK/out" || fail "10: not complete"
cmp -s "$WORK/config.before" "$WORK/r10/config.yaml" || fail "10: an 'already complete' run rewrote config.yaml"
# SIGINT before the first step: no bogus checkpoint name or resume hint.
"$MOR" train --config "$CFG" --run-dir "$WORK/r10s" >"$WORK/sig.out" 2>&1 &
bg=$!
for _ in $(seq 200); do grep -q "^# resolved config" "$WORK/sig.out" 2>/dev/null && break; sleep 0.01; done
kill -INT $bg
set +e; wait $bg; rc=$?; set -e
[ "$rc" -eq 1 ] || fail "10: SIGINT before step 1: exit $rc: $(tail -3 "$WORK/sig.out")"
grep -q "before the first step; nothing was trained or saved" "$WORK/sig.out" || fail "10: SIGINT message: $(tail -3 "$WORK/sig.out")"
grep -q "resume with" "$WORK/sig.out" && fail "10: suggested a resume with nothing to resume"
# A read-only run directory is refused at start-up, not at the first checkpoint.
mkdir -p "$WORK/ro"
if mount --bind "$WORK/ro" "$WORK/ro" 2>/dev/null && mount -o remount,ro,bind "$WORK/ro" 2>/dev/null; then
  expect_exit 2 train --run-dir "$WORK/ro"
  grep -q "cannot create files in the run directory\|cannot create the lock file" "$WORK/err" || fail "10: read-only run dir: $(cat "$WORK/err")"
  grep -q "^step" "$WORK/out" && fail "10: a read-only run directory trained before failing"
  umount "$WORK/ro"
else
  echo "10 read-only case SKIPPED: cannot make a read-only bind mount here"
fi
echo "10 ok: --stop-at-step checked; complete runs keep config.yaml; SIGINT before step 1; read-only run dir"
echo ok
