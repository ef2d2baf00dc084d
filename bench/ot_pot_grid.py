#!/usr/bin/env python3
"""POT's peers of bench/bench_ot_grid.c (run both with bench/run_ot_grid.sh).

  ot_pot_grid.py conv N EPS [reps]      POT's convolutional Sinkhorn iteration on an N x N image
  ot_pot_grid.py kernel1d N EPS [reps]  POT's kernel-mode ot.sinkhorn on the 1D grid of bench_ot_grid
  ot_pot_grid.py conv_tts N EPS [tol [cap_s]]  POT's convolutional iteration run to an L1 tolerance

conv_tts: the iteration of conv from U = V = 1 until the L1 marginal error |U.convol(V) - A|_1
(the other marginal is exact after the V half-step) is <= tol (default 1e-9), checked every 10
iterations as POT's loops do (the check's product is counted in the time); at most cap_s (default
60) CPU seconds. When the cap stops it first, the iterations still needed are extrapolated from the
measured contraction over the last 20% of the run (err_k = err_j rho^(k - j)) and printed as
iters_extrap / cpu_extrap (extrapolated=1). Printed too: the cost <pi, C> of the plan
pi = U K V at the end, C = |x - y|^2 on POT's points linspace(0, 1, N)^2 (bench_ot_grid tts solves
the same problem: grid points i/(N - 1), the same a and b).

POT is imported from FPK_POT_DIR (prepended to sys.path) or the interpreter's own path; without it
the script prints "pot skipped: ..." and exits 0.

conv: "POT's convolutional iteration" is the Sinkhorn iteration of a two-marginal problem written
with POT's convolution operator, the one of ot.bregman.convolutional_barycenter2d
(ot/bregman/_convolutional.py, _get_convol_img_fn, log_domain=False): convol_imgs applies the
separable Gaussian kernel exp(-(t_i - t_j)^2/eps) (t = linspace(0, 1, N)) along both axes of an
image by two einsum products with the N x N matrices K1, K2. One iteration is
    KV = convol(V); U = A / KV; KU = convol(U); V = B / KU
(two kernel applications and two elementwise divisions, both half-steps), on the two Gaussian
bumps of bench_ot_grid. Printed: CPU and wall ms per iteration, best of reps (each >= ~0.3 s).

kernel1d: ot.sinkhorn(a, b, M, reg=EPS, method="sinkhorn", stopThr=tol, numItermax=10**6) with
the cell centres x_i = (i + 1/2)/N, a, b and M = (x - y)^2 of bench_ot_grid onedim. POT stops on
the L2 norm of the column-marginal error, checked every 10 iterations; stopThr is chosen as
1e-9/sqrt(N) so that its L1 error is at most about 1e-9 (printed: the achieved L1 errors of both
marginals, err_l1 = |pi 1 - a|_1 + |pi^T 1 - b|_1, and the cost <pi, M>). Times: best of reps.
"""
import os
import sys
import time

import numpy as np


def load_pot():
    d = os.environ.get("FPK_POT_DIR")
    if d:
        sys.path.insert(0, d)
    try:
        import ot  # noqa: F401
        return ot
    except Exception as e:  # pragma: no cover - reported, not raised
        print(f"pot skipped: cannot import ot ({e}); set FPK_POT_DIR to a POT build")
        return None


def bumps2(n):
    # cell centres of [0,1]^2 as bench_ot_grid (the kernel itself uses POT's linspace)
    x = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(x, x, indexing="ij")

    def bump(cx, cy, sd):
        p = np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * sd * sd))
        return p / p.sum()

    return bump(0.35, 0.40, 0.12), bump(0.65, 0.60, 0.10)


def run_conv(ot, n, eps, reps):
    from ot.bregman._convolutional import _get_convol_img_fn

    nx = ot.backend.NumpyBackend()
    a, b = bumps2(n)
    A, B = a[None], b[None]
    convol = _get_convol_img_fn(nx, n, n, eps, type_as=A)
    V = np.ones_like(A)
    U = np.ones_like(A)

    def it():
        nonlocal U, V
        KV = convol(V)
        U = A / KV
        KU = convol(U)
        V = B / KU

    t0 = time.perf_counter()
    it()
    t1 = time.perf_counter() - t0
    k = max(2, int(0.3 / max(t1, 1e-6)))
    best_c = best_w = 1e300
    for _ in range(reps):
        U = np.ones_like(A)
        V = np.ones_like(A)
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(k):
            it()
        best_w = min(best_w, (time.perf_counter() - w0) / k)
        best_c = min(best_c, (time.process_time() - c0) / k)
    print(f"pot conv n={n} eps={eps:g} cpu_ms={1e3 * best_c:.4g} wall_ms={1e3 * best_w:.4g} "
          f"pot={ot.__version__}")


