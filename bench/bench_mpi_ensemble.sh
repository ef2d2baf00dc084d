#!/usr/bin/env bash
# Strong scaling of a Monte Carlo ensemble over MPI ranks (issue 17; docs/parallel.md
# "Distributed ensembles"): `fpkit run` of one 1D OU ensemble (Euler-Maruyama, fused kernel;
# NPATHS paths x NSTEPS steps, a 200-cell histogram and the moments at 4 output times), with
# 1 rank x 1 thread and 2 ranks x 1 thread, alternating repetitions. The time is the engine's own
# (/mc attribute wall_seconds of the output: rank 0's, from the first block to the last merge,
# the rounds' agreements and gathers included, MPI start-up and file writing not), and the whole
# command's wall clock beside it. Prints every repetition, then the ranges and
#     efficiency = T1 / (2 T2)
# (the issue asks >= 90%), with the efficiency of the best and of the worst pairing of the
# repetitions as its range. Beside it, the CPU seconds (user + system, of fpkit, or of mpiexec and
# its ranks: /usr/bin/time) give CPU(1 rank) / CPU(2 ranks), the share of the work that is not
# overhead (communication, waiting in a spin, start-up), which other work on the machine does not
# change as much as it changes the wall clock. Every 2-rank output is checked bitwise against the 1-rank one
# (tests/cli/mpi_h5same.py); a difference is an error. The machine has other work at times:
# the load average is printed at the start and the end. The ranks are not bound to cores by default
# (MPI_FLAGS="--bind-to none"): on a machine shared with other work a bound rank waits for its
# one core while the one-process run moves to a free one; on a dedicated node set MPI_FLAGS=.
#   bash bench/bench_mpi_ensemble.sh BUILD_DIR [npaths [nsteps [reps]]]
set -euo pipefail
build=${1:?usage: bash bench/bench_mpi_ensemble.sh BUILD_DIR [npaths [nsteps [reps]]]}
npaths=${2:-2000000}
nsteps=${3:-1000}
reps=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
fpkit="$build/fpkit"
py=${PYTHON:-/usr/bin/python3}
mpiexec=${FPK_MPIEXEC:-$(command -v mpiexec || true)}
[ -x "$fpkit" ] || { echo "bench_mpi_ensemble.sh: $fpkit not found; build the fpkit target" >&2; exit 1; }
[ -n "$mpiexec" ] || { echo "bench_mpi_ensemble.sh: no mpiexec on PATH (set FPK_MPIEXEC)" >&2; exit 1; }
grep -q '#define FPK_HAVE_MPI 1' "$build/include/fpkit/version.h" ||
  { echo "bench_mpi_ensemble.sh: $fpkit was built without MPI" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_WAIT_POLICY=passive
read -r -a mpi_flags <<< "${MPI_FLAGS---bind-to none}"
# a rank waiting in a collective yields its core instead of spinning (OpenMPI): on a shared
# machine the spin takes time from the other rank (CPU efficiency 75-87% spinning, 90-93% yielding
# in this script's runs; docs/performance.md)
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ens.ini" <<INI
[model]
type = ou
dim = 1
theta = 1
mu = 0
sigma = 1
[init]
type = gaussian
mean = 1
std = 0.5
[grid]
lo = -6
hi = 6
n = 200
[time]
t_end = 1
n_out = 4
[fp]
enabled = false
[mc]
stepper = euler-maruyama
paths = $npaths
dt = $("$py" -c "print(repr(1.0 / $nsteps))")
seed = 17
[output]
file = $tmp/ens.h5
INI
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $("$mpiexec" --version 2>/dev/null | head -1)"
echo "ensemble: 1D OU, Euler-Maruyama, $npaths paths x $nsteps steps = $("$py" -c "print(f'{$npaths * $nsteps:.3g}')") path-steps, 200-cell histogram, 4 outputs"
echo "mpiexec flags: ${mpi_flags[*]:-(none)}; OMPI_MCA_mpi_yield_when_idle=$OMPI_MCA_mpi_yield_when_idle"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
engine() { "$py" -c "import h5py,sys; print(h5py.File(sys.argv[1],'r')['mc'].attrs['wall_seconds'])" "$1"; }
now() { date +%s.%N; }
rows=()
for r in $(seq 1 "$reps"); do
  t0=$(now)
  /usr/bin/time -o "$tmp/cpu1" -f '%U %S' "$fpkit" run "$tmp/ens.ini" -o "$tmp/one.h5" --threads 1 --quiet --force
  t1=$(now)
  /usr/bin/time -o "$tmp/cpu2" -f '%U %S' "$mpiexec" "${mpi_flags[@]}" -n 2 "$fpkit" run "$tmp/ens.ini" -o "$tmp/two.h5" --threads 1 --quiet --force
  t2=$(now)
  c1=$(awk '{print $1 + $2}' "$tmp/cpu1")
  c2=$(awk '{print $1 + $2}' "$tmp/cpu2")
  e1=$(engine "$tmp/one.h5")
  e2=$(engine "$tmp/two.h5")
  w1=$("$py" -c "print($t1 - $t0)")
  w2=$("$py" -c "print($t2 - $t1)")
  same=$("$py" "$here/../tests/cli/mpi_h5same.py" "$tmp/one.h5" "$tmp/two.h5") ||
    { echo "bench_mpi_ensemble.sh: the 2-rank output differs from the 1-rank one: $same" >&2; exit 1; }
  printf 'rep %d: 1 rank: engine %.3f s (command %.3f s, %.2f CPU s); 2 ranks: engine %.3f s (command %.3f s, %.2f CPU s); efficiency %.1f%% (command %.1f%%, CPU %.1f%%); outputs bitwise identical\n' \
    "$r" "$e1" "$w1" "$c1" "$e2" "$w2" "$c2" "$("$py" -c "print(100 * $e1 / (2 * $e2))")" "$("$py" -c "print(100 * $w1 / (2 * $w2))")" "$("$py" -c "print(100 * $c1 / $c2)")"
  rows+=("$e1 $e2 $w1 $w2 $c1 $c2")
done
printf '%s\n' "${rows[@]}" | awk -v reps="$reps" -v ps="$npaths" -v ns="$nsteps" '
  function upd(name, v) { if (!(name in lo) || v < lo[name]) lo[name] = v; if (!(name in hi) || v > hi[name]) hi[name] = v }
  { upd("e1", $1); upd("e2", $2); upd("w1", $3); upd("w2", $4); upd("eff", $1 / (2 * $2)); upd("weff", $3 / (2 * $4)); upd("ceff", $5 / $6) }
  END {
    printf "1 rank  x 1 thread: engine %.3f .. %.3f s (%.3e path-steps/s at best)\n", lo["e1"], hi["e1"], ps * ns / lo["e1"]
    printf "2 ranks x 1 thread: engine %.3f .. %.3f s (%.3e path-steps/s at best)\n", lo["e2"], hi["e2"], ps * ns / lo["e2"]
    printf "efficiency T1/(2 T2), engine: best-to-best %.1f%%, per repetition [%.1f%%, %.1f%%], extreme pairings [%.1f%%, %.1f%%] (%d reps)\n", 100 * lo["e1"] / (2 * lo["e2"]), 100 * lo["eff"], 100 * hi["eff"], 100 * lo["e1"] / (2 * hi["e2"]), 100 * hi["e1"] / (2 * lo["e2"]), reps
    printf "efficiency T1/(2 T2), whole command (MPI start-up and writing included): best-to-best %.1f%%, per repetition [%.1f%%, %.1f%%]\n", 100 * lo["w1"] / (2 * lo["w2"]), 100 * lo["weff"], 100 * hi["weff"]
    printf "CPU efficiency CPU(1 rank)/CPU(2 ranks), whole command: [%.1f%%, %.1f%%]\n", 100 * lo["ceff"], 100 * hi["ceff"]
    e = lo["e1"] / (2 * lo["e2"])
    printf "GOAL ensemble strong scaling 1 -> 2 ranks: %.1f%% (goal >= 90%%): %s\n", 100 * e, (e >= 0.9 ? "met" : (100 * hi["eff"] >= 90 ? "met in some reps" : "NOT met"))
  }'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
