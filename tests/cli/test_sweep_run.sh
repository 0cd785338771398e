#!/usr/bin/env bash
# `mor sweep run`: a 4-point sweep of tiny models runs to the end; the same sweep killed mid-point
# (the point's trainer and the driver, both SIGKILL) and run again resumes from checkpoints and
# finishes with bit-identical losses at every step; a point whose config fails is recorded and the
# others finish; a second `sweep run` on a locked directory is refused; the mpirun script runs a
# 2-point sweep (2 ranks per point, same global batch: losses equal the local run within 1e-3);
# the Slurm array script is checked by Slurm on a private single-node cluster (tests/cli/
# slurm_cluster.sh): `sbatch --test-only` on a 2-rank script, and a 2-point array job submitted and
# run for real, equal to the local run; without slurm-wlm or root, by `bash -n` (a SKIP note).
source "$(dirname "$0")/common.sh"
SECONDS=0
section() { echo "[$SECONDS s] $*"; }
small_dataset
tiny_config
cd "$WORK"
cat >sw.yaml <<'YAML'
name: run4
base: tiny.yaml
set: [train.seq_len=64, train.micro_batch=8, train.eval_windows=4, train.log_every=1000]
budgets: [8.0e9]
sizes:
  - {name: w32, d_model: 32, n_heads: 2, d_ff: 64}
  - {name: w64, d_model: 64}
variants:
  - {name: vanilla, kind: vanilla}
  - {name: mor-e3, kind: mor_expert, num_recursions: 3}
seeds: [3]
checkpoint_every: 5
max_epochs: 100
YAML
for d in A B C; do "$MOR" sweep plan sw.yaml --out $d --bench-steps 0 >/dev/null; done

# A: uninterrupted.
"$MOR" sweep run A --jobs 1 >A.log 2>&1 || { cat A.log; fail "sweep A failed"; }
grep -q "all 4 points finished" A.log || fail "A: no completion line"
first=$(python3 -c "import json; print(json.load(open('A/plan.json'))['points'][0]['id'])")

section "B"
# B: killed during its first point (trainer and driver SIGKILLed), then run again.
"$MOR" sweep run B --jobs 1 >B1.log 2>&1 &
sweep_pid=$!
p="B/points/$first"
for _ in $(seq 1 3000); do
  [ -n "$(ls "$p"/ckpt-*.h5 2>/dev/null)" ] && [ "$(wc -l <"$p/metrics.jsonl" 2>/dev/null || echo 0)" -ge 12 ] && break
  sleep 0.01
done
child_pid=$(grep -o 'pid [0-9]*' "$p/.lock" | head -n1 | cut -d' ' -f2)
[ ! -f "$p/summary.json" ] || fail "B: $first finished before it could be killed (make its budget larger)"
kill -9 "$child_pid" "$sweep_pid" 2>/dev/null || true
wait "$sweep_pid" 2>/dev/null || true
killed_at=$(wc -l <"$p/metrics.jsonl")
flock -w 30 "$p/.lock" true || fail "B: the killed trainer still holds $p/.lock"
"$MOR" sweep run B --jobs 1 >B2.log 2>&1 || { cat B1.log B2.log; fail "resumed sweep B failed"; }
resumed_at=$(grep -o 'resumed from .* at step [0-9]*' "$p/train.log" | grep -o '[0-9]*$' | tail -n1)
[ -n "$resumed_at" ] || fail "B: $first did not resume from a checkpoint: $(tail -5 "$p/train.log")"
# Lost: at most one checkpoint interval (5 steps) plus the checkpoint still being written in the
# background when the kill came (published only once written and judged healthy); with steps of a
# few ms here, that write spans several steps.
[ "$resumed_at" -ge $((killed_at - 10)) ] || fail "B: killed at step $killed_at but resumed at $resumed_at"
python3 - <<'PY' || fail "interrupted sweep differs from the uninterrupted one"
import json, os
for pid in sorted(os.listdir("A/points")):
    def losses(d):
        return [(r["step"], r["loss"]) for r in map(json.loads, open(f"{d}/points/{pid}/metrics.jsonl"))]
    a, b = losses("A"), losses("B")
    assert a == b and len(a) > 10, (pid, len(a), len(b), [x for x in zip(a, b) if x[0] != x[1]][:2])
    sa, sb = (json.load(open(f"{d}/points/{pid}/summary.json")) for d in ("A", "B"))
    assert sa["val_loss"] == sb["val_loss"], (pid, sa["val_loss"], sb["val_loss"])
