#!/usr/bin/env bash
# FIXED (h16-hostile, src/app/model_config.c read_kramers; run by tests/cli/noise_defects.sh).
# What: [model] type = kramers read `amplitude` and `period` for every potential, but the double
#   well U = x^4/4 - x^2/2 uses neither and the harmonic potential has no period: the keys were
#   accepted and silently ignored (type = langevin refuses them as unknown).
# Expected: exit 1, "unknown key 'amplitude'" (double-well) / "unknown key 'period'" (harmonic,
#   double-well); tilted-cosine keeps both, harmonic keeps amplitude.
# Observed (b148995): potential = double-well with amplitude = 3 (or period = 7) runs, exit 0, and
#   gives bit for bit the density of amplitude = 1: the user believes the barrier is 3x higher
#   (severity: wrong number with exit 0).
# Command: bash tests/defects/noise/01-kramers-ignored-amplitude.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/k.ini" <<'INI'
[model]
type = kramers
potential = double-well
beta = 4
gamma = 1
[init]
mean = -1 0
std = 0.3
[grid]
lo = -2.5 -3
hi = 2.5 3
n = 64
[time]
t_end = 0.05
n_out = 2
[fp]
enabled = false
[mc]
paths = 100
dt = 0.01
seed = 1
INI
status=0
check() { # check EXPECT(refused|runs) POTENTIAL SETTINGS...
  local want=$1 pot=$2; shift 2
  local msg rc
  msg=$("$fpkit" run "$tmp/k.ini" -o "$tmp/o.h5" -q --set model.potential="$pot" "$@" 2>&1)
  rc=$?
  echo "  $pot $*: exit $rc ${msg:0:160}"
  if [ "$want" = refused ]; then
    { [ $rc -eq 1 ] && grep -q "unknown key" <<<"$msg"; } || status=1
  else
    [ $rc -eq 0 ] || status=1
  fi
}
check refused double-well --set model.amplitude=3
check refused double-well --set model.period=7
check refused harmonic --set model.period=7
check runs harmonic --set model.amplitude=2
check runs tilted-cosine --set model.amplitude=0.5 --set model.period=2.5 --set 'grid.bc=periodic'
exit $status
