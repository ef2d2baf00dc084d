#!/usr/bin/env bash
# Bad input to `fpkit ot`: each case must exit 1 (2 for usage errors), print a message naming what
# was wrong (file:line or --set, section, key, value) and leave no output file behind, whole or
# partial. Marginals read from HDF5 are checked too: negative and NaN values, mass mismatch
# without normalize, grids that differ; and a kernel that cannot represent eps is not an error
# (the solver falls back and says so).
# Usage: bash tests/cli/ot_bad_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0
export OMP_NUM_THREADS=1

cat > "$tmp/base.ini" <<'INI'
[ot]
eps = 1 0.5
tol = 1e-8

[grid]
dim = 1
n = 60
lo = -6
hi = 6

[source]
type = gaussian
mean = 0.3
std = 0.7

[target]
type = gaussian
mean = -0.4
std = 1.1
INI

# Small fpkit-like files: a good one (time series of densities), one with a negative value, one
# with a NaN, one whose mass is 0.98, one on another grid.
"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
def write(name, p, n=60, lo=-6.0, hi=6.0):
    with h5py.File(f"{tmp}/{name}.h5", "w") as f:
        h = (hi - lo) / n
        x = f.create_dataset("grid/x", data=lo + (np.arange(n) + 0.5) * h)
        x.attrs["lo"], x.attrs["hi"] = lo, hi
        f["fv/density"] = p
        f["fv/t"] = np.arange(p.shape[0]) * 0.5
        f["static/density"] = p[0]
def dens(n=60, lo=-6.0, hi=6.0, m=0.0, s=1.0):
    h = (hi - lo) / n
    x = lo + (np.arange(n) + 0.5) * h
    p = np.exp(-0.5 * ((x - m) / s) ** 2)
    return p / (p.sum() * h)
good = np.stack([dens(m=0.2 * k) for k in range(3)])
write("good", good)
neg = good.copy(); neg[1, 7] = -1e-3; write("negative", neg)
nan = good.copy(); nan[2, 30] = np.nan; write("nan", nan)
light = good.copy(); light[1] *= 0.98; write("light", light)
write("othergrid", np.stack([dens(n=50) for k in range(3)]), n=50)
PY

