#!/usr/bin/env bash
# Runs the spectral Fokker–Planck benchmark (one FFTW thread): time per ETDRK4 and SBDF2 step on
# 2D periodic grids beside the bare cost of the FFTs each step must do (the floor), and checks the
# goal ETDRK4 step <= 2.5x its floor (issue 3). Builds nothing: pass a build directory that has
# bench/bench_spectral (e.g. cmake --build BUILD --target bench_spectral).
#   bash bench/run_spectral.sh BUILD_DIR [bench_spectral options: -t SEC -r REPS -m ou|vard|both N ...]
# Defaults: 256² and 1024², both models, 5 reps of >= 1.5 s each (about 4 minutes).
set -euo pipefail
build=${1:?usage: bash bench/run_spectral.sh BUILD_DIR [-t SEC] [-r REPS] [-m ou|vard|both] [N ...]}
shift
exe="$build/bench/bench_spectral"
[ -x "$exe" ] || { echo "run_spectral.sh: $exe not found; build the bench_spectral target first" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(OMP_NUM_THREADS=1 "$exe" "$@")
echo "$out"
# Goal check on the ETDRK4 rows: median ratio to the floor, wall clock and CPU time.
echo "$out" | awk '$3 == "ETDRK4" {
  w = $7; c = $11
  printf "goal ETDRK4 <= 2.5x floor: %-5s %-7s wall %.2fx, CPU %.2fx: %s\n", $1, $2, w, c,
         (w <= 2.5 && c <= 2.5) ? "met" : "NOT met" }'
