#!/usr/bin/env bash
# FIXED (lead, src/sde/stability.c fpk_sde_step_check, called by fpk_mc_run, fpk_sde_ladder, km
#   and at [mc] dt in fpkit run; tests/cli/noise_defects.sh, tests/test_sde_noise.c).
# What: the Monte Carlo engine checks that every path stays finite, not that the step is stable.
#   An unstable step makes the paths grow geometrically; while they stay below ~1e154 the run
#   ends normally with absurd moments, and when the squares overflow the HDF5 writer stops on an
#   infinite error norm with "a solver produced a value its checks did not catch; please report
#   it". The new kinetic steppers (BAOAB, OBABO: stable for dt < 2/omega on a harmonic well) share
#   it with Euler-Maruyama.
# Expected: an error naming the stepper, dt and the instability (for a linear model the one-step
#   propagator's spectral radius is known before the run), or at least a refusal when the
#   ensemble's moments explode.
# Observed (b148995): harmonic Kramers model (kappa = 1.5, gamma = 0.7), baoab, dt = 2.5, t_end
#   500, [exact] off: exit 0, /mc/cov = 2.4e251 (the true covariance is diag(1/6, 1/4));
#   with [exact] on: exit 3 with the writer's "please report it" message. OU 2D (A = [[1, 0.3],
#   [-0.2, 1.5]]), euler-maruyama, dt = 5: exit 0, covariance ~1e60 (severity: wrong number with
#   exit 0).
# Command: bash tests/defects/noise/13-mc-unstable-step-exit0.sh build/fpkit
# Exit status: 0 when fpkit behaves as expected, 1 when the defect reproduces.
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '[model]\ntype = kramers\npotential = harmonic\nbeta = 4\ngamma = 0.7\namplitude = 1.5\n[init]\nmean = 0.5 0.2\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 64\n[time]\nt_end = 500\nn_out = 2\n[fp]\nenabled = false\n[exact]\nenabled = false\n[mc]\npaths = 100\ndt = 2.5\nstepper = baoab\nseed = 5\n' > "$tmp/k.ini"
msg=$("$fpkit" run "$tmp/k.ini" -o "$tmp/o.h5" -q 2>&1); rc=$?
echo "  baoab dt = 2.5: exit $rc ${msg:0:200}"
if [ $rc -eq 0 ]; then
  /usr/bin/python3 -c "import h5py; print('  /mc/cov(t_end) =', h5py.File('$tmp/o.h5')['mc/cov'][-1].ravel())"
  exit 1
fi
grep -q "please report" <<<"$msg" && exit 1
grep -q "is unstable for the linear model kramers-harmonic" <<<"$msg" || exit 1
# the 2D OU with Euler-Maruyama at dt = 5 (stable for dt < 2/1.3 = 1.538)
printf '[model]\ntype = ou\ndim = 2\nA = 1 0.3 -0.2 1.5\nmu = 0 0\nsigma = 0.5 0.5\n[init]\nmean = 0.5 0.2\nstd = 0.3\n[grid]\nlo = -4\nhi = 4\nn = 64\n[time]\nt_end = 50\nn_out = 2\n[fp]\nenabled = false\n[mc]\npaths = 100\ndt = 5\nseed = 5\n' > "$tmp/o.ini"
msg=$("$fpkit" run "$tmp/o.ini" -o "$tmp/o2.h5" -q 2>&1); rc=$?
echo "  euler-maruyama dt = 5: exit $rc ${msg:0:240}"
[ $rc -ne 0 ] && [ ! -e "$tmp/o2.h5" ] && grep -q "use dt < 1.54" <<<"$msg" || exit 1
"$fpkit" run "$tmp/o.ini" -o "$tmp/o3.h5" -q --set mc.dt=1.5 || exit 1
exit 0
