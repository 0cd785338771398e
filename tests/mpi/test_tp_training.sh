#!/usr/bin/env bash
# Tensor parallelism is the same training as one process: for vanilla, expert-choice and
# token-choice (loss-free bias) MoR, 20 steps of
#   1 rank x micro_batch 8  ==  TP2 (2 ranks) x 8  ==  DP2 x TP2 (4 ranks) x 4      (+ TP4 for expert)
# per-step losses, final validation loss and final parameters within 1e-4, with the selection
# check on (dist.check_tp_selection: routers select identically, replicated gradients identical).
# Then resume across layouts: DP2xTP2+ZeRO-1 (8 steps) -> TP4 (4) -> DP1 (4) -> DP4 (4) continues
# the straight run; `mor eval` and `mor generate` of a TP checkpoint equal the one-process run's; layouts that do
# not fit are refused. Usage: test_tp_training.sh MOR_BINARY
source "$(dirname "$0")/../cli/common.sh"
source "$(dirname "$0")/train_compare.sh"  # 1 thread per rank, the dataset, TOL=1e-4, helpers
for variant in vanilla expert token; do
  tiny_config
  # 4 KV heads (MHA) so that TP4 fits; grouped-query heads under TP are covered by mpi_tests.
  sed -i 's/  n_kv_heads: 2/  n_kv_heads: 4/' "$WORK/tiny.yaml"
  case $variant in
    vanilla) sed -i 's/    type: expert/    type: none/; s/    sharing: middle_cycle/    sharing: none/; s/    num_recursions: 3/    num_recursions: 1/' "$WORK/tiny.yaml" ;;
    token) sed -i 's/    type: expert/    type: token\n    balancing: loss_free\n    bias_update_rate: 0.01/' "$WORK/tiny.yaml" ;;
  esac
  common=(train --config "$WORK/tiny.yaml" --quiet --set train.steps=20 --set train.grad_accum=1 --set dist.check_tp_selection=true)
  "$MOR" "${common[@]}" --run-dir "$WORK/$variant-1" --set train.micro_batch=8 >/dev/null
  mpi 2 "${common[@]}" --run-dir "$WORK/$variant-tp2" --set train.micro_batch=8 --set dist.tp=2 >/dev/null
  mpi 4 "${common[@]}" --run-dir "$WORK/$variant-dp2tp2" --set train.micro_batch=4 --set dist.tp=2 >"$WORK/out"
  grep -q "parallel: dp 2 x tp 2 (4 ranks)" "$WORK/out" || fail "no DP2 x TP2 header: $(grep parallel "$WORK/out")"
  others="tp2 dp2tp2"
  if [ $variant = expert ]; then
    mpi 4 "${common[@]}" --run-dir "$WORK/$variant-tp4" --set train.micro_batch=8 --set dist.tp=4 >/dev/null
    others="$others tp4"
  fi
  for other in $others; do
    close "$WORK/$variant-1/metrics.jsonl" "$WORK/$variant-$other/metrics.jsonl" "$variant 1 rank vs $other"
    same_params "$WORK/$variant-1" "$WORK/$variant-$other" "$variant 1 rank vs $other"
  done
done

# Resume across layouts (the token-choice config from the loop: the router bias is state too).
common=(train --config "$WORK/tiny.yaml" --quiet --set train.grad_accum=1 --set train.steps=20)
mpi 4 "${common[@]}" --run-dir "$WORK/xl" --set train.micro_batch=4 --set dist.tp=2 --set dist.zero=1 --stop-at-step 8 >/dev/null
mpi 4 "${common[@]}" --run-dir "$WORK/xl" --set train.micro_batch=8 --set dist.tp=4 --stop-at-step 12 >"$WORK/out"
grep -q "resumed from .*ckpt-00000008.h5 at step 8" "$WORK/out" || fail "DP2xTP2 -> TP4 resume: $(head -2 "$WORK/out")"
"$MOR" "${common[@]}" --run-dir "$WORK/xl" --set train.micro_batch=8 --stop-at-step 16 >"$WORK/out"
grep -q "resumed from .*ckpt-00000012.h5 at step 12" "$WORK/out" || fail "TP4 -> DP1 resume: $(head -2 "$WORK/out")"
mpi 4 "${common[@]}" --run-dir "$WORK/xl" --set train.micro_batch=2 >"$WORK/out"
grep -q "resumed from .*ckpt-00000016.h5 at step 16" "$WORK/out" || fail "DP1 -> DP4 resume: $(head -2 "$WORK/out")"
close "$WORK/token-1/metrics.jsonl" "$WORK/xl/metrics.jsonl" "DP2xTP2+ZeRO (8 steps) -> TP4 (4) -> DP1 (4) -> DP4 (4) vs 1 rank straight"
same_params "$WORK/token-1" "$WORK/xl" "resumed across layouts"

# `mor eval` reads a TP run's checkpoint (full tensors) like any other.
a=$("$MOR" eval --checkpoint "$WORK/token-1" --data "$WORK/ds" --max-windows 8 | grep -o "loss [0-9.]*")
b=$("$MOR" eval --checkpoint "$WORK/token-dp2tp2" --data "$WORK/ds" --max-windows 8 | grep -o "loss [0-9.]*")
echo "mor eval: 1 rank $a, DP2xTP2 $b"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "mor eval differs: '$a' vs '$b'"

# `mor generate` (one process) from a DP2 x TP2 checkpoint: the same sampled tokens (seeded) as
# from the 1-rank run's.
gen() { "$MOR" generate --checkpoint "$1" --prompt "The license" --max-new-tokens 16 --temperature 1 --top-k 0 \
          --seed 3 --tokenizer "$WORK/ds/tokenizer.model" --json 2>/dev/null | grep -o '"tokens":\[[0-9,]*\]'; }
a=$(gen "$WORK/token-1"); b=$(gen "$WORK/token-dp2tp2")
echo "mor generate: 1 rank '$a' | DP2xTP2 '$b'"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "mor generate differs: '$a' vs '$b'"

# Layouts that do not fit: TP over more ranks than launched; TP not dividing the heads.
expect_exit 2 mpi 2 train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" --set dist.tp=4
grep -q "dist.tp=4 does not divide the world size=2" "$WORK/err" || fail "dist.tp=4 on 2 ranks: $(cat "$WORK/err")"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" --set dist.tp=3
grep -q "dist.tp=3 does not divide model.n_heads=4" "$WORK/err" || fail "dist.tp=3: $(cat "$WORK/err")"
echo ok
