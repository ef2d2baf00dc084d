#!/usr/bin/python3
"""Figures and tables of experiments/ot (README.md there) from the files `fpkit ot` wrote.

  plot.py [-r RESULTS_DIR] [-o FIG_DIR]

Reads RESULTS_DIR/ot_*.h5 (default results/), prints one table per experiment, writes
FIG_DIR/ot_gauss2d, ot_w2, ot_fv_mc, ot_mixtures256 (those whose files exist) as .png, or as
each --format (pdf, svg, png; repeatable or a comma list), and FIG_DIR/ot_summary.json. Files
are read with the fpkit package (python/fpkit) and drawn in its paper style (fpkit.plot).
Exit status 2 when no file can be read.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import matplotlib  # noqa: E402
from matplotlib import transforms  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import numpy as np  # noqa: E402

FORMATS = ["png"]  # set by main() from --format


def load(path):
    """Every dataset of an `fpkit ot` file by path ("ot/eps", "grid/x", ...), with the /ot
    attributes as "attrs" and the root attributes as "root"; None when the file is absent."""
    if not os.path.exists(path):
        return None
    with fpkit.open(path) as r:
        if r.kind != "ot":
            raise fpkit.FormatError(f"{path}: not an `fpkit ot` file ({r.kind})")
        out = r.datasets()
        out["attrs"] = r.ot.attrs
        out["root"] = r.attrs
    return out


def save(fig, figdir, name):
    fplot.save(fig, os.path.join(figdir, name), FORMATS)


def gauss2d(d, figdir, summary):
    eps = d["ot/eps"]
    ex = d["ot/exact/value"]
    rp, rd, rc = (d["ot/exact/rel_error_primal"], d["ot/exact/rel_error_dual"],
                  d["ot/exact/rel_error_cross"])
    print("(a) 2D Gaussians, non-commuting covariances: OT_eps and the plan's cross-covariance "
          f"vs the closed form ({d['ot/a'].shape[1]} x {d['ot/a'].shape[0]} cells)")
    print(f"{'eps':>8} {'OT_eps':>14} {'exact':>14} {'rel err OT':>11} {'rel err C':>11} "
          f"{'iter':>7} {'seconds':>9} {'ms/iter':>8} {'kernel':>6} {'conv':>4}")
    kern = str(d["attrs"]["kernels_used"]).split()
    rows = []
    for j, e in enumerate(eps):
        print(f"{e:8.3g} {d['ot/primal'][j]:14.10f} {ex[j]:14.10f} {rp[j]:11.2e} {rc[j]:11.2e} "
              f"{d['ot/iterations'][j]:7.0f} {d['ot/seconds'][j]:9.2f} "
              f"{1e3 * d['ot/seconds_per_iteration'][j]:8.2f} {kern[j]:>6} "
              f"{'yes' if d['ot/converged'][j] else 'NO':>4}")
        rows.append(dict(eps=float(e), primal=float(d["ot/primal"][j]), exact=float(ex[j]),
                         rel_error_value=float(rp[j]), rel_error_cross=float(rc[j]),
                         iterations=int(d["ot/iterations"][j]), seconds=float(d["ot/seconds"][j]),
                         kernel=kern[j]))
    summary["gauss2d"] = rows
    w2 = float(d["ot/exact/w2sq"][0])
    fig, ax = fplot.figure(columns=2, aspect=0.42, nrows=1, ncols=3)
    ax[0].loglog(eps, rp, "o-", label="OT$_\\varepsilon$ (primal)")
    ax[0].loglog(eps, rd, "x--", label="OT$_\\varepsilon$ (dual)")
    ax[0].loglog(eps, rc, "s-", label="cross-covariance (Frobenius)")
    ax[0].axhline(1e-4, color="gray", lw=0.8, ls=":")
    ax[0].set_xlabel("$\\varepsilon$")
    ax[0].set_ylabel("relative error vs closed form")
    fplot.legend_outside(ax[0], "bottom", ncol=1)
    ax[1].semilogx(eps, d["ot/primal"], "o", label="grid Sinkhorn")
    ax[1].semilogx(eps, ex, "-", label="closed form")
    ax[1].axhline(w2, color="gray", ls="--", label=f"$W_2^2$ = {w2:.6f}")
    ax[1].set_xlabel("$\\varepsilon$")
    ax[1].set_ylabel("OT$_\\varepsilon$")
    fplot.legend_outside(ax[1], "bottom", ncol=1)
    C = d["ot/cross"]
    Ce = d["ot/exact/cross"]
    for (a, b), m in zip(((0, 0), (0, 1), (1, 0), (1, 1)), "os^v"):
        ax[2].semilogx(eps, C[:, a, b], m, label=f"C[{a}][{b}] grid")
        ax[2].semilogx(eps, Ce[:, a, b], "-", color=ax[2].lines[-1].get_color())
    ax[2].set_xlabel("$\\varepsilon$")
    ax[2].set_ylabel("cross-covariance of the plan")
    ax[2].plot([], [], "k-", label="closed form (lines)")
    fplot.legend_outside(ax[2], "bottom", ncol=2)
    save(fig, figdir, "ot_gauss2d")


def w2(d, figdir, summary, d2=None):
    eps = d["ot/eps"]
    w2sq = float(d["ot/exact/w2sq"][0])
    S, OT = d["ot/divergence"], d["ot/primal"]
    Se = d["ot/exact/divergence"]
    cells = float(d["ot/w2sq_1d_cells"][0])
    print("\n(b) S_eps -> W2^2 as eps -> 0 (1D Gaussians, "
          f"{d['ot/a'].shape[0]} cells): W2^2 = {w2sq:.12f} (Bures), "
          f"{cells:.12f} (exact 1D OT of the cell densities, fpk_ot_1d_cells)")
    print(f"{'eps':>8} {'S_eps':>16} {'|S - W2^2|':>11} {'|S_exact - W2^2|':>17} "
          f"{'rel err S':>10} {'OT_eps - W2^2':>14}")
    rows = []
    for j, e in enumerate(eps):
        print(f"{e:8.3g} {S[j]:16.12f} {abs(S[j] - w2sq):11.3e} {abs(Se[j] - w2sq):17.3e} "
              f"{abs(S[j] - Se[j]) / Se[j]:10.2e} {OT[j] - w2sq:14.6e}")
        rows.append(dict(eps=float(e), S=float(S[j]), S_minus_W2=float(S[j] - w2sq),
                         S_exact_minus_W2=float(Se[j] - w2sq), OT_minus_W2=float(OT[j] - w2sq)))
    summary["w2_1d"] = dict(w2sq=w2sq, w2sq_cells=cells, rows=rows)
    fig, ax = fplot.figure(columns=2, aspect=0.5, nrows=1, ncols=2)
    ax[0].loglog(eps, np.abs(S - w2sq), "o-", label="$|S_\\varepsilon - W_2^2|$ grid (1D)")
    ax[0].loglog(eps, np.abs(Se - w2sq), "-", color="k", lw=0.8, label="closed form")
    ax[0].loglog(eps, np.abs(OT - w2sq), "s--", label="$|$OT$_\\varepsilon - W_2^2|$ (1D)")
    ax[0].axhline(abs(cells - w2sq), color="gray", ls=":",
                  label="$|W_2^2$(cells) $- W_2^2|$, fpk_ot_1d_cells")
    if d2 is not None and "ot/divergence" in d2:
        w22 = float(d2["ot/exact/w2sq"][0])
        ax[0].loglog(d2["ot/eps"], np.abs(d2["ot/divergence"] - w22), "^-",
                     label="$|S_\\varepsilon - W_2^2|$ grid (2D)")
    ax[0].set_xlabel("$\\varepsilon$")
    ax[0].set_ylabel("distance to $W_2^2$")
    fplot.legend_outside(ax[0], "bottom", ncol=1)
    x = d["grid/x"]
    ax[1].plot(x, d["ot/a"] / (x[1] - x[0]), label="source density")
    ax[1].plot(x, d["ot/b"] / (x[1] - x[0]), label="target density")
    ax[1].set_xlim(-5, 5)
    fplot.legend_outside(ax[1], "bottom", ncol=2)
    ax[1].set_xlabel("x")
    save(fig, figdir, "ot_w2")


def fv_mc(files, figdir, summary):
    fig, axes = fplot.figure(columns=2, aspect=0.5, nrows=1, ncols=2)
    out = {}
    for letter, ax, dim in zip("ab", axes, ("1d", "2d")):
        any_ = False
        # each pair drawn as in every fpkit figure (fpkit.plot.PAIR_STYLE: fv vs mc as mc_fv)
        for pair, style in (("fv_mc", ("mc", "fv")), ("fv_exact", ("fv", "exact")),
                            ("mc_exact", ("mc", "exact"))):
            d = files.get(f"ou{dim}_{pair}")
            if d is None:
                continue
            any_ = True
            t, S = d["ot/t"], d["ot/divergence"][:, 0]
            eps = d["ot/eps"][0]
            shown = np.abs(S) > 1e-12  # S = 0 to rounding where both are the same field (t = 0)
            ax.semilogy(t[shown], np.abs(S[shown]),
                        **fplot.pair_style(*style, label=pair.replace("_", " vs ")))
            out[f"ou{dim}_{pair}"] = dict(eps=float(eps), t=t.tolist(), S=S.tolist(),
                                          mass_difference=float(d["attrs"]["mass_difference"]),
                                          converged=int(d["attrs"]["converged"]))
            print(f"\n(c) OU {dim}, {pair.replace('_', ' vs ')}: S_eps at eps = {eps:g}, "
                  f"mass difference before normalising {d['attrs']['mass_difference']:.2e}")
            print(f"{'t':>6} {'S_eps':>12} {'OT_eps(a,b)':>12} {'iter':>6} {'seconds':>8}")
            for k in range(len(t)):
                print(f"{t[k]:6.3g} {S[k]:12.4e} {d['ot/primal'][k, 0]:12.6f} "
                      f"{d['ot/iterations'][k, 0]:6.0f} {d['ot/seconds'][k, 0]:8.2f}")
        if any_:
            ax.set_xlabel("t")
            ax.set_ylabel("$S_\\varepsilon$ (|value|)")
            fplot.panel_label(ax, f"({letter}) OU {dim.upper()}, $\\varepsilon$ = {eps:g}")
            fplot.legend_outside(ax, "bottom", ncol=3)
    summary["fv_mc"] = out
    save(fig, figdir, "ot_fv_mc")


def mixtures(files, figdir, summary):
    names = [k for k in ("fft", "blas", "lse", "auto") if files.get(f"mixtures256_{k}")]
    print("\n(d) 256 x 256 grid between two Gaussian mixtures, once per requested back-end")
    print(f"{'kernel':>6} {'eps':>7} {'OT_eps':>14} {'iter':>6} {'seconds':>9} {'ms/iter':>9} "
          f"{'final':>6} {'fallbacks':>9} {'converged':>9}")
    rows = {}
    for k in names:
        d = files[f"mixtures256_{k}"]
        used = str(d["attrs"]["kernels_used"]).split()
        for j in range(len(d["ot/eps"])):
            print(f"{k:>6} {d['ot/eps'][j]:7.3g} {d['ot/primal'][j]:14.10f} "
                  f"{d['ot/iterations'][j]:6.0f} {d['ot/seconds'][j]:9.2f} "
                  f"{1e3 * d['ot/seconds_per_iteration'][j]:9.2f} "
                  f"{used[j]:>6} {d['ot/fallbacks'][j]:9.0f} {d['ot/converged'][j]:9.0f}")
        log = str(d["attrs"]["kernel_log"])
        fb = [ln.strip() for ln in log.splitlines() if "refused" in ln]
        for ln in fb[:2]:
            print(f"         {ln[:150]}")
        if len(fb) > 2:
            print(f"         ... {len(fb) - 2} more fallback lines (/ot attribute kernel_log)")
        j = -1
        rows[k] = dict(eps=float(d["ot/eps"][j]), primal=float(d["ot/primal"][j]),
                       iterations=int(d["ot/iterations"][j]), seconds=float(d["ot/seconds"][j]),
                       ms_per_iteration=1e3 * float(d["ot/seconds_per_iteration"][j]),
                       fallbacks=int(d["ot/fallbacks"][j]), fallback_lines=fb,
                       tol=float(d["attrs"]["tol"]),
                       sweep=[dict(eps=float(e), kernel=used[i],
                                   iterations=int(d["ot/iterations"][i]),
                                   ms_per_iteration=1e3 * float(d["ot/seconds_per_iteration"][i]),
                                   primal=float(d["ot/primal"][i]))
                              for i, e in enumerate(d["ot/eps"])])
    if names:
        vals = [rows[k]["primal"] for k in names]
        spread = (max(vals) - min(vals)) / abs(np.mean(vals))
        print(f"  OT_eps agrees across back-ends to {spread:.1e} relative")
        rows["relative_spread_of_values"] = spread
    summary["mixtures256"] = rows
    if not names:
        return
    d = files[f"mixtures256_{'auto' if 'auto' in names else names[0]}"]
    x, y = d["grid/x"], d["grid/y"]
    h = x[1] - x[0]
    ext = (x[0] - h / 2, x[-1] + h / 2, y[0] - h / 2, y[-1] + h / 2)
    fig, ax = fplot.figure(columns=2, aspect=0.45, nrows=1, ncols=4)
    ax[0].imshow(d["ot/a"] / h**2, origin="lower", extent=ext, cmap="Blues")
    fplot.panel_label(ax[0], "(a) source a")
    ax[1].imshow(d["ot/b"] / h**2, origin="lower", extent=ext, cmap="Reds")
    fplot.panel_label(ax[1], "(b) target b")
    # entropic barycentric map: E[y | x] = x - grad f(x) / 2 for the cost |x - y|^2
    f = d["ot/f"]
    gy, gx = np.gradient(f, h, h)
    s = 16
    X, Y = np.meshgrid(x, y)
    mask = d["ot/a"] > 1e-3 * d["ot/a"].max()
    im = ax[2].imshow(np.where(mask, f, np.nan), origin="lower", extent=ext, cmap="viridis")
    fig.colorbar(im, ax=ax[2], shrink=0.8, label="potential f")
    ax[2].contour(X, Y, d["ot/b"], levels=4, colors="r", linewidths=0.6)
    m2 = mask[::s, ::s]
    ax[2].quiver(X[::s, ::s][m2], Y[::s, ::s][m2], -0.5 * gx[::s, ::s][m2], -0.5 * gy[::s, ::s][m2],
                 angles="xy", scale_units="xy", scale=1, width=0.003, color="w", alpha=0.8)
    fplot.panel_label(ax[2], "(c)")
    # what panel (c) shows, in its legend (not a title): the arrows and the contour lines as
    # they look on the image (a tuple handle: the mark drawn over a patch of the colour map)
    on_image = Patch(facecolor=matplotlib.colormaps["viridis"](0.55), edgecolor="none")
    arrow = Line2D([], [], color="w", marker="$\\rightarrow$", markersize=9, linestyle="none")
    below = transforms.offset_copy(ax[2].transAxes, fig=fig, y=-30, units="points")
    ax[2].legend([(on_image, arrow), Line2D([], [], color="r", linewidth=0.6)],
                 ["$-\\nabla f/2$ (barycentric map)", "target b (contours)"],
                 loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below,
                 borderaxespad=0.0, ncol=1)
    ks = [k for k in ("fft", "blas", "lse", "auto") if k in rows]
    neps = len(rows[ks[0]]["sweep"])
    wbar = 0.8 / neps
    top = 0
    for i in range(neps):
        v = [rows[k]["sweep"][i]["ms_per_iteration"] if i < len(rows[k]["sweep"]) else 0 for k in ks]
        top = max(top, max(v))
        pos = np.arange(len(ks)) + (i - (neps - 1) / 2) * wbar
        ax[3].bar(pos, v, wbar, label=f"eps = {rows[ks[0]]['sweep'][i]['eps']:g}")
        for p, k, val in zip(pos, ks, v):
            ax[3].text(p, val, rows[k]["sweep"][i]["kernel"], ha="center", va="bottom",
                       fontsize=7, rotation=90)
    ax[3].set_xticks(np.arange(len(ks)), ks)
    ax[3].set_yscale("log")
    ax[3].set_ylim(top=8 * top)
    fplot.legend_outside(ax[3], "bottom", below=40, ncol=1,
                         title=f"{len(x)} x {len(y)} cells, tol = {rows[ks[0]]['tol']:g}")
    ax[3].set_xlabel("requested back-end\n(label: final stage's)")
    ax[3].set_ylabel("ms per iteration")
    fplot.panel_label(ax[3], "(d)")
    for a in ax[:3]:
        a.set_xlabel("x")
        a.set_ylabel("y")
    save(fig, figdir, "ot_mixtures256")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--results", default="results")
    ap.add_argument("-o", "--output", default=None, help="figure directory (default: RESULTS)")
    fplot.add_format_argument(ap)
    a = ap.parse_args()
    FORMATS[:] = a.format
    figdir = a.output or a.results
    os.makedirs(figdir, exist_ok=True)
    names = ["gauss2d", "gauss1d", "mixtures256_fft", "mixtures256_blas", "mixtures256_lse",
             "mixtures256_auto"] + [f"ou{d}_{p}" for d in ("1d", "2d")
                                    for p in ("fv_mc", "fv_exact", "mc_exact")]
    files = {}
    for n in names:
        try:
            files[n] = load(os.path.join(a.results, f"ot_{n}.h5"))
        except (OSError, fpkit.FormatError) as e:
            print(f"cannot read ot_{n}.h5: {e}", file=sys.stderr)
            files[n] = None
    if not any(files.values()):
        print(f"no ot_*.h5 file in {a.results}", file=sys.stderr)
        return 2
    summary = {}
    if files["gauss2d"]:
        gauss2d(files["gauss2d"], figdir, summary)
    if files["gauss1d"]:
        w2(files["gauss1d"], figdir, summary, files["gauss2d"])
    if any(files.get(f"ou{d}_{p}") for d in ("1d", "2d") for p in ("fv_mc", "fv_exact", "mc_exact")):
        fv_mc(files, figdir, summary)
    mixtures(files, figdir, summary)
    with open(os.path.join(figdir, "ot_summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    print(f"\nfigures and ot_summary.json in {figdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
