#!/usr/bin/env python3
"""Vectorised NumPy peers of bench/bench_sde.c (issue 4; run both with bench/run_sde.sh).

Same problems, same numbers of paths and steps, T = 1, h = T/nsteps, float64, one
rng.standard_normal over all paths per step (np.random.default_rng, PCG64 + ziggurat):
  em-ou         dX = -θ(X - μ) dt + σ dW, θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1): Euler–Maruyama
                (the loops of bench/em_ou1d_numpy.py, imported from it);
  em-ou-expr    the same loop with nsteps_expr steps: NumPy has no expression models, a formula
                is written as NumPy code, so the peer of the expression model is the same OU loop;
  milstein-gbm  dX = μ X dt + σ X dW, μ = 0.05, σ = 0.2, X_0 ~ N(1, 0.1²): Milstein,
                X += h μ X + σ X ΔW + ½ σ² X (ΔW² − h);
  em-gbm        the same GBM by Euler–Maruyama;
  milstein-gbm-expr  the milstein-gbm loop with nsteps_expr steps.
Each is timed in place: normals drawn into a preallocated array (out=), in-place updates, no
temporaries, the update factored as far as the model allows (GBM: X *= 1 + μh + σ√h z +
½σ²h(z² − 1), by Horner in z) -- the fastest form, the one run_sde.sh's ratios use. With
--expression-forms, em-ou and milstein-gbm are also timed as usually written (temporaries, e.g.
x = x + h*μ*x + σ*x*dw + 0.5*σ*σ*x*(dw*dw - h)); these take about three times as long to run.
Usage: sde_numpy.py [--expression-forms] [npaths [nsteps [nsteps_expr]]].
NumPy's elementwise ops are single-threaded.
"""
import sys
import time

import numpy as np

from em_ou1d_numpy import run_expression as ou_em_expression
from em_ou1d_numpy import run_inplace as ou_em_inplace

GBM_MU, GBM_SIGMA, GBM_X0, GBM_SD0, T, SEED = 0.05, 0.2, 1.0, 0.1, 1.0, 1


def gbm_milstein_inplace(npaths, nsteps):
    rng = np.random.default_rng(SEED)
    h = T / nsteps
    k = GBM_SIGMA * np.sqrt(h)            # σ√h
    a2 = 0.5 * GBM_SIGMA * GBM_SIGMA * h  # ½σ²h
    c0 = 1.0 + GBM_MU * h - a2            # factor = c0 + z (k + a2 z)
    x = GBM_X0 + GBM_SD0 * rng.standard_normal(npaths)
    z = np.empty(npaths)
    w = np.empty(npaths)
    for _ in range(nsteps):
        rng.standard_normal(out=z)
        np.multiply(z, a2, out=w)
        w += k
        w *= z
        w += c0
        x *= w
    return x


def gbm_milstein_expression(npaths, nsteps):
    rng = np.random.default_rng(SEED)
    h = T / nsteps
    x = GBM_X0 + GBM_SD0 * rng.standard_normal(npaths)
    for _ in range(nsteps):
        dw = np.sqrt(h) * rng.standard_normal(npaths)
        x = x + h * GBM_MU * x + GBM_SIGMA * x * dw + 0.5 * GBM_SIGMA * GBM_SIGMA * x * (dw * dw - h)
    return x


def gbm_em_inplace(npaths, nsteps):
    rng = np.random.default_rng(SEED)
    h = T / nsteps
    k = GBM_SIGMA * np.sqrt(h)
    c0 = 1.0 + GBM_MU * h
    x = GBM_X0 + GBM_SD0 * rng.standard_normal(npaths)
    z = np.empty(npaths)
    for _ in range(nsteps):
        rng.standard_normal(out=z)
        z *= k
        z += c0
        x *= z
    return x


def bench(case, form, fn, npaths, nsteps):
    best = best_cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        x = fn(npaths, nsteps)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    ps = npaths * nsteps
    print(f"numpy  {case} ({form}): {npaths} paths x {nsteps} steps, 1 thread: {best:.3f} s, "
          f"{ps / best:.3e} path-steps/s/core (per CPU-second {ps / best_cpu:.3e}; "
          f"{best_cpu / ps * 1e9:.2f} ns/path-step; mean {x.mean():.4f} var {x.var(ddof=1):.4f}) "
          f"[numpy {np.__version__}]", flush=True)


def main():
    args = sys.argv[1:]
    forms = "--expression-forms" in args
    args = [a for a in args if a != "--expression-forms"]
    npaths = int(args[0]) if len(args) > 0 else 1_000_000
    nsteps = int(args[1]) if len(args) > 1 else 200
    nsteps_expr = int(args[2]) if len(args) > 2 else 10
    bench("em-ou", "in-place", ou_em_inplace, npaths, nsteps)
    if forms:
        bench("em-ou", "expression", ou_em_expression, npaths, nsteps)
    bench("em-ou-expr", "in-place", ou_em_inplace, npaths, nsteps_expr)
    bench("milstein-gbm", "in-place", gbm_milstein_inplace, npaths, nsteps)
    if forms:
        bench("milstein-gbm", "expression", gbm_milstein_expression, npaths, nsteps)
    bench("em-gbm", "in-place", gbm_em_inplace, npaths, nsteps)
    bench("milstein-gbm-expr", "in-place", gbm_milstein_inplace, npaths, nsteps_expr)


if __name__ == "__main__":
    main()
