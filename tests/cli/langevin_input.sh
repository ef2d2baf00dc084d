#!/usr/bin/env bash
# `[model] type = langevin` from the command line: a short run succeeds, and every bad key or
# value stops the run naming file:line, key and value (docs/config.md, "[model]").
# Usage: bash tests/cli/langevin_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0

cat > "$tmp/base.ini" <<'INI'
[model]
type = langevin
dim = 1
potential = tilted-cosine
beta = 2
amplitude = 0.8
tilt = 0.5
modulation = 0.2

[init]
mean = 0
std = 0.2

[grid]
lo = -1
hi = 1
n = 40
bc = periodic

[time]
t_end = 0.1
n_out = 2

[fp]
scheme = implicit-euler
dt = 0.01

[mc]
enabled = false
INI

expect() {
  local name=$1 code=$2 regex=$3
  shift 3
  rm -f "$out"
  local msg rc
  msg=$("$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$msg" && [ ! -e "$out" ]; then
    pass=$((pass + 1)); echo "ok   $name: $msg"
  else
    fail=$((fail + 1)); echo "FAIL $name: exit $rc (want $code), message: $msg (wanted /$regex/)"
  fi
}

variant() { sed "$1" "$tmp/base.ini" > "$tmp/$2.ini"; echo "$tmp/$2.ini"; }

if "$fpkit" run "$tmp/base.ini" -o "$out" --quiet && [ -s "$out" ]; then
  pass=$((pass + 1)); echo "ok   langevin config runs"
else
  fail=$((fail + 1)); echo "FAIL langevin config does not run"
fi
f=$(variant 's/^potential = tilted-cosine/potential = double-well/; s/^amplitude = 0.8//' dw2d)
if "$fpkit" run "$f" -o "$out" --quiet --set model.dim=2 --set grid.bc=reflecting --set "grid.lo=-2.5" --set grid.hi=2.5 --set grid.n=20 && [ -s "$out" ]; then
  pass=$((pass + 1)); echo "ok   2D double well runs"
else
  fail=$((fail + 1)); echo "FAIL 2D double well does not run"
fi
rm -f "$out"

f=$(variant 's/^beta = 2/beta = 2\nsigma = 1/' sigma)
expect "sigma is not a langevin key" 1 "sigma.ini:6: unknown key 'sigma' = '1' in \[model\]" run "$f" -o "$out"
f=$(variant 's/^potential = tilted-cosine/potential = double-well/' dwamp)
expect "amplitude is not a double-well key" 1 "dwamp.ini:6: unknown key 'amplitude'" run "$f" -o "$out"
f=$(variant 's/^potential = tilted-cosine/potential = quartic/' quartic)
expect "unknown potential" 1 "quartic.ini:4: \[model\] potential = 'quartic': expected one of double-well, tilted-cosine, harmonic" run "$f" -o "$out"
f=$(variant '/^potential/d' nopot)
expect "missing potential" 1 "\[model\] potential is required" run "$f" -o "$out"
f=$(variant '/^beta/d' nobeta)
expect "missing beta" 1 "\[model\] beta is required" run "$f" -o "$out"
f=$(variant 's/^beta = 2/beta = -1/' negbeta)
expect "negative beta" 1 "negbeta.ini:5: \[model\] beta = '-1': expected a number > 0" run "$f" -o "$out"
f=$(variant 's/^modulation = 0.2/modulation = -1/' mod1)
expect "modulation -1" 1 "mod1.ini:8: \[model\] modulation = '-1': must satisfy \|modulation\| < 1" run "$f" -o "$out"
f=$(variant 's/^modulation = 0.2/modulation = 1/' mod2)
expect "modulation 1" 1 "mod2.ini:8: \[model\] modulation = '1': must satisfy \|modulation\| < 1" run "$f" -o "$out"
f=$(variant 's/^tilt = 0.5/tilt = 0.5 0.5/' tilt2)
expect "tilt of the wrong length" 1 "tilt2.ini:7: \[model\] tilt = '0.5 0.5': expected 1 number" run "$f" -o "$out"
f=$(variant 's/^tilt = 0.5/period = 0/' per0)
expect "zero period" 1 "per0.ini:7: \[model\] period = '0': expected a number > 0" run "$f" -o "$out"
f=$(variant 's/^amplitude = 0.8/amplitude = nan/' ampnan)
expect "non-finite amplitude" 1 "ampnan.ini:6: \[model\] amplitude = 'nan'" run "$f" -o "$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
