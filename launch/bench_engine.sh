#!/usr/bin/env bash
# Inference-engine study (README "Inference engine"; MOR.md 8's protocol at our scale): `mor bench
# generate` of a vanilla model and MoR-2/3/4 of the same effective depth, at a fixed batch (32)
# and at the largest batch one KV budget admits (--batch max), REPEATS times interleaved
# (vanilla, MoR-2, MoR-3, MoR-4, then again), so that a changing machine load hits every model
# alike. Prints medians, tokens/s normalised to vanilla beside the paper's speed-ups, and KV bytes
# per token beside the paper's memory claim.
#   launch/bench_engine.sh RUNS_PREFIX [REPEATS] [QUERIES] [MEAN_LEN]
#   RUNS_PREFIX: run directories RUNS_PREFIX-{vanilla,mor2,mor3,mor4} (configs/engine-study/)
#   env MOR (default build/src/cli/mor), BUDGET (bytes; default: 32 vanilla sequences of
#   MEAN_LEN + 1 tokens in whole 16-token pages of the engine-study models' 1028-byte rows)
set -euo pipefail
prefix=$1 repeats=${2:-3} queries=${3:-96} len=${4:-64}
MOR=${MOR:-build/src/cli/mor}
budget=${BUDGET:-$((32 * 14 * ((len + 1 + 15) / 16) * 16 * 1028))}
out=$(mktemp)
for rep in $(seq "$repeats"); do
  for m in vanilla mor2 mor3 mor4; do
    for b in 32 max; do
      extra=()
      [ "$b" = max ] && extra=(--kv-budget "$budget")
      r=$("$MOR" bench generate --checkpoint "$prefix-$m" --queries "$queries" --mean-len "$len" --batch "$b" "${extra[@]}" --json)
      echo "{\"model\": \"$m\", \"setting\": \"$b\", \"rep\": $rep, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"r\": $r}" >>"$out"
      echo "rep $rep $m batch $b: $(echo "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f tok/s, running %.1f" % (d["tokens_per_s"], d["mean_running"]))')" >&2
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
paper = {"32": {"mor2": 1.23, "mor3": 1.33, "mor4": 1.42}, "max": {"mor2": 1.60, "mor3": 1.95, "mor4": 2.06}}
def med(m, s, k): return st.median(x["r"][k] for x in rows if x["model"] == m and x["setting"] == s)
print("| model | batch | tokens/s (median) | x vanilla | paper | sequences running: mean (peak) | rows per block batch | block time share | KV bytes/token | KV vs vanilla: measured (expected at capacity) | tokens per recursion |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s in ("32", "max"):
    base = med("vanilla", s, "tokens_per_s")
    kv0 = med("vanilla", s, "kv_bytes_per_token")
    for m in ("vanilla", "mor2", "mor3", "mor4"):
        last = [x["r"] for x in rows if x["model"] == m and x["setting"] == s][-1]
        tps = med(m, s, "tokens_per_s")
        print("| %s | %s | %.1f | %.2f | %s | %.1f (%d) | %.1f | %.2f | %.0f | %.2f (%.2f) | %s |" % (
            m, "B=32" if s == "32" else "B=max", tps, tps / base, "x%.2f" % paper[s][m] if m in paper[s] else "-",
            med(m, s, "mean_running"), last["peak_running"], med(m, s, "mean_block_rows"), med(m, s, "block_share"),
            med(m, s, "kv_bytes_per_token"), med(m, s, "kv_bytes_per_token") / kv0,
            last["kv_bytes_per_token_expected"] / last["kv_bytes_per_token_all_layers"], "/".join(map(str, last["tokens_per_step"]))))
print()
print("loads (1/5/15 min) during the runs: " + ", ".join(sorted({x["load"] for x in rows})))
PY
rm -f "$out"
