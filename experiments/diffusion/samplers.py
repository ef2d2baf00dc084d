#!/usr/bin/python3
"""Parts (a) and (b) of experiments/diffusion (README.md): error against NFE of every
probability-flow ODE sampler and of reverse-SDE Euler-Maruyama, with fitted orders.

  samplers.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/diffusion/pfode_<method>_<grid>.h5 and revsde_{1d,2d}.h5 (`fpkit sample`
steps ladders written by run.sh), writes the figure RESULTS_DIR/diffusion_nfe.* and
RESULTS_DIR/diffusion/samplers_summary.json.

(a) The 1D two-mode mixture under VP (mixture1d.ini): the probability-flow map from t_max = 1 to
t_min = 1e-3 is F_{t_min}^-1 o F_{t_max}, so each path's endpoint error is exact (fpkit's
/sample map_error); the order is fitted by `fpkit sample` itself (fpk_fit_order, the fitting of
`fpkit converge`: least squares on log error against log NFE over the rungs with steps >= 32,
95% interval from Student's t). Targets: every order within 0.15 of its nominal value with a 95%
interval narrower than +-0.15; to a mean endpoint error of 1e-3, DPM-Solver-2 and -3 need at least
4x fewer evaluations than Euler on the common logSNR grid; against Euler on its best (time-
uniform) grid DPM-Solver-3 needs at least 4x fewer and DPM-Solver-2 at least 1.8x (docs/
diffusion.md: 2.1x measured at 1e-3, 6.6x at 1e-4).
(b) Reverse-SDE Euler-Maruyama: KS distance (1D) and grid TV = L1/2 (2D, mixture2d.ini) to the
exact p_{t_min}, fitted over the rungs clear of the sampling floor. Target: weak order within
[0.75, 1.35] (1 in theory).
"""
import glob
import os
import sys

from common import Checks, convergence, fplot, open_sample, parser, write_summary
import numpy as np

NOMINAL = {"euler": 1, "ddim": 1, "heun": 2, "dpm-solver-2": 2, "dpm-solver-3": 3,
           "dpm-solver++2m": 2}


def nfe_to(nfe, err, tol):
    """NFE at which the ladder crosses tol, log-log interpolated (NaN if not bracketed)."""
    for k in range(len(err) - 1):
        if err[k] >= tol > err[k + 1]:
            s = (np.log(tol) - np.log(err[k])) / (np.log(err[k + 1]) - np.log(err[k]))
            return float(np.exp(np.log(nfe[k]) + s * (np.log(nfe[k + 1]) - np.log(nfe[k]))))
    return float(nfe[0]) if err[0] < tol else float("nan")


