#!/usr/bin/env bash
# Prepares the built-in default corpus: the reStructuredText sources of the Python 3.11
# documentation from Debian's python3.11-doc (/usr/share/doc/python3.11/html/_sources, 497 .txt
# files, 11.0 MB of English text) into datasets/pydocs (or OUT_DIR) with an 8192-piece BPE
# tokenizer and 3% of the documents held out for validation.
#   usage: launch/prepare_default_corpus.sh [OUT_DIR]     (MOR=path/to/mor, default build/src/cli/mor)
# Idempotent: skips the work when OUT_DIR already holds a complete dataset (manifest, tokenizer,
# and every shard the manifest lists with the size it implies); an incomplete one is rebuilt.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/datasets/pydocs}"
MOR="${MOR:-$ROOT/build/src/cli/mor}"
SRC=/usr/share/doc/python3.11/html/_sources

# Prints "split/file bytes" for every shard the manifest lists (64-byte header + tokens).
listed_shards() {
  awk '/"token_bytes":/ { gsub(/[^0-9]/, "", $2); width = $2 }
       /"train": \{/ { split_ = "train" }  /"val": \{/ { split_ = "val" }
       /"file": "shard_/ { file = $2; gsub(/[",]/, "", file) }
       /"tokens":/ && file != "" { n = $2; gsub(/[^0-9]/, "", n); print split_ "/" file, 64 + (width ? width : 2) * n; file = "" }' \
    "$1/manifest.json"
}

dataset_complete() {
  [ -f "$1/manifest.json" ] && [ -s "$1/tokenizer.model" ] || return 1
  local shards=0 file bytes
  while read -r file bytes; do
    [ "$(stat -c %s "$1/$file" 2>/dev/null || echo -1)" -eq "$bytes" ] || return 1
    shards=$((shards + 1))
  done < <(listed_shards "$1")
  [ "$shards" -ge 2 ]  # at least one train and one val shard
}

if dataset_complete "$OUT"; then
  echo "corpus: $OUT already prepared ($(grep -m1 -o '"vocab_size": [0-9]*' "$OUT/manifest.json"))"
  exit 0
fi
if [ ! -d "$SRC" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "corpus: installing python3.11-doc"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3.11-doc >/dev/null ||
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3.11-doc >/dev/null; }
fi
if [ ! -x "$MOR" ]; then
  echo "corpus: $MOR not found. Hint: build first (bash launch/build.sh) or set MOR=path/to/mor" >&2
  exit 2
fi
OVERWRITE=()
[ -e "$OUT" ] && { echo "corpus: $OUT is incomplete; rebuilding it"; OVERWRITE=(--overwrite); }
"$MOR" prepare --input "$SRC" --ext .txt --out "$OUT" --vocab-size 8192 --val-fraction 0.03 "${OVERWRITE[@]}"
