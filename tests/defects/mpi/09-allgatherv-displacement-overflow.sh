#!/usr/bin/env bash
# FIXED (h17-hostile; src/core/comm.c: pieces of at most INT32_MAX / P bytes per rank; checked by reading, the script needs 40 GB; run by tests/cli/mpi_defects.sh)
# What: fpk_comm_allgatherv (src/core/comm.c) splits large gathers into rounds of at most
#   FPK_COMM_CHUNK = 2^30 bytes per rank, but packs each round into one buffer of up to
#   P * 2^30 bytes whose displacements are C ints: `displs[r] = (int)pos`. With 3 or more ranks
#   and 2 ranks before the last sending a full chunk, pos = 2^31 does not fit: the displacement
#   wraps to -2^31 and MPI_Allgatherv writes before the buffer (or fails with an MPI error).
#   The same happens on the one-round path when the total exceeds INT32_MAX (it falls through to
#   the chunked code with rounds = 1). Kept paths are gathered per round of the ensemble:
#   keep_paths = 65536 paths of 8192 steps (4.3 GB in one round of 256 blocks, 1.4 GB per rank,
#   so ranks 0 and 1 send full 2^30-byte chunks in the first piece) over 3 ranks reach it.
# Expected: displacements kept below 2^31 (a round packs at most INT32_MAX bytes, or each rank's
#   piece goes by its own MPI_Bcast / a derived datatype), and the kept paths of 3 ranks equal
#   the one-process ones bitwise.
# Seen: not run on the 25 GB test machine (3 ranks x ~12 GB: the kept paths, the round's
#   temporary and the gather buffer); the script runs it where at least 40 GB are available.
#   Severity: memory corruption / wrong kept paths (suspected).
# Exit status: 0 when fpkit behaves as expected (or the machine is too small: skipped), 1 when
#   the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/defects/mpi/lib.sh
source "$here/lib.sh"
need_mpi
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null)
if [ -z "$avail_kb" ] || [ "$avail_kb" -lt $((40 * 1024 * 1024)) ]; then
  echo "skipped: needs 40 GB of available memory (has $((${avail_kb:-0} / 1024 / 1024)) GB)"
  exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
cat > big.ini <<'INI'
[model]
type = ou
dim = 1
theta = 1
mu = 0
sigma = 0.8
[init]
mean = 0
std = 0.3
[grid]
lo = -3
hi = 3
n = 10
[time]
t_end = 1
n_out = 2
[fp]
enabled = false
[exact]
enabled = false
[mc]
paths = 65536
keep_paths = 65536
dt = 0.0001220703125
seed = 5
INI
"$fpkit" run big.ini -o one.h5 --threads 2 --quiet || { echo "one process failed"; exit 1; }
mpi 3 run big.ini -o three.h5 --threads 1 --quiet
rc=$?
if [ $rc -ne 0 ] || [ ! -e three.h5 ]; then echo "3 ranks: exit $rc, no file"; exit 1; fi
/usr/bin/python3 "$here/../../cli/mpi_h5same.py" one.h5 three.h5 && exit 0
exit 1
