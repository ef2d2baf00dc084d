#!/usr/bin/env bash
# The checked writer beside plain HDF5 with fsync, the floor of a durable write (bench_io.c):
# time and peak memory for outputs of 3, 40 and 200 MB (10 datasets of [nt][200][200] each),
# modes alternating, REPS repetitions; prints the median ratio fpkit/floor with its range, and the
# time of plain HDF5 left in the page cache for reference. Builds nothing: pass a build directory with
# bench/bench_io.   bash bench/run_io.sh BUILD_DIR [REPS]   (default 5; about a minute)
set -euo pipefail
build=${1:?usage: bash bench/run_io.sh BUILD_DIR [REPS]}
reps=${2:-5}
exe="$build/bench/bench_io"
[ -x "$exe" ] || { echo "run_io.sh: $exe not found; build the bench_io target first" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for mb in 3 40 200; do
  for r in $(seq "$reps"); do
    for mode in plain-fsync fpkit plain; do
      /usr/bin/time -f "rss %M" "$exe" $mode $mb 10 "$dir" 2>&1 | tr '\n' ' '
      echo
    done
  done | awk -v mb=$mb '
    function sort(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }
    { for (i = 1; i <= NF; i++) { if ($i == "s,") t = $(i - 1); if ($i == "rss") m = $(i + 1) }
      if ($1 == "plain-fsync") { tp = t; mp = m } else if ($1 == "fpkit") { r[++n] = t / tp; dm[n] = (m - mp) / 1024; tf[n] = t; tq[n] = tp } else tc[n] = t }
    END {
      sort(r, n); sort(dm, n); sort(tf, n); sort(tq, n); sort(tc, n); h = int((n + 1) / 2)
      printf "%4d MB: fpkit %.3f s, plain+fsync %.3f s: ratio median %.2fx (range %.2f-%.2f, %d alternating runs); peak RSS +%.0f MB; plain, no fsync: %.3f s\n",
             mb, tf[h], tq[h], r[h], r[1], r[n], n, dm[h], tc[h] }'
done
