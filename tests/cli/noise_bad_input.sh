#!/usr/bin/env bash
# Bad noise matrices and Kramers configurations (issue 16, "Bad input"; docs/noise.md): every one
# stops the run with exit 1, a message naming file:line, the key and its value and what was
# expected, and no result file. A velocity grid that is coarse for 1/sqrt(beta) runs, with a
# warning that gives the numbers.
# Usage: bash tests/cli/noise_bad_input.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$src/tests/cli/lib/checks.sh"
out=$tmp/out.h5

cat > "$tmp/ou.ini" <<'INI'
[model]
type = ou
dim = 2
theta = 1
sigma = 0.8 0.0 0.3
        0.4 0.6 0.0

[init]
mean = 0 0
std = 0.3

[grid]
lo = -4
hi = 4
n = 32

[time]
t_end = 0.2
n_out = 2

[fp]
enabled = false

[mc]
enabled = false
INI

cat > "$tmp/kr.ini" <<'INI'
[model]
type = kramers
potential = harmonic
beta = 2
gamma = 1
amplitude = 1

[init]
mean = 0.5 0
std = 0.3

[grid]
lo = -5
hi = 5
n = 64

[time]
t_end = 0.2
n_out = 2

[fp]
enabled = false

[mc]
enabled = false
INI

cat > "$tmp/ex.ini" <<'INI'
[model]
type = expr
dim = 2
drift_x = -x
drift_y = -y
noise = s, 0.3*y
        0, s

[parameters]
s = 0.5

[init]
mean = 0 0
std = 0.3

[grid]
lo = -4
hi = 4
n = 32

[time]
t_end = 0.2
n_out = 2

[fp]
enabled = false

[mc]
enabled = true
dt = 0.01
paths = 1000
stepper = milstein
INI

variant() { sed "$2" "$tmp/$1.ini" > "$tmp/$3.ini"; echo "$tmp/$3.ini"; }
row2='^        0.4 0.6 0.0'

f=$(variant ou "s/$row2/        0.4 0.6/" ragged)
expect_refused "ragged rows" "ragged.ini:5: \[model\] sigma = '0.8 0.0 0.3 \| 0.4 0.6': expected the same count of numbers in every row \(row 1 has 3, row 2 has 2\)" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/$row2/        0.4 0.6 0.0\n        1 1 1/" rows)
expect_refused "3 rows in 2D" "rows.ini:5: \[model\] sigma = '0.8 0.0 0.3 \| 0.4 0.6 0.0 \| 1 1 1': expected 2 numbers on one line \(diagonal noise\) or the 2 x m noise matrix B \(m = 1..6\), 2 rows of m numbers, one row per line; got 3 rows of 3" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/sigma = 0.8 0.0 0.3 1 1 1 1/; s/$row2/        0.4 0.6 0.0 1 1 1 1/" cols)
expect_refused "7 columns" "cols.ini:5: \[model\] sigma = '0.8 0.0 0.3 1 1 1 1 \| 0.4 0.6 0.0 1 1 1 1': expected at most 6 numbers per row \(row 1 has 7\)" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/sigma = 0.8 0.0 0.3 0.1/; /$row2/d" oneline)
expect_refused "one line of 4 in 2D" "oneline.ini:5: \[model\] sigma = '0.8 0.0 0.3 0.1': expected 2 numbers on one line \(diagonal noise\) or the 2 x m noise matrix" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/sigma = 0 0/; s/$row2/        0 0/" zero)
expect_refused "zero matrix" "zero.ini:5: \[model\] sigma = '0 0 \| 0 0': the noise matrix is zero" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/diffusion = 1 2/; s/$row2/        2 1/" nonpsd)
expect_refused "D not PSD" "nonpsd.ini:5: \[model\] diffusion = '1 2 \| 2 1': diffusion matrix is not positive semi-definite: eigenvalue -1 along \(-?0.7071, -?0.7071\)" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/diffusion = 1 0.2/; s/$row2/        0.3 1/" asym)
expect_refused "D not symmetric" "asym.ini:5: \[model\] diffusion = '1 0.2 \| 0.3 1': diffusion matrix: not symmetric, D\[0\]\[1\] = 0.2 but D\[1\]\[0\] = 0.3" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^sigma = 0.8 0.0 0.3/diffusion = 1 0 0/; s/$row2/        0 1 0/" dshape)
expect_refused "D 2 x 3" "dshape.ini:5: \[model\] diffusion = '1 0 0 \| 0 1 0': expected the 2 x 2 diffusion matrix D \(2 rows of 2 numbers, one row per line\), got 2 rows of 3" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^theta = 1/theta = 1\ndiffusion = 1 0 0 1/" both)
expect_refused "sigma and diffusion" "both.ini:5: \[model\] diffusion = '1 0 0 1': give either sigma \(the noise matrix\) or diffusion" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^type = ou/type = bm/; s/^theta = 1//" bm)
expect_refused "bm takes a diagonal" "bm.ini:5: \[model\] sigma = '0.8 0.0 0.3 \| 0.4 0.6 0.0': a noise matrix \(2 rows\) is for type = ou, or type = expr" "$out" "$fpkit" run "$f" -o "$out"

