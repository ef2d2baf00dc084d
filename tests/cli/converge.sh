#!/usr/bin/env bash
# `fpkit converge`: a small shipped study passes with its expected orders; output is bitwise the
# same with 1 and 2 threads and when regenerated from the configuration stored in the file; bad
# ladders, functionals and steppers stop with file:line, key and value; an under-sampled study
# says how many paths it needs instead of printing a slope, and exits non-zero; so does every
# other way an order can be unresolved (the file records it); the reference is recorded as what
# was used; step counts beyond the limit are refused with the count.
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

# 5. every way an order can be unresolved exits 1 after writing the file, which records the order
# as unresolved (resolved = 0, no order attribute) with unresolved_cause and unresolved_reason;
# stderr names the order, the cause, and what to change
model_gbm=$'[model]\ntype = gbm\ndim = 1\nmu = 0.5\nsigma = 0.8\n'
model_bm=$'[model]\ntype = bm\ndim = 1\nsigma = 1\n'
model_ou=$'[model]\ntype = ou\ndim = 1\ntheta = 1\nmu = 0\nsigma = 1\n'
study() { # name, model block, [converge] lines...
  local name=$1 model=$2
  shift 2
  { printf '%s\n' "$model"; printf '[init]\nx0 = 1\n\n[time]\nt_end = 1\n\n[converge]\n'
    printf '%s\n' "$@"; } > "$tmp/$name.ini"
}
# name, expected cause, the series group in the file, expected text on stderr
expect_unresolved() {
  local name=$1 cause=$2 group=$3 text=$4
  "$fpkit" converge "$tmp/$name.ini" -o "$tmp/$name.h5" > "$tmp/$name.out" 2> "$tmp/$name.err"
  local rc=$?
  if [ $rc -ne 1 ]; then bad "$name: exit $rc (expected 1): $(cat "$tmp/$name.out" "$tmp/$name.err")"; return; fi
  if ! grep -q -- "unresolved ($cause)" "$tmp/$name.err"; then
    bad "$name: no 'unresolved ($cause)' in: $(cat "$tmp/$name.err")"; return
  fi
  if ! grep -q -- "$text" "$tmp/$name.err"; then bad "$name: no '$text' in: $(cat "$tmp/$name.err")"; return; fi
  if [ ! -e "$tmp/$name.h5" ]; then bad "$name: no output file"; return; fi
  if "$py" - "$tmp/$name.h5" "$group" "$cause" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
a = f[sys.argv[2]].attrs
ok = (a["resolved"] == 0 and a["unresolved_cause"] == sys.argv[3] and len(a["unresolved_reason"]) > 20
      and "order" not in a and "ci_lo" not in a)
if not ok:
    print(dict(a))
sys.exit(0 if ok else 1)
PY
  then ok; else bad "$name: $group not recorded as unresolved ($cause)"; fi
}
# the strong error is all noise: 5 paths
study noise_strong "$model_gbm" "steps = 8 16 32 64" "paths = 5"
expect_unresolved noise_strong monte_carlo_noise /converge/strong "strong order unresolved.*paths would resolve it"
# resolved above the noise, but 1000 paths are 4 groups of 256: no jackknife interval (the
# per-level interval, 0.521 [0.487, 0.555], was reported with exit 0)
study groups "$model_gbm" "steps = 16 32 64 128 256 512" "paths = 1000" "fit = plain"
expect_unresolved groups too_few_groups /converge/strong "use paths >= 1025"
# errors that do not decrease: Milstein (strong 1) against an Euler-Maruyama reference (strong 1/2)
# only 2x finer; the fit gave order -0.175, 95% CI [-0.312, -0.038] with exit 0
study plateau "$model_gbm" "steps = 8 16 32 64" "paths = 3000" "stepper = milstein" \
  "reference = level" "reference_stepper = euler-maruyama" "reference_steps = 128"
expect_unresolved plateau not_decreasing /converge/strong "do not decrease with h.*raise reference_steps"
# the same with max_halfwidth lifted: an interval across 0 is no order either
study across "$model_gbm" "steps = 8 16 32 64" "paths = 3000" "stepper = milstein" \
  "reference = level" "reference_stepper = euler-maruyama" "reference_steps = 128" "max_halfwidth = 1e300"
