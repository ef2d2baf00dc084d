#!/usr/bin/env bash
# `[model] type = expr` (with [parameters]), gbm, bridge and mixture-langevin from the command
# line: short runs succeed, and every bad key or value stops the run naming file:line, key and
# value (docs/config.md, "[model]"); a syntax error also names the column.
# Usage: bash tests/cli/expr_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0

cat > "$tmp/base.ini" <<'INI'
[model]
type = expr
dim = 1
drift = -theta*(x - mu)
noise = s*(1 + 0.3*sin(x))

[parameters]
theta = 1.5
mu = 0.5
s = 0.7

[init]
mean = 0
std = 0.3

[grid]
lo = -3
hi = 4
n = 40

[time]
t_end = 0.1
n_out = 2

[fp]
scheme = implicit-euler
dt = 0.01

[mc]
paths = 2000
dt = 0.01
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

runs() {
  local name=$1
  shift
  rm -f "$out"
  if "$fpkit" run "$@" -o "$out" --quiet && [ -s "$out" ]; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); echo "FAIL $name does not run"
  fi
}

variant() { sed "$1" "$tmp/base.ini" > "$tmp/$2.ini"; echo "$tmp/$2.ini"; }

runs "1D expression model (fv + mc)" "$tmp/base.ini"
f=$(variant 's/^dim = 1/dim = 2/; s/^drift = .*/drift_x = -theta*(x - mu) + y\ndrift_y = -y - x*t/; s/^noise = .*/noise_x = s\nnoise_y = s*(1 + 0.2*cos(y))/; s/^n = 40/n = 16/; s/^mean = 0/mean = 0 0/' e2d)
runs "2D expression model" "$f"
f=$(variant '/^theta\|^mu =\|^s =/d; s/^\[parameters\]//; s/^drift = .*/drift = -x/; s/^noise = .*/noise = 0.5/' noparams)
runs "expression model without [parameters]" "$f"
f=$(variant 's/^type = expr/type = gbm/; /^drift\|^noise\|^theta\|^mu =\|^s =/d; s/^\[parameters\]/mu = 0.1\nsigma = 0.3/; s/^mean = 0/mean = 1/; s/^std = 0.3/std = 0.1/; s/^lo = -3/lo = 0.1/; s/^hi = 4/hi = 3/' gbm)
runs "gbm" "$f"
f=$(variant 's/^type = expr/type = bridge/; /^drift\|^noise\|^theta\|^mu =\|^s =/d; s/^\[parameters\]/a = 0\nb = 1\nT = 0.5\nsigma = 0.5/' bridge)
runs "bridge" "$f"
cp "$f" "$tmp/bridge_ok.ini"
f=$(variant 's/^type = expr/type = mixture-langevin/; /^drift\|^noise\|^theta\|^mu =\|^s =/d; s/^\[parameters\]/weights = 0.3 0.7\nmeans = -1 1\nstds = 0.4 0.6/' mix)
printf '\n[stationary]\nenabled = true\n' >> "$f"
runs "mixture-langevin with [stationary]" "$f"
cp "$f" "$tmp/mix_ok.ini"

# expression errors: file:line of the key, and the column of a syntax error
f=$(variant 's/^drift = .*/drift = -x + * 2/' parse)
expect "syntax error" 1 "parse.ini:4: \[model\] drift = '-x \+ \* 2': cannot parse \"-x \+ \* 2\" at column 6" run "$f" -o "$out"
f=$(variant 's/^noise = .*/noise = s*(1 + x/' paren)
expect "unclosed parenthesis" 1 "paren.ini:5: \[model\] noise = .*at column 9 \(end of expression" run "$f" -o "$out"
f=$(variant 's/^noise = .*/noise = s*foo(x)/' func)
expect "unknown function" 1 "func.ini:5: .*column 6 \('foo' is not a function" run "$f" -o "$out"
f=$(variant 's/^noise = .*/noise = s*y/' unknown)
expect "unknown variable" 1 "unknown.ini:5: \[model\] noise = 's\*y': unknown symbol 'y' in \"s\*y\" \(the model is 1D\) \(known: x, t, theta, mu, s\)" run "$f" -o "$out"
f=$(variant 's/^drift = .*/drift = -kappa*x/' unknown2)
expect "unknown parameter" 1 "unknown2.ini:4: .*unknown symbol 'kappa'" run "$f" -o "$out"
f=$(variant '/^noise/d' nonoise)
expect "missing noise" 1 "\[model\] noise is required" run "$f" -o "$out"
f=$(variant 's/^dim = 1/dim = 2/' nodrift_x)
expect "2D needs drift_x" 1 "nodrift_x.ini:4: unknown key 'drift' in \[model\] \(did you mean 'drift_x'" run "$f" -o "$out"
f=$(variant 's/^theta = 1.5/theta = fast/' badvalue)
expect "bad parameter value" 1 "badvalue.ini:8: \[parameters\] theta = 'fast': expected a finite number" run "$f" -o "$out"
f=$(variant 's/^mu = 0.5/mu = inf/' infvalue)
expect "infinite parameter value" 1 "infvalue.ini:9: \[parameters\] mu = 'inf'" run "$f" -o "$out"
f=$(variant 's/^s = 0.7/t = 0.7/' clash_t)
expect "parameter named t" 1 "clash_t.ini:10: \[parameters\] t = '0.7': parameter name 't' clashes with the time t" run "$f" -o "$out"
f=$(variant 's/^s = 0.7/pi = 3/' clash_pi)
expect "parameter named pi" 1 "clash_pi.ini:10: \[parameters\] pi = '3': parameter name 'pi' clashes with the constant pi" run "$f" -o "$out"
f=$(variant 's/^s = 0.7/sin = 3/' clash_sin)
expect "parameter named sin" 1 "clash_sin.ini:10: \[parameters\] sin = '3': parameter name 'sin' clashes with the function sin\(\)" run "$f" -o "$out"
f=$(variant 's/^s = 0.7/x = 3/' clash_x)
expect "parameter named x" 1 "clash_x.ini:10: \[parameters\] x = '3': parameter name 'x' clashes with the coordinate x" run "$f" -o "$out"
expect "bad expression from --set" 1 "--set: \[model\] drift = '2x': cannot parse \"2x\" at column 2" run "$tmp/base.ini" -o "$out" --set "model.drift=2x"
f=$(variant 's/^type = expr/type = ou/; s/^drift = .*/theta = 1\nsigma = 1/; /^noise/d' ouparams)
expect "[parameters] only for expr" 1 "ouparams.ini:8: unknown section \[parameters\] \(key 'theta'\)" run "$f" -o "$out"