def run_conv_tts(ot, n, eps, tol, cap):
    from ot.bregman._convolutional import _get_convol_img_fn

    nx = ot.backend.NumpyBackend()
    a, b = bumps2(n)
    A, B = a[None], b[None]
    convol = _get_convol_img_fn(nx, n, n, eps, type_as=A)
    U, V = np.ones_like(A), np.ones_like(A)
    hist = []
    it = 0
    err = np.inf
    c0, w0 = time.process_time(), time.perf_counter()
    while True:
        KV = convol(V)
        U = A / KV
        KU = convol(U)
        V = B / KU
        it += 1
        if it % 10 == 0:
            err = float(np.abs(U * convol(V) - A).sum())
            hist.append((it, err))
            if not np.isfinite(err) or err <= tol or time.process_time() - c0 > cap:
                break
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    # cost <pi, C> of pi = U K V with K = K1 (x) K2 on POT's points (the kernel _get_convol_img_fn
    # builds), C = C1 + C2: sum U . ((K1 o C1) V K2^T + K1 V (K2 o C2)^T)
    t = np.linspace(0, 1, n)
    C1 = (t[:, None] - t[None, :]) ** 2
    K1 = np.exp(-C1 / eps)
    cost = float((U[0] * ((K1 * C1) @ V[0] @ K1.T + K1 @ V[0] @ (K1 * C1).T)).sum())
    extra = "extrapolated=0"
    if not err <= tol:
        # stopped by the cap (or a non-finite error): extrapolate when the error still contracts
        extra = "extrapolated=1 iters_extrap=nan"
    if not err <= tol and np.isfinite(err) and len(hist) >= 2:
        j = hist[min(int(0.8 * len(hist)), len(hist) - 2)]
        rho = (err / j[1]) ** (1.0 / (it - j[0]))
        if 0 < rho < 1:
            more = np.log(tol / err) / np.log(rho)
            extra = (f"extrapolated=1 rho={rho:.8f} iters_extrap={it + more:.0f} "
                     f"cpu_extrap={cpu * (it + more) / it:.4g} wall_extrap={wall * (it + more) / it:.4g}")
        else:
            extra = f"extrapolated=1 rho={rho:.8f} iters_extrap=inf"
    print(f"pot conv_tts n={n} eps={eps:g} tol={tol:g} iters={it} cpu={cpu:.4g} wall={wall:.4g} "
          f"err_l1={err:.3e} cost={cost:.15g} {extra} pot={ot.__version__}")


def run_kernel1d(ot, n, eps, reps):
    x = (np.arange(n) + 0.5) / n
    a = np.exp(-((x - 0.3) ** 2) / (2 * 0.1 ** 2))
    b = np.exp(-((x - 0.65) ** 2) / (2 * 0.15 ** 2)) + 0.05
    a /= a.sum()
    b /= b.sum()
    M = (x[:, None] - x[None, :]) ** 2
    thr = 1e-9 / np.sqrt(n)
    best_c = best_w = 1e300
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        P, log = ot.sinkhorn(a, b, M, eps, method="sinkhorn", stopThr=thr, numItermax=10 ** 6,
                             log=True)
        best_w = min(best_w, time.perf_counter() - w0)
        best_c = min(best_c, time.process_time() - c0)
    err = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
    cost = float((P * M).sum())
    print(f"pot kernel1d n={n} eps={eps:g} iters={log['niter']} wall={best_w:.5g} cpu={best_c:.5g} "
          f"err_l1={err:.3e} cost={cost:.15g} pot={ot.__version__}")


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("conv", "kernel1d", "conv_tts"):
        print(__doc__, file=sys.stderr)
        return 2
    ot = load_pot()
    if ot is None:
        return 0
    n, eps = int(sys.argv[2]), float(sys.argv[3])
    if sys.argv[1] == "conv_tts":
        tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-9
        cap = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
        run_conv_tts(ot, n, eps, tol, cap)
        return 0
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    (run_conv if sys.argv[1] == "conv" else run_kernel1d)(ot, n, eps, reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
