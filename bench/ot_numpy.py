#!/usr/bin/env python3
"""NumPy peer of bench/bench_ot.c's dense case (issue 5; run both with bench/run_ot.sh).

Same problem, same data, same iteration as fpkit's "plain" row (eps_start = eps, omega = 1,
check every iteration):
  n points in 1D against n points, uniform weights a = b = 1/n, cost C_ij = (x_i - y_j)^2,
  u_i = (i + 1/2)/n, x_i = (sqrt(3)/pi) log(u_i/(1 - u_i)), y_j = -log1p(-u_j) - 1/2
  (the closed forms of bench_ot.c, so both programs build the same doubles to rounding).
Log-domain Sinkhorn from f = 0, g = T_b(f):
  f_hat = T_a(g): f_hat_i = -eps LSE_j(log b_j + g_j/eps - C_ij/eps), the row maximum subtracted;
  error = sum_i a_i |expm1((f_i - f_hat_i)/eps)|  (= ||pi 1 - a||_1 of the pair (f, g), whose
          columns are exact after the g-step): stop when <= tol (1e-9), else
  f = f_hat; g = T_b(f) (the same with C^T).
An iteration is one T_a (+ one T_b unless it stopped), the count fpkit reports. Each LSE is
timed in its fastest NumPy form: -C/eps (and its transpose, C-contiguous) formed once, then per
half-step np.add(in[None, :], -C/eps, out=T), T.max(axis=1), T -= max[:, None],
np.exp(T, out=T), T.sum(axis=1) -- one preallocated n x m buffer, no temporaries of that size.
By default the rows are processed in blocks of 256 (the scratch block stays in cache: about 20%
faster than the whole matrix at n = 2000); --whole uses one n x m scratch instead.
The value reported is the dual D(f, g) = <f, a> + <g, b> - eps (sum pi - 1) and the transport
cost <pi, C> of the final pair (one more pass, inside the timed region like fpkit's final
evaluation).

Optional: POT (not in Debian: built from source, its directory in FPK_POT_DIR, which run_ot.sh
prepends to PYTHONPATH) when `import ot` works: ot.sinkhorn(a, b, C, reg=eps,
method='sinkhorn_log', stopThr=tol) with its own stopping rule (it checks the column marginal
every 10 iterations, and its regulariser reg*sum(pi log pi) differs from fpkit's KL: compare the
plan and the iterations, not the value).

Usage: ot_numpy.py [n [eps [reps]]] [--whole] [--pot]   (defaults 2000 0.25 3). NumPy's ufuncs and
reductions are single-threaded.
       ot_numpy.py --line n eps L [l1|l2]   POT's kernel mode (ot.sinkhorn, method='sinkhorn') on
the 1D grid problem of issue 15 (see pot_line), one timed call.
"""
import math
import sys
import time

import numpy as np


def points(n):
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    x = math.sqrt(3.0) / math.pi * np.log(u / (1 - u))
    y = -np.log1p(-u) - 0.5
    return x, y


def lse_rows(in_, negC, T, out):
    """out_i = log sum_j exp(in_j + negC_ij), row maximum subtracted; T: scratch of negC's shape."""
    np.add(in_[None, :], negC, out=T)
    mx = T.max(axis=1)
    T -= mx[:, None]
    np.exp(T, out=T)
    s = T.sum(axis=1)
    np.log(s, out=out)
    out += mx
    return out


def lse_rows_blocked(in_, negC, T, out, block):
    """lse_rows over blocks of `block` rows (T: block x m scratch), so each block's scratch stays
    in cache: about 20% faster than the whole matrix at n = 2000 (6.5 against 8 ns per entry)."""
    n = negC.shape[0]
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        lse_rows(in_, negC[i0:i1], T[: i1 - i0], out[i0:i1])
    return out


