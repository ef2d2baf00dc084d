#!/usr/bin/env bash
# FIXED (h17-hostile; src/cli/main.c same_job_on_every_rank: a digest of command line and configuration compared before any work; run by tests/cli/mpi_defects.sh)
# What: the ranks never check that they run the same job. Each rank reads CONFIG and its --set
#   options itself, and the ensemble merges whatever each rank computed for its blocks. An MPMD
#   launch (`mpirun -n 1 fpkit run a.ini : -n 1 fpkit run a.ini --set mc.seed=99`), a config file
#   edited while the ranks start, or per-rank files on node-local disks give one file whose blocks
#   come from different configurations, exit 0, and whose /provenance names only rank 0's. With
#   different path counts the ranks enter different collectives: the run aborts or segfaults
#   (signal 6/11) and leaves OUT.h5.tmp.XXXXXX behind.
# Expected: the ranks agree on a digest of the resolved configuration (and command) before any
#   work and refuse a mismatch on every rank ("rank 1 runs another configuration than rank 0"),
#   exit 1, no file.
# Seen (7dd3769): seeds 7 and 99: exit 0, mixed.h5 written, its /mc/density differs from both the
#   seed-7 and the seed-99 one-process results; paths 1024 vs 100000: "Signal: Aborted (6)" or
#   "exited on signal 11 (Segmentation fault)", mp2.h5.tmp.B02x9G left over.
#   Severity: wrong number with exit 0 (on a launch mistake); crash + leftover file.
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > a.ini <<'INI'
[model]
type = ou
dim = 1
theta = 1
mu = 0
sigma = 0.8
[init]
mean = 0.3
std = 0.15
[grid]
lo = -2
hi = 2
n = 40
[time]
t_end = 1
n_out = 3
[fp]
enabled = false
[mc]
paths = 1024
dt = 0.01
seed = 7
INI
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 60 "$MPIEXEC" --oversubscribe \
  -n 1 "$fpkit" run a.ini -o mixed.h5 --quiet --threads 1 : \
  -n 1 "$fpkit" run a.ini -o mixed.h5 --quiet --threads 1 --set mc.seed=99 >/dev/null 2>&1
rc=$?
if { [ $rc -eq 1 ] || [ $rc -eq 2 ]; } && [ ! -e mixed.h5 ]; then
  echo "refused (exit $rc), no file: ok"
  exit 0
fi
"$fpkit" run a.ini -o s7.h5 --quiet
"$fpkit" run a.ini -o s99.h5 --quiet --set mc.seed=99
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
m, a, b = (h5py.File(f, "r")["mc/density"][()] for f in ("mixed.h5", "s7.h5", "s99.h5"))
print("mixed == seed 7:", np.array_equal(m, a), " mixed == seed 99:", np.array_equal(m, b))
PY
echo "exit $rc with mixed.h5 written from two configurations"
exit 1
