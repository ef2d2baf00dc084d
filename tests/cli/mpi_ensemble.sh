#!/usr/bin/env bash
# Distributed Monte Carlo ensembles (docs/parallel.md "Distributed ensembles"): `fpkit run` (a 2D
# OU ensemble with histogram, moments and kept paths that span both ranks' blocks; a 1D OU with
# absorbing walls: survival and killing), `fpkit converge` (a refinement ladder) and `fpkit
# bridge` give files whose every dataset and attribute (provenance aside: tests/cli/mpi_h5same.py)
# is bitwise the same for 1x1, 1x2, 2x1 and 2x2 ranks x --threads; rank 0 alone prints the
# summary. Bad input: more ranks than path blocks is refused on every rank with the same message,
# no file, no hang; a non-finite path in a block that only rank 1 runs (run, and converge's
# ladder) makes every rank exit 3 with the one-process run's message and leaves no file; checkpoints under mpirun are refused
# (FPK_EUNSUP, exit 1, naming the alternative); rerun under mpirun is refused.
# Skips (77) without MPI. FPK_TEST_QUICK=1: fewer paths (same checks).
# Usage: bash tests/cli/mpi_ensemble.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
if [ "${FPK_HAVE_MPI:-0}" != 1 ] || [ -z "${FPK_MPIEXEC:-}" ]; then
  echo "mpi_ensemble: this fpkit has no MPI (FPK_HAVE_MPI=${FPK_HAVE_MPI:-unset}): skipped"
  exit 77
fi
fpkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$here/lib/checks.sh"
cd "$tmp" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_WAIT_POLICY=passive
# mpirun NP ARGS...: fpkit under the launcher, killed after 120 s (a hang is a failure)
# Sanitizer builds: OpenMPI's components (dlopen'ed, dlclosed by MPI_Finalize) leave blocks that
# LeakSanitizer reports from "<unknown module>" frames, which no suppression can name; the ranks
# run without leak detection (every other ASan check stays on; the one-process runs keep it).
mpi() {
  local np=$1
  shift
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 120 "$FPK_MPIEXEC" -n "$np" "$fpkit" "$@"
}

quick=${FPK_TEST_QUICK:-0}
paths=6000 cpaths=8000 bpaths=3000
[ "$quick" = 1 ] && paths=1500 cpaths=2000 bpaths=1200

cat > ou2d.ini <<INI
[model]
type = ou
dim = 2
A = 1.0 0.8
   -0.6 0.5
mu = 0 0
sigma = 0.8 0.6
[init]
type = gaussian
mean = 1.5 -1.0
std = 0.3
[grid]
lo = -4 -4
hi = 4 4
n = 20 20
bc = reflecting
[time]
t_end = 1.0
n_out = 3
[fp]
enabled = false
[mc]
stepper = euler-maruyama
paths = $paths
dt = 1e-2
seed = 7
keep_paths = $((paths - 100))
[output]
file = ou2d.h5
INI
cat > absorb.ini <<INI
[model]
type = ou
dim = 1
theta = 1
mu = 0
sigma = 0.8
[init]
type = gaussian
mean = 0.3
std = 0.15
[grid]
lo = -1
hi = 1.2
n = 40
bc = absorbing
[time]
t_end = 1
n_out = 4
[fp]
enabled = false
[mc]
stepper = euler-maruyama
paths = $paths
dt = 0.01
seed = 11
keep_paths = 300
[output]
file = absorb.h5
INI

# same NAME FILES...: every file bitwise the first (datasets, dimension scales, attributes)
same() {
  local name=$1
  shift
  local out
  if out=$("$py" "$here/mpi_h5same.py" "$@"); then ok "$name: $out"; else bad "$name: $out"; fi
}

