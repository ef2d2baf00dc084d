#!/usr/bin/env bash
# Regenerates the seed corpora under fuzz/corpus/ (checked in; run this only to refresh them).
# Usage: bash fuzz/make-corpus.sh FPKIT_BINARY
#   config/  the shipped configurations (experiments/, tests/defects/) and a few with --set lines,
#            expression models, mixtures and continuation lines
#   expr/    expression models in the target's line format (fuzz/fuzz_expr.c)
#   h5/      fpkit's own outputs of tiny runs (run: FV, Monte Carlo, spectral, FV started from
#            another output's density, [init] type = file, which adds /init), in the current layout
#            (dimension scales, shuffle + deflate + Fletcher-32 chunks, /provenance), the same
#            files rewritten in HDF5's earliest format (no metadata checksums and contiguous
#            datasets, so that mutated bytes reach the parsers behind them; the dimension scales
#            rebuilt there; by /usr/bin/python3 with h5py), a minimal marginal, and the two damaged
#            files of tests/defects
# Kept small (a few hundred kB in all): grids of 6 to 32 cells, a few hundred paths.
set -euo pipefail
cd "$(dirname "$0")/.."
fpkit=$(realpath "${1:?usage: bash fuzz/make-corpus.sh FPKIT_BINARY}")
out=fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out/config" "$out/expr" "$out/h5"

