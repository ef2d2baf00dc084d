#!/usr/bin/env bash
# [init] type = expr (a density from an expression, normalised on the grid) and type = file (the
# density of another run): every method starts from the same law (FV and spectral from its cell
# averages, Monte Carlo by sampling it exactly), results are bitwise the same for 1 and 2
# threads, a run continued from a file reproduces the stored density at its t = 0 bit for bit,
# and every bad input stops the run with file:line, key and value, exit 1 and no output file
# (docs/config.md, "[init]").
# Usage: bash tests/cli/init_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

cat > "$tmp/expr.ini" <<'INI'
[model]
type = ou
dim = 1
A = 1.0
sigma = 0.8

[parameters]
s = 0.5

[init]
type = expr
density = exp(-x^2/(2*s^2))

[grid]
lo = -5
hi = 5
n = 200

[time]
times = 0 0.25 1

[fp]
dt = 0.01

[mc]
paths = 60000
dt = 0.01
seed = 11
INI
# the same law as a Gaussian start
sed -e '/^\[parameters\]/,/^s = /d' -e 's/^type = expr/mean = 0/' -e 's/^density = .*/std = 0.5/' \
  "$tmp/expr.ini" > "$tmp/gauss.ini"

# --- expression start: runs, reports Z, matches the Gaussian start -------------------------------
if "$fpkit" run "$tmp/expr.ini" -o "$tmp/e1.h5" --threads 1 > "$tmp/e1.txt" &&
   grep -Eq "^init +density = exp\(-x\^2/\(2\*s\^2\)\), normalised on the grid: Z = 1\.25331413731" "$tmp/e1.txt"; then
  ok "expr start runs and prints Z"
else
  bad "expr start"; cat "$tmp/e1.txt"
fi
"$fpkit" run "$tmp/expr.ini" -o "$tmp/e2.h5" --threads 2 --quiet
"$fpkit" run "$tmp/gauss.ini" -o "$tmp/g.h5" --quiet --set mc.enabled=false

if "$py" - "$here" "$tmp/e1.h5" "$tmp/e2.h5" "$tmp/g.h5" <<'PY'
import sys, math
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv.pop(1))
import h5py, numpy as np
from h5tools import datasets, identical

e1, g = sys.argv[1], sys.argv[3]
fails = []
with h5py.File(e1) as f, h5py.File(g) as fg:
    a = f["init"].attrs
    Z = a["normaliser"]
    # Z = integral of exp(-x^2/(2 s^2)) over [-5, 5] (10 sd: the tails beyond are 1e-23)
    if abs(Z - math.sqrt(2 * math.pi) * 0.5) > 1e-8 * Z:
        fails.append(f"Z = {Z!r}, expected sqrt(2 pi) 0.5 = {math.sqrt(2 * math.pi) * 0.5!r}")
    if a["density"] != "exp(-x^2/(2*s^2))" or a["type"] != "expr":
        fails.append(f"/init attributes {dict(a)}")
    if "exact" in f:
        fails.append("/exact written from an expression start")
    # FV from the expression = FV from the Gaussian within the quadrature error (measured 6e-12
    # with h = 0.05: 3-point Gauss-Legendre, O(h^6))
    d = np.max(np.abs(f["fv/density"][()] - fg["fv/density"][()]))
    if not d < 1e-10:
        fails.append(f"FV from the expression differs from FV from the Gaussian by {d:.3g}")
    # Monte Carlo at t = 0 samples the cell law: chi-square against the cell probabilities
    N = f["mc"].attrs["paths"]
    h = 10.0 / 200
    p = f["fv/density"][0] * h
    counts = f["mc/density"][0] * N * h
    e = N * p
    keep = e >= 5
    chi2 = np.sum((counts[keep] - e[keep]) ** 2 / e[keep]) + \
        (counts[~keep].sum() - e[~keep].sum()) ** 2 / max(e[~keep].sum(), 1e-300)
    dof = keep.sum()
    z = (chi2 - dof) / math.sqrt(2 * dof)
    print(f"chi-square {chi2:.1f} for {dof} degrees of freedom (z = {z:.2f})")
    if abs(z) > 5:
        fails.append(f"Monte Carlo at t = 0: chi-square z-score {z:.2f}")
fails += identical(datasets(e1)[0], [(datasets(sys.argv[2])[0], "--threads 2")])
for m in fails:
    print(m)
sys.exit(1 if fails else 0)
PY
then
  ok "Z = sqrt(2 pi) s, FV = Gaussian start, MC at t = 0 has the cell law, threads 1 = 2"
