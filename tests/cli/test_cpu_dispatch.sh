#!/usr/bin/env bash
# Runtime ISA dispatch: the same `mor` binary loads the kernel build that glibc's loader judges
# best for the CPU. Masking CPU features (GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,...) stands in
# for running on an older CPU: every level this CPU can run is loaded in turn, the run header
# names it, and every level trains the same tiny model to the same losses (within float noise).
# The f32 GEMM follows the level: our AVX-512 GEMM in the x86-64-v4 copy, OpenBLAS below it;
# MOR_SGEMM=openblas picks OpenBLAS anywhere, and a bad MOR_SGEMM (or avx512 where the loaded
# kernels lack it) fails the command with exit 2 and a message naming the variable.
source "$(dirname "$0")/common.sh"
LDSO=/lib64/ld-linux-x86-64.so.2
[ -x "$LDSO" ] || { echo "SKIP: no $LDSO (not x86-64 glibc)"; exit 0; }
level_of() { GLIBC_TUNABLES="$1" "$MOR" bench sgemm --seconds 0.02 | grep -o 'kernels \(x86-64[^ ,]*\|native\)' | head -n1 | cut -d' ' -f2; }
[ "$(level_of "")" != "native" ] || { echo "SKIP: built with -DMOR_CPU_DISPATCH=OFF"; exit 0; }
# The loader's own answer: the first "supported, searched" glibc-hwcaps level, else the baseline.
expected_level() {
  GLIBC_TUNABLES="$1" "$LDSO" --help | sed -n 's/^ *\(x86-64-v[234]\) (supported, searched)$/\1/p' | head -1 |
    grep . || echo x86-64
}
small_dataset
tiny_config
seen=()
for mask in "" "glibc.cpu.hwcaps=-AVX512F" "glibc.cpu.hwcaps=-AVX512F,-AVX2" "glibc.cpu.hwcaps=-AVX512F,-AVX2,-SSE4_2"; do
  want=$(expected_level "$mask")
  got=$(level_of "$mask")
  [ "$got" = "$want" ] || fail "with GLIBC_TUNABLES='$mask' the loader supports $want but mor loaded kernels $got"
  case " ${seen[*]-} " in *" $got "*) continue ;; esac  # this CPU cannot go lower by that mask
  seen+=("$got")
  GLIBC_TUNABLES="$mask" "$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run-$got" --set train.steps=3 \
    --set train.eval=false --quiet >"$WORK/log-$got" 2>&1 || { cat "$WORK/log-$got" >&2; fail "training with kernels $got failed"; }
  grep -q "kernels $got" "$WORK/log-$got" || fail "run header does not name kernels $got"
  gemm=OpenBLAS; [ "$got" = x86-64-v4 ] && gemm=mor-avx512
  grep -q "f32 GEMM $gemm" "$WORK/log-$got" || fail "kernels $got: run header does not say 'f32 GEMM $gemm'"
  if [ "$got" != x86-64-v4 ]; then
    expect_exit 2 env GLIBC_TUNABLES="$mask" MOR_SGEMM=avx512 "$MOR" bench sgemm --seconds 0.02
    grep -q "MOR_SGEMM=avx512: .*no AVX-512" "$WORK/err" || fail "MOR_SGEMM=avx512 on $got: $(cat "$WORK/err")"
  fi
done
out=$(MOR_SGEMM=openblas "$MOR" bench sgemm --seconds 0.02)
grep -q "f32 GEMM OpenBLAS" <<<"$out" || fail "MOR_SGEMM=openblas not honoured: $out"
expect_exit 2 env MOR_SGEMM=blis "$MOR" bench sgemm --seconds 0.02
grep -q "MOR_SGEMM=blis: expected openblas or avx512" "$WORK/err" || fail "bad MOR_SGEMM: $(cat "$WORK/err")"
[ "${#seen[@]}" -ge 2 ] || fail "only one kernel level was loadable (${seen[*]}): is glibc-hwcaps dispatch built?"
python3 - "$WORK" "${seen[@]}" <<'PY'
import json, sys
work, levels = sys.argv[1], sys.argv[2:]
loss = {l: [json.loads(x)["loss"] for x in open(f"{work}/run-{l}/metrics.jsonl")] for l in levels}
ref = loss[levels[0]]
for l in levels[1:]:
    diff = max(abs(a - b) for a, b in zip(ref, loss[l]))
    assert len(loss[l]) == len(ref) == 3 and diff < 1e-3, (l, loss[l], levels[0], ref)
print("ok: levels", " ".join(levels), "losses", ref)
PY
