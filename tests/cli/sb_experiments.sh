#!/usr/bin/env bash
# Smoke test of experiments/sb (README.md there): a reduced run of (a) and (c) through the same
# configs and scripts, so that a change of `fpkit sb`'s output that breaks the analysis scripts
# fails here, not only in the full `bash experiments/sb/run.sh build` (1 min).
#  (a) 1D Gaussian bridge at sigma = 0.5 (exact sampler and EM): gaussian.py's targets (mean and
#      covariance 1e-6, drift 1e-4, sampler within 1.5 floors and 4.5 SE);
#  (c) sigma = 0.25, 0.18, 0.125 against McCann's interpolation on 400 cells: L1 decreasing, the
#      local rate in its pre-asymptotic band [1.8, 3.5] (the full sweep: 3.34 at sigma <= 0.09).
# Usage: bash tests/cli/sb_experiments.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
src=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
mkdir -p "$tmp/sb"
for method in exact em; do
  suffix=$([ "$method" = em ] && echo _em || true)
  "$fpkit" sb "$src/experiments/sb/gauss1d.ini" -o "$tmp/sb/gauss1d_s0.5$suffix.h5" --quiet \
    --set sb.sigma=0.5 --set sample.method=$method --set sample.paths=20000
done
"$py" "$src/experiments/sb/gaussian.py" -r "$tmp"
for sigma in 0.25 0.18 0.125; do
  "$fpkit" sb "$src/experiments/sb/mccann1d.ini" -o "$tmp/sb/mccann_s$sigma.h5" --quiet \
    --set sb.sigma=$sigma --set grid.n=400 --set diagnostics.intervals=0
done
"$py" "$src/experiments/sb/mccann.py" -r "$tmp" --fit-max 0.25 --rate-band 1.8 3.5
test -s "$tmp/sb_gauss_moments.png" && test -s "$tmp/sb_mccann.png"
echo "sb_experiments: ok"
