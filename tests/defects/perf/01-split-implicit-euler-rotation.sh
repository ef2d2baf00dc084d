#!/usr/bin/env bash
# FIXED (h15-hostile, tests/test_perf_defects.c): split implicit Euler is corrected to the exact step.
# What: FV implicit Euler with the split (ADI) solver, the 2D default since issue 15 round 1, on
#   a rotating OU (non-symmetric drift) at large steps. The split step (I - hL_2)^-1 (I - hL_1)^-1
#   has the fixed point L p = h L_1 L_2 p, not L p = 0: the O(h) shift of docs/fv-scheme.md is
#   O(1) here.
# Expected: the implicit-Euler result of the direct solver (FV vs exact L1 0.030 at t = 200 for
#   dt = 0.1 .. 100), or an error naming the split solver and the step.
# Observed (5bdda4c): exit 0 with FV vs exact L1 = 0.31 (dt = 0.1), 1.63 (dt = 1), 1.97 (dt = 10,
#   |dmean| 0.36), 1.96 (dt = 100, |dmean| 4.0): a wrong density (severity: wrong number, exit 0).
# Command: bash tests/defects/perf/01-split-implicit-euler-rotation.sh build/fpkit
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for dt in 0.1 1 10 100; do
  for solver in split direct; do
    echo "dt = $dt, fv_solver = $solver:"
    "$fpkit" run "$here/rot_ou2d_ie.ini" -o "$tmp/o.h5" --set fp.dt=$dt --set fp.fv_solver=$solver 2>&1 |
      grep -E "fv +vs exact|error"
    echo "  exit ${PIPESTATUS[0]}"
  done
done
