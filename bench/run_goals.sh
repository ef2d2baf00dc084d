#!/usr/bin/env bash
# Runs every benchmark of the performance goals (issue 15) one after the other and prints their
# GOAL lines: EM rate, expression models compiled vs built-in, finite volumes (split solver),
# spectral step vs FFT floor and threads, dense/1D-grid Sinkhorn vs POT's kernel mode, 2D grid
# kernels vs POT's convolutional iteration. About 7 minutes on an idle 2-core machine. Each
# script's whole output goes to OUT_DIR/<name>.txt. POT is taken from FPK_POT_DIR
# (../shared/peers/build-pot.sh DIR builds it); without it the POT comparisons are skipped, saying so.
# Builds nothing: cmake --build BUILD --target bench_em_ou1d bench_sde bench_fv bench_spectral
# bench_ot bench_ot_grid first.
#   bash bench/run_goals.sh BUILD_DIR [OUT_DIR]
set -uo pipefail
build=${1:?usage: bash bench/run_goals.sh BUILD_DIR [OUT_DIR]}
out=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; outputs in $out"
[ -n "${FPK_POT_DIR:-}" ] || echo "FPK_POT_DIR is not set: the POT comparisons are skipped"
status=0
run() {
  local name=$1; shift
  echo "=== $name ($(date -u +%T), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" > "$out/$name.txt" 2>&1 || { echo "$name: exit $? (see $out/$name.txt)"; status=1; }
  grep -E '^GOAL' "$out/$name.txt"
}
run em       bash "$here/run_em.sh" "$build"
run sde      bash "$here/run_sde.sh" "$build" 3
run fv       bash "$here/run_fv.sh" "$build"
run spectral bash "$here/run_spectral.sh" "$build"
run ot_line  env DENSE=0 GRID=0 bash "$here/run_ot.sh" "$build" 3
run ot_grid  bash "$here/run_ot_grid.sh" "$build" 3
exit $status
