#!/usr/bin/env bash
# FIXED (h16-hostile, src/app/km.c; tests/cli/noise_defects.sh).
# What: `fpkit km CONFIG --input data.h5 --dataset paths` takes [km] dt (or --dt) over the
#   dataset's own attribute dt without a word. `fpkit config km` writes `dt = 0.01` into the
#   template, so the documented workflow (config km > km.ini; km km.ini --input ...) estimates a
#   dataset sampled at dt = 0.02 with dt = 0.01: drift and diffusion doubled.
# Expected: a dt that disagrees with the dataset's attribute is refused, naming both.
# Observed (b148995): attribute dt = 0.02, km.dt = 0.04: exit 0, "tau = 0.08 (lag 2 x dt 0.04)",
#   every estimate halved (severity: wrong number with exit 0).
# Command: bash tests/defects/noise/10-km-config-dt-overrides-dataset.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/p.h5" <<'PY'
import sys, numpy as np, h5py
rng = np.random.default_rng(5)
x = np.cumsum(rng.normal(size=(200, 401)) * np.sqrt(0.02), axis=1)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("paths", data=x).attrs["dt"] = 0.02
PY
printf '[grid]\ndim = 1\nn = 8\nlo = -2\nhi = 2\n[km]\ndt = 0.04\nmin_count = 2\n' > "$tmp/k.ini"
msg=$("$fpkit" km "$tmp/k.ini" --input "$tmp/p.h5" --dataset paths -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  km.dt = 0.04, attribute dt = 0.02: exit $rc: $msg"
"$fpkit" km "$tmp/k.ini" --input "$tmp/p.h5" --dataset paths -o "$tmp/o.h5" -q --dt 0.02; rc2=$?
echo "  --dt 0.02 (agrees): exit $rc2"
[ $rc -eq 1 ] && grep -q "attribute dt = 0.02" <<<"$msg" && [ $rc2 -eq 0 ]
