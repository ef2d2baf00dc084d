#!/usr/bin/env bash
# `fpkit km` (docs/km.md): a simulated OU run writes the estimates, the truth and the coverage,
# bitwise the same with 1 and 2 threads; recorded paths in HDF5 ([time], [path][time],
# [path][time][component]) with dt from the dataset's attribute or --dt; bad input (a missing
# dataset, a non-finite sample, a lag too long for the series, an unknown key, no dt, a dataset
# of the wrong dimension, a missing file) exits 1 with file:line or --set, key and value, and
# leaves no output file; --input on another command is a usage error (exit 2).
# Usage: bash tests/cli/km.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
# shellcheck source=lib/checks.sh
source "$src/tests/cli/lib/checks.sh"
export OMP_NUM_THREADS=2

cat > "$tmp/ou.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1
sigma = 1

[grid]
dim = 1
n = 20
lo = -2
hi = 2

[init]
std = 0.7

[km]
dt = 0.02
lag = 1
paths = 2000
steps = 400
stepper = exact-ou
seed = 7
INI

# the recorded paths: an exact OU AR(1) chain (dt = 0.02), 1D and 2D
"$py" - "$tmp" <<'PY'
import sys, numpy as np, h5py
tmp = sys.argv[1]
rng = np.random.default_rng(3)
P, N, dt = 400, 1001, 0.02
a, s = np.exp(-dt), np.sqrt((1 - np.exp(-2 * dt)) / 2)
x = np.zeros((P, N)); x[:, 0] = rng.normal(0, 0.7, P)
for j in range(1, N): x[:, j] = a * x[:, j - 1] + s * rng.normal(size=P)
with h5py.File(f"{tmp}/paths.h5", "w") as f:
    d = f.create_dataset("paths", data=x); d.attrs["dt"] = dt
    f["nodt"] = x
    d = f.create_dataset("one", data=x.reshape(-1)); d.attrs["dt"] = dt
    y = x.copy(); y[3, 17] = np.nan
    d = f.create_dataset("gap", data=y); d.attrs["dt"] = dt
    d = f.create_dataset("plane", data=np.stack([x, x[::-1]], axis=-1)); d.attrs["dt"] = dt
PY

# ---- a simulation: estimates, truth, coverage; the same bits with 1 and 2 threads
if "$fpkit" km "$tmp/ou.ini" -o "$tmp/a.h5" -q --threads 1 &&
   "$fpkit" km "$tmp/ou.ini" -o "$tmp/b.h5" -q --threads 2; then ok "simulation runs"
else bad "simulation fails"; fi
"$py" - "$tmp/a.h5" "$tmp/b.h5" <<'PY' && ok "simulation output: estimates, truth, coverage >= 0.8, threads bitwise" || bad "simulation output"
import sys, numpy as np, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
k = a["km"]
for name in ("count", "x_mean", "d1", "d1_lo", "d1_hi", "d2", "d2_lo", "d2_hi", "k4", "pawula",
             "d1_true", "d2_true"):
    assert name in k, name
    assert np.array_equal(k[name][()], b["km"][name][()], equal_nan=True), name
assert k.attrs["correction"] == "first-order" and abs(k.attrs["tau"] - 0.02) < 1e-15
assert k.attrs["valid_bins"] == 20, k.attrs["valid_bins"]
assert k.attrs["d1_coverage"] >= 0.8 and k.attrs["d2_coverage"] >= 0.8, dict(k.attrs)
assert np.allclose(k["d1_true"][0], -k["x_mean"][0]) and np.all(k["d2_true"][0] == 0.5)
assert k["d1"].shape == (1, 20) and k["d2"].shape == (1, 20)
q = k["pawula"][0]
assert np.all(np.abs(q - 1) < 0.2), q
PY

# fpkit rerun reproduces a km result bit for bit (simulated and recorded paths)
if "$fpkit" rerun "$tmp/a.h5" -o "$tmp/a_rerun.h5" -q; then ok "rerun of a simulation: identical"
else bad "rerun of a simulation differs or fails"; fi

# ---- recorded paths: [path][time] with dt from the attribute, [time], --dt, 2D
if "$fpkit" km "$tmp/ou.ini" --input "$tmp/paths.h5" --dataset paths -o "$tmp/p.h5" -q &&
   "$fpkit" km "$tmp/ou.ini" --input "$tmp/paths.h5" --dataset /nodt -o "$tmp/n.h5" -q \
     --set km.dt=1 --dt 0.02 &&
   "$fpkit" km "$tmp/ou.ini" --input "$tmp/paths.h5" --dataset one -o "$tmp/o.h5" -q; then
  ok "recorded paths run"
