#!/usr/bin/env bash
# fpkit sweep over MPI ranks (docs/sweep.md "Over MPI ranks"): the 24-point sweep of
# tests/cli/sweep.sh run by `mpirun -n 2 fpkit sweep` (points dealt round-robin to the ranks, each
# rank running its own as plain `fpkit run` children) gives the index of `fpkit sweep --jobs 1`
# in every dataset but the wall times, the same root attributes (but time and command line), and
# bitwise identical point files (the children are plain processes: with the launcher's
# variables left in their environment every point fails in MPI_Init, as checked by hand); a resume under mpirun
# after removing 7 point files skips the 17 others and gives the same index again; a point that
# fails (on rank 1) is recorded with its message and every rank exits 1 naming it.
# Skips (77) without MPI. FPK_TEST_QUICK=1: fewer paths (same checks).
# Usage: bash tests/cli/mpi_sweep.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
if [ "${FPK_HAVE_MPI:-0}" != 1 ] || [ -z "${FPK_MPIEXEC:-}" ]; then
  echo "mpi_sweep: this fpkit has no MPI (FPK_HAVE_MPI=${FPK_HAVE_MPI:-unset}): skipped"
  exit 77
fi
fpkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$here/lib/checks.sh"
cd "$tmp" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_WAIT_POLICY=passive
# Sanitizer builds: OpenMPI's components (dlopen'ed, dlclosed by MPI_Finalize) leave blocks that
# LeakSanitizer reports from "<unknown module>" frames, which no suppression can name; the ranks
# run without leak detection (every other ASan check stays on; the one-process runs keep it).
mpi() {
  local np=$1
  shift
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 300 "$FPK_MPIEXEC" -n "$np" "$fpkit" "$@"
}

paths=8000
[ "${FPK_TEST_QUICK:-0}" = 1 ] && paths=2000
cat > ou.ini <<INI
[model]
type = ou
dim = 1
theta = 1.0
mu = 0.0
sigma = 1.0
[init]
mean = 1.0
std = 0.3
[grid]
lo = -4
hi = 4
n = 40
[time]
times = 0 0.5 1
[fp]
dt = 0.01
[mc]
paths = $paths
dt = 0.01
seed = 1
INI
over=(--over grid.n=30,40,50 --over fp.dt=0.01,0.02 --over mc.seed=1,2,3,4)
gather=(--gather /errors/l1_fv_exact --gather /mc/mean)

