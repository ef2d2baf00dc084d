#!/usr/bin/env bash
# FIXED (h17-hostile; src/io/h5.c fpk_h5_commit: the file kept after a post-rename failure, rank 0's own message; run by tests/cli/mpi_defects.sh)
# What: when rank 0's commit fails after the rename (the XDMF sidecar cannot be written, or the
#   directory cannot be flushed), fpk_h5_commit (src/io/h5.c, several processes) unlinks the
#   renamed file, but the message, word for word the one-process one, still says
#   "OUT: written, but not its XDMF sidecar"; one process keeps OUT.h5 in the same case. The
#   message also carries a "rank 0: " prefix on rank 0 itself.
# Expected: the same outcome as one process (OUT.h5 kept, exit 1, the message), or, if the file
#   is to be removed, a message that says it was removed.
# Seen (7dd3769): a directory out.h5.xmf/ created while the run computes:
#   one process: exit 1, "fpkit: error: out.h5: written, but not its XDMF sidecar: 'out.h5.xmf',
#   ... is not a regular file (a directory?)", out.h5 present;
#   mpirun -n 2: exit 1, "fpkit: error: rank 0: out.h5: written, but not its XDMF sidecar: ..."
#   on both ranks, and no out.h5. Severity: misleading message (a file said written is gone).
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > mid.ini <<'INI'
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
paths = 600000
dt = 1e-3
seed = 7
INI
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 60 "$MPIEXEC" --oversubscribe -n 2 \
  "$fpkit" run mid.ini -o out.h5 --threads 1 --quiet >/dev/null 2>err.txt &
launcher=$!
for _ in $(seq 1 100); do ls out.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p out.h5.xmf/sub
wait "$launcher"
rc=$?
if ! grep -q "written, but not its XDMF sidecar" err.txt; then
  echo "the run did not reach the sidecar failure (exit $rc): $(head -c 400 err.txt)"
  exit 0
fi
if [ -e out.h5 ]; then echo "exit $rc, 'written, but not its XDMF sidecar', out.h5 present: ok"; exit 0; fi
echo "exit $rc: $(grep -m1 'written, but' err.txt)"
echo "... but out.h5 does not exist"
exit 1