print("bit-identical")
PY

section "C"
# C: one point's config is broken after planning: it is recorded as failed, the others finish.
broken=$(python3 -c "import json; print(json.load(open('C/plan.json'))['points'][1]['id'])")
echo "bogus_key: 1" >>"C/points/$broken/config.yaml"
expect_exit 1 "$MOR" sweep run C --jobs 2
grep -q "FAILED $broken (exit 2): .*unknown key 'bogus_key'" "$WORK/out" || fail "C: failure not reported: $(cat "$WORK/out")"
[ "$(cat "C/points/$broken/exit_code")" = 2 ] || fail "C: exit code of $broken not recorded"
[ "$(ls C/points/*/summary.json | wc -l)" -eq 3 ] || fail "C: the other 3 points did not finish"
grep -q "3/4 done | 0 running | 1 failed" "$WORK/out" || fail "C: progress line wrong: $(tail -3 "$WORK/out")"

section "A second sweep"
# A second sweep run on a locked directory is refused.
flock C/.sweep.lock sleep 3 &
sleep 0.5
expect_exit 2 "$MOR" sweep run C
grep -q "sweep directory C" "$WORK/err" || fail "lock refusal not named: $(cat "$WORK/err")"
wait

section "Report on C"
# Report on C: every point listed, the failure with its error, pictures at their sizes.
"$MOR" sweep report C >rep.log 2>&1 || { cat rep.log; fail "sweep report failed"; }
python3 - "$broken" <<'PY' || fail "report of C wrong"
import json, struct, sys
rows = json.load(open("C/results.json"))
assert len(rows) == 4, len(rows)
assert sum(r["state"] == "finished" for r in rows) == 3
bad = [r for r in rows if r["state"] == "failed"]
assert len(bad) == 1 and bad[0]["id"] == sys.argv[1] and "bogus_key" in bad[0]["error"], bad
mor = [r for r in rows if r["variant"] == "mor-e3" and r["state"] == "finished"]
assert mor and all(abs(sum(r["depth_fractions"]) - 1) < 1e-9 and 1 <= r["mean_depth"] <= 3 for r in mor), mor
report = open("C/report.md").read()
for r in rows: assert f"| {r['id']} |" in report, r["id"]
assert "failed (exit 2" in report
for name, size in (("isoflop", (450, 400)), ("frontier", (600, 450)), ("routing", (450, 400))):
    head = open(f"C/{name}.png", "rb").read(24)
    assert struct.unpack(">II", head[16:24]) == size, (name, struct.unpack(">II", head[16:24]))
print("report ok")
PY

section "mpirun script"
# mpirun script: a 2-point sweep (the w32 points), 2 ranks each, run by the generated script.
sed -e '/w64/d' -e 's/name: run4/name: mpi2/' sw.yaml >sw2.yaml
"$MOR" sweep plan sw2.yaml --out D --bench-steps 0 >/dev/null
expect_exit 2 "$MOR" sweep run D --launcher mpirun --ranks 3
grep -q "does not divide train.micro_batch 8" "$WORK/err" || fail "--ranks 3 not refused: $(cat "$WORK/err")"
"$MOR" sweep run D --launcher mpirun --ranks 2 >/dev/null || fail "writing the mpirun script failed"
bash D/run_mpirun.sh >D.log 2>&1 || { cat D.log D/points/*/train.log; fail "the mpirun script failed"; }
python3 - <<'PY' || fail "mpirun sweep differs from the local run"
import json, os
for pid in os.listdir("D/points"):
    d, a = (json.load(open(f"{x}/points/{pid}/summary.json")) for x in ("D", "A"))
    assert d["steps"] == a["steps"] and abs(d["val_loss"] - a["val_loss"]) < 1e-3, (pid, d, a)
print("mpirun ok")
PY
grep -q "already finished" <(bash D/run_mpirun.sh 2>&1) || fail "the mpirun script re-ran finished points"
# Mixed launchers: points stopped part-way under the 2-rank script, then finished by the local
# launcher (one process), equal the local run: every launcher passes the planned batch, steps and
# warm-up (the trainer rewrote config.yaml with the script's per-rank values).
"$MOR" sweep plan sw2.yaml --out D2 --bench-steps 0 >/dev/null
"$MOR" sweep run D2 --launcher mpirun --ranks 2 >/dev/null
sed 's/^\(run_point .*\)$/\1 --stop-at-step 3/' D2/run_mpirun.sh >D2/run_partial.sh  # every point stops at step 3
bash D2/run_partial.sh >D2.log 2>&1 || { cat D2.log D2/points/*/train.log; fail "the partial mpirun script failed"; }
grep -q "  micro_batch: 4" D2/points/*/config.yaml || fail "the script's per-rank batch was not in config.yaml"
"$MOR" sweep run D2 --jobs 1 >D2-local.log 2>&1 || { cat D2-local.log D2/points/*/train.log; fail "the local launcher could not finish the points"; }
python3 - <<'PY' || fail "mixed-launcher sweep differs from the local run"
import json, os
for pid in os.listdir("D2/points"):
    d, a = (json.load(open(f"{x}/points/{pid}/summary.json")) for x in ("D2", "A"))
    assert d["steps"] == a["steps"] and abs(d["val_loss"] - a["val_loss"]) < 1e-3, (pid, d, a)
