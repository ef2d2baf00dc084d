#!/usr/bin/env bash
# Exact-score diffusion benchmark (issue 14): fpkit (one thread) beside the vectorised NumPy peer,
# the score evaluation and a probability-flow Euler sampler on a 2D mixture; prints both and the
# ratios. Build first: cmake --build BUILD --target bench_diffusion.
#   bash bench/run_diffusion.sh BUILD_DIR [npoints [K [nsteps [reps]]]]
set -euo pipefail
build=${1:?usage: bash bench/run_diffusion.sh BUILD_DIR [npoints [K [nsteps [reps]]]]}
n=${2:-100000} K=${3:-8} nsteps=${4:-50} reps=${5:-3}
here=$(cd "$(dirname "$0")" && pwd)
exe="$build/bench/bench_diffusion"
[ -x "$exe" ] || { echo "run_diffusion.sh: $exe not found; build bench_diffusion first" >&2; exit 1; }
py=${PYTHON:-/usr/bin/python3}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
for rep in 1 2; do  # alternating repetitions: fpkit, numpy, fpkit, numpy
  c=$(OMP_NUM_THREADS=1 "$exe" "$n" "$K" "$nsteps" "$reps")
  p=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/diffusion_numpy.py" "$n" "$K" "$nsteps" "$reps")
  echo "$c"; echo "$p"
  get() { echo "$1" | grep "$2" | sed -n "s/.* $3=\([0-9.e+-]*\).*/\1/p"; }
  awk -v cs="$(get "$c" "fpkit score" wall)" -v ps="$(get "$p" "numpy score" wall)" \
      -v cw="$(get "$c" "fpkit sampler" wall)" -v pw="$(get "$p" "numpy sampler" wall)" \
      'BEGIN { printf "round %d: score fpkit/numpy %.1fx, sampler fpkit/numpy %.1fx (wall)\n", '"$rep"', ps / cs, pw / cw }'
done
