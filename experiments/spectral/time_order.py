#!/usr/bin/python3
"""Spectral study (b): order in time of ETDRK4 and SBDF2 on the tilted periodic potential.

Usage:
    /usr/bin/python3 experiments/spectral/time_order.py [RESULTS_DIR] [-o OUTDIR]

Reads RESULTS_DIR/tilted_{etdrk4,sbdf2}_dt<dt>.h5 and tilted_dtref.h5 (same N, ETDRK4 with
dt = 1e-4) written by experiments/spectral/run.sh (default RESULTS_DIR: results/spectral).
Writes OUTDIR/spectral_time_order.png (default OUTDIR: results;
.pdf/.svg/.png with --format pdf|svg|png, repeatable or a comma list) and
RESULTS_DIR/time_order.json.

Error: L1 = sum |p - p_ref| h of /spectral/density at the final time against the reference run
(same grid, so this is the time error of the semi-discrete system alone). Order: least-squares
slope of log(error) against log(dt) over the whole ladder.
Targets (exit status 1 if missed): ETDRK4 order in [3.7, 4.3]; SBDF2 order in [1.7, 2.3].
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

TARGETS = {"etdrk4": (4, 3.7, 4.3), "sbdf2": (2, 1.7, 2.3)}
STYLE = {"etdrk4": dict(color=fplot.OKABE_ITO["blue"], marker="o"),
         "sbdf2": dict(color=fplot.OKABE_ITO["vermillion"], marker="s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default="results/spectral")
    ap.add_argument("-o", "--outdir", default="results")
    args = C.parse_args(ap)
    chk = C.Checks("time_order.py (b)")

    ref = C.read_run(os.path.join(args.results, "tilted_dtref.h5"))
    pref = C.need(ref, "spectral", "density")[-1]
    tend = float(ref["spectral"]["t"][-1])
    print(f"(b) order in time: N = {ref['n']}, t = {tend:g}, reference "
          f"{ref['spectral']['scheme']} dt = {ref['spectral']['dt']:g}")
    res = {}
    for scheme in TARGETS:
        runs = C.runs_matching(args.results, rf"tilted_{scheme}_dt([0-9.eE+-]+)\.h5", float)
        dts, errs, steps = [], [], []
        for _, path in runs:
            r = C.read_run(path)
            sp = C.need(r, "spectral")
            if r["n"] != ref["n"] or abs(sp["t"][-1] - tend) > 1e-12 or sp["scheme"] != scheme:
                raise C.InputError(f"{path}: not the reference's grid, final time or scheme")
            dts.append(float(sp["dt"]))
            steps.append(int(sp["steps"]))
            errs.append(C.l1(sp["density"][-1], pref, r["h"]))
        order, icpt = C.fit_line(np.log(dts), np.log(errs))
        local = np.diff(np.log(errs)) / np.diff(np.log(dts))
        res[scheme] = {"dt": dts, "steps": steps, "l1": errs, "order": order, "log_intercept": icpt,
                       "local_orders": local}
        print(f"  {scheme}:")
        for d, s, e in zip(dts, steps, errs):
            print(f"    dt = {d:<8g} steps = {s:<5d} L1 = {e:.3e}")
        print(f"    local orders {' '.join(f'{v:.2f}' for v in local)}; least-squares order "
              f"{order:.3f}")
    for scheme, (nominal, lo, hi) in TARGETS.items():
        o = res[scheme]["order"]
        chk.check(lo <= o <= hi,
                  f"{scheme} fitted order {o:.3f} in [{lo}, {hi}] (nominal {nominal})")
    chk.check(max(res["etdrk4"]["l1"]) > 1e3 * 1e-15,
              "ETDRK4 errors are above round-off (the fit measures the time error)")

    C.write_json(os.path.join(args.results, "time_order.json"), {
        "study": "(b) order in time, tilted periodic potential", "N": ref["n"], "t": tend,
        "reference": {"scheme": ref["spectral"]["scheme"], "dt": float(ref["spectral"]["dt"])},
        **res, "failed": chk.failed})

    fig, ax = fplot.figure(columns=1, aspect=0.85)
    for scheme, (nominal, _, _) in TARGETS.items():
        d = res[scheme]
        dts, errs = np.array(d["dt"]), np.array(d["l1"])
        ax.loglog(dts, errs, **STYLE[scheme],
                  label=f"{scheme.upper()}: fitted order {d['order']:.2f}")
        # reference slope through the smallest-dt point, shifted down by 3x
        xs = np.array([dts.min(), dts.max()])
        ax.loglog(xs, errs[np.argmin(dts)] / 3 * (xs / dts.min()) ** nominal, ":",
                  color=STYLE[scheme]["color"], label=f"slope {nominal} (reference)")
    ax.set_xlabel("time step dt")
    ax.set_ylabel(r"$L^1$ error at t = %g vs dt = %g" % (tend, ref["spectral"]["dt"]))
    fplot.panel_label(ax, f"Fourier N = {ref['n']}")
    ax.grid(True, which="both", alpha=0.3)
    fplot.legend_outside(ax, "bottom", ncol=2)
    C.save(fig, os.path.join(args.outdir, "spectral_time_order.png"))
    return chk.exit_status()


if __name__ == "__main__":
    sys.exit(C.main_wrapper(main))