print("mixed launchers ok")
PY

section "Slurm array"
# Slurm array script: written, then checked by Slurm itself on a private single-node cluster
# (slurmctld + slurmd started here): `sbatch --test-only` for the 2-rank script of D, and a real
# submission of the 1-rank script of E (the same 2 points), whose results must equal the local run.
"$MOR" sweep run D --launcher slurm --ranks 2 --jobs 2 --cpus-per-task 1 --time 0:10:00 >/dev/null || fail "writing the Slurm script failed"
bash -n D/sweep.slurm || fail "sweep.slurm has a syntax error"
grep -q -- "--array=0-1%2" D/sweep.slurm || fail "sweep.slurm: wrong array line"
grep -q -- "--ntasks=2" D/sweep.slurm || fail "sweep.slurm: wrong --ntasks"
source "$(dirname "$0")/slurm_cluster.sh"
if slurm_cluster_start "$WORK/slurm"; then
  sbatch --test-only D/sweep.slurm >slurm.out 2>&1 || fail "sbatch --test-only refused D/sweep.slurm: $(cat slurm.out)"
  grep -q "to start at" slurm.out || fail "sbatch --test-only: $(cat slurm.out)"
  "$MOR" sweep plan sw2.yaml --out E --bench-steps 0 >/dev/null
  "$MOR" sweep run E --launcher slurm --jobs 2 --cpus-per-task 1 --time 0:10:00 --submit >E.log 2>&1 ||
    fail "sbatch of E/sweep.slurm failed: $(cat E.log)"
  grep -q "Submitted batch job" E.log || fail "E: no job id: $(cat E.log)"
  slurm_wait_idle 300 || fail "the Slurm array job did not finish in 300 s: $(squeue)"
  python3 - <<'PY' || fail "the Slurm sweep differs from the local run: $(tail -n 5 E/points/*/train.log E/points/slurm-*.out)"
import json, os
pts = [p for p in os.listdir("E/points") if os.path.isdir(f"E/points/{p}")]
assert len(pts) == 2, pts
for pid in pts:
    e, a = (json.load(open(f"{x}/points/{pid}/summary.json")) for x in ("E", "A"))
    assert e["steps"] == a["steps"] and abs(e["val_loss"] - a["val_loss"]) < 1e-3, (pid, e, a)
    assert open(f"E/points/{pid}/exit_code").read().strip() == "0"
print("slurm ok")
PY
  # Resubmitting skips the finished points.
  sbatch E/sweep.slurm >/dev/null && slurm_wait_idle 120 || fail "resubmission did not finish"
  [ "$(cat E/points/slurm-*.out | grep -c "already finished")" -eq 2 ] || fail "the resubmitted array re-ran finished points"
  slurm_cluster_stop
else
  echo "SKIP: $SLURM_SKIP; sweep.slurm checked with bash -n only"
fi
echo "PASS"
