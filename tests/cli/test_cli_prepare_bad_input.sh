#!/usr/bin/env bash
# `mor prepare` on bad input: exit code 2, exactly one error line that names the file (or flag)
# and ends with a hint, and no output (or staging) directory left behind.
source "$(dirname "$0")/common.sh"
mkdir -p "$WORK/corpus" "$WORK/empty" "$WORK/zero" "$WORK/bin" "$WORK/existing"
for d in 1 2 3; do
  for ((i = 0; i < 300; i++)); do printf 'the model learns to route token %d through shared layers. ' "$((i % 17))"; done \
    >"$WORK/corpus/doc$d.txt"
done
: >"$WORK/zero/a.txt"
printf 'fine text\n' >"$WORK/bin/a.txt"
printf '\x7fELF\x00\x00\x01\xff' >"$WORK/bin/b.txt"
printf '{"text": "fine"}\n{"txt": 1}\n' >"$WORK/bad.jsonl"
touch "$WORK/existing/keep"

# bad_input NAME EXPECTED_TEXT ARGS...: prepare into $WORK/outputs/NAME must fail cleanly.
bad_input() {
  local name="$1" want="$2"; shift 2
  local out="$WORK/outputs/$name"
  expect_exit 2 "$MOR" prepare --out "$out" --quiet "$@"
  grep -qF -- "$want" "$WORK/err" || fail "$name: message lacks '$want': $(cat "$WORK/err")"
  grep -q "Hint:" "$WORK/err" || fail "$name: no hint: $(cat "$WORK/err")"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "$name: expected one error line, got: $(cat "$WORK/err")"
  [ ! -e "$out" ] || fail "$name: left $out behind"
  ! ls -d "$out".tmp-* >/dev/null 2>&1 || fail "$name: left a staging directory"
  [ ! -e "$WORK/outputs" ] || fail "$name: left the parent directory it created"
}

bad_input missing "$WORK/missing: no such file or directory" --input "$WORK/missing"
bad_input no_files "$WORK/empty: no input files found" --input "$WORK/empty"
bad_input no_match "no input files found with extensions .rst" --input "$WORK/corpus" --ext .rst
bad_input empty_corpus "$WORK/zero: the corpus is empty" --input "$WORK/zero"
bad_input binary "$WORK/bin/b.txt: not UTF-8 text (invalid or NUL byte at offset 4)" --input "$WORK/bin"
bad_input vocab_small "--vocab-size 100 is too small" --input "$WORK/corpus" --vocab-size 100
bad_input vocab_large "$WORK/corpus: --vocab-size 60000 is too large" --input "$WORK/corpus" --vocab-size 60000
"$MOR" prepare --input "$WORK/corpus" --out "$WORK/good" --vocab-size 300 --quiet >/dev/null
bad_input bad_jsonl "$WORK/bad.jsonl:2: no string field \"text\"" --input "$WORK/bad.jsonl" --tokenizer "$WORK/good/tokenizer.model"
bad_input bad_tokenizer "$WORK/corpus/doc1.txt: not a SentencePiece model" --input "$WORK/corpus" --tokenizer "$WORK/corpus/doc1.txt"
bad_input bad_fraction "--val-fraction 2" --input "$WORK/corpus" --val-fraction 2

# An existing output directory without --overwrite: refused, and left untouched.
expect_exit 2 "$MOR" prepare --input "$WORK/corpus" --out "$WORK/existing" --quiet
grep -qF "$WORK/existing: already exists" "$WORK/err" || fail "existing: $(cat "$WORK/err")"
grep -q "Hint: pass --overwrite" "$WORK/err" || fail "existing: no hint"
[ -f "$WORK/existing/keep" ] || fail "existing output was modified"
echo ok
