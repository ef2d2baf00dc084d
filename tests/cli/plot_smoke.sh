#!/usr/bin/env bash
# Smoke test of the figure script: tiny 1D and 2D OU runs through `fpkit run`, then
# experiments/ou/plot.py on each; the PNGs must exist and be non-empty.
# Usage (CTest): bash tests/cli/plot_smoke.sh <path-to-fpkit-binary> <source-dir>
# Skips (exit 0, "SKIP: ...") when /usr/bin/python3 lacks matplotlib or h5py.
set -euo pipefail

fpkit=${1:?usage: plot_smoke.sh FPKIT_BINARY SOURCE_DIR}
src=${2:?usage: plot_smoke.sh FPKIT_BINARY SOURCE_DIR}
py=/usr/bin/python3
plot=$src/experiments/ou/plot.py

if [[ ! -x $py ]] || ! "$py" -c 'import matplotlib, h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks matplotlib, h5py or numpy (Debian: python3-matplotlib python3-h5py)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/tiny1d.ini" <<'EOF'
[model]
type = ou
dim = 1
theta = 1
sigma = 1

[grid]
lo = -4
hi = 4
n = 64

[init]
mean = 1
std = 0.3

[time]
t_end = 0.5
n_out = 3

[fp]
dt = 0.01

[mc]
paths = 20000
dt = 0.01
seed = 3
EOF

cat >"$tmp/tiny2d.ini" <<'EOF'
[model]
type = ou
dim = 2
A = 1 0.5 -0.5 1
sigma = 0.7

[grid]
lo = -3
hi = 3
n = 32

[init]
mean = 1 0
std = 0.3

[time]
t_end = 0.5
n_out = 3

[fp]
dt = 0.01

[mc]
paths = 20000
dt = 0.01
seed = 3
EOF

for case in tiny1d tiny2d; do
  "$fpkit" run "$tmp/$case.ini" -o "$tmp/$case.h5" --quiet
  [[ -s $tmp/$case.h5 ]] || { echo "FAIL: fpkit wrote no $case.h5"; exit 1; }
  "$py" "$plot" "$tmp/$case.h5" -o "$tmp/fig"
  [[ -s $tmp/fig/$case.png ]] || { echo "FAIL: plot.py wrote no non-empty $case.png"; exit 1; }
  echo "ok: $case.png ($(stat -c %s "$tmp/fig/$case.png") bytes)"
done

# A file that is not an fpkit output must be refused with a non-zero status.
if "$py" "$plot" "$tmp/tiny1d.ini" -o "$tmp/fig" 2>"$tmp/err"; then
  echo "FAIL: plot.py accepted a non-HDF5 file"; exit 1
fi
grep -q "tiny1d.ini" "$tmp/err" || { echo "FAIL: error message does not name the file"; exit 1; }
echo "ok: bad input refused: $(cat "$tmp/err")"
