#!/usr/bin/env bash
# Finite volumes in 2D (issue 15): time per cell and step of the split (ADI) solver against the
# direct (UMFPACK) one, side by side, 1 vs 2 threads, and the peak memory at 400², on the
# flagship's non-symmetric 2D OU with TR-BDF2 (bench/bench_fv.c). Every measurement is its own
# process (its ru_maxrss is that grid's); repetitions alternate split 1 thread, split 2 threads,
# direct, size after size, so that a change of load hits all of them alike.
#   bash bench/run_fv.sh BUILD_DIR [-r REPS] [-t SEC] [-d DIRECT_MAX] [-S STEPPER] [N ...]
# Defaults: 3 reps, >= 1 s per measurement, direct up to 400², tr-bdf2, N = 100 200 400 800 1600
# (about 3 minutes). Builds nothing: cmake --build BUILD --target bench_fv first.
# Goals: split <= 50 ns per cell-step at every N (one thread, CPU time: the machine is shared);
# 2 threads >= 1.8x faster than 1 (wall clock: needs two idle cores, see the load average; on a
# busy machine every OpenMP barrier waits for a descheduled thread and the wall-clock ratio means
# nothing, so the script also runs 2 threads with OMP_WAIT_POLICY=passive — threads sleep instead
# of spinning — and prints the CPU-time efficiency CPU(1 thread) / CPU(2 threads): the work the
# second thread adds, a load-independent bound on the speed-up, 2 x efficiency);
# peak resident memory at 400² <= 40 MB.
set -euo pipefail
build=${1:?usage: bash bench/run_fv.sh BUILD_DIR [-r REPS] [-t SEC] [-d DIRECT_MAX] [-S STEPPER] [N ...]}
shift
exe="$build/bench/bench_fv"
[ -x "$exe" ] || { echo "run_fv.sh: $exe not found; build the bench_fv target first" >&2; exit 1; }
reps=3 tsec=1.0 dmax=400 stepper=tr-bdf2 sizes=()
while [ $# -gt 0 ]; do
  case $1 in
    -r) reps=$2; shift 2 ;;
    -t) tsec=$2; shift 2 ;;
    -d) dmax=$2; shift 2 ;;
    -S) stepper=$2; shift 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100 200 400 800 1600)

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "stepper $stepper, dt 5e-3, [-4,4]^2 reflecting, OU A = [1 0.8; -0.6 0.5], sigma = (0.8, 0.6)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$reps"); do
  for n in "${sizes[@]}"; do
    "$exe" -t "$tsec" -S "$stepper" -s split -T 1 "$n" | sed "s/^/rep $r /" | tee -a "$out"
    "$exe" -t "$tsec" -S "$stepper" -s split -T 2 "$n" | sed "s/^/rep $r /" | tee -a "$out"
    OMP_WAIT_POLICY=passive "$exe" -t "$tsec" -S "$stepper" -s split -T 2 "$n" |
      sed "s/^/rep $r passive /" | tee -a "$out"
    if [ "$n" -le "$dmax" ]; then
      "$exe" -t "$tsec" -S "$stepper" -s direct -T 1 "$n" | sed "s/^/rep $r /" | tee -a "$out"
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$out" <<'PY'
import sys, statistics as st
rows = []
for line in open(sys.argv[1]):
    w = line.split()
    # rep R fv N SOLVER STEPPER THREADS steps S ns_wall W ns_cpu C setup_s A maxrss_mb M base_mb B ...
    passive = w[2] == "passive"
    if passive: del w[2]
    d = dict(rep=int(w[1]), n=int(w[3]), solver=w[4] + ("-passive" if passive else ""),
             threads=int(w[6]))
    for k in range(7, len(w) - 1, 2):
        try: d[w[k]] = float(w[k + 1])
        except ValueError: pass
    rows.append(d)
def sel(n, solver, threads):
    return {d["rep"]: d for d in rows if d["n"] == n and d["solver"] == solver and d["threads"] == threads}
def fmt(v): return f"{st.median(v):.3g} [{min(v):.3g}, {max(v):.3g}]"
sizes = sorted({d["n"] for d in rows})
print(f"{'N':>6} {'split ns/cell-step CPU':>26} {'wall':>24} {'direct CPU':>24} {'direct/split':>22} {'2 threads speedup':>22} {'MB split':>9} {'MB direct':>9}")
worst, speed_ok, speedups = 0.0, True, {}
for n in sizes:
    s1, s2, dd = sel(n, "split", 1), sel(n, "split", 2), sel(n, "direct", 1)
    cpu = [d["ns_cpu"] for d in s1.values()]
    wall = [d["ns_wall"] for d in s1.values()]
    worst = max(worst, st.median(cpu))
    dcpu = [d["ns_cpu"] for d in dd.values()]
    ratio = [dd[r]["ns_cpu"] / s1[r]["ns_cpu"] for r in dd if r in s1]
    sp = [s1[r]["ns_wall"] / s2[r]["ns_wall"] for r in s2 if r in s1]
    sp2 = sel(n, "split-passive", 2)
    eff = [s1[r]["ns_cpu"] / sp2[r]["ns_cpu"] for r in sp2 if r in s1]
    speedups[n] = (sp, eff)
    mem = max(d["maxrss_mb"] for d in s1.values())
    dmem = max(d["maxrss_mb"] for d in dd.values()) if dd else float("nan")
    print(f"{n:>5}² {fmt(cpu):>26} {fmt(wall):>24} {fmt(dcpu) if dcpu else '-':>24} "
          f"{(fmt(ratio) + 'x') if ratio else '-':>22} {(fmt(sp) + 'x') if sp else '-':>22} {mem:>9.1f} {dmem:>9.1f}")
cpus = {n: st.median([d["ns_cpu"] for d in sel(n, "split", 1).values()]) for n in sizes}
lo, hi = min(sizes), max(sizes)
print(f"GOAL split <= 50 ns per cell-step, {lo}² to {hi}² (1 thread, CPU time): worst median "
      f"{worst:.1f} ns, {lo}² {cpus[lo]:.1f} -> {hi}² {cpus[hi]:.1f} ns ({cpus[hi] / cpus[lo]:.2f}x): "
      f"{'met' if worst <= 50 else 'NOT met'}")
for n in sizes:
    sp, eff = speedups[n]
    if sp:
        print(f"GOAL 2 threads >= 1.8x at {n}² (wall clock): {st.median(sp):.2f}x [{min(sp):.2f}, {max(sp):.2f}]: "
              f"{'met' if st.median(sp) >= 1.8 else 'NOT met'}"
              + (f"; CPU-time efficiency {st.median(eff):.2f} [{min(eff):.2f}, {max(eff):.2f}] "
                 f"(bound 2 x eff = {2 * st.median(eff):.2f}x)" if eff else ""))
if 400 in sizes:
    m400 = max(d["maxrss_mb"] for d in sel(400, "split", 1).values())
    print(f"GOAL peak memory at 400² <= 40 MB (split, whole process): {m400:.1f} MB: {'met' if m400 <= 40 else 'NOT met'}")
PY
