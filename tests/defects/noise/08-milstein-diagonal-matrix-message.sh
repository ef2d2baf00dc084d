#!/usr/bin/env bash
# FIXED (h16-hostile, src/sde/milstein.c milstein_check; tests/cli/noise_defects.sh).
# What: an expression model whose noise matrix is diagonal (noise = 0.5*x, 0 | 0, 0.3*y) is a
#   matrix model; Milstein refuses it with "Milstein needs diagonal noise ..., and this noise
#   matrix (2 x 2) depends on x", which reads as a contradiction for a diagonal matrix and does
#   not say that the same σ written as noise_x, noise_y is accepted.
# Expected: the refusal says how to give a diagonal σ so that Milstein takes it.
# Observed (b148995): the message above with only "use euler-maruyama, tamed-euler, or sra1 for
#   additive noise" (severity: misleading message).
# Command: bash tests/defects/noise/08-milstein-diagonal-matrix-message.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
body='[init]\nmean = 0.5 -0.5\nstd = 0.4\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.1\n[fp]\nenabled = false\n[mc]\npaths = 100\ndt = 0.01\nstepper = milstein\n'
printf "[model]\ntype = expr\ndim = 2\ndrift_x = -x\ndrift_y = -y\nnoise = 0.5*x, 0\n        0, 0.3*y\n$body" > "$tmp/m.ini"
printf "[model]\ntype = expr\ndim = 2\ndrift_x = -x\ndrift_y = -y\nnoise_x = 0.5*x\nnoise_y = 0.3*y\n$body" > "$tmp/d.ini"
msg=$("$fpkit" run "$tmp/m.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  matrix form: exit $rc: ${msg:0:400}"
"$fpkit" run "$tmp/d.ini" -o "$tmp/o.h5" -q; rc2=$?
echo "  noise_x, noise_y: exit $rc2"
[ $rc -eq 1 ] && grep -q "noise_x/noise_y" <<<"$msg" && [ $rc2 -eq 0 ]
