#!/usr/bin/env bash
# Small outputs of every fpkit command, laid out as the experiments' run.sh scripts lay theirs
# out, for the Python reader's tests and the figure scripts' smoke test.
# Usage: bash tests/python/make_outputs.sh FPKIT_BINARY SOURCE_DIR OUTDIR
# Writes into OUTDIR:
#   ou1d.h5 ou2d.h5                      fpkit run, experiments/ou configs, small grids and paths
#   converge/em_ou.h5 converge/em_gbm.h5 fpkit converge, 2000 paths
#   bridge/bridge.h5                     fpkit bridge, 2000 paths, 500 repetitions
#   ot_*.h5                              fpkit ot, every file experiments/ot/plot.py reads, on
#                                        32..200-cell grids and 2-3 values of eps
#   spectral/*.h5                        fpkit run, every file experiments/spectral/*.py reads,
#                                        with short ladders
#   labels/st1d.h5 labels/sq2d.h5        fpkit run with lengths that coincide (dimension names
#                                        must come from the file, not from lengths): 20 output
#                                        times on 20 cells (1D, /stationary); 12 output times,
#                                        12 kept paths on a 12 x 12 grid (2D, /stationary)
# About 3 s on 2 cores.
set -euo pipefail
fpkit=${1:?usage: make_outputs.sh FPKIT_BINARY SOURCE_DIR OUTDIR}
src=${2:?usage: make_outputs.sh FPKIT_BINARY SOURCE_DIR OUTDIR}
out=${3:?usage: make_outputs.sh FPKIT_BINARY SOURCE_DIR OUTDIR}
ex=$src/experiments
mkdir -p "$out/converge" "$out/bridge" "$out/spectral" "$out/labels"
q=(--quiet --threads 1)

# fpkit run: the OU flagship, small.
"$fpkit" run "$ex/ou/ou1d.ini" -o "$out/ou1d.h5" "${q[@]}" --set grid.n=64 --set mc.paths=4000
"$fpkit" run "$ex/ou/ou2d.ini" -o "$out/ou2d.h5" "${q[@]}" --set grid.n=24 --set mc.paths=4000 \
  --set time.n_out=3

# fpkit converge: one strong + weak (discrete law) study, one with Monte Carlo weak errors.
for name in em_ou em_gbm; do
  "$fpkit" converge "$ex/converge/$name.ini" -o "$out/converge/$name.h5" --quiet \
    --set converge.paths=2000 >/dev/null
done

# fpkit bridge: all three parts, small.
"$fpkit" bridge "$ex/bridge/bridge.ini" -o "$out/bridge/bridge.h5" --quiet \
  --set bridge.paths=2000 --set bridge.steps=16 --set kolmogorov.paths=2000 \
  --set kolmogorov.steps=200 --set "kolmogorov.ladder=5 10 50 100" \
  --set ks_band.repetitions=500 --set ks_band.n=100 --set "ks_band.ladder=10 30" >/dev/null

# fpkit ot: the files experiments/ot/plot.py reads.
"$fpkit" ot "$ex/ot/gauss2d.ini" -o "$out/ot_gauss2d.h5" --quiet --set grid.n=32 \
  --set "ot.eps=3 1 0.3" >/dev/null
"$fpkit" ot "$ex/ot/gauss1d.ini" -o "$out/ot_gauss1d.h5" --quiet --set grid.n=200 \
  --set "ot.eps=1 0.3 0.1" >/dev/null
for kernel in fft lse auto; do
  "$fpkit" ot "$ex/ot/mixtures256.ini" -o "$out/ot_mixtures256_$kernel.h5" --quiet \
    --set grid.n=32 --set "ot.eps=20 0.5" --set ot.kernel=$kernel --set ot.potentials=last \
    >/dev/null
done
for dim in 1d 2d; do
  files=(--set "source.file=$out/ou$dim.h5" --set "target.file=$out/ou$dim.h5")
  "$fpkit" ot "$ex/ot/ou${dim}_fvmc.ini" -o "$out/ot_ou${dim}_fv_mc.h5" --quiet "${files[@]}" \
    --set ot.eps=0.1 >/dev/null
  "$fpkit" ot "$ex/ot/ou${dim}_fvmc.ini" -o "$out/ot_ou${dim}_fv_exact.h5" --quiet \
    "${files[@]}" --set ot.eps=0.1 --set target.dataset=/exact/density >/dev/null
done

# fpkit run: the spectral study's files, short ladders (the scripts' targets are not met at
# these sizes; the smoke test checks that they run and draw, not their exit status).
s=$out/spectral
cfg=$ex/spectral
for n in 16 24 32; do
  "$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_n$n.h5" "${q[@]}" --set grid.n=$n
  "$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_nodealias_n$n.h5" "${q[@]}" --set grid.n=$n \
    --set spectral.dealias=false --set stationary.enabled=false
done
"$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_ref.h5" "${q[@]}" --set grid.n=64
"$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_nodealias_ref.h5" "${q[@]}" --set grid.n=64 \
  --set spectral.dealias=false --set stationary.enabled=false
for dt in 0.1 0.05 0.025; do
  for scheme in etdrk4 sbdf2; do
    "$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_${scheme}_dt$dt.h5" "${q[@]}" --set grid.n=32 \
      --set stationary.enabled=false --set spectral.scheme=$scheme --set spectral.dt=$dt
  done
done
"$fpkit" run "$cfg/tilted.ini" -o "$s/tilted_dtref.h5" "${q[@]}" --set grid.n=32 \
  --set stationary.enabled=false --set spectral.scheme=etdrk4 --set spectral.dt=1e-3
for rep in 1 2; do
  for n in 50 100 200; do
    "$fpkit" run "$cfg/ou_periodic.ini" -o "$s/ou_fv_n${n}_r$rep.h5" "${q[@]}" \
      --set fp.method=fv --set grid.n=$n --set fp.dt=0.05
  done
  for n in 32 48 64; do
    "$fpkit" run "$cfg/ou_periodic.ini" -o "$s/ou_spectral_n${n}_r$rep.h5" "${q[@]}" \
      --set fp.method=spectral --set grid.n=$n --set spectral.dt=0.05 --set guard.negative_tol=1
  done
done
for beta in 1 2; do
  "$fpkit" run "$cfg/double_well.ini" -o "$s/dw_beta$beta.h5" "${q[@]}" --set model.beta=$beta \
    --set time.t_end=10
done

# fpkit run with coinciding lengths: n_out = cells (1D), n_out = nx = ny = kept paths (2D).
"$fpkit" run "$cfg/tilted.ini" -o "$out/labels/st1d.h5" "${q[@]}" --set grid.n=20 \
  --set time.n_out=20 --set fp.method=fv --set fp.dt=1e-2
"$fpkit" run "$ex/ou/ou2d.ini" -o "$out/labels/sq2d.h5" "${q[@]}" --set grid.n=12 \
  --set time.n_out=12 --set mc.paths=2000 --set mc.keep_paths=12 --set stationary.enabled=true
