#!/usr/bin/env bash
# FIXED (h17-hostile; src/io/h5.c: a rank > 0 has no temporary; src/app/output.c; run by tests/cli/mpi_defects.sh)
# What: a rank > 0 holds a discarding HDF5 handle whose "temporary" name is the output path
#   itself (src/io/h5.c discarding_handle: f->tmp = path), and src/app/output.c hands that name
#   to the CLI's signal handler (opt->on_temp_file -> main.c remember_temp). A SIGINT/SIGTERM/
#   SIGHUP reaching a rank > 0 (mpirun forwards Ctrl-C and kill to every rank, and kills the
#   slower ranks itself when one rank exits non-zero) makes that rank unlink the OUTPUT:
#   (a) a run with --force over an existing result, stopped by a signal, deletes the old result
#       (one process: the old file stays, only the temporary goes);
#   (b) a committed result is deleted after "wrote FILE": converge whose order is unresolved
#       writes its file and exits 1 ("FILE is written"); mpirun then SIGTERMs the ranks still
#       finalising and one of them unlinks FILE.
# Expected: a signal never removes anything but the run's own temporary; the old file stays in
#   (a); the file that the message says is written exists in (b).
# Seen (7dd3769): (a) out.h5 (a previous result, 563562 bytes) gone after kill -TERM of
#   `mpirun -n 2 fpkit run long.ini -o out.h5 --force`; (b) `mpirun -n 3 fpkit converge
#   cv.ini -o cvx.h5 --threads 2` (1001 paths: too few groups) prints "wrote cvx.h5" and
#   "cvx.h5 is written", exit 1, and cvx.h5 does not exist (a race: 4 of 4 tries once, 1 of 4
#   another time; the script tries 8 times). Severity: lost result file.
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > long.ini <<'INI'
[model]
type = ou
dim = 2
A = 1.0 0.3
   -0.2 0.5
mu = 0 0
sigma = 0.8 0.6
[init]
mean = 0.2 -0.1
std = 0.3
[grid]
lo = -3 -3
hi = 3 3
n = 5 5
[time]
t_end = 2
n_out = 2
[fp]
enabled = false
[mc]
paths = 4000000
dt = 1e-3
seed = 7
INI
status=0
# (a) the old result under --force, a signal during the run
"$fpkit" run long.ini -o out.h5 --quiet --set mc.paths=1000 --set mc.dt=0.1 || { echo "setup failed"; exit 1; }
before=$(stat -c %s out.h5)
# timeout passes the TERM on to mpirun, which forwards it to the ranks (3 tries: the order in
# which mpirun signals and kills its ranks varies)
gone=0
for _ in 1 2 3; do
  [ -e out.h5 ] || "$fpkit" run long.ini -o out.h5 --quiet --set mc.paths=1000 --set mc.dt=0.1
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 60 "$MPIEXEC" --oversubscribe \
    -n 2 "$fpkit" run long.ini -o out.h5 --force --threads 1 --quiet >/dev/null 2>&1 &
  launcher=$!
  for _ in $(seq 1 50); do ls out.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 3
  kill -TERM "$launcher" 2>/dev/null
  wait "$launcher" 2>/dev/null
  [ -e out.h5 ] || gone=$((gone + 1))
done
if [ $gone = 0 ]; then echo "(a) the old out.h5 ($before bytes) is still there after 3 signals: ok"
else echo "(a) the old out.h5 ($before bytes) was deleted by the signal in $gone of 3 tries"; status=1; fi
# (b) a committed file deleted when mpirun aborts the other ranks
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
lost=0
for _ in 1 2 3 4 5 6 7 8; do
  rm -f cvx.h5
  msg=$(mpi 3 converge cv.ini -o cvx.h5 --threads 2 --quiet 2>&1 >/dev/null)
  if grep -q "cvx.h5 is written" <<<"$msg" && [ ! -e cvx.h5 ]; then lost=$((lost + 1)); fi
done
if [ $lost = 0 ]; then echo "(b) cvx.h5 exists whenever the message says it is written: ok"
else echo "(b) 'cvx.h5 is written' but no cvx.h5 in $lost of 8 tries"; status=1; fi
exit $status
