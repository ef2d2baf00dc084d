#!/usr/bin/python3
"""Part (f) of experiments/diffusion (README.md): posterior sampling for a linear inverse problem
with a mixture prior — inpainting one coordinate of a 2D mixture (posterior2d.ini).

  posterior.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/diffusion/posterior_*.h5 (`fpkit sample` with [observation], run.sh), writes
RESULTS_DIR/diffusion_posterior.* and RESULTS_DIR/diffusion/posterior_summary.json.

The exact posterior of y = Hx + N(0, s^2 I) under a Gaussian-mixture prior is a Gaussian mixture
(docs/diffusion.md "Posterior sampling"), and so is its noised version: the samplers can run with
the exact posterior score. DPS (Chung et al. 2023) approximates the likelihood's score through the
prior's Tweedie denoiser instead. Langevin (MALA) samples the posterior at t = 0 with its exact
score. Each sample is compared with the exact posterior on the grid (L1 in units of the sampling
floor of an exact sample). Targets: the exact posterior score within 1.5 floors with the
probability-flow ODE and the reverse SDE; MALA within 3 floors; DPS measurably biased (more than 3
floors with either family), and the reverse-time FP equation with its score (the continuous-time
sampler's exact law, no Monte Carlo) far from the posterior where the exact score's is at it:
the approximation's error, not the sampler's.
"""
import glob
import os
import sys

from common import Checks, fplot, open_sample, parser, write_summary
import numpy as np

RUNS = (("ode_exact", "PF-ODE, exact posterior score"), ("sde_exact", "reverse SDE, exact"),
        ("ode_dps", "PF-ODE, DPS"), ("sde_dps", "reverse SDE, DPS"),
        ("mala", "MALA on the posterior"))


def main():
    args = parser(__doc__).parse_args()
    check = Checks()
    d = os.path.join(args.results, "diffusion")
    R = {}
    for key, _ in RUNS:
        p = os.path.join(d, f"posterior_{key}.h5")
        if not os.path.exists(p):
            print(f"posterior.py: missing {p} (did run.sh run?)", file=sys.stderr)
            return 2
        with open_sample(p) as r:
            post = r.part("posterior")
            R[key] = dict(floors=r.floors(), hist=r.histogram(density=True),
                          p=r.target(density=True), grid=r.grid, mean=r.mean,
                          tmean=r.target_mean, nfe=r.nfe, weights=post["weights"],
                          score=str(post.attrs["score"]), method=r.method,
                          fp_l1=(float(r.part("fp").attrs["l1_to_exact"])
                                 if r.part("fp") is not None else None))
    print("(f) posterior sampling, H = [1 0], y = 0, noise 0.5: L1 to the exact posterior")
    for key, lab in RUNS:
        r = R[key]
        print(f"  {lab:32s} ({r['method']}, NFE {r['nfe']}): {r['floors']:.2f} floors; mean "
              + " ".join(f"{v:.3f}" for v in r["mean"]) + " (exact "
              + " ".join(f"{v:.3f}" for v in r["tmean"]) + ")")
    print("  posterior weights " + " ".join(f"{w:.4f}" for w in R["ode_exact"]["weights"]))
    check(R["ode_exact"]["floors"] <= 1.5 and R["sde_exact"]["floors"] <= 1.5,
          "exact posterior score within 1.5 sampling floors (PF-ODE and reverse SDE)")
    fx, fd = R["sde_exact"]["fp_l1"], R["sde_dps"]["fp_l1"]
    print(f"  reverse-time FP (FV 60 x 60, dt 2e-3), the samplers' exact laws at t_min: L1 "
          f"{fx:.3g} with the exact posterior score, {fd:.3g} with DPS")
    check(R["mala"]["floors"] <= 3, "MALA on the posterior within 3 floors")
    check(fx < 0.02 and fd > 0.3, "reverse-time FP: the exact score's law at the posterior "
          "(L1 < 0.02), DPS's far from it (> 0.3): DPS's bias is its approximation's")
    check(R["ode_dps"]["floors"] > 3 and R["sde_dps"]["floors"] > 3,
          "DPS measurably biased (> 3 floors) with both families")

    fig, (ax, bx, cx) = fplot.figure(columns=2, aspect=0.36, nrows=1, ncols=3)
    g = R["ode_exact"]["grid"]
    ext = [g.x.lo, g.x.hi, g.y.lo, g.y.hi]
    ax.imshow(R["ode_exact"]["p"], origin="lower", extent=ext, cmap="viridis", aspect="auto")
    ax.set_xlabel("x1 (observed)")
    ax.set_ylabel("x2 (inpainted)")
    fplot.panel_label(ax, "(a) exact posterior")
    y = g.y.centres
    bx.plot(y, R["ode_exact"]["p"].sum(axis=1) * g.x.h, color="0.5", lw=2.2, label="exact")
    for k, (key, lab) in enumerate(RUNS):
        if key == "sde_exact":
            continue
        bx.step(y, R[key]["hist"].sum(axis=1) * g.x.h, where="mid", lw=0.7,
                color=fplot.CYCLE[k % len(fplot.CYCLE)], label=lab)
    bx.set_xlabel("x2")
    bx.set_ylabel("marginal density of x2")
    bx.legend(fontsize=5.5)
    fplot.panel_label(bx, "(b)")
    cx.bar(range(len(RUNS)), [R[k]["floors"] for k, _ in RUNS],
           color=[fplot.CYCLE[i % len(fplot.CYCLE)] for i in range(len(RUNS))])
    cx.axhline(1, color="0.4", lw=0.6, ls="--")
    cx.set_xticks(range(len(RUNS)))
    cx.set_xticklabels([k.replace("_", "\n") for k, _ in RUNS], fontsize=6)
    cx.set_ylabel("L1 / sampling floor")
    fplot.panel_label(cx, "(c)")
    fplot.save(fig, os.path.join(args.results, "diffusion_posterior"), args.format)
    write_summary(args.results, "posterior", {k: dict(floors=R[k]["floors"], nfe=R[k]["nfe"],
                                                      mean=R[k]["mean"].tolist(),
                                                      fp_l1=R[k]["fp_l1"])
                                              for k, _ in RUNS})
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
