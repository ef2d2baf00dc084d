#!/usr/bin/env bash
# Collective parallel HDF5 output of a distributed 3D spectral run (issue 17 part 5;
# docs/parallel.md "Parallel HDF5"): the shipped 3D OU experiment (experiments/scale/
# ou3d_spectral.ini) at 48^3 (one time slice = 0.88 MiB: one chunk each) and 64^3 (2 MiB a
# slice: chunks of half a slice, so each of 2 ranks writes its own chunks), t = 0.2, written by
# 1 process and collectively by 2 ranks (1 and 2 threads) and 3 ranks (48 planes: 16 each):
#  - every dataset bitwise equal, with the same dtypes, shapes, attributes and dimension scales
#    (mpi_h5same.py), and the same storage layout: chunk shapes, deflate, shuffle, Fletcher-32;
#  - the density's chunks are one time slice or a slab of it;
#  - the file was written by every rank through MPI-IO, not by rank 0 alone: parallel HDF5
#    allocates the storage of every dataset when it is created, so the never-written index axis
#    /component has 12 bytes of storage in the collective file and none in the 1-process file;
#  - xarray (h5netcdf) opens every group of the collective file with its dimensions, and its XDMF
#    sidecar (rank 0's, after the rename) is the 1-process one but for the file name;
#  - failures: an output directory that does not exist, and an output path that is a
#    directory: every rank exits non-zero with rank 0's message, no file and no temporary.
#    (A failure of rank 1 alone in the middle of the write, a non-finite value only in its slab,
#    is tests/test_h5_slab_mpi.c under 2 ranks.)
# Skipped (77) without MPI or without parallel HDF5.
# Usage: bash tests/cli/mpi_phdf5.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if [ "${FPK_HAVE_MPI:-0}" != 1 ] || [ -z "${FPK_MPIEXEC:-}" ]; then
  echo "skipped: this build has no MPI"
  exit 77
fi
if [ "${FPK_HAVE_PHDF5:-0}" != 1 ]; then
  echo "skipped: this build has no parallel HDF5 (rank 0 writes: tests/cli/mpi_spectral3d.sh)"
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
run() { # N P T [args...]: n^3 with P ranks and T threads into $tmp/nN_PxT.h5
  local n=$1 P=$2 T=$3
  shift 3
  if timeout 300 "$FPK_MPIEXEC" -n "$P" "$fpkit" run "$cfg" -o "$tmp/n${n}_${P}x$T.h5" \
    --threads "$T" --set "grid.n=$n $n $n" --set time.t_end=0.2 --set spectral.dt=0.01 --quiet \
    "$@" > "$tmp/n${n}_${P}x$T.txt" 2>&1; then ok; else
    bad "$n^3 $P x $T: $(tail -3 "$tmp/n${n}_${P}x$T.txt")"
  fi
}
run 48 1 1
run 48 2 1
run 48 2 2
run 48 3 1
n=64
[ "${FPK_TEST_QUICK:-0}" = 1 ] || { run 64 1 1; run 64 2 1; }

files48=("$tmp"/n48_2x1.h5 "$tmp"/n48_2x2.h5 "$tmp"/n48_3x1.h5)
if "$py" "$here/mpi_h5same.py" "$tmp/n48_1x1.h5" "${files48[@]}"; then ok; else
  bad "48^3: the collective files differ from the 1-process file"; fi
if [ -e "$tmp/n64_1x1.h5" ]; then
  if "$py" "$here/mpi_h5same.py" "$tmp/n64_1x1.h5" "$tmp/n64_2x1.h5"; then ok; else
    bad "64^3: the collective file differs from the 1-process file"; fi
fi

# the XDMF sidecar: rank 0's, written after the rename, the 1-process one but for the file name
if [ -f "$tmp/n48_2x1.h5.xmf" ] &&
  diff <(sed 's/n48_1x1/NAME/g' "$tmp/n48_1x1.h5.xmf") <(sed 's/n48_2x1/NAME/g' "$tmp/n48_2x1.h5.xmf") > /dev/null
then ok; else bad "the sidecar of the collective file is missing or differs"; fi

# layout, the MPI-IO mark, the chunks of the density, and xarray
if "$py" - "$tmp" <<'PY'
import glob, os, sys
import h5py
import xarray as xr
tmp = sys.argv[1]

def layouts(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.str, obj.shape, obj.chunks, obj.compression,
                             obj.compression_opts, obj.shuffle, obj.fletcher32)
        f.visititems(visit)
        mark = f["component"].id.get_storage_size()
    return out, mark

