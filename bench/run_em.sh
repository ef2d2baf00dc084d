#!/usr/bin/env bash
# Euler–Maruyama on 1D OU (10^6 paths x 200 steps): fpkit beside the vectorised NumPy version,
# alternating repetitions. Each fpkit repetition runs the fused kernel (default) and the generic
# path (stepper callback per step) back to back. Prints every repetition, the ranges, and the
# GOAL lines of issue 15: >= 5e8 path-steps/s/core, the ratio to NumPy, fused vs generic, and
# one 2-thread run (parallel efficiency). Rates per core: wall clock, and per CPU-second (the
# steadier one on a shared machine; the GOAL lines use it). Builds nothing: pass a build
# directory that has bench/bench_em_ou1d (cmake --build BUILD --target bench_em_ou1d).
#   bash bench/run_em.sh BUILD_DIR [npaths [nsteps [reps]]]
set -euo pipefail
build=${1:?usage: bash bench/run_em.sh BUILD_DIR [npaths [nsteps [reps]]]}
npaths=${2:-1000000}
nsteps=${3:-200}
reps=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
exe="$build/bench/bench_em_ou1d"
[ -x "$exe" ] || { echo "run_em.sh: $exe not found; build the bench_em_ou1d target first" >&2; exit 1; }
# NumPy: the system interpreter (the pyenv one on PATH has no numpy).
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import numpy' 2>/dev/null || { echo "run_em.sh: $py has no numpy (set PYTHON=...)" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; build: -march=$(sed -n 's/^FPK_ARCH:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# field N of a line: the wall rate follows "s, ", the CPU rate "per CPU-second "
wall() { sed -n 's/.*s, \([0-9.e+-]*\) path-steps.*/\1/p' | head -1; }
percpu() { sed -n 's/.*per CPU-second \([0-9.e+-]*\);.*/\1/p' | head -1; }
rows=()
for r in $(seq 1 "$reps"); do
  c_out=$(OMP_NUM_THREADS=1 "$exe" "$npaths" "$nsteps" 1 1)
  echo "$c_out" | grep ' rep:'
  np_out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/em_ou1d_numpy.py" "$npaths" "$nsteps" 1)
  echo "$np_out"
  f=$(echo "$c_out" | grep '(fused) rep')
  g=$(echo "$c_out" | grep '(generic) rep')
  n=$(echo "$np_out" | grep 'in-place')
  e=$(echo "$np_out" | grep 'expression')
  rows+=("$(echo "$f" | wall) $(echo "$f" | percpu) $(echo "$g" | wall) $(echo "$g" | percpu) $(echo "$n" | wall) $(echo "$n" | percpu) $(echo "$e" | percpu)")
  echo "$c_out" | grep -q 'bitwise identical' || { echo "run_em.sh: fused and generic differ" >&2; exit 1; }
done
echo "$(echo "$c_out" | grep 'normals:')"
echo "load average after the 1-thread runs: $(cut -d' ' -f1-3 /proc/loadavg)"
# 2 threads, once: per-core rate and efficiency against the 1-thread fused runs (per CPU-second)
t2=$(OMP_NUM_THREADS=2 "$exe" "$npaths" "$nsteps" 2 1)
echo "$t2" | grep ' rep:'
t2w=$(echo "$t2" | grep '(fused) rep' | wall)
t2c=$(echo "$t2" | grep '(fused) rep' | percpu)
printf '%s\n' "${rows[@]}" | awk -v reps="$reps" -v t2w="$t2w" -v t2c="$t2c" '
  function upd(name, v) { if (!(name in lo) || v < lo[name]) lo[name] = v; if (!(name in hi) || v > hi[name]) hi[name] = v }
  { upd("fw", $1); upd("fc", $2); upd("gw", $3); upd("gc", $4); upd("nw", $5); upd("nc", $6); upd("ec", $7)
    upd("rnp", $2 / $6); upd("rex", $2 / $7); upd("rfg", $2 / $4); upd("rnpw", $1 / $5) }
  END {
    printf "fpkit fused   : %.3e .. %.3e path-steps/s/core wall, %.3e .. %.3e per CPU-second (%d reps)\n", lo["fw"], hi["fw"], lo["fc"], hi["fc"], reps
    printf "fpkit generic : %.3e .. %.3e wall, %.3e .. %.3e per CPU-second\n", lo["gw"], hi["gw"], lo["gc"], hi["gc"]
    printf "numpy in-place: %.3e .. %.3e wall, %.3e .. %.3e per CPU-second\n", lo["nw"], hi["nw"], lo["nc"], hi["nc"]
    printf "2 threads (fused, once): %.3e path-steps/s per core wall (%.0f%% of the best 1-thread wall rate), %.3e per CPU-second (%.0f%% of the best 1-thread one)\n", t2w, 100 * t2w / hi["fw"], t2c, 100 * t2c / hi["fc"]
    printf "GOAL EM rate: %.3e path-steps/s/core per CPU-second [%.3e, %.3e] (goal >= 5e8): %s\n", lo["fc"], lo["fc"], hi["fc"], (lo["fc"] >= 5e8 ? "met" : (hi["fc"] >= 5e8 ? "met in some reps" : "NOT met"))
    printf "GOAL ratio to NumPy (in-place, per CPU-second): %.2fx [%.2f, %.2f] (wall %.2fx [%.2f, %.2f]; expression form %.2fx [%.2f, %.2f])\n", lo["rnp"], lo["rnp"], hi["rnp"], lo["rnpw"], lo["rnpw"], hi["rnpw"], lo["rex"], lo["rex"], hi["rex"]
    printf "fused vs generic (same runs, per CPU-second): %.2fx [%.2f, %.2f]; results bitwise identical\n", lo["rfg"], lo["rfg"], hi["rfg"]
  }'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