# expect NAME EXIT_CODE REGEX [fpkit arguments...]
expect() {
  local name=$1 code=$2 regex=$3
  shift 3
  rm -f "$out" "$out".tmp.*
  local msg rc
  msg=$("$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  local leftovers
  leftovers=$(ls "$tmp" | grep -E '^out\.h5' || true)
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$msg" && [ -z "$leftovers" ]; then
    pass=$((pass + 1))
    echo "ok   $name: $msg"
  else
    fail=$((fail + 1))
    echo "FAIL $name: exit $rc (want $code), message: $msg"
    echo "     wanted /$regex/; files left: ${leftovers:-none}"
  fi
}

variant() { sed "$1" "$tmp/base.ini" > "$tmp/$2.ini"; echo "$tmp/$2.ini"; }

# An HDF5 source against the good file's grid (no [grid] section).
cat > "$tmp/h5.ini" <<INI
[ot]
eps = 0.5

[source]
type = hdf5
file = $tmp/good.h5
dataset = /fv/density
time = all

[target]
type = hdf5
file = $tmp/good.h5
dataset = /fv/density
time = 0
INI

# The good cases first: both configs run and leave exactly the output file.
for cfg in base h5; do
  if "$fpkit" ot "$tmp/$cfg.ini" -o "$out" --quiet && [ -s "$out" ] && \
     [ -z "$(ls "$tmp" | grep -E '^out\.h5\.tmp' || true)" ]; then
    pass=$((pass + 1)); echo "ok   $cfg config runs"
  else
    fail=$((fail + 1)); echo "FAIL $cfg config does not run"
  fi
done

b="$tmp/base.ini"
h="$tmp/h5.ini"
f=$(variant 's/^eps = 1 0.5/eps = 0/' zeroeps)
expect "eps = 0" 1 "zeroeps.ini:2: \[ot\] eps = '0': every eps must be > 0" ot "$f" -o "$out"
expect "eps < 0 in a list" 1 "--set: \[ot\] eps = '1 -0.1': every eps must be > 0 \(value 2 is -0.1\)" ot "$b" -o "$out" --set "ot.eps=1 -0.1"
expect "eps = nan" 1 "\[ot\] eps = 'nan': expected a list of 1 to 64 numbers" ot "$b" -o "$out" --set ot.eps=nan
expect "eps missing" 1 "\[ot\] eps is required" ot "$(variant '/^eps/d' noeps)" -o "$out"
f=$(variant 's/^tol = 1e-8/tol = 0/' zerotol)
expect "tol = 0" 1 "zerotol.ini:3: \[ot\] tol = '0': expected a number in \(0, 1\]" ot "$f" -o "$out"
expect "unknown kernel" 1 "\[ot\] kernel = 'gpu': expected one of auto, fft, blas, lse" ot "$b" -o "$out" --set ot.kernel=gpu
expect "unknown cost" 1 "\[ot\] cost = 'l1': expected one of sqeuclid, half" ot "$b" -o "$out" --set ot.cost=l1
expect "eps_factor = 1" 1 "\[ot\] eps_factor = '1': expected a factor in \(0, 1\)" ot "$b" -o "$out" --set ot.eps_factor=1
expect "omega = 0.5" 1 "\[ot\] omega = '0.5': expected 0 \(automatic" ot "$b" -o "$out" --set ot.omega=0.5
expect "max_iter = 0" 1 "\[ot\] max_iter = '0': expected an integer" ot "$b" -o "$out" --set ot.max_iter=0
expect "unknown key" 1 "unknown key 'espilon' = '1' in \[ot\].*valid here: eps, tol" ot "$b" -o "$out" --set ot.espilon=1
f=$(variant 's/^tol = 1e-8/tl = 1e-8/' misspelled)
expect "misspelled key" 1 "misspelled.ini:3: unknown key 'tl' in \[ot\].*did you mean 'tol'" ot "$f" -o "$out"
expect "exact without Gaussians" 1 "\[ot\] exact = 'true': closed forms exist only between two Gaussians" ot "$h" -o "$out" --set ot.exact=true
expect "plan too large" 1 "\[ot\] plan = 'true': the plan of 10000 cells" ot "$b" -o "$out" --set ot.plan=true --set grid.n=10000 --set grid.lo=-60 --set grid.hi=60
expect "unknown marginal type" 1 "\[source\] type = 'uniform': expected one of gaussian, mixture, hdf5" ot "$b" -o "$out" --set source.type=uniform
expect "std <= 0" 1 "\[target\] std = '-1': standard deviations must be > 0" ot "$b" -o "$out" --set target.std=-1
expect "cov not positive" 1 "\[source\] cov = '-0.5': covariance must be positive definite" ot "$(variant 's/^std = 0.7/cov = -0.5/' negcov)" -o "$out"
expect "law outside the box" 1 "\[source\] mean = '5': the law puts .* of its mass outside the grid" ot "$b" -o "$out" --set source.mean=5
expect "grid dim 3" 1 "\[grid\] dim = '3': expected an integer in \[1, 2\]" ot "$b" -o "$out" --set grid.dim=3
expect "mixture weights" 1 "\[target\] weights = '1 -2': weights must be positive" ot "$b" -o "$out" --set target.type=mixture --set "target.weights=1 -2" --set "target.means=0 1" --set target.stds=1
expect "no grid" 1 "\[grid\] dim, n, lo, hi are required" ot "$(variant '/^\[grid\]/,/^hi/d' nogrid)" -o "$out"
# HDF5 marginals
expect "negative marginal" 1 "\[source\] dataset = '/fv/density': /fv/density\[1\]\[7\] = -0.001: a marginal must be finite and >= 0" ot "$h" -o "$out" --set "source.file=$tmp/negative.h5"
expect "NaN marginal" 1 "\[target\] dataset = '/fv/density': /fv/density\[2\]\[30\] = nan: a marginal must be finite" ot "$h" -o "$out" --set "target.file=$tmp/nan.h5" --set target.time=2
expect "mass mismatch" 1 "\[ot\] normalize = 'false': the marginals have masses 0.98.* \(source\) and 1 \(target\) at time index 1.*differing by 0.02" ot "$h" -o "$out" --set "source.file=$tmp/light.h5"
expect "grids differ (two files)" 1 "\[target\] file = '$tmp/othergrid.h5': its grid \(50 cells on \[-6, 6\]\) differs from the \[source\] file's grid \(60 cells" ot "$h" -o "$out" --set "target.file=$tmp/othergrid.h5"
expect "grids differ ([grid])" 1 "\[source\] file = '$tmp/good.h5': its grid \(60 cells on \[-6, 6\]\) differs from the \[grid\] grid \(64 cells" ot "$h" -o "$out" --set grid.dim=1 --set grid.n=64 --set grid.lo=-6 --set grid.hi=6
expect "missing file" 1 "\[source\] file = '$tmp/nope.h5': cannot read '$tmp/nope.h5': No such file" ot "$h" -o "$out" --set "source.file=$tmp/nope.h5"
expect "not HDF5" 1 "\[source\] file = '$tmp/base.ini': '$tmp/base.ini' is not an HDF5 file" ot "$h" -o "$out" --set "source.file=$tmp/base.ini"
expect "missing dataset" 1 "\[source\] dataset = '/mc/density': no such dataset .*datasets there: /fv/density" ot "$h" -o "$out" --set source.dataset=/mc/density
expect "time out of range" 1 "\[target\] time = '3': expected an index in \[0, 2\], last or all" ot "$h" -o "$out" --set target.time=3
expect "time missing" 1 "\[source\] dataset = '/fv/density': .* has a time axis of 3 entries: give \[source\] time" ot "$(sed '0,/^time = all/{/^time = all/d}' "$h" > "$tmp/notime.ini"; echo "$tmp/notime.ini")" -o "$out"
expect "time on a static field" 1 "\[source\] time = '0': /static/density has no time axis" ot "$h" -o "$out" --set source.dataset=/static/density --set source.time=0
expect "not a field" 1 "\[source\] dataset = '/fv/t': its shape \(rank 1\) is not that of a field on the file's grid" ot "$h" -o "$out" --set source.dataset=/fv/t
expect "unwritable output" 1 "cannot write output '/nonexistent/dir/x.h5': directory '/nonexistent/dir': No such file" ot "$b" -o /nonexistent/dir/x.h5
expect "--allow-unconverged elsewhere" 2 "--allow-unconverged applies to 'fpkit ot' only" bridge "$b" --allow-unconverged
expect "unknown option" 2 "ot: unknown or incomplete option" ot "$b" --frobnicate
expect "no config" 2 "ot: expected exactly one CONFIG" ot

# Normalising accepts the light file, prints the masses and records the difference.
if "$fpkit" ot "$h" -o "$out" --set "source.file=$tmp/light.h5" --set ot.normalize=true > "$tmp/norm.txt" &&
   grep -q "normalize   masses rescaled to 1: source 0.98, target 1 at t = 0.5 (time index 1); largest difference 0.02" "$tmp/norm.txt" &&
   "$py" -c "import h5py,sys; a=h5py.File(sys.argv[1])['ot'].attrs; sys.exit(int(abs(a['mass_difference']-0.02) > 1e-12))" "$out"; then
  pass=$((pass + 1)); echo "ok   normalize = true: masses printed, mass_difference recorded"
else
  fail=$((fail + 1)); echo "FAIL normalize = true"; cat "$tmp/norm.txt"
fi
# A kernel that cannot represent eps is not an error: fallback lines on stdout, the log in the file.
if "$fpkit" ot "$b" -o "$out" --set ot.kernel=fft --set grid.n=80 > "$tmp/fb.txt" &&
   grep -q "^fallback .*fft refused" "$tmp/fb.txt" &&
   "$py" -c "import h5py,sys; f=h5py.File(sys.argv[1]); sys.exit(int(not ('fft refused' in f['ot'].attrs['kernel_log'] and f['ot/fallbacks'][()].sum() > 0 and f['ot'].attrs['converged'] == 1)))" "$out"; then
  pass=$((pass + 1)); echo "ok   kernel = fft below its range falls back, prints and records it"
else
  fail=$((fail + 1)); echo "FAIL kernel fallback"; cat "$tmp/fb.txt"
fi
if "$fpkit" --help | grep "fpkit ot CONFIG" > /dev/null; then  # whole output read: no SIGPIPE under pipefail
  pass=$((pass + 1)); echo "ok   --help lists ot"
else
  fail=$((fail + 1)); echo "FAIL --help does not list ot"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
