#!/usr/bin/python3
"""Spectral study (c): work-precision of finite volumes and the Fourier solver on the OU flagship.

Usage:
    /usr/bin/python3 experiments/spectral/work_precision.py [RESULTS_DIR] [-o OUTDIR]

Reads RESULTS_DIR/ou_{fv,spectral}_n<n>_r<rep>.h5 (each resolution run several times) written by
experiments/spectral/run.sh (default RESULTS_DIR: results/spectral). Writes
OUTDIR/spectral_work_precision.png (default OUTDIR: results;
.pdf/.svg/.png with --format pdf|svg|png, repeatable or a comma list) and
RESULTS_DIR/work_precision.json.

Error: /errors/l1_<method>_exact at the last output time (t = 2), the L1 distance to the exact
cell averages of the Gaussian law. Work: the /<method> attribute wall_seconds (time in the solver,
set-up included: FV operator assembly, FFTW plans and ETDRK4 coefficients), the smallest over the
repeats (the errors of the repeats are identical; only the timing noise differs).
Crossover: at each FV run's error, the fastest spectral run that is at least as accurate; the
crossover is the band between the last FV error level where FV is cheaper and the first from
which on the spectral solver is cheaper at every finer level.
Targets (exit status 1 if missed): the box is wide enough (max /spectral/edge_density over the
output times < 1e-14 at the finest spectral grid); the spectral error at the finest grid is
< 1e-12; the FV error converges at second order (fitted slope of log error vs log n in
[-2.2, -1.8]).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

LABELS = {"fv": "finite volumes (Scharfetter–Gummel, TR-BDF2, dt = h/2)",
          "spectral": "Fourier spectral (ETDRK4)"}
STYLE = {m: dict(color=fplot.method_colour(m), marker=fplot.METHOD_STYLE[m]["marker"])
         for m in ("fv", "spectral")}


def collect(results, method):
    runs = C.runs_matching(results, rf"ou_{method}_n(\d+_r\d+)\.h5",
                           lambda s: tuple(int(v) for v in s.split("_r")))
    by_n = {}
    for (n, rep), path in runs:
        r = C.read_run(path)
        g = C.need(r, method)
        err = float(C.need(r, "errors", f"l1_{method}_exact")[-1])
        d = by_n.setdefault(n, {"n": n, "l1": err, "walls": [], "dt": float(g["dt"]),
                                "steps": int(g["steps"]), "t": float(g["t"][-1])})
        if d["l1"] != err:
            raise C.InputError(f"{path}: repeat gives a different error ({err} vs {d['l1']})")
        d["walls"].append(float(g["wall_seconds"]))
        if method == "spectral":
            d["edge"] = float(np.max(g["edge_density"]))
    rows = [by_n[n] for n in sorted(by_n)]
    for d in rows:
        d["wall"] = min(d["walls"])
    return rows


def cheapest_reaching(rows, err):
    """The fastest run of a sweep whose error is <= err (None if none reaches it)."""
    ok = [d for d in rows if d["l1"] <= err]
    return min(ok, key=lambda d: d["wall"]) if ok else None


def compare_at_fv_levels(fv, sp):
    """For each FV run: the fastest spectral run at least as accurate, and the time ratio."""
    out = []
    for d in fv:
        s = cheapest_reaching(sp, d["l1"])
        out.append({"fv_n": d["n"], "fv_l1": d["l1"], "fv_seconds": d["wall"],
                    "spectral_n": s["n"] if s else None, "spectral_l1": s["l1"] if s else None,
                    "spectral_seconds": s["wall"] if s else None,
                    "fv_over_spectral": d["wall"] / s["wall"] if s else None})
    return out


def crossover(levels):
    """The largest FV error from which on (towards smaller errors) the spectral solver is
    cheaper at every FV level, and the FV level just above it (where FV is still cheaper)."""
    wins = [lv["fv_over_spectral"] is not None and lv["fv_over_spectral"] > 1 for lv in levels]
    i = len(levels)
    while i > 0 and wins[i - 1]:
        i -= 1
    if i == len(levels):
        return None
    return {"spectral_cheaper_from_fv_n": levels[i]["fv_n"],
            "spectral_cheaper_below_l1": levels[i]["fv_l1"],
            "fv_cheaper_at_l1": levels[i - 1]["fv_l1"] if i > 0 else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default="results/spectral")
    ap.add_argument("-o", "--outdir", default="results")
    args = C.parse_args(ap)
    chk = C.Checks("work_precision.py (c)")

    fv = collect(args.results, "fv")
    sp = collect(args.results, "spectral")
    print(f"(c) OU flagship on the periodic box, error vs exact at t = {fv[0]['t']:g}")
    print(f"  {'method':9s} {'n':>5s} {'dt':>9s} {'steps':>6s} {'L1 vs exact':>12s} "
          f"{'wall [s]':>10s} {'edge':>9s}")
    for name, rows in (("fv", fv), ("spectral", sp)):
        for d in rows:
            edge = f"{d['edge']:.1e}" if "edge" in d else ""
            print(f"  {name:9s} {d['n']:5d} {d['dt']:9.3g} {d['steps']:6d} {d['l1']:12.3e} "
                  f"{d['wall']:10.2e} {edge:>9s}")
    slope, _ = C.fit_line(np.log([d["n"] for d in fv]), np.log([d["l1"] for d in fv]))
    print(f"  FV: fitted slope of log L1 vs log n = {slope:.3f} (second order: -2)")
    levels = compare_at_fv_levels(fv, sp)
    print("  at each FV run's error, the fastest spectral run at least as accurate:")
    for lv in levels:
        if lv["spectral_n"] is None:
            print(f"    fv n = {lv['fv_n']:5d} L1 {lv['fv_l1']:.2e} {lv['fv_seconds']:.2e} s | "
                  "no spectral run as accurate")
            continue
        print(f"    fv n = {lv['fv_n']:5d} L1 {lv['fv_l1']:.2e} {lv['fv_seconds']:.2e} s | "
              f"spectral n = {lv['spectral_n']:4d} L1 {lv['spectral_l1']:.2e} "
              f"{lv['spectral_seconds']:.2e} s | fv/spectral time {lv['fv_over_spectral']:.2f}")
    cross = crossover(levels)
    if cross is None:
        print("  crossover: FV is cheaper at every FV accuracy level of the sweep")
    elif cross["fv_cheaper_at_l1"] is None:
        print("  crossover: the spectral solver is cheaper at every FV accuracy level of the sweep")
    else:
        print("  crossover: the spectral solver is cheaper for L1 <= "
              f"{cross['spectral_cheaper_below_l1']:.2e}"
              f" (FV n >= {cross['spectral_cheaper_from_fv_n']}); FV is cheaper at "
              f"L1 = {cross['fv_cheaper_at_l1']:.2e}")
    best = levels[-1]
    if best["spectral_n"] is not None:
        print(f"  at FV's best error {best['fv_l1']:.2e} (n = {best['fv_n']}): "
              f"FV {best['fv_seconds']:.2e} s, "
              f"spectral (n = {best['spectral_n']}) {best['spectral_seconds']:.2e} s, "
              f"{best['fv_over_spectral']:.1f}x less")
    fastest = cheapest_reaching(sp, 1e-12)
    if fastest:
        print(f"  spectral reaches L1 < 1e-12 at n = {fastest['n']} in {fastest['wall']:.2e} s "
              f"(FV at n = 1600: {fv[-1]['l1']:.1e})")

    chk.check(sp[-1]["edge"] < 1e-14,
              f"box wide enough: max edge_density at spectral n = {sp[-1]['n']} is "
              f"{sp[-1]['edge']:.1e} < 1e-14")
    chk.check(sp[-1]["l1"] < 1e-12,
              f"spectral L1 at n = {sp[-1]['n']}: {sp[-1]['l1']:.2e} < 1e-12")
    chk.check(-2.2 <= slope <= -1.8, f"FV second order: slope {slope:.3f} in [-2.2, -1.8]")

    C.write_json(os.path.join(args.results, "work_precision.json"), {
        "study": "(c) work-precision, OU on the periodic box [-6, 6], error vs exact at t = 2",
        "fv": fv, "spectral": sp, "fv_slope_vs_n": slope, "at_fv_levels": levels,
        "crossover": cross, "failed": chk.failed})

    fig, ax = fplot.figure(columns=1, aspect=0.9)
    for name, rows in (("fv", fv), ("spectral", sp)):
        w = np.array([d["wall"] for d in rows])
        e = np.array([d["l1"] for d in rows])
        ax.loglog(w, e, label=LABELS[name], **STYLE[name])
        for d in rows:
            ax.annotate(f"{d['n']}", (d["wall"], d["l1"]), textcoords="offset points",
                        xytext=(4, 3), fontsize=5, color=STYLE[name]["color"])
    if cross and cross["fv_cheaper_at_l1"] is not None:
        lo, hi = cross["spectral_cheaper_below_l1"], cross["fv_cheaper_at_l1"]
        ax.axhspan(lo, hi, color="grey", alpha=0.12, lw=0)
        ax.text(0.02, lo / 1.5, "crossover: spectral cheaper below",
                transform=ax.get_yaxis_transform(), ha="left", va="top", fontsize=6,
                color="dimgrey")
    ax.set_xlabel("wall time in the solver [s] (best of 5 runs)")
    ax.set_ylabel(r"$L^1$ error vs exact at t = %g" % fv[0]["t"])
    fplot.panel_label(ax, "labels: cells / points n", fontsize=6)
    ax.grid(True, which="major", alpha=0.3)
    fplot.legend_outside(ax, "bottom", ncol=1)
    C.save(fig, os.path.join(args.outdir, "spectral_work_precision.png"))
    return chk.exit_status()


if __name__ == "__main__":
    sys.exit(C.main_wrapper(main))
