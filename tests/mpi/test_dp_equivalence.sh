#!/usr/bin/env bash
# Data parallelism is the same training as one process with the global batch: for vanilla,
# expert-choice and token-choice (loss-free bias) MoR, 20 steps of
#   1 rank x micro_batch 8  ==  2 ranks x micro_batch 4  ==  2 ranks x 4 with ZeRO-1  ==  4 ranks x 2
# per-step losses and final parameters within 1e-4 (float32 sums in another order: ~1e-7 seen).
# Then resume across layouts: DP2+ZeRO-1 for 10 steps, resumed on 1 rank, then on 4 ranks,
# continues the straight single-rank run. A FLOP budget is spent by all ranks together (2 ranks x
# micro_batch 4 take the steps of 1 x 8). Usage: test_dp_equivalence.sh MOR_BINARY
source "$(dirname "$0")/../cli/common.sh"
source "$(dirname "$0")/train_compare.sh"  # 1 thread per rank, the dataset, TOL=1e-4, helpers
for variant in vanilla expert token; do
  tiny_config
  case $variant in
    vanilla) sed -i 's/    type: expert/    type: none/; s/    sharing: middle_cycle/    sharing: none/; s/    num_recursions: 3/    num_recursions: 1/' "$WORK/tiny.yaml" ;;
    token) sed -i 's/    type: expert/    type: token\n    balancing: loss_free\n    bias_update_rate: 0.01/' "$WORK/tiny.yaml" ;;
  esac
  common=(train --config "$WORK/tiny.yaml" --quiet --set train.steps=20 --set train.grad_accum=1)
  "$MOR" "${common[@]}" --run-dir "$WORK/$variant-1x8" --set train.micro_batch=8 >/dev/null
  mpi 2 "${common[@]}" --run-dir "$WORK/$variant-2x4" --set train.micro_batch=4 >/dev/null
  mpi 2 "${common[@]}" --run-dir "$WORK/$variant-2x4z" --set train.micro_batch=4 --set dist.zero=1 >/dev/null
  mpi 4 "${common[@]}" --run-dir "$WORK/$variant-4x2" --set train.micro_batch=2 >/dev/null
  for other in 2x4 2x4z 4x2; do
    close "$WORK/$variant-1x8/metrics.jsonl" "$WORK/$variant-$other/metrics.jsonl" "$variant 1x8 vs $other"
    same_params "$WORK/$variant-1x8" "$WORK/$variant-$other" "$variant 1x8 vs $other"
  done
done

# Resume across layouts (token-choice config from the loop: the router bias is state too).
common=(train --config "$WORK/tiny.yaml" --quiet --set train.grad_accum=1)
mpi 2 "${common[@]}" --run-dir "$WORK/xl" --set train.steps=20 --set train.micro_batch=4 --set dist.zero=1 --stop-at-step 8 >/dev/null
"$MOR" "${common[@]}" --run-dir "$WORK/xl" --set train.steps=20 --set train.micro_batch=8 --stop-at-step 14 >"$WORK/out"
grep -q "resumed from .*ckpt-00000008.h5 at step 8" "$WORK/out" || fail "DP2 -> DP1 resume: $(head -2 "$WORK/out")"
mpi 4 "${common[@]}" --run-dir "$WORK/xl" --set train.steps=20 --set train.micro_batch=2 >"$WORK/out"
grep -q "resumed from .*ckpt-00000014.h5 at step 14" "$WORK/out" || fail "DP1 -> DP4 resume: $(head -2 "$WORK/out")"
close "$WORK/token-1x8/metrics.jsonl" "$WORK/xl/metrics.jsonl" "DP2+ZeRO (8 steps) -> DP1 (6) -> DP4 (6) vs 1x8 straight"
same_params "$WORK/token-1x8" "$WORK/xl" "resumed across layouts"

# A FLOP budget is spent by all ranks together: 2 ranks x micro_batch 4 take as many steps as 1 rank
# x 8 (not twice as many), `mor flops --dp 2` says so, and the runs are the same training.
sed 's/^  steps: .*/  steps: 0/' "$WORK/tiny.yaml" >"$WORK/budget.yaml"  # 0: the budget decides
common=(train --config "$WORK/budget.yaml" --quiet --set train.grad_accum=1)
budget=$("$MOR" flops --config "$WORK/budget.yaml" --set train.micro_batch=8 --set train.grad_accum=1 --set train.budget_flops=1e12 --json |
         python3 -c "import json,sys; r = json.load(sys.stdin); print(r['flops_per_token'] * r['tokens_per_step'] * 12)")
"$MOR" "${common[@]}" --run-dir "$WORK/b1x8" --set train.budget_flops=$budget --set train.micro_batch=8 >"$WORK/out"
grep -q "done: 12 steps" "$WORK/out" || fail "1x8 with a 12-step budget: $(tail -1 "$WORK/out")"
mpi 2 "${common[@]}" --run-dir "$WORK/b2x4" --set train.budget_flops=$budget --set train.micro_batch=4 >"$WORK/out"
grep -q "done: 12 steps" "$WORK/out" || fail "2x4 with the same budget must take 12 steps too: $(grep done: "$WORK/out")"
steps=$("$MOR" flops --config "$WORK/budget.yaml" --dp 2 --set train.grad_accum=1 --set train.budget_flops=$budget --set train.micro_batch=4 --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['steps'])")
[ "$steps" = 12 ] || fail "mor flops --dp 2 says $steps steps, expected 12"
close "$WORK/b1x8/metrics.jsonl" "$WORK/b2x4/metrics.jsonl" "budget run 1x8 vs 2x4"

# A layout that does not fit the model is refused by every rank with one clear message.
expect_exit 2 mpi 2 train --config "$WORK/tiny.yaml" --run-dir "$WORK/tp" --set dist.tp=4
grep -q "dist.tp" "$WORK/err" || fail "dist.tp=4: $(cat "$WORK/err")"
echo ok