# ---- config
for f in experiments/*/*.ini tests/defects/*.ini; do
  cp "$f" "$out/config/$(basename "$(dirname "$f")")_$(basename "$f")"
done
cat > "$out/config/expr_params_set.ini" <<'EOF'
[model]
type = expr
dim = 1
drift = -theta*(x - mu)
noise = s*(1 + 0.3*sin(x))   ; multiplicative: Milstein gets d(noise)/dx

[parameters]
theta = 1.5
mu = 0.25
s = 0.4

[init]
type = point
x0 = 0.5
width = 0.1

[grid]
lo = -3
hi = 4
n = 64
bc = absorbing, reflecting

[time]
times = 0.1, 0.2 0.5

[mc]
stepper = milstein
paths = 1000
dt = 1e-3
--set mc.seed=7
--set parameters.theta=2
--set grid.n=32
EOF
cat > "$out/config/expr2d.ini" <<'EOF'
[model]
type = expr
dim = 2
drift_x = -x + a*y
drift_y = -y - a*x + t
noise_x = 0.5
noise_y = sqrt(1 + x^2)/2

[parameters]
a = 0.3

[grid]
lo = -3
hi = 3, 4
n = 16 24
bc = periodic

[time]
t_end = 1
n_out = 3
EOF
cat > "$out/config/mixture_covs.ini" <<'EOF'
; a mixture with full covariances, one per indented line
[model]
type = mixture-langevin
dim = 2
weights = 0.3 0.7
means = -1 0   1 0.5
covs = 0.5 0.1 0.1 0.4
       0.3 0 0 0.3

[init]
type = gaussian
cov = 1 0.2
      0.2 1

[grid]
lo = -4
hi = 4
n = 20

[time]
t_end = 0.5

[stationary]
enabled = true
EOF
cat > "$out/config/langevin_set.ini" <<'EOF'
[model]
type = langevin
dim = 1
potential = tilted-cosine
beta = 2
amplitude = 0.5
tilt = 0.2
modulation = 0.3

[grid]
lo = 0
hi = 1
n = 32
bc = periodic

[fp]
method = fv spectral

[spectral]
scheme = sbdf2
dt = 1e-3
--set model.period=1
--set spectral.planner=estimate
--set fp.dt=1e-3
EOF
cat > "$out/config/bridge_gbm.ini" <<'EOF'
[model]
type = bridge
dim = 1
sigma = 0.5
a = 0
b = 1
T = 2

[time]
times = 0.5 1 1.5
--set model.T=1.75
EOF
cat > "$out/config/ou_A_set.ini" <<'EOF'
[model]
type = ou
dim = 2
A = 1 0.5 -0.5 2
mu = 0.1, -0.1
sigma = 1 0.5

[grid]
lo = -4 -4
hi = 4 4
n = 10
--set model.sigma=0.7
--set output.file=out.h5
EOF

# ---- expr (fuzz_expr.c: "name = value" lines are parameters, the others expressions)
e=$out/expr
printf 'drift = 0\n-theta*(x - mu)\ns*(1 + 0.3*sin(x))\ntheta = 1\nmu = 0.5\ns = 0.3\n' > "$e/ou_params"
printf -- '-x^3 + x\nsqrt(2/beta)\nbeta = 4\n' > "$e/double_well"
printf 'mu*x\nsigma*x\nmu = 0.05\nsigma = 0.2\n' > "$e/gbm"
printf -- '(b - x)/(T - t)\n0.5\nb = 1\nT = 2\n' > "$e/bridge"
printf -- '-x + a*y\n0.5\n-y - a*x + t\nsqrt(1 + x^2)/2\na = 0.3\n' > "$e/two_d"
printf 'exp(-x^2)*cos(2*pi*x) + log(1 + abs(x))\n1 + 0.5*tanh(x)\n' > "$e/functions"
printf 'step(x)*delta(x) + nandelta(x) + erf(x/sqrt2)\nasinh(x) + acosh(2 + x^2) + atanh(x/(1 + abs(x)))\n' > "$e/special"
printf 'sec(x)^2 - tan(x)^2 + csc(1 + x^2) + cot(2 + x^2)\nasec(2 + x^2) + acsc(2 + x^2) + acot(x)\n' > "$e/trig"
printf 'coth(1 + x^2) + sech(x) + csch(1 + x^2)\nacoth(2 + x^2) + asech(1/(2 + x^2)) + acsch(1 + x^2)\n' > "$e/hyperbolic"
printf 'x^2^3 - -x + 1.5e-3*x - .5 + 2.\n(((x)))\n' > "$e/syntax"
printf 'x +\n' > "$e/incomplete"
printf 'foo(x)\n1\n' > "$e/not_a_function"
printf 'x*k\nz\nk = 1\nx = 2\nt = 3\nexp = 1\npi = 2\n' > "$e/bad_names"
printf 'x .+ 1\n1\n' > "$e/stray_char"
printf 'e^x + log2e + log10e + ln2 + ln10 + pi_2 + pi_4 + 1_pi + 2_pi + 2_sqrtpi + sqrt1_2\n1\n' > "$e/constants"

# ---- h5: fpkit's own outputs of tiny runs
small=(--set grid.n=12 --set time.t_end=0.2 --set time.n_out=3 --set mc.paths=200
       --set mc.keep_paths=2 --set mc.dt=2e-2 --set fp.dt=2e-2)
run() { "$fpkit" "$@" --quiet --threads 1 > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }; }
# every method (fv, mc, exact: ~40 datasets), converted below; FV alone in 1D; Monte Carlo alone
# in 2D; the spectral solver alone
run run experiments/ou/ou1d.ini "${small[@]}" -o "$tmp/ou1d.h5"
run run experiments/ou/ou1d.ini "${small[@]}" --set mc.enabled=false --set exact.enabled=false \
  -o "$out/h5/fv1d.h5"
run run experiments/ou/ou2d.ini --set grid.n=8 --set time.t_end=0.2 --set time.n_out=2 \
  --set mc.paths=100 --set mc.keep_paths=0 --set mc.dt=5e-2 --set fp.enabled=false \
  --set exact.enabled=false -o "$out/h5/mc2d.h5"
run run experiments/spectral/ou_periodic.ini --set grid.n=32 --set init.std=0.7 \
  --set init.mean=0 --set guard.negative_tol=0.1 --set time.t_end=0.1 --set time.n_out=2 \
  --set fp.method=spectral -o "$out/h5/spectral1d.h5"
# FV from the density of fv1d.h5 at t = 0.1 ([init] type = file): the /init group; run in $out/h5 so
# that /init's attribute file names fv1d.h5 beside it
cat > "$tmp/init_file.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1.0
mu = 0.0
sigma = 1.0

[init]
type = file
file = fv1d.h5
method = fv
time = 0.1

[grid]
lo = -4.5
hi = 4.5
n = 12
bc = reflecting

[time]
t_end = 0.2
n_out = 2

[fp]
method = fv
dt = 2e-2

[mc]
enabled = false
INI
(cd "$out/h5" && run run "$tmp/init_file.ini" -o fv1d_init.h5)
# the XDMF sidecars of the 2D fields are not inputs of the target
rm -f "$out"/h5/*.xmf
cp tests/defects/corrupt_mc_t.h5 tests/defects/grid_attr_array.h5 "$out/h5/"
chmod 644 "$out"/h5/*.h5
# The same files in HDF5's earliest format: superblock 0, version-1 object headers, symbol
# tables, contiguous datasets, no checksums. Dimension scales hold object references, which do
# not carry over from one file to another: the copy makes the same scales and attaches them anew.
/usr/bin/python3 - "$tmp/ou1d.h5" "$out/h5/ou1d_v0.h5" "$out/h5/mc2d.h5" "$out/h5/mc2d_v0.h5" \
  "$out/h5/minimal_v0.h5" <<'EOF'
import sys
import h5py
import numpy as np
def copy(src, dst):
    with h5py.File(src, "r") as a, h5py.File(dst, "w", libver="earliest") as b:
        scale = ("CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST")
        def attrs(x, y):
            for k, v in x.attrs.items():
                if k not in scale:
                    y.attrs[k] = v
        attrs(a, b)
        datasets = []
        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                attrs(obj, b.require_group(name))
            else:
                d = b.create_dataset(name, data=obj[()])
                attrs(obj, d)
                datasets.append(name)
        a.visititems(visit)
        for name in datasets:
            if h5py.h5ds.is_scale(a[name].id):
                label = a[name].attrs.get("NAME", b"")
                label = label.decode() if isinstance(label, bytes) else str(label)
                b[name].make_scale(label.split("\0")[0])
        for name in datasets:
            for i, dim in enumerate(a[name].dims):
                for s in dim.values():
                    b[name].dims[i].attach_scale(b[s.name])
args = sys.argv[1:-1]
for i in range(0, len(args), 2):
    copy(args[i], args[i + 1])
# The least an fpkit marginal needs: /grid/x with lo, hi, and one field with its times.
with h5py.File(sys.argv[-1], "w", libver="earliest") as f:
    f.attrs["fpkit_version"] = "0.1.0"
    x = f.create_dataset("grid/x", data=-1.5 + 3.0 * (np.arange(6) + 0.5) / 6)
    x.attrs["lo"] = -1.5
    x.attrs["hi"] = 1.5
    f.create_dataset("fv/density", data=np.full((2, 6), 1.0 / 3.0))
    f.create_dataset("fv/t", data=[0.0, 0.5])
    f["fv/density"].attrs["units"] = "1/length"
EOF
du -sh "$out"/*
