#!/usr/bin/env bash
# launch/train.slurm under Slurm: `sbatch --ntasks=2 launch/train.slurm ...` on a private one-node
# cluster (tests/cli/slurm_cluster.sh), submitted by its path in the checkout as README shows, starts
# 2 data-parallel ranks through srun + PMIx, and trains exactly like one process with the global
# batch (2 x micro_batch 4 == 1 x 8, losses within 1e-4). Skips (77) without slurm-wlm or root.
# Usage: test_slurm_training.sh MOR_BINARY
source "$(dirname "$0")/../cli/common.sh"
source "$(dirname "$0")/train_compare.sh"
source "$SRC_DIR/tests/cli/slurm_cluster.sh"
slurm_cluster_start "$WORK/slurm" || { echo "SKIP: $SLURM_SKIP"; exit 77; }
tiny_config
common=(--config "$WORK/tiny.yaml" --quiet --set train.steps=8 --set train.grad_accum=1)
"$MOR" train "${common[@]}" --run-dir "$WORK/one" --set train.micro_batch=8 >/dev/null
cd "$SRC_DIR"
MOR="$MOR" sbatch --ntasks=2 --cpus-per-task=1 --output="$WORK/slurm.out" launch/train.slurm \
  "${common[@]}" --run-dir "$WORK/two" --set train.micro_batch=4 >"$WORK/sbatch.out" ||
  fail "sbatch launch/train.slurm: $(cat "$WORK/sbatch.out")"
slurm_wait_idle 240 || fail "the job did not finish in 240 s: $(squeue; scontrol show job)"
# 8 steps x 2 ranks x 4 x 32 tokens = 2.05k (one rank alone would report 1.02k)
grep -q "done: 8 steps, 2.05k tokens" "$WORK/slurm.out" || fail "2-rank Slurm job: $(tail -n 5 "$WORK/slurm.out")"
close "$WORK/one/metrics.jsonl" "$WORK/two/metrics.jsonl" "srun 2 x 4 vs 1 x 8"
echo ok
