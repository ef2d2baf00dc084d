#!/usr/bin/python3
"""Experiment (e) of experiments/sb (README.md there): a double-well Langevin reference, solved by
the FP-based IPF (`[sb] reference = model`), checked by Monte Carlo only (no closed form).

  double_well.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/sb/double_well.h5, prints per output time the histogram L1 of the Euler–Maruyama
sample against the IPF marginal beside the sampling floor, the moments of both, and KL(P* ‖ R)
three ways (the chain's static value, the Girsanov integral over the chain's levels, the Monte
Carlo estimate along the EM paths with its standard error). Checks (exit 1): L1 <= 1.5 floors at
every output time, |mean_MC − mean_grid| <= 4.5 SE, the MC KL within 4 SE plus the O(dt) scale of
the static KL, Girsanov within 1% of static (the chain's O(dt + h²)). Draws
RESULTS_DIR/sb_double_well.* (the marginals over time with the EM histograms, kept paths on the
potential's landscape) and writes RESULTS_DIR/sb/double_well_summary.json.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--results", default="results")
    fplot.add_format_argument(ap)
    args = ap.parse_args()
    path = os.path.join(args.results, "sb", "double_well.h5")
    if not os.path.exists(path):
        print(f"double_well.py: no {path}", file=sys.stderr)
        return 2
    with fpkit.open(path) as r:
        x = r.grid.x.centres
        ts, P = r.t, r.marginal()
        mean, cov = r.mean[:, 0], r.cov[:, 0, 0]
        hist = r.histogram()
        l1, floor = r.sample_l1()
        smp = r.sample
        smean, scov = smp["mean"][:, 0], smp["cov"][:, 0, 0]
        paths = r.paths
        n = int(smp.attrs["paths"])
        kl = {"kl_static": r.kl["static"], "kl_girsanov": r.kl["girsanov"]}
        kl.update({k: float(smp.attrs[k]) for k in ("kl_mc", "kl_mc_se", "kl_mc_energy",
                                                     "kl_mc_energy_se", "kl_mc_bias_scale")})
        dt, T = float(r.info["dt"]), r.T
    ok = True
    print(f"{'t':>6} {'mean grid':>11} {'mean EM':>11} {'z':>6} {'var grid':>10} {'var EM':>10} "
          f"{'L1 EM':>8} {'floor':>8} {'ratio':>6}")
    rows = []
    for k, t in enumerate(ts):
        z = (smean[k] - mean[k]) / np.sqrt(cov[k] / n)
        ratio = l1[k] / floor[k]
        rows.append({"t": float(t), "mean": float(mean[k]), "mean_em": float(smean[k]),
                     "z": float(z), "var": float(cov[k]), "var_em": float(scov[k]),
                     "l1": float(l1[k]), "floor": float(floor[k])})
        print(f"{t:6.3g} {mean[k]:11.6f} {smean[k]:11.6f} {z:6.2f} {cov[k]:10.6f} {scov[k]:10.6f} "
              f"{l1[k]:8.4f} {floor[k]:8.4f} {ratio:6.2f}")
        if not ratio <= 1.5:
            print(f"FAIL: t = {t:g}: EM histogram L1 {ratio:.2f} sampling floors > 1.5"); ok = False
        if not abs(z) <= 4.5:
            print(f"FAIL: t = {t:g}: EM mean {z:.1f} standard errors from the grid"); ok = False
    zs = (kl["kl_mc"] - kl["kl_static"]) / kl["kl_mc_se"]
    gap = abs(kl["kl_girsanov"] / kl["kl_static"] - 1)
    print(f"KL(P*|R): static {kl['kl_static']:.8g}, Girsanov {kl['kl_girsanov']:.8g} "
          f"(rel {gap:.2e}, the chain's O(dt + h^2)), Monte Carlo {kl['kl_mc']:.6g} +- "
          f"{kl['kl_mc_se']:.2g} ({zs:+.2f} SE; energy form {kl['kl_mc_energy']:.6g} +- "
          f"{kl['kl_mc_energy_se']:.2g})")
    if not abs(kl["kl_mc"] - kl["kl_static"]) <= 4 * kl["kl_mc_se"] + kl["kl_mc_bias_scale"]:
        print("FAIL: Monte Carlo KL off the static value by more than 4 SE + KL dt/T"); ok = False
    if not gap <= 1e-2:
        print("FAIL: Girsanov KL off the static value by more than 1%"); ok = False
    with open(os.path.join(args.results, "sb", "double_well_summary.json"), "w") as fh:
        json.dump({"rows": rows, "kl": kl, "dt": dt, "T": T, "paths": n}, fh, indent=1)

    fig, (ax1, ax2) = fplot.figure(2, aspect=0.36, ncols=2)
    h = x[1] - x[0]
    show = [0, len(ts) // 4, len(ts) // 2, 3 * len(ts) // 4, len(ts) - 1]
    for c, k in enumerate(show):
        ax1.plot(x, P[k] / h, color=f"C{c}", lw=1, label=f"t = {ts[k]:g}")
        ax1.plot(x, hist[k] / h, color=f"C{c}", lw=0.6, ls=":", drawstyle="steps-mid")
    ax1.set_xlabel("x")
    ax1.set_ylabel("density")
    ax1.legend(frameon=False, fontsize=7, title="solid: IPF marginal\ndotted: EM histogram",
               title_fontsize=7)
    if paths is not None:
        for q in range(paths.shape[0]):
            ax2.plot(ts, paths[q, :, 0], color="0.4", lw=0.5, alpha=0.7)
    ax2.plot(ts, mean, color="C0", lw=1.5, label="mean")
    ax2.fill_between(ts, mean - np.sqrt(cov), mean + np.sqrt(cov), color="C0", alpha=0.2,
                     lw=0, label="± 1 sd")
    for xw in (-1, 1):
        ax2.axhline(xw, color="0.7", lw=0.5, ls="--")
    ax2.set_xlabel("t")
    ax2.set_ylabel("x (wells at ±1)")
    ax2.legend(frameon=False, fontsize=7)
    fplot.save(fig, os.path.join(args.results, "sb_double_well"), args.format)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
