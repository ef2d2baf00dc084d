#!/usr/bin/env bash
# Tests of the Python reader's `fpkit sample` kind (python/fpkit SampleResult, docs/python.md):
# two small sampler runs made with `fpkit config sample` and --set (under 1 s together), then
# tests/python/test_sample_reader.py (unittest) on them:
#   s1d.h5  1D, the template's mixture, DPM-Solver-2 with 20 steps, 20000 points, keep 12
#   s2d.h5  2D, reverse-SDE Euler-Maruyama with 100 steps on a 30 x 32 grid, 20000 points
# Usage (CTest): bash tests/cli/python_sample.sh <path-to-fpkit-binary> <source-dir>
# Skips (exit 0, "SKIP: ...") when /usr/bin/python3 lacks numpy or h5py.
set -euo pipefail

fpkit=${1:?usage: python_sample.sh FPKIT_BINARY SOURCE_DIR}
src=${2:?usage: python_sample.sh FPKIT_BINARY SOURCE_DIR}
src=$(cd "$src" && pwd)
py=/usr/bin/python3

if [[ ! -x $py ]] || ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks h5py or numpy (Debian: python3-h5py python3-numpy)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
"$fpkit" config sample > "$tmp/s.ini"
run() { "$fpkit" sample "$tmp/s.ini" --quiet --threads 1 "$@"; }
run -o "$tmp/s1d.h5" --set sample.paths=20000 --set sample.keep=12
run -o "$tmp/s2d.h5" --set data.dim=2 --set "data.means=-2 0 1.5 1" \
  --set "data.stds=0.4 0.5 0.6 0.3" --set grid.dim=2 --set "grid.n=30 32" \
  --set "grid.lo=-5 -4" --set "grid.hi=5 4" --set sampler.family=reverse-sde \
  --set sampler.steps=100 --set sample.paths=20000
cd "$tmp"
FPK_TEST_OUTPUTS="$tmp" PYTHONPATH="$src/python" \
  "$py" "$src/tests/python/test_sample_reader.py" -v 2>&1
echo "ok: tests/python/test_sample_reader.py"
