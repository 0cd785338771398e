#!/usr/bin/env bash
# Interoperability without the Python reference environment (issue 14): export -> import -> export
# is bit-identical and the exported mor block holds resolved values only; --unrolled writes a
# Recursive model as a plain Llama; --format gguf writes a GGUF v3 file (checked here for its
# header; tensor by tensor by test_reference_env.sh) and refuses MoR models; the capacity warm-up
# counts training forward calls from 1 under gradient accumulation, as upstream.
source "$(dirname "$0")/common.sh"
small_dataset
for kind in expert recursive vanilla; do
  case $kind in
    expert) extra="" ;;
    recursive) extra="--set model.mor.type=none" ;;
    vanilla) extra="--set model.mor.type=none --set model.recursion.sharing=none --set model.recursion.num_recursions=1 --set model.n_layers=3" ;;
  esac
  tiny_config
  # shellcheck disable=SC2086
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run-$kind" --quiet --set train.steps=2 $extra >/dev/null
done
# export -> import -> export: both directories byte for byte equal.
for kind in expert recursive vanilla; do
  "$MOR" export --checkpoint "$WORK/run-$kind" --out "$WORK/$kind-a" >/dev/null
  "$MOR" import --hf "$WORK/$kind-a" --out "$WORK/$kind.h5" >/dev/null
  "$MOR" export --checkpoint "$WORK/$kind.h5" --out "$WORK/$kind-b" --tokenizer "$WORK/ds/tokenizer.model" >/dev/null
  for f in config.json model.safetensors tokenizer.model; do
    cmp -s "$WORK/$kind-a/$f" "$WORK/$kind-b/$f" || fail "$kind: export -> import -> export changed $f"
  done
done
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def walk(v, path):
    assert v is not None and v != [] and v != "" and v != -1, f"placeholder at {path}: {v!r}"
    if isinstance(v, dict):
        for k, x in v.items(): walk(x, path + "." + k)
    elif isinstance(v, list):
        for x in v: walk(x, path + "[]")
e = json.load(open(w + "/expert-a/config.json"))["mor"]
walk(e, "mor")
assert e["type"] == "expert" and e["capacity"] == [1.0, 2 / 3, 1 / 3] and e["expert"]["alpha"] == 0.1, e
assert e["expert"]["router_func"] == "sigmoid" and e["kv_mode"] == "cache" and e["base_depth"] == 1, e
r = json.load(open(w + "/recursive-a/config.json"))
walk(r["mor"], "mor")
assert r["architectures"] == ["MoRLlamaForCausalLM"] and r["mor"]["enable"] is False, r["mor"]
assert "mor" not in json.load(open(w + "/vanilla-a/config.json"))
PY
# --unrolled: a plain Llama of the 5 effective layers, which evaluates like the Recursive model.
"$MOR" export --checkpoint "$WORK/run-recursive" --out "$WORK/unrolled" --unrolled >/dev/null
python3 - "$WORK/unrolled" <<'PY'
import json, struct, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
assert cfg["architectures"] == ["LlamaForCausalLM"] and "mor" not in cfg and cfg["num_hidden_layers"] == 5, cfg
f = open(d + "/model.safetensors", "rb"); n = struct.unpack("<Q", f.read(8))[0]
keys = set(json.loads(f.read(n))) - {"__metadata__"}
assert {f"model.layers.{l}.mlp.up_proj.weight" for l in range(5)} <= keys and len(keys) == 3 + 5 * 9, sorted(keys)
PY
# Read as a plain Llama (without mor_train_config: 5 independent layers), it evaluates exactly like
# the Recursive model.
python3 -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); del c['mor_train_config']; json.dump(c, open(p,'w'))" \
  "$WORK/unrolled/config.json"
"$MOR" eval --checkpoint "$WORK/run-recursive" --data "$WORK/ds" --json >"$WORK/r1.json"
"$MOR" eval --checkpoint "$WORK/unrolled" --data "$WORK/ds" --seq-len 32 --json >"$WORK/r2.json"
python3 - "$WORK" <<'PY'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/r{i}.json")) for i in (1, 2))
assert a["loss"] == b["loss"] and a["tokens"] == b["tokens"], (a, b)
PY
expect_exit 2 "$MOR" export --checkpoint "$WORK/run-expert" --out "$WORK/x" --unrolled
grep -q "cannot be unrolled" "$WORK/err" || fail "unrolled MoR: $(cat "$WORK/err")"
# GGUF: vanilla and Recursive; MoR refused; overwrite only a GGUF file.
"$MOR" export --checkpoint "$WORK/run-vanilla" --format gguf --out "$WORK/v.gguf" >/dev/null
"$MOR" export --checkpoint "$WORK/run-recursive" --format gguf --out "$WORK/r.gguf" >/dev/null
python3 - "$WORK" <<'PY'
import struct, sys
for name, tensors in (("v", 2 + 3 * 9), ("r", 2 + 5 * 9)):
    b = open(f"{sys.argv[1]}/{name}.gguf", "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", b[:24])
    assert magic == b"GGUF" and version == 3 and n_tensors == tensors and n_kv >= 16, (name, magic, version, n_tensors, n_kv)
PY
expect_exit 2 "$MOR" export --checkpoint "$WORK/run-expert" --format gguf --out "$WORK/e.gguf"
grep -q "cannot be exported as GGUF" "$WORK/err" || fail "GGUF of a MoR model: $(cat "$WORK/err")"
expect_exit 2 "$MOR" export --checkpoint "$WORK/run-vanilla" --format gguf --out "$WORK/v.gguf"
grep -q "already exists" "$WORK/err" || fail "existing GGUF: $(cat "$WORK/err")"
"$MOR" export --checkpoint "$WORK/run-vanilla" --format gguf --out "$WORK/v.gguf" --overwrite >/dev/null
echo text >"$WORK/notes.txt"
expect_exit 2 "$MOR" export --checkpoint "$WORK/run-vanilla" --format gguf --out "$WORK/notes.txt" --overwrite
grep -q "not a GGUF file" "$WORK/err" || fail "GGUF over a foreign file: $(cat "$WORK/err")"
# Capacity warm-up (MOR.md 3.2) under gradient accumulation: forward call k of the run (from 1) uses
# c + (1 - c) * 0.5 * (1 + cos(pi * min(1, k / (W * grad_accum)))), W = cap_warmup_steps.
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run-warm" --quiet --set train.steps=3 \
  --set model.mor.cap_warmup_steps=2 --set train.eval=false >/dev/null
python3 - "$WORK/run-warm/metrics.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
B, T, GA, W, nr = 4, 32, 2, 2, 3
for r in rows:
    want = [0] * nr
    for m in range(GA):
        k = (r["step"] - 1) * GA + m + 1
        decay = 0.5 * (1 + math.cos(math.pi * min(1.0, k / (W * GA))))
        for s in range(nr):
            c = (nr - s) / nr
            want[s] += B * max(1, int(math.floor((c + (1 - c) * decay) * T)))
    assert r["route_tokens"] == want, (r["step"], r["route_tokens"], want)
PY
echo ok
