#!/usr/bin/env bash
# Prepares the built-in default corpus: the reStructuredText sources of the Python 3.11
# documentation from Debian's python3.11-doc (~497 files, ~11 MB of English text) into
# datasets/pydocs with an 8192-token BPE tokenizer. Skips the work when the dataset exists.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-datasets/pydocs}"
MOR="${MOR:-build/src/cli/mor}"
SRC=/usr/share/doc/python3.11/html/_sources
if [ -f "$OUT/manifest.json" ]; then
  echo "corpus: $OUT already prepared"
  exit 0
fi
if [ ! -d "$SRC" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3.11-doc >/dev/null
fi
"$MOR" prepare --input "$SRC" --ext .txt --out "$OUT" --vocab-size 8192 --val-fraction 0.03
