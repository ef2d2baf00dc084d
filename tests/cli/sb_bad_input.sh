#!/usr/bin/env bash
# Bad input to `fpkit sb`: each case must exit 1, print a message naming file:line (or --set),
# section, key and value, and leave no output file behind. Covers sigma <= 0, T <= 0, an output
# time outside [0, T], unequal masses (an HDF5 field of mass 0.98 without normalize), negative and
# NaN density fields.
# Usage: bash tests/cli/sb_bad_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0
export OMP_NUM_THREADS=1

cat > "$tmp/base.ini" <<'INI'
[grid]
dim = 1
n = 60
lo = -6
hi = 6

[mu0]
type = gaussian
mean = -1
std = 0.7

[muT]
type = gaussian
mean = 1
std = 0.9

[sb]
sigma = 0.8
T = 1
times = 0 0.5 1

[sample]
paths = 2000
INI

"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
def write(name, p, n=60, lo=-6.0, hi=6.0):
    with h5py.File(f"{tmp}/{name}.h5", "w") as f:
        h = (hi - lo) / n
        x = f.create_dataset("grid/x", data=lo + (np.arange(n) + 0.5) * h)
        x.attrs["lo"], x.attrs["hi"] = lo, hi
        f["static/density"] = p
n, lo, hi = 60, -6.0, 6.0
h = (hi - lo) / n
x = lo + (np.arange(n) + 0.5) * h
p = np.exp(-0.5 * ((x - 1) / 0.9) ** 2)
p /= p.sum() * h
write("good", p)
neg = p.copy(); neg[7] = -1e-3; write("negative", neg)
nan = p.copy(); nan[30] = np.nan; write("nan", nan)
write("light", 0.98 * p)
PY

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
h5target() {
  sed -e '/^\[muT\]/,/^std = 0.9/d' "$tmp/base.ini" > "$tmp/$1.ini"
  printf '[muT]\ntype = hdf5\nfile = %s\ndataset = /static/density\n' "$tmp/$1.h5" >> "$tmp/$1.ini"
  echo "$tmp/$1.ini"
}

b=$tmp/base.ini
# the good cases first: the base config and an HDF5 target run and leave the output file
for cfg in "$b" "$(h5target good)"; do
  if "$fpkit" sb "$cfg" -o "$out" --quiet && [ -s "$out" ]; then
    pass=$((pass + 1)); echo "ok   $(basename "$cfg") runs"
  else
    fail=$((fail + 1)); echo "FAIL $(basename "$cfg") does not run"
  fi
done

expect "sigma = 0" 1 "sigma0.ini:18: \[sb\] sigma = '0': sigma = 0: the reference dX = sigma dW needs sigma > 0" \
  sb "$(variant 's/^sigma = 0.8/sigma = 0/' sigma0)" -o "$out"
expect "sigma < 0" 1 "--set: \[sb\] sigma = '-0.5'.*sigma > 0" sb "$b" -o "$out" --set sb.sigma=-0.5
expect "T = 0" 1 "T0.ini:19: \[sb\] T = '0': T = 0: the horizon must be > 0" \
  sb "$(variant 's/^T = 1/T = 0/' T0)" -o "$out"
expect "T < 0" 1 "--set: \[sb\] T = '-1'.*must be > 0" sb "$b" -o "$out" --set sb.T=-1
expect "time > T" 1 "late.ini:20: \[sb\] times = '0 0.5 1.5': time 3 is 1.5, outside \[0, T\] = \[0, 1\]" \
  sb "$(variant 's/^times = 0 0.5 1/times = 0 0.5 1.5/' late)" -o "$out"
expect "time < 0" 1 "--set: \[sb\] times = '-0.1 0.5': time 1 is -0.1, outside \[0, T\]" \
  sb "$b" -o "$out" --set "sb.times=-0.1 0.5"
expect "time after T shrunk" 1 "base.ini:20: \[sb\] times = '0 0.5 1': time 3 is 1, outside \[0, T\] = \[0, 0.5\]" \
  sb "$b" -o "$out" --set sb.T=0.5
expect "times decrease" 1 "\[sb\] times = '0.5 0.25': times must increase" sb "$b" -o "$out" --set "sb.times=0.5 0.25"
expect "sigma = nan" 1 "\[sb\] sigma = 'nan'" sb "$b" -o "$out" --set sb.sigma=nan
expect "unequal masses" 1 "light.ini:[0-9]+: \[muT\] dataset = '/static/density': the mass of \[muT\] is 0.98.*normalize = true" \
  sb "$(h5target light)" -o "$out"
