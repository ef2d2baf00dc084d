#!/usr/bin/env bash
# The 3D spectral step (bench_spectral3d) at N^3 on 1 and 2 ranks (1 thread each) and on 1 rank
# with 2 threads: step/floor per run and the strong-scaling efficiency T1 / (2 T2).
# Usage: bash bench/run_spectral3d.sh [BUILD_DIR] [N]     (defaults: build, 128)
set -euo pipefail
build=${1:-build}
N=${2:-128}
bin=$build/bench/bench_spectral3d
mpi=${FPK_MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
one=$(OMP_NUM_THREADS=1 "$bin" "$N" 4 3 | tee /dev/stderr)
two=$(OMP_NUM_THREADS=1 "$mpi" -n 2 "$bin" "$N" 4 3 | tee /dev/stderr)
OMP_NUM_THREADS=2 "$bin" "$N" 4 3
t1=$(sed -n 's/.*: step \([0-9.]*\) ms.*/\1/p' <<< "$one")
t2=$(sed -n 's/.*: step \([0-9.]*\) ms.*/\1/p' <<< "$two")
awk -v a="$t1" -v b="$t2" 'BEGIN { printf "strong scaling 1 -> 2 ranks: %.1f ms -> %.1f ms, speed-up %.2f, efficiency %.0f%%\n", a, b, a / b, 100 * a / (2 * b) }'
