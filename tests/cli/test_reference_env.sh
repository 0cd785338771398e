#!/usr/bin/env bash
# The checks that need the Python reference environment (launch/install_reference_env.sh: torch,
# transformers 4.36.2, safetensors, gguf in .venv-ref; MOR_REF_PYTHON overrides): transformers loads
# vanilla and unrolled Recursive exports and matches `mor eval` (check_hf_export.py); mor imports
# transformers-written Llama checkpoints, single-file, sharded, f32/bf16/f16, tied and untied
# (check_hf_import.py); the GGUF exports read back with the gguf package tensor by tensor
# (check_gguf.py), and in llama.cpp itself where llama-cpp-python is installed (.venv-llama, or
# MOR_LLAMA_PYTHON). Exits 77 (skipped) with a message when the environment is missing.
source "$(dirname "$0")/common.sh"
PY="${MOR_REF_PYTHON:-$SRC_DIR/.venv-ref/bin/python}"
if ! [ -x "$PY" ] || ! "$PY" -c "import torch, transformers, safetensors, gguf" 2>/dev/null; then
  echo "SKIPPED: no Python reference environment at $PY (torch + transformers + safetensors + gguf). Install it with: bash launch/install_reference_env.sh"
  exit 77
fi
REF="$SRC_DIR/tests/reference"
small_dataset
tiny_config
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run-v" --quiet --set train.steps=3 --set model.mor.type=none \
  --set model.recursion.sharing=none --set model.recursion.num_recursions=1 --set model.n_layers=3 >/dev/null
"$MOR" train --config "$WORK/tiny.yaml" --run-dir "$WORK/run-r" --quiet --set train.steps=3 --set model.mor.type=none >/dev/null
"$MOR" export --checkpoint "$WORK/run-v" --out "$WORK/hf-v" >/dev/null
"$MOR" export --checkpoint "$WORK/run-r" --out "$WORK/hf-r" --unrolled >/dev/null
"$MOR" export --checkpoint "$WORK/run-v" --format gguf --out "$WORK/v.gguf" >/dev/null
"$MOR" export --checkpoint "$WORK/run-r" --format gguf --out "$WORK/r.gguf" >/dev/null
"$PY" "$REF/check_hf_export.py" --export "$WORK/hf-v" --data "$WORK/ds" --mor "$MOR" --windows 2
"$PY" "$REF/check_hf_export.py" --export "$WORK/hf-r" --data "$WORK/ds" --mor "$MOR" --windows 2
mkdir "$WORK/hf-import"
"$PY" "$REF/check_hf_import.py" --data "$WORK/ds" --mor "$MOR" --work "$WORK/hf-import" 2>&1 | grep -v "Loading checkpoint shards"
LPY="${MOR_LLAMA_PYTHON:-$SRC_DIR/.venv-llama/bin/python}"
if [ -x "$LPY" ] && "$LPY" -c "import llama_cpp, gguf, transformers" 2>/dev/null; then GPY="$LPY"; else
  GPY="$PY"; echo "note: llama-cpp-python not installed ($LPY): GGUF checked with the gguf reader only"; fi
for m in v r; do
  "$GPY" "$REF/check_gguf.py" --gguf "$WORK/$m.gguf" --hf "$WORK/hf-$m" --data "$WORK/ds" --mor "$MOR" --seq-len 32
done
echo ok
