#!/usr/bin/python3
"""Experiment (a): the Gaussian Schroedinger bridge, grid vs closed form vs Monte Carlo.

Usage:
    /usr/bin/python3 experiments/sb/gaussian.py [-r RESULTS] [--format pdf|svg|png]

Reads RESULTS/sb/gauss{1d,2d}_s<sigma>_{exact,em}.h5 (written by experiments/sb/run.sh with
`fpkit sb`; the `_em` files are the same bridge sampled by Euler-Maruyama), compares each output
time with the closed form (sbref.GaussianBridge: Bunne et al. 2023 at any T) and writes
RESULTS/sb_gauss_moments, sb_gauss_drift, sb_gauss_mc (.png by default) and
RESULTS/sb/gauss_summary.json.

Errors (each output time t):
  mean   |m - m*| / max(|m*|, sqrt(tr Sigma*))  (relative; the spread where the mean crosses 0)
  cov    ||Sigma - Sigma*||_F / ||Sigma*||_F    (moments of p_t over the cell centres)
  drift  relative L2 of b(., t) against the closed form, weighted by p_t over the cells holding
         99.9% of the mass (the definition of tests/test_sb.c)
  MC     ||histogram - p_t||_1 / the sampling floor (both from the file), and the sample mean's
         largest |z| against the closed form (the exact sampler's covariance carries the jitter
         ((1 - s)^2 + s^2) h^2 / 12 per axis of its uniform-in-cell end points: docs/sb.md)

Targets (exit status 1 if one is missed, 2 if no file can be read):
  sigma >= 0.3: mean and cov <= 1e-6 at every output time (the issue's number); drift <= 1e-4 at
  the times the grid resolves (t and T - t >= tau_r; inside the end strips the drift is the
  documented interpolation in t and is only reported); every sigma: mean and cov <= 1e-4; the
  exact sampler's L1 <= 1.5 floors at every time and its mean within 4.5 standard errors.
"""

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402
import sbref  # noqa: E402

FORMATS = ["png"]
TIGHT_SIGMA = 0.3     # the 1e-6 holds from this sigma up
MOMENT_TIGHT = 1e-6
MOMENT_LOOSE = 1e-4
DRIFT_TOL = 1e-4
L1_FLOORS = 1.5
Z_MAX = 4.5


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return bool(ok)


def closed_form(r):
    """The GaussianBridge of the file's [mu0], [muT] (Gaussians given by mean and std or cov);
    r: the file's fpkit.SBResult."""
    cfg, d = r.config, r.grid.dim

    def law(sec):
        m = cfg.numbers(sec, "mean")
        if "cov" in cfg[sec]:
            S = cfg.numbers(sec, "cov").reshape(d, d)
        else:
            S = np.diag(cfg.numbers(sec, "std") ** 2)
        return m, S

    m0, A = law("mu0")
    m1, B = law("muT")
    return sbref.GaussianBridge(m0, A, m1, B, r.sigma, r.T)


def analyse(path):
    with fpkit.open(path) as r:
        if r.kind != "sb":
            raise ValueError(f"{path}: not an `fpkit sb` file")
        G = closed_form(r)
        info, axes = r.info, list(r.grid.axes.values())
        t, T = r.t, r.T
        X = r.points()
        P, B, mean, cov, kl = r.marginal(), r.drift(), r.mean, r.cov, r.kl
        out = dict(file=path, sigma=r.sigma, T=T, eps=r.eps, tau_r=info["tau_r"],
                   cells=[a.n for a in axes], h=[a.h for a in axes], lo=[a.lo for a in axes],
                   hi=[a.hi for a in axes], t=t.tolist(), wall_seconds=info["wall_seconds"],
                   iterations=info["iterations"], mean=[], cov=[], drift=[], resolved=[],
                   mass=r.mass.tolist())
        smp = r.sample
        if smp is not None:
            l1, floor = r.sample_l1()
            smp_mean = smp["mean"]
    for k, tk in enumerate(t):
        m, S = G.marginal(tk)
        out["mean"].append(float(np.linalg.norm(mean[k] - m)
                                 / max(np.linalg.norm(m), np.sqrt(np.trace(S)))))
        out["cov"].append(float(np.linalg.norm(np.atleast_2d(cov[k]) - S) / np.linalg.norm(S)))
        out["drift"].append(sbref.weighted_rel_l2(P[k], B[k], G.drift(tk, X)))
        out["resolved"].append(bool(tk == 0 or tk == T or min(tk, T - tk) >= info["tau_r"]))
    if "girsanov" in kl:
        out["kl_static"], out["kl_girsanov"] = kl["static"], kl["girsanov"]
    if smp is not None:
        n = int(smp.attrs["paths"])
        out["method"] = smp.attrs["method"]
        out["paths"] = n
        out["l1_ratio"] = (l1 / floor).tolist()
        z = []
        for k, tk in enumerate(t):
            m, S = G.marginal(tk)
            if out["method"] == "exact":
                s = tk / T
                S = S + ((1 - s) ** 2 + s ** 2) * np.diag(np.array(out["h"]) ** 2) / 12
            z.append(float(np.max(np.abs(smp_mean[k] - m) / np.sqrt(np.diag(S) / n))))
        out["mean_z"] = z
        if out["method"] == "em":
            out["dt"], out["steps"] = smp.attrs["dt"], smp.attrs["steps"]
    return out


