#!/usr/bin/env bash
# A sweep that produces a convergence figure from its index (issue 17, part 6; docs/sweep.md):
# the 1D OU of sweep_ou.ini over grid.n, run by `fpkit sweep` into results/scale/sweep,
# then plot_sweep.py reads only results/scale/sweep/index.h5 (/gather/errors/l1_fv_exact and
# /over_numeric) and draws results/scale_sweep.png with the fitted order in space.
# Usage: bash experiments/scale/run_sweep.sh [BUILD_DIR] [JOBS]   (default: build, 2).
# Rerunning resumes: the points already written are skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
jobs=${2:-2}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$root"
"$build/fpkit" sweep "$here/sweep_ou.ini" --over grid.n=25,50,100,200,400,800 \
  --gather /errors/l1_fv_exact --gather /fv/mass \
  -o results/scale/sweep --jobs "$jobs"
/usr/bin/python3 "$here/plot_sweep.py" results/scale/sweep/index.h5 results/scale_sweep.png
