#!/usr/bin/env bash
# Bad input to generation, import and sweeps (the audit of 2026-12-07; before, each of these ran
# with exit 0 and a wrong result, or crashed with a library message): prompts that are not UTF-8,
# Windows line ends and a byte-order mark in a prompts file, out-of-range seeds and batches, a
# throughput benchmark whose queries the KV budget refused, a NaN weight in an import, sweep `set:`
# values the sweep replaces, a damaged plan.json, a missing point directory.
source "$(dirname "$0")/common.sh"

small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run" --quiet >/dev/null
G=(generate --checkpoint "$WORK/run" --max-new-tokens 5 --seed 3 --json)

# --- prompts ---------------------------------------------------------------------------------------
expect_exit 2 "$MOR" "${G[@]}" --prompt "$(printf 'Lic\xff\xfeensed')"
expect_msg "--prompt: not UTF-8 text (byte 3 is 0xff)"
[ ! -s "$WORK/out" ] || fail "a refused prompt printed output"
printf 'Licensed under\nThe \xff license\n' >"$WORK/bad.txt"
expect_exit 2 "$MOR" "${G[@]}" --prompts "$WORK/bad.txt"
expect_msg "$WORK/bad.txt line 2: not UTF-8 text"
[ ! -s "$WORK/out" ] || fail "half the output of a refused prompts file was printed"
printf 'Licensed under\nThe license\n' >"$WORK/lf.txt"
printf 'Licensed under\r\nThe license\r\n' >"$WORK/crlf.txt"
printf '\xef\xbb\xbfLicensed under\nThe license\n' >"$WORK/bom.txt"
for f in lf crlf bom; do "$MOR" "${G[@]}" --prompts "$WORK/$f.txt" >"$WORK/$f.json"; done
python3 - "$WORK" <<'PY' || fail "CRLF line ends or a byte-order mark changed the prompts"
import json, sys
rows = {f: [json.loads(l) for l in open(f"{sys.argv[1]}/{f}.json")] for f in ("lf", "crlf", "bom")}
key = lambda rs: [(r["prompt"], r["prompt_tokens"], r["tokens"]) for r in rs]
assert key(rows["crlf"]) == key(rows["lf"]) and key(rows["bom"]) == key(rows["lf"]), rows
PY
expect_exit 2 "$MOR" "${G[@]}" --prompts "$WORK/ds"
expect_msg "$WORK/ds: is a directory"
printf '\xef\xbb\xbf\r\n' >"$WORK/bom_only.txt"
expect_exit 2 "$MOR" "${G[@]}" --prompts "$WORK/bom_only.txt"
expect_msg "the prompts file is empty"
printf 'Lic\0ensed\n' >"$WORK/nul.txt"
expect_exit 2 "$MOR" "${G[@]}" --prompts "$WORK/nul.txt"
expect_msg "$WORK/nul.txt line 1: holds a NUL byte (byte 3)"
{ echo "Licensed under"; head -c 3000 /usr/share/common-licenses/GPL-3 | tr '\n' ' '; echo; } >"$WORK/long.txt"
expect_exit 2 "$MOR" "${G[@]}" --prompts "$WORK/long.txt"
expect_msg "$WORK/long.txt line 2: "
expect_exit 2 "$MOR" generate --checkpoint "$WORK/run" --prompt "x" --max-new-tokens 9223372036854775807
expect_msg "--prompt: 1 prompt tokens + --max-new-tokens 9223372036854775807 positions, more than 8 x"
for seed in -1 18446744073709551616; do
  expect_exit 2 "$MOR" generate --checkpoint "$WORK/run" --prompt "x" --seed "$seed"
  expect_msg "must be an integer in [0, 18446744073709551615] (got $seed)"
done

# --- bench generate --------------------------------------------------------------------------------
expect_exit 2 "$MOR" bench generate --checkpoint "$WORK/run" --queries 2 --mean-len 4 --warmup 0 --batch 2x
expect_msg "--batch '2x': use a positive integer or max."
expect_exit 1 "$MOR" bench generate --checkpoint "$WORK/run" --queries 4 --mean-len 32 --batch max --kv-budget 5000 --warmup 0 --json
expect_msg "error: 4 of 4 queries were refused or cut short"
python3 -c "import json,sys; r = json.load(open(sys.argv[1])); assert r['failed_queries'] == 4, r" "$WORK/out" ||
  fail "the JSON does not count the failed queries: $(cat "$WORK/out")"

