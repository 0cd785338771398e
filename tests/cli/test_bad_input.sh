#!/usr/bin/env bash
# Bad input -> exit code 2 and one message naming the file/key and the fix; nothing half-written.
source "$(dirname "$0")/common.sh"
small_dataset
tiny_config
# Unknown key, with file:line:col.
sed 's/  d_ff: 128/  d_ff: 128\n  d_fff: 3/' "$WORK/tiny.yaml" >"$WORK/unknown.yaml"
expect_exit 2 "$MOR" train --config "$WORK/unknown.yaml"
grep -q "unknown.yaml:9:3: unknown key 'model.d_fff'" "$WORK/err" || fail "unknown key message: $(cat "$WORK/err")"
# Wrong type.
sed 's/  n_heads: 4/  n_heads: four/' "$WORK/tiny.yaml" >"$WORK/type.yaml"
expect_exit 2 "$MOR" train --config "$WORK/type.yaml"
grep -q "type.yaml:6:12: key 'model.n_heads' must be an integer" "$WORK/err" || fail "type message: $(cat "$WORK/err")"
# Impossible shape through --set.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set model.n_kv_heads=3
grep -q "must divide n_heads" "$WORK/err" || fail "shape message"
# Vocabulary mismatch between model and dataset.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set model.vocab_size=1000 --run-dir "$WORK/r"
grep -q "model.vocab_size: 512" "$WORK/err" || fail "vocab hint: $(cat "$WORK/err")"
[ ! -e "$WORK/r" ] || fail "a refused run left its run directory behind"
# Schedule phases that overlap, an unknown device, a budget below one step, a directory as config.
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --set train.warmup_frac=0.9 --set train.decay_frac=0.5
grep -q "no room for the stable phase" "$WORK/err" || fail "warmup+decay message: $(cat "$WORK/err")"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.device=tpu
grep -q "unknown device 'tpu'" "$WORK/err" || fail "device message: $(cat "$WORK/err")"
expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --set train.steps=0 --set train.budget_flops=1
grep -q "train.budget_flops 1 buys" "$WORK/err" || fail "tiny budget message: $(cat "$WORK/err")"
for dp in 0 -2 x; do  # mor flops --dp: data-parallel ranks, a positive integer
  expect_exit 2 "$MOR" flops --config "$WORK/tiny.yaml" --dp "$dp"
  grep -q -- "--dp: must be a positive integer (got $dp)" "$WORK/err" || fail "--dp $dp: $(cat "$WORK/err")"
done
expect_exit 2 "$MOR" train --config "$WORK"
grep -q "is a directory, not a config file" "$WORK/err" || fail "directory config: $(cat "$WORK/err")"
# Flags out of range are refused by the parser.
expect_exit 2 "$MOR" bench train --config "$WORK/tiny.yaml" --steps 0
expect_exit 2 "$MOR" bench sgemm --size -5
# Missing config, bad flag.
expect_exit 2 "$MOR" train --config "$WORK/nope.yaml"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --no-such-flag
# Prepare: missing input, existing output.
expect_exit 2 "$MOR" prepare --input "$WORK/missing" --out "$WORK/ds2"
grep -q "missing: no such file" "$WORK/err" || fail "prepare message"
[ ! -e "$WORK/ds2" ] || fail "prepare left an output directory"
expect_exit 2 "$MOR" prepare --input /usr/share/common-licenses --out "$WORK/ds"
grep -q "already exists" "$WORK/err" || fail "existing output message"
# A corrupt shard names the file.
printf 'garbage' >"$WORK/ds/train/shard_000000.bin"
expect_exit 2 "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/r2"
grep -q "shard_000000.bin" "$WORK/err" || fail "corrupt shard message: $(cat "$WORK/err")"
echo ok
