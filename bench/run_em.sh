#!/usr/bin/env bash
# Runs the Euler–Maruyama benchmark (fpkit, one thread) beside the vectorised NumPy version and
# prints both rates and their ratio. Builds nothing: pass a build directory that has
# bench/bench_em_ou1d (e.g. cmake --build BUILD --target bench_em_ou1d).
#   bash bench/run_em.sh BUILD_DIR [npaths [nsteps]]
set -euo pipefail
build=${1:?usage: bash bench/run_em.sh BUILD_DIR [npaths [nsteps]]}
npaths=${2:-1000000}
nsteps=${3:-200}
here=$(cd "$(dirname "$0")" && pwd)
exe="$build/bench/bench_em_ou1d"
[ -x "$exe" ] || { echo "run_em.sh: $exe not found; build the bench_em_ou1d target first" >&2; exit 1; }
# NumPy: the system interpreter (the pyenv one on PATH has no numpy).
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import numpy' 2>/dev/null || { echo "run_em.sh: $py has no numpy (set PYTHON=...)" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
c_out=$(OMP_NUM_THREADS=1 "$exe" "$npaths" "$nsteps" 1)
echo "$c_out"
np_out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/em_ou1d_numpy.py" "$npaths" "$nsteps")
echo "$np_out"
rate() { echo "$1" | grep "$2" | sed -n 's/.*s, \([0-9.e+-]*\) path-steps.*/\1/p' | head -1; }
cpu() { echo "$1" | grep "$2" | sed -n 's/.*per CPU-second \([0-9.e+-]*\);.*/\1/p' | head -1; }
awk -v c="$(rate "$c_out" 'EM OU1d')" -v n="$(rate "$np_out" in-place)" \
    -v cc="$(cpu "$c_out" 'EM OU1d')" -v nc="$(cpu "$np_out" in-place)" \
    -v ne="$(rate "$np_out" expression)" 'BEGIN {
  printf "ratio fpkit/numpy (in-place): %.1fx wall-clock (fpkit %.3e, numpy %.3e path-steps/s/core), %.1fx per CPU-second\n", c / n, c, n, cc / nc
  printf "ratio fpkit/numpy (expression): %.1fx wall-clock\n", c / ne }'