# --- import of a damaged model; a tokenizer the model's dataset path does not hold -------------------
"$MOR" export --checkpoint "$WORK/run" --out "$WORK/hf" >/dev/null
cp -r "$WORK/hf" "$WORK/hf_nan"
python3 - "$WORK/hf_nan/model.safetensors" <<'PY'
import json, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
key = next(k for k in sorted(header) if k != "__metadata__")
start = 8 + n + header[key]["data_offsets"][0]
raw[start:start + 4] = struct.pack("<f", float("nan"))
open(sys.argv[1], "wb").write(raw)
PY
expect_exit 2 "$MOR" import --hf "$WORK/hf_nan" --out "$WORK/nan.h5"
expect_msg "holds NaN at element 0"
[ ! -e "$WORK/nan.h5" ] || fail "a refused import wrote its checkpoint"
# A model trained on a dataset that is gone, without --tokenizer: the hint names the flag.
cp -r "$WORK/ds" "$WORK/ds_gone"
"$MOR" train --config "$WORK/tiny.yaml" --set data.path="$WORK/ds_gone" --run-dir "$WORK/run_gone" --set train.steps=1 --quiet >/dev/null
rm -rf "$WORK/ds_gone"
expect_exit 2 "$MOR" generate --checkpoint "$WORK/run_gone" --prompt "x"
expect_msg "Hint: pass --tokenizer with the tokenizer.model of the dataset the model was trained on."
# kv_mode share on a model without recursions would be ignored.
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set model.kv_mode=share --set model.recursion.sharing=none \
  --set model.recursion.num_recursions=1 --set model.mor.type=none
expect_msg "model.kv_mode share shares K/V across recursions, and this model has none"

# --- sweeps ----------------------------------------------------------------------------------------
cd "$WORK"
cat >sw.yaml <<'YAML'
name: inputs
base: tiny.yaml
set: [train.eval_windows=2, train.seed=99]
budgets: [2.0e8]
sizes:
  - {name: w32, d_model: 32, n_heads: 2, d_ff: 64}
variants:
  - {name: van, kind: vanilla}
  - {name: rec, kind: recursive, num_recursions: 3}
seeds: [1]
YAML
expect_exit 2 "$MOR" sweep plan sw.yaml --out P --bench-steps 0
expect_msg "sw.yaml:3:29: 'train.seed=99': the sweep sets train.seed of every point from its seeds list"
sed -i 's/, train.seed=99//' sw.yaml
expect_exit 2 "$MOR" sweep plan sw.yaml --out P --bench-steps 0 --set train.steps=5
expect_msg "--set train.steps=5: 'train.steps=5': the sweep sets train.steps of every point from its budgets list"
expect_exit 2 "$MOR" sweep plan sw.yaml --out P --bench-steps 0 --set 'train={seed: 5, lr: 0.01}'
expect_msg "the sweep sets train.seed of every point from its seeds list"
"$MOR" sweep plan sw.yaml --out P --bench-steps 0 >/dev/null
cp -r P P_array && echo '[1, 2]' >P_array/plan.json
expect_exit 2 "$MOR" sweep run P_array
expect_msg "P_array/plan.json: not a sweep plan this version reads"
for edit in empty type; do
  cp -r P "P_$edit"
  python3 - "P_$edit/plan.json" "$edit" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
if sys.argv[2] == "empty": p["points"] = []
else: p["points"][0]["steps"] = "10"
json.dump(p, open(sys.argv[1], "w"))
PY
  expect_exit 2 "$MOR" sweep run "P_$edit"
  expect_msg "P_$edit/plan.json: "
done
expect_msg "a value has the wrong type"
head -c 100 P/plan.json >P_empty/plan.json
expect_exit 2 "$MOR" sweep run P_empty
expect_msg "plan.json: not valid JSON (truncated or edited?)"
# A point directory that is gone fails that point; the other one still runs.
first=$(python3 -c "import json; print(json.load(open('P/plan.json'))['points'][0]['id'])")
rm -rf "P/points/$first"
expect_exit 1 "$MOR" sweep run P --jobs 1
grep -q "sweep: FAILED $first: .* or its config.yaml is missing" "$WORK/out" || fail "missing point: $(cat "$WORK/out")"
[ "$(ls P/points/*/summary.json | wc -l)" -eq 1 ] || fail "the other point did not run: $(cat "$WORK/out")"
# A point with dist.tp 2 cannot run in one process: under the local launcher it fails alone.
sed -e 's/name: inputs/name: tp/' -e 's/  - {name: w32, d_model: 32, n_heads: 2, d_ff: 64}/  - {name: w32, d_model: 32, n_heads: 2, d_ff: 64}\n  - {name: t32, d_model: 32, n_heads: 2, n_kv_heads: 2, d_ff: 64, set: [dist.tp=2]}/' \
  -e 's/  - {name: rec, kind: recursive, num_recursions: 3}//' sw.yaml >tp.yaml
"$MOR" sweep plan tp.yaml --out T --bench-steps 0 >/dev/null
expect_exit 1 "$MOR" sweep run T --jobs 1
grep -q "sweep: FAILED .*-t32-.*: one process cannot run sweep point .* (dist.tp 2 needs a multiple of 2 ranks). Hint: run the sweep with --launcher mpirun" "$WORK/out" ||
  fail "tp point under the local launcher: $(cat "$WORK/out")"
[ "$(ls T/points/*/summary.json | wc -l)" -eq 1 ] || fail "the tp=1 point did not run: $(cat "$WORK/out")"
echo "generate and sweep inputs: ok"