def sinkhorn_log(a, b, C, eps, tol, max_iter, block=256):
    n, m = C.shape
    negC = C * (-1.0 / eps)
    negCT = np.ascontiguousarray(negC.T)
    Tn = np.empty((n, m))
    Tm = Tn if n == m else np.empty((m, n))
    if block > 0:
        Tbn, Tbm = np.empty((block, m)), np.empty((block, n))

        def lse_n(in_, out):
            return lse_rows_blocked(in_, negC, Tbn, out, block)

        def lse_m(in_, out):
            return lse_rows_blocked(in_, negCT, Tbm, out, block)
    else:

        def lse_n(in_, out):
            return lse_rows(in_, negC, Tn, out)

        def lse_m(in_, out):
            return lse_rows(in_, negCT, Tm, out)
    loga, logb = np.log(a), np.log(b)
    f = np.zeros(n)
    g = np.empty(m)
    fh = np.empty(n)
    inv = 1.0 / eps

    def T_b(f, out):  # g = -eps LSE_i(log a_i + f_i/eps - C_ij/eps)
        lse_m(loga + f * inv, out)
        out *= -eps
        return out

    def T_a(g, out):
        lse_n(logb + g * inv, out)
        out *= -eps
        return out

    T_b(f, g)
    it = 0
    err = math.inf
    while it < max_iter:
        T_a(g, fh)
        it += 1
        err = float(np.dot(a, np.abs(np.expm1((f - fh) * inv))))
        if err <= tol:
            break
        f, fh = fh, f
        T_b(f, g)
    # value of (f, g): row sums r_i = a_i exp((f_i - fh_i)/eps), columns exact
    r = a * np.exp((f - fh) * inv)
    mass = float(r.sum())
    dual = float(np.dot(f, a) + np.dot(g, b) - eps * (mass - 1.0))
    # <pi, C>, pi_ij = exp(log a_i + f_i/eps + log b_j + g_j/eps - C_ij/eps)
    np.add((logb + g * inv)[None, :], negC, out=Tn)
    Tn += (loga + f * inv)[:, None]
    np.exp(Tn, out=Tn)
    cost = float(np.einsum("ij,ij->", Tn, C))
    return f, g, it, err, dual, cost


def line_problem(n, L):
    """The 1D grid problem of issue 15 (bench_ot.c's line_problem, the same closed forms): n cells
    of [0, L], centres x_i = (i + 1/2) L/n for source and target, cost |x - y|^2,
    a ~ exp(-(x - 0.35 L)^2 / (2 (0.12 L)^2)), b ~ exp(-(x - 0.65 L)^2 / (2 (0.10 L)^2))."""
    x = (np.arange(n, dtype=np.float64) + 0.5) * L / n
    da = (x - 0.35 * L) / (0.12 * L)
    db = (x - 0.65 * L) / (0.10 * L)
    a = np.exp(-0.5 * da * da)
    b = np.exp(-0.5 * db * db)
    return x, a / a.sum(), b / b.sum()


def pot_line(n, eps, L, variant):
    """POT's kernel mode, ot.sinkhorn(a, b, C, reg=eps, method='sinkhorn'), timed (the call only:
    C is given, as fpkit's solve is timed after its cost is set). POT's stopping test is the L2
    norm of the column-marginal error, checked every 10 iterations (ot/bregman/_sinkhorn.py,
    sinkhorn_knopp); after its last u-update the rows are exact. variant 'l1': stopThr =
    1e-9/sqrt(n), so that ||.||_1 <= sqrt(n) ||.||_2 makes its L1 error <= 1e-9, the tolerance
    fpkit is given; variant 'l2': stopThr = 1e-9, as a user would call it (its L1 error is then
    ~1e-8). The achieved L1 errors (rows + columns) and the value in fpkit's convention,
    <P, C> + eps KL(P | a x b), are computed here from the plan POT returns."""
    import warnings
    import ot  # POT

    x, a, b = line_problem(n, L)
    C = (x[:, None] - x[None, :]) ** 2
    thr = 1e-9 / math.sqrt(n) if variant == "l1" else 1e-9
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0, c0 = time.perf_counter(), time.process_time()
        P, log = ot.sinkhorn(a, b, C, reg=eps, method="sinkhorn", stopThr=thr,
                             numItermax=1000000, log=True)
        el, cl = time.perf_counter() - t0, time.process_time() - c0
    warned = ";".join(sorted({str(w.message).split(" at iteration")[0].replace(" ", "_")
                              for w in caught}))
    with np.errstate(all="ignore"):
        ea = float(np.abs(P.sum(axis=1) - a).sum())
        eb = float(np.abs(P.sum(axis=0) - b).sum())
        cost = float((P * C).sum())
        ab = a[:, None] * b[None, :]
        pos = P > 0
        kl = float((P[pos] * np.log(P[pos] / ab[pos])).sum() - P.sum() + 1.0)
    finite = bool(np.isfinite(P).all())
    print(f"pot line variant={variant} method=sinkhorn version={ot.__version__} n={n} eps={eps:g} "
          f"L={L:g} stopThr={thr:.3g} iters={log.get('niter', -1)} wall={el:.5f} cpu={cl:.5f} "
          f"err_plan={ea + eb:.3e} err_rows={ea:.3e} err_cols={eb:.3e} finite={int(finite)} "
          f"primal={cost + eps * kl:.15g} cost={cost:.15g} warnings={warned or '-'}", flush=True)


