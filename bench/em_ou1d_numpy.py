#!/usr/bin/env python3
"""Euler–Maruyama on 1D OU, vectorised NumPy: the reference for bench/bench_em_ou1d.c.

Same problem: dX = -θ(X - μ) dt + σ dW, θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1), T = 1,
1e6 paths x 200 steps, one rng.standard_normal over all paths per step (PCG64, ziggurat).
Two versions of the loop:
  in-place   : normals drawn into a preallocated array (out=), in-place updates, no temporaries
               (the fastest NumPy formulation we found; run_em.sh's ratio uses this one);
  expression : x = x + h*(-θ*(x - μ)) + σ*sqrt(h)*rng.standard_normal(N), as usually written.
Usage: em_ou1d_numpy.py [npaths [nsteps [reps]]] (reps: repetitions, best reported; default 3).
NumPy's elementwise ops are single-threaded.
"""
import sys
import time

import numpy as np

THETA, MU, SIGMA, T, SEED = 1.0, 0.0, 1.0, 1.0, 1


def run_inplace(npaths, nsteps):
    rng = np.random.default_rng(SEED)
    h = T / nsteps
    a = 1.0 - THETA * h          # x + h(-θ(x - μ)) = a x + θ h μ
    c = THETA * h * MU
    k = SIGMA * np.sqrt(h)
    x = rng.standard_normal(npaths)
    z = np.empty(npaths)
    for _ in range(nsteps):
        rng.standard_normal(out=z)
        z *= k
        x *= a
        x += z
        if c != 0.0:
            x += c
    return x


def run_expression(npaths, nsteps):
    rng = np.random.default_rng(SEED)
    h = T / nsteps
    x = rng.standard_normal(npaths)
    for _ in range(nsteps):
        x = x + h * (-THETA * (x - MU)) + SIGMA * np.sqrt(h) * rng.standard_normal(npaths)
    return x


def bench(name, fn, npaths, nsteps, reps):
    best = best_cpu = float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        x = fn(npaths, nsteps)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    ps = npaths * nsteps
    print(f"numpy  EM OU1d ({name}): {npaths} paths x {nsteps} steps, 1 thread: {best:.3f} s, "
          f"{ps / best:.3e} path-steps/s/core (per CPU-second {ps / best_cpu:.3e}; "
          f"mean {x.mean():.4f} var {x.var(ddof=1):.4f}) [numpy {np.__version__}]")


def main():
    npaths = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    nsteps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    bench("in-place", run_inplace, npaths, nsteps, reps)
    bench("expression", run_expression, npaths, nsteps, reps)


if __name__ == "__main__":
    main()
