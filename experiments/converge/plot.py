"""Log-log figure of one `fpkit converge` file: errors with their Monte Carlo standard errors,
the fitted slope and its confidence interval (all read from the HDF5 file with the fpkit package,
python/fpkit; drawn in its paper style, fpkit.plot).

usage: /usr/bin/python3 experiments/converge/plot.py RESULT.h5 FIGURE.png [--format pdf|svg|png]

FIGURE's extension is the default format; with --format (repeatable or a comma list) FIGURE's
stem gets each format's extension instead.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402


def series(ax, h, s, label, marker, colour):
    """One fpkit.Series: errors with 95% error bars, and the fitted model where resolved."""
    ax.errorbar(h, np.abs(s.error), yerr=1.96 * s.standard_error, fmt=marker, color=colour,
                label=None)
    if s.resolved:
        p, lo, hi = s.fit["order"], s.fit["ci_lo"], s.fit["ci_hi"]
        a, c = s.fit["intercept"], s.fit["correction"]
        hh = np.geomspace(h.min(), h.max(), 50)
        # the fitted model (its second correction term, used for deterministic errors, is not
        # stored and is negligible on the drawn range)
        ax.plot(hh, np.exp(a + p * np.log(hh) + c * hh), "-", color=colour,
                label=f"{label}: order {p:.3f} [{lo:.3f}, {hi:.3f}]")
    else:
        ax.plot([], [], marker, color=colour, label=f"{label}: unresolved")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", metavar="RESULT.h5")
    ap.add_argument("figure", metavar="FIGURE.png")
    ext = os.path.splitext(sys.argv[2] if len(sys.argv) > 2 else "")[1].lstrip(".").lower()
    fplot.add_format_argument(ap, default=(ext if ext in fplot.FORMATS else "png",))
    args = ap.parse_args()
    try:
        r = fpkit.open(args.result)
    except (OSError, fpkit.FormatError) as e:
        print(f"plot.py: error: {e}", file=sys.stderr)
        return 2
    with r:
        if r.kind != "converge":
            print(f"plot.py: error: {args.result}: not an `fpkit converge` file", file=sys.stderr)
            return 2
        h = r.h
        fig, ax = fplot.figure(columns=1, aspect=0.8)
        colours = iter(fplot.CYCLE)
        if r.strong is not None:
            series(ax, h, r.strong, "strong (RMS)", "o", next(colours))
        for w in r.weak:
            tag = "exact discrete law" if w.discrete is not None else "Monte Carlo"
            series(ax, h, w.best, f"weak E[{w.functional}] ({tag})", "s", next(colours))
        info = r.info
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step h")
        ax.set_ylabel("error at T (95% CI)")
        # what was run, as a panel label (not a title): stepper, model, paths
        fplot.panel_label(ax, f"{info['stepper']}, {r.attrs.get('model', '?')}, "
                              f"{int(info['paths'])} paths", fontsize=7)
        fplot.legend_outside(ax, "bottom", ncol=1)
        ax.grid(True, which="major")
        fplot.save(fig, args.figure, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
