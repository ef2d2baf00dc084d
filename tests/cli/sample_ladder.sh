#!/usr/bin/env bash
# `fpkit sample` with a steps ladder (`[sampler] steps = 32 64 ...`; src/app/sample.c,
# docs/diffusion.md "Exact endpoint errors, steps ladders, ..."):
#  - on the 1D two-mode problem (the default config) the fitted orders of the exact map error vs
#    NFE: euler (time-uniform) 1, heun (edm) 2, dpm-solver-3 (logsnr-uniform) 3, each within
#    +-0.15, with a 95% interval narrower than +-0.15; nfe_to_target bracketed for euler (between
#    its rungs) and NaN with a note where the errors never cross it; /sample holds the finest rung;
#  - the L1 metric (reverse-sde): rungs within 3 sampling floors are left out of the fit; the KS
#    metric likewise (floor 0.8687/sqrt(n)), and rungs below fit_min_steps;
#  - bitwise identical for 1 and 2 threads (fpkit rerun);
#  - bad lists (non-increasing, zero, fractional) refused naming [sampler] steps, no file.
# Usage: bash tests/cli/sample_ladder.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.sh"
"$fpkit" config sample > "$tmp/s.ini" || { echo "FAIL config sample"; exit 1; }
run() { "$fpkit" sample "$tmp/s.ini" --quiet --set sample.paths=2000 "$@"; }
order() { # file, nominal order, expect nfe_to_target finite (1/0)
  "$py" - "$@" <<'PY'
import sys, math, h5py, numpy as np
path, nominal, finite = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
with h5py.File(path, "r") as f:
    c = f["convergence"]; a = c.attrs; s = f["sample"].attrs
    p, lo, hi = a["order"], a["order_ci_lo"], a["order_ci_hi"]
    e = c["error"][()]; nfe = c["nfe"][()]; nt = c["nfe_to_target"][0]
    okk = abs(p - nominal) <= 0.15 and lo <= p <= hi and hi - lo < 0.3
    okk &= a["metric"] == "map_error" and c["used"][()].all()
    okk &= s["steps"] == c["steps"][-1] and s["map_error"] == e[-1] and s["nfe"] == nfe[-1]
    okk &= math.isfinite(nt) == finite
    if finite:  # between the bracketing rungs, on the log-log line through them
        j = np.nonzero((e[:-1] >= 1e-3) & (e[1:] < 1e-3))[0][0]
        okk &= nfe[j] <= nt <= nfe[j + 1]
    else:
        okk &= "not bracketed" in c["nfe_to_target"].attrs["note"]
    print(f"order {p:.3f} [{lo:.3f}, {hi:.3f}], NFE to 1e-3 {nt:.4g}")
    sys.exit(0 if okk else 1)
PY
}
st="32 64 128 256 512"
if run -o "$tmp/eu.h5" --set sampler.method=euler --set sampler.grid=time-uniform --set "sampler.steps=$st" &&
   m=$(order "$tmp/eu.h5" 1 1); then ok "euler: $m"; else bad "euler: ${m:-}"; fi
if run -o "$tmp/he.h5" --set sampler.method=heun --set sampler.grid=edm --set "sampler.steps=$st" &&
   m=$(order "$tmp/he.h5" 2 1); then ok "heun (edm): $m"; else bad "heun: ${m:-}"; fi
if run -o "$tmp/d3.h5" --set sampler.method=dpm-solver-3 --set "sampler.steps=$st" &&
   m=$(order "$tmp/d3.h5" 3 0); then ok "dpm-solver-3: $m"; else bad "dpm-solver-3: ${m:-}"; fi
if "$fpkit" rerun "$tmp/d3.h5" -o "$tmp/d3r.h5" --threads 2 --quiet; then
  ok "ladder rerun with 2 threads: identical"; else bad "ladder rerun differs"; fi
