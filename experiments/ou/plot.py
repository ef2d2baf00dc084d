#!/usr/bin/python3
"""Figures for `fpkit run` output files (the OU flagship experiment, but any run file works).

Usage:
    /usr/bin/python3 experiments/ou/plot.py IN.h5 [IN2.h5 ...] [-o OUTDIR]

Each IN.h5 gives OUTDIR/<stem>.png (default OUTDIR: the directory of that input). Needs Debian's
python3-matplotlib, python3-h5py and python3-numpy, hence /usr/bin/python3 (a pyenv `python3`
on PATH may lack them).

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
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation  # noqa: E402
import numpy as np  # noqa: E402

METHODS = ("exact", "fv", "mc")
LABELS = {"exact": "exact", "fv": "finite volumes", "mc": "Monte Carlo"}
COLOURS = {"exact": "black", "fv": "C0", "mc": "C1"}
PAIRS = (("fv", "exact"), ("mc", "exact"), ("mc", "fv"))
PAIR_STYLES = {"fv_exact": dict(color="C0", ls="-", marker="o", ms=4),
               "mc_exact": dict(color="C1", ls="-", marker="s", ms=4),
               "mc_fv": dict(color="C2", ls="--", marker="^", ms=4)}
ROUNDOFF = 1e-12  # L1 distances below this (e.g. FV vs exact at t = 0) are round-off: not drawn
MAX_1D_PANELS = 5
ZOOM_THRESHOLD = 1e-3
FIGSIZE = (14, 8)
DPI = 120


class InputError(Exception):
    """A file that cannot be read or does not have the fpkit layout."""


# ----------------------------------------------------------------------------------- reading


def _text(value):
    """An HDF5 string attribute as str (h5py gives str or bytes depending on how it was stored)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.item())
    return str(value)


def _edges(dset):
    """Cell edges of one axis from /grid/<axis> (attributes lo, hi; else from the centres)."""
    centres = np.asarray(dset[()], dtype=float)
    n = centres.size
    if "lo" in dset.attrs and "hi" in dset.attrs:
        lo, hi = float(dset.attrs["lo"]), float(dset.attrs["hi"])
    else:
        h = (centres[-1] - centres[0]) / max(n - 1, 1)
        lo, hi = centres[0] - h / 2, centres[-1] + h / 2
    return lo + (hi - lo) / n * np.arange(n + 1)


