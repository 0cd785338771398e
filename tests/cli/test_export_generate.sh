#!/usr/bin/env bash
# eval / export / import / generate: an exported directory and its re-import evaluate exactly like
# the checkpoint; export keys follow MOR.md section 10; generation is seeded and JSON-clean.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run" --quiet >/dev/null
ck="$WORK/run/$(cat "$WORK/run/latest")"
"$MOR" eval --checkpoint "$ck" --data "$WORK/ds" --json >"$WORK/e1.json"
"$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf" >/dev/null
for f in model.safetensors config.json tokenizer.model; do test -f "$WORK/hf/$f" || fail "export lacks $f"; done
python3 - "$WORK/hf" <<'PY'
import json, struct, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
assert cfg["architectures"] == ["MoRLlamaForCausalLM"], cfg["architectures"]
assert cfg["mor"]["type"] == "expert" and cfg["mor"]["num_recursion"] == 3, cfg["mor"]
f = open(d + "/model.safetensors", "rb"); n = struct.unpack("<Q", f.read(8))[0]; keys = set(json.loads(f.read(n))) - {"__metadata__"}
# Middle-Cycle expert MoR, N_r = 3, B = 1: layers.0, layers.{1,2,3}.block.0 + routers, layers.4.
for k in ["model.layers.0.self_attn.q_proj.weight", "model.layers.2.block.0.mlp.down_proj.weight",
          "model.layers.3.mor_router.router.weight", "model.layers.4.post_attention_layernorm.weight",
          "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]:
    assert k in keys, k
assert len(keys) == 3 + 5 * 9 + 3, len(keys)
PY
"$MOR" eval --checkpoint "$WORK/hf" --data "$WORK/ds" --json >"$WORK/e2.json"
"$MOR" eval --checkpoint "$WORK/run" --data "$WORK/ds" --json >"$WORK/e4.json"  # a run directory: its latest
"$MOR" import --hf "$WORK/hf" --out "$WORK/imported.h5" >/dev/null
"$MOR" eval --checkpoint "$WORK/imported.h5" --data "$WORK/ds" --json >"$WORK/e3.json"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
e = [json.load(open(f"{w}/e{i}.json")) for i in (1, 2, 3, 4)]
for k in ("loss", "loss_threshold", "tokens"):
    assert e[0][k] == e[1][k] == e[2][k] == e[3][k], (k, e)
assert e[0]["perplexity"] > 1
PY
"$MOR" generate --checkpoint "$ck" --prompt "Licensed under" --max-new-tokens 8 --seed 3 --json >"$WORK/g1.json"
"$MOR" generate --checkpoint "$WORK/hf" --prompt "Licensed under" --max-new-tokens 8 --seed 3 --json >"$WORK/g2.json"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
a, b = json.load(open(w + "/g1.json")), json.load(open(w + "/g2.json"))
assert a["tokens"] == b["tokens"] and 1 <= len(a["tokens"]) <= 8, (a, b)
assert len(a["recursion_tokens"]) == 3
assert all(isinstance(t, int) for t in a["tokens"] + a["recursion_tokens"]), a  # ids are JSON integers
PY
expect_exit 2 "$MOR" eval --checkpoint "$WORK/none.h5" --data "$WORK/ds"
grep -q "none.h5: no such checkpoint" "$WORK/err" || fail "missing checkpoint message"
expect_exit 2 "$MOR" export --checkpoint "$ck" --format onnx --out "$WORK/x"
expect_exit 2 "$MOR" import --hf "$WORK/no-export" --out "$WORK/x.h5"
grep -q "no such export directory" "$WORK/err" || fail "import of a missing directory: $(cat "$WORK/err")"
# An existing export is kept unless --overwrite; with it, the new export replaces the old one whole.
# A directory holding anything an export does not (here a stray file) is never replaced.
expect_exit 2 "$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf"
grep -q "already exists. Hint: pass --overwrite" "$WORK/err" || fail "existing export: $(cat "$WORK/err")"
echo old >"$WORK/hf/tokenizer.model"
"$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf" --overwrite >/dev/null
cmp -s "$WORK/hf/tokenizer.model" "$WORK/ds/tokenizer.model" || fail "--overwrite did not replace the export"
touch "$WORK/hf/stale-file"
expect_exit 2 "$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf" --overwrite
grep -q "it is not an export directory" "$WORK/err" || fail "export over a foreign file: $(cat "$WORK/err")"
[ -e "$WORK/hf/stale-file" ] || fail "--overwrite replaced a directory that is not an export"
rm "$WORK/hf/stale-file"
ls -d "$WORK"/hf.tmp-* >/dev/null 2>&1 && fail "export left a temporary directory"
expect_exit 2 "$MOR" export --checkpoint "$ck" --format hf --out "$WORK/no/such/parent/hf"
grep -q "does not exist. Hint: create it first" "$WORK/err" || fail "missing parent: $(cat "$WORK/err")"
[ ! -e "$WORK/no" ] || fail "export created missing parent directories"
# A tokenizer that does not fit the model is refused; one that cannot be found is a warning.
expect_exit 2 "$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf2" --tokenizer "$WORK/none.model"
mv "$WORK/ds/tokenizer.model" "$WORK/tok.away"
"$MOR" export --checkpoint "$ck" --format hf --out "$WORK/hf3" 2>"$WORK/warn" >/dev/null
mv "$WORK/tok.away" "$WORK/ds/tokenizer.model"
grep -q "warning: .*tokenizer.model not found" "$WORK/warn" || fail "missing tokenizer warning: $(cat "$WORK/warn")"
expect_exit 2 "$MOR" import --hf "$WORK/hf" --out "$WORK/imported.h5"
grep -q "already exists" "$WORK/err" || fail "import over an existing file: $(cat "$WORK/err")"
echo ok
