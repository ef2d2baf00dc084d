#!/usr/bin/env bash
# FIXED (h16-hostile, src/app/model_config.c read_ou_noise; tests/cli/noise_defects.sh).
# What: an ou model with a diagonal sigma that has a zero (no noise along one axis) is refused
#   with "diffusion must be positive (component 1 is 0)", although since issue 16 the same
#   degenerate noise is a valid noise matrix; the message does not say so.
# Expected: the refusal names the matrix form that is accepted (sigma = 0.8 0 | 0 0).
# Observed (b148995): "[model] sigma = '0.8 0': diffusion must be positive (component 1 is 0)"
#   (severity: misleading message: a supported model looks unsupported).
# Command: bash tests/defects/noise/09-diagonal-zero-sigma-no-way-out.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '[model]\ntype = ou\ndim = 2\ntheta = 1\nsigma = 0.8 0\n[init]\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.1\n[fp]\nenabled = false\n[mc]\nenabled = false\n' > "$tmp/d.ini"
msg=$("$fpkit" run "$tmp/d.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  diagonal: exit $rc: $msg"
"$fpkit" run "$tmp/d.ini" -o "$tmp/o.h5" -q --set 'model.sigma=0.8 0 | 0 0'; rc2=$?
echo "  the matrix the message names: exit $rc2"
[ $rc -eq 1 ] && grep -q "sigma = 0.8 0 | 0 0" <<<"$msg" && [ $rc2 -eq 0 ]
