#!/usr/bin/env bash
# Bad input to `fpkit run`: each case must exit non-zero, print a message naming what was wrong
# (file:line, key, value where there is one) and leave no output file behind, whole or partial.
# Usage: bash tests/cli/bad_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0

cat > "$tmp/base.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1.0
sigma = 1.0

[init]
mean = 0.5
std = 0.3

[grid]
lo = -4
hi = 4
n = 64

[time]
t_end = 0.5
n_out = 3

[fp]
scheme = implicit-euler
dt = 0.01

[mc]
paths = 2000
dt = 0.01
seed = 1
INI

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

# A config made from base.ini with one line replaced (sed expression) or appended.
variant() { sed "$1" "$tmp/base.ini" > "$tmp/$2.ini"; echo "$tmp/$2.ini"; }

# The good case first: the base config runs and leaves exactly the output file.
if "$fpkit" run "$tmp/base.ini" -o "$out" --quiet && [ -s "$out" ] && \
   [ -z "$(ls "$tmp" | grep -E '^out\.h5\.tmp' || true)" ]; then
  pass=$((pass + 1)); echo "ok   base config runs"
else
  fail=$((fail + 1)); echo "FAIL base config does not run"
fi

f=$(variant 's/^theta = 1.0/thetaa = 1.0/' misspelled)
expect "misspelled key" 1 "misspelled.ini:4: unknown key 'thetaa' in \[model\]" run "$f" -o "$out"
f=$(variant 's/^\[fp\]/[fpp]/' badsection)
expect "unknown section" 1 "unknown section \[fpp\]|\[fp\] dt is required" run "$f" -o "$out"
f=$(variant '$a [mc]\nwhatever = 3' extrakey)
expect "unknown key in a reopened section" 1 "extrakey.ini:[0-9]+: unknown key 'whatever' = '3' in \[mc\]" run "$f" -o "$out"
f=$(variant 's/^sigma = 1.0/sigma = -0.5/' negsigma)
expect "negative diffusion" 1 "negsigma.ini:5: \[model\] sigma = '-0.5': diffusion must be positive" run "$f" -o "$out"
f=$(variant 's/^sigma = 1.0/sigma = 0/' zerosigma)
expect "zero diffusion" 1 "zerosigma.ini:5: \[model\] sigma = '0'" run "$f" -o "$out"
f=$(variant 's/^dt = 0.01/dt = 0/' zerodt)
expect "zero dt" 1 "zerodt.ini:2[0-9]: \[fp\] dt = '0': expected a number > 0" run "$f" -o "$out"
expect "negative mc dt (--set)" 1 "--set: \[mc\] dt = '-1': expected a number > 0" run "$tmp/base.ini" -o "$out" --set mc.dt=-1
expect "non-positive T" 1 "\[time\] t_end = '-2': expected a number > 0" run "$tmp/base.ini" -o "$out" --set time.t_end=-2
expect "T not a number" 1 "\[time\] t_end = 'abc'" run "$tmp/base.ini" -o "$out" --set time.t_end=abc
expect "grid < 3 cells" 1 "\[grid\] n = '2': cell counts must be integers in \[3, 10000000\] \(axis 0: 2\)" run "$tmp/base.ini" -o "$out" --set grid.n=2
expect "fractional cells" 1 "\[grid\] n = '10.5'" run "$tmp/base.ini" -o "$out" --set grid.n=10.5
f=$(variant 's/^lo = -4/lo = 5/' reversed)
expect "bounds reversed" 1 "reversed.ini:1[0-9]: \[grid\] lo = '5': bounds reversed" run "$f" -o "$out"
expect "mass outside domain" 1 "\[init\] mean = '3.5': the initial density puts .* of its mass outside the grid" run "$tmp/base.ini" -o "$out" --set init.mean=3.5
expect "unknown boundary" 1 "\[grid\] bc = 'sticky'" run "$tmp/base.ini" -o "$out" --set grid.bc=sticky
expect "unknown scheme" 1 "\[fp\] scheme = 'rk4': expected one of" run "$tmp/base.ini" -o "$out" --set fp.scheme=rk4
expect "unwritable output" 1 "cannot write output '/nonexistent/dir/x.h5': directory '/nonexistent/dir': No such file" run "$tmp/base.ini" -o /nonexistent/dir/x.h5
expect "missing config" 1 "cannot read config file '$tmp/nope.ini'" run "$tmp/nope.ini" -o "$out"
expect "explicit step too large" 1 "largest allowed .*dt|dt.* largest" run "$tmp/base.ini" -o "$out" --set fp.scheme=explicit-euler --set fp.dt=0.05
expect "Monte Carlo blow-up" 3 "[Nn]on-finite|NaN|[Ii]nf" run "$tmp/base.ini" -o "$out" --set model.theta=-400 --set fp.enabled=false --set exact.enabled=false --set time.t_end=20 --set mc.dt=0.05 --set grid.lo=-1e9 --set grid.hi=1e9
# Fourier spectral solver (issue 3)
sp=(--set fp.method=spectral --set spectral.dt=0.01 --set mc.enabled=false)
expect "spectral, reflecting box" 1 "\[grid\] bc = 'reflecting': method spectral needs periodic boundaries .*use method = fv" run "$tmp/base.ini" -o "$out" "${sp[@]}" --set grid.bc=reflecting
expect "spectral, odd n" 1 "\[grid\] n = '63': method spectral needs an even number of points >= 8" run "$tmp/base.ini" -o "$out" "${sp[@]}" --set grid.bc=periodic --set grid.n=63
expect "spectral, tiny n" 1 "\[grid\] n = '6': method spectral needs an even number" run "$tmp/base.ini" -o "$out" "${sp[@]}" --set grid.bc=periodic --set grid.n=6
expect "spectral, no dt" 1 "\[spectral\] dt.*missing|missing.*\[spectral\] dt|dt.*required" run "$tmp/base.ini" -o "$out" --set fp.method=spectral --set grid.bc=periodic --set mc.enabled=false
expect "unknown FP method" 1 "\[fp\] method = 'fv spectrum': unknown method 'spectrum'" run "$tmp/base.ini" -o "$out" --set "fp.method=fv spectrum"
expect "phi-functions inaccurate" 3 "phi-functions lose accuracy .*contour points" run "$tmp/base.ini" -o "$out" "${sp[@]}" --set grid.bc=periodic --set spectral.contour_points=3 --set spectral.dt=0.5
expect "spectral blow-up" 3 "non-finite.*reduce dt" run "$tmp/base.ini" -o "$out" "${sp[@]}" --set grid.bc=periodic --set spectral.scheme=sbdf2 --set spectral.dt=0.4 --set time.t_end=400 --set model.theta=3 --set model.sigma=0.05 --set init.std=0.4 --set grid.lo=-12 --set grid.hi=12
expect "gap without spectral" 1 "\[stationary\] gap = 'true': the gap is computed from the spectral operator" run "$tmp/base.ini" -o "$out" --set stationary.gap=true
expect "stationary of nothing" 1 "\[stationary\] enabled = 'true': needs an FP method" run "$tmp/base.ini" -o "$out" --set fp.enabled=false --set stationary.enabled=true

# A wisdom file that is not FFTW's is a warning: the run succeeds and the file is left as it is.
echo "garbage" > "$tmp/wisdom"
msg=$("$fpkit" run "$tmp/base.ini" -o "$out" --quiet "${sp[@]}" --set grid.bc=periodic --set "spectral.wisdom=$tmp/wisdom" 2>&1)
if [ $? -eq 0 ] && grep -q "warning: .*wisdom file .* could not be read" <<<"$msg" && [ -f "$out" ] && [ "$(cat "$tmp/wisdom")" = garbage ]; then
  pass=$((pass + 1)); echo "ok   unreadable wisdom: $msg"
else
  fail=$((fail + 1)); echo "FAIL unreadable wisdom: $msg"
fi
rm -f "$out"

expect "bad --set syntax" 1 "expected section.key=value" run "$tmp/base.ini" -o "$out" --set gridn=5
expect "unknown option" 2 "unknown or incomplete option" run "$tmp/base.ini" --frobnicate
expect "no config" 2 "expected exactly one CONFIG" run
expect "unknown command" 2 "unknown command 'walk'" walk

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