def label(sigma):
    return f"σ = {sigma:g}"


def figures(cases, outdir):
    dims = [d for d in ("1d", "2d") if cases[d]]
    colours = {}
    sigmas = sorted({c["sigma"] for d in dims for c in cases[d]}, reverse=True)
    for i, s in enumerate(sigmas):
        colours[s] = fplot.CYCLE[i % len(fplot.CYCLE)]

    # moments
    fig, ax = fplot.figure(columns=2, aspect=0.62, nrows=len(dims), ncols=2, squeeze=False)
    for r, d in enumerate(dims):
        for c in cases[d]:
            if c.get("method") == "em":
                continue
            for j, key in enumerate(("mean", "cov")):
                e = np.maximum(c[key], 1e-17)
                ax[r][j].semilogy(c["t"], e, "o-", ms=2.5, color=colours[c["sigma"]],
                                  label=f"{label(c['sigma'])}, {'×'.join(map(str, c['cells']))}")
        for j, key in enumerate(("mean", "covariance")):
            a = ax[r][j]
            a.axhline(MOMENT_TIGHT, color="k", ls=":", lw=0.8)
            a.set_xlabel("t")
            a.set_ylabel(f"{key} error (rel.)")
            fplot.panel_label(a, f"{d.upper()}: {key}")
        fplot.legend_outside(ax[r][1], "right")
    fplot.save(fig, os.path.join(outdir, "sb_gauss_moments"), FORMATS)

    # drift (every output time is >= tau_r from the ends, as the marginal's own resolution
    # condition implies, so all markers are the kernel formula; an open marker would be the
    # interpolation in t of the end strips)
    from matplotlib.lines import Line2D
    fig, ax = fplot.figure(columns=2, aspect=0.36, nrows=1, ncols=len(dims), squeeze=False)
    for j, d in enumerate(dims):
        a = ax[0][j]
        for c in cases[d]:
            if c.get("method") == "em":
                continue
            t, e, res = np.array(c["t"]), np.maximum(c["drift"], 1e-17), np.array(c["resolved"])
            a.semilogy(t, e, "-", color=colours[c["sigma"]], lw=0.8)
            a.semilogy(t[res], e[res], "o", ms=2.5, color=colours[c["sigma"]])
            a.semilogy(t[~res], e[~res], "o", ms=2.5, mfc="none", color=colours[c["sigma"]])
        a.axhline(DRIFT_TOL, color="k", ls=":", lw=0.8)
        a.set_xlabel("t")
        a.set_ylabel("drift error (rel. L2, 99.9% of mass)")
        fplot.panel_label(a, d.upper())
    handles = [Line2D([], [], color=colours[s], marker="o", ls="-", ms=2.5, label=label(s))
               for s in sigmas]
    fplot.legend_above(fig, handles=handles, labels=[h.get_label() for h in handles],
                       ncol=len(handles), space=0.1)
    fplot.save(fig, os.path.join(outdir, "sb_gauss_drift"), FORMATS)

    # Monte Carlo vs grid: one legend above both panels (every sigma, and the two samplers)
    fig, ax = fplot.figure(columns=2, aspect=0.36, nrows=1, ncols=len(dims), squeeze=False)
    top = L1_FLOORS
    for j, d in enumerate(dims):
        a = ax[0][j]
        for c in cases[d]:
            if "l1_ratio" not in c:
                continue
            em = c["method"] == "em"
            a.plot(c["t"], c["l1_ratio"], "s--" if em else "o-", ms=2.5, lw=0.8,
                   color=colours[c["sigma"]])
            top = max(top, max(c["l1_ratio"]))
        a.axhline(L1_FLOORS, color="k", ls=":", lw=0.8)
        a.axhline(1.0, color="k", ls="-", lw=0.4, alpha=0.5)
        a.set_xlabel("t")
        a.set_ylabel("‖histogram − p_t‖₁ / sampling floor")
        fplot.panel_label(a, d.upper())
    for j in range(len(dims)):
        ax[0][j].set_ylim(0.5, 1.05 * top)
    handles = [Line2D([], [], color=colours[s], marker="o", ls="-", ms=2.5, label=label(s))
               for s in sigmas]
    handles += [Line2D([], [], color="k", marker="o", ls="-", ms=2.5, label="exact sampler"),
                Line2D([], [], color="k", marker="s", ls="--", ms=2.5, label="EM, dt = 0.01")]
    fplot.legend_above(fig, handles=handles, labels=[h.get_label() for h in handles],
                       ncol=len(handles), space=0.1)
    fplot.save(fig, os.path.join(outdir, "sb_gauss_mc"), FORMATS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", "--results", default="results")
    fplot.add_format_argument(ap)
    args = ap.parse_args()
    FORMATS[:] = args.format
    checks = Checks()
    bunne, limit = sbref.self_check()
    print(f"closed form (any T) vs Bunne et al. (T = 1): {bunne:.1e} (rel.); drift at T vs "
          f"T - 1e-7: {limit:.1e}")
    checks.check(bunne < 1e-12 and limit < 1e-5, "closed form agrees with Bunne et al. (2023)")
    cases = {"1d": [], "2d": []}
    for d in cases:
        files = glob.glob(os.path.join(args.results, "sb", f"gauss{d}_s*.h5"))
        key = lambda p: (-float(re.search(r"_s([0-9.]+?)(_em)?\.h5$", p).group(1)), p)  # noqa: E731
        for path in sorted(files, key=key):
            try:
                cases[d].append(analyse(path))
            except (OSError, ValueError, KeyError) as e:
                print(f"gaussian.py: {path}: {e}", file=sys.stderr)
                return 2
    if not cases["1d"] and not cases["2d"]:
        print(f"gaussian.py: no {args.results}/sb/gauss*.h5 (did run.sh run?)", file=sys.stderr)
        return 2
    for d in cases:
        for c in cases[d]:
            tag = f"{d} σ = {c['sigma']:g} ({'×'.join(map(str, c['cells']))} cells, h = " \
                  f"{c['h'][0]:.4g}, τ_r = {c['tau_r']:.3g}, {c.get('method', 'no')} sample)"
            print(f"[{tag}]")
            if c.get("method") != "em":
                res = np.array(c["resolved"])
                me, ce, de = max(c["mean"]), max(c["cov"]), np.array(c["drift"])
                print(f"  max over {len(c['t'])} times: mean {me:.2e}, cov {ce:.2e}; drift "
                      f"{de[res].max():.2e} (resolved times), {de.max():.2e} (all); "
                      f"Sinkhorn {c['iterations']} it., {c['wall_seconds']:.2f} s")
                if "kl_static" in c:
                    print(f"  KL static {c['kl_static']:.10g}, Girsanov {c['kl_girsanov']:.10g} "
                          f"(rel. {abs(c['kl_static'] - c['kl_girsanov']) / c['kl_static']:.1e})")
                bound = MOMENT_TIGHT if c["sigma"] >= TIGHT_SIGMA else MOMENT_LOOSE
                checks.check(me <= bound and ce <= bound,
                             f"{d} σ = {c['sigma']:g}: mean {me:.1e}, cov {ce:.1e} <= {bound:g}")
                if c["sigma"] >= TIGHT_SIGMA:
                    checks.check(de[res].max() <= DRIFT_TOL,
                                 f"{d} σ = {c['sigma']:g}: drift {de[res].max():.1e} <= "
                                 f"{DRIFT_TOL:g} at resolved times")
            if "l1_ratio" in c:
                r, z = np.array(c["l1_ratio"]), max(c["mean_z"])
                extra = f", dt {c['dt']:g} ({c['steps']} steps)" if c["method"] == "em" else ""
                print(f"  {c['method']} sampler, {c['paths']} paths{extra}: L1 / floor "
                      f"{r.min():.2f}-{r.max():.2f}, mean max |z| {z:.2f}")
                if c["method"] == "exact":
                    checks.check(r.max() <= L1_FLOORS and z <= Z_MAX,
                                 f"{d} σ = {c['sigma']:g}: exact sampler L1 <= {L1_FLOORS} "
                                 f"floors, |z| <= {Z_MAX}")
    figures(cases, args.results)
    summary = os.path.join(args.results, "sb", "gauss_summary.json")
    with open(summary, "w") as f:
        json.dump(dict(cases=cases, failed=checks.failed), f, indent=1)
    print(f"wrote {summary}")
    if checks.failed:
        print(f"gaussian.py: {len(checks.failed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
