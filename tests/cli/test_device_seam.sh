#!/usr/bin/env bash
# `train.device: test` end to end (the device seam without a GPU, src/core/device.h): the trainer on
# the test device writes the same metrics as on the CPU (every loss and gradient norm bit for bit),
# checkpoints from it resume bit-exactly, and eval / generate / bench train on --device test give
# the CPU's results. A bad device or device key is one clear error, and writes nothing.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
col() { python3 -c 'import json,sys; print([(json.loads(l)["loss"], json.loads(l)["grad_norm"], json.loads(l).get("route_tokens")) for l in open(sys.argv[1])])' "$1"; }
for variant in expert token; do
  set_variant=()
  [ "$variant" = token ] && set_variant=(--set model.mor.type=token --set model.mor.balancing=loss_free)
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-cpu" --quiet "${set_variant[@]}" >"$WORK/log-cpu"
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-test" --quiet "${set_variant[@]}" \
    --set train.device=test >"$WORK/log-test"
  grep -q "^compute: test device" "$WORK/log-test" || fail "$variant: the run header does not name the test device"
  a=$(col "$WORK/$variant-cpu/metrics.jsonl"); b=$(col "$WORK/$variant-test/metrics.jsonl")
  [ "$a" = "$b" ] || fail "$variant: test-device metrics differ from the CPU's:\n$a\n$b"
  # Stop at step 3 on the test device, resume there: the CPU's losses again.
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-split" --quiet "${set_variant[@]}" \
    --set train.device=test --stop-at-step 3 >/dev/null
  "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/$variant-split" --quiet "${set_variant[@]}" \
    --set train.device=test --resume >/dev/null
  c=$(col "$WORK/$variant-split/metrics.jsonl")
  [ "$a" = "$c" ] || fail "$variant: resumed on the test device, the metrics differ:\n$a\n$c"
  echo "$variant: test device == cpu, resume bit-identical"
done

# Evaluation and generation of the same checkpoint on both devices.
for dev in cpu test; do
  "$MOR" eval --checkpoint "$WORK/expert-cpu" --data "$WORK/ds" --device $dev --json >"$WORK/eval-$dev.json"
  "$MOR" generate --checkpoint "$WORK/expert-cpu" --prompt "the license" --max-new-tokens 12 --seed 3 --device $dev \
    --json >"$WORK/gen-$dev.json"
done
cmp -s "$WORK/eval-cpu.json" "$WORK/eval-test.json" || fail "eval differs: $(cat "$WORK/eval-cpu.json") vs $(cat "$WORK/eval-test.json")"
python3 - "$WORK/gen-cpu.json" "$WORK/gen-test.json" <<'PY' || fail "generate differs"
import json, sys
a, b = (json.loads(open(p).read().splitlines()[0]) for p in sys.argv[1:])
strip = lambda r: {k: v for k, v in r.items() if "per_s" not in k and "seconds" not in k}
assert strip(a) == strip(b), (a, b)
PY
"$MOR" bench train --config "$WORK/tiny.yaml" --device test --steps 1 --json >"$WORK/bench.json"
grep -q '"device":"test"' "$WORK/bench.json" || fail "bench train --device test: $(cat "$WORK/bench.json")"

# Bad devices: one clear error each, exit code 2.
expect_fail() {
  local want="$1"; shift
  set +e; "$@" >"$WORK/bad.log" 2>&1; local rc=$?; set -e
  [ $rc -eq 2 ] || fail "expected exit 2 from $*, got $rc: $(cat "$WORK/bad.log")"
  grep -q "$want" "$WORK/bad.log" || fail "expected '$want' from $*: $(cat "$WORK/bad.log")"
}
expect_fail "Hint: use cpu, cuda, cuda:N or test" "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" --set train.device=gpu
if [ "$(nvidia-smi -L 2>/dev/null | grep -c ^GPU)" = 0 ]; then
  expect_fail "CUDA device" "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" --set train.device=cuda
  expect_fail "CUDA device" "$MOR" eval --checkpoint "$WORK/expert-cpu" --data "$WORK/ds" --device cuda:1
fi
expect_fail "GPU's memory" "$MOR" bench train --config "$WORK/tiny.yaml" --device test --max-batch
expect_fail "Hint: use cpu, cuda, cuda:N, or test" "$MOR" generate --checkpoint "$WORK/expert-cpu" --prompt x --device tpu
expect_fail "Hint: use cpu, cuda, cuda:N, or test" "$MOR" bench train --config "$WORK/tiny.yaml" --device gpu0
expect_fail "expected one of: simt, tensor_cores" "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" \
  --set train.cuda_attention=fast
expect_fail "train.tf32" "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/bad" --set train.tf32=maybe
[ ! -e "$WORK/bad/ckpt-00000001.h5" ] || fail "a refused run wrote a checkpoint"
echo "device seam CLI ok"
