#!/usr/bin/env bash
# Runs the entropic OT benchmark (issue 5): the dense log-domain Sinkhorn of fpkit
# (bench/bench_ot.c, 1 and 2 threads) and its NumPy peer (bench/ot_numpy.py, the same iteration
# on the same problem) alternately, REPS times, then the grid kernel back-ends once, and prints
#  - dense: per row the range over the repetitions of wall-clock and CPU seconds to converge
#    (L1 marginal error <= 1e-9), the iterations, and the speed-up NumPy time / fpkit time taken
#    within each repetition (range and median), against the goal >= 5x on the same iteration
#    (the "plain" row: fpkit's default absorbed products, one thread, median over repetitions;
#    the "log" row is the same iteration with every log-sum-exp in the log domain, as NumPy);
#  - grid: ms per kernel application and per Sinkhorn iteration for each back-end (fft, blas,
#    lse, auto) at 64², 128², 256², 512², and the fitted exponent of time against N = n².
# POT (python3-pot) runs once on the dense problem when `import ot` works; skipped otherwise.
# Builds nothing: pass a build directory that has bench/bench_ot
# (e.g. cmake --build BUILD --target bench_ot).
#   bash bench/run_ot.sh BUILD_DIR [reps [n [eps [grid_reps [nmax]]]]]
# Defaults: 3 repetitions of n = 2000, eps = 0.25 (267 plain iterations), the grid at
# 3 repetitions up to 512². One repetition takes about 16 s of fpkit and 15 s of NumPy on an
# idle machine, POT about 25 s, the grid part about 5 min (7 min in all). Set GRID=0 to skip the
# grid part, DENSE=0 to skip the dense one, POT=0 to skip POT.
set -euo pipefail
usage="usage: bash bench/run_ot.sh BUILD_DIR [reps [n [eps [grid_reps [nmax]]]]]"
build=${1:?$usage}
reps=${2:-3}
n=${3:-2000}
eps=${4:-0.25}
greps=${5:-3}
nmax=${6:-512}
here=$(cd "$(dirname "$0")" && pwd)
exe="$build/bench/bench_ot"
[ -x "$exe" ] || { echo "run_ot.sh: $exe not found; build the bench_ot target first" >&2; exit 1; }
# NumPy: the system interpreter (the pyenv one on PATH has no numpy).
py=${PYTHON:-/usr/bin/python3}
"$py" -c 'import numpy' 2>/dev/null || { echo "run_ot.sh: $py has no numpy (set PYTHON=...)" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "numpy $("$py" -c 'import numpy; print(numpy.__version__)'), $("$py" --version 2>&1)"
all=""
if [ "${DENSE:-1}" != 0 ]; then
  for ((r = 1; r <= reps; r++)); do
    echo "--- repetition $r of $reps (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    c_out=$("$exe" dense "$n" "$eps" 1 1,2)
    echo "$c_out"
    np_out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/ot_numpy.py" "$n" "$eps" 1)
    echo "$np_out"
    all+=$(printf '%s\n%s\n' "$c_out" "$np_out" | sed "s/^/$r /")$'\n'
  done
  if [ "${POT:-1}" != 0 ]; then
    echo "--- POT (once; its value is reg*sum(pi log pi), not fpkit's: compare the plan)"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/ot_numpy.py" "$n" "$eps" 1 --pot | grep -v '^numpy dense-problem' || true
  fi
fi
if [ "${GRID:-1}" != 0 ]; then
  echo "--- grid kernels (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  g_out=$("$exe" grid "$greps" "$nmax" 1)
  echo "$g_out"
  all+=$(printf '%s\n' "$g_out" | sed "s/^/0 /")$'\n'
fi
echo "--- load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Lines: "REP fpkit dense mode=M threads=T ... iters=I ... wall=W ... cpu=C ...",
#        "REP numpy dense mode=plain threads=1 ...", "0 fpkit kernel backend=B ...", "0 fpkit fit ...".
printf '%s' "$all" | awk -v reps="$reps" '
function val(key,   i, kv) {        # the value of key=value on the current line
  for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] }
  return ""
}
function upd(key, v) {
  if (!(key in lo) || v < lo[key]) lo[key] = v
  if (!(key in hi) || v > hi[key]) hi[key] = v
}
function median(row,   r, n, v, i, j, t) { # median over repetitions of NumPy wall / fpkit wall
  n = 0
  for (r = 1; r <= reps; r++)
    if ((row, r) in w && (np, r) in w && w[row, r] > 0) v[++n] = w[np, r] / w[row, r]
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
  if (n == 0) return 0
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function rng(key, fmt,   a, b) {
  if (!(key in lo)) return "-"
  a = sprintf(fmt, lo[key]); b = sprintf(fmt, hi[key])
  return a == b ? a : a ".." b
}
$3 == "dense" {
  r = $1; row = $2 " " val("mode") " " val("threads")
  if (!(row in seen)) { seen[row] = 1; order[++nrow] = row }
  w[row, r] = val("wall"); c[row, r] = val("cpu"); it[row, r] = val("iters")
  upd(row "w", w[row, r]); upd(row "c", c[row, r]); upd(row "i", it[row, r])
  upd(row "e", val("err")); dual[row] = val("dual")
}
$2 == "fpkit" && $3 == "kernel" && val("apply_ms") != "" {
  k = val("backend") " " val("eps_case"); if (!(k in kseen)) { kseen[k] = 1; korder[++nk] = k }
  if (used[k] == "") used[k] = val("used")
  am[k, val("n")] = val("apply_ms"); im[k, val("n")] = val("iter_ms"); sizes[val("n")] = 1
  amc[k, val("n")] = val("apply_cpu_ms"); imc[k, val("n")] = val("iter_cpu_ms")
}
$2 == "fpkit" && $3 == "kernel" && val("refused") != "" {
  k = val("backend") " " val("eps_case"); if (!(k in kseen)) { kseen[k] = 1; korder[++nk] = k }
  am[k, val("n")] = "refused"; sizes[val("n")] = 1
}
$2 == "fpkit" && $3 == "fit" {
  k = val("backend") " " val("eps_case")
  fit[k] = sprintf("%.2f / %.2f", val("exponent_apply_cpu"), val("exponent_iter_cpu"))
  fitw[k] = sprintf("%.2f / %.2f", val("exponent_apply"), val("exponent_iter"))
}
function gridtable(title, A, I, F,   q, k, p, u, i, cell) {
  printf "\n%s\n", title
  printf "%-12s %-14s", "back-end", "eps"
  for (i = 1; i <= ns; i++) printf " %-19s", sz[i] "^2"
  printf " %s\n", "exponent apply / iter"
  for (q = 1; q <= nk; q++) {
    k = korder[q]; split(k, p, " ")
    u = used[k]
    printf "%-12s %-14s", p[1] (p[1] == "auto" && u != "" ? "(" u ")" : ""), p[2]
    for (i = 1; i <= ns; i++) {
      if (!((k, sz[i]) in am)) cell = "-"
      else if (am[k, sz[i]] == "refused") cell = "refused"
      else cell = sprintf("%.3g / %.3g", A[k, sz[i]], I[k, sz[i]])
      printf " %-19s", cell
    }
    printf " %s\n", (k in F) ? F[k] : "-"
  }
}
END {
  np = "numpy plain 1"
  if (nrow) {
    printf "\ndense: ranges over %d repetitions; speed-up = NumPy plain time / fpkit time, within each repetition\n", reps
    printf "%-22s %-11s %-17s %-17s %-15s %-8s %-15s %-10s %s\n", "row", "iterations", "wall s", "CPU s",
           "speed-up wall", "median", "speed-up CPU", "error", "dual"
    for (k = 1; k <= nrow; k++) {
      row = order[k]
      for (r = 1; r <= reps; r++)
        if ((row, r) in w && (np, r) in w && w[row, r] > 0) {
          upd(row "sw", w[np, r] / w[row, r]); upd(row "sc", c[np, r] / c[row, r])
        }
      split(row, p, " ")
      printf "%-22s %-11s %-17s %-17s %-15s %-8s %-15s %-10s %s\n", p[1] " " p[2] " " p[3] "thr",
             rng(row "i", "%d"), rng(row "w", "%.3f"), rng(row "c", "%.3f"),
             row == np ? "1" : rng(row "sw", "%.2fx"), row == np ? "1" : sprintf("%.2fx", median(row)),
             row == np ? "1" : rng(row "sc", "%.2fx"),
             rng(row "e", "%.1e"), dual[row]
    }
    g = "fpkit plain 1"
    if ((g "sw") in lo)
      printf "goal >= 5x NumPy on the same iteration (fpkit plain, 1 thread): median %.2fx (%s); lowest wall %.2fx, lowest CPU %.2fx\n",
             median(g), (median(g) >= 5 ? "met" : "NOT met"), lo[g "sw"], lo[g "sc"]
  }
  if (nk) {
    ns = 0; for (s in sizes) sz[++ns] = s + 0
    for (i = 1; i <= ns; i++) for (j = i + 1; j <= ns; j++) if (sz[j] < sz[i]) { t = sz[i]; sz[i] = sz[j]; sz[j] = t }
    gridtable("grid 2D [0,1]^2, one thread, CPU time: ms per kernel application / per Sinkhorn iteration; fitted exponent of time vs N = n^2", amc, imc, fit)
    gridtable("the same, wall clock", am, im, fitw)
  }
}'
