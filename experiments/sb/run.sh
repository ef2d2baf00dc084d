#!/usr/bin/env bash
# Schroedinger-bridge experiments with `fpkit sb` and `fpkit ot` (experiments/sb/README.md):
#  (a) Gaussian -> Gaussian, 1D and 2D (non-commuting covariances), sigma from 2 down to 0.05:
#      grid vs closed form vs Monte Carlo (both samplers)  -> results/sb/gauss{1d,2d}_s*.h5
#  (b) the three figures of the poster on diffusion, OT and Schroedinger bridges: displacement
#      interpolation between two Gaussian mixtures (1D by quantiles, 2D by the barycentric map of
#      a small-eps plan), entropic plans for eps in {1, 0.01, 0.005}, the bridge between two
#      particle distributions with a Brownian reference of diffusivity 0.1
#                                                          -> results/sb/poster_*.h5
#  (c) sigma -> 0: the bridge's marginals approach McCann's interpolation (1D, L1 vs sigma, fitted
#      rate)                                               -> results/sb/mccann_s*.h5
#  (d) mixture -> N(0, 1) with an OU reference over horizons T = 0.5 .. 8 vs the time reversal of
#      the OU noising process of a diffusion model (exact score of the noised mixture)
#                                                          -> results/sb/ou_reversal_T*.h5
#  (e) a double-well Langevin reference solved by the FP-based IPF, checked by Monte Carlo
#                                                          -> results/sb/double_well.h5
# then gaussian.py, poster.py, mccann.py, ou_reversal.py and double_well.py: the numbers on
# stdout, one [ok]/[FAIL] line (or FAIL: line) per target, figures results/sb_*.png and
# results/sb/*_summary.json.
# Usage: bash experiments/sb/run.sh [BUILD_DIR] [--format pdf|svg|png] (default: build), from
# anywhere. FPK_SB_FULL=1 adds the 2D sigma = 0.05 case of (a) (512^2 cells, ~3 min alone).
# Exit status: non-zero if a command fails or a target is missed. About 1.5 min on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
formats=()
while (($#)); do
  case $1 in
    --format) formats=(--format "$2"); shift 2 ;;
    *) build=$1; shift ;;
  esac
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
fpkit=$build/fpkit
py=/usr/bin/python3 # Debian's python3 has numpy/scipy/matplotlib/h5py; a pyenv python3 may not
cd "$root"
out=results/sb
mkdir -p "$out"
export OMP_WAIT_POLICY=passive
start=$SECONDS
step() { echo; echo "== $* ($((SECONDS - start)) s elapsed)"; }
sb() { "$fpkit" sb "$@" --quiet --force; }
status=0

# (a) One grid per sigma: the narrowest kernel the queries need, of variance
# sigma^2 t (1 - t) at the first output time t1 > 0, must span more than a cell
# (h^2 <= sigma^2 t1 (1 - t1) / 1.2, docs/sb.md "When the grid resolves it"; fpkit refuses
# otherwise), and the box must hold the bridge (its spread at T/2 grows with sigma^2 T / 4).
# 1D: 21 times 0, 0.05, .., 1 (t1 = 0.05: h <= 0.199 sigma); box [-8, 8] to sigma = 0.3, [-7, 7]
# below (muT's 6.9 std: the truncation stays below 1e-10).
step "(a) 1D Gaussian -> Gaussian, sigma 2 .. 0.05, exact sampler and Euler-Maruyama"
while read -r sigma n box; do
  for method in exact em; do
    suffix=$([ "$method" = em ] && echo _em || true)
    sb "$here/gauss1d.ini" -o "$out/gauss1d_s$sigma$suffix.h5" --set sb.sigma="$sigma" \
      --set grid.n="$n" --set grid.lo="-$box" --set grid.hi="$box" --set sample.method=$method
  done
