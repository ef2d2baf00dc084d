"""One paper style for every fpkit figure (docs/python.md).

    import fpkit.plot as fp
    fp.style()                                   # rcParams: serif 8 pt, thin lines, Type 42 PDF
    fig, ax = fp.figure(columns=1)               # 3.4 in wide, golden aspect
    ax.plot(t, e, **fp.method_style("fv"))       # the same colour/marker for fv everywhere
    fp.legend_outside(ax)
    fp.save(fig, "results/errors", ["pdf", "png"])

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
every method has one colour, marker and line style (METHOD_STYLE) in every figure. Figures carry
no prose titles: captions belong to the paper; panel labels (``t = 0.5``) are fine.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, the same output everywhere
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import transforms  # noqa: E402

#: Figure widths in inches: one column and two columns (the whole text width) of a two-column
#: journal page (APS, Elsevier and SIAM are within 0.1 in of these).
COLUMN_WIDTH = {1: 3.4, 2: 7.0}
#: height / width of the golden rectangle.
GOLDEN = (5 ** 0.5 - 1) / 2
#: PNG resolution.
PNG_DPI = 300
FORMATS = ("pdf", "svg", "png")

#: Okabe & Ito, "Color Universal Design" (2008): eight colours distinguishable with protanopia,
#: deuteranopia and tritanopia.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
#: Colour cycle for series that are not methods (yellow last: weak on white).
CYCLE = [OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "orange", "reddish_purple",
                                "sky_blue", "black", "yellow")]

#: One look per method, in every figure: colour, marker, line style and label.
METHOD_STYLE = {
    "exact": dict(color=OKABE_ITO["black"], marker="", linestyle="--", label="exact"),
    "fv": dict(color=OKABE_ITO["blue"], marker="o", linestyle="-", label="finite volumes"),
    "spectral": dict(color=OKABE_ITO["vermillion"], marker="s", linestyle="-",
                     label="Fourier spectral"),
    "mc": dict(color=OKABE_ITO["orange"], marker="^", linestyle="-", label="Monte Carlo"),
}
#: Pairs of methods (errors between two methods): the colour of the first, a marker of its own.
PAIR_STYLE = {
    "fv_exact": dict(color=OKABE_ITO["blue"], marker="o", linestyle="-"),
    "spectral_exact": dict(color=OKABE_ITO["vermillion"], marker="s", linestyle="-"),
    "mc_exact": dict(color=OKABE_ITO["orange"], marker="^", linestyle="-"),
    "spectral_fv": dict(color=OKABE_ITO["reddish_purple"], marker="D", linestyle="--"),
    "mc_fv": dict(color=OKABE_ITO["bluish_green"], marker="v", linestyle="--"),
    "mc_spectral": dict(color=OKABE_ITO["sky_blue"], marker="<", linestyle=":"),
}

RC = {
    # Serif text matching Times/Computer Modern papers; DejaVu Serif is the fallback that
    # matplotlib always has, and covers the Greek and mathematical symbols used in labels.
    "font.family": "serif",
    "font.serif": ["Times New Roman", "Nimbus Roman", "TeX Gyre Termes", "DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    # Thin lines: 1 pt data, 0.6 pt axes and ticks.
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "xtick.direction": "out",
    "ytick.direction": "out",
    "grid.linewidth": 0.4,
    "grid.alpha": 0.4,
    "errorbar.capsize": 2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    # Vector output: fonts embedded as TrueType (Type 42), which journals accept and which stay
    # selectable, instead of Type 3; SVG text as paths so it looks the same without the fonts.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "fpkit",  # stable SVG element ids: the same figure gives the same file
    "savefig.dpi": PNG_DPI,
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
}


def style():
    """Applies the fpkit paper style to matplotlib's rcParams (call once, before drawing)."""
    matplotlib.rcParams.update(RC)


def figure_size(columns=1, aspect=None, height=None):
    """(width, height) in inches: width of ``columns`` (1: 3.4 in, 2: 7.0 in, or a number of
    inches > 2), height = width * aspect (default golden, 0.618) unless ``height`` is given."""
    width = COLUMN_WIDTH[columns] if columns in COLUMN_WIDTH else float(columns)
    if height is None:
        height = width * (GOLDEN if aspect is None else aspect)
    return width, height


def figure(columns=1, aspect=None, nrows=1, ncols=1, height=None, **subplots):
    """A styled figure and its axes: ``plt.subplots(nrows, ncols, figsize=figure_size(columns,
    aspect, height), layout="constrained", **subplots)``. Calls style() first."""
    style()
    return plt.subplots(nrows, ncols, figsize=figure_size(columns, aspect, height), **subplots)


