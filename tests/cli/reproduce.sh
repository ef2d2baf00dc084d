#!/usr/bin/env bash
# End to end: (1) every dataset is bitwise identical with 1 and 2 threads; (2) the resolved
# configuration stored in a file regenerates that file's numbers bit for bit; (3) the layout of
# docs/hdf5-layout.md is there, and the FV and Monte Carlo errors are in the expected ranges.
# Usage: bash tests/cli/reproduce.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/run.ini" <<'INI'
[model]
type = ou
dim = 2
A = 1.0 0.8
   -0.6 0.5
sigma = 0.8 0.6

[init]
mean = 1.0 -0.5
std = 0.3

[grid]
lo = -3.5 -3.5
hi = 3.5 3.5
n = 56 48

[time]
times = 0 0.25 1

[fp]
dt = 0.01

[mc]
paths = 30000
dt = 0.01
seed = 42
keep_paths = 3
INI

"$fpkit" run "$tmp/run.ini" -o "$tmp/t1.h5" --threads 1 --quiet
"$fpkit" run "$tmp/run.ini" -o "$tmp/t2.h5" --threads 2 --quiet
# Regenerate from the config stored in t2.h5 alone.
"$py" "$here/h5tools.py" config "$tmp/t2.h5" "$tmp/stored.ini"
"$fpkit" run "$tmp/stored.ini" -o "$tmp/t3.h5" --quiet

"$py" - "$here" "$tmp/t1.h5" "$tmp/t2.h5" "$tmp/t3.h5" <<'PY'
import sys, numpy as np
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, sys.argv.pop(1))
from h5tools import datasets, identical

d1, a1 = datasets(sys.argv[1])
d2, a2 = datasets(sys.argv[2])
d3, a3 = datasets(sys.argv[3])
fails = identical(d1, ((d2, "2 threads"), (d3, "stored config")))

for key in ("fpkit_version", "config", "config_file", "seed", "created", "model"):
    if key not in a1: fails.append(f"root attribute {key} missing")
if a1.get("seed") != 42: fails.append(f"seed attribute {a1.get('seed')} != 42")
need = ["grid/x", "grid/y", "exact/density", "exact/mean", "exact/cov", "exact/chain_mean",
        "fv/t", "fv/density", "fv/mass", "mc/density", "mc/mean", "mc/cov", "mc/outside",
        "mc/paths", "errors/l1_fv_exact", "errors/l1_mc_exact", "errors/l1_mc_fv", "errors/kl_fv_exact"]
for k in need:
    if k not in d1: fails.append(f"dataset {k} missing")
if not fails:
    if d1["fv/density"].shape != (3, 48, 56): fails.append(f"fv/density shape {d1['fv/density'].shape}")
    if d1["mc/paths"].shape[0] != 3 or d1["mc/paths"].shape[2] != 2: fails.append("mc/paths shape")
    mass = d1["fv/mass"]
    if np.max(np.abs(mass - 1)) > 1e-12: fails.append(f"fv mass drift {np.max(np.abs(mass-1)):.3g}")
    l1 = d1["errors/l1_fv_exact"]
    # 56x48 cells, h ~ 0.13-0.15: second-order FV error is a few 1e-3 at most.
    if not (l1[-1] < 2e-2): fails.append(f"FV L1 error at t=1 is {l1[-1]:.3g}")
    mc = d1["errors/l1_mc_exact"][-1]
    if not (0.05 < mc < 0.6): fails.append(f"MC L1 error {mc:.3g} outside the expected noise range")
    em = d1["exact/chain_mean"][-1]; m = d1["mc/mean"][-1]
    if np.max(np.abs(em - m)) > 0.03: fails.append(f"MC mean {m} far from EM mean {em}")
print("\n".join(fails) if fails else "all datasets identical across threads and from the stored config")
print(f"{0 if fails else 1} passed, {1 if fails else 0} failed")
sys.exit(1 if fails else 0)
PY
