#!/usr/bin/env bash
# Runs the SDE ensemble benchmark (fpkit, one thread; bench/bench_sde.c) and its vectorised NumPy
# peer (bench/sde_numpy.py) alternately, REPS times, and prints per case the range over the
# repetitions of path-steps/s per core (wall clock and per CPU-second), the ratio fpkit/NumPy
# (taken within each repetition), fpkit's ns per path-step, the cost of an expression model
# (interpreted by libmatheval, and compiled by libgccjit) against the same built-in, the goal
# >= 1e8 path-steps/s/core for the built-ins (issue 4) and the goal that a compiled expression
# model costs at most 1.5x its built-in (issue 15; GOAL lines).
# Builds nothing: pass a build directory that has bench/bench_sde
# (e.g. cmake --build BUILD --target bench_sde).
#   bash bench/run_sde.sh BUILD_DIR [reps [npaths [nsteps [nsteps_expr]]]]
# Defaults: 3 repetitions of 10^6 paths x 200 steps (10 steps for the expression models); one
# repetition takes about 10 s of fpkit and 25 s of NumPy on a quiet machine (2 min in all).
set -euo pipefail
usage="usage: bash bench/run_sde.sh BUILD_DIR [reps [npaths [nsteps [nsteps_expr]]]]"
build=${1:?$usage}
reps=${2:-3}
npaths=${3:-1000000}
nsteps=${4:-200}
nsteps_expr=${5:-10}
here=$(cd "$(dirname "$0")" && pwd)
exe="$build/bench/bench_sde"
[ -x "$exe" ] || { echo "run_sde.sh: $exe not found; build the bench_sde target first" >&2; exit 1; }
# NumPy: the system interpreter (the pyenv one on PATH has no numpy).
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import numpy' 2>/dev/null || { echo "run_sde.sh: $py has no numpy (set PYTHON=...)" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
all=""
for ((r = 1; r <= reps; r++)); do
  echo "--- repetition $r of $reps"
  c_out=$(OMP_NUM_THREADS=1 "$exe" "$npaths" "$nsteps" "$nsteps_expr" 1)
  echo "$c_out"
  np_out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/sde_numpy.py" "$npaths" "$nsteps" "$nsteps_expr")
  echo "$np_out"
  all+=$(printf '%s\n%s\n' "$c_out" "$np_out" | sed "s/^/$r /")$'\n'
