#!/usr/bin/env bash
# Installs the Debian packages MoR-Train builds and runs with (idempotent: skips what is there).
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      libopenblas-openmp-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libyaml-cpp-dev
      googletest libgtest-dev libcli11-dev nlohmann-json3-dev
      libsentencepiece-dev sentencepiece python3.11-doc
      libdnnl-dev ocl-icd-opencl-dev   # dnnl-config.cmake finds OpenCL (a Recommends, skipped by --no-install-recommends)
      iproute2 util-linux    # ip netns / tc for the several-hosts tests; setpriv, flock, unshare
      python3-numpy python3-scipy python3-matplotlib   # `mor sweep report` (launch/sweep_report.py)
      slurmctld slurmd slurm-client)   # the sweep's Slurm array job, run on a private one-node cluster by the tests
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
