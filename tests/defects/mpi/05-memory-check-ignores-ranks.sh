#!/usr/bin/env bash
# FIXED (h17-hostile; src/app/run.c check_fields: the ranks on this node (fpk_comm_node_size) counted; run by tests/cli/mpi_defects.sh)
# What: fpkit run refuses a grid whose fields need more than half of the machine's memory
#   (src/app/run.c check_fields; docs/config.md [grid] n: "the fields the run holds at once ...
#   at most half the machine's memory ... refused ... before anything runs"), but the check is
#   per process: under mpirun every rank holds every field (the FV/exact fields redundantly, the
#   Monte Carlo result and one histogram per thread on every rank), so P ranks on one node need
#   P times the checked amount. A 3D grid that takes 30% of the memory per process passes the
#   check with 2 (or 3, 4, ...) ranks on one machine: 60% (90%, 120% -> the OOM killer) instead
#   of the promised refusal naming [grid] n.
# Expected: the check counts the ranks sharing the machine (MPI_COMM_TYPE_SHARED) and refuses,
#   naming [grid] n, before anything is allocated.
# Seen (7dd3769, 25.3 GB machine): 215^3 cells, n_out = 47, Monte Carlo only, --threads 1:
#   2 x 7.5 GB accepted; under `ulimit -v` (10% of the memory, so that nothing is really
#   allocated) both ranks fail late with "[mc]: Monte Carlo: out of memory for 47 outputs x
#   9938375 cells" instead of the [grid] n refusal. Severity: crash / OOM instead of a refusal.
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
ram=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) ))
# fields of one process: the Monte Carlo result and one histogram (1 thread): 16 bytes per cell
# and output time; 30% of the memory per process
nt=$(( ram * 3 / 10 / (16 * 215 * 215 * 215) ))
[ "$nt" -ge 2 ] || { echo "skipped: this machine is too small for the test"; exit 0; }
cat > big.ini <<INI
[model]
type = ou
dim = 3
A = 1 0 0
    0 1.5 0
    0 0 2
mu = 0 0 0
sigma = 1 0.8 0.6
[grid]
lo = -4
hi = 4
n = 215
[init]
mean = 0 0 0
std = 0.5
[time]
t_end = 0.5
n_out = $nt
[fp]
enabled = false
[exact]
enabled = false
[mc]
paths = 512
dt = 0.01
seed = 3
INI
# one process: accepted by the check (30% < 50%); not run here. Two ranks: 60% > 50%.
# The address space of every process is capped at 10% of the memory, so that a run that is
# not refused fails to allocate instead of taking the machine's memory.
msg=$( (ulimit -v $(( ram / 10 / 1024 )); mpi 2 run big.ini -o big.h5 --threads 1 --quiet) 2>&1 >/dev/null)
rc=$?
if grep -q "\[grid\] n" <<<"$msg" && [ ! -e big.h5 ]; then
  echo "refused naming [grid] n (exit $rc): ok"
  exit 0
fi
echo "2 ranks x 30% of the memory: exit $rc, not refused by the memory check: $(grep -m1 'error' <<<"$msg")"
exit 1
