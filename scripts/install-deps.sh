#!/usr/bin/env bash
# Installs the Debian packages fpkit needs to build, test, run experiments and draw figures.
# Used by README.md, .ci/run and users alike. Why each dependency: docs/dependencies.md.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config
  libgsl-dev          # linear algebra (Van Loan exponential, Lyapunov), special functions
  libfftw3-dev        # spectral FP solver, FFT kernels
  libhdf5-dev         # output of every field
  libcmocka-dev       # unit tests
  librandom123-dev    # counter-based Philox random streams
  libinih-dev         # INI config parsing
  libsuitesparse-dev  # UMFPACK sparse direct LU for implicit FV steps in 2D/3D
  libmatheval-dev     # model expressions, parsed and differentiated symbolically
  libgccjit-12-dev    # model expressions compiled to native code at run time (optional: FPK_JIT)
  libopenblas-serial-dev  # BLAS products of the separable Gibbs kernels (grid Sinkhorn)
  # MPI (docs/parallel.md; optional at build time): processes for ensembles, sweeps and the 3D
  # spectral solver, FFTW's distributed transforms, HDF5's collective writes. libhdf5-openmpi-dev
  # sits beside libhdf5-dev (the MPI build is the one fpkit links where both are installed).
  openmpi-bin libopenmpi-dev libfftw3-mpi-dev libhdf5-openmpi-dev
  python3 python3-numpy python3-matplotlib python3-h5py   # figures, benchmark peer
  python3-xarray python3-h5netcdf   # the test that opens every output as labelled arrays
  doxygen             # the API reference (cmake --build build --target docs)
  # the fuzz run of scripts/test.sh (scripts/fuzz.sh): clang, its libFuzzer and sanitizer
  # runtimes, its OpenMP, and llvm-symbolizer for readable stacks
  clang libclang-rt-14-dev libomp-14-dev llvm-14
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
