#!/usr/bin/python3
"""Part (d) of experiments/diffusion (README.md): denoising score matching with a model linear in
its parameters (random Fourier features, ridge least squares), against the exact score.

  dsm.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/diffusion/dsm_fit.h5 and dsm_exact.h5 (`fpkit sample`, run.sh), writes
RESULTS_DIR/diffusion_dsm.* and RESULTS_DIR/diffusion/dsm_summary.json.

Per noise level t: the DSM loss of the fit on held-out samples, that of the exact score on the
same samples (its expectation is the exact minimum J* = d/b_t² - E|∇log p_t|²), and J* itself.
Then DPM-Solver-3 (30 steps) with the fitted and with the exact score, and the reverse-time FP
equation with each: /fp is the exact law at t_min of the continuous-time reverse SDE that uses
the score, and the Girsanov bound (Song, Durkan, Murray & Ermon 2021) says
KL(p_tmin | it) <= 1/2 ∫ g² E|s - ∇log p_t|² dt. Targets: the held-out loss within 1% of the exact
score's at every level (the issue's number); the KL within the Girsanov term; the sample with
the fitted score farther from p_tmin than with the exact score (the error the score adds).
"""
import os
import sys

from common import Checks, fplot, open_sample, parser, write_summary
import numpy as np


def main():
    args = parser(__doc__).parse_args()
    check = Checks()
    d = os.path.join(args.results, "diffusion")
    pf, pe = os.path.join(d, "dsm_fit.h5"), os.path.join(d, "dsm_exact.h5")
    if not (os.path.exists(pf) and os.path.exists(pe)):
        print(f"dsm.py: missing dsm_fit.h5 / dsm_exact.h5 in {d} (did run.sh run?)",
              file=sys.stderr)
        return 2
    with open_sample(pf) as r:
        g = r.part("dsm")
        t, valid, exact, jstar, train = (g["t"], g["valid_loss"], g["exact_loss"], g["j_star"],
                                         g["train_loss"])
        term = float(g.attrs["girsanov_score_term"])
        kl_fit = float(r.part("fp").attrs["kl_exact_to_fp"])
        x, p = r.grid.x.centres, r.target(density=True)
        h_fit, fl_fit, ks_fit = r.histogram(density=True), r.floors(), r.ks
    with open_sample(pe) as r:
        kl_ex = float(r.part("fp").attrs["kl_exact_to_fp"])
        h_ex, fl_ex, ks_ex = r.histogram(density=True), r.floors(), r.ks
    excess = (valid - exact) / exact
    print("(d) DSM, per level: t, held-out loss of the fit, of the exact score, J*, excess")
    for k in range(len(t)):
        print(f"  t {t[k]:.4g}: {valid[k]:.6g} {exact[k]:.6g} {jstar[k]:.6g} "
              f"{100 * excess[k]:+.3f}%")
    print(f"  sampler (DPM-Solver-3, 30 steps): fitted score L1 {fl_fit:.2f} floors, KS "
          f"{ks_fit:.4f}; exact score {fl_ex:.2f} floors, KS {ks_ex:.4f}")
    print(f"  reverse-time FP: KL(p_tmin | fitted-score law) {kl_fit:.4g} <= Girsanov term "
          f"{term:.4g}; exact score {kl_ex:.3g}")
    check(bool(np.all(np.abs(excess) <= 0.01)),
          f"held-out DSM loss within 1% of the exact score's at every level (max "
          f"{100 * np.max(np.abs(excess)):.3f}%)")
    check(kl_fit <= term, "KL of the fitted-score sampler within its Girsanov bound")
    check(kl_fit > 10 * kl_ex, "the fitted score's KL well above the exact score's (the scheme's)")
    check(ks_fit > 2 * ks_ex, "the fitted score's sample farther from p_tmin (KS) than the exact")

    fig, (ax, bx) = fplot.figure(columns=2, aspect=0.42, nrows=1, ncols=2)
    ax.semilogx(t, 100 * excess, "o-", ms=3, lw=0.8, color=fplot.CYCLE[0],
                label="fit vs exact score (held out)")
    ax.semilogx(t, 100 * (exact - jstar) / jstar, "s-", ms=3, lw=0.8, color=fplot.CYCLE[2],
                label="exact score vs $J^*$ (sampling)")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("noise level t")
    ax.set_ylabel("DSM loss, relative difference (%)")
    ax.legend(fontsize=6)
    fplot.panel_label(ax, "(a)")
    bx.plot(x, p, color="0.5", lw=2.2, label="exact $p_{t_{min}}$")
    bx.step(x, h_ex, where="mid", lw=0.7, color=fplot.CYCLE[0], label="exact score")
    bx.step(x, h_fit, where="mid", lw=0.7, color=fplot.CYCLE[1], label="DSM score")
    bx.set_xlim(-4.5, 4.5)
    bx.set_xlabel("x")
    bx.set_ylabel("density")
    bx.legend(fontsize=6, title=f"KL {kl_fit:.2g} <= bound {term:.2g}", title_fontsize=6)
    fplot.panel_label(bx, "(b)")
    fplot.save(fig, os.path.join(args.results, "diffusion_dsm"), args.format)
    write_summary(args.results, "dsm", dict(t=t.tolist(), excess=excess.tolist(),
                                            kl_fit=kl_fit, kl_exact=kl_ex, girsanov_term=term,
                                            ks_fit=ks_fit, ks_exact=ks_ex))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
