#!/usr/bin/env bash
# The LM-head kernel lab's own check: every variant of the fused LM head + cross-entropy (the old
# row-chunk driver, kept and recomputed logits over blocks of rows and vocabulary tiles) agrees with
# its f64 reference on a vocabulary no tile divides, with ignored rows; then a tiny timing run.
# With bf16 GEMMs too where the CPU has them (looser tolerance).
source "$(dirname "$0")/common.sh"
LAB="$(dirname "$MOR")/../../kernels/lab/lmhead_lab"
[ -x "$LAB" ] || fail "no lmhead_lab beside $MOR (expected $LAB)"
"$LAB" --rows 96 --d 16 --vocab 700 --rounds 1 >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "lmhead_lab check failed"; }
grep -q "^check: [0-9]* variants agree with the f64 reference" "$WORK/out" || fail "no check line: $(head -3 "$WORK/out")"
n=$(grep -c "(loss " "$WORK/out")
[ "$n" -ge 20 ] || fail "expected every variant in the table, got $n rows"
# Every variant reports the same loss on the timing problem (to the printed 6 decimals).
[ "$(grep "(loss " "$WORK/out" | sed 's/.*(loss //' | sort -u | wc -l)" -eq 1 ] || fail "variants disagree: $(grep "(loss " "$WORK/out")"
if "$LAB" --precision bf16 --rows 64 --d 16 --vocab 500 --rounds 1 --only "keep t=V r=512,recompute t=256 r=512" >"$WORK/out" 2>&1; then
  grep -q "^check: 3 variants agree" "$WORK/out" || fail "bf16: $(head -3 "$WORK/out")"
else
  rc=$?
  [ "$rc" -eq 2 ] || { cat "$WORK/out"; fail "lmhead_lab --precision bf16 exited $rc"; }  # 2: no bf16 on this CPU
fi
echo ok
