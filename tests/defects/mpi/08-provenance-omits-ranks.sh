#!/usr/bin/env bash
# FIXED (h17-hostile; src/app/output.c: /provenance mpi_ranks; run by tests/cli/mpi_defects.sh)
# What: a file written under mpirun does not say so. /provenance records `threads` (one rank's
#   omp_get_max_threads()) and `command_line` (fpkit's own argv, without the launcher), and no
#   process count: a run on 3 ranks x 2 threads reads "threads = 2", the same as a one-process
#   run with 2 threads (docs/reproducibility.md: provenance is "what built and ran this file").
#   The numbers do not depend on it, but the cost, the wall times and a failure's context do.
# Expected: /provenance holds the number of MPI processes (e.g. an integer `processes`, 1
#   without mpirun), documented in docs/reproducibility.md.
# Seen (7dd3769): `mpirun -n 3 fpkit run d.ini --threads 2`: provenance {command_line:
#   '.../fpkit run d.ini -o d3.h5 --threads 2 --quiet', threads: 2}, no attribute with the 3.
#   Severity: misleading provenance (minor).
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > d.ini <<'INI'
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
mpi 3 run d.ini -o d3.h5 --threads 2 --quiet >/dev/null 2>&1 || { echo "the run failed"; exit 1; }
/usr/bin/python3 - <<'PY'
import sys, h5py
p = h5py.File("d3.h5", "r")["provenance"]
attrs = {k: p.attrs[k] for k in p.attrs}
hit = [k for k, v in attrs.items() if k != "threads" and not isinstance(v, (str, bytes)) and int(v) == 3]
hit += [k for k, v in attrs.items() if isinstance(v, (str, bytes)) and k != "command_line"
        and any(w in str(v) for w in ("mpirun", "mpiexec", "3 processes", "3 ranks"))]
if hit:
    print("the process count is recorded:", hit)
    sys.exit(0)
print("provenance:", {k: attrs[k] for k in ("command_line", "threads") if k in attrs},
      "- no record of the 3 MPI processes")
sys.exit(1)
PY
