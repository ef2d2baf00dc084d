#!/usr/bin/env bash
# FIXED (h16-hostile, src/km/km.c km_window; tests/test_noise_defects.c test_km_periodic_x_mean).
# What: fpk_km on a grid with a periodic axis wraps each window origin into the box to bin it, but
#   the bin's mean origin x_mean summed the unwrapped offsets from the bin centre. x_mean is where
#   the estimate is attributed and where fpk_km_compare evaluates the model's truth.
# Expected: x_mean inside its bin.
# Observed (b148995): paths drifting at speed 1 over [0, 20] on a periodic unit box: x_mean =
#   11.26 for the bin [0, 0.1), 11.28 for [0.9, 1) (every bin ~11): the truth of a periodic drift
#   evaluated at the wrong point, coverage meaningless, exit status 0 (severity: wrong number).
#   API only: `fpkit km` has no [grid] bc (its grids are never periodic).
# Command: bash tests/defects/noise/04-km-periodic-x-mean-unwrapped.sh build/fpkit
#   (runs the unit test next to the binary: build/tests/test_noise_defects)
# Exit status: 0 when fpk_km behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
test_bin=$(dirname "$fpkit")/tests/test_noise_defects
if [ ! -x "$test_bin" ]; then
  echo "  $test_bin not built (cmake --build build --target test_noise_defects); nothing checked"
  exit 0
fi
FPK_TEST_QUICK=1 "$test_bin" 2>&1 | grep -E "x_mean|coverage|OK|FAIL" | sed 's/^/  /'
exit "${PIPESTATUS[0]}"
