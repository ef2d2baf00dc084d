#!/usr/bin/env bash
# `fpkit sb`: the potentials, the backward drift, the Monte Carlo KL and progress
# (docs/hdf5-layout.md "`fpkit sb` output", docs/sb.md):
#  (1) 1D Gaussian -> mixture (EM sampling) and 2D Gaussians (exact): p_t = V exp(log_phi +
#      log_phi_hat) equals /sb/marginal to 1e-12 relative (where p_t > 1e-300); drift +
#      backward_drift = sigma^2 grad log p_t by centred differences of log p_t, p-weighted
#      relative L2 over the cells where p_t > 1e-8 max p_t (stencil inside the box): the
#      differences' own O(h^2) error is all there is, so below 2e-2 for the mixture at h = 0.1
#      (measured 1.0e-2, at t = 1.1), falling 4x (> 3x asserted) at h = 0.05, and below 1e-4 for
#      the 2D Gaussians (quadratic log p_t; measured 5.5e-6); a wrong factor sigma or 2 gives
#      > 0.5; the EM run's kl_mc and kl_mc_energy within 4 standard errors of kl_static and no
#      warning; the exact run has no kl_mc attribute;
#  (2) a grid too coarse for EM's interpolated drift (1D, 48 cells, sigma 0.3): the MC KL is off
#      by > 4 SE: a warning on stderr naming [sample] dt and the grid, attribute kl_mc_warning = 1,
#      exit 0 and a file (Monte Carlo noise or bias is not a wrong number);
#  (3) every dataset and every /sb and /sample attribute (but wall_seconds) bitwise the same with
#      --progress none, plain and bar (2 threads); plain prints the solve line, the stages per
#      output time and the end line.
# Usage: bash tests/cli/sb_output.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$tmp/e1.ini" <<'INI'
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
type = mixture
weights = 0.5 0.5
means = 1 2.5
stds = 0.5 0.4

[sb]
sigma = 0.6
T = 1.3
times = 0 0.2 0.5 0.8 1.1 1.3

[sample]
method = em
dt = 0.002
paths = 100000
seed = 11
INI

cat > "$tmp/x2.ini" <<'INI'
[grid]
dim = 2
n = 48 40
lo = -6 -5
hi = 6 5

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
times = 0 0.25 0.5 0.75 1

[sample]
paths = 20000
seed = 3
INI

"$fpkit" sb "$tmp/e1.ini" -o "$tmp/e1.h5" -q 2> "$tmp/e1.err" || fail "e1 exited $?: $(cat "$tmp/e1.err")"
[ -s "$tmp/e1.err" ] && fail "e1 printed on stderr: $(cat "$tmp/e1.err")"
"$fpkit" sb "$tmp/e1.ini" -o "$tmp/e1f.h5" -q --set grid.n=240 --set sample.paths=10
"$fpkit" sb "$tmp/x2.ini" -o "$tmp/x2.h5" -q

"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
fails = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: fails.append(what)

drift_err = {}
for name in ("e1", "e1f", "x2"):
    with h5py.File(f"{tmp}/{name}.h5", "r") as f:
        sb = f["sb"]
        sigma = sb.attrs["sigma"]
        axes = [f["grid/x"][()]] + ([f["grid/y"][()]] if "y" in f["grid"] else [])
        d = len(axes)
        h = [a[1] - a[0] for a in axes]          # [x, y] spacings
        V = float(np.prod(h))
        P, lphi, lphh = sb["marginal"][()], sb["log_phi"][()], sb["log_phi_hat"][()]
        fwd, bwd = sb["drift"][()], sb["backward_drift"][()]
        nt = len(sb["t"][()])
        check(lphi.shape == P.shape and lphh.shape == P.shape and bwd.shape == fwd.shape ==
              (nt, d) + P.shape[1:], f"{name}: shapes {lphi.shape} {bwd.shape}")
        check(np.all(np.isfinite(bwd)), f"{name}: backward drift finite")
        worst = worst_drift = 0
        for k in range(nt):
            p = P[k]
            q = V * np.exp(lphi[k] + lphh[k])
            m = p > 1e-300
            worst = max(worst, np.max(np.abs(q[m] - p[m]) / p[m]))
            # sigma^2 grad log p by centred differences, cells whose 3-point stencil is in the box
            # and where p > 1e-8 max p (log p of the tails is what the grid holds least well)
            lp = np.log(np.where(p > 0, p, 1e-320))
            keep = p > 1e-8 * p.max()
            num = den = 0.0
            for c in range(d):
                ax = p.ndim - 1 - c                  # component c = x (last axis), y
                g = (np.roll(lp, -1, ax) - np.roll(lp, 1, ax)) / (2 * h[c])
                inner = keep & np.roll(keep, 1, ax) & np.roll(keep, -1, ax)
                sl = [slice(None)] * p.ndim
                sl[ax] = 0; inner[tuple(sl)] = False
                sl[ax] = -1; inner[tuple(sl)] = False
                s = fwd[k, c] + bwd[k, c]
                num += np.sum(p[inner] * (s[inner] - sigma**2 * g[inner])**2)
                den += np.sum(p[inner] * (sigma**2 * g[inner])**2)
            worst_drift = max(worst_drift, np.sqrt(num / den))
        drift_err[name] = worst_drift
        check(worst < 1e-12, f"{name}: V exp(log_phi + log_phi_hat) = marginal, worst rel {worst:.2e}")
        check(worst_drift < (1e-4 if name == "x2" else 2e-2),
              f"{name}: drift + backward_drift = sigma^2 grad log p_t, rel L2 {worst_drift:.2e}")
        S = f["sample"]
        if name == "e1":
            ks = sb.attrs["kl_static"]
            for est in ("kl_mc", "kl_mc_energy"):
                v, se = S.attrs[est], S.attrs[est + "_se"]
                check(0 < se < 0.1 and abs(v - ks) <= 4 * se,
                      f"e1: {est} {v:.6f} +- {se:.2g} vs static {ks:.6f} ({(v - ks) / se:+.2f} SE)")
            check(S.attrs["kl_mc_warning"] == 0, "e1: no kl_mc warning")
            check(abs(S.attrs["kl_mc_bias_scale"] - ks * 0.002 / 1.3) < 1e-12 * ks,
                  "e1: kl_mc_bias_scale = kl_static dt / T")
        elif name == "x2":
            check("kl_mc" not in S.attrs, "x2 (exact): no kl_mc attribute")
