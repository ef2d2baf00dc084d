#!/usr/bin/env bash
# `fpkit converge`: a small shipped study passes with its expected orders; output is bitwise the
# same with 1 and 2 threads and when regenerated from the configuration stored in the file; bad
# ladders, functionals and steppers stop with file:line, key and value; an under-sampled study
# says how many paths it needs instead of printing a slope, and exits non-zero.
# Usage: bash tests/cli/converge.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# 1. the additive EM study, reduced: strong 1 and weak 1 within their intervals (exit 0)
cfg=$src/experiments/converge/em_ou.ini
if "$fpkit" converge "$cfg" -o "$tmp/a1.h5" --set converge.paths=8000 --threads 1 > "$tmp/a1.txt"; then
  ok
else
  bad "em_ou reduced: $(cat "$tmp/a1.txt")"
fi
grep -q "strong order" "$tmp/a1.txt" && ok || bad "no strong order line"

# 2. same numbers with 2 threads, and from the stored configuration
"$fpkit" converge "$cfg" -o "$tmp/a2.h5" --set converge.paths=8000 --threads 2 --quiet || bad "2 threads"
"$py" "$here/h5tools.py" config "$tmp/a1.h5" "$tmp/stored.ini" || bad "config extraction"
"$fpkit" converge "$tmp/stored.ini" -o "$tmp/a3.h5" --threads 2 --quiet || bad "rerun from stored config"
if PYTHONPATH=$here "$py" - "$tmp/a1.h5" "$tmp/a2.h5" "$tmp/a3.h5" <<'PY'
import sys
from h5tools import datasets, identical
ref, _ = datasets(sys.argv[1])
fails = identical(ref, [(datasets(p)[0], p) for p in sys.argv[2:]])
for f in fails:
    print(f)
sys.exit(1 if fails else 0)
PY
then ok; else bad "outputs differ between threads / stored config"; fi

# 3. bad input: each must fail (exit 1), name file:line, and mention the text given
base() {
  cat <<'INI'
[model]
type = gbm
dim = 1
mu = 0.5
sigma = 0.8

[init]
x0 = 1

[time]
t_end = 1

[converge]
INI
}
expect_error() { # name, expected text, extra [converge] lines...
  local name=$1 text=$2
  shift 2
  { base; printf '%s\n' "$@"; } > "$tmp/$name.ini"
  "$fpkit" converge "$tmp/$name.ini" -o "$tmp/$name.h5" > "$tmp/$name.out" 2> "$tmp/$name.err"
  local rc=$?
  if [ $rc -ne 1 ]; then bad "$name: exit $rc"; return; fi
  if ! grep -q -- "$text" "$tmp/$name.err"; then bad "$name: no '$text' in: $(cat "$tmp/$name.err")"; return; fi
  if ! grep -q "$name.ini:[0-9]" "$tmp/$name.err" && [ "${NOLINE:-}" != 1 ]; then
    bad "$name: no file:line in: $(cat "$tmp/$name.err")"; return
  fi
  if [ -e "$tmp/$name.h5" ]; then bad "$name: left an output file"; return; fi
  ok
}
expect_error dt_divides "does not divide the horizon" "dt = 0.3 0.1 0.05"
expect_error not_nested "does not divide the finest" "steps = 8 12 40"
expect_error both_ladders "exactly one of them" "steps = 8 16 32 64" "dt = 0.1 0.05"
# a missing key has no line: the message names the file and the section
NOLINE=1 expect_error no_ladder "exactly one of them" "paths = 100"
expect_error parse "cannot parse" "steps = 8 16 32 64" "weak = x^^2"
expect_error unknown_var "uses 'q'" "steps = 8 16 32 64" "weak = x + q"
expect_error sra1_mult "additive" "steps = 8 16 32 64" "stepper = sra1"
expect_error unknown_stepper "stepper" "steps = 8 16 32 64" "stepper = heun"
expect_error typo "setps" "steps = 8 16 32 64" "setps = 8"

# 4. unresolved: too few paths for the Monte Carlo weak order; the file is written and marked
{ base; printf '%s\n' "steps = 8 16 32 64" "stepper = milstein" "weak = x" "strong = false" "paths = 300"; } > "$tmp/few.ini"
"$fpkit" converge "$tmp/few.ini" -o "$tmp/few.h5" > "$tmp/few.out" 2> "$tmp/few.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "Monte Carlo error too large" "$tmp/few.err" && grep -q "paths would" "$tmp/few.err" \
   && [ -e "$tmp/few.h5" ]; then
  ok
else
  bad "unresolved study: exit $rc, $(cat "$tmp/few.err")"
fi
if "$py" -c "
import h5py, sys
g = h5py.File('$tmp/few.h5')['/converge/weak/0/monte_carlo']
sys.exit(0 if g.attrs['resolved'] == 0 and 'paths' in str(g.attrs['unresolved_reason']) else 1)"; then ok; else bad "few.h5 not marked unresolved"; fi

echo "converge CLI: $pass passed, $fail failed"
[ $fail -eq 0 ]
