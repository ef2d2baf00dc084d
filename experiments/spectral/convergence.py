#!/usr/bin/python3
"""Spectral study (a): exponential convergence in N on the tilted periodic potential.

Usage:
    /usr/bin/python3 experiments/spectral/convergence.py [RESULTS_DIR] [-o OUTDIR]

Reads RESULTS_DIR/tilted_n<N>.h5, tilted_ref.h5 (N = 256) and the tilted_nodealias_* runs that
experiments/spectral/run.sh writes (default RESULTS_DIR: results/spectral). Writes
OUTDIR/spectral_convergence.png (default OUTDIR: results;
.pdf/.svg/.png with --format pdf|svg|png, repeatable or a comma list) and
RESULTS_DIR/convergence.json.

Two errors against N, both L1 = sum |p - q| h over the N cells:
  (i)  stationary: /stationary/spectral (null vector of the dense collocation operator) against
       /stationary/exact, the driver's closed form (Risken's formula for a tilted periodic
       potential, cell averages); cross-checked here against the same formula evaluated
       independently by Gauss-Legendre quadrature in numpy.
  (ii) time-dependent: /spectral/density at t = 1 (ETDRK4, dt = 1e-3) against the N = 256 run at
       the same dt, projected exactly onto the N cells (its Fourier coefficients from its cell
       averages, every mode kept, each mode's average over a coarse cell).
Rates: least-squares slope of log10(error) against N over the points above ROUNDOFF.
Targets (exit status 1 if missed): stationary L1 < 1e-11 at the largest N; time-dependent L1 <
1e-11 at the largest N (default dealiasing); the Python cross-check of /stationary/exact within
1e-12.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

ROUNDOFF = 1e-13     # errors below this are treated as the round-off plateau: not fitted
TARGET_STAT = 1e-11
TARGET_TIME = 1e-11
TARGET_XCHECK = 1e-12


def model_params(run):
    cp = run["config"]  # the stored configuration, parsed by fpkit (dict of sections)
    m = cp["model"]
    return {"beta": float(m["beta"]), "amplitude": float(m.get("amplitude", "1")),
            "period": float(m["period"]), "tilt": float(m.get("tilt", "0").split()[0])}


def risken_cells(par, lo, hi, n):
    """Stationary density of dX = (-U' + F) dt + sqrt(2/beta) dW, U = -A cos(2 pi x / P), on the
    torus [lo, hi) (hi - lo = P), as cell averages with unit mass (Risken 1989, sec. 11.3):
        p(x) ~ int_x^{x+P} exp(beta (U(y) - U(x)) - beta F (y - x)) dy."""
    beta, a, period, f = par["beta"], par["amplitude"], par["period"], par["tilt"]
    k = 2.0 * np.pi / period
    xg, wg = np.polynomial.legendre.leggauss(40)

    def u(x):
        return -a * np.cos(k * x)

    def p(x):
        out = np.zeros_like(x)
        panels = 8
        half = 0.5 * period / panels
        for q in range(panels):
            y = (x + (2 * q + 1) * half)[..., None] + half * xg
            out += (np.exp(beta * (u(y) - u(x)[..., None]) - beta * f * (y - x[..., None]))
                    * wg).sum(-1) * half
        return out

    c = C.gauss_legendre_cells(p, lo, hi, n, panels=2, order=20)
    return c / (c.sum() * (hi - lo) / n)


def fit_rate(ns, errs):
    ns, errs = np.asarray(ns, float), np.asarray(errs, float)
    sel = errs > ROUNDOFF
    if sel.sum() < 3:
        return None
    slope, icpt = C.fit_line(ns[sel], np.log10(errs[sel]))
    return {"slope_log10_per_N": slope, "intercept": icpt, "N_fitted": [int(v) for v in ns[sel]],
            "alpha": -slope * np.log(10.0)}


def time_errors(pairs, ref):
    """L1 at the last output time of each (N, path) run against ref projected onto its grid."""
    cref = C.need(ref, "spectral", "density")[-1]
    out = []
    for n, path in pairs:
        r = C.read_run(path)
        if abs(r["spectral"]["t"][-1] - ref["spectral"]["t"][-1]) > 1e-12 or \
                r["spectral"]["dt"] != ref["spectral"]["dt"]:
            raise C.InputError(f"{path}: not at the reference's final time and step")
        q = C.project_cell_averages(cref, ref["lo"], ref["hi"], r["n"])
        out.append(C.l1(r["spectral"]["density"][-1], q, r["h"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default="results/spectral")
    ap.add_argument("-o", "--outdir", default="results")
    args = C.parse_args(ap)
    chk = C.Checks("convergence.py (a)")

    runs = C.runs_matching(args.results, r"tilted_n(\d+)\.h5", int)
    ref = C.read_run(os.path.join(args.results, "tilted_ref.h5"))
    nd_runs = C.runs_matching(args.results, r"tilted_nodealias_n(\d+)\.h5", int)
    nd_ref = C.read_run(os.path.join(args.results, "tilted_nodealias_ref.h5"))
    par = model_params(ref)

    ns, stat, xcheck, have_exact = [], [], [], True
    for n, path in runs:
        r = C.read_run(path)
        st = C.need(r, "stationary", "spectral")
        py = risken_cells(par, r["lo"], r["hi"], r["n"])
        if "exact" in r["stationary"]:
            ex = r["stationary"]["exact"]
            e = float(r["stationary"]["attrs"]["spectral"].get("l1_vs_exact", C.l1(st, ex, r["h"])))
            xcheck.append(C.l1(ex, py, r["h"]))
        else:
            have_exact = False
            e = C.l1(st, py, r["h"])
            xcheck.append(np.nan)
        ns.append(n)
        stat.append(e)
    tdep = time_errors(runs, ref)
    tdep_nd = time_errors(nd_runs, nd_ref)
    ns_nd = [n for n, _ in nd_runs]

    fits = {"stationary": fit_rate(ns, stat), "time_dealias": fit_rate(ns, tdep),
            "time_nodealias": fit_rate(ns_nd, tdep_nd)}

    print(f"(a) tilted periodic potential: beta = {par['beta']:g}, amplitude = "
          f"{par['amplitude']:g}, period = {par['period']:.6g}, tilt = {par['tilt']:g}")
    ref_of_stat = ("/stationary/exact" if have_exact
                   else "numpy Risken quadrature (no /stationary/exact)")
    print(f"{'N':>4} {'stationary L1':>14} {'t=1 L1':>11} {'t=1 L1 nodeal':>14} "
          f"{'exact vs numpy':>15}")
    nd_map = dict(zip(ns_nd, tdep_nd))
    for i, n in enumerate(ns):
        print(f"{n:4d} {stat[i]:14.3e} {tdep[i]:11.3e} {nd_map.get(n, np.nan):14.3e} "
              f"{xcheck[i]:15.3e}")
    for k, f in fits.items():
        if f:
            print(f"  rate {k:15s}: log10(error) slope {f['slope_log10_per_N']:+.4f} per unit N "
                  f"(error ~ exp(-{f['alpha']:.3f} N)) over N = "
                  f"{f['N_fitted'][0]}..{f['N_fitted'][-1]}")

    i_first = next((i for i, e in enumerate(stat) if e < TARGET_STAT), None)
    chk.check(stat[-1] < TARGET_STAT,
              f"stationary L1 vs {ref_of_stat} at N = {ns[-1]}: {stat[-1]:.2e} < {TARGET_STAT:g}"
              + (f" (first below at N = {ns[i_first]})" if i_first is not None else ""))
    chk.check(tdep[-1] < TARGET_TIME,
              f"time-dependent L1 vs projected N = {ref['n']} reference at N = {ns[-1]}: "
              f"{tdep[-1]:.2e} < {TARGET_TIME:g}")
    chk.check(have_exact, "/stationary/exact present (the driver's closed form)")
    if have_exact:
        worst = float(np.nanmax(xcheck))
        chk.check(worst < TARGET_XCHECK,
                  f"/stationary/exact vs independent numpy quadrature: max L1 {worst:.2e} "
                  f"< {TARGET_XCHECK:g}")
    for k, f in fits.items():
        chk.check(f is not None and f["slope_log10_per_N"] < 0,
                  f"{k}: an exponential rate could be fitted (negative slope)")

    C.write_json(os.path.join(args.results, "convergence.json"), {
        "study": "(a) convergence in N, tilted periodic potential", "params": par,
        "reference_stationary": ref_of_stat,
        "reference_time": f"N = {ref['n']} run (same dt = {ref['spectral']['dt']}), projected",
        "t": float(ref["spectral"]["t"][-1]), "N": ns, "l1_stationary": stat,
        "l1_time_dealias": tdep, "N_nodealias": ns_nd, "l1_time_nodealias": tdep_nd,
        "l1_exact_vs_numpy": xcheck, "roundoff_threshold": ROUNDOFF, "fits": fits,
        "failed": chk.failed})

    # ---- figure
    fig, (ax0, ax1) = fplot.figure(columns=2, aspect=0.62, nrows=1, ncols=2,
                                   gridspec_kw={"width_ratios": [1, 1.35]})
    xr = ref["x"]
    ax0.plot(xr, ref["spectral"]["density"][0], color="grey", label="initial, t = 0")
    ax0.plot(xr, ref["spectral"]["density"][-1], color=fplot.method_colour("spectral"),
             label=f"t = {ref['spectral']['t'][-1]:g} (N = {ref['n']})")
    stat_ref = ref["stationary"].get("exact", risken_cells(par, ref["lo"], ref["hi"], ref["n"]))
    ax0.plot(xr, stat_ref, "k--", label="stationary (Risken, exact)")
    ax0.set_xlabel("x")
    ax0.set_ylabel("density (cell averages)")
    ax0.set_xlim(ref["lo"], ref["hi"])
    ax0.set_ylim(bottom=0)
    fplot.panel_label(ax0, f"β = {par['beta']:g}, U = −{par['amplitude']:g}·cos x, "
                           f"F = {par['tilt']:g}")
    fplot.legend_outside(ax0, "bottom", ncol=1)

    series = [("stationary vs exact (Risken)", ns, stat, fits["stationary"],
               fplot.OKABE_ITO["black"], "o", "-"),
              (f"t = 1 vs N = {ref['n']}, dealiased (default)", ns, tdep, fits["time_dealias"],
               fplot.method_colour("spectral"), "s", "-"),
              (f"t = 1 vs N = {ref['n']}, no dealiasing", ns_nd, tdep_nd, fits["time_nodealias"],
               fplot.OKABE_ITO["bluish_green"], "^", "--")]
    for label, xs, ys, fit, col, mk, ls in series:
        ys = np.asarray(ys)
        ax1.semilogy(xs, np.maximum(ys, 1e-17), ls=ls, marker=mk, color=col,
                     label=label)
        if fit:
            xf = np.array([fit["N_fitted"][0], fit["N_fitted"][-1]])
            ax1.semilogy(xf, 10 ** (fit["intercept"] + fit["slope_log10_per_N"] * xf), ":",
                         color=col, lw=1.5,
                         label=f"  fit: slope {fit['slope_log10_per_N']:+.3f} decades/N "
                               f"(N = {xf[0]:.0f}–{xf[1]:.0f})")
    ax1.axhline(TARGET_STAT, color="grey", lw=0.8, ls="-.")
    ax1.text(ns[-1], TARGET_STAT * 1.6, "target 1e-11", ha="right", fontsize=6, color="grey")
    ax1.axhspan(1e-17, ROUNDOFF, color="grey", alpha=0.08)
    ax1.text(ns[0], ROUNDOFF * 0.4, "round-off: not fitted", fontsize=6, color="grey",
             va="top")
    ax1.set_ylim(1e-16, 1)
    ax1.set_xlabel("N (points on the torus)")
    ax1.set_ylabel(r"$L^1$ error")
    ax1.grid(True, which="major", alpha=0.3)
    fplot.legend_outside(ax1, "bottom", ncol=1)
    C.save(fig, os.path.join(args.outdir, "spectral_convergence.png"))
    return chk.exit_status()


if __name__ == "__main__":
    sys.exit(C.main_wrapper(main))
