#!/usr/bin/env bash
# Defects found by hostile testing of `fpkit sample` (issue 14); reproducers in
# tests/defects/diffusion/.
#  - 2D targets thinner than a grid cell: the cell probabilities (density x cell volume) are then
#    wrong by O(1), so the command must refuse (exit 1, [grid] n named, no file) instead of
#    reporting the point rule's error as the sampler's; a fine enough grid still runs.
#  - reverse-em and pc from a t_max where beta is infinite (vp-cosine at T) or a_t vanished
#    diverged with exit 0: exit 1 naming [sampler] t_max; the exact ancestral chain still runs.
#  - a box that cuts off target mass: l1_error counted the sample's outside fraction against 0, so
#    an exact sampler showed 15 sampling floors; it must stay within 1.5 floors (1D and 2D), and
#    h + outside = 1 still.
#  - a negative standard deviation in [data] stds was squared into a valid variance, silently:
#    exit 1 naming the key.
#  - session 2: a box missing the target, a one-level DSM score, ignored keys, a handful of points,
#    a singular covariance: refused naming the key; a sampler that blows up: exit 3; /sample score
#    with DPS; the 2D cell probabilities (an exact sampler within its floors).
# Usage: bash tests/cli/sample_defects.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.sh"
thin=$src/tests/defects/diffusion/thin_target_coarse_grid_2d.ini
expect() { # name, regex, args...
  expect_refused "$1" "$2" "$tmp/bad.h5" "$fpkit" sample "$thin" -o "$tmp/bad.h5" --quiet "${@:3}"
}
expect "thin component, coarse grid" "\[grid\] n = '100 100'.*component 1" --set sample.paths=1000
expect "nearly singular covariance" "\[grid\] n = '100 100'.*component 1" --set sample.paths=1000 \
  --set "data.covs=1 0.99999999 0.99999999 1 1 -0.2 -0.2 0.3"
expect "thin component after denoise" "\[grid\] n = '100 100'.*component 1" --set sample.paths=1000 \
  --set sampler.denoise=true --set sampler.t_min=0.5
if "$fpkit" sample "$thin" -o "$tmp/fine.h5" --quiet --set sample.paths=1000 \
     --set "data.covs=0.04 0 0 0.04 1 -0.2 -0.2 0.3"; then ok "a grid finer than the target runs"
else bad "a grid finer than the target was refused"; fi
van=$src/tests/defects/diffusion/revsde_vanishing_signal_exit0.ini
expect_van() { # name, regex, args...
  expect_refused "$1" "$2" "$tmp/bad.h5" "$fpkit" sample "$van" -o "$tmp/bad.h5" --quiet "${@:3}"
}
expect_van "reverse-em, vp-cosine at T" "\[sampler\] t_max = '1'.*g\^2" --set sample.paths=1000
expect_van "pc, vp-cosine at T" "\[sampler\] t_max = '1'" --set sample.paths=1000 --set sampler.method=pc
expect_van "reverse-em, beta_max = 1e6" "\[sampler\] t_max = '1'.*a_t = 0" --set sample.paths=1000 \
  --set schedule.type=vp-linear --set schedule.beta_max=1e6