done
echo "--- load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Lines: "REP fpkit  CASE : ... X s, RATE path-steps/s/core (per CPU-second CRATE; NS ns/path-step; ..."
#        "REP numpy  CASE (in-place): ..." (same fields).
printf '%s' "$all" | awk -v reps="$reps" '
function num(s, re,   t) {           # the number that follows the regular expression re in s
  if (!match(s, re)) return ""
  t = substr(s, RSTART + RLENGTH)
  match(t, /^[0-9.e+-]+/)
  return substr(t, RSTART, RLENGTH) + 0
}
function upd(key, v) {                 # range of v under key
  if (!(key in lo) || v < lo[key]) lo[key] = v
  if (!(key in hi) || v > hi[key]) hi[key] = v
}
function rng(key, fmt,   a, b) {      # "lo..hi", or one value when they print the same
  if (!(key in lo)) return "-"
  a = sprintf(fmt, lo[key]); b = sprintf(fmt, hi[key])
  return a == b ? a : a ".." b
}
($2 == "fpkit" || $2 == "numpy") && /path-steps/ {
  r = $1; who = $2; c = $3; sub(/:$/, "", c)
  if (who == "numpy" && $4 != "(in-place):") next
  w[who, c, r] = num($0, " s, "); u[who, c, r] = num($0, "per CPU-second ")
  ns[who, c, r] = num($0, "CPU-second [0-9.e+-]+; ")
  if (!(c in seen)) { seen[c] = 1; order[++ncase] = c }
}
END {
  for (k = 1; k <= ncase; k++) {
    c = order[k]
    for (r = 1; r <= reps; r++) {
      if (("fpkit", c, r) in w) {
        upd(c "fw", w["fpkit", c, r]); upd(c "fu", u["fpkit", c, r]); upd(c "fns", ns["fpkit", c, r])
      }
      if (("numpy", c, r) in w) { upd(c "nw", w["numpy", c, r]); upd(c "nu", u["numpy", c, r]) }
      if (("fpkit", c, r) in w && ("numpy", c, r) in w) {
        upd(c "rw", w["fpkit", c, r] / w["numpy", c, r]); upd(c "ru", u["fpkit", c, r] / u["numpy", c, r])
      }
    }
  }
  printf "\nranges over %d repetitions, one thread; ratios taken within each repetition\n", reps
  printf "%-18s %-21s %-21s %-21s %-21s %-13s %-13s %s\n", "case", "fpkit wall", "fpkit per CPU-s",
         "numpy wall", "numpy per CPU-s", "ratio wall", "ratio CPU", "fpkit ns/path-step (CPU)"
  for (k = 1; k <= ncase; k++) {
    c = order[k]
    printf "%-18s %-21s %-21s %-21s %-21s %-13s %-13s %s\n", c, rng(c "fw", "%.2e"), rng(c "fu", "%.2e"),
           rng(c "nw", "%.2e"), rng(c "nu", "%.2e"), rng(c "rw", "%.2fx"), rng(c "ru", "%.2fx"),
           rng(c "fns", "%.2f")
  }
  # Expression model against the same built-in: ns per path-step (CPU time) within a repetition.
  n = split("em-ou-expr:em-ou milstein-gbm-expr:milstein-gbm em-ou-jit:em-ou milstein-gbm-jit:milstein-gbm", pairs, " ")
  for (j = 1; j <= n; j++) {
    split(pairs[j], pc, ":")
    for (r = 1; r <= reps; r++)
      if (("fpkit", pc[1], r) in ns && ("fpkit", pc[2], r) in ns && ns["fpkit", pc[2], r] > 0)
        upd(pairs[j], ns["fpkit", pc[1], r] / ns["fpkit", pc[2], r])
    if (pairs[j] in lo)
      printf "expression vs built-in, ns per path-step: %s / %s = %s (%s against %s ns)\n", pc[1],
             pc[2], rng(pairs[j], "%.1fx"), rng(pc[1] "fns", "%.2f"), rng(pc[2] "fns", "%.2f")
  }
  # Goal of issue 15: a compiled expression model within 1.5x of the built-in (CPU time per
  # path-step, ratio within each repetition; met when the worst repetition meets it).
  n = split("em-ou-jit:em-ou milstein-gbm-jit:milstein-gbm", pairs, " ")
  for (j = 1; j <= n; j++) {
    split(pairs[j], pc, ":")
    if (!(pairs[j] in lo)) { printf "GOAL %s / %s: not measured (no libgccjit in this build)\n", pc[1], pc[2]; continue }
    m = 0                              # the median over the repetitions
    for (r = 1; r <= reps; r++)
      if (("fpkit", pc[1], r) in ns && ("fpkit", pc[2], r) in ns && ns["fpkit", pc[2], r] > 0) {
        v = ns["fpkit", pc[1], r] / ns["fpkit", pc[2], r]
        for (q = ++m; q > 1 && med[q - 1] > v; q--) med[q] = med[q - 1]
        med[q] = v
      }
    printf "GOAL expression model compiled, %s / %s: ratio %.2fx [%.2f, %.2f] over %d repetitions (goal <= 1.5x): %s\n",
           pc[1], pc[2], m % 2 ? med[(m + 1) / 2] : (med[m / 2] + med[m / 2 + 1]) / 2,
           lo[pairs[j]], hi[pairs[j]], m, hi[pairs[j]] <= 1.5 ? "met" : "NOT met"
  }
  # Goal for the built-ins: >= 1e8 path-steps/s/core, on the slowest repetition.
  n = split("em-ou milstein-gbm em-gbm", bi, " ")
  for (j = 1; j <= n; j++) {
    c = bi[j]
    if (!((c "fw") in lo)) continue
    printf "goal >= 1e8 path-steps/s/core, %-12s: %s (lowest wall %.3e, per CPU-second %.3e)\n", c,
           (lo[c "fw"] >= 1e8 && lo[c "fu"] >= 1e8) ? "met" : "NOT met", lo[c "fw"], lo[c "fu"]
  }
}'