else
  bad "expr start: numbers"
fi

# --- file start: the stored density at its t = 0, bit for bit ----------------------------------
cat > "$tmp/file.ini" <<INI
[model]
type = ou
dim = 1
A = 1.0
sigma = 0.8

[init]
type = file
file = $tmp/e1.h5
time = 0.25

[grid]
lo = -5
hi = 5
n = 200

[time]
times = 0 0.75

[fp]
dt = 0.01

[mc]
paths = 20000
dt = 0.01
seed = 3
INI
if "$fpkit" run "$tmp/file.ini" -o "$tmp/f1.h5" --threads 1 > "$tmp/f1.txt" &&
   "$fpkit" run "$tmp/file.ini" -o "$tmp/f2.h5" --threads 2 --quiet &&
   grep -q "^init .*e1.h5 /fv/density at t = 0.25 (index 1): mass 0.99999" "$tmp/f1.txt" &&
   "$py" - "$here" "$tmp/e1.h5" "$tmp/f1.h5" "$tmp/f2.h5" <<'PY'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv.pop(1))
import h5py, numpy as np
from h5tools import datasets, identical
with h5py.File(sys.argv[1]) as a, h5py.File(sys.argv[2]) as b:
    same = a["fv/density"][1].tobytes() == b["fv/density"][0].tobytes()
    # continuing 0.25 -> 1 = the original run's t = 1 (same steps of 0.01 from 0.25: rounding only)
    d = np.max(np.abs(a["fv/density"][2] - b["fv/density"][1]))
    at = dict(b["init"].attrs)
    print(f"t = 0 bitwise: {same}; continued to t = 1: max |diff| {d:.3g}; /init {at}")
    ok = same and d < 1e-12 and at["time"] == 0.25 and at["method"] == "fv"
fails = identical(datasets(sys.argv[2])[0], [(datasets(sys.argv[3])[0], "--threads 2")])
print(*fails, sep="\n")
sys.exit(0 if ok and not fails else 1)
PY
then
  ok "file start reproduces the stored density bitwise; threads 1 = 2"
else
  bad "file start"; cat "$tmp/f1.txt"
fi

# --- 2D: an expression start on a periodic box, spectral and FV, then continued from spectral ---
cat > "$tmp/e2d.ini" <<'INI'
[model]
type = ou
dim = 2
A = 1.0 0.3
   -0.2 0.8
sigma = 0.6 0.5

[parameters]
a = 0.6

[init]
type = expr
density = exp(-(x^2 + 2*y^2)/(2*a)) * (1 + 0.5*sin(x))

[grid]
lo = -4 -4
hi = 4 4
n = 64 64
bc = periodic

[time]
times = 0 0.2

[fp]
method = fv spectral
dt = 0.01

[spectral]
dt = 0.01
planner = estimate

[mc]
paths = 4000
dt = 0.01
INI
if "$fpkit" run "$tmp/e2d.ini" -o "$tmp/e2d.h5" --quiet &&
   "$py" - "$tmp/e2d.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    p0 = f["fv/density"][0]
    # the spectral solver's t = 0 output is the cell average of the interpolant of its point
    # values: the same cell averages up to the rounding of that round trip
    d = np.max(np.abs(p0 - f["spectral/density"][0]))
    ok = d < 1e-13 * p0.max() and abs(p0.sum() * 0.125 ** 2 - 1) < 1e-13
sys.exit(0 if ok else 1)
PY
then
  ok "2D expression start: FV and spectral start from the same cell averages"
else
  bad "2D expression start"
fi
sed -e '/^\[parameters\]/,/^a = /d' -e 's/^type = expr/type = file/' \
    -e "s|^density = .*|file = $tmp/e2d.h5|" "$tmp/e2d.ini" > "$tmp/f2d.ini"
if "$fpkit" run "$tmp/f2d.ini" -o "$tmp/f2d.h5" --quiet &&
   "$py" -c "import sys,h5py; a=h5py.File(sys.argv[1]); b=h5py.File(sys.argv[2]); sys.exit(int(a['fv/density'][1].tobytes() != b['fv/density'][0].tobytes()))" \
     "$tmp/e2d.h5" "$tmp/f2d.h5"; then
  ok "2D file start (time = last) reproduces the stored density bitwise"
else
  bad "2D file start"
