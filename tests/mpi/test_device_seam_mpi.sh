#!/usr/bin/env bash
# The device seam under mpirun: data- and tensor-parallel training on the test device (host memory
# behind its own allocator, host access refused; src/core/device.h) writes the same metrics, bit
# for bit, as the same layout on the CPU -- DP2 x TP2 with ZeRO-1 and the selection check on (4
# ranks), and DP2 with ZeRO-1 (2 ranks) -- for expert- and token-choice MoR. So the data-parallel
# arenas, ZeRO's shards, the TP ops' collectives and the replicated-selection checks move device
# buffers through their communicator and read nothing behind the seam.
# Usage: test_device_seam_mpi.sh MOR_BINARY
source "$(dirname "$0")/../cli/common.sh"
source "$(dirname "$0")/train_compare.sh"  # 1 thread per rank, the dataset, helpers
cols() { python3 -c 'import json,sys; print([(json.loads(l)["loss"], json.loads(l)["grad_norm"], json.loads(l).get("route_tokens"), json.loads(l).get("val_loss")) for l in open(sys.argv[1])])' "$1"; }
for variant in expert token; do
  tiny_config
  sed -i 's/  n_kv_heads: 2/  n_kv_heads: 4/' "$WORK/tiny.yaml"
  [ $variant = token ] && sed -i 's/    type: expert/    type: token\n    balancing: loss_free\n    bias_update_rate: 0.01/' "$WORK/tiny.yaml"
  common=(train --config "$WORK/tiny.yaml" --quiet --set train.steps=6 --set train.grad_accum=1 --set dist.zero=1)
  for layout in "4 tp" "2 dp"; do
    set -- $layout
    n=$1; extra=(--set train.micro_batch=4)
    [ "$2" = tp ] && extra+=(--set dist.tp=2 --set dist.check_tp_selection=true)
    for dev in cpu test; do
      mpi "$n" "${common[@]}" "${extra[@]}" --run-dir "$WORK/$variant-$2-$dev" --set train.device=$dev >"$WORK/out-$dev"
    done
    grep -q "^compute: test device" "$WORK/out-test" || fail "$variant $2: no test-device header"
    a=$(cols "$WORK/$variant-$2-cpu/metrics.jsonl"); b=$(cols "$WORK/$variant-$2-test/metrics.jsonl")
    [ "$a" = "$b" ] || fail "$variant $2 ($n ranks): the test device's metrics differ from the CPU's:\n$a\n$b"
    echo "$variant $2 ($n ranks): test device == cpu bit for bit"
  done
done