fails = []
for n in (48, 64):
    ref = f"{tmp}/n{n}_1x1.h5"
    if not os.path.exists(ref):
        continue
    lay1, mark1 = layouts(ref)
    if mark1 != 0:
        fails.append(f"{ref}: /component has storage {mark1} in the 1-process file")
    chunks = lay1["spectral/density"][2]
    slice_bytes = n ** 3 * 8
    # one time slice, or a slab of it along z: [1][k][n][n] with k dividing n
    if not (chunks[0] == 1 and chunks[2:] == (n, n) and n % chunks[1] == 0):
        fails.append(f"{ref}: density chunks {chunks}: not one time slice or a slab of it")
    print(f"  {n}^3: density {lay1['spectral/density'][1]}, chunks {chunks} "
          f"({chunks[1] * n * n * 8 / 2**20:.2f} MiB of a {slice_bytes / 2**20:.2f} MiB slice), "
          f"{lay1['spectral/density'][3]} + shuffle + Fletcher-32")
    for p in sorted(glob.glob(f"{tmp}/n{n}_[23]x*.h5")):
        lay, mark = layouts(p)
        if mark != 12:
            fails.append(f"{p}: /component has storage {mark}, not 12: not written through MPI-IO")
        for k in sorted(set(lay1) | set(lay)):
            if lay1.get(k) != lay.get(k):
                fails.append(f"{p}: {k} layout {lay.get(k)} vs 1 process {lay1.get(k)}")
        if p.endswith("2x1.h5"):
            with h5py.File(p, "r") as f:
                groups = ["/"] + [f"/{g}" for g in f if isinstance(f[g], h5py.Group)]
            for g in groups:
                ds = xr.open_dataset(p, engine="h5netcdf", group=g).load()
                if g == "/spectral" and ds["density"].dims != ("t", "z", "y", "x"):
                    fails.append(f"{p}: xarray dims of /spectral/density {ds['density'].dims}")
            print(f"  xarray opened {len(groups)} groups of {os.path.basename(p)}")
for f in fails:
    print(f)
sys.exit(1 if fails else 0)
PY
then ok; else bad "layouts, chunks or xarray"; fi

# failures: every rank exits non-zero with rank 0's message, nothing left
check_failed() { # label path rc-file expected-text
  local label=$1 out=$2 log=$3 want=$4 rc=$5
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok || bad "$label: exit $rc"
  grep -q "$want" "$log" && ok || bad "$label: message $(tail -2 "$log")"
  # mpirun reports each rank's non-zero exit: both ranks failed
  [ -z "$(ls -A "$(dirname "$out")" 2>/dev/null | grep "$(basename "$out")")" ] && ok ||
    bad "$label: left $(ls "$(dirname "$out")")"
}
timeout 120 "$FPK_MPIEXEC" -n 2 "$fpkit" run "$cfg" -o "$tmp/missing/out.h5" --quiet \
  --set "grid.n=16 16 16" --set time.t_end=0.01 > "$tmp/missing.txt" 2>&1
check_failed "missing directory" "$tmp/missing/out.h5" "$tmp/missing.txt" \
  "rank 0: .*cannot write output" $?
mkdir -p "$tmp/isdir/out.h5"
timeout 120 "$FPK_MPIEXEC" -n 2 "$fpkit" run "$cfg" -o "$tmp/isdir/out.h5" --quiet \
  --set "grid.n=16 16 16" --set time.t_end=0.01 > "$tmp/isdir.txt" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok || bad "output is a directory: exit $rc"
grep -q "is a directory" "$tmp/isdir.txt" && ok || bad "directory: $(tail -2 "$tmp/isdir.txt")"
[ -z "$(ls "$tmp/isdir" | grep -v '^out.h5$')" ] && ok || bad "directory: left $(ls "$tmp/isdir")"
# every rank exits non-zero (mpirun's status above); the message is printed once, by rank 0
# (under mpirun only rank 0 speaks: src/cli/main.c)
[ "$(grep -c "is a directory" "$tmp/isdir.txt")" -eq 1 ] && ok ||
  bad "directory: the failure not reported once: $(cat "$tmp/isdir.txt")"
# no temporaries anywhere in the test's directory
[ -z "$(find "$tmp" -name '*.tmp.*')" ] && ok || bad "temporaries left: $(find "$tmp" -name '*.tmp.*')"

echo "mpi_phdf5: $pass passed, $fail failed"
[ $fail -eq 0 ]