# built-in models
expect "bridge ending after T" 1 "bridge_ok.ini:[0-9]+: \[model\] T = '0.5': the bridge ends at T = 0.5 but the run goes to t = 0.6" run "$tmp/bridge_ok.ini" -o "$out" --set time.t_end=0.6
sed '/^T = 0.5/d' "$tmp/bridge_ok.ini" > "$tmp/bridgenoT.ini"
expect "bridge T missing" 1 "bridgenoT.ini: \[model\] T is required" run "$tmp/bridgenoT.ini" -o "$out"
sed 's/^T = 0.5/T = -1/' "$tmp/bridge_ok.ini" > "$tmp/bridgeneg.ini"
expect "bridge T negative" 1 "bridgeneg.ini:[0-9]+: \[model\] T = '-1': expected a number > 0" run "$tmp/bridgeneg.ini" -o "$out"
sed 's/^means = -1 1/means = -1 1 2/' "$tmp/mix_ok.ini" > "$tmp/mixmeans.ini"
expect "mixture means count" 1 "mixmeans.ini:[0-9]+: \[model\] means = '-1 1 2': expected 2 numbers" run "$tmp/mixmeans.ini" -o "$out"
sed 's/^stds = 0.4 0.6/stds = 0.4 -0.6/' "$tmp/mix_ok.ini" > "$tmp/mixstd.ini"
expect "mixture negative std" 1 "mixstd.ini:[0-9]+: \[model\] stds = '0.4 -0.6': standard deviations must be positive" run "$tmp/mixstd.ini" -o "$out"
sed 's/^weights = 0.3 0.7/weights = 0.3 0/' "$tmp/mix_ok.ini" > "$tmp/mixw.ini"
expect "mixture zero weight" 1 "mixw.ini:[0-9]+: \[model\] weights = '0.3 0': weights must be positive" run "$tmp/mixw.ini" -o "$out"
sed 's/^stds = 0.4 0.6/stds = 0.4 0.6\ncovs = 0.16 0.36/' "$tmp/mix_ok.ini" > "$tmp/mixboth.ini"
expect "mixture stds and covs" 1 "mixboth.ini:[0-9]+: \[model\] covs = '0.16 0.36': give either stds" run "$tmp/mixboth.ini" -o "$out"
sed 's/^stds = 0.4 0.6/covs = 0.16 -0.36/' "$tmp/mix_ok.ini" > "$tmp/mixpd.ini"
expect "mixture covariance not positive definite" 1 "mixpd.ini:[0-9]+: \[model\] covs = '0.16 -0.36': covariance 1 is not positive definite" run "$tmp/mixpd.ini" -o "$out"
sed 's/^stds = 0.4 0.6//' "$tmp/mix_ok.ini" > "$tmp/mixnone.ini"
expect "mixture without covariances" 1 "\[model\] stds or covs is required" run "$tmp/mixnone.ini" -o "$out"
f=$(variant 's/^type = expr/type = gbm/; /^drift\|^noise\|^theta\|^mu =\|^s =/d; s/^\[parameters\]/sigma = -0.3/' gbmneg)
expect "gbm negative sigma" 1 "gbmneg.ini:[0-9]+: \[model\] sigma = '-0.3': diffusion must be positive" run "$f" -o "$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
