#!/usr/bin/python3
"""Figures for `fpkit run` output files (the OU flagship experiment, but any run file works).

Usage:
    /usr/bin/python3 experiments/ou/plot.py IN.h5 [IN2.h5 ...] [-o OUTDIR]

Each IN.h5 gives OUTDIR/<stem>.<format> for every --format (pdf, svg, png; repeatable or a comma
list; default png), default OUTDIR: the directory of that input. Reads the files with the fpkit
package (python/fpkit, docs/python.md) and draws in its paper style (fpkit.plot: two-column
width, Okabe-Ito colours, one look per method). Needs Debian's python3-matplotlib, python3-h5py
and python3-numpy, hence /usr/bin/python3 (a pyenv `python3` on PATH may lack them).

Layout read (docs/hdf5-layout.md); datasets are looked up by name and every method group may be
absent:
    root attrs   model, fpkit_version, seed
    /grid/x      [nx] cell centres, attrs lo, hi, bc        (/grid/y [ny] in 2D)
    /exact /fv /mc
        t        [nt]
        density  [nt][nx] (1D) or [nt][ny][nx] (2D), cell averages
        mean     [nt][dim]
    /mc attrs    paths (for the Monte Carlo noise floor)
    /errors/l1_<p>_<q>   [nt] for pairs fv_exact, mc_exact, mc_fv

1D figure: one panel per output time (at most 5, evenly chosen) with the exact density (dashed
black), the finite-volume density (solid) and the Monte Carlo histogram (filled steps), and a last
panel with the L1 errors against time (log scale) and the Monte Carlo noise floor.
2D figure: for the first, middle and last output times, finite volumes as an image with the exact
density as contour lines on top (row 1) and the Monte Carlo histogram on the same colour scale
(row 2); a last column with the L1 errors against time and the trajectory of the mean.
No titles: each panel has a panel label ("(a) t = 0"); what it shows is in the legend (above the
figure) and the axis labels.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import matplotlib  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation  # noqa: E402
import numpy as np  # noqa: E402

METHODS = ("exact", "fv", "mc")
PAIRS = (("fv", "exact"), ("mc", "exact"), ("mc", "fv"))
ROUNDOFF = 1e-12  # L1 distances below this (e.g. FV vs exact at t = 0) are round-off: not drawn
MAX_1D_PANELS = 5
ZOOM_THRESHOLD = 1e-3
CMAP = "viridis"


class InputError(Exception):
    """A file that cannot be read or does not have the fpkit layout."""


# ----------------------------------------------------------------------------------- reading


def read_run(path):
    """What the figures need from one `fpkit run` file (through fpkit.open), as a dict."""
    try:
        result = fpkit.open(path)
    except (OSError, fpkit.FormatError) as e:
        raise InputError(str(e)) from None
    with result as r:
        if r.kind != "run" or r.grid is None:
            raise InputError(f"{path}: not an `fpkit run` output file ({r.kind})")
        grid = r.grid
        run = {"path": path, "model": r.attrs.get("model", "?"), "dim": grid.dim,
               "xe": grid.x.edges, "ye": grid.y.edges if grid.y is not None else None,
               "bc": grid.x.bc or "", "methods": {}, "errors": {}}
        for name in METHODS:
            if name not in r.methods:
                continue
            g = r.group(name)
            m = {key: np.asarray(g[key], dtype=float)
                 for key in ("t", "density", "mean", "outside", "mass") if key in g}
            if "paths" in g.attrs:
                m["paths"] = int(g.attrs["paths"])
            if m["density"].shape != m["t"].shape + grid.shape:
                raise InputError(f"{path}: /{name}/density has shape {m['density'].shape}, "
                                 f"expected {m['t'].shape + grid.shape}")
            run["methods"][name] = m
        if not run["methods"]:
            raise InputError(f"{path}: none of /exact, /fv, /mc: nothing to plot")
        for metric, p, q in r.error_pairs():
            run["errors"][f"{metric}_{p}_{q}"] = r.errors(metric, p, q)
    times = [m["t"] for m in run["methods"].values()]
    if any(t.shape != times[0].shape for t in times):
        raise InputError(f"{path}: method groups with different numbers of output times")
    run["t"] = times[0]
    return run


# ----------------------------------------------------------------------------------- helpers


def cell_volume(run):
    """h (1D) or hx * hy (2D)."""
    vol = np.diff(run["xe"])[0]
    if run["dim"] == 2:
        vol *= np.diff(run["ye"])[0]
    return vol


def mc_noise_floor(run):
    """Expected L1 distance of an N-path histogram from its law, Σ √(2 q (1−q) / (π N)), per time.

    q are the exact cell probabilities (finite volumes if /exact is absent). None without /mc.
    """
    mc = run["methods"].get("mc")
    ref = run["methods"].get("exact", run["methods"].get("fv"))
    if mc is None or ref is None or mc.get("paths", 0) <= 0:
        return None
    q = np.clip(ref["density"] * cell_volume(run), 0.0, 1.0)
    q = q.reshape(q.shape[0], -1)
    return np.sqrt(2.0 * q * (1.0 - q) / (np.pi * mc["paths"])).sum(axis=1)


def visible_range(run, axis):
    """(lo, hi) along axis 0 (x) or 1 (y) around where any density exceeds 1e-3 of its peak.

    Keeps panels from being mostly empty when the law fills a small part of the grid.
    """
    edges = run["xe"] if axis == 0 else run["ye"]
    n = edges.size - 1
    used = np.zeros(n, dtype=bool)
    for m in run["methods"].values():
        d = m["density"]
        peak = np.nanmax(d.reshape(d.shape[0], -1), axis=1)
        big = d > ZOOM_THRESHOLD * peak.reshape((-1,) + (1,) * (d.ndim - 1))
        other = tuple(a for a in range(1, d.ndim) if a != d.ndim - 1 - axis)
        used |= big.any(axis=(0,) + other)
    if not used.any():
        return edges[0], edges[-1]
    idx = np.flatnonzero(used)
    pad = max(2, n // 20)
    return edges[max(idx[0] - pad, 0)], edges[min(idx[-1] + 1 + pad, n)]


def chosen_times(nt, most):
    """Indices of at most `most` output times, evenly spread, first and last included."""
    if nt <= most:
        return list(range(nt))
    return sorted(set(int(round(i)) for i in np.linspace(0, nt - 1, most)))


def plot_errors(ax, run):
    """L1 error against time for every stored pair, on a log axis, with the MC noise floor."""
    t = run["t"]
    drawn = dropped = False
    for p, q in PAIRS:
        key = f"l1_{p}_{q}"
        if key not in run["errors"]:
            continue
        e = run["errors"][key]
        ok = np.isfinite(e) & (e > ROUNDOFF)  # log scale: no zeros, round-off, Inf or NaN
        dropped |= bool((np.isfinite(e) & (e <= ROUNDOFF)).any())
        if not ok.any():
            continue
        ax.plot(t[ok], e[ok], **fplot.pair_style(p, q))
        drawn = True
    floor = mc_noise_floor(run)
    if floor is not None and drawn:
        ok = floor > 0
        n = f"{run['methods']['mc']['paths']:,}".replace(",", "\u2009")
        src = "" if "exact" in run["methods"] else ", from FV"
        ax.plot(t[ok], floor[ok], ":", color="grey", label=f"MC noise floor (N = {n}{src})")
    if drawn:
        ax.set_yscale("log")
        # Label some minor ticks too when the range spans under two decades.
        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.tick_params(axis="y", which="minor", labelsize=6)
        if dropped:  # a legend entry without a mark, not a note over the panel
            ax.plot([], [], linestyle="none",
                    label=f"values < {ROUNDOFF:.0e} (round-off) not drawn")
        fplot.legend_outside(ax, "bottom", ncol=1)
    else:
        ax.text(0.5, 0.5, "no error data\n(needs two methods)", ha="center", va="center",
                transform=ax.transAxes, color="grey")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$L^1$ distance")
    ax.grid(True, which="major")


# ----------------------------------------------------------------------------------- 1D


def panel_letter(i):
    """(a), (b), ... for the i-th visible panel (reading order)."""
    return f"({chr(ord('a') + i)})"


def plot_1d_time(ax, run, k):
    """Densities of every method at output time k (which are which: the figure's legend)."""
    xe = run["xe"]
    xc = 0.5 * (xe[1:] + xe[:-1])
    meth = run["methods"]
    if "mc" in meth:
        ax.stairs(meth["mc"]["density"][k], xe, fill=True, alpha=0.35,
                  color=fplot.method_colour("mc"), label=fplot.method_label("mc"))
    if "fv" in meth:
        ax.plot(xc, meth["fv"]["density"][k], **fplot.method_style("fv", marker="", lw=1.3))
    if "exact" in meth:
        ax.plot(xc, meth["exact"]["density"][k], **fplot.method_style("exact"))
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_xlim(*visible_range(run, 0))
    ax.set_ylim(bottom=0)


def figure_1d(run):
    ks = chosen_times(run["t"].size, MAX_1D_PANELS)
    npanels = len(ks) + 1
    ncols = min(3, npanels)
    nrows = -(-npanels // ncols)
    fig, axes = fplot.figure(columns=2, aspect=0.36 * nrows, nrows=nrows, ncols=ncols,
                             squeeze=False)
    axes = axes.ravel()
    for i, (ax, k) in enumerate(zip(axes, ks)):
        plot_1d_time(ax, run, k)
        fplot.panel_label(ax, f"{panel_letter(i)} t = {run['t'][k]:.4g}")
    plot_errors(axes[len(ks)], run)
    fplot.panel_label(axes[len(ks)], panel_letter(len(ks)))
    for ax in axes[npanels:]:
        ax.set_visible(False)
    fplot.legend_above(fig, axes[0], space=0.06)
    return fig


# ----------------------------------------------------------------------------------- 2D


def plot_2d_time(ax_top, ax_bottom, run, k):
    """Row 1: FV image (exact if no FV) with exact contours. Row 2: MC on the same scale.
    Which is which is in the figure's legend (legend_2d), not in a title."""
    xe, ye = run["xe"], run["ye"]
    xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    meth = run["methods"]
    images = [m for m in ("fv", "exact", "mc") if m in meth]
    vmax = max(float(np.nanmax(meth[m]["density"][k])) for m in images) or 1.0
    style = dict(cmap=CMAP, vmin=0.0, vmax=vmax, shading="flat", rasterized=True)

    back = "fv" if "fv" in meth else ("exact" if "exact" in meth else None)
    mesh = None
    if back is not None:
        mesh = ax_top.pcolormesh(xe, ye, meth[back]["density"][k], **style)
        if back == "fv" and "exact" in meth:
            levels = np.linspace(0, vmax, 8)[1:-1]
            ax_top.contour(xc, yc, meth["exact"]["density"][k], levels=levels, colors="white",
                           linewidths=0.6, linestyles="--")
    else:
        ax_top.set_visible(False)

    if "mc" in meth:
        mesh = ax_bottom.pcolormesh(xe, ye, meth["mc"]["density"][k], **style)
    else:
        ax_bottom.set_visible(False)

    xlim, ylim = visible_range(run, 0), visible_range(run, 1)
    for ax in (ax_top, ax_bottom):
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    return mesh


def plot_mean_trajectory(ax, run):
    """Mean of every method over the output times in the (x, y) plane."""
    meth = run["methods"]
    styles = {"exact": fplot.method_style("exact", linestyle="-"),
              "fv": fplot.method_style("fv", linestyle="", mfc="none", ms=4),
              "mc": fplot.method_style("mc", linestyle="", marker="x", ms=4)}
    drawn = False
    for name in ("exact", "fv", "mc"):
        if name in meth and "mean" in meth[name] and meth[name]["mean"].shape[-1] == 2:
            m = meth[name]["mean"]
            ax.plot(m[:, 0], m[:, 1], **styles[name])
            drawn = True
    if drawn:
        ref = next(meth[n]["mean"] for n in ("exact", "fv", "mc") if n in meth and "mean" in meth[n])
        ax.plot(*ref[0], "s", color="grey", ms=5, zorder=0, label=f"t = {run['t'][0]:.3g}")
        ax.plot(*ref[-1], "*", color="grey", ms=7, zorder=0, label=f"t = {run['t'][-1]:.3g}")
        fplot.legend_outside(ax, "bottom", ncol=2)
    ax.set_xlabel("mean x")
    ax.set_ylabel("mean y")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True)


def legend_2d(fig, run):
    """The figure's legend, above the panels: what the colour images and the contour lines of
    each row are (in place of titles)."""
    meth = run["methods"]
    colour = Patch(facecolor=matplotlib.colormaps[CMAP](0.55), edgecolor="none")
    handles, labels = [], []
    back = "fv" if "fv" in meth else ("exact" if "exact" in meth else None)
    if back is not None:
        handles.append(colour)
        labels.append(f"{fplot.method_label(back)} density (colour, top row)")
        if back == "fv" and "exact" in meth:
            contour = Line2D([], [], color="white", linestyle="--", linewidth=0.8)
            handles.append((colour, contour))
            labels.append(f"{fplot.method_label('exact')} (contours, top row)")
    if "mc" in meth:
        handles.append(colour)
        labels.append(f"{fplot.method_label('mc')} histogram (colour, bottom row)")
    # a (patch, line) tuple is drawn by matplotlib's default HandlerTuple as the dashed white
    # line over the colour patch: the contours as they look on the image
    return fplot.legend_above(fig, handles=handles, labels=labels, ncol=len(handles),
                              space=0.06)


def figure_2d(run):
    nt = run["t"].size
    ks = sorted(set([0, nt // 2, nt - 1]))
    ncols = len(ks) + 1
    fig, axes = fplot.figure(columns=2, aspect=0.75, nrows=2, ncols=ncols, squeeze=False)
    for j, k in enumerate(ks):
        mesh = plot_2d_time(axes[0, j], axes[1, j], run, k)
        if mesh is not None:
            visible = [ax for ax in axes[:, j] if ax.get_visible()]
            fig.colorbar(mesh, ax=visible, location="bottom", shrink=0.8, aspect=20,
                         label="density")
    plot_errors(axes[0, -1], run)
    plot_mean_trajectory(axes[1, -1], run)
    # panel labels in reading order, row by row; the output time on the density panels
    letter = 0
    for row in range(2):
        for j in range(ncols):
            ax = axes[row, j]
            if not ax.get_visible():
                continue
            text = panel_letter(letter)
            if j < len(ks):
                text += f" t = {run['t'][ks[j]]:.4g}"
            fplot.panel_label(ax, text)
            letter += 1
    legend_2d(fig, run)
    return fig


# ----------------------------------------------------------------------------------- driver


def plot_file(path, outdir, formats=("png",)):
    """Reads one run file and writes <outdir>/<stem>.<format> for each format; returns the
    paths written."""
    run = read_run(path)
    fig = figure_1d(run) if run["dim"] == 1 else figure_2d(run)
    outdir = outdir if outdir is not None else (os.path.dirname(os.path.abspath(path)))
    stem = os.path.join(outdir, os.path.splitext(os.path.basename(path))[0])
    return fplot.save(fig, stem, formats)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="plot.py", description="Figures for `fpkit run` HDF5 output files.")
    parser.add_argument("inputs", nargs="+", metavar="IN.h5", help="fpkit run output files")
    parser.add_argument("-o", "--outdir", metavar="OUTDIR",
                        help="where to write <stem>.<format> (default: next to each input)")
    fplot.add_format_argument(parser)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.inputs:
        try:
            plot_file(path, args.outdir, args.format)
        except InputError as e:
            print(f"plot.py: error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
