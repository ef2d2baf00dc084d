#!/usr/bin/env bash
# `fpkit ot` at large eps (defect D7, tests/defects/ot_large_eps_garbage.ini): eps = 1, 1e12,
# 1e16, 1e20 between two 1D Gaussians on [-10, 10]. Before the fix the solver reported OT_eps =
# -3.69 at 1e16 and -88818 at 1e20 (closed form 2.97), "converged", exit 0. Checks: exit 0; every
# OT_eps (primal and dual) within 1e-6 relative of the closed form the file stores (/ot/exact/
# value; the discretised problem differs from the continuous one by ~5e-12 here); every value,
# cost, KL and S_eps >= 0; S_eps within 1e-6 relative of its closed form; every solve converged.
# Usage: bash tests/cli/ot_large_eps.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
src=$2
py=/usr/bin/python3
ini="$src/tests/defects/ot_large_eps_garbage.ini"
[ -f "$ini" ] || { echo "ot_large_eps: $ini not found"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
cp "$ini" "$tmp/large_eps.ini"
rc=0
"$fpkit" ot "$tmp/large_eps.ini" -o "$tmp/large_eps.h5" --threads 1 > "$tmp/out.txt" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "fpkit ot exited with $rc:"
  cat "$tmp/out.txt"
  exit 1
fi
"$py" - "$tmp/large_eps.h5" <<'PY'
import sys
import h5py
import numpy as np

fails = []
with h5py.File(sys.argv[1], "r") as f:
    eps = f["ot/eps"][()]
    exact = f["ot/exact/value"][()]
    exact_s = f["ot/exact/divergence"][()]
    for name in ("primal", "dual"):
        v = f["ot/" + name][()]
        rel = np.abs(v - exact) / np.abs(exact)
        for e, x, c, r in zip(eps, v, exact, rel):
            if not (r <= 1e-6):
                fails.append(f"eps = {e:g}: OT_eps ({name}) = {x!r}, closed form {c!r}, rel err {r:.3g}")
    for name in ("primal", "dual", "cost", "kl", "divergence", "ot_aa", "ot_bb"):
        v = f["ot/" + name][()]
        for e, x in zip(eps, v):
            if not (x >= 0):
                fails.append(f"eps = {e:g}: {name} = {x!r} < 0")
    s = f["ot/divergence"][()]
    rel = np.abs(s - exact_s) / np.abs(exact_s)
    for e, x, r in zip(eps, s, rel):
        if not (r <= 1e-6):
            fails.append(f"eps = {e:g}: S_eps = {x!r}, rel err {r:.3g}")
    for name in ("converged", "converged_aa", "converged_bb"):
        if not np.all(f["ot/" + name][()] == 1):
            fails.append(f"{name} = {f['ot/' + name][()]}")
    if list(eps) != [1, 1e12, 1e16, 1e20]:
        fails.append(f"eps = {list(eps)}: not the defect's list")
if fails:
    print("\n".join(fails))
    sys.exit(1)
print(f"ot_large_eps: {len(eps)} eps, OT_eps and S_eps within 1e-6 of the closed form, all >= 0")
PY
