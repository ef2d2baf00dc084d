#!/usr/bin/env bash
# FIXED (h16-hostile, src/fp/spectral.c guard_cause; run by tests/cli/noise_defects.sh).
# What: the spectral solver's guard names a likely cause when a density goes negative; for a
#   time step below the explicit-drift bound 2.8/(k_max max|b|) it always said "the density is
#   under-resolved ...: refine the grid". SBDF2's extrapolated drift is unstable on the imaginary
#   axis without diffusion damping (a Kramers model's position axis), so it blows up at steps
#   well inside that bound, and refining the grid makes it worse.
# Expected: exit 3 with a cause naming the unstable step (reduce dt, or scheme = etdrk4).
# Observed (b148995): harmonic Kramers model (beta 4, gamma 0.7, 64 x 64 periodic box +-4),
#   spectral sbdf2, dt = 0.01 (bound 0.0133): exit 3, "density = -1.04e+49 ... likely cause: the
#   density is under-resolved (spectral schemes do not preserve positivity): refine the grid, or
#   use method = fv" (severity: misleading message). etdrk4 at dt = 0.01 and 0.02 runs.
# Command: bash tests/defects/noise/02-spectral-sbdf2-blowup-blames-grid.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/k.ini" <<'INI'
[model]
type = kramers
potential = harmonic
beta = 4
gamma = 0.7
amplitude = 1.5
[init]
mean = 0.5 0.2
std = 0.3
[grid]
lo = -4
hi = 4
n = 64
bc = periodic
[time]
t_end = 3
n_out = 2
[fp]
method = spectral
[spectral]
scheme = sbdf2
dt = 0.01
[mc]
enabled = false
INI
status=0
msg=$("$fpkit" run "$tmp/k.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  sbdf2 dt = 0.01: exit $rc: ${msg##*likely cause: }"
{ [ $rc -eq 3 ] && grep -q "time step is unstable" <<<"$msg" && ! grep -q "refine the grid" <<<"$msg"; } || status=1
msg=$("$fpkit" run "$tmp/k.ini" -o "$tmp/o.h5" -q --set spectral.scheme=etdrk4 2>&1); rc=$?
echo "  etdrk4 dt = 0.01: exit $rc ${msg:0:200}"
[ $rc -eq 0 ] || status=1
exit $status
