#!/usr/bin/env bash
# FIXED (h17-hostile; src/cli/main.c: ranks > 0 write to /dev/null (but in a sweep); run by tests/cli/mpi_defects.sh)
# What: under mpirun, ranks > 0 are made quiet for the summary and the progress only
#   (src/cli/main.c sets opt.quiet on ranks > 0), so every warning and diagnostic written
#   straight to stderr comes once per rank: the Kramers grid warning of the config reader,
#   converge's verdict lines ("fpkit: converge: strong order unresolved ..."), [spectral]
#   warnings. docs/parallel.md: "Only rank 0 prints the summary and progress"; with 64 ranks a
#   warning is 64 identical lines (and interleaves with other ranks' output).
# Expected: a warning once per job (rank 0), as in one process; errors may stay per rank (agreed).
# Seen (7dd3769): `mpirun -n 3 fpkit run kr.ini` (velocity axis h_v = 0.25 > 0.125): 3 lines
#   "fpkit: warning: kr.ini: [grid]: the velocity axis does not resolve ..."; `mpirun -n 3
#   fpkit converge cv.ini` (1001 paths): 3 lines "fpkit: converge: strong order unresolved
#   (too_few_groups): ...". Severity: misleading/noisy messages (minor).
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > kr.ini <<'INI'
[model]
type = kramers
potential = double-well
beta = 4
gamma = 1
[grid]
lo = -2 -3
hi = 2 3
n = 20 24
[init]
mean = 0.5 0
std = 0.3
[time]
t_end = 0.2
n_out = 2
[fp]
enabled = false
[mc]
dt = 0.01
paths = 1024
seed = 5
INI
cat > cv.ini <<'INI'
[model]
type = ou
dim = 1
theta = 1
mu = 0
sigma = 1
[init]
x0 = 1
[time]
t_end = 1
[converge]
stepper = euler-maruyama
steps = 8 16 32 64 128
paths = 1001
seed = 1
weak = x, x^2
INI
w=$(mpi 3 run kr.ini -o kr.h5 --threads 1 --quiet 2>&1 | grep -c "warning: kr.ini: \[grid\]: the velocity axis")
c=$(mpi 3 converge cv.ini -o cv.h5 --threads 1 --quiet 2>&1 | grep -c "fpkit: converge: strong order unresolved")
echo "3 ranks: the Kramers grid warning $w times, converge's verdict line $c times"
[ "$w" -le 1 ] && [ "$c" -le 1 ] && exit 0
exit 1
