#!/usr/bin/env bash
# Data pipeline benchmarks on the built-in corpus (launch/prepare_default_corpus.sh), in one run:
#   (a) `mor prepare` throughput (MB/s of input text) with the corpus tokenizer reused, on 1 and 2
#       threads, and end to end with tokenizer training; against SentencePiece's own `spm_encode`
#       (Debian package `sentencepiece`) encoding the same text with the same model, as one
#       process and as two processes on two halves of the input (both cores);
#   (b) the streaming loader alone: batches/s for the tiny training shape B=8, T=256.
# Every timing is the best of REPEATS runs (default 3). Prints a markdown table.
#   usage: launch/bench_data.sh [DATASET]    (MOR=path/to/mor, default build/src/cli/mor)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${1:-$ROOT/datasets/pydocs}"
MOR="${MOR:-$ROOT/build/src/cli/mor}"
REPEATS="${REPEATS:-3}"
SRC=/usr/share/doc/python3.11/html/_sources
command -v spm_encode >/dev/null || { echo "bench_data: spm_encode missing. Hint: apt-get install sentencepiece" >&2; exit 2; }
MOR="$MOR" bash "$ROOT/launch/prepare_default_corpus.sh" "$DATA" >&2
MODEL="$DATA/tokenizer.model"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The same input as one file (sorted like `mor prepare` reads it) and as two halves.
find "$SRC" -name '*.txt' -print0 | LC_ALL=C sort -z | xargs -0 cat >"$WORK/all.txt"
lines=$(wc -l <"$WORK/all.txt")
head -n $((lines / 2)) "$WORK/all.txt" >"$WORK/half1.txt"
tail -n +$((lines / 2 + 1)) "$WORK/all.txt" >"$WORK/half2.txt"
MB=$(awk -v b="$(stat -c %s "$WORK/all.txt")" 'BEGIN { printf "%.2f", b / 1e6 }')

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
best() { sort -g | head -1; }
json_field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }

# mor prepare: prints the best wall time (seconds) of REPEATS runs; extra args go to prepare.
mor_prepare() {
  for _ in $(seq "$REPEATS"); do
    rm -rf "$WORK/ds"
    "$MOR" prepare --input "$SRC" --ext .txt --out "$WORK/ds" --val-fraction 0.03 --json --quiet "$@" |
      json_field seconds
  done | best
}
spm_one() {
  for _ in $(seq "$REPEATS"); do
    t0=$(now); spm_encode --model="$MODEL" --output_format=id <"$WORK/all.txt" >"$WORK/ids.txt"; t1=$(now)
    elapsed "$t0" "$t1"
  done | best
}
spm_two() {
  for _ in $(seq "$REPEATS"); do
    t0=$(now)
    spm_encode --model="$MODEL" --output_format=id <"$WORK/half1.txt" >/dev/null &
    spm_encode --model="$MODEL" --output_format=id <"$WORK/half2.txt" >/dev/null
    wait; t1=$(now)
    elapsed "$t0" "$t1"
  done | best
}
row() { awk -v n="$1" -v s="$2" -v mb="$MB" -v note="$3" 'BEGIN { printf "| %s | %.2f | %.1f | %s |\n", n, s, mb / s, note }'; }

echo "## Data pipeline benchmark ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "Input: $(find "$SRC" -name '*.txt' | wc -l) files, $MB MB (python3.11-doc reST sources); model: $MODEL"
echo
echo "| what | seconds | MB/s | note |"
echo "|---|---|---|---|"
t=$(mor_prepare --tokenizer "$MODEL" --threads 2); row "mor prepare, 2 threads" "$t" "encode + shards + manifest, tokenizer reused"
t=$(mor_prepare --tokenizer "$MODEL" --threads 1); row "mor prepare, 1 thread" "$t" "same, one encoder thread"
t=$(spm_one); row "spm_encode, 1 process" "$t" "$(wc -w <"$WORK/ids.txt") ids (newlines are not encoded)"
t=$(spm_two); row "spm_encode, 2 processes" "$t" "input split in two halves, run side by side"
rm -rf "$WORK/ds"
t=$(REPEATS=1 mor_prepare --vocab-size 8192 --threads 2); row "mor prepare + tokenizer training, 2 threads" "$t" "trains the 8192-piece BPE first (1 run)"
echo
# (b) Loader alone.
loader=$("$MOR" bench loader --data "$DATA" --batch 8 --seq-len 256 --json)
echo "Loader, B=8, T=256, prefetch 2: $(echo "$loader" | json_field batches_per_s | xargs printf '%.0f') batches/s," \
     "$(echo "$loader" | json_field windows_per_s | xargs printf '%.0f') windows/s," \
     "$(echo "$loader" | json_field tokens_per_s | awk '{ printf "%.1f", $1 / 1e6 }')M tokens/s"
