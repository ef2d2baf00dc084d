#!/usr/bin/env bash
# FIXED (h16-hostile, src/core/config.c fpk_config_matrix, src/app/model_config.c; tests/cli/noise_defects.sh).
# What: matrices written with '|' between rows were split with strtok, which skips empty rows.
#   A numeric matrix (sigma, diffusion) then named the wrong row as empty; an expression noise
#   matrix silently dropped the empty row ('|0.8, 0|0, 0.6' ran as the 2 x 2 matrix) while the
#   numeric one refused the same input.
# Expected: an empty row refused in both, naming its position.
# Observed (b148995): sigma = '|0.8 0|0 0.6' -> "row 3 is empty" (row 1 is); '0.8 0||0 0.6' ->
#   "row 3" (row 2); expr noise = '|0.8, 0|0, 0.6' -> exit 0 (severity: misleading message;
#   inconsistent acceptance).
# Command: bash tests/defects/noise/11-matrix-empty-row.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tail='[init]\nmean = 0.5 -0.5\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.1\n[fp]\nenabled = false\n[mc]\npaths = 10\ndt = 0.01\n'
printf "[model]\ntype = ou\ndim = 2\ntheta = 1\nsigma = 1\n$tail" > "$tmp/ou.ini"
printf "[model]\ntype = expr\ndim = 2\ndrift_x = -x\ndrift_y = -y\nnoise = 1, 0\n        0, 1\n$tail" > "$tmp/ex.ini"
status=0
check() { # check CONFIG KEY VALUE ROW
  local msg rc
  msg=$("$fpkit" run "$1" -o "$tmp/o.h5" -q --set "model.$2=$3" 2>&1); rc=$?
  echo "  $2 = '$3': exit $rc: ${msg:0:160}"
  { [ $rc -eq 1 ] && grep -q "row $4 is empty" <<<"$msg"; } || status=1
}
check "$tmp/ou.ini" sigma '|0.8 0|0 0.6' 1
check "$tmp/ou.ini" sigma '0.8 0||0 0.6' 2
check "$tmp/ex.ini" noise '|0.8, 0|0, 0.6' 1
check "$tmp/ex.ini" noise '0.8, 0||0, 0.6' 2
exit $status
