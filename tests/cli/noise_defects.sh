#!/usr/bin/env bash
# The reproducers of tests/defects/noise/ (issue 16, hostile testing of noise matrices, the
# Kramers model and Kramers-Moyal estimation): each script exits 0 when fpkit behaves as
# expected and 1 when its defect reproduces. Scripts marked FIXED in their first comment line
# are regression tests here (must exit 0); OPEN ones are run and reported, not counted.
# Usage: bash tests/cli/noise_defects.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
# shellcheck source=lib/checks.sh
source "$src/tests/cli/lib/checks.sh"
for script in "$src"/tests/defects/noise/[0-9][0-9]-*.sh; do
  name=${script##*/}
  state=$(sed -n '2{s/^# \([A-Z]*\).*/\1/;p}' "$script")
  out=$(bash "$script" "$fpkit" 2>&1)
  rc=$?
  case $state in
    FIXED) if [ $rc -eq 0 ]; then ok "$name"; else bad "$name (exit $rc): $out"; fi ;;
    *) echo "open $name (exit $rc; 1 = the defect reproduces)" ;;
  esac
done
summary noise_defects
