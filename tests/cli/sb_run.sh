#!/usr/bin/env bash
# `fpkit sb` end to end, at small sizes:
#  (1) 1D Gaussian -> Gaussian, Brownian reference: the stored marginal mean and covariance at
#      every output time match the closed form (Bunne et al. 2023, ../shared/reference/
#      closed-forms.md, with C from the entropic plan at eps = 2 sigma^2 T, recomputed here in
#      numpy) to 1e-6 relative; KL static vs Girsanov to 1e-6 relative; the exact sampler's
#      histograms within 1.5x the sampling floor at every time; the EM sampler's too at dt = 0.002;
#      `fpkit rerun` is bitwise identical (exit 0), also with 2 threads against a 1-thread file;
#  (2) 2D Gaussians with non-commuting covariances: mean and covariance to 1e-6, KL to 1e-6,
#      histograms within 1.5 floors, the drift finite, the layout of docs/hdf5-layout.md.
# Usage: bash tests/cli/sb_run.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive

cat > "$tmp/g1.ini" <<'INI'
[grid]
dim = 1
n = 120
lo = -6
hi = 6

[mu0]
type = gaussian
mean = -1
std = 0.5

[muT]
type = gaussian
mean = 1.5
std = 0.8

[sb]
sigma = 0.6
T = 1.3
times = 0 0.2 0.5 0.8 1.1 1.3

[sample]
paths = 100000
seed = 11
keep_paths = 5
INI

cat > "$tmp/g2.ini" <<'INI'
[grid]
dim = 2
n = 64 64
lo = -6 -6
hi = 6 6

[mu0]
type = gaussian
mean = -0.6 0.4
cov = 0.5 0.2 0.2 0.3

[muT]
type = gaussian
mean = 0.8 -0.5
cov = 0.4 -0.15 -0.15 0.6

[sb]
sigma = 0.7
T = 1
times = 0.25 0.5 0.75

[sample]
paths = 200000
seed = 3
INI

"$fpkit" sb "$tmp/g1.ini" -o "$tmp/g1.h5" --threads 1
"$fpkit" sb "$tmp/g1.ini" -o "$tmp/em1.h5" --quiet --set sample.method=em --set sample.dt=0.002
"$fpkit" sb "$tmp/g2.ini" -o "$tmp/g2.h5"

"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
fails = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: fails.append(what)

def sqrtm(S):
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(w)) @ V.T

def closed(m0, A, m1, B, sigma, T, t):
    # C: the entropic plan's cross-covariance at eps = 2 sigma^2 T (closed-forms.md, s2 = eps/2)
    d = len(m0); s2 = sigma**2 * T; I = np.eye(d)
    Ah = sqrtm(A)
    D = sqrtm(4 * Ah @ B @ Ah + s2**2 * I)
    C = 0.5 * Ah @ D @ np.linalg.inv(Ah) - 0.5 * s2 * I
    s = t / T
    mt = (1 - s) * m0 + s * m1
    St = (1 - s)**2 * A + s**2 * B + s * (1 - s) * (C + C.T) + sigma**2 * t * (1 - s) * I
    return mt, St

def rel(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b))

cases = [("g1", np.array([-1.0]), np.array([[0.25]]), np.array([1.5]), np.array([[0.64]]), 0.6, 1.3),
         ("g2", np.array([-0.6, 0.4]), np.array([[0.5, 0.2], [0.2, 0.3]]),
          np.array([0.8, -0.5]), np.array([[0.4, -0.15], [-0.15, 0.6]]), 0.7, 1.0)]
