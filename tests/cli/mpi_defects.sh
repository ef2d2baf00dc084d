#!/usr/bin/env bash
# The reproducers of tests/defects/mpi/ (issue 17, hostile testing of MPI ensembles and sweeps,
# 3D runs and the optional MPI build): each script exits 0 when fpkit behaves as expected and 1
# when its defect reproduces (scripts that need MPI skip with exit 0 without it). Scripts marked
# FIXED in their second line are regression tests here (must exit 0); OPEN ones are run and
# reported, not counted; with FPK_TEST_QUICK=1 (the sanitizer suite) the OPEN ones are listed,
# not run (they take about 35 s in all, mostly runs that wait for a signal).
# Usage: bash tests/cli/mpi_defects.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
# shellcheck source=lib/checks.sh
source "$src/tests/cli/lib/checks.sh"
for script in "$src"/tests/defects/mpi/[0-9][0-9]-*.sh; do
  name=${script##*/}
  state=$(sed -n '2{s/^# \([A-Z]*\).*/\1/;p}' "$script")
  if [ "$state" != FIXED ] && [ "${FPK_TEST_QUICK:-0}" = 1 ]; then
    echo "open $name (not run: FPK_TEST_QUICK=1)"
    continue
  fi
  out=$(bash "$script" "$fpkit" 2>&1)
  rc=$?
  case $state in
    FIXED) if [ $rc -eq 0 ]; then ok "$name"; else bad "$name (exit $rc): $out"; fi ;;
    *) echo "open $name (exit $rc; 1 = the defect reproduces)" ;;
  esac
done
summary mpi_defects
