#!/usr/bin/env bash
# `mor sweep plan`: a sweep file resolves to the expected grid (one resolved config per point),
# every point's step count agrees with `mor flops` on its config, the benchmark gives estimates, a
# different plan in the same directory is refused (the same one is accepted), and bad sweep files
# are refused with `file:line:col` and exit 2.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
cat >"$WORK/sw.yaml" <<'YAML'
name: grid
base: tiny.yaml
set: [train.eval_windows=4]
budgets: [3.0e8, 6.0e8]
sizes:
  - {name: w32, d_model: 32, n_heads: 2, d_ff: 64}
  - {name: w48, d_model: 48, n_heads: 3, n_kv_heads: 1, d_ff: 96}
variants:
  - {name: vanilla, kind: vanilla}
  - {name: rec3, kind: recursive, num_recursions: 3}
  - {name: tok3, kind: mor_token, num_recursions: 3, kv_mode: share}
seeds: [5, 6]
YAML
cd "$WORK"
"$MOR" sweep plan sw.yaml --out plan --bench-steps 0 >out 2>err || { cat out err; fail "plan failed"; }
grep -q "24 points" out || fail "table does not count 24 points: $(tail -2 out)"
[ "$(ls plan/points | wc -l)" -eq 24 ] || fail "expected 24 point directories"
python3 - "$MOR" <<'PY' || fail "grid or step counts wrong"
import json, subprocess, sys
mor = sys.argv[1]
plan = json.load(open("plan/plan.json"))
ids = [p["id"] for p in plan["points"]]
want = [f"{b}-{s}-{v}-s{seed}" for b in ("3e08", "6e08") for seed in (5, 6) for s in ("w32", "w48")
        for v in ("vanilla", "rec3", "tok3")]
assert ids == want, (ids[:4], want[:4])
for p in plan["points"]:
    cfg = f"plan/points/{p['id']}/config.yaml"
    text = open(cfg).read()
    f = json.loads(subprocess.run([mor, "flops", "--config", cfg, "--json"], capture_output=True, text=True, check=True).stdout)
    assert f["steps"] == p["steps"] and f["steps"] > 1, (p["id"], f["steps"], p["steps"])
    assert f["unique_params"] == p["unique_params"], p["id"]
    kind = {"vanilla": ('sharing: "none"', 'type: "none"'), "rec3": ('sharing: "middle_cycle"', 'type: "none"'),
            "tok3": ('sharing: "middle_cycle"', 'type: "token"')}[p["variant"]]
    for k in kind: assert k in text, (p["id"], k)
    assert (f"seed: {p['seed']}" in text) and (f"budget_flops: {p['budget']:g}" in text or "budget_flops: " in text)
    assert ("kv_mode: \"share\"" in text) == (p["variant"] == "tok3"), p["id"]
    assert f"ckpt_every: {max(1, (p['steps'] + 9) // 10)}" in text, p["id"]
    assert "eval_windows: 4" in text
print("grid ok")
PY
# The same plan again is accepted without rewriting; a different one is refused.
"$MOR" sweep plan sw.yaml --out plan --bench-steps 0 >out 2>err || fail "re-plan of the same sweep refused"
grep -q "plan unchanged" out || fail "re-plan did not say unchanged"
sed 's/seeds: \[5, 6\]/seeds: [5]/' sw.yaml >sw2.yaml
expect_exit 2 "$MOR" sweep plan sw2.yaml --out plan --bench-steps 0
grep -q "holds a different sweep plan" "$WORK/err" || fail "different plan not refused: $(cat "$WORK/err")"
# Estimates from a measured benchmark of each shape.
sed -e 's/seeds: \[5, 6\]/seeds: [5]/' -e 's/budgets: \[3.0e8, 6.0e8\]/budgets: [3.0e8]/' sw.yaml | grep -v "rec3\|tok3" >sw1.yaml
"$MOR" sweep plan sw1.yaml --out bench --bench-steps 1 >out 2>err || { cat out err; fail "plan with benchmark failed"; }
grep -q "s/step" out && grep -q "estimated" out || fail "no estimate: $(cat out)"
python3 -c "import json; p = json.load(open('bench/plan.json')); assert all(q['step_seconds'] > 0 for q in p['points'])" ||
  fail "plan.json lacks measured step times"

# Bad sweep files: each must be refused with exit 2 and the position of the culprit.
bad() {  # NAME EXPECTED_POSITION EXPECTED_TEXT  (sweep text on stdin)
  cat >"$WORK/$1.yaml"
  expect_exit 2 "$MOR" sweep plan "$WORK/$1.yaml" --out "$WORK/bad-$1" --bench-steps 0
  grep -q "$1.yaml:$2: .*$3" "$WORK/err" || fail "$1: expected '$1.yaml:$2: ...$3', got: $(cat "$WORK/err")"
  [ ! -e "$WORK/bad-$1" ] || fail "$1: a refused plan left $WORK/bad-$1 behind"
}
head -n 4 sw.yaml >head.yaml
{ cat head.yaml; echo "sizes: [{name: a, d_model: 32}]"; echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1]"; echo "budget: [1.0e9]"; } |
  bad unknown_axis 8:1 "unknown key 'budget'"
{ cat head.yaml; echo "sizes:"; echo "  - {name: a, width: 32}"; echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1]"; } |
  bad unknown_size_key 6:15 "unknown key 'width'"
{ echo "name: x"; echo "base: tiny.yaml"; echo "budgets: [1.0e3]"; echo "sizes: [{name: a, d_model: 32}]";
  echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1]"; } | bad small_budget 3:11 "budget 1000 buys"
{ cat head.yaml; echo "sizes:"; echo "  - {name: a, d_model: 64, n_heads: 3}"; echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1]"; } |
  bad heads 6:37 "n_heads=3 does not divide d_model=64"
{ cat head.yaml; echo "sizes: [{name: a, d_model: 32}]"; echo "variants:"; echo "  - {name: v, kind: mor_experts, num_recursions: 3}";
  echo "seeds: [1]"; } | bad kind 7:21 "kind 'mor_experts'"
{ cat head.yaml; echo "sizes: [{name: a, d_model: 32}]"; echo "variants:"; echo "  - {name: v, kind: recursive, num_recursions: 2}";
  echo "seeds: [1]"; } | bad layers 5:9 "n_layers=5 with middle_cycle sharing"
{ echo "name: x"; echo "base: tiny.yaml"; echo "budgets: [1.0e14]"; echo "sizes: [{name: a, d_model: 32}]";
  echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1]"; } | bad epochs 3:11 "passes over the"
{ cat head.yaml; echo "sizes: [{name: a, d_model: 32}]"; echo "variants: [{name: v, kind: vanilla}]"; echo "seeds: [1, 1]"; } |
  bad seeds 7:12 "seed 1 appears twice"
{ cat head.yaml; echo "sizes: [{name: a, d_model: 32}"; } | bad syntax "[0-9]*:[0-9]*" "YAML syntax error"
echo "PASS"
