#!/usr/bin/env bash
# The Kramers study (experiments/kramers/README.md): underdamped Langevin dynamics in phase space
# by finite volumes, Fourier-spectral and Monte Carlo; the stationary Gibbs density; escape over
# the double-well barrier against Kramers' formula at three frictions; Kramers-Moyal estimates
# of drift and diffusion from simulated paths; a 2D OU with a full (correlated) noise matrix.
# Usage: bash experiments/kramers/run.sh [BUILD_DIR]   (default: build), from anywhere.
# Writes results/kramers/*.h5, results/kramers/summary.json and results/kramers_*.png.
# Exit status: non-zero if a run fails or analyse.py finds a stated target missed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$root"
out=results/kramers
mkdir -p "$out"
SECONDS=0
cfg=experiments/kramers
run() { "$build/fpkit" run "$@" --quiet; }

echo "== (a) double well in phase space: FV, spectral, Monte Carlo (BAOAB)"
run $cfg/double_well.ini -o $out/double_well.h5
echo "== (a') stationary: a long spectral run and FV's stationary solve (3 grids) vs Gibbs"
run $cfg/gibbs.ini -o $out/gibbs_spectral.h5
for n in 48:32 96:64 192:128; do
  run $cfg/gibbs.ini --set fp.method=fv --set "grid.n=${n%%:*} ${n##*:}" \
    --set stationary.enabled=true --set time.t_end=0.01 --set time.n_out=2 \
    -o $out/gibbs_fv_n${n%%:*}.h5     # 48 x 32 is coarse on purpose: the v-grid warning
done

echo "== (b) harmonic Kramers equation vs its exact Gaussian law"
run $cfg/harmonic.ini -o $out/harmonic.h5

echo "== (c) escape rates at three frictions (t_end = 4/k_Kramers)"
for g in 0.5 2 8; do
  tend=$(/usr/bin/python3 -c "
import math; g=$g; beta=10.0
lb=math.sqrt(g*g/4+1)-g/2; k=lb*math.sqrt(2)/(2*math.pi)*math.exp(-beta/4)
print(f'{4/k:.0f}')")
  run $cfg/escape.ini --set model.gamma=$g --set time.t_end=$tend -o $out/escape_gamma$g.h5
done

echo "== (d) Kramers-Moyal estimates from simulated double-well paths (10 seeds)"
for s in 1 2 3 4 5 6 7 8 9 10; do
  "$build/fpkit" km $cfg/km_double_well.ini --set km.seed=$s -o $out/km_seed$s.h5 > /dev/null
done

echo "== (e) correlated noise: 2D OU with a full noise matrix"
run $cfg/ou_correlated.ini -o $out/ou_correlated.h5
echo "fpkit runs: ${SECONDS} s"

status=0
/usr/bin/python3 "$here/analyse.py" "$out" -o results || status=1
echo "total: ${SECONDS} s"
if (( status )); then echo "run.sh: some targets were missed (see above)" >&2; fi
exit $status
