#!/usr/bin/env bash
# FIXED (h16-hostile, src/km/km.c fpk_km_compute; tests/test_noise_defects.c test_km_overflow_named).
# What: `fpkit km` checks every recorded sample is finite, but not that the sums of the powers of
#   the increments stay finite (K4's interval needs a^8: infinite beyond |a| ~ 1e38).
# Expected: exit != 0 with a message naming the overflow of the increments' powers.
# Observed (b148995): increments of 1e160 (finite samples): exit 1 "ov.h5: dataset '/km/d1_lo'[0][0]
#   = -inf is not finite: refusing to write it (a solver produced a value its checks did not
#   catch; please report it)" (severity: misleading message).
# Command: bash tests/defects/noise/05-km-overflow-blamed-on-solver.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/ov.h5" <<'PY'
import sys, numpy as np, h5py
x = np.random.default_rng(2).normal(size=(200, 401)) * 0.5
x[:, 1::2] += 1e160   # the window origins (even samples) lie in the grid, the odd samples far away
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("p", data=x).attrs["dt"] = 0.01
PY
printf '[grid]\ndim = 1\nn = 10\nlo = -2\nhi = 2\n[km]\nmin_count = 2\n' > "$tmp/k.ini"
msg=$("$fpkit" km "$tmp/k.ini" --input "$tmp/ov.h5" --dataset p -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  exit $rc: $msg"
[ $rc -ne 0 ] && grep -q "overflow" <<<"$msg" && ! grep -q "please report" <<<"$msg" && [ ! -e "$tmp/o.h5" ]
