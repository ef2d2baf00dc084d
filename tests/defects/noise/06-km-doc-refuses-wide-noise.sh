#!/usr/bin/env bash
# FIXED (h16-hostile, docs/km.md "Limits"; tests/cli/noise_defects.sh).
# What: docs/km.md said a km simulation refuses a model whose noise matrix has more columns than
#   the state has components (m > d); since 4cbb882 it simulates it with q x m normals per step.
#   The same page did not say that an Euler-Maruyama chain sampled every step keeps its own O(dt)
#   bias, which the Richardson correction does not remove.
# Expected: the documented behaviour. Observed (b148995): the 2D OU with a 2 x 3 sigma runs
#   (exit 0); D_00 = 0.3733 with euler-maruyama at dt = 0.02 (10^4 paths; true 0.365 = bias
#   (dt/2)(AD + DA^T)_00 = 0.0083), 0.3658 with 10 substeps, 0.3655 with exact-ou
#   (severity: documentation).
# Command: bash tests/defects/noise/06-km-doc-refuses-wide-noise.sh build/fpkit
# Exit status: 0 when the behaviour and docs/km.md agree, 1 when they do not.
set -u
fpkit=${1:-build/fpkit}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/k.ini" <<'INI'
[model]
type = ou
dim = 2
A = 1 0.3 -0.2 1.5
sigma = 0.8 0.0 0.3
        0.4 0.6 0.0
[grid]
dim = 2
n = 10 10
lo = -2 -2
hi = 2 2
[init]
std = 0.7 0.7
[km]
dt = 0.02
paths = 200
steps = 200
seed = 7
INI
"$fpkit" km "$tmp/k.ini" -o "$tmp/o.h5" -q; rc=$?
echo "  2 x 3 noise matrix: exit $rc"
doc=$here/../../../docs/km.md
if grep -q "more columns than the state has components" "$doc"; then
  echo "  docs/km.md still says such a model is refused"; exit 1
fi
[ $rc -eq 0 ]