ratio = drift_err["e1"] / drift_err["e1f"]
check(ratio > 3, f"e1: the drift identity's error falls {ratio:.2f}x with h halved (O(h^2) differences)")
sys.exit(1 if fails else 0)
PY

# (2) the warning
"$fpkit" sb "$tmp/e1.ini" -o "$tmp/w.h5" -q --set grid.n=48 --set sb.sigma=0.3 \
  --set "sb.times=0.65 1.3" --set diagnostics.intervals=0 2> "$tmp/w.err" ||
  fail "coarse EM: exit $?, expected 0: $(cat "$tmp/w.err")"
[ -f "$tmp/w.h5" ] || fail "coarse EM: no file"
grep -q "^fpkit: warning: the Monte Carlo KL along the EM paths.*more than 4 standard errors.*\[sample\] dt.*refine the grid" "$tmp/w.err" ||
  fail "coarse EM: no warning: $(cat "$tmp/w.err")"
"$py" -c "import h5py,sys; a=h5py.File(sys.argv[1])['sample'].attrs; sys.exit(0 if a['kl_mc_warning'] == 1 else 1)" "$tmp/w.h5" ||
  fail "coarse EM: kl_mc_warning is not 1"

# (3) progress observes only
for mode in none plain bar; do
  "$fpkit" sb "$tmp/e1.ini" -o "$tmp/p-$mode.h5" -q -j 2 --progress=$mode --set sample.paths=20000 \
    2> "$tmp/p-$mode.err" || fail "--progress=$mode exited $?"
done
"$py" - "$tmp" <<'PY' || fail "results differ with progress on and off"
import sys, h5py, numpy as np
tmp = sys.argv[1]
def numbers(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        for g in ("sb", "sample"):
            for k, v in f[g].attrs.items():
                if "seconds" not in k:
                    out[f"{g}@{k}"] = np.asarray(v)
    return out
ref = numbers(f"{tmp}/p-none.h5")
assert "sb/log_phi" in ref and "sample@kl_mc" in ref, sorted(ref)
bad = []
for m in ("plain", "bar"):
    o = numbers(f"{tmp}/p-{m}.h5")
    if sorted(o) != sorted(ref): bad.append(f"{m}: different contents")
    bad += [f"{m}: {k} differs" for k in ref if k in o and ref[k].tobytes() != o[k].tobytes()]
print("\n".join(bad) or f"ok   {len(ref)} datasets and attributes bitwise equal with progress")
sys.exit(1 if bad else 0)
PY
[ -s "$tmp/p-none.err" ] && fail "--progress=none printed: $(cat "$tmp/p-none.err")"
grep -qE "^fpkit: sb solve: Sinkhorn at eps = (2 sigma\^2 T = )?0.936" "$tmp/p-plain.err" ||
  fail "plain: no solve line: $(cat "$tmp/p-plain.err")"
grep -q "^fpkit: sb: 8 stages$" "$tmp/p-plain.err" || fail "plain: no start line (6 times + diagnostics + sample)"
grep -q "^fpkit: sb t = 0.5  *[0-9]*% 2/8 stages" "$tmp/p-plain.err" || fail "plain: no stage line"
grep -q "^fpkit: sb done: 8 stages in " "$tmp/p-plain.err" || fail "plain: no end line"
echo "sb_output: all checks passed"
