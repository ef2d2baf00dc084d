#!/usr/bin/env bash
# Experiment (d) of experiments/sb (README.md there): a two-component Gaussian mixture to N(0, 1)
# with the OU reference dX = -X dt + sqrt(2) dW over horizons T = 0.5 .. 8, against the time
# reversal of the OU noising process of a diffusion model started from the same mixture (the
# special case of the poster: the bridge tends to the reference, whose reversal is the
# score-based generative model). Writes results/sb_ou_reversal_T*.h5, then ou_reversal.py prints
# the table, checks the rates and draws results/sb_ou_reversal.png.
# Usage: bash experiments/sb/ou_reversal.sh [BUILD_DIR] [--format pdf|svg|png]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
shift || true
fpkit=$build/fpkit
cd "$root"
mkdir -p results
for T in 0.5 1 2 4 8; do
  times=$(/usr/bin/python3 -c "print(' '.join('%.6g' % ($T * k / 20) for k in range(21)))")
  "$fpkit" sb "$here/ou_reversal.ini" -o "results/sb_ou_reversal_T$T.h5" --quiet \
    --set sb.T=$T --set "sb.times=$times"
done
/usr/bin/python3 "$here/ou_reversal.py" -r results -o results "$@"
