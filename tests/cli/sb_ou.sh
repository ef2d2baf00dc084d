#!/usr/bin/env bash
# `fpkit sb` with the OU reference dX = -theta X dt + sigma dW, 1D Gaussian ends, against an
# independent numpy computation that does not use fpkit's change of variables (docs/sb.md "The OU
# reference"): a dense Sinkhorn with the OU kernel K_T(x, y) = exp(-(y - k_T x)^2 / (2 v_T))
# written out on the same cell centres, whose plan moments give the marginal at t through the
# mixture of OU bridges, X_t = al X_0 + be X_T + sqrt(w) Z (al = k1 v2/D, be = k2 v1/D,
# w = v1 v2/D, D = v2 + k2^2 v1). Checks: /sb/mean and /sb/cov within 1e-8, the eps attribute
# 2 sigma^2 sinh(theta T)/theta, static vs Girsanov KL within 1e-6, and the exact sampler's mean
# within 4.5 standard errors.
# Usage: bash tests/cli/sb_ou.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
cat > "$tmp/ou.ini" <<'INI'
[grid]
dim = 1
n = 300
lo = -7
hi = 7

[mu0]
type = gaussian
mean = -1.5
std = 0.6

[muT]
type = gaussian
mean = 1
std = 0.9

[sb]
reference = ou
theta = 1.5
sigma = 0.8
T = 1.2
times = 0 0.3 0.6 0.9 1.2

[sample]
paths = 100000
seed = 5
INI
"$fpkit" sb "$tmp/ou.ini" -o "$tmp/ou.h5" --quiet
"$py" - "$tmp/ou.h5" <<'PY'
import sys, numpy as np, h5py
f = h5py.File(sys.argv[1], "r")
sb = f["sb"]
th, s, T = sb.attrs["theta"], sb.attrs["sigma"], sb.attrs["T"]
assert sb.attrs["reference"] in (b"ou", "ou"), sb.attrs["reference"]
x = f["grid/x"][()]
def law(tau):
    return np.exp(-th * tau), s * s * (1 - np.exp(-2 * th * tau)) / (2 * th)
def gauss(m, sd):
    p = np.exp(-0.5 * ((x - m) / sd) ** 2); return p / p.sum()
a, b = gauss(-1.5, 0.6), gauss(1.0, 0.9)
kT, vT = law(T)
logK = -(x[None, :] - kT * x[:, None]) ** 2 / (2 * vT)
# log-domain Sinkhorn with the OU kernel itself
u = np.zeros_like(x); v = np.zeros_like(x)
def lse(M, axis):
    m = M.max(axis=axis, keepdims=True); return (m + np.log(np.exp(M - m).sum(axis=axis, keepdims=True))).squeeze(axis)
for it in range(5000):
    u = np.log(a) - lse(logK + v[None, :], 1)
    v = np.log(b) - lse(logK + u[:, None], 0)
    P = np.exp(u[:, None] + logK + v[None, :])
    if abs(P.sum(1) - a).sum() < 1e-12: break
m0, m1 = (P.sum(1) * x).sum(), (P.sum(0) * x).sum()
A = (P.sum(1) * (x - m0) ** 2).sum(); B = (P.sum(0) * (x - m1) ** 2).sum()
C = ((x[:, None] - m0) * (x[None, :] - m1) * P).sum()
eps_expected = 2 * s * s * np.sinh(th * T) / th
assert abs(sb.attrs["eps"] / eps_expected - 1) < 1e-13, (sb.attrs["eps"], eps_expected)
worst = 0
for k, t in enumerate(sb["t"][()]):
    if t == 0 or t == T: continue
    k1, v1 = law(t); k2, v2 = law(T - t); D = v2 + k2 * k2 * v1
    al, be, w = k1 * v2 / D, k2 * v1 / D, v1 * v2 / D
    mt, St = al * m0 + be * m1, al * al * A + be * be * B + 2 * al * be * C + w
    em = abs(sb["mean"][k, 0] - mt) / abs(mt); eS = abs(sb["cov"][k, 0, 0] - St) / St
    worst = max(worst, em, eS)
    print(f"t = {t:.2f}: mean {sb['mean'][k,0]:.10f} vs {mt:.10f} ({em:.1e}), var {sb['cov'][k,0,0]:.10f} vs {St:.10f} ({eS:.1e})")
    smp = f["sample"]
    n = smp.attrs["paths"]
    z = (smp["mean"][k, 0] - mt) / np.sqrt(St / n)
    assert abs(z) < 4.5, f"sample mean z = {z}"
assert worst < 1e-8, worst
ks, kg = sb.attrs["kl_static"], sb.attrs["kl_girsanov"]
print(f"KL static {ks:.12g} girsanov {kg:.12g} rel {abs(kg/ks-1):.1e}")
assert abs(kg / ks - 1) < 1e-6
print("sb_ou: ok")
PY
