#!/usr/bin/env bash
# The 3D anisotropic OU of ou3d.ini (issue 17, part 6): finite volumes vs Monte Carlo vs the
# exact law on a 128^3 periodic box, then the /errors table (L1, L2, max-norm, KL, mean and
# covariance distances of every method against the exact law, at every output time) and the
# Monte Carlo moments per axis in standard errors of the exact moments of the Euler chain.
# Every method in the file is listed, so the spectral solver appears once ou3d.ini enables it.
# Usage: bash experiments/scale/run_ou3d.sh [BUILD_DIR] [THREADS]   (default: build, 2).
# Writes results/scale/ou3d.h5 (~90 MB); about 25 s on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
threads=${2:-2}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cd "$root"
mkdir -p results/scale
start=$(date +%s.%N)
"$build/fpkit" run "$here/ou3d.ini" -o results/scale/ou3d.h5 --threads "$threads" --force
echo "fpkit run: $(echo "$(date +%s.%N) - $start" | bc) s with $threads threads"
/usr/bin/python3 - results/scale/ou3d.h5 <<'PY'
import sys, math, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    t = f["errors/t"][:]
    shape = f["exact/density"].shape
    print(f"grid {shape[3]} x {shape[2]} x {shape[1]} (x, y, z), output times {list(t)}")
    metrics = ("l1", "l2", "linf", "kl", "mean", "cov")
    pairs = sorted({k.split("_", 1)[1] for k in f["errors"] if k != "t" and k.endswith("_exact")})
    print("/errors (method vs exact)")
    print(f"{'method':<10}{'t':>6}" + "".join(f"{m:>12}" for m in metrics))
    for p in pairs:
        for k in range(len(t)):
            print(f"{p.split('_')[0]:<10}{t[k]:>6g}" + "".join(f"{f[f'errors/{m}_{p}'][k]:>12.4e}" for m in metrics))
    for meth in ("fv", "spectral"):
        if f"{meth}/mass" in f:
            print(f"{meth}: mass - 1 at each time: " + ", ".join(f"{m - 1:.2e}" for m in f[f"{meth}/mass"][:]))
    if "mc" in f:
        n = int(f["mc"].attrs["paths"])
        m, c = f["mc/mean"][:], f["mc/cov"][:]
        em, ec = f["exact/chain_mean"][:], f["exact/chain_cov"][:]
        print(f"Monte Carlo ({n} paths) against the Euler chain's exact moments, in standard errors:")
        for k in range(len(t)):
            zm = [(m[k, a] - em[k, a]) / math.sqrt(ec[k, a, a] / n) for a in range(3)]
            zv = [(c[k, a, a] - ec[k, a, a]) / (ec[k, a, a] * math.sqrt(2 / (n - 1))) for a in range(3)]
            print(f"  t = {t[k]:g}: mean " + " ".join(f"{z:+.2f}" for z in zm) + "   variance " + " ".join(f"{z:+.2f}" for z in zv))
    for g in ("fv", "spectral", "mc"):
        if g in f and "wall_seconds" in f[g].attrs:
            print(f"{g}: {f[g].attrs['wall_seconds']:.2f} s")
PY
