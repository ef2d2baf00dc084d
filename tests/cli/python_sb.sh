#!/usr/bin/env bash
# Tests of the Python reader's `fpkit sb` kind (python/fpkit SBResult, docs/python.md): three
# small bridges made with `fpkit config sb` and --set (about 1 s together), then
# tests/python/test_sb_reader.py (unittest) on them:
#   sb1d.h5  1D Brownian reference, sigma = 0.7, 140 cells, 7 output times, exact sampler
#   sb2d.h5  2D Brownian reference, sigma = 1, a 40 x 36 grid (x and y differ), EM sampler
#   ou1d.h5  1D OU reference (theta = 1, sigma = 0.7), 200 cells, no sample
# Usage (CTest): bash tests/cli/python_sb.sh <path-to-fpkit-binary> <source-dir>
# Skips (exit 0, "SKIP: ...") when /usr/bin/python3 lacks numpy or h5py.
set -euo pipefail

fpkit=${1:?usage: python_sb.sh FPKIT_BINARY SOURCE_DIR}
src=${2:?usage: python_sb.sh FPKIT_BINARY SOURCE_DIR}
src=$(cd "$src" && pwd)
py=/usr/bin/python3

if [[ ! -x $py ]] || ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks h5py or numpy (Debian: python3-h5py python3-numpy)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
"$fpkit" config sb > "$tmp/sb.ini"
sb() { "$fpkit" sb "$tmp/sb.ini" --quiet --threads 1 "$@"; }
# The template's N(-1, 0.25) -> N(1, 0.25) on boxes that hold the bridge (its spread at T/2 adds
# sigma^2 T / 4 to the ends' variance); the first time after 0 resolves the kernel
# (h^2 <= sigma^2 t1 (1 - t1) / 1.2: h = 0.1, t1 = 0.1).
sb -o "$tmp/sb1d.h5" --set grid.n=140 --set grid.lo=-7 --set grid.hi=7 --set sb.sigma=0.7 \
  --set "sb.times=0 0.1 0.25 0.5 0.75 0.9 1" --set sample.paths=20000 --set sample.keep_paths=8
sb -o "$tmp/sb2d.h5" --set grid.dim=2 --set "grid.n=40 36" --set "grid.lo=-6 -5" \
  --set "grid.hi=6 5" --set "mu0.mean=-1 0" --set "mu0.std=0.5 0.6" --set "muT.mean=1 0.5" \
  --set "muT.std=0.6 0.5" --set sample.method=em --set sample.paths=20000
sb -o "$tmp/ou1d.h5" --set sb.reference=ou --set sb.theta=1 --set sb.sigma=0.7 --set grid.n=200 \
  --set grid.lo=-6 --set grid.hi=6 --set sample.method=none
# the model reference (no sigma in [sb]: the noise is the model's)
sed '/^sigma = /d' "$tmp/sb.ini" > "$tmp/model.ini"
"$fpkit" sb "$tmp/model.ini" -o "$tmp/model1d.h5" --quiet --threads 1 \
  --set sb.reference=model --set model.type=langevin --set model.dim=1 \
  --set model.potential=double-well --set model.beta=2 --set grid.n=100 --set grid.lo=-3 \
  --set grid.hi=3 --set sb.dt=0.01 --set sample.paths=2000 --set mu0.std=0.4 --set muT.std=0.4
cd "$tmp"
FPK_TEST_OUTPUTS="$tmp" PYTHONPATH="$src/python" \
  "$py" "$src/tests/python/test_sb_reader.py" -v 2>&1
echo "ok: tests/python/test_sb_reader.py"