expect "negative density" 1 "negative.ini:[0-9]+: \[muT\] dataset = '/static/density': /static/density\[7\] = -0.001: a marginal must be finite and >= 0" \
  sb "$(h5target negative)" -o "$out"
expect "NaN density" 1 "nan.ini:[0-9]+: \[muT\] dataset = '/static/density': /static/density\[30\] = nan: a marginal must be finite and >= 0" \
  sb "$(h5target nan)" -o "$out"
expect "unknown method" 1 "\[sample\] method = 'milstein': expected one of exact, em, none" sb "$b" -o "$out" --set sample.method=milstein
expect "em dt = 0" 1 "\[sample\] dt = '0'" sb "$b" -o "$out" --set sample.method=em --set sample.dt=0
expect "unknown reference" 1 "\[sb\] reference = 'bessel': expected one of brownian, ou" sb "$b" -o "$out" --set sb.reference=bessel
expect "ou without theta" 1 "\[sb\] theta.*(required|missing)" sb "$b" -o "$out" --set sb.reference=ou
expect "ou theta = 0" 1 "--set: \[sb\] theta = '0': theta = 0: the OU reference .* needs theta > 0" \
  sb "$b" -o "$out" --set sb.reference=ou --set sb.theta=0
expect "ou theta T > 100" 1 "\[sb\] theta = '150': .*theta T = 150 > 100" \
  sb "$b" -o "$out" --set sb.reference=ou --set sb.theta=150
expect "theta without ou" 1 "unknown key 'theta' = '1' in \[sb\]" sb "$b" -o "$out" --set sb.theta=1
# the model reference (FP-based IPF): [model] required, its dimension the grid's, no exact sampler,
# EM steps on the chain's levels ([sample] dt is not used), refusals of the IPF path named
m=(--set sb.reference=model --set model.type=langevin --set model.potential=double-well
   --set model.dim=1 --set model.beta=2)
expect "model without [model]" 1 "\[model\] type.*(required|missing)" sb "$b" -o "$out" --set sb.reference=model --set sample.method=em
expect "model: sigma not used" 1 "unknown key 'sigma' = '0.8' in \[sb\]" sb "$b" -o "$out" "${m[@]}"
nosig=$(variant '/^sigma = 0.8/d' nosigma)
expect "model: exact sampler" 1 "\[sample\] method = 'exact': the exact sampler .* use method = em" \
  sb "$nosig" -o "$out" "${m[@]}" --set sample.method=exact
expect "model: dimension" 1 "\[model\] dim = '2': the reference model is 2-dimensional and the grid 1-dimensional" \
  sb "$nosig" -o "$out" "${m[@]}" --set model.dim=2
expect "model: sample dt" 1 "unknown key 'dt' = '0.01' in \[sample\]" \
  sb "$nosig" -o "$out" "${m[@]}" --set sample.dt=0.01
expect "model: sb dt = 0" 1 "\[sb\] dt = '0'" sb "$nosig" -o "$out" "${m[@]}" --set sb.dt=0
expect "model: multiplicative noise, em" 1 "\[sample\] method = .*Euler-Maruyama sampler takes one constant sigma.*use method = none" \
  sb "$nosig" -o "$out" "${m[@]}" --set model.modulation=0.3
expect "model: sigma too small for the box" 3 "sigma|underflow" \
  sb "$nosig" -o "$out" "${m[@]}" --set model.beta=5000
# an unconverged solve is a numerical failure (exit 3), with no file either
expect "max_iter = 2" 3 "Sinkhorn stopped at marginal error .* \(here \[sb\] max_iter = 2, tol = 1e-09\)" \
  sb "$b" -o "$out" --set sb.max_iter=2
# normalize accepts the light field
if "$fpkit" sb "$(h5target light)" -o "$out" --quiet --set sb.normalize=true && [ -s "$out" ]; then
  pass=$((pass + 1)); echo "ok   normalize = true accepts mass 0.98"
else
  fail=$((fail + 1)); echo "FAIL normalize = true does not accept mass 0.98"
fi

echo "sb_bad_input: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
