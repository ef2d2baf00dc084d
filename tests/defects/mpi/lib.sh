# shellcheck shell=bash
# Shared by the reproducers of tests/defects/mpi/ (sourced): mpi NP ARGS... runs fpkit under
# mpirun (60 s limit: a hang is the defect or a failure), need_mpi skips (exit 0) without MPI.
# the scripts work in a temporary directory: fpkit by its absolute path
case $fpkit in /*) ;; *) fpkit=$(cd "$(dirname "$fpkit")" && pwd)/$(basename "$fpkit") ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_WAIT_POLICY=passive
MPIEXEC=${FPK_MPIEXEC:-$(command -v mpirun || true)}
need_mpi() {
  if [ "${FPK_HAVE_MPI:-1}" != 1 ] || [ -z "$MPIEXEC" ]; then
    echo "skipped: needs an MPI build of fpkit and mpirun"
    exit 0
  fi
  # an fpkit built without MPI refuses mpirun: nothing to reproduce
  if ! timeout 60 "$MPIEXEC" --oversubscribe -n 2 "$fpkit" --version >/dev/null 2>&1; then
    echo "skipped: this fpkit does not run under mpirun"
    exit 0
  fi
}
mpi() {
  local np=$1
  shift
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 60 "$MPIEXEC" --oversubscribe -n "$np" "$fpkit" "$@"
}
