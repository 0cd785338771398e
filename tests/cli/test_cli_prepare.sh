#!/usr/bin/env bash
# `mor prepare` end to end on a tiny generated corpus: --json summary, dataset layout, progress
# lines on a non-TTY stderr, --quiet, determinism with a reused tokenizer, --overwrite.
source "$(dirname "$0")/common.sh"
# A tiny English-like corpus: 6 documents of real words (deterministic), one in a subdirectory.
words=(the model learns to route each token through a shared stack of layers and some tokens recurse
       more often than others because they are harder data is streamed from shards on disk while the
       optimizer updates weights with gradients computed by reverse mode differentiation)
mkdir -p "$WORK/corpus/sub"
for d in 1 2 3 4 5 6; do
  f="$WORK/corpus/doc$d.txt"; [ "$d" -eq 6 ] && f="$WORK/corpus/sub/doc$d.txt"
  for ((i = 0; i < 400; i++)); do
    printf '%s' "${words[$(( (i * 7 + d * 13 + i / 5) % ${#words[@]} ))]}"
    if (( i % 11 == 10 )); then printf '.\n'; else printf ' '; fi
  done >"$f"
done
printf 'not part of the corpus\n' >"$WORK/corpus/notes.md"
bytes=$(cat "$WORK"/corpus/*.txt "$WORK"/corpus/sub/*.txt | wc -c)

"$MOR" prepare --input "$WORK/corpus" --ext .txt --out "$WORK/ds" --vocab-size 300 --val-fraction 0.3 \
  --shard-tokens 1024 --threads 2 --json >"$WORK/summary.json" 2>"$WORK/progress"
python3 - "$WORK/summary.json" "$WORK/ds" "$bytes" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
ds, nbytes = sys.argv[2], int(sys.argv[3])
for key in ("out", "vocab_size", "train_tokens", "val_tokens", "documents", "bytes", "seconds", "mb_per_s"):
    assert key in s, f"summary lacks {key}: {s}"
assert s["out"] == ds and s["vocab_size"] == 300 and s["documents"] == 6 and s["bytes"] == nbytes, s
assert s["train_tokens"] > 0 and s["val_tokens"] > 0 and s["mb_per_s"] > 0, s
m = json.load(open(os.path.join(ds, "manifest.json")))
assert m["format"] == "mor-dataset" and m["version"] == 1 and m["eos_id"] == 2, m
assert m["splits"]["train"]["tokens"] == s["train_tokens"] and m["splits"]["val"]["tokens"] == s["val_tokens"]
assert m["splits"]["train"]["documents"] + m["splits"]["val"]["documents"] == 6
assert len(m["sources"]) == 6 and all(src["path"].endswith(".txt") for src in m["sources"])
for split in ("train", "val"):
    total = 0
    for shard in m["splits"][split]["shards"]:
        path = os.path.join(ds, split, shard["file"])
        assert os.path.getsize(path) == 64 + 2 * shard["tokens"], path  # u16 tokens after the 64-byte header
        assert open(path, "rb").read(8) == b"MORSHARD"
        total += shard["tokens"]
    assert total == m["splits"][split]["tokens"], split
assert len(m["splits"]["train"]["shards"]) > 1, "1024-token shards"
PY
test -f "$WORK/ds/tokenizer.model" || fail "no tokenizer.model"
ls -d "$WORK"/ds.tmp-* 2>/dev/null && fail "staging directory left behind"
grep -q "^prepare 100.0% .* MB/s ETA" "$WORK/progress" || fail "no plain progress lines on a non-TTY stderr: $(cat "$WORK/progress")"
[ "$(grep -c '^prepare ' "$WORK/progress")" -le 5 ] || fail "too many progress lines"

# Reusing the tokenizer gives the same dataset; --quiet prints nothing on stderr.
"$MOR" prepare -i "$WORK/corpus" --ext txt -o "$WORK/ds2" --tokenizer "$WORK/ds/tokenizer.model" --val-fraction 0.3 \
  --shard-tokens 1024 --threads 1 --quiet >"$WORK/out2" 2>"$WORK/err2"
[ ! -s "$WORK/err2" ] || fail "--quiet printed on stderr: $(cat "$WORK/err2")"
grep -q "^prepared $WORK/ds2: 6 documents" "$WORK/out2" || fail "summary line: $(cat "$WORK/out2")"
for f in train/shard_000000.bin val/shard_000000.bin; do
  cmp -s "$WORK/ds/$f" "$WORK/ds2/$f" || fail "$f differs between runs"
done
# --overwrite replaces the dataset.
"$MOR" prepare -i "$WORK/corpus/doc1.txt" -i "$WORK/corpus/doc2.txt" -o "$WORK/ds2" \
  --tokenizer "$WORK/ds/tokenizer.model" --overwrite --quiet >/dev/null
grep -q '"documents": 2' "$WORK/ds2/manifest.json" || fail "--overwrite did not replace the dataset"
echo ok
