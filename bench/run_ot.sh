#!/usr/bin/env bash
# Runs the entropic OT benchmarks.
#
# 1. POT's kernel mode against fpkit (issue 15), first: the 1D grid problem of bench_ot.c's
#    line_problem (n cells of [0, 1], cost |x - y|^2, a and b two Gaussian bumps, centres 0.35 and
#    0.65, widths 0.12 and 0.10), n = 2000 and 4000, eps = 0.05 and 0.005, REPS repetitions
#    alternating fpkit (bench_ot line: dense with its defaults, dense plain = eps_start = eps and
#    omega = 1, and the grid solver's defaults through fpk_ot_grid_solve, each solve in its own
#    process as POT's) and POT
#    (ot_numpy.py --line: ot.sinkhorn(a, b, C, reg=eps, method='sinkhorn'), stopThr = 1e-9/sqrt(n)
#    so that its L1 error is <= 1e-9 like fpkit's tol, and stopThr = 1e-9 as users call it, whose
#    L1 error is ~1e-8), all on one thread; then once the wider box [0, 4] at eps = 0.005, where
#    POT's kernel mode overflows. Prints per case the CPU-time ratios POT / fpkit with their range
#    over the repetitions, the achieved L1 marginal errors (recomputed from each plan), the
#    values' relative difference, and GOAL lines. POT comes from FPK_POT_DIR (prepended to
#    PYTHONPATH; e.g. /tmp/pot, built by ../shared/peers/build-pot.sh), or an installed `ot`;
#    skipped, saying so, when neither imports. LINE=0 skips this part.
# 2. The dense log-domain Sinkhorn of fpkit (bench/bench_ot.c, 1 and 2 threads) and its NumPy
#    peer (bench/ot_numpy.py, the same iteration on the same problem) alternately, REPS times,
#    then the grid kernel back-ends once, and prints
#  - dense: per row the range over the repetitions of wall-clock and CPU seconds to converge
#    (L1 marginal error <= 1e-9), the iterations, and the speed-up NumPy time / fpkit time taken
#    within each repetition (range and median), against the goal >= 5x on the same iteration
#    (the "plain" row: fpkit's default absorbed products, one thread, median over repetitions;
#    the "log" row is the same iteration with every log-sum-exp in the log domain, as NumPy);
#  - grid: ms per kernel application and per Sinkhorn iteration for each back-end (fft, blas,
#    lse, auto) at 64², 128², 256², 512², and the fitted exponent of time against N = n².
# POT's log-domain sinkhorn_log runs once on the dense problem when `import ot` works.
# Builds nothing: pass a build directory that has bench/bench_ot
# (e.g. cmake --build BUILD --target bench_ot).
#   bash bench/run_ot.sh BUILD_DIR [reps [n [eps [grid_reps [nmax]]]]]
# Defaults: 3 repetitions; part 2 at n = 2000, eps = 0.25 (267 plain iterations), the grid at
# 3 repetitions up to 512². Part 1 takes about 1 min on an idle machine; part 2 about 16 s of
# fpkit and 15 s of NumPy per repetition, POT about 25 s, the grid part about 5 min. Set GRID=0
# to skip the grid part, DENSE=0 to skip the dense one, POT=0 to skip POT in part 2; LINE_N and
# LINE_EPS (space-separated lists) change part 1's sizes and eps.
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
if [ -n "${FPK_POT_DIR:-}" ]; then export PYTHONPATH="$FPK_POT_DIR${PYTHONPATH:+:$PYTHONPATH}"; fi
pot_version=$("$py" -c 'import ot; print(ot.__version__)' 2>/dev/null || true)
if [ -n "$pot_version" ]; then
  echo "POT $pot_version ($("$py" -c 'import ot, os; print(os.path.dirname(ot.__file__))'))"
else
  echo "POT: not found (set FPK_POT_DIR to a POT build, e.g. ../shared/peers/build-pot.sh DIR): POT rows skipped"