f=$(variant kr "s/^potential = harmonic/dim = 3\npotential = harmonic/" kdim)
expect_refused "kramers dim = 3" "kdim.ini:3: \[model\] dim = '3': type = kramers is the phase space \(x, v\) of a particle on a line: dim must be 2" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant kr "s/^lo = -5/lo = -5 -2/; s/^hi = 5/hi = 5 2/" kbox)
expect_refused "velocity box" "kbox.ini:13: \[grid\] lo = '-5 -2': the velocity axis \[-2, 2\] of the Kramers model does not contain \+-4/sqrt\(beta\) = \+-2.82843 .*1/sqrt\(beta\) = 0.707107" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant kr "s/^amplitude = 1/amplitude = -1/" kamp)
expect_refused "harmonic stiffness" "kamp.ini:6: \[model\] amplitude = '-1': the harmonic potential U = amplitude x\^2/2 needs a stiffness amplitude > 0" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant kr "s/^gamma = 1/gamma = 0/" kgam)
expect_refused "friction 0" "kgam.ini:5: \[model\] gamma = '0': expected a number > 0" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant kr "s/^amplitude = 1/amplitude = 1\nsigma = 1/" ksig)
expect_refused "kramers has no sigma" "ksig.ini:7: unknown key 'sigma'" "$out" "$fpkit" run "$f" -o "$out"

f=$(variant kr "s/^mean = 0.5 0/mean = 0.5 0.3\nmaxwellian = true/" kmaxm)
expect_refused "maxwellian with a velocity mean" "kmaxm.ini:9: \[init\] mean = '0.5 0.3': with maxwellian = true the velocity starts at mean 0" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant kr "s/^std = 0.3/std = 0.3 0.5\nmaxwellian = true/" kmaxs)
expect_refused "maxwellian with a velocity std" "kmaxs.ini:10: \[init\] std = '0.3 0.5': with maxwellian = true the velocity law is N\(0, 1/beta\)" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ou "s/^std = 0.3/std = 0.3\nmaxwellian = true/" oumax)
expect_refused "maxwellian is a kramers key" "oumax.ini:11: unknown key 'maxwellian'" "$out" "$fpkit" run "$f" -o "$out"

f=$(variant ex "s/^        0, s/        0/" eragged)
expect_refused "expr ragged" "eragged.ini:6: \[model\] noise = 's, 0.3\*y \| 0': expected a 2 x m noise matrix .*row 2 has 1 entry" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ex "s/^        0, s/        0, s +/" eparse)
expect_refused "expr entry syntax" "eparse.ini:6: \[model\] noise = 's, 0.3\*y \| 0, s \+': entry \(row 2, column 2\): cannot parse \"s \+\" at column 4" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ex "s/^        0, s/        0, q/" esym)
expect_refused "expr entry symbol" "esym.ini:6: \[model\] noise = 's, 0.3\*y \| 0, q': entry \(row 2, column 2\): unknown symbol 'q'" "$out" "$fpkit" run "$f" -o "$out"
f=$(variant ex "s/^drift_y = -y/drift_y = -y\nnoise_x = s/" eboth)
expect_refused "expr noise and noise_x" "eboth.ini:7: \[model\] noise = .*give either the noise matrix noise or the diagonal noise_x, noise_y" "$out" "$fpkit" run "$f" -o "$out"
printf '[model]\ntype = expr\ndim = 1\ndrift = -x\nnoise = 0.3, q\n[init]\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.2\n[fp]\ndt = 0.01\n[mc]\nenabled = false\n' > "$tmp/e1.ini"
expect_refused "1D expr 1 x 2 entry" "e1.ini:5: \[model\] noise = '0.3, q': entry \(row 1, column 2\): unknown symbol 'q'" "$out" "$fpkit" run "$tmp/e1.ini" -o "$out"
# Milstein cannot take a multiplicative noise matrix: the stepper's refusal, at [mc] stepper
expect_refused "milstein refuses" "ex.ini:32: \[mc\] stepper = 'milstein': stepper milstein cannot integrate model expr" "$out" "$fpkit" run "$tmp/ex.ini" -o "$out"

# a coarse velocity grid: runs (the exact law), with the numbers on stderr
f=$(variant kr "s/^n = 64/n = 20/" kcoarse)
rm -f "$out"
msg=$("$fpkit" run "$f" -o "$out" --quiet 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 0 ] && [ -s "$out" ] &&
   grep -Eq "warning: .*kcoarse.ini: \[grid\]: the velocity axis does not resolve the velocity scale 1/sqrt\(beta\) = 0.707107 .*the cell width h_v = 0.5 is above \(1/sqrt\(beta\)\)/4 = 0.176777" <<<"$msg" &&
   ! grep -q "box" <<<"$msg"; then
  ok "coarse velocity grid warns: $msg"
else
  bad "coarse velocity grid: exit $rc, message: $msg"
fi
rm -f "$out"
msg=$("$fpkit" run "$tmp/kr.ini" -o "$out" --quiet 2>&1 >/dev/null)
if [ -z "$msg" ] && [ -s "$out" ]; then ok "resolved velocity grid: no warning"
else bad "resolved velocity grid: $msg"; fi

summary noise_bad_input
