#!/usr/bin/env bash
# Installs the Python reference environment the reference checks use (tests/cli/test_reference_env.sh):
# Debian's python3-torch (1.13, CPU) and numpy with apt, then a venv at .venv-ref (system site
# packages) with transformers 4.36.2, safetensors and gguf from PyPI. Idempotent; about 1 minute on
# a fresh machine. Never fails the caller: when apt or PyPI cannot be reached it says so and the
# checks that need it skip. MOR_NO_REFERENCE_ENV=1 skips the install.
# Optional, not installed here (about 11 minutes of compiling on 2 cores): llama-cpp-python in
# .venv-llama, which check_gguf.py then uses to load the GGUF export in llama.cpp itself:
#   /usr/bin/python3 -m venv --system-site-packages .venv-llama &&
#   .venv-llama/bin/pip install llama-cpp-python transformers==4.36.2 safetensors gguf
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-ref
if [ "${MOR_NO_REFERENCE_ENV:-0}" = 1 ]; then echo "install_reference_env: skipped (MOR_NO_REFERENCE_ENV=1)"; exit 0; fi
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, transformers, safetensors, gguf" 2>/dev/null; then
  echo "install_reference_env: $VENV ready"
  exit 0
fi
start=$(date +%s)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      python3-torch python3-numpy python3-venv >/dev/null; } ||
    { echo "install_reference_env: apt could not install python3-torch; the reference checks will skip"; exit 0; }
fi
{ /usr/bin/python3 -m venv --system-site-packages "$VENV" &&
  "$VENV/bin/pip" install -q --disable-pip-version-check "transformers==4.36.2" safetensors gguf; } ||
  { echo "install_reference_env: pip could not install transformers/safetensors/gguf; the reference checks will skip"; exit 0; }
echo "install_reference_env: $VENV ready ($(( $(date +%s) - start )) s)"
