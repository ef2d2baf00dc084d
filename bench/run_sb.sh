#!/usr/bin/env bash
# Runs the Schrödinger-bridge benchmark of issue 13 (bench/bench_sb.c): a 2D bridge on a 256²
# grid of [-7.5, 7.5]², Brownian reference, σ = 0.3, T = 1, 20 output times, 10^6 exact-sampler
# paths, one thread; REPS repetitions, each timing every stage and the FFT floor in turn, then
# prints per stage the range over the repetitions (wall clock and CPU seconds), the total against
# the goal (< 5 s on one core), and the ratios marginal / FFT floor and drift / FFT floor (the
# r2c + c2r pairs the propagations would need) against the goal (<= 3x).
# Builds nothing: pass a build directory that has bench/bench_sb
# (cmake --build BUILD --target bench_sb).
#   bash bench/run_sb.sh BUILD_DIR [reps [n [npaths [nt]]]]
# Defaults: 5 repetitions of n = 256, 10^6 paths, 20 times (about 1.5 s of CPU per repetition,
# more than half of it the exact sampler; docs/performance.md).
set -euo pipefail
usage="usage: bash bench/run_sb.sh BUILD_DIR [reps [n [npaths [nt]]]]"
build=${1:?$usage}
reps=${2:-5}
n=${3:-256}
npaths=${4:-1000000}
nt=${5:-20}
exe="$build/bench/bench_sb"
[ -x "$exe" ] || { echo "run_sb.sh: $exe not found; build the bench_sb target first" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$exe" "$reps" "$n" "$npaths" "$nt")
echo "$out"
echo "--- load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "$out" | awk '
function val(key,   i, kv) {
  for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] }
  return ""
}
function upd(key, v) {
  if (!(key in lo) || v + 0 < lo[key]) lo[key] = v + 0
  if (!(key in hi) || v + 0 > hi[key]) hi[key] = v + 0
}
function rng(key, fmt,   a, b) {
  a = sprintf(fmt, lo[key]); b = sprintf(fmt, hi[key])
  return a == b ? a : a ".." b
}
$2 == "sb-case" { casel = $0; sub(/^fpkit sb-case /, "", casel) }
$2 == "sb-bench" {
  nrep++
  split("alloc solve marginal drift sample total", st, " ")
  for (k = 1; k <= 6; k++) { upd(st[k], val(st[k])); upd("cpu_" st[k], val("cpu_" st[k])) }
  split("fft_pair_ms cpu_fft_pair_ms ratio_marginal ratio_drift cpu_ratio_marginal cpu_ratio_drift", rr, " ")
  for (k = 1; k <= 6; k++) upd(rr[k], val(rr[k]))
}
END {
  printf "\ncase: %s; %d repetitions (ranges lowest..highest)\n", casel, nrep
  printf "%-10s %-18s %-18s %s\n", "stage", "wall s", "CPU s", "CPU share (lowest total)"
  split("alloc solve marginal drift sample total", st, " ")
  for (k = 1; k <= 6; k++)
    printf "%-10s %-18s %-18s %.1f%%\n", st[k], rng(st[k], "%.3f"), rng("cpu_" st[k], "%.3f"),
           100 * lo["cpu_" st[k]] / lo["cpu_total"]
  printf "FFT floor: one r2c + c2r pair %s ms wall, %s ms CPU\n", rng("fft_pair_ms", "%.3f"), rng("cpu_fft_pair_ms", "%.3f")
  printf "marginal / FFT floor: %s wall, %s CPU\n", rng("ratio_marginal", "%.2f"), rng("cpu_ratio_marginal", "%.2f")
  printf "drift / FFT floor:    %s wall, %s CPU\n", rng("ratio_drift", "%.2f"), rng("cpu_ratio_drift", "%.2f")
  printf "goal total < 5 s on one core: CPU %s s (%s); goal ratio <= 3x: highest CPU ratio %.2f (%s)\n",
         rng("cpu_total", "%.2f"), lo["cpu_total"] < 5 ? (hi["cpu_total"] < 5 ? "met" : "met at best, not always") : "NOT met",
         (hi["cpu_ratio_marginal"] > hi["cpu_ratio_drift"] ? hi["cpu_ratio_marginal"] : hi["cpu_ratio_drift"]),
         (hi["cpu_ratio_marginal"] <= 3 && hi["cpu_ratio_drift"] <= 3) ? "met" : "NOT met"
}'
