#!/usr/bin/env bash
# `fpkit sb` with `reference = model` (FP-based IPF, docs/sb.md): a double-well Langevin reference
# in 1D, checked by Monte Carlo (the EM histograms within 1.5 sampling floors of the IPF
# marginals, the Monte Carlo KL within 4 standard errors plus its O(dt) scale of the static KL),
# the same numbers bitwise for 1 and 2 threads, and Brownian motion as a model against the
# exact-kernel Brownian reference (marginals within the chain's O(dt + h^2)).
# Usage: bash tests/cli/sb_model.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/dw.ini" <<'INI'
[grid]
dim = 1
n = 150
lo = -2.5
hi = 2.5

[mu0]
type = gaussian
mean = -1
std = 0.3

[muT]
type = mixture
weights = 0.4 0.6
means = -1 1
stds = 0.3 0.3

[sb]
reference = model
dt = 0.005
T = 1
times = 0 0.25 0.5 0.75 1

[model]
type = langevin
dim = 1
potential = double-well
beta = 3

[sample]
paths = 40000
INI
"$fpkit" sb "$tmp/dw.ini" -o "$tmp/dw1.h5" --quiet --threads 1
"$fpkit" sb "$tmp/dw.ini" -o "$tmp/dw2.h5" --quiet --threads 2
# Brownian motion as a model vs the Brownian reference (sigma = 0.8, a box wide enough for both)
sed -e '/^potential/d' -e '/^beta/d' -e 's/^type = langevin/type = bm\nsigma = 0.8/' \
  -e 's/^dt = 0.005/dt = 0.0025/' -e 's/^paths = 40000/method = none/' -e 's/^n = 150/n = 200/' \
  -e 's/^lo = -2.5/lo = -5/' -e 's/^hi = 2.5/hi = 5/' "$tmp/dw.ini" > "$tmp/bm_model.ini"
"$fpkit" sb "$tmp/bm_model.ini" -o "$tmp/bm_model.h5" --quiet
sed -e '/^\[model\]/,$d' -e 's/^reference = model/reference = brownian\nsigma = 0.8/' -e '/^dt = /d' \
  "$tmp/bm_model.ini" > "$tmp/bm.ini"
printf '[sample]\nmethod = none\n' >> "$tmp/bm.ini"
"$fpkit" sb "$tmp/bm.ini" -o "$tmp/bm_kernel.h5" --quiet
"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
a, b = h5py.File(f"{tmp}/dw1.h5", "r"), h5py.File(f"{tmp}/dw2.h5", "r")
assert a["sb"].attrs["reference"] in (b"model", "model")
for name in ("sb/marginal", "sb/drift", "sb/backward_drift", "sample/histogram", "sample/mean"):
    assert np.array_equal(a[name][()], b[name][()]), f"{name} differs between 1 and 2 threads"
s, smp = a["sb"], a["sample"]
ratio = smp["l1_error"][()] / smp["l1_floor"][()]
print("EM histogram L1 / floor:", np.round(ratio, 2))
assert np.all(ratio <= 1.5), ratio
ks, km, se, bias = (s.attrs["kl_static"], smp.attrs["kl_mc"], smp.attrs["kl_mc_se"],
                    smp.attrs["kl_mc_bias_scale"])
print(f"KL static {ks:.6g}, Girsanov {s.attrs['kl_girsanov']:.6g}, MC {km:.6g} +- {se:.2g}")
assert abs(km - ks) <= 4 * se + bias
assert abs(s.attrs["kl_girsanov"] / ks - 1) < 3e-2  # the chain's O(dt + h^2): 1.8e-2 here
pm, pk = h5py.File(f"{tmp}/bm_model.h5", "r"), h5py.File(f"{tmp}/bm_kernel.h5", "r")
for k, t in enumerate(pk["sb/t"][()]):
    if t in (0, 1):
        continue
    l1 = np.abs(pm["sb/marginal"][k] - pk["sb/marginal"][k]).sum()
    print(f"bm model vs brownian kernel at t = {t}: L1 {l1:.2e}")
    assert l1 < 1e-2, l1
print("sb_model: ok")
PY
