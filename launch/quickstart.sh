#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, prepare the built-in corpus,
# train a tiny MoR model (expert-choice, N_r = 3) with a step line per step, print the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install_deps.sh
bash launch/build.sh
bash launch/prepare_default_corpus.sh
CONFIG="${CONFIG:-configs/tiny-mor.yaml}"
build/src/cli/mor train --config "$CONFIG" --quiet "$@"
