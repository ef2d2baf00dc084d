#!/usr/bin/env bash
# FIXED (h17-hostile; src/cli/main.c: rank 0 alone keeps --log; run by tests/cli/mpi_defects.sh)
# What: under mpirun, --log FILE is opened and appended by every rank (src/cli/main.c opens the
#   log before looking at the rank; only stdout/progress are silenced on ranks > 0): the log
#   holds P interleaved copies of every line, and ranks > 0 log their own share of a distributed
#   ensemble as if it were the run ("mc: done, 0 paths in ... s (0 paths/s)") and "writing
#   FILE" although they write nothing.
# Expected: one start/mc/end record per run, as in one process (only rank 0 logs, or each line
#   names its rank), and no "0 paths" claim.
# Seen (7dd3769): mpirun -n 2 fpkit run a.ini --log run.log: 2 "start:" lines, 2 "end:" lines,
#   "fpkit[20030] info: mc: done, 0 paths in 0.001 s (0 paths/s)" beside rank 0's
#   "mc: done, 1001 paths ...", and two "writing l.h5" (severity: misleading message).
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
paths = 1001
dt = 0.01
seed = 11
INI
mpi 2 run a.ini -o l.h5 --log run.log --quiet >/dev/null 2>&1
rc=$?
[ $rc -eq 0 ] || { echo "the run failed (exit $rc): not this defect"; exit 1; }
starts=$(grep -c 'info: start:' run.log)
zero=$(grep -c 'mc: done, 0 paths' run.log)
echo "log: $starts start lines, $zero 'mc: done, 0 paths' lines"
[ "$starts" = 1 ] && [ "$zero" = 0 ] && exit 0
cat run.log
exit 1