for name, m0, A, m1, B, sigma, T in cases:
    with h5py.File(f"{tmp}/{name}.h5", "r") as f:
        check(f.attrs["command"] == "sb", f"{name}: root attribute command = sb")
        sb = f["sb"]
        t = sb["t"][:]
        check(abs(sb.attrs["eps"] - 2 * sigma**2 * T) <= 1e-15, f"{name}: eps = 2 sigma^2 T")
        check(sb.attrs["converged"] == 1 and sb.attrs["marginal_error"] <= 1e-9,
              f"{name}: converged, marginal error {sb.attrs['marginal_error']:.2e}")
        worst_m = worst_S = 0
        for k, tk in enumerate(t):
            mt, St = closed(m0, A, m1, B, sigma, T, tk)
            worst_m = max(worst_m, rel(sb["mean"][k], mt))
            worst_S = max(worst_S, rel(sb["cov"][k], St))
        check(worst_m < 1e-6 and worst_S < 1e-6,
              f"{name}: mean, cov vs closed form: rel {worst_m:.2e}, {worst_S:.2e} (< 1e-6)")
        ks, kg = sb.attrs["kl_static"], sb.attrs["kl_girsanov"]
        check(abs(ks - kg) <= 1e-6 * abs(ks), f"{name}: KL static {ks:.10g} vs Girsanov {kg:.10g} "
              f"(rel {abs(ks - kg) / abs(ks):.2e} <= 1e-6)")
        hist = sb["history"][:]
        check(hist.size >= 2 and hist[-1] <= 1e-9 and hist[0] > hist[-1] and
              abs(hist[-1] - sb.attrs["marginal_error"]) <= 1e-12,
              f"{name}: Sinkhorn history of {hist.size} checks, {hist[0]:.2e} -> {hist[-1]:.2e}")
        mar = sb["marginal"][:]
        check(np.allclose(mar.reshape(len(t), -1).sum(axis=1), 1, atol=1e-6), f"{name}: p_t sums to 1")
        check(np.all(np.isfinite(sb["drift"][:])), f"{name}: drift finite")
        check(sb["drift"].shape == (len(t), len(m0)) + mar.shape[1:], f"{name}: drift [t][component][cells]")
        s = f["sample"]
        ratio = s["l1_error"][:] / s["l1_floor"][:]
        check(np.all(ratio <= 1.5), f"{name}: exact sampler L1 / floor {np.round(ratio, 3)} (<= 1.5)")
        check(f["mu0/p"].shape == mar.shape[1:] and f["muT/p"].shape == mar.shape[1:], f"{name}: /mu0/p, /muT/p")
        if name == "g1":
            check(s["paths"].shape == (5, len(t), 1), "g1: 5 kept paths [path][t][component]")
            # the paths start in mu0's support and the histogram at t = 0 is mu0
            check(abs(s["mean"][0][0] + 1) < 4 * 0.5 / np.sqrt(1e5), "g1: sample mean at t = 0")
with h5py.File(f"{tmp}/em1.h5", "r") as f:
    s = f["sample"]
    ratio = s["l1_error"][:] / s["l1_floor"][:]
    check(s.attrs["method"] == "em" and np.all(ratio <= 1.5),
          f"em1: EM (dt 0.002, {s.attrs['steps']} steps) L1 / floor {np.round(ratio, 3)} (<= 1.5)")
if fails:
    sys.exit(f"{len(fails)} checks failed")
PY

# rerun: bitwise identical (exit 0), and with 2 threads against the 1-thread file
"$fpkit" rerun "$tmp/g1.h5" -o "$tmp/g1r.h5" --quiet
"$fpkit" rerun "$tmp/g1.h5" -o "$tmp/g1r2.h5" --threads 2 --quiet
"$fpkit" rerun "$tmp/g2.h5" -o "$tmp/g2r.h5" --threads 2 --quiet
echo "ok   rerun identical (1 and 2 threads)"
# keys and config templates exist for sb
# (to a file: `keys | grep -q` dies of SIGPIPE when grep exits first, exit 141 under pipefail)
"$fpkit" keys sb > "$tmp/keys.txt"
grep -q "sigma" "$tmp/keys.txt"
"$fpkit" config sb > "$tmp/template.ini"
echo "sb_run: all checks passed"
