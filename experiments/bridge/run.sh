#!/usr/bin/env bash
# The bridge study: the Brownian bridge against its closed-form moments, Kolmogorov's law of
# sup|bridge| with and without the continuity correction, and the coverage of the KS band
# (docs/bridge-donsker.md).
# Usage: bash experiments/bridge/run.sh [BUILD_DIR]   (default: build), from anywhere.
# Writes results/bridge/bridge.h5 and results/bridge/summary.json, then the figures
# results/bridge_{moments,kolmogorov,ks_band}.png.
# Exit status: non-zero if the run fails or figures.py finds a target missed (corrected KS
# distance < 3 x floor, corrected quantiles within 3 SE, band coverage within 2 SE, bridge
# z-scores < 5). About 10 s on 2 cores (5 s of fpkit, the rest Python start-up and plotting).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$root"
out=results/bridge
mkdir -p "$out"
SECONDS=0

echo "== fpkit bridge"
"$build/fpkit" bridge experiments/bridge/bridge.ini -o "$out/bridge.h5"
echo "fpkit: ${SECONDS} s"

# Figures and checks. Debian's python3 has numpy/matplotlib/h5py; a pyenv python3 may not.
echo "== figures.py"
status=0
/usr/bin/python3 "$here/figures.py" "$out/bridge.h5" -o results || status=$?
echo "total: ${SECONDS} s"
if (( status )); then
  echo "run.sh: some targets were missed (see above)" >&2
fi
exit $status
