#!/usr/bin/env bash
# The spectral Fokker–Planck benchmark (issue 15): time per ETDRK4 step on 2D periodic grids beside
# the bare cost of the FFTs each step must do (the floor), and the step on 2 threads beside the
# step on 1. Goals: the 1-thread step <= 1.15x its floor at 256² and 1024² (`ou`, CPU time), and
# 2 threads never slower than 1 (wall clock, every size). Builds nothing: pass a build directory
# that has bench/bench_spectral (cmake --build BUILD --target bench_spectral).
#   bash bench/run_spectral.sh BUILD_DIR [bench_spectral options: -t SEC -r REPS -m ou|vard|both N ...]
# Defaults: 256², 400², 512², 1024², model ou, 3 reps of >= 1 s per measurement (about 2 minutes).
# Wall-clock ratios need a quiet machine: on a shared one, read the load average printed below.
set -euo pipefail
build=${1:?usage: bash bench/run_spectral.sh BUILD_DIR [-t SEC] [-r REPS] [-m ou|vard|both] [N ...]}
shift
exe="$build/bench/bench_spectral"
[ -x "$exe" ] || { echo "run_spectral.sh: $exe not found; build the bench_spectral target first" >&2; exit 1; }
args=("$@")
case " ${args[*]-} " in *" -m "*) ;; *) args=(-m ou "${args[@]}") ;; esac

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$("$exe" "${args[@]}")
echo "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# GOAL lines. Columns: 1 model, 2 grid, 6 CPU ratio, 7 its [range], 13 2-thread/1-thread ratio,
# 14 its [range], 15 threads chosen, 16 FFTW's threaded/serial plans, 17 its [range], 18 pruned
# floor ms, 19 step / pruned floor (CPU), 20 its [range].
echo "$out" | awk '$1 == "ou" || $1 == "vard" {
  if ($2 == "256^2" || $2 == "1024^2")
    printf "GOAL %s %s ETDRK4 step / FFT floor (CPU): ratio %.2fx %s (goal <= 1.15x): %s; against the pruned floor (the 2/3 rule'"'"'s skipped columns taken out of the floor too): %.2fx %s\n",
           $1, $2, $6, $7, ($6 <= 1.15) ? "met" : "NOT met", $19, $20
  # the range is "[lo-hi]": a median above 1 whose range reaches below 1 is within the noise
  split(substr($14, 2, length($14) - 2), r, "-")
  printf "GOAL %s %s 2 threads / 1 thread (wall): ratio %.2fx %s (goal <= 1.0x; threads full r2c,c2r,pipeline %s): %s\n",
         $1, $2, $13, $14, $15, ($13 <= 1.0) ? "met" : (r[1] <= 1.0 ? "NOT met (within the range over repetitions)" : "NOT met")
  printf "reference %s %s FFTW threaded / serial FFTW_MEASURE plans (wall): %.2fx %s\n", $1, $2, $16, $17 }'