# The L1 metric: reverse-em from 1 step (far from the target) to 64 (at the floor with 2e4 paths).
if run -o "$tmp/em.h5" --set sample.paths=20000 --set sampler.family=reverse-sde \
     --set "sampler.steps=1 2 4 8 64" && m=$("$py" - "$tmp/em.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    c = f["convergence"]; a = c.attrs
    e, fl, u = c["error"][()], c["l1_floor"][()], c["used"][()] > 0.5
    okk = a["metric"] == "l1_error" and (u == (e > 3 * fl)).all() and not u[-1] and u[0]
    okk &= "ks" in c and "3 l1_floor" in a["fit_rule"]
    print("L1/floor " + " ".join(f"{x:.1f}" for x in e / fl) + f", used {u.astype(int).tolist()}")
    sys.exit(0 if okk else 1)
PY
); then ok "reverse-em L1 ladder: $m"; else bad "reverse-em L1 ladder: ${m:-}"; fi
# The KS metric (1D reverse-em, 4e4 paths): a rung enters the fit when its KS exceeds 3 x the
# KS of an exact sample, 0.8687/sqrt(n); fit_min_steps = 2 leaves the 1-step rung out as well.
if run -o "$tmp/ks.h5" --set sample.paths=40000 --set sampler.family=reverse-sde \
     --set "sampler.steps=1 2 4 8 16 256" --set sampler.ladder_metric=ks \
     --set sampler.fit_min_steps=2 && m=$("$py" - "$tmp/ks.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    c = f["convergence"]; a = c.attrs
    e, ks, st, u = c["error"][()], c["ks"][()], c["steps"][()], c["used"][()] > 0.5
    floor = 0.86873 / np.sqrt(40000)
    okk = a["metric"] == "ks" and (e == ks).all() and a["fit_min_steps"] == 2
    okk &= (u == ((e > 3 * floor) & (st >= 2))).all() and not u[0] and not u[-1] and u[1:4].all()
    okk &= 0.6 < a["order"] < 1.6
    print("KS/floor " + " ".join(f"{x:.1f}" for x in e / floor) + f", used "
          f"{u.astype(int).tolist()}, order {a['order']:.2f}")
    sys.exit(0 if okk else 1)
PY
); then ok "reverse-em KS ladder: $m"; else bad "reverse-em KS ladder: ${m:-}"; fi

expect() { # name, regex, args...
  expect_refused "$1" "$2" "$tmp/bad.h5" "$fpkit" sample "$tmp/s.ini" -o "$tmp/bad.h5" "${@:3}"
}
expect "non-increasing" "\[sampler\] steps = '8 16 16'.*strictly increasing" --set "sampler.steps=8 16 16"
expect "decreasing" "\[sampler\] steps = '16 8'.*strictly increasing" --set "sampler.steps=16 8"
expect "zero rung" "\[sampler\] steps = '0 8 16'.*entry 1 = 0" --set "sampler.steps=0 8 16"
expect "fractional" "\[sampler\] steps = '8 12.5'.*whole numbers" --set "sampler.steps=8 12.5"
expect "target_error" "\[sampler\] target_error = '0'" --set "sampler.steps=8 16 32" --set sampler.target_error=0
expect "map metric without a map" "\[sampler\] ladder_metric = 'map_error'.*exact 1D map" \
  --set sampler.family=reverse-sde --set "sampler.steps=8 16" --set sampler.ladder_metric=map_error
expect "ks in 2D" "\[sampler\] ladder_metric = 'ks'.*1D only" --set data.dim=2 \
  --set "data.means=-2 0 1.5 1" --set "data.stds=0.4 0.5 0.6 0.3" --set grid.dim=2 \
  --set "grid.n=60 60" --set "grid.lo=-5 -5" \
  --set "grid.hi=5 5" --set "sampler.steps=8 16" --set sampler.ladder_metric=ks
expect "fit_min_steps 0" "\[sampler\] fit_min_steps = '0'" --set "sampler.steps=8 16" \
  --set sampler.fit_min_steps=0
expect "ladder key without a ladder" "unknown key 'target_error' = '5' in \[sampler\]" \
  --set sampler.steps=16 --set sampler.target_error=5
summary sample_ladder
