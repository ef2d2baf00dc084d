#!/usr/bin/env bash
# The defects found by hostile testing (issue 11; inputs in tests/defects, see its README): each
# must now give a clear error or a correct result. D3, D11 and D14 (the INI reader) are in
# config_strict.sh, D7 (OT at huge eps) in ot_large_eps.sh, the converge cases in converge.sh.
# Usage: bash tests/cli/defects.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
d=$src/tests/defects
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'umount "$tmp/small" 2>/dev/null; rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# check NAME WANT_EXIT REGEX OUTPUT_MUST_EXIST(0/1) fpkit-args...: exit status, message, and
# whether the output file ($tmp/out.h5) exists afterwards; no temporary may be left.
check() {
  local name=$1 want=$2 regex=$3 exists=$4
  shift 4
  rm -f "$tmp/out.h5"
  local msg rc
  msg=$(cd "$tmp" && timeout 60 "$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  local have=0
  [ -e "$tmp/out.h5" ] && have=1
  local left
  left=$(ls "$tmp" | grep -E '\.tmp\.' || true)
  if [ "$rc" -eq "$want" ] && grep -Eq -- "$regex" <<<"$msg" && [ "$have" -eq "$exists" ] && [ -z "$left" ]; then
    ok "$name: $msg"
  else
    bad "$name: exit $rc (want $want), output exists $have (want $exists), left: ${left:-none}"
    echo "     message: $msg"
    echo "     wanted /$regex/"
  fi
}

for f in small_ou1d.ini tiny_dt_zero_steps.ini spectral_blowup_exit0.ini fv_stiff_drift_mass_nan.ini \
         exact_ou_refused_by_em_law.ini grid_attr_array.h5 ot_grid_attr_array_overflow.ini \
         corrupt_mc_t.h5 ot_corrupt_h5_leak.ini; do
  [ -f "$d/$f" ] || { bad "reproducer $d/$f is missing"; }
  cp "$d/$f" "$tmp/" && chmod u+w "$tmp/$f"
done
# small_ou1d.ini writes to /tmp/small/out.h5 (the full-disk reproducer); everywhere else -o is given.
sed -i "s|^file = .*|file = $tmp/small/out.h5|" "$tmp/small_ou1d.ini"
small=$tmp/small_ou1d.ini
o=(-o "$tmp/out.h5" --quiet)

# D1: an HDF5 grid attribute stored as an array of 1000 doubles overflowed a stack buffer.
check "D1 grid attribute as an array" 1 "attribute 'lo' of '/grid/x' has shape \[1000\].*expected one number" 0 \
  ot "$tmp/ot_grid_attr_array_overflow.ini" "${o[@]}"

# D2: a step count beyond 2^64 became 0 steps; the initial density was written at every time.
check "D2 tiny fv dt" 1 "tiny_dt_zero_steps.ini:25: \[fp\] dt = '1e-20'.*2.5e\+19 steps.*limit of 1e\+12" 0 \
  run "$tmp/tiny_dt_zero_steps.ini" "${o[@]}"
check "D2 tiny mc dt" 1 "\[mc\] dt = '1e-300'.*steps, more than the limit" 0 \
  run "$tmp/tiny_dt_zero_steps.ini" "${o[@]}" --set fp.enabled=false --set mc.enabled=true \
  --set mc.dt=1e-300 --set mc.paths=2000
check "D2 huge t_end" 1 "\[fp\] dt = '1e-2'.*5e\+301 steps" 0 \
  run "$small" "${o[@]}" --set time.t_end=1e300 --set mc.enabled=false

# D5: spectral blow-up (dt = 5 for theta = 100) wrote NaN moments with exit 0.
check "D5 spectral blow-up" 3 "spectral etdrk4 at t = 0.05: density = .*negative beyond rounding; likely cause: the step is too large.*dt = 5, stable only up to about" 0 \
  run "$tmp/spectral_blowup_exit0.ini" "${o[@]}"
# ... and with --keep-failed the file is written, marked failed, with the reason
check "D5 --keep-failed" 3 "kept: .*out.h5 written with failed = 1" 1 \
  run "$tmp/spectral_blowup_exit0.ini" "${o[@]}" --keep-failed
if $py - "$tmp/out.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
assert f.attrs["failed"] == 1, dict(f.attrs)
assert "spectral etdrk4 at t = 0.05" in f.attrs["failed_reason"], f.attrs["failed_reason"]
p = f["spectral/density"][:]
assert np.all(np.isfinite(p[0])) and abs(p[0].sum() * 12 / 64 - 1) < 1e-9  # t = 0 is the start
assert np.all(np.isnan(p[2:])), "times after the failure are NaN (not computed)"
PY
then ok "D5 kept file: failed = 1, reason, t = 0 intact, later times NaN"; else bad "D5 kept file"; fi

# D6: Crank-Nicolson and TR-BDF2 under a drift of ~1e19 wrote negative mass and NaN with exit 0;
# implicit Euler (positivity-preserving for any dt) is right.
for s in crank-nicolson tr-bdf2; do
  # (which check fires first, a negative density or the mass, depends on the rounding of the
  # build: both are garbage from a scheme far beyond its positivity bound)
  check "D6 $s stiff drift" 3 "fv $s \(25 steps of 0.01\) at t = 0.25: (density = .*negative beyond rounding|mass = ).*; likely cause: $s keeps densities non-negative only for dt <= .*use implicit-euler" 0 \
    run "$tmp/fv_stiff_drift_mass_nan.ini" "${o[@]}" --set fp.scheme=$s
done
check "D6 implicit-euler stiff drift" 0 "^$" 1 \
  run "$tmp/fv_stiff_drift_mass_nan.ini" "${o[@]}" --set fp.scheme=implicit-euler
if $py - "$tmp/out.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
m, mean = f["fv/mass"][:], f["fv/mean"][:, 0]
assert np.all(np.abs(m - 1) < 1e-12), m
assert abs(mean[-1] - (-3.94375)) < 1e-9, mean   # all mass in the first cell, centre -3.94375
PY
then ok "D6 implicit-euler: mass 1, mean at the first cell centre -3.94375"; else bad "D6 implicit-euler values"; fi

# D8: -o a directory or '' failed only after the whole computation; now before anything runs.
mkdir "$tmp/isdir.h5"
check "D8 -o a directory" 1 "output '.*isdir.h5' is a directory" 0 \
  run "$small" -o "$tmp/isdir.h5" --quiet --set mc.paths=400000
check "D8 -o ''" 1 "the output path is empty" 0 run "$small" -o '' --quiet
# D9: -o at a device node or at the config file replaced it.
if mknod "$tmp/nulldev" c 1 3 2>/dev/null; then
  check "D9 -o a device node" 1 "'.*nulldev' is a character device, not a regular file" 0 \
    run "$small" -o "$tmp/nulldev" --quiet
  [ -c "$tmp/nulldev" ] && ok "D9 device node untouched" || bad "D9 device node replaced"
else
  check "D9 -o a device node (/dev/null)" 1 "'/dev/null' is a character device, not a regular file" 0 \
    run "$small" -o /dev/null --quiet
fi
cp "$small" "$tmp/self.ini"
check "D9 -o the config itself" 1 "output '.*self.ini' is the input file" 0 \
  run "$tmp/self.ini" -o "$tmp/self.ini" --quiet --force
head -c 1 "$tmp/self.ini" | grep -q ';' && ok "D9 config untouched" || bad "D9 config replaced"
echo "precious" > "$tmp/notes.h5"
check "D9 -o a file fpkit did not write" 1 "'.*notes.h5' exists and is not an fpkit result.*--force" 0 \
  run "$small" -o "$tmp/notes.h5" --quiet
grep -q precious "$tmp/notes.h5" && ok "D9 foreign file untouched" || bad "D9 foreign file replaced"
if (cd "$tmp" && "$fpkit" run "$small" -o "$tmp/notes.h5" --quiet --force) && \
   $py -c "import h5py,sys; h5py.File(sys.argv[1]).attrs['fpkit_version']" "$tmp/notes.h5"; then
  ok "D9 --force replaces it"
else bad "D9 --force"; fi
# an fpkit result is replaced without --force (rerunning an experiment)
check "D9 rerun over a result" 0 "^$" 1 run "$small" "${o[@]}"
check "D9 rerun over a result (2)" 0 "^$" 1 run "$small" "${o[@]}"

# D10: exact-ou was refused because the Euler-Maruyama law (not what ran) overflowed.
check "D10 exact-ou stiff OU" 0 "^$" 1 run "$tmp/exact_ou_refused_by_em_law.ini" "${o[@]}"
if $py - "$tmp/out.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
law = f["mc"].attrs["chain_law"]
assert law.startswith("the exact transition"), law
assert f["exact/chain_mean"].attrs["stepper"] == "exact-ou"
assert np.array_equal(f["exact/chain_mean"][:], f["exact/mean"][:])
se = np.sqrt(f["exact/cov"][-1, 0, 0] / 2000)
assert abs(f["mc/mean"][-1, 0] - f["exact/mean"][-1, 0]) < 5 * se
PY
then ok "D10 chain law = the exact transition; MC mean within 5 SE"; else bad "D10 chain law"; fi
check "D10 euler-maruyama chain law" 0 "^$" 1 run "$small" "${o[@]}" --set mc.keep_paths=0
$py -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f['mc'].attrs['chain_law'].startswith('the exact law of the Euler-Maruyama chain'); assert f['exact/chain_mean'].attrs['stepper']=='euler-maruyama'" "$tmp/out.h5" \
  && ok "D10 euler-maruyama: its own chain law" || bad "D10 euler-maruyama chain law"
check "D10 no closed form" 0 "^$" 1 run "$small" "${o[@]}" --set mc.stepper=tamed-euler
$py -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f['mc'].attrs['chain_law']=='none'; assert 'chain_mean' not in f['exact']" "$tmp/out.h5" \
  && ok "D10 tamed-euler: chain_law = none" || bad "D10 tamed-euler chain law"

# D12: a FIFO as an HDF5 input blocked forever.
mkfifo "$tmp/in.h5"
printf '[ot]\neps = 0.5\n\n[source]\ntype = hdf5\nfile = %s/in.h5\ndataset = /fv/density\n\n[target]\ntype = hdf5\nfile = %s/in.h5\ndataset = /fv/density\n' "$tmp" "$tmp" > "$tmp/fifo.ini"
check "D12 FIFO input" 1 "in.h5' is a FIFO, not a regular file" 0 ot "$tmp/fifo.ini" "${o[@]}"

# D13: a flipped bit in the metadata of /mc/t: read silently as NaN times (and libhdf5 leaked).
check "D13 damaged /mc/t" 1 "\[target\] file = 'corrupt_mc_t.h5'.*'/mc/t' exists but cannot be opened.*damaged file" 0 \
  ot "$tmp/ot_corrupt_h5_leak.ini" "${o[@]}"

# D4: a full disk ended in a segfault in HDF5's exit handler. Needs a 200 kB tmpfs (root).
mkdir -p "$tmp/small"
if mount -t tmpfs -o size=200k tmpfs "$tmp/small" 2>/dev/null; then
  check "D4 full disk while writing" 1 "cannot write '.*small/out.h5.tmp.*No space left on device" 0 \
    run "$small" --quiet --threads 1 --set grid.n=5000 --set mc.keep_paths=200
  [ -z "$(ls -A "$tmp/small")" ] && ok "D4 nothing left on the full disk" || bad "D4 left: $(ls -A "$tmp/small")"
  (cd "$tmp" && "$fpkit" run "$small" --quiet --threads 1) || bad "D4 small result"
  cp "$tmp/small/out.h5" "$tmp/good.h5"
  check "D4 full disk, previous result kept" 1 "No space left on device" 0 \
    run "$small" --quiet --threads 1 --set grid.n=2000
  cmp -s "$tmp/small/out.h5" "$tmp/good.h5" && [ "$(ls -A "$tmp/small")" = out.h5 ] \
    && ok "D4 previous result intact, no temporary" || bad "D4 previous result"
  umount "$tmp/small"
else
  echo "note D4 full disk: not run (mounting a tmpfs needs root; CI runs as root)"
fi

# M: messages that now name the real cause and the limit.
check "M grid.n = 1e9" 1 "\[grid\] n = '1e9': cell counts must be integers in \[3, 10000000\]" 0 \
  run "$small" "${o[@]}" --set grid.n=1e9
check "M grid too large in 2D" 1 "the grid has 1e\+12 cells, more than the limit of 10000000" 0 \
  run "$small" "${o[@]}" --set model.dim=2 --set model.sigma=1 --set grid.n=1000000 \
  --set grid.lo=-4.5 --set grid.hi=4.5 --set init.mean=1.5 --set init.std=0.25
check "M sigma = 1e-160 runs" 0 "^$" 1 run "$small" "${o[@]}" --set model.sigma=1e-160 --set mc.enabled=false
check "M init.std = 1e-300" 1 "std = 1e-300: its square underflows \(std must be >= 1.49e-154\)" 0 \
  run "$small" "${o[@]}" --set init.std=1e-300
check "M kept paths too large" 1 "keep_paths = '1000000000': storing 1000000000 paths x 51 steps x 1 components takes 408 GB" 0 \
  run "$small" "${o[@]}" --set mc.paths=1000000000 --set mc.keep_paths=1000000000 --set fp.enabled=false
check "M --threads 4097" 2 "--threads '4097': expected an integer in \[1, 4096\]" 0 \
  run "$small" "${o[@]}" --threads 4097
check "M exact law at t = 1e300" 0 "^$" 1 \
  run "$small" "${o[@]}" --set time.t_end=1e300 --set mc.enabled=false --set fp.enabled=false
$py -c "
import h5py,sys; f=h5py.File(sys.argv[1]); c=f['exact/cov'][-1,0,0]; m=f['exact/mean'][-1,0]
assert abs(c-0.5)<1e-12 and abs(m)<1e-300, (c, m)" "$tmp/out.h5" \
  && ok "M t = 1e300: the stationary law N(0, 1/2)" || bad "M t = 1e300 law"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
