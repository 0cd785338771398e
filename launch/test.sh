#!/usr/bin/env bash
# Runs every test on a fresh machine: install dependencies, build, then ctest (unit, gradient,
# reference, multi-rank and CLI tests; CUDA tests skip without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install_deps.sh
bash launch/build.sh
cd build
ctest -j2 --output-on-failure "$@"