def main():
    args = parser(__doc__).parse_args()
    formats = args.format
    check = Checks()
    files = sorted(glob.glob(os.path.join(args.results, "diffusion", "pfode_*.h5")))
    if not files:
        print(f"samplers.py: no {args.results}/diffusion/pfode_*.h5 (did run.sh run?)",
              file=sys.stderr)
        return 2
    summary = {"pfode": {}, "revsde": {}}
    fig, (ax, bx) = fplot.figure(columns=2, aspect=0.42, nrows=1, ncols=2)
    print("(a) probability-flow ODE, 1D mixture, exact map error (mean over paths)")
    print(f"  {'sampler':15s} {'grid':15s} {'order [95% interval]':26s} {'NFE to 1e-3':>11s} "
          f"{'1e-4':>8s}")
    need3, need4 = {}, {}
    for k, p in enumerate(files):
        with open_sample(p) as r:
            c = convergence(r)
            method, grid = r.method, str(r.info["grid"])
        nfe, err = c["nfe"], c["error"]
        order, lo, hi = c["order"], c["order_ci_lo"], c["order_ci_hi"]
        n3, n4 = nfe_to(nfe, err, 1e-3), nfe_to(nfe, err, 1e-4)
        need3[(method, grid)], need4[(method, grid)] = n3, n4
        summary["pfode"][f"{method}/{grid}"] = dict(order=order, ci=[lo, hi], nfe_1e3=n3,
                                                     nfe_1e4=n4, nfe=nfe.tolist(),
                                                     error=err.tolist())
        print(f"  {method:15s} {grid:15s} {order:.3f} [{lo:.3f}, {hi:.3f}]        {n3:11.1f} "
              f"{n4:8.1f}")
        nominal = NOMINAL[method]
        check(abs(order - nominal) <= 0.15 and (hi - lo) / 2 < 0.15,
              f"{method} ({grid}): order {order:.3f} within 0.15 of {nominal}, interval "
              f"+-{(hi - lo) / 2:.3f} < 0.15")
        used = c["used"] > 0
        col = fplot.CYCLE[k % len(fplot.CYCLE)]
        ax.loglog(nfe, err, "o-", ms=2.5, lw=0.8, color=col,
                  label=f"{method} ({grid.replace('-uniform', '')}) {order:.2f}")
        ax.loglog(nfe[~used], err[~used], "o", ms=4, mfc="none", color=col)
    ax.axhline(1e-3, color="0.6", lw=0.5, ls=":")
    ax.set_xlabel("NFE")
    ax.set_ylabel("mean |x - exact map|")
    fplot.panel_label(ax, "(a) PF-ODE, 1D")
    ax.legend(fontsize=5.5, loc="lower left")
    e_log, e_time = need3[("euler", "logsnr-uniform")], need3[("euler", "time-uniform")]
    d2, d3 = need3[("dpm-solver-2", "logsnr-uniform")], need3[("dpm-solver-3", "logsnr-uniform")]
    print(f"  NFE to 1e-3: Euler (logSNR) / DPM-Solver-2 = {e_log / d2:.1f}, / DPM-Solver-3 = "
          f"{e_log / d3:.1f}; Euler (time-uniform) / DPM-Solver-2 = {e_time / d2:.2f}, "
          f"/ DPM-Solver-3 = {e_time / d3:.1f}")
    e4 = need4[("euler", "time-uniform")]
    print(f"  NFE to 1e-4: Euler (time-uniform) / DPM-Solver-2 = "
          f"{e4 / need4[('dpm-solver-2', 'logsnr-uniform')]:.1f}, / DPM-Solver-3 = "
          f"{e4 / need4[('dpm-solver-3', 'logsnr-uniform')]:.1f}")
    check(e_log >= 4 * d2 and e_log >= 4 * d3,
          "DPM-Solver-2 and -3 need >= 4x fewer NFE than Euler to 1e-3 on the logSNR grid")
    check(e_time >= 4 * d3 and e_time >= 1.8 * d2,
          "against time-uniform Euler: DPM-Solver-3 >= 4x fewer, DPM-Solver-2 >= 1.8x")
    summary["pfode"]["nfe_ratios_1e3"] = dict(euler_logsnr_dpm2=e_log / d2,
                                              euler_logsnr_dpm3=e_log / d3,
                                              euler_time_dpm2=e_time / d2,
                                              euler_time_dpm3=e_time / d3)

    print("(b) reverse-SDE Euler-Maruyama against the exact p_tmin")
    for dim, metric in ((1, "ks"), (2, "l1_error")):
        p = os.path.join(args.results, "diffusion", f"revsde_{dim}d.h5")
        if not os.path.exists(p):
            check(False, f"{p} missing")
            continue
        with open_sample(p) as r:
            c = convergence(r)
        nfe, err = c["nfe"], c["error"] * (0.5 if dim == 2 else 1.0)
        order, lo, hi = c["order"], c["order_ci_lo"], c["order_ci_hi"]
        name = "KS (1D)" if dim == 1 else "TV (2D)"
        print(f"  {name}: " + " ".join(f"{e:.4g}" for e in err) + f" at NFE "
              + " ".join(f"{int(n)}" for n in nfe) + f"; order {order:.3f} [{lo:.3f}, {hi:.3f}]")
        check(c["metric"] == metric, f"{name}: the ladder's metric is {c['metric']}")
        check(0.75 <= order <= 1.35, f"reverse-EM weak order from {name} {order:.3f} in "
              "[0.75, 1.35]")
        check(bool(np.all(np.diff(err) < 0)), f"{name} decreasing in N")
        summary["revsde"][f"{dim}d"] = dict(metric=name, order=order, ci=[lo, hi],
                                            nfe=nfe.tolist(), error=err.tolist())
        used = c["used"] > 0
        col = fplot.CYCLE[dim - 1]
        bx.loglog(nfe, err, "o-", ms=2.5, lw=0.8, color=col, label=f"{name}, order {order:.2f}")
        bx.loglog(nfe[~used], err[~used], "o", ms=4, mfc="none", color=col)
    ref = np.array([8, 128.0])
    bx.loglog(ref, 0.3 * 8 / ref, "k--", lw=0.5, label="NFE$^{-1}$")
    bx.set_xlabel("NFE")
    bx.set_ylabel("distance to $p_{t_{min}}$")
    fplot.panel_label(bx, "(b) reverse-SDE EM")
    bx.legend(fontsize=6)
    fplot.save(fig, os.path.join(args.results, "diffusion_nfe"), formats)
    write_summary(args.results, "samplers", summary)
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
