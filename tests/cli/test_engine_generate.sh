#!/usr/bin/env bash
# The inference engine from the command line: `mor generate --prompts FILE` decodes several prompts
# together and gives each one the tokens it gets alone (same seed); a KV budget too small for a
# prompt is refused with a message; `mor bench generate` reports the protocol's numbers (fixed
# batch and --batch max under a KV budget) as JSON.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
# Seed 1: its routers stop some tokens early at decoding on the machines tried (the accounting
# check below holds either way).
"$MOR" train --config "$WORK/tiny.yaml" --set train.seed=1 --run-dir "$WORK/run" --quiet >/dev/null
ck="$WORK/run/$(cat "$WORK/run/latest")"
printf 'Licensed under\nThe license\n\nPermission is hereby granted\n' >"$WORK/prompts.txt"
"$MOR" generate --checkpoint "$ck" --prompts "$WORK/prompts.txt" --max-new-tokens 10 --seed 4 --batch 3 --json >"$WORK/all.jsonl"
i=0
while IFS= read -r p; do
  "$MOR" generate --checkpoint "$ck" --prompt "$p" --max-new-tokens 10 --seed $((4 + i)) --json >"$WORK/one$i.json"
  i=$((i + 1))
done <"$WORK/prompts.txt"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
together = [json.loads(l) for l in open(w + "/all.jsonl")]
assert len(together) == 4, together
for i, t in enumerate(together):
    alone = json.load(open(f"{w}/one{i}.json"))
    assert t["prompt"] == alone["prompt"] and t["tokens"] == alone["tokens"], (i, t, alone)
    assert 1 <= len(t["tokens"]) <= 10 and t["kv_cache_bytes"] > 0, t
PY
expect_exit 2 "$MOR" generate --checkpoint "$ck" --max-new-tokens 4
grep -q "give either --prompt TEXT or --prompts FILE" "$WORK/err" || fail "no prompt: $(cat "$WORK/err")"
expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompt "x" --prompts "$WORK/prompts.txt"
expect_exit 2 "$MOR" generate --checkpoint "$ck" --prompts "$WORK/no-such-prompts.txt"
grep -q "no-such-prompts.txt: cannot open the prompts file. Hint:" "$WORK/err" || fail "missing prompts file: $(cat "$WORK/err")"
expect_exit 1 "$MOR" generate --checkpoint "$ck" --prompt "Licensed under" --max-new-tokens 40 --kv-budget 20000
grep -q "cannot fit: .* Hint: raise the KV budget" "$WORK/err" || fail "small budget: $(cat "$WORK/err")"

"$MOR" bench generate --checkpoint "$ck" --queries 12 --mean-len 8 --batch 4 --warmup 2 --json >"$WORK/b4.json"
"$MOR" bench generate --checkpoint "$ck" --queries 12 --mean-len 8 --batch max --kv-budget 400000 --warmup 2 --json >"$WORK/bmax.json"
expect_exit 2 "$MOR" bench generate --checkpoint "$ck" --batch max
grep -q "needs --kv-budget" "$WORK/err" || fail "batch max without budget: $(cat "$WORK/err")"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
b4, bm = json.load(open(w + "/b4.json")), json.load(open(w + "/bmax.json"))
for b in (b4, bm):
    assert b["queries"] == 12 and b["generated_tokens"] > 0 and b["tokens_per_s"] > 0, b
    assert 0 < b["mean_block_occupancy"] <= 1 and len(b["tokens_per_step"]) == 3, b
    assert b["kv_bytes_peak_used"] <= b["kv_bytes_allocated"] <= b["kv_budget_bytes"] + 8192, b
    # KV bytes per token follow each token's depth: the 2 unshared layers always cache, each of the
    # 3 recursions of the shared layer (base depth 1) for the tokens that reached it.
    row = b["kv_bytes_per_token_all_layers"] / 5
    want = row * (2 + sum(b["tokens_per_step"]) / b["generated_tokens"])
    assert abs(b["kv_bytes_per_token"] - want) < 1e-6 * want, (want, b)
assert b4["peak_running"] <= 4 and bm["peak_running"] > 4, (b4["peak_running"], bm["peak_running"])
assert b4["generated_tokens"] == bm["generated_tokens"]  # the same lengths
PY
echo ok
