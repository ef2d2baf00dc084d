#!/usr/bin/env python3
"""Euler–Maruyama on 1D OU, vectorised NumPy: the reference for bench/bench_em_ou1d.c.

Same problem: dX = -θ(X - μ) dt + σ dW, θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1), T = 1,
1e6 paths x 200 steps; one rng.standard_normal(N) per step (PCG64), in-place updates.
Usage: em_ou1d_numpy.py [npaths [nsteps]]. Run with a single BLAS/OpenMP thread (NumPy's
elementwise ops are single-threaded anyway).
"""
import sys
import time

import numpy as np


def run(npaths, nsteps, theta=1.0, mu=0.0, sigma=1.0, T=1.0, seed=1):
    rng = np.random.default_rng(seed)
    h = T / nsteps
    a = 1.0 - theta * h          # x + h(-θ(x - μ)) = a x + θ h μ
    c = theta * h * mu
    k = sigma * np.sqrt(h)
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


def main():
    npaths = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    nsteps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    best = best_cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        x = run(npaths, nsteps)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    rate = npaths * nsteps / best
    print(f"numpy  EM OU1d: {npaths} paths x {nsteps} steps, 1 thread: {best:.3f} s, "
          f"{rate:.3e} path-steps/s/core (per CPU-second {npaths * nsteps / best_cpu:.3e}; "
          f"mean {x.mean():.4f} var {x.var(ddof=1):.4f}) [numpy {np.__version__}]")


if __name__ == "__main__":
    main()
