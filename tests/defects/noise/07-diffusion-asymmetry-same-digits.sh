#!/usr/bin/env bash
# FIXED (h16-hostile, src/models/noise.c fpk_diffusion_factor; tests/test_noise_defects.c).
# What: a user-given D asymmetric beyond 1e-12 of its largest entry is refused, but the message
#   printed both entries with %g.
# Expected: the two entries printed with enough digits to differ.
# Observed (b148995): diffusion = 0.365 0.16 | 0.1600001 0.26: "diffusion matrix: not symmetric,
#   D[0][1] = 0.16 but D[1][0] = 0.16" (severity: misleading message).
# Command: bash tests/defects/noise/07-diffusion-asymmetry-same-digits.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '[model]\ntype = ou\ndim = 2\ntheta = 1\ndiffusion = 0.365 0.16\n            0.1600001 0.26\n[init]\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.1\n[fp]\nenabled = false\n[mc]\nenabled = false\n' > "$tmp/d.ini"
msg=$("$fpkit" run "$tmp/d.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  exit $rc: $msg"
[ $rc -eq 1 ] && grep -q "D\[0\]\[1\] = 0.16 but D\[1\]\[0\] = 0.1600001" <<<"$msg"
