#!/usr/bin/env bash
# Quality at equal compute on the built-in corpus (README "Quality"): the sweep
# configs/sweeps/isoflop-table.yaml (vanilla, Recursive-3, MoR expert-choice N_r = 2 and 3 at one
# budget, one seed) planned into runs/isoflop-table, run (finished points are kept; interrupted
# ones resume), and reported (runs/isoflop-table/report.md holds the table).
#   usage: launch/isoflop_table.sh [--jobs J]       (MOR=path/to/mor, default build/src/cli/mor)
set -euo pipefail
cd "$(dirname "$0")/.."
MOR="${MOR:-build/src/cli/mor}"
bash launch/prepare_default_corpus.sh >/dev/null
"$MOR" sweep plan configs/sweeps/isoflop-table.yaml --out runs/isoflop-table --bench-steps 0 "$@" >/dev/null
"$MOR" sweep run runs/isoflop-table "$@"
"$MOR" sweep report runs/isoflop-table
sed -n '/^## Every point/,$p' runs/isoflop-table/report.md
