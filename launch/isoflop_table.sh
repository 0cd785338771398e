#!/usr/bin/env bash
# Quality at equal compute on the built-in corpus: trains vanilla, Recursive (N_r = 3) and MoR
# expert-choice (N_r = 2 and 3) until the same forward-FLOP budget (configs/isoflop/, 1e13) is
# spent, then prints a markdown table of validation loss, unique parameters, tokens and wall time.
# Runs with a summary.json already in runs/isoflop/NAME are reused (delete them to re-run).
set -euo pipefail
cd "$(dirname "$0")/.."
MOR="${MOR:-build/src/cli/mor}"
bash launch/prepare_default_corpus.sh >/dev/null
for name in vanilla recursive3 mor2 mor3; do
  dir="runs/isoflop/$name"
  if [ ! -f "$dir/summary.json" ]; then
    "$MOR" train --config "configs/isoflop/$name.yaml" --run-dir "$dir" --fresh --quiet --set train.log_every=50 "$@"
  fi
done
python3 - <<'PY'
import json
rows = [("Vanilla (8 layers)", "vanilla"), ("Recursive, Middle-Cycle N_r=3", "recursive3"),
        ("MoR expert-choice N_r=2", "mor2"), ("MoR expert-choice N_r=3", "mor3")]
print("| model | unique params (non-emb.) | steps | tokens | val loss | val ppl | train time |")
print("|---|---|---|---|---|---|---|")
for label, name in rows:
    s = json.load(open(f"runs/isoflop/{name}/summary.json"))
    print(f"| {label} | {s['unique_params'] / 1e6:.2f}M ({s['unique_params_non_embedding'] / 1e6:.2f}M) | {s['steps']} | "
          f"{s['tokens'] / 1e6:.3f}M | {s['val_loss']:.4f} | {s['val_ppl']:.1f} | {s['train_seconds'] / 60:.1f} min |")
PY