fi
# a start from the spectral field (its small negatives cleared to 0) with FV and spectral: at
# t = 0 the spectral density is positive where FV's is 0, so KL(spectral || fv) is +infinity, a
# true value stored as NaN with its meaning, not a failed run
sed -e "s|^file = .*|file = $tmp/e2d.h5\nmethod = spectral|" "$tmp/f2d.ini" > "$tmp/s2d.ini"
if "$fpkit" run "$tmp/s2d.ini" -o "$tmp/s2d.h5" --quiet &&
   "$py" -c "import sys,h5py,math; d=h5py.File(sys.argv[1])['errors/kl_spectral_fv']; sys.exit(int(not (math.isnan(d[0]) and math.isfinite(d[1]) and d.attrs['nan'].startswith('+infinity'))))" \
     "$tmp/s2d.h5"; then
  ok "2D start from a cleared spectral field: KL = +infinity stored as NaN, exit 0"
else
  bad "2D start from a cleared spectral field"
fi

# --- bad input: exit 1, file:line, key and value, no output file --------------------------------
expect() {
  local name=$1 code=$2 regex=$3
  shift 3
  rm -f "$out"
  local msg rc
  msg=$("$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$msg" && [ ! -e "$out" ]; then
    ok "$name: $msg"
  else
    bad "$name: exit $rc (want $code), message: $msg (wanted /$regex/)"
  fi
}
variant() { # variant SED-EXPR NAME: a copy of expr.ini changed by sed
  sed -e "$1" "$tmp/expr.ini" > "$tmp/$2.ini"
  echo "$tmp/$2.ini"
}
e=$tmp/expr.ini
f=$(variant 's/^density = .*/density = exp(-q*x^2)/' unknown)
expect "unknown variable" 1 "unknown.ini:12: \[init\] density = 'exp\(-q\*x\^2\)': unknown symbol 'q' .*\(known: x, s\)" run "$f" -o "$out"
f=$(variant 's/^density = .*/density = exp(-t*x^2)/' timevar)
expect "t in a density" 1 "timevar.ini:12: \[init\] density = 'exp\(-t\*x\^2\)': unknown symbol 't' .*has no time" run "$f" -o "$out"
expect "y in 1D" 1 "\[init\] density = 'exp\(-y\^2\)': unknown symbol 'y' in \"exp\(-y\^2\)\" \(the model is 1D\)" run "$e" -o "$out" --set "init.density=exp(-y^2)"
f=$(variant 's/^density = .*/density = x*exp(-x^2)/' negative)
expect "negative value" 1 "negative.ini:12: \[init\] density = 'x\*exp\(-x\^2\)': \"x\*exp\(-x\^2\)\" is -[0-9.e-]+ at x = -4.99[0-9]* \(a quadrature node of cell 0\): a density must be finite and >= 0" run "$f" -o "$out"
expect "non-finite value" 1 "\[init\] density = 'sqrt\(x\)\*exp\(-x\^2\)': .* is -?nan at x = -4.99" run "$e" -o "$out" --set "init.density=sqrt(x)*exp(-x^2)"
expect "zero mass" 1 "\[init\] density = '0\*x': the density integrates to 0 over the grid" run "$e" -o "$out" --set "init.density=0*x"
expect "mass at the wall" 1 "\[init\] density = 'exp\(-\(x-4.8\)\^2\)': the density puts 0.0[0-9]+ of its mass in the outermost cells at x = 5 \(at most 1e-6 allowed" run "$e" -o "$out" --set "init.density=exp(-(x-4.8)^2)"
expect "syntax error" 1 "\[init\] density = 'exp\(-x\^2': cannot parse \"exp\(-x\^2\" at column 9" run "$e" -o "$out" --set "init.density=exp(-x^2"
expect "density missing" 1 "\[init\] density is required" run "$(variant '/^density/d' nodensity)" -o "$out"
expect "exact requested" 1 "\[exact\] enabled = 'true': no closed form from \[init\] type = expr" run "$e" -o "$out" --set exact.enabled=true
expect "init type" 1 "\[init\] type = 'uniform': expected one of gaussian, point, expr, file" run "$e" -o "$out" --set init.type=uniform

fi_=$tmp/file.ini
expect "file: grid differs" 1 "file.ini:9: \[init\] file = '.*e1.h5': its grid \(200 cells on \[-5, 5\], reflecting\) differs from this run's \[grid\] \(100 cells on \[-5, 5\], reflecting\)" run "$fi_" -o "$out" --set grid.n=100
expect "file: bc differs" 1 "its grid \(200 cells on \[-5, 5\], reflecting\) differs from this run's \[grid\] \(200 cells on \[-5, 5\], absorbing\)" run "$fi_" -o "$out" --set grid.bc=absorbing
expect "file: time not stored" 1 "t03.ini:10: \[init\] time = '0.3': .*e1.h5: no output at t = 0.3 in /fv/t \(3 times; the nearest: 0.25 \(index 1\), 0 \(index 0\), 1 \(index 2\)\)" run "$(sed 's/^time = 0.25/time = 0.3/' "$fi_" > "$tmp/t03.ini"; echo "$tmp/t03.ini")" -o "$out"
expect "file: time not a number" 1 "\[init\] time = 'soon': expected a time stored in the file or 'last'" run "$fi_" -o "$out" --set init.time=soon
expect "file: method absent" 1 "\[init\] method = 'exact': .*e1.h5 has no /exact group: the method did not run there" run "$fi_" -o "$out" --set init.method=exact
expect "file: unknown method" 1 "\[init\] method = 'ot': expected one of fv, spectral, exact, mc" run "$fi_" -o "$out" --set init.method=ot
expect "file: missing" 1 "\[init\] file = '$tmp/nope.h5': cannot read '$tmp/nope.h5': No such file" run "$fi_" -o "$out" --set "init.file=$tmp/nope.h5"
expect "file: not HDF5" 1 "\[init\] file = '$tmp/expr.ini': '$tmp/expr.ini' is not an HDF5 file" run "$fi_" -o "$out" --set "init.file=$tmp/expr.ini"
expect "file: exact requested" 1 "\[exact\] enabled = 'true': no closed form from \[init\] type = file" run "$fi_" -o "$out" --set exact.enabled=true
# the input is never the output
cp "$tmp/e1.h5" "$tmp/keep.h5"
msg=$("$fpkit" run "$fi_" -o "$tmp/e1.h5" 2>&1 >/dev/null); rc=$?
if [ "$rc" -eq 1 ] && grep -q "is the input file" <<<"$msg" && cmp -s "$tmp/e1.h5" "$tmp/keep.h5"; then
  ok "-o onto the [init] file is refused, the file untouched: $msg"
else
  bad "-o onto the [init] file: exit $rc, $msg"
fi
# damaged fields: a negative value beyond the guard, a NaN, no mass
"$py" - "$tmp/e1.h5" "$tmp" <<'PY'
import sys, shutil, h5py, numpy as np
src, tmp = sys.argv[1], sys.argv[2]
for name, change in [("neg", lambda p: p.__setitem__((1, 100), -0.01)),
                     ("nan", lambda p: p.__setitem__((1, 7), np.nan)),
                     ("zero", lambda p: p.__setitem__(1, 0.0)),
                     ("light", lambda p: (p.__setitem__(1, 0.5 * p[1]),
                                          p.__setitem__((1, 0), -1e-9)))]:
    dst = f"{tmp}/{name}.h5"
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        p = f["fv/density"][()]
        change(p)
        del f["fv/density"]
        f["fv/density"] = p
PY
expect "file: negative field" 1 "\[init\] file = '$tmp/neg.h5': /fv/density\[1\] cell 100 = -0.01: below -negative_tol x max" run "$fi_" -o "$out" --set "init.file=$tmp/neg.h5"
expect "file: NaN field" 1 "\[init\] file = '$tmp/nan.h5': /fv/density\[1\] cell 7 = nan: not finite" run "$fi_" -o "$out" --set "init.file=$tmp/nan.h5"
expect "file: zero mass" 1 "\[init\] file = '$tmp/zero.h5': /fv/density at t = 0.25 has zero mass" run "$fi_" -o "$out" --set "init.file=$tmp/zero.h5"

# a mass of 1/2 (as after absorbing walls) is renormalised and reported; a negative value within
# the guard is set to 0 and counted
if "$fpkit" run "$fi_" -o "$out" --set "init.file=$tmp/light.h5" > "$tmp/light.txt" &&
   grep -q "mass 0.49999.*, renormalised to 1, negative values set to 0" "$tmp/light.txt" &&
   "$py" -c "
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1]); b = h5py.File(sys.argv[2])
p = a['fv/density'][1].copy(); p[0] = 0
q = b['fv/density'][0]
sys.exit(int(not (np.max(np.abs(q - p / (p.sum() * 0.05))) < 1e-15 and b['init'].attrs['clipped'] == 1
                  and abs(b['init'].attrs['mass'] - 0.5) < 1e-9)))" "$tmp/light.h5" "$out"; then
  ok "light field renormalised, tiny negative set to 0, both reported"
else
  bad "light field"; cat "$tmp/light.txt"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
