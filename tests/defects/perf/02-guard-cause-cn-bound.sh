#!/usr/bin/env bash
# FIXED (h15-hostile, tests/test_perf_defects.c test_guard_cause_bound).
# What: the "likely cause" of the FV output guard for crank-nicolson and tr-bdf2 states the
#   positivity bound of the scheme's explicit half, c h max|L_ii| <= 1 (fv.c's own comment:
#   h <= 2/max|L_ii| for CN). The code printed limit/(2c) = 1/(2c max|L_ii|): half the bound. With
#   the split solver (the 2D default since round 1) the bound is per axis,
#   h <= 1/(c max_a max|(L_a)_ii|) (docs/fv-scheme.md), and was not stated.
# Expected: CN: "dt <= 0.0112 here (1/max|L_ii| = 0.0056 ...)" (direct),
#   "with the split solver ... dt <= 0.017 (1/max_a max|(L_a)_ii| = 0.0085)" (split).
# Observed (5bdda4c): both solvers: "crank-nicolson keeps densities non-negative only for dt <=
#   0.0056 here (1/max|L_ii| = 0.0056 ...)" (severity: bad message; exit 3 is right).
# Command: bash tests/defects/perf/02-guard-cause-cn-bound.sh build/fpkit
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for solver in direct split; do
  "$fpkit" run "$here/rot_ou2d_ie.ini" -o "$tmp/o.h5" --set fp.scheme=crank-nicolson \
    --set fp.dt=0.2 --set time.t_end=2 --set fp.fv_solver=$solver 2>&1 | grep -o "likely cause.*"
  echo "  exit ${PIPESTATUS[0]}"
done
