#!/usr/bin/env bash
# `fpkit run` with the 3D spectral solver over MPI ranks (issue 17 part 4): the shipped 3D OU
# experiment (experiments/scale/ou3d_spectral.ini) reduced to 48^3 and t = 0.2, run with 1 and 2
# ranks, each with 1 and 2 threads: every dataset of the four files bitwise identical (the
# solver's slabs are gathered, rank 0 writes). And more ranks than the z planes allow: every
# rank exits non-zero naming both numbers, no file, no hang. Skipped (77) without MPI.
# Usage: bash tests/cli/mpi_spectral3d.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if [ "${FPK_HAVE_MPI:-0}" != 1 ] || [ -z "${FPK_MPIEXEC:-}" ]; then
  echo "skipped: this build has no MPI"
  exit 77
fi
# under the sanitizers: OpenMPI's plugins leak with unnameable stacks (tests/lsan.supp)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
cfg=$src/experiments/scale/ou3d_spectral.ini
small=(--set "grid.n=48 48 48" --set time.t_end=0.2 --set spectral.dt=0.01 --quiet)

for P in 1 2; do
  for T in 1 2; do
    if timeout 300 "$FPK_MPIEXEC" -n $P "$fpkit" run "$cfg" -o "$tmp/r${P}x$T.h5" --threads $T \
      "${small[@]}" > "$tmp/r${P}x$T.txt" 2>&1; then ok; else bad "$P x $T: $(tail -3 "$tmp/r${P}x$T.txt")"; fi
  done
done
if PYTHONPATH=$here "$py" - "$tmp"/r1x1.h5 "$tmp"/r1x2.h5 "$tmp"/r2x1.h5 "$tmp"/r2x2.h5 <<'PY'
import sys
from h5tools import datasets, identical
ref, _ = datasets(sys.argv[1])
assert ref["spectral/density"].shape == (2, 48, 48, 48), ref["spectral/density"].shape
l1 = ref["errors/l1_spectral_exact"]
print(f"  1 x 1, 48^3, t = 0.2: L1 spectral vs exact {l1[-1]:.4e}")
assert 0 < l1[-1] < 1e-6, l1
fails = identical(ref, [(datasets(p)[0], p) for p in sys.argv[2:]])
for f in fails:
    print(f)
sys.exit(1 if fails else 0)
PY
then ok; else bad "the 3D spectral outputs differ between ranks x threads"; fi

# more ranks than slabs: 5 ranks on 8 planes along z (blocks of 2 leave the fifth rank none)
if timeout 120 "$FPK_MPIEXEC" -n 5 "$fpkit" run "$cfg" -o "$tmp/five.h5" --quiet \
  --set "grid.n=8 8 8" --set time.t_end=0.01 > "$tmp/five.txt" 2>&1; then
  bad "5 ranks on 8 planes succeeded"
else
  rc=$?
  [ $rc -ne 124 ] && ok || bad "5 ranks on 8 planes hung"
  grep -q "5 ranks but the grid has 8 planes along axis 2" "$tmp/five.txt" && ok ||
    bad "5 ranks: message $(tail -2 "$tmp/five.txt")"
  [ ! -e "$tmp/five.h5" ] && ok || bad "5 ranks left a file"
fi

echo "mpi_spectral3d: $pass passed, $fail failed"
[ $fail -eq 0 ]
