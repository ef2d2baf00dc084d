#!/usr/bin/env bash
# FIXED (h16-hostile, src/app/model_config.c; tests/cli/noise_defects.sh).
# What: a noise matrix given to a model that takes diagonal noise only (bm, gbm, bridge) was
#   refused as "expected 1 or 2 numbers", which does not say that noise matrices exist for ou and
#   expr models.
# Expected: the refusal names the models that take a noise matrix.
# Observed (b148995): type = bm, sigma = 0.8 0 | 0.3 0.5: "[model] sigma = '0.8 0 | 0.3 0.5':
#   expected 1 or 2 numbers" (severity: misleading message).
# Command: bash tests/defects/noise/12-bm-matrix-sigma-message.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '[model]\ntype = bm\ndim = 2\nsigma = 0.8 0\n        0.3 0.5\n[init]\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 32\n[time]\nt_end = 0.1\n[fp]\nenabled = false\n[mc]\npaths = 10\ndt = 0.01\n' > "$tmp/bm.ini"
msg=$("$fpkit" run "$tmp/bm.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  exit $rc: $msg"
"$fpkit" run "$tmp/bm.ini" -o "$tmp/o.h5" -q --set 'model.sigma=0.8 0.5'; rc2=$?
echo "  diagonal: exit $rc2"
[ $rc -eq 1 ] && grep -q "type = ou" <<<"$msg" && [ $rc2 -eq 0 ]
