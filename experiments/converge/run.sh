#!/usr/bin/env bash
# Convergence studies of the SDE steppers on shared Brownian paths (experiments/converge/README.md).
# Usage: bash experiments/converge/run.sh [BUILD_DIR]   (default: build), from anywhere.
# For every config here: `fpkit converge` writes results/converge/<name>.h5 and the table
# results/converge/<name>.txt; plot.py draws results/converge_<name>.png (log-log errors with
# their standard errors, the fitted slope and its 95% interval).
# Exit status: non-zero if any fitted order is unresolved or its interval misses the expected
# order given in the config ([converge] expect_strong / expect_weak). About 10 s on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$root"
out=results/converge
mkdir -p "$out"
status=0
for cfg in "$here"/*.ini; do
  name=$(basename "$cfg" .ini)
  echo "== $name"
  if ! "$build/fpkit" converge "$cfg" -o "$out/$name.h5" | tee "$out/$name.txt"; then
    status=1
  fi
  /usr/bin/python3 "$here/plot.py" "$out/$name.h5" "results/converge_$name.png"
done
exit $status
