#!/usr/bin/python3
"""Spectral study (d): the double well U = x^4/4 - x^2/2 at several inverse temperatures beta.

Usage:
    /usr/bin/python3 experiments/spectral/double_well.py [RESULTS_DIR] [-o OUTDIR]

Reads RESULTS_DIR/dw_beta<beta>.h5 written by experiments/spectral/run.sh (default RESULTS_DIR:
results/spectral). Writes OUTDIR/spectral_double_well.png (default OUTDIR: results;
.pdf/.svg instead of, or beside, .png with --format pdf|svg|png, repeatable or a comma list),
RESULTS_DIR/double_well.json and RESULTS_DIR/double_well.txt (the table).

Per beta:
  stationary  L1 = sum |p - g| h of /stationary/spectral (null vector of the dense collocation
              operator) against the Gibbs cell averages g = /stationary/exact (the driver's
              e^{-beta U}/Z by Gauss-Legendre quadrature, Z over the box). The same Gibbs cell
              averages are computed here independently (numpy Gauss-Legendre, 4 panels x 16
              points per cell) as a cross-check; they are the reference if /stationary/exact is
              missing. /stationary/fv (finite volumes, second order) is shown for contrast.
  relaxation  KL(p_t || pi) = /stationary/kl_spectral at the 40 output times, pi the Gibbs cell
              averages (recomputed here from /spectral/density as a cross-check). Fitted decay
              rate r: least squares of log KL against t over the window where KL is between
              1e-12 and 1e-3 of its initial value; compared with 2 gap, gap = /stationary/gap
              (smallest |Re lambda| of the collocation operator): KL ~ e^{-2 gap t}.
Targets (exit status 1 if missed): stationary L1 < 1e-10; the numpy cross-check of the Gibbs
cell averages within 1e-12; |r/2 - gap| / gap < 1e-3; max /spectral/edge_density < 1e-13 (the
box is wide enough).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

TARGET_L1 = 1e-10
TARGET_XCHECK = 1e-12
TARGET_RATE = 1e-3
TARGET_EDGE = 1e-13
WINDOW = (1e-12, 1e-3)  # fit where KL / KL(0) lies in this range


def beta_of(run):
    cp = run["config"]  # the stored configuration, parsed by fpkit (dict of sections)
    if cp["model"].get("potential") != "double-well":
        raise C.InputError(f"{run['path']}: not a double-well run")
    return float(cp["model"]["beta"])


def gibbs_cells(beta, lo, hi, n):
    c = C.gauss_legendre_cells(lambda x: np.exp(-beta * (0.25 * x**4 - 0.5 * x**2)), lo, hi, n,
                               panels=4, order=16)
    return c / (c.sum() * (hi - lo) / n)


def kl(p, q, h):
    """KL(p || q) = sum p log(p/q) h over cells with p > 0 (as in docs/hdf5-layout.md)."""
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])) * h)


def analyse(path):
    r = C.read_run(path)
    beta = beta_of(r)
    st = C.need(r, "stationary")
    g_py = gibbs_cells(beta, r["lo"], r["hi"], r["n"])
    have_exact = "exact" in st
    gibbs = st["exact"] if have_exact else g_py
    sp = C.need(r, "stationary", "spectral")
    res = {"beta": beta, "n": r["n"], "lo": r["lo"], "hi": r["hi"], "path": path,
           "have_exact": have_exact,
           "l1_spectral": C.l1(sp, gibbs, r["h"]),
           "l1_exact_vs_numpy": C.l1(st["exact"], g_py, r["h"]) if have_exact else None,
           "gap": float(C.need(r, "stationary", "gap")[0]),
           "edge_max": float(np.max(C.need(r, "spectral", "edge_density"))),
           "x": r["x"], "gibbs": gibbs, "spectral_stationary": sp}
    if have_exact and "l1_vs_exact" in st["attrs"]["spectral"]:
        res["l1_spectral_attr"] = float(st["attrs"]["spectral"]["l1_vs_exact"])
    if "fv" in st:
        res["fv_stationary"] = st["fv"]
        res["l1_fv"] = C.l1(st["fv"], gibbs, r["h"])
    t = r["spectral"]["t"]
    kl_py = np.array([kl(p, gibbs, r["h"]) for p in r["spectral"]["density"]])
    kl_fpk = st.get("kl_spectral")
    use_fpk = have_exact and kl_fpk is not None and np.all(np.isfinite(kl_fpk))
    klv = np.asarray(kl_fpk) if use_fpk else kl_py
    res["kl_source"] = ("/stationary/kl_spectral" if use_fpk
                        else "numpy KL vs Gibbs (no usable /stationary/kl_spectral)")
    sel = (klv > WINDOW[0] * klv[0]) & (klv < WINDOW[1] * klv[0])
    res["kl_fpkit_vs_numpy_max_rel"] = (
        float(np.max(np.abs(klv[sel] - kl_py[sel]) / kl_py[sel]))
        if use_fpk and sel.any() else None)
    res.update(t=t, kl=klv, window=sel, n_fit=int(sel.sum()))
    if sel.sum() >= 3:
        slope, icpt = C.fit_line(t[sel], np.log(klv[sel]))
        res["rate"] = -slope
        res["log_intercept"] = icpt
        res["rate_half"] = -slope / 2
        res["rel_diff"] = (-slope / 2 - res["gap"]) / res["gap"]
        res["t_fit"] = (float(t[sel][0]), float(t[sel][-1]))
    if "fv" in r and "kl_fv" in st:
        res["kl_fv"] = st["kl_fv"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default="results/spectral")
    ap.add_argument("-o", "--outdir", default="results")
    args = C.parse_args(ap)
    chk = C.Checks("double_well.py (d)")

    runs = C.runs_matching(args.results, r"dw_beta([0-9.]+)\.h5", float)
    rows = [analyse(p) for _, p in runs]

    head = (f"{'beta':>5} {'N':>4} {'box':>12} {'L1 spec vs Gibbs':>17} {'L1 fv vs Gibbs':>15} "
            f"{'gap':>10} {'fit rate/2':>11} {'rel diff':>9} {'fit t':>13} {'edge':>8}")
    lines = [head]
    for d in rows:
        fv = f"{d['l1_fv']:.2e}" if "l1_fv" in d else "-"
        rate = f"{d['rate_half']:.6f}" if "rate_half" in d else "-"
        rel = f"{d['rel_diff']:+.1e}" if "rel_diff" in d else "-"
        tf = f"{d['t_fit'][0]:.1f}-{d['t_fit'][1]:.1f}" if "t_fit" in d else "-"
        box = f"[{d['lo']:g}, {d['hi']:g}]"
        lines.append(f"{d['beta']:5g} {d['n']:4d} {box:>12} "
                     f"{d['l1_spectral']:17.2e} {fv:>15} {d['gap']:10.6f} {rate:>11} {rel:>9} "
                     f"{tf:>13} {d['edge_max']:8.1e}")
    table = "\n".join(lines)
    print("(d) double well U = x^4/4 - x^2/2, Fourier collocation vs Gibbs")
    print(table)
    for d in rows:
        print(f"  beta = {d['beta']:g}: stationary reference "
              f"{'/stationary/exact' if d['have_exact'] else 'numpy Gibbs (no /stationary/exact)'}"
              f"; KL from {d['kl_source']}"
              + (f"; fpkit vs numpy KL in the fit window: max rel diff "
                 f"{d['kl_fpkit_vs_numpy_max_rel']:.1e}"
                 if d["kl_fpkit_vs_numpy_max_rel"] is not None else ""))
    with open(os.path.join(args.results, "double_well.txt"), "w") as fh:
        fh.write(table + "\n")
    print(f"wrote {os.path.join(args.results, 'double_well.txt')}")

    for d in rows:
        b = f"beta = {d['beta']:g}"
        chk.check(d["l1_spectral"] < TARGET_L1,
                  f"{b}: stationary L1 vs Gibbs {d['l1_spectral']:.2e} < {TARGET_L1:g}")
        chk.check(d["have_exact"], f"{b}: /stationary/exact present (the driver's Gibbs density)")
        if d["have_exact"]:
            chk.check(d["l1_exact_vs_numpy"] < TARGET_XCHECK,
                      f"{b}: /stationary/exact vs numpy Gibbs {d['l1_exact_vs_numpy']:.2e} "
                      f"< {TARGET_XCHECK:g}")
        chk.check("rel_diff" in d and abs(d["rel_diff"]) < TARGET_RATE,
                  f"{b}: |fitted rate/2 - gap| / gap = "
                  f"{abs(d['rel_diff']) if 'rel_diff' in d else float('nan'):.1e} < {TARGET_RATE:g}"
                  f" ({d['n_fit']} points in the window)")
        chk.check(d["edge_max"] < TARGET_EDGE,
                  f"{b}: max edge_density {d['edge_max']:.1e} < {TARGET_EDGE:g}")

    keep = ("beta", "n", "lo", "hi", "have_exact", "l1_spectral", "l1_spectral_attr", "l1_fv",
            "l1_exact_vs_numpy", "gap", "rate", "rate_half", "rel_diff", "t_fit", "n_fit",
            "edge_max", "kl_source", "kl_fpkit_vs_numpy_max_rel")
    C.write_json(os.path.join(args.results, "double_well.json"), {
        "study": "(d) double well, stationary density vs Gibbs and relaxation in KL",
        "fit_window_relative_to_KL0": WINDOW,
        "runs": [{k: d[k] for k in keep if k in d} | {"t": d["t"], "kl": d["kl"]} for d in rows],
        "failed": chk.failed})

    # ---- figure: top row densities / pointwise errors / table; bottom row KL per beta
    nb = len(rows)
    fplot.style()
    fig = plt.figure(figsize=fplot.figure_size(columns=2, aspect=0.95))
    gs = fig.add_gridspec(2, max(nb, 3) * 2, height_ratios=[1, 1])
    third = max(nb, 3) * 2 // 3
    ax_d = fig.add_subplot(gs[0, :third])
    ax_e = fig.add_subplot(gs[0, third:2 * third])
    ax_t = fig.add_subplot(gs[0, 2 * third:])
    cols = [f"C{i}" for i in range(nb)]
    for d, col in zip(rows, cols):
        ax_d.plot(d["x"], d["spectral_stationary"], color=col, label=f"β = {d['beta']:g}")
        ax_d.plot(d["x"], d["gibbs"], "k:", lw=1.0)
        err = np.abs(d["spectral_stationary"] - d["gibbs"])
        ax_e.semilogy(d["x"], np.maximum(err, 1e-20), color=col, lw=1.0,
                      label=f"spectral, β = {d['beta']:g}")
        if "fv_stationary" in d:
            ax_e.semilogy(d["x"], np.maximum(np.abs(d["fv_stationary"] - d["gibbs"]), 1e-20),
                          color=col, lw=0.8, ls="--", alpha=0.6)
    ax_d.plot([], [], "k:", lw=1.0, label=r"Gibbs $e^{-\beta U}/Z$")
    ax_d.set_xlabel("x")
    ax_d.set_ylabel("stationary density")
    ax_d.set_xlim(-2.5, 2.5)
    ax_d.set_ylim(0, 1.25 * max(float(np.max(d["gibbs"])) for d in rows))
    fplot.legend_outside(ax_d, "bottom", ncol=2)
    ax_e.plot([], [], color="grey", ls="--", lw=0.8, label="finite volumes (same colours)")
    ax_e.set_ylim(1e-21, 1e-1)
    ax_e.set_xlabel("x")
    ax_e.set_ylabel("|p − Gibbs| (cell averages)")
    fplot.legend_outside(ax_e, "bottom", ncol=1)
    ax_e.grid(True, which="major", alpha=0.3)
    ax_t.axis("off")
    cells = [[f"{d['beta']:g}", f"{d['l1_spectral']:.1e}",
              f"{d['l1_fv']:.1e}" if "l1_fv" in d else "-",
              f"{d['gap']:.5f}", f"{d['rate_half']:.5f}" if "rate_half" in d else "-",
              f"{d['rel_diff']:+.1e}" if "rel_diff" in d else "-"] for d in rows]
    tab = ax_t.table(cellText=cells, colLabels=["β", "L1 spectral", "L1 FV", "gap",
                                                "fitted rate/2", "rel. diff"],
                     loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(6)
    tab.auto_set_column_width(list(range(6)))
    tab.scale(1.0, 1.3)
    for i, (d, col) in enumerate(zip(rows, cols)):
        width = 2 * max(nb, 3) // nb
        ax = fig.add_subplot(gs[1, i * width:(i + 1) * width])
        ax.semilogy(d["t"], np.where(d["kl"] > 0, d["kl"], np.nan), "o", ms=2.5, color=col,
                    label="KL(p_t ‖ π), spectral")
        ax.semilogy(d["t"][d["window"]], d["kl"][d["window"]], "o", ms=4, mfc="none",
                    color="k", label="fit window")
        if "rate" in d:
            tt = np.linspace(0, d["t"][-1], 50)
            ax.semilogy(tt, np.exp(d["log_intercept"] - d["rate"] * tt), "k--", lw=1.0,
                        label=f"fit: rate/2 = {d['rate_half']:.4f}")
            t0, k0 = d["t"][d["window"]][0], d["kl"][d["window"]][0]
            ax.semilogy(tt, k0 * np.exp(-2 * d["gap"] * (tt - t0)), color="grey", lw=3, alpha=0.35,
                        label=rf"$e^{{-2\,\mathrm{{gap}}\,t}}$, gap = {d['gap']:.4f}")
        if "kl_fv" in d:
            kf = np.asarray(d["kl_fv"])
            ax.semilogy(d["t"], np.where(kf > 0, kf, np.nan), "-", color=col, lw=0.8, alpha=0.5,
                        label="KL, finite volumes")
        ax.set_ylim(1e-17, 10)
        ax.set_xlabel("t")
        if i == 0:
            ax.set_ylabel("KL(p_t ‖ Gibbs)")
        fplot.panel_label(ax, f"β = {d['beta']:g}")
        ax.grid(True, which="major", alpha=0.3)
        fplot.legend_outside(ax, "bottom", ncol=1)
    C.save(fig, os.path.join(args.outdir, "spectral_double_well.png"))
    return chk.exit_status()


if __name__ == "__main__":
    sys.exit(C.main_wrapper(main))
