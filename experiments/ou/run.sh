#!/usr/bin/env bash
# The flagship experiment: OU in 1D and 2D, finite-volume Fokker-Planck vs Monte Carlo vs exact.
# Usage: bash experiments/ou/run.sh [BUILD_DIR]   (default: build). Writes results/ou{1d,2d}.{h5,png}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
cd "$root"
mkdir -p results
for case in ou1d ou2d; do
  echo "== $case"
  "$build/fpkit" run "experiments/ou/$case.ini" -o "results/$case.h5"
done
# Debian's python3 has numpy/matplotlib/h5py; a pyenv python3 on PATH may not.
/usr/bin/python3 "$here/plot.py" results/ou1d.h5 results/ou2d.h5 -o results
