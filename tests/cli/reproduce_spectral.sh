#!/usr/bin/env bash
# The spectral solver end to end: with planner = estimate the output is bitwise identical with 1
# and 2 threads and when regenerated from the stored configuration; the /spectral and /stationary
# datasets of docs/hdf5-layout.md are there, and the numbers are the ones a resolved spectral
# solve must give (OU on a periodic box, against the closed form).
# Usage: bash tests/cli/reproduce_spectral.sh FPKIT_BINARY SOURCE_DIR
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
A = 1.0 0.4
   -0.3 0.8
sigma = 0.9 0.7

[init]
mean = 1.0 -0.5
std = 0.5

[grid]
lo = -5 -5
hi = 5 5
n = 64 56
bc = periodic

[time]
times = 0 0.5 1

[fp]
method = fv spectral
dt = 0.01

[spectral]
dt = 0.005
planner = estimate

[mc]
paths = 20000
dt = 0.01
seed = 7
INI

"$fpkit" run "$tmp/run.ini" -o "$tmp/t1.h5" --threads 1 --quiet
"$fpkit" run "$tmp/run.ini" -o "$tmp/t2.h5" --threads 2 --quiet
"$py" "$here/h5tools.py" config "$tmp/t2.h5" "$tmp/stored.ini"
"$fpkit" run "$tmp/stored.ini" -o "$tmp/t3.h5" --quiet

# 1D, for the stationary solves and the gap (dense: O(n^3))
cat > "$tmp/st.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 0.7
mu = 0.5
sigma = 0.8
[init]
mean = -1
std = 0.4
[grid]
lo = -6
hi = 6
n = 128
bc = periodic
[time]
times = 0 1 2 4
[fp]
method = fv spectral
dt = 0.01
[spectral]
dt = 0.005
planner = estimate
[stationary]
enabled = true
gap = true
[mc]
enabled = false
INI
"$fpkit" run "$tmp/st.ini" -o "$tmp/st.h5" --quiet

"$py" - "$here" "$tmp/t1.h5" "$tmp/t2.h5" "$tmp/t3.h5" "$tmp/st.h5" <<'PY'
import sys, h5py, numpy as np
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, sys.argv.pop(1))
from h5tools import datasets, identical
d1, d2, d3, ds = (datasets(p)[0] for p in sys.argv[1:5])
fails = identical(d1, ((d2, "2 threads"), (d3, "stored config")))
need = ["spectral/density", "spectral/mass", "spectral/min_density", "spectral/tail_energy",
        "spectral/edge_density", "errors/l1_spectral_exact", "errors/l1_spectral_fv",
        "errors/l1_mc_spectral"]
fails += [f"dataset {k} missing" for k in need if k not in d1]
need = ["stationary/fv", "stationary/spectral", "stationary/exact", "stationary/kl_fv",
        "stationary/kl_spectral", "stationary/gap"]
fails += [f"dataset {k} missing" for k in need if k not in ds]
if not fails:
    if d1["spectral/density"].shape != (3, 56, 64): fails.append(f"shape {d1['spectral/density'].shape}")
    if np.max(np.abs(d1["spectral/mass"] - 1)) > 1e-13: fails.append("spectral mass drift")
    # 64x56 points on a 10x10 box resolve these Gaussians (the 2/3 rule keeps |k| <= 13); FV is second order
    e_sp, e_fv = d1["errors/l1_spectral_exact"][-1], d1["errors/l1_fv_exact"][-1]
    if not e_sp < 1e-6: fails.append(f"spectral L1 error {e_sp:.3g}")
    if not e_sp < 1e-3 * e_fv: fails.append(f"spectral {e_sp:.3g} not far below fv {e_fv:.3g}")
    # the gap of OU is theta (eigenvalues -n theta); KL(p_t || pi) decays like e^{-2 theta t}
    gap = ds["stationary/gap"][0]
    if abs(gap - 0.7) > 1e-9: fails.append(f"gap {gap:.12f}, expected 0.7")
    with h5py.File(sys.argv[4], "r") as f:
        l1s = f["stationary/spectral"].attrs["l1_vs_exact"]
        l1f = f["stationary/fv"].attrs["l1_vs_exact"]
    if not l1s < 1e-11: fails.append(f"spectral stationary L1 {l1s:.3g}")
    if not 1e-5 < l1f < 1e-2: fails.append(f"fv stationary L1 {l1f:.3g} (second order expected)")
    kl = ds["stationary/kl_spectral"]
    rate = np.log(kl[2] / kl[3]) / 2.0
    if abs(rate - 1.4) > 0.05: fails.append(f"KL decay rate {rate:.4f}, expected 2 theta = 1.4")
print("\n".join(fails) if fails else "spectral run identical across threads and from the stored config")
sys.exit(1 if fails else 0)
PY
