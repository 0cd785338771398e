#!/usr/bin/env bash
# Runs every test on a fresh machine: install dependencies, build, then ctest (unit, gradient,
# reference, multi-rank and CLI tests; CUDA tests skip without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install_deps.sh
bash launch/install_reference_env.sh   # torch + transformers + gguf for the reference checks (skip if unreachable)
bash launch/build.sh
cd build
ctest -j2 --output-on-failure "$@"