# 1. run / converge / bridge at 1x1, 1x2, 2x1, 2x2 (ranks x threads)
# matrix NAME COMMAND CONFIG [ARGS...]: runs the four and compares
matrix() {
  local name=$1 cmd=$2 cfg=$3
  shift 3
  local files=() okrun=1
  for rt in 1x1 1x2 2x1 2x2; do
    local r=${rt%x*} t=${rt#*x} f=$name.$rt.h5
    if [ "$r" = 1 ]; then
      "$fpkit" "$cmd" "$cfg" -o "$f" --threads "$t" --quiet "$@" || okrun=0
    else
      mpi "$r" "$cmd" "$cfg" -o "$f" --threads "$t" --quiet "$@" || okrun=0
    fi
    files+=("$f")
  done
  [ $okrun = 1 ] && ok "$name: ran at 1x1 1x2 2x1 2x2" || bad "$name: a run failed"
  same "$name bitwise over ranks x threads" "${files[@]}"
}
matrix run_ou2d run ou2d.ini
matrix run_absorbing run absorb.ini
"$py" - run_absorbing.1x1.h5 <<'PY' && ok "absorbing: paths were killed (survival < 1 and falling)" || bad "absorbing: no killing happened"
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")["mc/survival"][()]
sys.exit(0 if s[0] == 1 and s[-1] < 0.95 and np.all(np.diff(s) <= 0) else 1)
PY
matrix converge converge "$src/experiments/converge/em_ou.ini" --set converge.paths=$cpaths
matrix bridge bridge "$src/experiments/bridge/bridge.ini" --set bridge.paths=$bpaths \
  --set kolmogorov.paths=2000 --set ks_band.repetitions=200

# 2. only rank 0 prints the summary
n=$(mpi 2 run ou2d.ini -o sum.h5 --threads 1 | grep -c '^wrote ')
[ "$n" = 1 ] && ok "summary printed once under 2 ranks" || bad "summary printed $n times"

# 3. more ranks than blocks: refused on every rank, no file, no hang; the message once (rank 0
#    alone speaks under mpirun: src/cli/main.c)
msg=$(mpi 3 run ou2d.ini -o few.h5 --set mc.paths=500 --set mc.keep_paths=0 2>&1 >/dev/null)
rc=$?
lines=$(grep -c "500 paths make 2 blocks of 256 paths: at most 2 ranks (3 given)" <<<"$msg")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$lines" = 1 ] && [ ! -e few.h5 ]; then
  ok "run: 3 ranks for 2 blocks refused by every rank"
else bad "run: 3 ranks for 2 blocks: exit $rc, $lines rank messages: $msg"; fi
msg=$(mpi 3 converge "$src/experiments/converge/em_ou.ini" -o fewc.h5 --set converge.paths=500 2>&1 >/dev/null)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "\[converge\] paths: 500 paths make 2 blocks of 256 paths: at most 2 ranks (3 given)" <<<"$msg" && [ ! -e fewc.h5 ]; then
  ok "converge: 3 ranks for 2 blocks refused"
else bad "converge: 3 ranks for 2 blocks: exit $rc: $msg"; fi

# 4. a failure only in rank 1's blocks: the double well under Euler-Maruyama at dt = 0.06 sends
# path 520 (block 2 of 4: rank 1's half) to infinity, and no path of blocks 0-1 (seed 3; the
# one-process run reports the lowest failing path). Every rank exits 3 with that message, no file.
cat > blow.ini <<INI
[model]
type = langevin
dim = 1
potential = double-well
beta = 2
[init]
type = gaussian
mean = 0
std = 1.6
[grid]
lo = -10
hi = 10
n = 40
bc = reflecting
[time]
t_end = 1
n_out = 2
[fp]
enabled = false
[mc]
stepper = euler-maruyama
paths = 1024
dt = 0.06
seed = 3
[output]
file = blow.h5
INI
one=$("$fpkit" run blow.ini -o blow1.h5 --threads 1 2>&1 >/dev/null)
rc1=$?
if [ $rc1 = 3 ] && grep -q "path 520 became non-finite" <<<"$one" && [ ! -e blow1.h5 ]; then
  ok "one process: path 520 (rank 1's half) fails: $one"
else bad "one process: exit $rc1: $one"; fi
for t in 1 2; do
  msg=$(mpi 2 run blow.ini -o blow2.h5 --threads $t 2>&1 >/dev/null)
  rc=$?
  same_lines=$(grep -cxF -- "$one" <<<"$msg")
  if [ $rc = 3 ] && [ "$same_lines" = 1 ] && [ ! -e blow2.h5 ] && ! ls blow2.h5.* >/dev/null 2>&1; then
    ok "2x$t: exit 3 with the one-process message (printed once, by rank 0), no file"
  else bad "2x$t: exit $rc, $same_lines ranks with the message: $msg"; fi
done

# the same for the ladder (converge): the same initial law, level 0 (16 steps) sends path 520 to
# infinity first
cat > cblow.ini <<INI
[model]
type = langevin
dim = 1
potential = double-well
beta = 2
[init]
type = gaussian
mean = 0
std = 1.6
[time]
t_end = 1
[converge]
stepper = euler-maruyama
steps = 16 32 64 128
fit = plain
paths = 1024
seed = 3
INI
one=$("$fpkit" converge cblow.ini -o cblow1.h5 --threads 1 2>&1 >/dev/null)
rc1=$?
if [ $rc1 = 3 ] && grep -q "ladder level 0 (16 steps, euler-maruyama): path 520 became non-finite" <<<"$one" && [ ! -e cblow1.h5 ]; then
  ok "converge, one process: path 520 (rank 1's half) fails"
else bad "converge, one process: exit $rc1: $one"; fi
msg=$(mpi 2 converge cblow.ini -o cblow2.h5 --threads 2 2>&1 >/dev/null)
rc=$?
same_lines=$(grep -cxF -- "$one" <<<"$msg")
if [ $rc = 3 ] && [ "$same_lines" = 1 ] && [ ! -e cblow2.h5 ]; then
  ok "converge 2x2: exit 3 with the one-process message (printed once, by rank 0), no file"
else bad "converge 2x2: exit $rc, $same_lines ranks with the message: $msg"; fi

# 5. checkpoints and rerun are one process's: refused (exit 1, the alternative named), no file
expect_refused "checkpoint under mpirun" "not supported with 2 MPI processes: run a checkpointed job in one process" \
  ck.h5 mpi 2 run ou2d.ini -o ck.h5 --checkpoint-every 1h
"$fpkit" run ou2d.ini -o one.h5 --quiet || bad "one-process run for rerun"
expect_refused "rerun under mpirun" "rerun: not supported under mpirun with 2 processes: run fpkit rerun in one process" \
  one.rerun.h5 mpi 2 rerun one.h5

summary mpi_ensemble