done <<'EOF'
2 400 8
1 400 8
0.5 400 8
0.3 400 8
0.1 720 7
0.05 1440 7
EOF
# 2D: times 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1 (h <= 0.274 sigma) to sigma = 0.3; from 0.1 down the
# first time is 0.25 (h <= 0.395 sigma), else the grid would need 4x the cells. EM (its drift
# table is steps x 2 x cells) and the exact sampler (a plan row per start cell) only where the
# grid is small.
step "(a) 2D non-commuting Gaussians, sigma 2 .. 0.1"
t7="0 0.1 0.25 0.5 0.75 0.9 1"
t5="0 0.25 0.5 0.75 1"
cases2d="2 64 9 t7 exact,em
1 64 7 t7 exact,em
0.5 96 6 t7 exact,em
0.3 144 5.5 t7 exact
0.1 256 5 t5 none"
if [ "${FPK_SB_FULL:-0}" = 1 ]; then cases2d="$cases2d
0.05 512 5 t5 none"; fi
while read -r sigma n box times methods; do
  for method in ${methods//,/ }; do
    suffix=$([ "$method" = em ] && echo _em || true)
    sb "$here/gauss2d.ini" -o "$out/gauss2d_s$sigma$suffix.h5" --set sb.sigma="$sigma" \
      --set grid.n="$n $n" --set grid.lo="-$box -$box" --set grid.hi="$box $box" \
      --set sb.times="${!times}" --set sample.method=$method
  done
done <<<"$cases2d"
step "(a) figures and checks"
$py "$here/gaussian.py" -r results "${formats[@]}" || status=1

# (b) The poster's figures 3-5 (assumptions: README.md).
step "(b) poster: the particle inputs of figure 5"
$py "$here/poster.py" inputs -r results
step "(b) poster figure 3: small-eps plans for the barycentric maps (1D check, 2D)"
"$fpkit" ot "$here/poster_map1d.ini" -o "$out/poster_map1d.h5" --quiet --force
"$fpkit" ot "$here/poster_map2d.ini" -o "$out/poster_map2d.h5" --quiet --force
step "(b) poster figure 4: entropic plans, eps = 1, 0.01, 0.005"
"$fpkit" ot "$here/poster_plans.ini" -o "$out/poster_plans.h5" --quiet --force
step "(b) poster figure 5: bridge between particles, diffusivity 0.1"
sb "$here/poster_particles.ini" -o "$out/poster_particles.h5"
step "(b) figures and checks"
$py "$here/poster.py" figures -r results "${formats[@]}" || status=1

# (c) One grid for every sigma down to 0.05 (h = 0.01), finer for 0.035 (the first time 0.1
# needs h <= 0.274 sigma).
step "(c) sigma -> 0: bridge marginals vs McCann's interpolation"
while read -r sigma n; do
  sb "$here/mccann1d.ini" -o "$out/mccann_s$sigma.h5" --set sb.sigma="$sigma" --set grid.n="$n"
done <<'EOF'
1 1100
0.7 1100
0.5 1100
0.35 1100
0.25 1100
0.18 1100
0.125 1100
0.09 1100
0.0625 1100
0.05 1100
0.035 1400
EOF
step "(c) figure, fit and checks"
$py "$here/mccann.py" -r results "${formats[@]}" || status=1

# (d) The special case of the poster: a mixture to N(0, 1) with the OU reference (theta = 1,
# sigma = sqrt(2), stationary N(0, 1)) over horizons T = 0.5 .. 8, against the reversal of the OU
# noising process of a diffusion model (the exact score of the noised mixture).
step "(d) mixture -> N(0, 1), OU reference, vs the reversed OU noising process"
for T in 0.5 1 2 4 8; do
  times=$($py -c "print(' '.join('%.6g' % ($T * k / 20) for k in range(21)))")
  sb "$here/ou_reversal.ini" -o "$out/ou_reversal_T$T.h5" --set sb.T=$T --set "sb.times=$times"
done
$py "$here/ou_reversal.py" -r results "${formats[@]}" || status=1

# (e) A double-well Langevin reference (FP-based IPF), checked by Monte Carlo only.
step "(e) double-well Langevin reference, FP-based IPF, vs Euler-Maruyama on the bridge SDE"
sb "$here/double_well.ini" -o "$out/double_well.h5"
$py "$here/double_well.py" -r results "${formats[@]}" || status=1

echo "total $((SECONDS - start)) s"
if ((status)); then
  echo "run.sh: some targets were missed (see [FAIL] above)" >&2
fi
exit $status