# compare DIR_A DIR_B: index datasets (but wall times), root attributes (but created and
# command_line), and every point file bitwise (tests/cli/mpi_h5same.py)
compare() {
  "$py" - "$1" "$2" <<'PY' || return 1
import sys, h5py, numpy as np
a, b = sys.argv[1], sys.argv[2]
def load(path):
    d, at = {}, {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        at = {k: v for k, v in f.attrs.items() if k not in ("created", "command_line")}
    return d, at
def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "O":
        return x.shape == y.shape and x.tolist() == y.tolist()
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
(da, aa), (db, ab) = load(a + "/index.h5"), load(b + "/index.h5")
bad = [k for k in sorted(set(da) | set(db)) if k != "points/wall_time" and (k not in da or k not in db or not same(da[k], db[k]))]
bad += ["@" + k for k in sorted(set(aa) | set(ab)) if k not in aa or k not in ab or not same(aa[k], ab[k])]
for k in bad:
    print("index differs:", k)
sys.exit(1 if bad else 0)
PY
  local p
  for p in $(seq -f '%04g' 0 23); do
    "$py" "$here/mpi_h5same.py" "$1/point_$p.h5" "$2/point_$p.h5" > /dev/null || { echo "point $p differs"; return 1; }
  done
}

# 1. --jobs 1 in one process, and under mpirun with 2 ranks
t0=$(date +%s.%N)
"$fpkit" sweep ou.ini "${over[@]}" "${gather[@]}" -o seq --jobs 1 --threads 1 > seq.log 2>&1
rc1=$?
t1=$(date +%s.%N)
mpi 2 sweep ou.ini "${over[@]}" "${gather[@]}" -o mpi --jobs 1 --threads 1 > mpi.log 2>&1
rc2=$?
t2=$(date +%s.%N)
echo "measured: 24-point sweep wall time: 1 process --jobs 1: $($py -c "print(f'{$t1-$t0:.2f}')") s, mpirun -n 2 --jobs 1: $($py -c "print(f'{$t2-$t1:.2f}')") s (mc.paths = $paths, --threads 1)"
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$(ls mpi/point_*.h5 | wc -l)" = 24 ]; then ok "mpirun -n 2 sweep: exit 0, 24 files (the children ran as plain processes)"
else bad "sweep: exit $rc1 / $rc2: $(tail -3 mpi.log)"; fi
if out=$(compare seq mpi); then ok "mpirun -n 2 index == --jobs 1 index (but wall times); 24 point files bitwise identical"
else bad "mpirun sweep differs: $out"; fi
n=$(grep -c "^sweep: 24 points: 24 ok" mpi.log)
[ "$n" = 1 ] && ok "the summary is printed once (rank 0)" || bad "summary printed $n times"
# 2. resume under mpirun: 7 files removed, the 17 others skipped, same index
rm -f mpi/point_0003.h5 mpi/point_0004.h5 mpi/point_0009.h5 mpi/point_0010.h5 mpi/point_0015.h5 \
  mpi/point_0020.h5 mpi/point_0023.h5
mpi 2 sweep ou.ini "${over[@]}" "${gather[@]}" -o mpi --jobs 1 --threads 1 > resume.log 2>&1
rc=$?
nskip=$(grep -c "skipped: its file is complete with the same configuration" resume.log)
if [ $rc = 0 ] && [ "$nskip" = 17 ]; then ok "resume under mpirun: 17 points skipped, 7 run"
else bad "resume: exit $rc, $nskip skipped: $(tail -3 resume.log)"; fi
"$py" - mpi <<'PY' || bad "resumed index: skipped points not recorded"
import sys, h5py
with h5py.File(sys.argv[1] + "/index.h5", "r") as f:
    assert f.attrs["skipped_complete"] == 17, f.attrs["skipped_complete"]
    sk = f.attrs["skipped_points"]; sk = sk.decode() if isinstance(sk, bytes) else sk
    assert [int(x) for x in sk.split()] == [p for p in range(24) if p not in (3, 4, 9, 10, 15, 20, 23)], sk
PY
"$py" - seq/index.h5 mpi/index.h5 <<'PY' && ok "resumed index == uninterrupted index in every dataset but wall times" || bad "resumed index differs"
import sys, h5py, numpy as np
def load(p):
    d = {}
    with h5py.File(p, "r") as f:
        f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = [k for k in a if k != "points/wall_time" and np.asarray(a[k]).tolist() != np.asarray(b[k]).tolist()]
print(bad) if bad else None
sys.exit(1 if bad or a.keys() != b.keys() else 0)
PY

# 3. a point that fails on rank 1 (point 1: mc.dt = -1), recorded; every rank exits 1 naming it
mpi 2 sweep ou.ini --over mc.dt=0.01,-1,0.02 -o fail --jobs 1 --threads 1 > fail.log 2>&1
rc=$?
nmsg=$(grep -c "sweep: 1 of 3 points failed (see fail/index.h5: /points/error); the first, point 1: .*dt" fail.log)
if [ $rc = 1 ] && [ "$nmsg" = 2 ]; then ok "a failed point on rank 1: both ranks exit 1 naming point 1"
else bad "failed point: exit $rc, $nmsg messages: $(cat fail.log)"; fi
"$py" - fail/index.h5 <<'PY' && ok "the failed point's status and error are in the index, the others ok" || bad "failed point's index"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    st = [s.decode() for s in f["points/status"][()]]
    er = [s.decode() for s in f["points/error"][()]]
    assert st == ["ok", "failed", "ok"], st
    assert "dt" in er[1] and er[0] == er[2] == "", er
PY

summary mpi_sweep
