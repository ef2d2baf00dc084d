"""Shared helpers of the experiments/diffusion scripts: the fpkit reader on the path, the
[ok]/[FAIL] checks, the summary JSON and the figure formats."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import fpkit  # noqa: E402,F401
import fpkit.plot as fplot  # noqa: E402,F401


class Checks:
    """Prints one [ok]/[FAIL] line per target and remembers the failures."""

    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return ok


def open_sample(path):
    """fpkit.open(path), required to be an `fpkit sample` file."""
    r = fpkit.open(path)
    if r.kind != "sample":
        r.close()
        raise ValueError(f"{path}: not an `fpkit sample` file")
    return r


def convergence(r):
    """The /convergence group of a ladder run as a dict of arrays plus its attributes."""
    g = r.part("convergence")
    if g is None:
        raise ValueError(f"{r.path}: no /convergence (not a ladder run)")
    out = {k: g[k] for k in g.datasets()}
    out.update(g.attrs)
    return out


def write_summary(results, name, summary):
    path = os.path.join(results, "diffusion", f"{name}_summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, default=float)
    print(f"wrote {path}")


def parser(doc):
    import argparse
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("-r", "--results", default="results")
    fplot.add_format_argument(ap)
    return ap