else bad "recorded paths fail"; fi
"$py" - "$tmp/p.h5" "$tmp/n.h5" "$tmp/o.h5" <<'PY' && ok "recorded paths: attribute dt == --dt, coverage, one series" || bad "recorded paths output"
import sys, numpy as np, h5py
p, n, o = (h5py.File(x, "r")["km"] for x in sys.argv[1:])
assert p.attrs["source"].endswith(":/paths") and p.attrs["dt"] == 0.02, dict(p.attrs)
for name in ("d1", "d2", "k4", "count"):
    assert np.array_equal(p[name][()], n[name][()], equal_nan=True), name
assert p.attrs["d1_coverage"] >= 0.8 and p.attrs["d2_coverage"] >= 0.8, dict(p.attrs)
assert o.attrs["windows"] == (400 * 1001 - 1) // 2, o.attrs["windows"]
assert o["count"][()].sum() + o.attrs["outside"] == o.attrs["windows"]
PY
if "$fpkit" rerun "$tmp/p.h5" -o "$tmp/p_rerun.h5" -q; then ok "rerun of recorded paths: identical"
else bad "rerun of recorded paths differs or fails"; fi
sed -e 's/^dim = 1$/dim = 2/' -e '/^\[model\]/,/^$/d' "$tmp/ou.ini" > "$tmp/plane.ini"
if "$fpkit" km "$tmp/plane.ini" --input "$tmp/paths.h5" --dataset plane -o "$tmp/q.h5" -q \
     --set km.min_count=50 &&
   "$py" -c "import h5py,sys; k=h5py.File(sys.argv[1])['km']; assert k['d2'].shape==(3,20,20) and 'd1_true' not in k and k.attrs['valid_bins']>50, k.attrs['valid_bins']" "$tmp/q.h5"
then ok "2D recorded paths without a model"
else bad "2D recorded paths"; fi

# ---- bad input
b=$tmp/ou.ini
in=(--input "$tmp/paths.h5")
expect_refused "missing dataset" "\[km\] dataset = 'nope': .*paths.h5 has no dataset '/nope' \(datasets: .*/paths" \
  "$out" "$fpkit" km "$b" "${in[@]}" --dataset nope -o "$out"
expect_refused "non-finite sample" "\[km\] dataset = 'gap': .*sample 17 of path 3 \(component 0\) is nan" \
  "$out" "$fpkit" km "$b" "${in[@]}" --dataset gap -o "$out"
expect_refused "lag beyond the series" "\[km\] lag = '501': lag 501 needs series of at least 2\*lag \+ 1 = 1003 samples; dataset '/paths' .* 400 path\(s\) of 1001" \
  "$out" "$fpkit" km "$b" "${in[@]}" --dataset paths --set km.lag=501 -o "$out"
expect_refused "lag beyond the simulation" "ou.ini:[0-9]+: \[km\] steps|\[km\] lag = '300': lag 300 needs at least 2\*lag = 600 samples" \
  "$out" "$fpkit" km "$b" --set km.lag=300 -o "$out"
expect_refused "unknown key" "--set: unknown key 'lags' in \[km\] \(did you mean 'lag'" \
  "$out" "$fpkit" km "$b" --set km.lags=2 -o "$out"
sed '/^dt = /d' "$b" > "$tmp/nodt.ini"
expect_refused "no dt" "\[km\] dt.*no sampling interval: give --dt \(km.dt\) or an attribute dt > 0 on dataset '/nodt'" \
  "$out" "$fpkit" km "$tmp/nodt.ini" "${in[@]}" --dataset nodt -o "$out"
expect_refused "no dt for a simulation" "nodt.ini.*\[km\] dt" "$out" "$fpkit" km "$tmp/nodt.ini" -o "$out"
expect_refused "2D dataset on 1D bins" "\[km\] dataset = 'plane': .*dataset '/plane' holds 2-component states, \[grid\] dim is 1" \
  "$out" "$fpkit" km "$b" "${in[@]}" --dataset plane -o "$out"
expect_refused "missing file" "\[km\] input = '.*absent.h5': cannot read" \
  "$out" "$fpkit" km "$b" --input "$tmp/absent.h5" --dataset paths -o "$out"
expect_refused "bad correction" "ou.ini|--set: \[km\] correction = 'second-order': expected one of none, first-order" \
  "$out" "$fpkit" km "$b" --set km.correction=second-order -o "$out"
expect_refused "dt = 0" "--set: \[km\] dt = '0'" "$out" "$fpkit" km "$b" --set km.dt=0 -o "$out"
msg=$("$fpkit" run "$b" --input "$tmp/paths.h5" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q -- "--input applies to 'fpkit km' only" <<<"$msg"; then ok "--input on run: exit 2"
else bad "--input on run: exit $rc, $msg"; fi
leftovers=$(ls "$tmp" | grep -E '^out\.h5' || true)
[ -z "$leftovers" ] && ok "no temporaries left" || bad "left: $leftovers"

summary km
