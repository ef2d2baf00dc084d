#!/usr/bin/env bash
# An ensemble of 10^9 path-steps run with 1 and 2 MPI ranks (issue 17, part 6; docs/parallel.md
# "Distributed ensembles"): experiments/scale/ensemble_1e9.ini (10^6 paths x 1000 steps of a 1D
# OU) by `fpkit run` in one process and by `mpirun -n 2 fpkit run`, one thread per rank, into
# results/scale/ensemble_1e9_{1,2}ranks.h5. Checks that every dataset and attribute of the two
# files (provenance aside: tests/cli/mpi_h5same.py) is bitwise identical, and exits non-zero
# otherwise; prints the times (the engine's, /mc wall_seconds, and the whole command's) and the
# mean and variance at t = 1 against the exact OU law.
# Usage: bash experiments/scale/run_ensemble.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
py=/usr/bin/python3
mpiexec=${FPK_MPIEXEC:-$(command -v mpiexec || true)}
[ -n "$mpiexec" ] || { echo "run_ensemble.sh: no mpiexec on PATH (set FPK_MPIEXEC)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# as bench/bench_mpi_ensemble.sh on a shared machine: unbound ranks that yield while waiting
# (MPI_FLAGS= and OMPI_MCA_mpi_yield_when_idle=0 for mpirun's defaults on a dedicated node)
read -r -a mpi_flags <<< "${MPI_FLAGS---bind-to none}"
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle-1}
cd "$root"
mkdir -p results/scale
one=results/scale/ensemble_1e9_1rank.h5
two=results/scale/ensemble_1e9_2ranks.h5
now() { date +%s.%N; }
t0=$(now)
"$build/fpkit" run "$here/ensemble_1e9.ini" -o "$one" --threads 1 --quiet --force
t1=$(now)
"$mpiexec" "${mpi_flags[@]}" -n 2 "$build/fpkit" run "$here/ensemble_1e9.ini" -o "$two" --threads 1 --quiet --force
t2=$(now)
"$py" - "$one" "$two" "$t0" "$t1" "$t2" <<'PY'
import sys, h5py, numpy as np
one, two = sys.argv[1], sys.argv[2]
t0, t1, t2 = map(float, sys.argv[3:6])
e = [h5py.File(p, "r")["mc"].attrs["wall_seconds"] for p in (one, two)]
print(f"1 rank  x 1 thread: engine {e[0]:.2f} s, command {t1 - t0:.2f} s")
print(f"2 ranks x 1 thread: engine {e[1]:.2f} s, command {t2 - t1:.2f} s")
print(f"speed-up (engine) {e[0] / e[1]:.2f}, efficiency T1/(2 T2) {100 * e[0] / (2 * e[1]):.1f}%")
with h5py.File(one, "r") as f:
    m, c = f["mc/mean"][-1, 0], f["mc/cov"][-1, 0, 0]
    t = f["mc/t"][-1]
    n = f["mc"].attrs["paths"]
# exact OU law at t: mean 1 e^-t, variance 0.09 e^-2t + (1 - e^-2t)/2 (theta = sigma = 1)
em, ev = np.exp(-t), 0.09 * np.exp(-2 * t) + 0.5 * (1 - np.exp(-2 * t))
print(f"t = {t:g}: mean {m:.6f} (exact {em:.6f}, {abs(m - em) / np.sqrt(ev / n):.2f} standard errors; "
      f"Euler bias O(dt)), variance {c:.6f} (exact {ev:.6f})")
PY
if "$py" "$root/tests/cli/mpi_h5same.py" "$one" "$two"; then
  echo "run_ensemble.sh: the 1-rank and 2-rank files are bitwise identical"
else
  echo "run_ensemble.sh: the 1-rank and 2-rank files DIFFER" >&2
  exit 1
fi