expect_unresolved across not_decreasing /converge/strong "not above 0"
# the finest level is the reference: 2 levels leave 1 point for the fit
study onelevel "$model_gbm" "steps = 8 16" "paths = 2000" "fit = plain" "reference = finest"
expect_unresolved onelevel too_few_levels /converge/strong "only 1 level enters the fit.*add levels"
# Euler-Maruyama is exact for Brownian motion: strong errors are rounding (they fitted
# -0.035 [-0.076, 0.007] with exit 0), and the discrete law of E X has no error at all
study exact_bm "$model_bm" "steps = 8 16 32 64" "paths = 2000"
expect_unresolved exact_bm round_off /converge/strong "round-off level.*coarser ladder"
study exact_bm_weak "$model_bm" "steps = 8 16 32 64" "paths = 2000" "strong = false" "weak = x"
expect_unresolved exact_bm_weak zero_error /converge/weak/0/discrete "drop the functional"
# a functional that does not depend on the state
study constant "$model_gbm" "steps = 8 16 32 64" "paths = 2000" "strong = false" "weak = 1"
expect_unresolved constant zero_error /converge/weak/0/monte_carlo "exactly 0 at every level"
# exact discrete errors below the round-off of E f: a horizon of 1e-6
study tiny_t "$model_ou" "steps = 8 16 32 64 128" "paths = 2000" "strong = false" "weak = x"
sed -i 's/^t_end = 1$/t_end = 1e-6/' "$tmp/tiny_t.ini"
expect_unresolved tiny_t round_off /converge/weak/0/discrete "exact discrete error.*round-off level of E f"
# an interval wider than max_halfwidth
study wide "$model_gbm" "steps = 8 16 32 64" "paths = 2000" "max_halfwidth = 0.001"
expect_unresolved wide interval_too_wide /converge/strong "wider than max_halfwidth"
# a resolved order that misses its expected value also exits 1, after writing the file
study missed "$model_gbm" "steps = 16 32 64 128" "paths = 4000" "expect_strong = 2"
"$fpkit" converge "$tmp/missed.ini" -o "$tmp/missed.h5" > "$tmp/missed.out" 2> "$tmp/missed.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "misses the expected 2" "$tmp/missed.err" && [ -e "$tmp/missed.h5" ]; then ok
else bad "missed expectation: exit $rc, $(cat "$tmp/missed.err")"; fi

# 6. the reference recorded as what was used: the exact solution has no stepper and no steps;
# a reference level has both (and the default reference stepper for OU is sra1, 8x the finest)
study ref_exact "$model_gbm" "steps = 16 32 64 128" "paths = 4000"
study ref_level "$model_ou" "steps = 16 32 64 128" "paths = 4000"
study ref_finest "$model_ou" "steps = 16 32 64 128 256" "paths = 4000" "reference = finest"
for n in ref_exact ref_level ref_finest; do
  "$fpkit" converge "$tmp/$n.ini" -o "$tmp/$n.h5" --quiet 2> "$tmp/$n.err" || bad "$n: exit $?: $(cat "$tmp/$n.err")"
done
if "$py" - "$tmp" <<'PY'
import sys, h5py
t = sys.argv[1]
def attrs(n):
    return dict(h5py.File(f"{t}/{n}.h5", "r")["/converge"].attrs)
e, l, f = attrs("ref_exact"), attrs("ref_level"), attrs("ref_finest")
fails = []
if not (e["reference"] == "exact" and "reference_stepper" not in e and "reference_steps" not in e
        and e["reference_description"].startswith("exact solution (pathwise closed form)")):
    fails.append(f"exact: {e}")
if not (l["reference"] == "level" and l["reference_stepper"] == "sra1"
        and l["reference_steps"] == 1024 and "1024 steps of sra1" in l["reference_description"]):
    fails.append(f"level: {l}")
if not (f["reference"] == "finest" and f["reference_stepper"] == "euler-maruyama"
        and f["reference_steps"] == 256):
    fails.append(f"finest: {f}")
print("\n".join(fails))
sys.exit(1 if fails else 0)
PY
then ok; else bad "reference attributes"; fi
# the level-only keys are refused where they would be ignored (they were written as if used)
expect_error ref_keys_exact "applies to reference = level only" "steps = 8 16 32 64" "reference_stepper = sra1"
expect_error ref_keys_finest "applies to reference = level only" "steps = 8 16 32 64" "reference = finest" "reference_steps = 128"

# 7. step counts: formed in floating point and refused beyond 1e12 per path with the count and the
# limit, before any work (t_end/dt = 2.5e19 once became 0 steps through a size_t cast)
expect_error dt_tiny "dt = 4e-20 gives t_end/dt = 2.5e+19 steps per path (t_end = 1), more than the limit of 1e+12" "dt = 4e-20 0.5"
expect_error steps_huge "a level of 2.5e+19 steps per path is more than the limit of 1e+12" "steps = 8 2.5e19"
expect_error ref_default_huge "8 x the finest level's 200000000000 steps = 1.6e+12 steps per path, is more than the limit of 1e+12" \
  "steps = 8 200000000000" "reference = level"
expect_error ref_steps_huge "reference_steps" "steps = 8 16" "reference = level" "reference_steps = 16000000000000"
expect_error zero_steps "must be > 0" "steps = 0 8"
expect_error dt_over "is not an integer >= 1" "dt = 2 1"

echo "converge CLI: $pass passed, $fail failed"
[ $fail -eq 0 ]