def method_style(method, **overrides):
    """Keyword arguments for ``ax.plot`` that draw ``method`` as in every other figure (colour,
    marker, line style, label); overrides replace single entries (``label=None``,
    ``linestyle=""``). Unknown methods get the next cycle colour and no marker."""
    out = dict(METHOD_STYLE.get(method, dict(label=method)))
    out.update(overrides)
    return out


def method_colour(method):
    return METHOD_STYLE.get(method, {}).get("color", OKABE_ITO["black"])


def method_label(method):
    return METHOD_STYLE.get(method, {}).get("label", method)


def pair_style(p, q, **overrides):
    """``ax.plot`` keyword arguments for the error between methods p and q (label "p vs q")."""
    out = dict(PAIR_STYLE.get(f"{p}_{q}", dict(linestyle="-")))
    out["label"] = f"{method_label(p)} vs {method_label(q)}"
    out.update(overrides)
    return out


def legend_outside(ax, where="right", below=30, **kw):
    """A legend beside the axes (``where``: right, top, bottom) so it never covers data.
    Constrained layout (figure()) makes room for it. ``below``: for where="bottom", the gap in
    points between the axes' bottom edge and the legend (30 clears one line of tick labels and
    an x label). Returns the Legend, or None when nothing is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    # Below the axes: anchored 30 pt under their bottom edge, clear of the tick labels and the
    # x label whatever the axes' height.
    below = transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-below, units="points")
    place = {
        "right": dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0),
        "top": dict(loc="lower center", bbox_to_anchor=(0.5, 1.02), borderaxespad=0.0,
                    ncol=min(len(handles), 3)),
        "bottom": dict(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below,
                       borderaxespad=0.0, ncol=min(len(handles), 3)),
    }[where]
    place.update(kw)
    return ax.legend(handles, labels, **place)


def legend_above(fig, ax=None, handles=None, labels=None, ncol=None, space=0.08):
    """One legend for the whole figure, above every panel (the handles of ``ax``, or those
    given): the constrained layout's area shrinks by ``space`` (a fraction of the figure
    height) to hold it, so it covers no panel. Returns the Legend, or None."""
    if handles is None:
        handles, labels = (ax or fig.axes[0]).get_legend_handles_labels()
    if not handles:
        return None
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0, 1, 1 - space))
    return fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0),
                      ncol=ncol or min(len(handles), 4), borderaxespad=0.2)


def panel_label(ax, text, **kw):
    """A short label in the upper-left corner of a panel ("(a)", "t = 0.5"), not a title."""
    opts = dict(transform=ax.transAxes, ha="left", va="bottom", fontsize=8)
    opts.update(kw)
    return ax.text(0.0, 1.02, text, **opts)


def _stem(path):
    base, ext = os.path.splitext(path)
    return base if ext.lower().lstrip(".") in FORMATS else path


def save(fig, stem, formats=("png",), close=True):
    """Writes ``fig`` to ``stem.<format>`` for every format (pdf, svg, png; PNG at 300 dpi);
    a stem ending in .pdf/.svg/.png loses that extension first. Creates the directory. The
    files carry no creation date, so the same figure gives the same PDF and SVG. Returns the
    paths written (and prints them)."""
    stem = _stem(os.fspath(stem))
    directory = os.path.dirname(os.path.abspath(stem))
    os.makedirs(directory, exist_ok=True)
    paths = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown figure format {fmt!r} (one of {', '.join(FORMATS)})")
        path = f"{stem}.{fmt}"
        meta = {"pdf": {"CreationDate": None, "Producer": None},
                "svg": {"Date": None}, "png": {}}[fmt]
        fig.savefig(path, format=fmt, dpi=PNG_DPI, metadata=meta)
        paths.append(path)
        print(f"wrote {path}")
    if close:
        plt.close(fig)
    return paths


class _FormatAction(argparse.Action):
    """--format pdf --format svg, or --format pdf,svg: the union, in order."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        if current is None or current is self.default:
            current = []
        for v in values.split(","):
            v = v.strip().lower()
            if v not in FORMATS:
                parser.error(f"{option_string}: unknown format {v!r} (pdf, svg or png)")
            if v not in current:
                current.append(v)
        setattr(namespace, self.dest, current)


def add_format_argument(parser, default=("png",)):
    """Adds ``--format pdf|svg|png`` (repeatable, or a comma list; default png) to an argparse
    parser; the parsed value ``args.format`` is a list for save()."""
    parser.add_argument("--format", action=_FormatAction, default=list(default),
                        metavar="pdf|svg|png",
                        help="figure format(s): repeat or give a comma list "
                             f"(default: {','.join(default)})")
    return parser
