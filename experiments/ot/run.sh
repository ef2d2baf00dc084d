#!/usr/bin/env bash
# Entropic optimal transport with `fpkit ot` (experiments/ot/README.md):
#  (a) 2D Gaussians, eps from 10 to 1e-3, against the closed form   -> results/ot_gauss2d.h5
#  (b) S_eps -> W2^2 as eps -> 0 (1D Gaussians)                     -> results/ot_gauss1d.h5
#  (c) FV density vs Monte Carlo histogram of the OU flagship runs over time (and each vs the
#      exact law), S_eps per output time                           -> results/ot_ou{1d,2d}_*.h5
#  (d) 256 x 256 grid between two Gaussian mixtures, once per kernel back-end
#                                                                   -> results/ot_mixtures256_*.h5
# then plot.py: the tables on stdout, results/ot_{gauss2d,w2,fv_mc,mixtures256}.png and
# results/ot_summary.json.
# Usage: bash experiments/ot/run.sh [BUILD_DIR]   (default: build), from anywhere.
# (c) needs results/ou1d.h5 and results/ou2d.h5 from experiments/ou/run.sh; a missing one is made
# here with `fpkit run experiments/ou/ouXd.ini`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fpkit=$build/fpkit
cd "$root"
mkdir -p results
start=$SECONDS
step() { echo; echo "== $* ($((SECONDS - start)) s elapsed)"; }

step "(a) 2D Gaussians, eps sweep 10 .. 1e-3 against the closed form"
"$fpkit" ot "$here/gauss2d.ini" -o results/ot_gauss2d.h5

step "(b) S_eps -> W2^2 as eps -> 0, 1D Gaussians"
"$fpkit" ot "$here/gauss1d.ini" -o results/ot_gauss1d.h5

for dim in 1d 2d; do
  if [ ! -s "results/ou$dim.h5" ]; then
    step "(c) results/ou$dim.h5 is missing: fpkit run experiments/ou/ou$dim.ini"
    "$fpkit" run "experiments/ou/ou$dim.ini" -o "results/ou$dim.h5"
  fi
  step "(c) OU $dim flagship: FV vs MC, FV vs exact, MC vs exact, S_eps per output time"
  "$fpkit" ot "$here/ou${dim}_fvmc.ini" -o "results/ot_ou${dim}_fv_mc.h5"
  "$fpkit" ot "$here/ou${dim}_fvmc.ini" -o "results/ot_ou${dim}_fv_exact.h5" --quiet \
    --set target.dataset=/exact/density
  "$fpkit" ot "$here/ou${dim}_fvmc.ini" -o "results/ot_ou${dim}_mc_exact.h5" --quiet \
    --set source.dataset=/mc/density --set target.dataset=/exact/density
done

for kernel in fft blas lse auto; do
  step "(d) 256 x 256 Gaussian mixtures, kernel = $kernel"
  "$fpkit" ot "$here/mixtures256.ini" -o "results/ot_mixtures256_$kernel.h5" --set "ot.kernel=$kernel"
done

step "figures"
# Debian's python3 has numpy/matplotlib/h5py; a pyenv python3 on PATH may not.
/usr/bin/python3 "$here/plot.py" -r results
echo "total $((SECONDS - start)) s"