def main():
    if "--line" in sys.argv:  # POT's kernel mode on the issue-15 problem: --line n eps L variant
        args = [s for s in sys.argv[1:] if not s.startswith("--")]
        try:
            import ot  # noqa: F401
        except ImportError:
            print("pot skipped: `import ot` fails (set FPK_POT_DIR to a POT build)", flush=True)
            return
        pot_line(int(args[0]), float(args[1]), float(args[2]), args[3] if len(args) > 3 else "l1")
        return
    args = [s for s in sys.argv[1:] if not s.startswith("--")]
    want_pot = "--pot" in sys.argv
    block = 0 if "--whole" in sys.argv else 256
    n = int(args[0]) if len(args) > 0 else 2000
    eps = float(args[1]) if len(args) > 1 else 0.25
    reps = int(args[2]) if len(args) > 2 else 3
    tol = 1e-9
    x, y = points(n)
    a = np.full(n, 1.0 / n)
    b = np.full(n, 1.0 / n)
    print(f"numpy dense-problem n={n} eps={eps:g} tol={tol:g} sum_x={x.sum():.15g} "
          f"sum_y={y.sum():.15g} x0={x[0]:.15g} y_last={y[-1]:.15g}", flush=True)
    C = (x[:, None] - y[None, :]) ** 2
    best = best_cpu = math.inf
    worst = 0.0
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        f, g, it, err, dual, cost = sinkhorn_log(a, b, C, eps, tol, 1000000, block)
        el, cl = time.perf_counter() - t0, time.process_time() - c0
        best, worst, best_cpu = min(best, el), max(worst, el), min(best_cpu, cl)
    print(f"numpy dense mode=plain threads=1 form={'blocked' + str(block) if block else 'whole'} "
          f"n={n} eps={eps:g} iters={it} wall={best:.4f} "
          f"wall_max={worst:.4f} cpu={best_cpu:.4f} ms_per_iter={1e3 * best / it:.4f} "
          f"err={err:.3e} converged={int(err <= tol)} dual={dual:.12g} cost={cost:.12g}",
          flush=True)
    if not want_pot:
        return
    try:
        import ot  # POT
    except ImportError:
        print("pot skipped: `import ot` fails (set FPK_POT_DIR to a POT build)", flush=True)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    P, log = ot.sinkhorn(a, b, C, reg=eps, method="sinkhorn_log", stopThr=tol,
                         numItermax=1000000, log=True)
    el, cl = time.perf_counter() - t0, time.process_time() - c0
    # the fpkit plan of (f, g) from the peer above, to compare
    Pf = np.exp((f[:, None] + g[None, :] - C) / eps) * a[:, None] * b[None, :]
    row_err = float(np.abs(P.sum(axis=1) - a).sum())
    print(f"pot dense method=sinkhorn_log version={ot.__version__} n={n} eps={eps:g} "
          f"iters={log.get('niter', -1)} wall={el:.4f} cpu={cl:.4f} "
          f"ms_per_iter={1e3 * el / max(1, log.get('niter', 1)):.4f} err={row_err:.3e} "
          f"cost={float((P * C).sum()):.12g} plan_maxdiff={float(np.abs(P - Pf).max()):.3e} "
          f"plan_l1diff={float(np.abs(P - Pf).sum()):.3e}", flush=True)


if __name__ == "__main__":
    main()