def read_run(path):
    """Everything the figures need from one run file, as a plain dict of numpy arrays."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: cannot read as HDF5 ({e})") from None
    with f:
        if "grid" not in f or "x" not in f["grid"]:
            raise InputError(f"{path}: no /grid/x: not an `fpkit run` output file")
        grid = f["grid"]
        run = {
            "path": path,
            "model": _text(f.attrs.get("model", "?")),
            "version": _text(f.attrs.get("fpkit_version", "?")),
            "seed": int(f.attrs["seed"]) if "seed" in f.attrs else None,
            "dim": 2 if "y" in grid else 1,
            "xe": _edges(grid["x"]),
            "bc": _text(grid["x"].attrs.get("bc", "")),
            "methods": {},
            "errors": {},
        }
        if run["dim"] == 2:
            run["ye"] = _edges(grid["y"])
        for name in METHODS:
            if name not in f:
                continue
            g = f[name]
            m = {key: np.asarray(g[key][()], dtype=float)
                 for key in ("t", "density", "mean", "outside", "mass") if key in g}
            if "t" not in m or "density" not in m:
                raise InputError(f"{path}: /{name} lacks t or density")
            if "paths" in g.attrs:
                m["paths"] = int(g.attrs["paths"])
            run["methods"][name] = m
        if not run["methods"]:
            raise InputError(f"{path}: none of /exact, /fv, /mc: nothing to plot")
        if "errors" in f:
            for key in f["errors"]:
                run["errors"][key] = np.asarray(f["errors"][key][()], dtype=float)
    _check_shapes(run)
    return run


def _check_shapes(run):
    """Every group has the same output times and densities shaped like the grid."""
    cells = (run["xe"].size - 1,) if run["dim"] == 1 else (run["ye"].size - 1, run["xe"].size - 1)
    times = None
    for name, m in run["methods"].items():
        if times is None:
            times = m["t"]
        if m["t"].shape != times.shape:
            raise InputError(f"{run['path']}: /{name}/t has {m['t'].size} times, not {times.size}")
        if m["density"].shape != times.shape + cells:
            raise InputError(f"{run['path']}: /{name}/density has shape {m['density'].shape}, "
                             f"expected {times.shape + cells}")
    run["t"] = times


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


def figure_title(run):
    seed = run["seed"]
    seed_text = "no Monte Carlo" if "mc" not in run["methods"] else f"seed {seed}"
    name = os.path.basename(run["path"])
    return (f"{run['model'].upper()} model, {run['dim']}D  —  fpkit {run['version']}  —  "
            f"{seed_text}  —  {name}")


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
        ax.plot(t[ok], e[ok], label=f"{LABELS[p]} vs {LABELS[q]}", **PAIR_STYLES[f"{p}_{q}"])
        drawn = True
    floor = mc_noise_floor(run)
    if floor is not None and drawn:
        ok = floor > 0
        n = f"{run['methods']['mc']['paths']:,}".replace(",", "\u2009")
        src = "" if "exact" in run["methods"] else ", from FV"
        ax.plot(t[ok], floor[ok], ":", color="grey", lw=1.5,
                label=f"MC noise floor (N = {n}{src})")
    if drawn:
        ax.set_yscale("log")
        # Label some minor ticks too when the range spans under two decades.
        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.legend(fontsize=8, loc="best")
        if dropped:
            ax.text(0.02, 0.02, f"values < {ROUNDOFF:.0e} (round-off) not drawn", fontsize=7,
                    color="grey", transform=ax.transAxes)
    else:
        ax.text(0.5, 0.5, "no error data\n(needs two methods)", ha="center", va="center",
                transform=ax.transAxes, color="grey")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$L^1$ distance")
    ax.set_title("errors against time")
    ax.grid(True, which="major", alpha=0.3)


# ----------------------------------------------------------------------------------- 1D


def plot_1d_time(ax, run, k):
    """Densities of every method at output time k."""
    xe = run["xe"]
    xc = 0.5 * (xe[1:] + xe[:-1])
    meth = run["methods"]
    if "mc" in meth:
        ax.stairs(meth["mc"]["density"][k], xe, fill=True, alpha=0.35, color=COLOURS["mc"],
                  label=LABELS["mc"])
    if "fv" in meth:
        ax.plot(xc, meth["fv"]["density"][k], "-", lw=1.6, color=COLOURS["fv"],
                label=LABELS["fv"])
    if "exact" in meth:
        ax.plot(xc, meth["exact"]["density"][k], "--", lw=1.3, color=COLOURS["exact"],
                label=LABELS["exact"])
    ax.set_title(f"t = {run['t'][k]:.4g}")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_xlim(*visible_range(run, 0))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="best")


def figure_1d(run):
    ks = chosen_times(run["t"].size, MAX_1D_PANELS)
    npanels = len(ks) + 1
    ncols = min(3, npanels)
    nrows = -(-npanels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=FIGSIZE, squeeze=False)
    axes = axes.ravel()
    for ax, k in zip(axes, ks):
        plot_1d_time(ax, run, k)
    plot_errors(axes[len(ks)], run)
    for ax in axes[npanels:]:
        ax.set_visible(False)
    fig.suptitle(figure_title(run))
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- 2D


def plot_2d_time(ax_top, ax_bottom, run, k):
    """Row 1: FV image (exact if no FV) with exact contours. Row 2: MC on the same scale."""
    xe, ye = run["xe"], run["ye"]
    xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    meth = run["methods"]
    images = [m for m in ("fv", "exact", "mc") if m in meth]
    vmax = max(float(np.nanmax(meth[m]["density"][k])) for m in images) or 1.0
    style = dict(cmap="viridis", vmin=0.0, vmax=vmax, shading="flat", rasterized=True)

    back = "fv" if "fv" in meth else ("exact" if "exact" in meth else None)
    mesh = None
    if back is not None:
        mesh = ax_top.pcolormesh(xe, ye, meth[back]["density"][k], **style)
        label = LABELS[back]
        if back == "fv" and "exact" in meth:
            levels = np.linspace(0, vmax, 8)[1:-1]
            ax_top.contour(xc, yc, meth["exact"]["density"][k], levels=levels, colors="white",
                           linewidths=0.8, linestyles="--")
            label = "FV (image), exact (contours)"
        ax_top.set_title(f"t = {run['t'][k]:.4g}: {label}", fontsize=10)
    else:
        ax_top.set_visible(False)

    if "mc" in meth:
        mesh = ax_bottom.pcolormesh(xe, ye, meth["mc"]["density"][k], **style)
        ax_bottom.set_title(f"t = {run['t'][k]:.4g}: Monte Carlo histogram", fontsize=10)
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
    styles = {"exact": dict(ls="-", color="black", marker="", lw=1.4),
              "fv": dict(ls="", color=COLOURS["fv"], marker="o", ms=5, mfc="none"),
              "mc": dict(ls="", color=COLOURS["mc"], marker="x", ms=5)}
    drawn = False
    for name in ("exact", "fv", "mc"):
        if name in meth and "mean" in meth[name] and meth[name]["mean"].shape[-1] == 2:
            m = meth[name]["mean"]
            ax.plot(m[:, 0], m[:, 1], label=LABELS[name], **styles[name])
            drawn = True
    if drawn:
        ref = next(meth[n]["mean"] for n in ("exact", "fv", "mc") if n in meth and "mean" in meth[n])
        ax.plot(*ref[0], "s", color="grey", ms=7, zorder=0, label=f"t = {run['t'][0]:.3g}")
        ax.plot(*ref[-1], "*", color="grey", ms=11, zorder=0, label=f"t = {run['t'][-1]:.3g}")
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("mean x")
    ax.set_ylabel("mean y")
    ax.set_title("trajectory of the mean")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)


def figure_2d(run):
    nt = run["t"].size
    ks = sorted(set([0, nt // 2, nt - 1]))
    ncols = len(ks) + 1
    fig, axes = plt.subplots(2, ncols, figsize=FIGSIZE, squeeze=False, layout="constrained")
    for j, k in enumerate(ks):
        mesh = plot_2d_time(axes[0, j], axes[1, j], run, k)
        if mesh is not None:
            visible = [ax for ax in axes[:, j] if ax.get_visible()]
            fig.colorbar(mesh, ax=visible, location="bottom", shrink=0.8, aspect=30,
                         label="density")
    plot_errors(axes[0, -1], run)
    plot_mean_trajectory(axes[1, -1], run)
    fig.suptitle(figure_title(run))
    return fig


# ----------------------------------------------------------------------------------- driver


def plot_file(path, outdir):
    """Reads one run file and writes <outdir>/<stem>.png; returns the PNG path."""
    run = read_run(path)
    fig = figure_1d(run) if run["dim"] == 1 else figure_2d(run)
    outdir = outdir if outdir is not None else (os.path.dirname(os.path.abspath(path)))
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, os.path.splitext(os.path.basename(path))[0] + ".png")
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="plot.py", description="Figures (PNG) for `fpkit run` HDF5 output files.")
    parser.add_argument("inputs", nargs="+", metavar="IN.h5", help="fpkit run output files")
    parser.add_argument("-o", "--outdir", metavar="OUTDIR",
                        help="where to write <stem>.png (default: next to each input)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.inputs:
        try:
            print(f"wrote {plot_file(path, args.outdir)}")
        except InputError as e:
            print(f"plot.py: error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
