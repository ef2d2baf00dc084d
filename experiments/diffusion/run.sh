#!/usr/bin/env bash
# Diffusion-model dynamics with exact scores: experiments with `fpkit sample` (README.md here;
# docs/diffusion.md):
#  (a) every probability-flow ODE sampler on the 1D two-mode mixture under VP, against the exact
#      map F_tmin^-1 o F_tmax: error vs NFE ladders, fitted orders with 95% intervals, NFE to 1e-3
#                                                   -> results/diffusion/pfode_<method>_<grid>.h5
#  (b) reverse-SDE Euler-Maruyama: KS (1D) and grid TV (2D) to the exact p_tmin vs NFE
#                                                   -> results/diffusion/revsde_{1d,2d}.h5
#  (c) the reverse-time Fokker-Planck equation with the exact score reproduces the forward
#      marginal: spectral (dt ladder) and finite volumes (h ladder); eta = 0 (PF-ODE continuity)
#                                                   -> results/diffusion/fp_*.h5
#  (d) denoising score matching: the fit's loss against the exact minimum per noise level, the
#      sampler with the fitted score, and its KL within the Girsanov bound
#                                                   -> results/diffusion/dsm_*.h5
#  (e) Langevin vs annealed Langevin on a two-mode mixture with unequal weights (TV and mode
#      weight over the iterations), and a 2D demonstration -> results/diffusion/langevin_*.h5
#  (f) posterior sampling: inpainting one coordinate of a 2D mixture, exact posterior score vs
#      DPS vs Langevin on the posterior                 -> results/diffusion/posterior_*.h5
# then samplers.py, fpcheck.py, dsm.py, langevin.py, posterior.py: the numbers on stdout, one
# [ok]/[FAIL] line per target, figures results/diffusion_*.png and
# results/diffusion/*_summary.json.
# Usage: bash experiments/diffusion/run.sh [BUILD_DIR] [--format pdf|svg|png] (default: build),
# from anywhere. Exit status: non-zero if a command fails or a target is missed.
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
py=/usr/bin/python3 # Debian's python3 has numpy/matplotlib/h5py; a pyenv python3 may not
cd "$root"
out=results/diffusion
mkdir -p "$out"
export OMP_WAIT_POLICY=passive
start=$SECONDS
step() { echo; echo "== $* ($((SECONDS - start)) s elapsed)"; }
sample() { "$fpkit" sample "$@" --quiet --force; }
status=0
m1=$here/mixture1d.ini
m2=$here/mixture2d.ini

