#!/usr/bin/python3
"""The NumPy peer of bench/bench_diffusion.c (same mixture, points, schedule and sampler).

  diffusion_numpy.py [npoints [K [nsteps [reps]]]]

Vectorised over points and components: the responsibilities by a log-sum-exp over the K axis,
the precision matrices and log-determinants precomputed per call (as fpkit does per call), the
quadratic forms by einsum. One thread (OPENBLAS_NUM_THREADS=1 set by the run script)."""
import math
import sys
import time

import numpy as np


def mixture(K):
    k = np.arange(K, dtype=float)
    w = (1 + k) / (1 + k).sum()
    mu = np.stack([4 * np.cos(2 * np.pi * k / K), 4 * np.sin(2 * np.pi * k / K)], axis=1)
    S = np.zeros((K, 2, 2))
    S[:, 0, 0] = 0.3 + 0.02 * k
    S[:, 0, 1] = S[:, 1, 0] = 0.1
    S[:, 1, 1] = 0.25
    return w, mu, S


def points(n):
    i = np.arange(n, dtype=float)
    u = np.fmod(0.5 + i * 0.6180339887498949, 1.0)
    v = np.fmod(0.5 + i * 0.7548776662466927, 1.0)
    r, a = np.sqrt(-2 * np.log(1 - u)), 2 * np.pi * v
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)  # n × 2


def vp(t, bmin=0.1, bmax=20.0):
    B = bmin * t + 0.5 * (bmax - bmin) * t * t
    beta = bmin + t * (bmax - bmin)
    return math.exp(-0.5 * B), -math.expm1(-B), -0.5 * beta, beta


def score(x, t, w, mu, S):
    a, b2, _, _ = vp(t)
    C = a * a * S + b2 * np.eye(2)
    P = np.linalg.inv(C)                          # K × 2 × 2
    logdet = np.linalg.slogdet(C)[1]
    d = x[:, None, :] - a * mu[None, :, :]        # n × K × 2
    v = np.einsum("kij,nkj->nki", P, d)           # C⁻¹ (x − aμ)
    q = np.einsum("nki,nki->nk", d, v)
    lw = np.log(w)[None, :] - 0.5 * (2 * np.log(2 * np.pi) + logdet[None, :] + q)
    m = lw.max(axis=1, keepdims=True)
    r = np.exp(lw - m)
    r /= r.sum(axis=1, keepdims=True)
    return -np.einsum("nk,nki->ni", r, v)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    K = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    nsteps = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    w, mu, S = mixture(K)
    best = math.inf
    for _ in range(reps):
        x = points(n)
        t0 = time.perf_counter()
        sc = score(x, 0.5, w, mu, S)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy score n={n} K={K} wall={best:.4f} ns_per_point={1e9 * best / n:.2f} "
          f"ns_per_point_component={1e9 * best / (n * K):.3f} check={sc[0, 0] + sc[0, 1]:.12g}")
    best = math.inf
    for _ in range(reps):
        x = points(n)
        t0 = time.perf_counter()
        tmax, tmin = 1.0, 1e-3
        h = (tmax - tmin) / nsteps
        for k in range(nsteps):
            t = tmax - k * h
            sc = score(x, t, w, mu, S)
            _, _, f, g2 = vp(t)
            x -= h * (f * x - 0.5 * g2 * sc)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy sampler n={n} K={K} nfe={nsteps} wall={best:.4f} "
          f"samples_nfe_per_s={n * nsteps / best:.4e} check={x.mean():.12g}")


if __name__ == "__main__":
    main()
