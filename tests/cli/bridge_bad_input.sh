#!/usr/bin/env bash
# Bad input to `fpkit bridge`: each case must exit non-zero, print a message naming what was wrong
# (file:line or --set, section, key, value) and leave no output file behind, whole or partial.
# Usage: bash tests/cli/bridge_bad_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0

cat > "$tmp/base.ini" <<'INI'
[random]
seed = 3

[bridge]
T = 2
sigma = 0.5
steps = 8
paths = 200

[kolmogorov]
paths = 200
steps = 40
ladder = 10

[ks_band]
n = 20
repetitions = 50
alpha = 0.05
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

variant() { sed "$1" "$tmp/base.ini" > "$tmp/$2.ini"; echo "$tmp/$2.ini"; }

# The good case first: the base config runs and leaves exactly the output file.
if "$fpkit" bridge "$tmp/base.ini" -o "$out" --quiet && [ -s "$out" ] && \
   [ -z "$(ls "$tmp" | grep -E '^out\.h5\.tmp' || true)" ]; then
  pass=$((pass + 1)); echo "ok   base config runs"
else
  fail=$((fail + 1)); echo "FAIL base config does not run"
fi

b="$tmp/base.ini"
f=$(variant 's/^sigma = 0.5/sigmaa = 0.5/' misspelled)
expect "misspelled key" 1 "misspelled.ini:6: unknown key 'sigmaa' in \[bridge\].*did you mean 'sigma'" bridge "$f" -o "$out"
f=$(variant 's/^\[kolmogorov\]/[kolmogorv]/' badsection)
expect "unknown section" 1 "badsection.ini:1[0-9]: unknown section \[kolmogorv\]" bridge "$f" -o "$out"
f=$(variant 's/^T = 2/T = 0/' zeroT)
expect "T = 0" 1 "zeroT.ini:5: \[bridge\] T = '0': expected a number > 0" bridge "$f" -o "$out"
expect "negative T" 1 "--set: \[bridge\] T = '-1': expected a number > 0" bridge "$b" -o "$out" --set bridge.T=-1
f=$(variant 's/^sigma = 0.5/sigma = -0.5/' negsigma)
expect "negative sigma" 1 "negsigma.ini:6: \[bridge\] sigma = '-0.5': expected a number > 0" bridge "$f" -o "$out"
expect "zero sigma" 1 "\[bridge\] sigma = '0': expected a number > 0" bridge "$b" -o "$out" --set bridge.sigma=0
expect "bridge paths = 1" 1 "\[bridge\] paths = '1': expected an integer in \[2," bridge "$b" -o "$out" --set bridge.paths=1
expect "bridge paths = 0" 1 "\[bridge\] paths = '0': expected an integer" bridge "$b" -o "$out" --set bridge.paths=0
expect "bridge steps = 0" 1 "\[bridge\] steps = '0': expected an integer in \[2, 1000\]" bridge "$b" -o "$out" --set bridge.steps=0
expect "bridge steps too many" 1 "\[bridge\] steps = '5000': expected an integer in \[2, 1000\]" bridge "$b" -o "$out" --set bridge.steps=5000
expect "kolmogorov paths = -3" 1 "\[kolmogorov\] paths = '-3': expected an integer" bridge "$b" -o "$out" --set kolmogorov.paths=-3
expect "kolmogorov steps = 0" 1 "\[kolmogorov\] steps = '0': expected an integer in \[2," bridge "$b" -o "$out" --set kolmogorov.steps=0
expect "ladder not nested" 1 "\[kolmogorov\] ladder = '3': 3 steps is not a divisor of the finest grid's 40" bridge "$b" -o "$out" --set kolmogorov.ladder=3
expect "ladder not integer" 1 "\[kolmogorov\] ladder = '2.5': expected integers" bridge "$b" -o "$out" --set kolmogorov.ladder=2.5
expect "quantile outside (0,1)" 1 "\[kolmogorov\] quantiles = '0.9 1.2': probabilities must lie in \(0, 1\)" bridge "$b" -o "$out" --set "kolmogorov.quantiles=0.9 1.2"
expect "alpha = 0" 1 "\[ks_band\] alpha = '0': expected a number in \(0, 1\]" bridge "$b" -o "$out" --set ks_band.alpha=0
expect "alpha = 1" 1 "\[ks_band\] alpha = '1': expected a level in \(0, 1\)" bridge "$b" -o "$out" --set ks_band.alpha=1
expect "alpha = 1.5" 1 "\[ks_band\] alpha = '1.5'" bridge "$b" -o "$out" --set ks_band.alpha=1.5
expect "alpha = -0.05" 1 "\[ks_band\] alpha = '-0.05'" bridge "$b" -o "$out" --set ks_band.alpha=-0.05
expect "band n = 0" 1 "\[ks_band\] n = '0': expected an integer in \[1," bridge "$b" -o "$out" --set ks_band.n=0
expect "repetitions = 1" 1 "\[ks_band\] repetitions = '1': expected an integer in \[2," bridge "$b" -o "$out" --set ks_band.repetitions=1
expect "too many kept paths" 1 "\[bridge\] keep_paths = '500': expected an integer in \[0, 100\]" bridge "$b" -o "$out" --set bridge.keep_paths=500
expect "em not a bool" 1 "\[bridge\] em = 'maybe'" bridge "$b" -o "$out" --set bridge.em=maybe
expect "seed not a number" 1 "\[random\] seed = 'x'" bridge "$b" -o "$out" --set random.seed=x
printf '[random]\nseed = 2\n' > "$tmp/empty.ini"
expect "nothing to run" 1 "empty.ini: nothing to run: give at least one of the sections \[bridge\], \[kolmogorov\], \[ks_band\]" bridge "$tmp/empty.ini" -o "$out"
expect "all parts disabled" 1 "nothing to run" bridge "$b" -o "$out" --set bridge.enabled=false --set kolmogorov.enabled=false --set ks_band.enabled=false
expect "disabled part still checked" 1 "\[bridge\] T = '0': expected a number > 0" bridge "$b" -o "$out" --set bridge.enabled=false --set bridge.T=0
expect "unwritable output" 1 "cannot write output '/nonexistent/dir/x.h5': directory '/nonexistent/dir': No such file" bridge "$b" -o /nonexistent/dir/x.h5
expect "missing config" 1 "cannot read config file '$tmp/nope.ini'" bridge "$tmp/nope.ini" -o "$out"
expect "bad --threads" 2 "--threads '0': expected an integer in \[1, 4096\]" bridge "$b" -o "$out" --threads 0
expect "unknown option" 2 "bridge: unknown or incomplete option" bridge "$b" --frobnicate
expect "no config" 2 "bridge: expected exactly one CONFIG" bridge
if "$fpkit" --help | grep "fpkit bridge CONFIG" > /dev/null; then  # whole output read: no SIGPIPE under pipefail
  pass=$((pass + 1)); echo "ok   --help lists bridge"
else
  fail=$((fail + 1)); echo "FAIL --help does not list bridge"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
