#!/usr/bin/python3
"""Helpers shared by the spectral experiment scripts (experiments/spectral/*.py).

Reading `fpkit run` files through the fpkit package (python/fpkit, docs/python.md), the figure
formats (--format) and the paper style (fpkit.plot), the exact projection
of a fine Fourier solution onto a coarse grid of cell averages, least-squares rates, Gibbs cell
averages by Gauss-Legendre quadrature, and the pass/fail bookkeeping that makes every script a
check (non-zero exit when a stated target is missed).
"""

import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

fplot.style()
FORMATS = ["png"]  # set by parse_args() from --format


class InputError(Exception):
    """A missing file or one without the datasets a study needs."""


def read_run(path):
    """The parts of one 1D `fpkit run` file the studies use (read through fpkit.open), as plain
    numpy arrays and numbers: x, lo, hi, bc, n, h, config (the stored configuration, an
    fpkit.Config: dict of sections, .text), model, version;
    per method group present among exact, fv, spectral a dict of its datasets and attributes;
    errors; stationary (its datasets, and "attrs": per dataset its attributes)."""
    try:
        result = fpkit.open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (did run.sh run?)") from None
    except (OSError, fpkit.FormatError) as e:
        raise InputError(str(e)) from None
    with result as r:
        if r.kind != "run" or r.grid is None:
            raise InputError(f"{path}: not an `fpkit run` file with a /grid")
        x = r.grid.x
        run = {"path": path, "x": x.centres, "lo": x.lo, "hi": x.hi, "bc": x.bc or "",
               "config": r.config, "model": r.attrs.get("model", ""),
               "version": r.version or "", "n": x.n, "h": x.h}
        for m in ("exact", "fv", "spectral"):
            if m in r.methods:
                g = r.group(m)
                d = {k: g[k] for k in g.datasets()}
                d.update(g.attrs)
                run[m] = d
        if "errors" in r:
            run["errors"] = {f"{a}_{p}_{q}": r.errors(a, p, q) for a, p, q in r.error_pairs()}
        st = r.stationary
        if st is not None:
            run["stationary"] = {k: st[k] for k in st.datasets()}
            run["stationary"]["attrs"] = {k: st.dataset_attrs(k) for k in st.datasets()}
    return run


def need(run, *keys):
    """run[k1][k2]... or InputError naming the file and the missing dataset."""
    d = run
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            raise InputError(f"{run['path']}: missing /{'/'.join(keys)}")
        d = d[k]
    return d


def runs_matching(directory, pattern, key):
    """Files in directory whose name matches the regex pattern (one group: a number), sorted by
    that number; returns [(number, path)]."""
    out = []
    for p in glob.glob(os.path.join(directory, "*.h5")):
        m = re.fullmatch(pattern, os.path.basename(p))
        if m:
            out.append((key(m.group(1)), p))
    if not out:
        raise InputError(f"{directory}: no file matching {pattern} (did run.sh run?)")
    return sorted(out)


def sinc(z):
    """sin(z)/z with sinc(0) = 1 (numpy's np.sinc is sin(pi x)/(pi x))."""
    return np.sinc(np.asarray(z) / np.pi)


def fourier_from_cell_averages(c, lo, hi):
    """Fourier coefficients (wavenumbers k, coefficients a_k) of the trigonometric interpolant
    whose exact cell averages on the uniform periodic grid of len(c) cells over [lo, hi] are c:
        f(x) = sum_k a_k e^{i k x},  cell average over [x_j - h/2, x_j + h/2] = sum_k a_k
        e^{i k x_j} sinc(k h / 2).
    The DFT of c gives the cell-average coefficients; dividing by sinc(k h/2) gives a_k. The
    Nyquist mode (N even) is taken as a cosine: its coefficient is split evenly between +N/2 and
    -N/2, so the returned arrays have N + 1 entries and f is real."""
    c = np.asarray(c, dtype=float)
    n = c.size
    length = hi - lo
    h = length / n
    x0 = lo + 0.5 * h
    chat = np.fft.fft(c) / n                        # c_j = sum_m chat_m e^{i k_m (x_j - x0)}
    m = np.fft.fftfreq(n, 1.0 / n)                  # 0..n/2-1, -n/2..-1 (integers)
    if n % 2 == 0:                                  # split the Nyquist coefficient
        nyq = n // 2
        m = np.append(m, nyq)
        chat = np.append(chat, 0.5 * chat[nyq])
        chat[nyq] *= 0.5
    k = 2.0 * np.pi * m / length
    a = chat / sinc(0.5 * k * h) * np.exp(-1j * k * x0)   # coefficients of e^{i k x}
    return k, a


def project_cell_averages(c_fine, lo, hi, n_coarse):
    """Exact cell averages on n_coarse uniform cells of [lo, hi] of the trigonometric interpolant
    represented by the fine cell averages c_fine (fourier_from_cell_averages): every fine mode is
    kept, its cell average over each coarse cell is e^{i k x_j} sinc(k H / 2), no truncation."""
    k, a = fourier_from_cell_averages(c_fine, lo, hi)
    big_h = (hi - lo) / n_coarse
    xc = lo + (np.arange(n_coarse) + 0.5) * big_h
    vals = np.exp(1j * np.outer(xc, k)) @ (a * sinc(0.5 * k * big_h))
    return vals.real


def l1(p, q, h):
    return float(np.sum(np.abs(np.asarray(p) - np.asarray(q))) * h)


def fit_line(x, y):
    """Least-squares slope and intercept of y against x."""
    slope, intercept = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(slope), float(intercept)


def gauss_legendre_cells(f, lo, hi, n, panels=4, order=16):
    """Cell averages of f on n uniform cells of [lo, hi] by composite Gauss-Legendre quadrature
    (panels per cell, order points per panel)."""
    xg, wg = np.polynomial.legendre.leggauss(order)
    h = (hi - lo) / n
    edges = lo + h * np.arange(n + 1)
    out = np.zeros(n)
    for p in range(panels):
        a = edges[:-1] + p * h / panels
        half = 0.5 * h / panels
        pts = (a + half)[:, None] + half * xg[None, :]
        out += (f(pts) * wg[None, :]).sum(axis=1) * half
    return out / h


class Checks:
    """Collects pass/fail of the stated targets; exit status 1 if any failed."""

    def __init__(self, name):
        self.name = name
        self.failed = []

    def check(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return ok

    def exit_status(self):
        if self.failed:
            print(f"{self.name}: {len(self.failed)} target(s) missed:", file=sys.stderr)
            for w in self.failed:
                print(f"  {w}", file=sys.stderr)
            return 1
        print(f"{self.name}: all targets met")
        return 0


def _plain(obj):
    """obj with numpy scalars/arrays as Python numbers/lists and NaN/Inf as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(_plain(obj), fh, indent=2, sort_keys=False, allow_nan=False)
        fh.write("\n")
    print(f"wrote {path}")


def parse_args(parser):
    """Adds --format (pdf|svg|png, repeatable or a comma list; default png) and parses."""
    fplot.add_format_argument(parser)
    args = parser.parse_args()
    FORMATS[:] = args.format
    return args


def save(fig, path):
    """Writes path (its .png extension replaced) in every --format."""
    fplot.save(fig, path, FORMATS)


def main_wrapper(main):
    """Runs main(); an InputError is a message and exit status 2."""
    try:
        return main()
    except InputError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        return 2