fi
all=""
if [ "${LINE:-1}" != 0 ]; then
  line_all=""
  for ((r = 1; r <= reps; r++)); do
    echo "--- POT comparison, repetition $r of $reps (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for ln in ${LINE_N:-2000 4000}; do
      for le in ${LINE_EPS:-0.05 0.005}; do
        # one process per solve, fpkit's as POT's: each pays its first touch of fresh memory
        out=""
        for mode in dense-default dense-plain grid; do
          out+=$(OMP_NUM_THREADS=1 "$exe" line "$ln" "$le" 1 1 "$mode")$'\n'
        done
        out=${out%$'\n'}
        if [ -n "$pot_version" ]; then
          for v in l1 l2; do
            out+=$'\n'$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$py" "$here/ot_numpy.py" --line "$ln" "$le" 1 "$v")
          done
        fi
        echo "$out"
        line_all+=$(printf '%s\n' "$out" | sed "s/^/$r /")$'\n'
      done
    done
  done
  echo "--- threads: dense plain, n = 2000, eps = 0.005, 1 and 2 threads alternately, $reps repetitions"
  thr_out=""
  for ((r = 1; r <= reps; r++)); do
    for t in 1 2; do
      thr_out+=$("$exe" line 2000 0.005 1 "$t" dense-plain | sed "s/^/$r /")$'\n'
    done
  done
  printf '%s' "$thr_out"
  printf '%s' "$thr_out" | awk -v la="$(cut -d' ' -f1 /proc/loadavg)" '
    function val(key,   i, kv) { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] } return "" }
    { w[$1, val("threads")] = val("wall"); if ($1 > nr) nr = $1 }
    END {
      lo = 1e9; hi = 0
      for (r = 1; r <= nr; r++) if (w[r, 2] > 0) { q = w[r, 1] / w[r, 2]; v[r] = q; if (q < lo) lo = q; if (q > hi) hi = q }
      for (i = 1; i <= nr; i++) for (j = i + 1; j <= nr; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      med = nr % 2 ? v[(nr + 1) / 2] : (v[nr / 2] + v[nr / 2 + 1]) / 2
      printf "GOAL dense solve on 2 threads not slower than on 1 (wall 1-thread / 2-thread, n=2000 eps=0.005 plain): %.2fx [%.2f, %.2f] (goal >= 1 on an idle machine; load average %s): %s\n", med, lo, hi, la, (lo >= 1 ? "met" : "NOT met")
    }'
  echo "--- the wider box [0, 4] at eps = 0.005 (once)"
  out=$(OMP_NUM_THREADS=1 "$exe" line 2000 0.005 4 1 dense-default)
  if [ -n "$pot_version" ]; then
    out+=$'\n'$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$py" "$here/ot_numpy.py" --line 2000 0.005 4 l1)
  fi
  echo "$out"
  line_all+=$(printf '%s\n' "$out" | sed "s/^/0 /")$'\n'
  echo "--- load average $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%s' "$line_all" | awk -v reps="$reps" '
function val(key,   i, kv) {
  for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] }
  return ""
}
function upd(key, v) {
  if (!(key in lo) || v < lo[key]) lo[key] = v
  if (!(key in hi) || v > hi[key]) hi[key] = v
}
function median(key,   i, j, t, n, v) {
  n = cnt[key]; for (i = 1; i <= n; i++) v[i] = xs[key, i]
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(key, v) { xs[key, ++cnt[key]] = v; upd(key, v) }
{
  r = $1; cas = val("n") " " val("eps") " " val("L")
  if (!(cas in cseen)) { cseen[cas] = 1; corder[++nc] = cas }
  row = $2 == "fpkit" ? "fpkit " val("mode") : "pot " val("variant")
  if (!((cas, row) in rseen)) { rseen[cas, row] = 1; rows[cas, ++nr[cas]] = row }
  cpu[cas, row, r] = val("cpu"); it[cas, row] = val("iters"); err[cas, row] = val("err_plan")
  prim[cas, row] = val("primal"); warn[cas, row] = val("warnings"); fin[cas, row] = val("finite")
  conv[cas, row] = val("converged"); st[cas, row] = val("stages"); kern[cas, row] = val("kernel")
  upd(cas SUBSEP row SUBSEP "cpu", val("cpu"))
}
END {
  printf "\nPOT kernel mode vs fpkit, one thread, CPU seconds (range over repetitions); ratio = POT (equal L1, stopThr 1e-9/sqrt(n)) / row, within each repetition\n"
  printf "%-18s %-16s %-8s %-19s %-10s %-22s %-9s %s\n", "case n eps L", "row", "iters", "CPU s", "L1 error", "ratio POT/row", "median", "value rel. diff to POT"
  for (k = 1; k <= nc; k++) {
    cas = corder[k]
    for (q = 1; q <= nr[cas]; q++) {
      row = rows[cas, q]; key = cas SUBSEP row
      for (r = 1; r <= reps; r++)
        if ((cas, "pot l1", r) in cpu && (cas, row, r) in cpu && cpu[cas, row, r] > 0)
          add(key SUBSEP "ratio", cpu[cas, "pot l1", r] / cpu[cas, row, r])
      rr = (key SUBSEP "ratio") in lo ? sprintf("%.2fx [%.2f, %.2f]", median(key SUBSEP "ratio"), lo[key SUBSEP "ratio"], hi[key SUBSEP "ratio"]) : "-"
      md = (key SUBSEP "ratio") in lo ? sprintf("%.2fx", median(key SUBSEP "ratio")) : "-"
      dv = ((cas, "pot l1") in prim && prim[cas, "pot l1"] != 0) ? sprintf("%.2e", (prim[cas, row] - prim[cas, "pot l1"]) / prim[cas, "pot l1"]) : "-"
      printf "%-18s %-16s %-8s %-19s %-10s %-22s %-9s %s%s\n", cas, row, it[cas, row],
             sprintf("%.4f..%.4f", lo[key SUBSEP "cpu"], hi[key SUBSEP "cpu"]), err[cas, row], rr, md, dv,
             (warn[cas, row] != "" && warn[cas, row] != "-") ? "  POT warned: " warn[cas, row] : ""
    }
  }
  printf "\n"
  for (k = 1; k <= nc; k++) {
    cas = corder[k]; split(cas, c, " ")
    if (c[3] != 1) continue
    for (q = 1; q <= nr[cas]; q++) {
      row = rows[cas, q]; key = cas SUBSEP row SUBSEP "ratio"
      if (row !~ /^fpkit/ || !(key in lo)) continue
      dv = (prim[cas, row] - prim[cas, "pot l1"]) / prim[cas, "pot l1"]; if (dv < 0) dv = -dv
      ok = lo[key] >= 2 && dv <= 1e-9 && err[cas, row] <= 1e-9
      printf "GOAL %s%s vs POT kernel mode, n=%s eps=%s [0,1]: ratio %.2fx [%.2f, %.2f] (goal >= 2x at equal L1 tol 1e-9; L1 %s vs POT %s; value rel. diff %.1e <= 1e-9): %s\n",
             row, (kern[cas, row] != "" && kern[cas, row] != "-") ? " (kernel " kern[cas, row] ")" : "", c[1], c[2], median(key), lo[key], hi[key], err[cas, row], err[cas, "pot l1"], dv, ok ? "met" : "NOT met"
    }
  }
  for (k = 1; k <= nc; k++) {
    cas = corder[k]; split(cas, c, " ")
    if (c[3] != 1 || !((cas, "fpkit dense-plain") in it) || !((cas, "fpkit dense-default") in it)) continue
    key = cas SUBSEP "dp"
    for (r = 1; r <= reps; r++)
      if ((cas, "fpkit dense-plain", r) in cpu && (cas, "fpkit dense-default", r) in cpu && cpu[cas, "fpkit dense-default", r] > 0)
        add(key, cpu[cas, "fpkit dense-plain", r] / cpu[cas, "fpkit dense-default", r])
    if (!(key in lo)) continue
    ok = it[cas, "fpkit dense-default"] <= it[cas, "fpkit dense-plain"] && median(key) >= 0.9
    printf "GOAL eps-scaling default never slower than plain, n=%s eps=%s: plain/default CPU %.2fx [%.2f, %.2f], iterations %s (%s stage(s)) vs plain %s (goal: no more iterations, CPU ratio >= 0.9 within noise): %s\n",
           c[1], c[2], median(key), lo[key], hi[key], it[cas, "fpkit dense-default"], st[cas, "fpkit dense-default"], it[cas, "fpkit dense-plain"], ok ? "met" : "NOT met"
  }
  for (k = 1; k <= nc; k++) {
    cas = corder[k]; split(cas, c, " ")
    if (c[3] == 1) continue
    fp = conv[cas, "fpkit dense-default"] == 1 && err[cas, "fpkit dense-default"] <= 1e-9
    pb = (cas, "pot l1") in err ? (fin[cas, "pot l1"] != 1 || err[cas, "pot l1"] > 1e-6 || warn[cas, "pot l1"] != "-") : -1
    printf "GOAL stable where POT kernel mode overflows, n=%s eps=%s box [0,%s]: fpkit dense-default L1 %s (%s iterations); POT %s: %s\n",
           c[1], c[2], c[3], err[cas, "fpkit dense-default"], it[cas, "fpkit dense-default"],
           pb == -1 ? "not run" : sprintf("L1 %s, warnings %s", err[cas, "pot l1"], warn[cas, "pot l1"]),
           fp && pb == 1 ? "met" : fp && pb == -1 ? "fpkit converged (POT not run)" : "NOT met"
  }
}'
fi
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