step "(a) probability-flow ODE samplers: exact map error vs NFE, steps 8 .. 4096 (fit from 32)"
ladder="8 16 32 64 128 256 512 1024 2048 4096"
for case in euler:time-uniform euler:logsnr-uniform ddim:logsnr-uniform heun:edm \
            dpm-solver-2:logsnr-uniform dpm-solver-3:logsnr-uniform dpm-solver++2m:logsnr-uniform; do
  method=${case%%:*} grid=${case#*:}
  sample "$m1" -o "$out/pfode_${method}_${grid}.h5" --set sampler.method="$method" \
    --set sampler.grid="$grid" --set "sampler.steps=$ladder" --set sampler.fit_min_steps=32
done

step "(b) reverse-SDE Euler-Maruyama: KS (1D, 10^6 paths) and TV (2D, 10^6 paths) vs NFE"
sample "$m1" -o "$out/revsde_1d.h5" --set sampler.family=reverse-sde --set sampler.method=reverse-em \
  --set "sampler.steps=8 16 32 64 128" --set sampler.ladder_metric=ks --set sample.paths=1000000
# 2D: t_min = 0.05 so that the asymptotic range starts within the ladder (at t_min = 0.01 the
# last time-uniform steps, wider than t_min, keep the TV pre-asymptotic up to ~100 steps)
sample "$m2" -o "$out/revsde_2d.h5" --set "sampler.steps=4 8 16 32 64" --set "grid.n=36 36" \
  --set sample.paths=1000000 --set sampler.t_min=0.05 --set sampler.fit_min_steps=8

step "(c) reverse-time Fokker-Planck with the exact score against the forward marginal"
for dt in 0.001 0.0005 0.00025 0.000125; do
  sample "$m1" -o "$out/fp_spectral_dt$dt.h5" --set fp.solver=spectral --set fp.dt=$dt \
    --set grid.n=256 --set grid.lo=-8 --set grid.hi=8 --set sample.paths=1000
done
sample "$m1" -o "$out/fp_spectral_eta0.h5" --set fp.solver=spectral --set fp.dt=0.00025 \
  --set fp.eta=0 --set grid.n=256 --set grid.lo=-8 --set grid.hi=8 --set sample.paths=1000
for n in 100 200 400 800; do
  sample "$m1" -o "$out/fp_fv_n$n.h5" --set fp.solver=fv --set fp.dt=0.0005 --set grid.n=$n \
    --set grid.lo=-8 --set grid.hi=8 --set sample.paths=1000
done

step "(d) denoising score matching: fit, sampler, Girsanov bound"
sample "$m1" -o "$out/dsm_fit.h5" --set score.model=dsm --set fp.solver=fv --set fp.dt=0.001 \
  --set grid.n=400 --set grid.lo=-6 --set grid.hi=6 --set sampler.method=dpm-solver-3 \
  --set sampler.steps=30 --set sample.paths=100000
sample "$m1" -o "$out/dsm_exact.h5" --set fp.solver=fv --set fp.dt=0.001 \
  --set grid.n=400 --set grid.lo=-6 --set grid.hi=6 --set sampler.method=dpm-solver-3 \
  --set sampler.steps=30 --set sample.paths=100000

step "(e) Langevin vs annealed Langevin, same budget (5000 score evaluations per point)"
l1=$here/langevin1d.ini l2=$here/langevin2d.ini
ula=(--set sampler.method=ula --set sampler.step=0.01 --set sampler.iterations=5000)
mala=(--set sampler.method=mala --set sampler.step=0.01 --set sampler.iterations=5000)
annealed=(--set sampler.method=annealed --set sampler.levels=100 --set sampler.steps_per_level=50
          --set sampler.eps=1e-3 --set sampler.sigma_max=10 --set sampler.sigma_min=0.05)
sample "$l1" -o "$out/langevin1d_ula.h5" "${ula[@]}"
sample "$l1" -o "$out/langevin1d_mala.h5" "${mala[@]}"
sample "$l1" -o "$out/langevin1d_annealed.h5" "${annealed[@]}"
sample "$l2" -o "$out/langevin2d_ula.h5" "${ula[@]}"
sample "$l2" -o "$out/langevin2d_annealed.h5" "${annealed[@]}"

step "(f) posterior sampling: inpainting, exact posterior score vs DPS vs MALA"
p2=$here/posterior2d.ini
sample "$p2" -o "$out/posterior_ode_exact.h5" --set sampler.steps=30
sample "$p2" -o "$out/posterior_ode_dps.h5" --set sampler.steps=30 --set observation.score=dps
# with [fp]: the reverse-time FP equation with the same score, the sampler's exact law
sample "$p2" -o "$out/posterior_sde_exact.h5" --set sampler.family=reverse-sde \
  --set sampler.method=reverse-em --set sampler.steps=200 --set fp.solver=fv --set fp.dt=0.002
sample "$p2" -o "$out/posterior_sde_dps.h5" --set sampler.family=reverse-sde \
  --set sampler.method=reverse-em --set sampler.steps=200 --set observation.score=dps \
  --set fp.solver=fv --set fp.dt=0.002
sample "$p2" -o "$out/posterior_mala.h5" --set sampler.family=langevin --set sampler.method=mala \
  --set sampler.step=0.1 --set sampler.iterations=500 --set sample.start=uniform

step "figures and checks"
$py "$here/samplers.py" -r results "${formats[@]}" || status=1
$py "$here/fpcheck.py" -r results "${formats[@]}" || status=1
$py "$here/dsm.py" -r results "${formats[@]}" || status=1
$py "$here/langevin.py" -r results "${formats[@]}" || status=1
$py "$here/posterior.py" -r results "${formats[@]}" || status=1
echo
echo "experiments/diffusion: $((SECONDS - start)) s, status $status"
exit $status