if "$fpkit" sample "$van" -o "$tmp/anc.h5" --quiet --set sample.paths=1000 --set sampler.method=ancestral
then ok "ancestral (exact transitions) from vp-cosine's T runs"; else bad "ancestral refused"; fi
cut=$src/tests/defects/diffusion/grid_not_covering_target_l1.ini
ratio() { /usr/bin/python3 -c "
import h5py, sys
a = h5py.File(sys.argv[1], 'r')['sample'].attrs
print(f\"{a['l1_error'] / a['l1_floor']:.2f} {a['outside']:.3f}\")" "$1"; }
for dim in 1 2; do
  extra=()
  [ $dim = 2 ] && extra=(--set data.dim=2 --set "data.means=-2 0 1.5 1" --set "data.stds=0.4 0.5 0.6 0.3"
    --set grid.dim=2 --set "grid.n=60 60" --set "grid.lo=-1 -5" --set "grid.hi=5 5")
  if "$fpkit" sample "$cut" -o "$tmp/cut$dim.h5" --quiet --set sample.paths=40000 "${extra[@]}" &&
     r=$(ratio "$tmp/cut$dim.h5") && /usr/bin/python3 -c "
import sys; r, o = map(float, sys.argv[1:]); sys.exit(0 if r < 1.5 and o > 0.2 else 1)" $r; then
    ok "${dim}D exact sampler on a box cutting 30% off: L1/floor, outside = $r"
  else bad "${dim}D exact sampler on a cut box: L1/floor, outside = ${r:-?}"; fi
done
rm -f "$tmp/neg.h5"
msg=$("$fpkit" sample "$cut" -o "$tmp/neg.h5" --quiet --set sample.paths=100 --set "data.stds=-0.4 0.6" 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -Eq "\[data\] stds = '-0.4 0.6'.*deviation 1 = -0.4 must be positive" <<<"$msg" &&
   [ ! -e "$tmp/neg.h5" ]; then ok "negative std: $msg"; else bad "negative std: exit $rc, $msg"; fi
# rho outside the EDM grid: an unknown key (was accepted and ignored)
d=$(cd "$(dirname "$0")/../defects/diffusion" && pwd)
rm -f "$tmp/rho.h5"
msg=$("$fpkit" sample "$d/rho_ignored_silently.ini" -o "$tmp/rho.h5" --quiet 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -q "unknown key 'rho'" <<<"$msg" && [ ! -e "$tmp/rho.h5" ]; then
  ok "rho with reverse-sde: $msg"; else bad "rho with reverse-sde: exit $rc, $msg"; fi
# start = prior with t_max < T: N(0, b_tmax^2 I) (was b_T: 9 floors off on OU at t_max = T/2).
# One step to t_min just below t_max barely moves the points: their variance is the start's.
if "$fpkit" sample "$d/prior_start_uses_bT_not_btmax.ini" -o "$tmp/prior.h5" --quiet \
     --set sampler.t_min=0.4999 --set sampler.steps=1 &&
   /usr/bin/python3 - "$tmp/prior.h5" <<'PY'
import sys, h5py, math
f = h5py.File(sys.argv[1], "r")
a = f["sample"].attrs
btmax2 = 1 - math.exp(-2 * a["t_max"])  # OU theta 1, sigma sqrt 2 (the reproducer's schedule)
v = f["sample/cov"][()].ravel()[0]
print(f"b_tmax^2 {btmax2:.4f} (b_T^2 {1 - math.exp(-2):.4f}), start variance {v:.4f}")
sys.exit(0 if abs(v / btmax2 - 1) < 0.03 else 1)
PY
then ok "start = prior draws N(0, b_tmax^2)"; else bad "start = prior"; fi

# ---- session 2 of the hostile review (reproducers in tests/defects/diffusion) ----
# refused, key named, no file: a box missing the target (L1 ~ 0 measured nothing), a one-level
# DSM score (it diverged to 1e10), sigma_max with one annealed level (ignored), ladder keys
# without a ladder (ignored), pf-ode's t_max at vp-cosine's T (no key named), a handful of
# points (a sampling floor above 2), an exactly singular covariance (accepted: scores of 1e16)
ref() { # name, regex, config, args...
  expect_refused "$1" "$2" "$tmp/bad.h5" "$fpkit" sample "$d/$3" -o "$tmp/bad.h5" --quiet "${@:4}"
}
ref "box missing the target" "grid_misses_target_l1_zero_2d.ini:[0-9]+: \[grid\] lo = '-5 -5': the \[grid\] box holds 5.69e-65 of the target's mass" \
  grid_misses_target_l1_zero_2d.ini
ref "one DSM level" "\[score\] levels = '1'" dsm_one_level_sampler_diverges_exit0.ini
ref "sigma_max with one level" "unknown key 'sigma_max'" keys_accepted_and_ignored.ini
ref "ladder key without a ladder" "unknown key 'ladder_metric'" small_paths_l1_floor_above_2.ini \
  --set sample.paths=2000 --set sampler.steps=16 --set sampler.ladder_metric=ks
ref "pf-ode t_max at vp-cosine's T" "pfode_tmax_refusal_names_no_key.ini:[0-9]+: \[sampler\] t_max = '1'" \
  pfode_tmax_refusal_names_no_key.ini
ref "one point" "\[sample\] paths = '1'" small_paths_l1_floor_above_2.ini
ref "singular covariance" "\[data\] covs = .*covariance 1 is not positive definite" \
  dps_sample_score_attr_says_exact.ini --set "data.covs=1 0.6 0.6 0.36 0.5 -0.2 -0.2 0.8"
# a sampler that blows up is an error (exit 3, the sampler named), not a result file
diverged() { # name, config, args...
  local name=$1 ini=$2
  rm -f "$tmp/div.h5"
  local msg rc
  msg=$("$fpkit" sample "$d/$ini" -o "$tmp/div.h5" --quiet "${@:3}" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 3 ] && grep -q "sampler diverged" <<<"$msg" && [ ! -e "$tmp/div.h5" ]; then
    ok "$name: exit 3: ${msg:0:110}..."; else bad "$name: exit $rc: $msg"; fi
}
diverged "heun just inside vp-cosine's t_max guard" vpcosine_near_T_diverges_exit0.ini \
  --set sampler.family=pf-ode --set sampler.method=heun --set sampler.grid=time-uniform \
  --set sample.paths=2000
diverged "a DSM score that cannot fit VE" dsm_ve_girsanov_on_box_negative_kl.ini
# /sample score names DPS; the 2D target by quadrature: an exact sampler within its floors
if "$fpkit" sample "$d/dps_sample_score_attr_says_exact.ini" -o "$tmp/dps.h5" --quiet \
     --set sample.paths=2000 && /usr/bin/python3 -c "
import h5py, sys; sys.exit(0 if h5py.File('$tmp/dps.h5')['sample'].attrs['score'] == 'dps' else 1)"
then ok "/sample score = dps"; else bad "/sample score with dps"; fi
if "$fpkit" sample "$d/grid_2d_midpoint_bias_exact_sampler.ini" -o "$tmp/mid.h5" --quiet \
     --set sample.paths=300000 && r=$(ratio "$tmp/mid.h5") && /usr/bin/python3 -c "
import sys; sys.exit(0 if float(sys.argv[1]) < 1.5 else 1)" $r; then
  ok "2D exact sampler, cells as wide as a component's sd: L1/floor, outside = $r (midpoint: ~5)"
else bad "2D cell probabilities: L1/floor, outside = ${r:-?}"; fi
# the reverse-time FP check: vp-cosine with the spectral solver froze at the start density (its
# stabilising diffusion was sampled at t = T, where beta is infinite: L1 1.21, exit 0); 2D
# spectral compared point values with cell averages (O(h^2): 2e-3 at 128^2)
fpl1() { /usr/bin/python3 -c "
import h5py, sys; v = h5py.File(sys.argv[1], 'r')['fp'].attrs['l1_to_exact']
print(f'{v:.3g}'); sys.exit(0 if v < float(sys.argv[2]) else 1)" "$1" "$2"; }
if "$fpkit" sample "$d/fp_spectral_vpcosine_solution_frozen.ini" -o "$tmp/fpc.h5" --quiet \
     --set fp.dt=2e-5 --set grid.n=128 && m=$(fpl1 "$tmp/fpc.h5" 1e-4); then
  ok "spectral FP check under vp-cosine: L1 $m (was 1.21)"; else bad "vp-cosine spectral FP: ${m:-}"; fi
if "$fpkit" sample "$d/fp_spectral_2d_point_values_as_cell_averages.ini" -o "$tmp/fp2.h5" --quiet \
     --set "grid.n=64 64" && m=$(fpl1 "$tmp/fp2.h5" 1e-4); then
  ok "2D spectral FP check, 64^2: L1 $m (point values: ~9e-3)"; else bad "2D spectral FP: ${m:-}"; fi
summary sample_defects
