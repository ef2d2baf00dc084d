#!/usr/bin/python3
"""Part (e) of experiments/diffusion (README.md): Langevin vs annealed Langevin with the exact
score, the classic demonstration of Song & Ermon (2019, section 3.2).

  langevin.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/diffusion/langevin{1d,2d}_{ula,annealed}.h5 and langevin1d_mala.h5
(`fpkit sample` with family = langevin, run.sh), writes RESULTS_DIR/diffusion_langevin.* and
RESULTS_DIR/diffusion/langevin_summary.json.

Step convention (Song & Ermon 2019, Algorithm 1): x <- x + (alpha/2) grad log p + sqrt(alpha) z,
alpha_i = eps sigma_i^2 / sigma_L^2 at noise level sigma_i. Both samplers get the same number of
score evaluations (5000 per point) from the same uniform start. Targets (the issue's numbers):
in 1D, plain Langevin misses the small mode's weight by more than 10 standard errors and annealed
Langevin recovers it within 3, and ends with at most half the TV; in 2D the annealed sampler's mode
weights are each within 4 SE (plain Langevin's more than 10 off) and its histogram within 1.5
sampling floors of the target. MALA is
printed for reference (its accept/reject step does not help it cross the barrier either).
"""
import os
import sys

from common import Checks, fplot, open_sample, parser, write_summary
import numpy as np


def read(path):
    with open_sample(path) as r:
        tr = r.part("trace")
        return dict(it=tr["iteration"], tv=tr["tv"], mw=tr["mode_weight"],
                    mw_se=tr["mode_weight_se"], w=r.dataset("sample/mode_weight"),
                    se=r.dataset("sample/mode_weight_se"),
                    target=r.dataset("target/mode_weight"), nfe=r.nfe, floors=r.floors(),
                    hist=r.histogram(density=True), p=r.target(density=True), grid=r.grid,
                    acceptance=float(r.info.get("acceptance", 1.0)))


def main():
    args = parser(__doc__).parse_args()
    check = Checks()
    d = os.path.join(args.results, "diffusion")
    need = [f"langevin{k}_{m}.h5" for k in ("1d", "2d") for m in ("ula", "annealed")]
    if not all(os.path.exists(os.path.join(d, f)) for f in need):
        print(f"langevin.py: missing langevin*.h5 in {d} (did run.sh run?)", file=sys.stderr)
        return 2
    R = {f[:-3]: read(os.path.join(d, f)) for f in need}
    mala = os.path.join(d, "langevin1d_mala.h5")
    if os.path.exists(mala):
        R["langevin1d_mala"] = read(mala)
    summary = {}
    print("(e) Langevin vs annealed Langevin, exact score, 5000 score evaluations per point")
    for dim in ("1d", "2d"):
        for m in ("ula", "mala", "annealed"):
            key = f"langevin{dim}_{m}"
            if key not in R:
                continue
            r = R[key]
            z = np.abs(r["w"] - r["target"]) / r["se"]
            print(f"  {dim} {m:8s}: mode weights " + " ".join(
                f"{w:.4f}+-{s:.4f}" for w, s in zip(r["w"], r["se"])) + " (target " +
                " ".join(f"{t:.4f}" for t in r["target"]) + f"), max {z.max():.1f} SE off; TV "
                f"{r['tv'][0]:.3f} -> {r['tv'][-1]:.4f}; L1 {r['floors']:.2f} floors"
                + (f"; acceptance {r['acceptance']:.3f}" if m == "mala" else ""))
            summary[key] = dict(weights=r["w"].tolist(), se=r["se"].tolist(),
                                target=r["target"].tolist(), z_max=float(z.max()),
                                tv_final=float(r["tv"][-1]), nfe=r["nfe"])
    u, a = R["langevin1d_ula"], R["langevin1d_annealed"]
    zu = abs(u["w"][0] - u["target"][0]) / u["se"][0]
    za = abs(a["w"][0] - a["target"][0]) / a["se"][0]
    check(u["nfe"] == a["nfe"], f"same budget: {u['nfe']} score evaluations per point each")
    check(zu > 10, f"1D: plain Langevin misses the 0.2 mode's weight by {zu:.1f} SE (> 10)")
    check(za < 3, f"1D: annealed Langevin recovers it within {za:.1f} SE (< 3)")
    check(a["tv"][-1] <= 0.5 * u["tv"][-1], "1D: annealed ends with at most half the TV")
    u2, a2 = R["langevin2d_ula"], R["langevin2d_annealed"]
    z2u = np.abs(u2["w"] - u2["target"]) / u2["se"]
    z2a = np.abs(a2["w"] - a2["target"]) / a2["se"]
    check(z2a.max() < 4 and z2u.max() > 10, f"2D: annealed mode weights within {z2a.max():.1f} SE"
          f" (< 4), plain Langevin {z2u.max():.1f} SE off (> 10)")
    check(a2["floors"] <= 1.5, f"2D: annealed histogram within {a2['floors']:.2f} sampling floors"
          " (<= 1.5; the TV there is the sampling floor's)")

    fig, axes = fplot.figure(columns=2, aspect=0.62, nrows=2, ncols=3)
    ax, bx, cx = axes[0]
    for key, lab, col, ls in (("langevin1d_ula", "Langevin (ULA)", 1, "-"),
                              ("langevin1d_mala", "MALA", 3, "--"),
                              ("langevin1d_annealed", "annealed", 0, "-")):
        if key not in R:
            continue
        r = R[key]
        ax.semilogy(np.maximum(r["it"], 1), r["tv"], ls, lw=0.9, color=fplot.CYCLE[col],
                    label=lab)
        bx.plot(r["it"], r["mw"][:, 0], ls, lw=0.9, color=fplot.CYCLE[col], label=lab)
        bx.fill_between(r["it"], r["mw"][:, 0] - 2 * r["mw_se"][:, 0],
                        r["mw"][:, 0] + 2 * r["mw_se"][:, 0], color=fplot.CYCLE[col],
                        alpha=0.25, lw=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("TV to the target")
    ax.legend(fontsize=6)
    fplot.panel_label(ax, "(a) 1D")
    bx.axhline(u["target"][0], color="0.4", lw=0.6, ls="--", label="exact 0.2")
    bx.set_xlabel("iteration")
    bx.set_ylabel("weight of the small mode (±2 SE)")
    fplot.panel_label(bx, "(b) 1D")
    x = u["grid"].x.centres
    cx.plot(x, u["p"], color="0.5", lw=2.2, label="target")
    cx.step(x, u["hist"], where="mid", lw=0.7, color=fplot.CYCLE[1], label="ULA")
    cx.step(x, a["hist"], where="mid", lw=0.7, color=fplot.CYCLE[0], label="annealed")
    cx.set_xlabel("x")
    cx.legend(fontsize=6)
    fplot.panel_label(cx, "(c) 1D")
    g = u2["grid"]
    ext = [g.x.lo, g.x.hi, g.y.lo, g.y.hi]
    vmax = u2["p"].max()
    for axk, img, lab in zip(axes[1], (u2["p"], u2["hist"], a2["hist"]),
                             ("(d) 2D target", "(e) 2D Langevin", "(f) 2D annealed")):
        axk.imshow(img, origin="lower", extent=ext, vmin=0, vmax=vmax, cmap="viridis",
                   aspect="auto")
        fplot.panel_label(axk, lab)
        axk.set_xlabel("x")
    axes[1][0].set_ylabel("y")
    fplot.save(fig, os.path.join(args.results, "diffusion_langevin"), args.format)
    write_summary(args.results, "langevin", summary)
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
