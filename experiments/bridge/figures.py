#!/usr/bin/python3
"""Figures and target checks for `fpkit bridge` (experiments/bridge/run.sh, docs/bridge-donsker.md).

Usage:
    /usr/bin/python3 experiments/bridge/figures.py [FILE.h5] [-o OUTDIR] [--json FILE]

Reads FILE.h5 (default results/bridge/bridge.h5), written by `fpkit bridge`; writes
OUTDIR/bridge_moments.png, bridge_kolmogorov.png, bridge_ks_band.png (default OUTDIR: results;
with --format pdf|svg|png, repeatable or a comma list, those extensions instead)
and a JSON summary (default: beside FILE.h5, summary.json). Every number comes from the file; the
only other input is the table EXACT_COVERAGE below.

Targets (exit status 1 if one is missed, 2 if the file lacks a part):
  [bridge]      max |z| of the sample mean and of the sample covariance entries < 5;
  [kolmogorov]  continuity-corrected KS distance < 3 x the sampling floor E sup|B0| / sqrt(N) at
                the headline m; corrected quantiles within 3 standard errors of the exact ones;
  [ks_band]     coverage of Stephens' band within 2 standard errors of 1 - alpha at the headline
                n; the asymptotic band's coverage within 2 standard errors of its exact
                finite-n value (EXACT_COVERAGE) where n is tabulated.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

FORMATS = ["png"]  # set by main() from --format
Z_MAX = 5.0
KS_FLOOR_FACTOR = 3.0
QUANTILE_SE = 3.0
COVERAGE_SE = 2.0

# Exact coverage P(sqrt(n) D_n <= k) of the asymptotic 95% band F_n +- k/sqrt(n), k = 1.3580986,
# and of Stephens' band F_n +- k/(sqrt(n) + 0.12 + 0.11/sqrt(n)), from the exact law of D_n
# (Simard & L'Ecuyer, "Computing the two-sided Kolmogorov-Smirnov distribution", J. Stat. Softw.
# 39(11), 2011, as scipy.stats.kstwo 1.10 implements it), tabulated so that this script needs no
# scipy. alpha = 0.05 only.
EXACT_COVERAGE = {  # n: (asymptotic band, Stephens' band)
    5: (0.972972, 0.950910), 10: (0.965706, 0.950165), 20: (0.960809, 0.950116),
    30: (0.958722, 0.950101), 50: (0.956677, 0.950087), 100: (0.954665, 0.950071),
    300: (0.952660, 0.950047), 1000: (0.951445, 0.950028), 3000: (0.950831, 0.950017),
}


class InputError(Exception):
    pass


class Checks:
    """Collects pass/fail of the stated targets."""

    def __init__(self):
        self.failed = []

    def check(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return bool(ok)


def kolmogorov_cdf(x):
    """K(x) by the alternating series (x >= 0.3 here; the C library is the reference)."""
    x = np.asarray(x, float)
    k = np.arange(1, 101)[:, None]
    return 1.0 - 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k * k * x * x), axis=0)


def read(path):
    """The three parts of an `fpkit bridge` file (through fpkit.open): {part: {dataset: array,
    "@attribute": value}} and "attrs" (the root attributes)."""
    try:
        result = fpkit.open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (did run.sh run?)") from None
    except (OSError, fpkit.FormatError) as e:
        raise InputError(str(e)) from None
    with result as r:
        if r.kind != "bridge":
            raise InputError(f"{path}: not an `fpkit bridge` file ({r.kind})")
        out = {"attrs": r.attrs}
        for part in r.parts:
            g = r.group(part)
            out[part] = {k: g[k] for k in g.datasets()}
            out[part].update({"@" + k: v for k, v in g.attrs.items()})
    return out


def need(run, part):
    if part not in run:
        raise InputError(f"the file has no /{part} (is the [{part}] section in the config?)")
    return run[part]


def fig_moments(B, outdir, checks, summary):
    t, mean, cov = B["t"], B["mean"], B["cov"]
    em, ec = B["exact_mean"], B["exact_cov"]
    zm, zc = B["z_mean"], B["z_cov"]
    n = int(B["@paths"])
    print(f"[bridge] a = {B['@a']:g} -> b = {B['@b']:g} on [0, {B['@T']:g}], sigma = "
          f"{B['@sigma']:g}, {int(B['@steps'])} steps, {n} paths")
    zmax_m, zmax_c = float(np.nanmax(np.abs(zm))), float(np.nanmax(np.abs(zc)))
    inner = zc[1:-1, 1:-1][np.triu_indices(len(t) - 2)]
    print(f"  max |z| mean {zmax_m:.2f} ({zm.size - 2} times), covariance {zmax_c:.2f} "
          f"({inner.size} entries)")
    checks.check(zmax_m < Z_MAX, f"bridge: max |z| of the mean {zmax_m:.2f} < {Z_MAX:g}")
    checks.check(zmax_c < Z_MAX, f"bridge: max |z| of the covariance {zmax_c:.2f} < {Z_MAX:g}")
    if "em_var" in B:
        mid, h = len(t) // 2, float(B["@T"]) / int(B["@steps"])
        s2h = float(B["@sigma"]) ** 2 * h
        bias = B["em_var"][mid] - np.diag(ec)[mid]
        se = B["em_var_exact"][mid] * np.sqrt(2.0 / (n - 1))
        print(f"  Euler-Maruyama on the bridge SDE: Var at t = {t[mid]:g}: sample "
              f"{B['em_var'][mid]:.5f}, exact chain {B['em_var_exact'][mid]:.5f}, bridge "
              f"{np.diag(ec)[mid]:.5f}: bias {bias / s2h:.3f} sigma^2 h ({bias / se:.1f} SE; "
              f"chain: {float(B['@em_bias_mid_over_sigma2h']):.3f})")
        zem = float(B["@em_max_abs_z"])
        checks.check(zem < Z_MAX, f"bridge: Euler-Maruyama moments vs the exact chain's, max |z| "
                     f"{zem:.2f} < {Z_MAX:g}")
        summary["bridge_em"] = {"var_mid": B["em_var"][mid],
                                "var_mid_chain": B["em_var_exact"][mid],
                                "var_mid_bridge": np.diag(ec)[mid],
                                "bias_over_sigma2h": bias / s2h, "bias_over_se": bias / se,
                                "max_abs_z_vs_chain": zem}
    summary["bridge"] = {"max_abs_z_mean": zmax_m, "max_abs_z_cov": zmax_c,
                         "entries": int(inner.size),
                         "paths": n, "steps": int(B["@steps"]),
                         "wall_seconds": float(B["@wall_seconds"])}

    fig, ax = fplot.figure(columns=2, aspect=0.8, nrows=2, ncols=2)
    a = ax[0, 0]
    sd = np.sqrt(np.diag(ec))
    if "paths" in B:
        for p in B["paths"]:
            a.plot(t, p, lw=0.6, alpha=0.5)
    a.plot(t, mean, "k", lw=2, label="sample mean")
    a.plot(t, em, "--", color=fplot.OKABE_ITO["vermillion"], lw=1.5, label="exact a + (b-a)t/T")
    a.fill_between(t, em - 2 * sd, em + 2 * sd, color=fplot.OKABE_ITO["vermillion"],
                   alpha=0.1, label="exact mean ± 2 sd")
    a.set(xlabel="t", ylabel="X(t)")
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[0, 1]
    a.plot(t, np.diag(cov), "k.", label="sample variance")
    a.plot(t, np.diag(ec), "-", color=fplot.OKABE_ITO["vermillion"], label="exact σ² t(T-t)/T")
    if "em_var" in B:
        a.plot(t, B["em_var"], ".", color=fplot.OKABE_ITO["bluish_green"], ms=4,
               label="Euler–Maruyama on the SDE")
        a.plot(t, B["em_var_exact"], "-", color=fplot.OKABE_ITO["bluish_green"], lw=0.8,
               label="exact variance of the EM chain")
    k = len(t) // 4
    a.plot(t, cov[k], ".", color=fplot.OKABE_ITO["blue"], ms=4,
           label=f"sample cov(X(t_{k}), X(t))")
    a.plot(t, ec[k], "-", color=fplot.OKABE_ITO["blue"], lw=1,
           label="exact σ² min(s,t)(T-max)/T")
    a.set(xlabel="t", ylabel="covariance")
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[1, 0]
    im = a.imshow(zc, origin="lower", cmap="RdBu_r", vmin=-4, vmax=4,
                  extent=[t[0], t[-1], t[0], t[-1]])
    fig.colorbar(im, ax=a, label="z")
    a.set(xlabel="t", ylabel="s")
    a = ax[1, 1]
    zs = np.concatenate([inner, zm[1:-1]])
    a.hist(zs, bins=50, density=True, alpha=0.6, label=f"{zs.size} z-scores")
    g = np.linspace(-5, 5, 201)
    a.plot(g, np.exp(-g * g / 2) / np.sqrt(2 * np.pi), "-", color=fplot.OKABE_ITO["vermillion"],
           label="N(0, 1)")
    a.set(xlabel="z")
    fplot.legend_outside(a, "bottom", ncol=1)
    save(fig, os.path.join(outdir, "bridge_moments"))


def fig_kolmogorov(K, outdir, checks, summary):
    m, ksr, ksc = K["steps"], K["ks_raw"], K["ks_corrected"]
    floor, N, head_m = float(K["@floor"]), int(K["@paths"]), int(K["@steps"])
    beta = float(K["@beta"])  # Broadie-Glasserman-Kou: -zeta(1/2)/sqrt(2 pi)
    head = int(np.flatnonzero(m == head_m)[0])
    print(f"[kolmogorov] {N} bridges, KS floor {floor:.3e}, beta = {float(K['@beta']):.6f}")
    print(f"  {'m':>6} {'KS raw':>10} {'/floor':>7} {'KS corr':>10} {'/floor':>7} "
          f"{'mean raw':>9} {'mean corr':>9}")
    for j in range(len(m)):
        print(f"  {int(m[j]):6d} {ksr[j]:10.3e} {ksr[j] / floor:7.2f} {ksc[j]:10.3e} "
              f"{ksc[j] / floor:7.2f} {K['mean_raw'][j]:9.5f} {K['mean_corrected'][j]:9.5f}")
    checks.check(ksc[head] < KS_FLOOR_FACTOR * floor,
                 f"kolmogorov: corrected KS {ksc[head]:.3e} < {KS_FLOOR_FACTOR:g} x floor "
                 f"{floor:.3e} at m = {head_m} (ratio {ksc[head] / floor:.2f})")
    qp, qe, qr, qc, se = (K[k] for k in ("quantile_p", "quantile_exact", "quantile_raw",
                                          "quantile_corrected", "quantile_se"))
    print(f"  {'p':>6} {'exact':>9} {'raw':>9} {'corrected':>9} {'SE':>8} {'z raw':>7} "
          f"{'z corr':>7}")
    for i in range(len(qp)):
        print(f"  {qp[i]:6.3f} {qe[i]:9.5f} {qr[i]:9.5f} {qc[i]:9.5f} {se[i]:8.5f} "
              f"{(qr[i] - qe[i]) / se[i]:7.2f} {(qc[i] - qe[i]) / se[i]:7.2f}")
        checks.check(abs(qc[i] - qe[i]) < QUANTILE_SE * se[i],
                     f"kolmogorov: corrected {qp[i]:g}-quantile {qc[i]:.5f} within "
                     f"{QUANTILE_SE:g} SE of {qe[i]:.5f} (z = {(qc[i] - qe[i]) / se[i]:.2f})")
    # slope of the raw distance against h = 1/m on the grids with m >= 50, where the shift
    # beta sqrt(h) is small enough for the distance to be linear in it: sqrt(h) expected
    fine = m >= 50
    slope = (float(np.polyfit(np.log(1.0 / m[fine]), np.log(ksr[fine]), 1)[0])
             if fine.sum() > 1 else float("nan"))
    print(f"  raw KS distance ~ h^{slope:.3f} for m >= 50 (sqrt(h) expected: the shift "
          f"beta sqrt(h))")
    summary["kolmogorov"] = {
        "paths": N, "steps": [int(v) for v in m], "headline_steps": head_m, "floor": floor,
        "ks_raw": ksr, "ks_corrected": ksc, "ks_raw_over_floor": ksr / floor,
        "ks_corrected_over_floor": ksc / floor, "raw_slope_in_h": slope,
        "mean_raw": K["mean_raw"], "mean_corrected": K["mean_corrected"],
        "mean_exact": float(K["@mean_exact"]),
        "quantiles": {"p": qp, "exact": qe, "raw": qr, "corrected": qc, "se": se},
        "wall_seconds": float(K["@wall_seconds"])}

    fig, ax = fplot.figure(columns=2, aspect=0.6, nrows=1, ncols=3)
    a = ax[0]
    h = 1.0 / m
    a.loglog(m, ksr, "o-", label="raw discrete max")
    a.loglog(m, ksc, "s-", label="corrected, max + β√h")
    a.axhline(floor, color="k", ls="--", lw=1, label=f"floor E sup|B⁰|/√N (N = {N})")
    a.axhline(KS_FLOOR_FACTOR * floor, color="k", ls=":", lw=1, label="3 × floor (target)")
    pdf_max = float(np.max(K["pdf"]))
    a.loglog(m, beta * np.sqrt(h) * pdf_max, "--", color="C0", lw=0.8,
             label="β√h · max K′ (shift alone)")
    a.set(xlabel="grid steps m (h = 1/m)", ylabel="KS distance to Kolmogorov's law")
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[1]
    x = K["max_raw"]  # sorted
    c = beta * np.sqrt(1.0 / head_m)
    ecdf = np.arange(1, x.size + 1) / x.size
    kx = np.interp(x, K["x"], K["cdf"])
    kc = np.interp(x + c, K["x"], K["cdf"])
    a.plot(x, ecdf - kx, lw=1, label=f"raw, m = {head_m}")
    a.plot(x + c, ecdf - kc, lw=1, label="corrected, + β√h")
    a.axhspan(-floor, floor, color="k", alpha=0.1, label="± floor")
    a.axhline(0, color="k", lw=0.8)
    a.set(xlabel="x", ylabel="F_N(x) − K(x)")
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[2]
    a.errorbar(qp, qr - qe, yerr=se, fmt="o", capsize=3, label="raw − exact")
    a.errorbar(qp + 0.002, qc - qe, yerr=se, fmt="s", capsize=3, label="corrected − exact")
    a.axhline(0, color="k", lw=0.8)
    a.set(xlabel="p", ylabel="quantile error")
    fplot.legend_outside(a, "bottom", ncol=1)
    save(fig, os.path.join(outdir, "bridge_kolmogorov"))


def fig_band(S, outdir, checks, summary):
    n, ca, cs, sea, ses = (S[k] for k in ("n", "coverage_asymptotic", "coverage_stephens",
                                          "se_asymptotic", "se_stephens"))
    alpha, k, R, nh = float(S["@alpha"]), float(S["@k_alpha"]), int(S["@repetitions"]), int(S["@n"])
    head = int(np.flatnonzero(n == nh)[0])
    level = 1.0 - alpha
    print(f"[ks_band] {R} repetitions, alpha = {alpha:g}, k_alpha = {k:.6f}")
    print(f"  {'n':>6} {'asymptotic':>18} {'exact':>8} {'Stephens':>18} {'exact':>8} "
          f"{'mean rn*D':>9} {'KS asym':>9} {'KS Steph':>9}")
    for j in range(len(n)):
        ex = EXACT_COVERAGE.get(int(n[j])) if abs(alpha - 0.05) < 1e-12 else None
        exs = (f"{ex[0]:8.4f}", f"{ex[1]:8.4f}") if ex else ("", "")
        print(f"  {int(n[j]):6d} {ca[j]:9.4f} ± {sea[j]:.4f} {exs[0]:>8} {cs[j]:9.4f} ± "
              f"{ses[j]:.4f} {exs[1]:>8} {S['mean_sqrt_n_d'][j]:9.5f} "
              f"{S['ks_asymptotic'][j]:9.3e} {S['ks_stephens'][j]:9.3e}")
    checks.check(abs(cs[head] - level) < COVERAGE_SE * ses[head],
                 f"ks_band: Stephens coverage {cs[head]:.4f} ± {ses[head]:.4f} within "
                 f"{COVERAGE_SE:g} SE of {level:g} at n = {nh}")
    ex = EXACT_COVERAGE.get(nh) if abs(alpha - 0.05) < 1e-12 else None
    if ex:
        checks.check(abs(ca[head] - ex[0]) < COVERAGE_SE * sea[head],
                     f"ks_band: asymptotic-band coverage {ca[head]:.4f} ± {sea[head]:.4f} within "
                     f"{COVERAGE_SE:g} SE of its exact finite-n value {ex[0]:.4f} at n = {nh} "
                     f"({(ca[head] - level) / sea[head]:+.2f} SE from {level:g})")
    summary["ks_band"] = {
        "repetitions": R, "alpha": alpha, "k_alpha": k, "headline_n": nh,
        "n": [int(v) for v in n], "coverage_asymptotic": ca, "se_asymptotic": sea,
        "coverage_stephens": cs, "se_stephens": ses,
        "exact_coverage": {int(v): EXACT_COVERAGE.get(int(v)) for v in n},
        "mean_sqrt_n_d": S["mean_sqrt_n_d"], "ks_asymptotic": S["ks_asymptotic"],
        "ks_stephens": S["ks_stephens"], "floor": float(S["@floor"]),
        "wall_seconds": float(S["@wall_seconds"])}

    fig, ax = fplot.figure(columns=2, aspect=0.6, nrows=1, ncols=3)
    a = ax[0]
    if "sample_u" in S:
        for u in S["sample_u"]:
            m = u.size
            # the uniform empirical process sqrt(n)(F_n(u) - u) jumps by 1/sqrt(n) at each u_(i)
            uu = np.concatenate([[0.0], np.repeat(u, 2), [1.0]])
            fn = np.concatenate([[0.0], np.repeat(np.arange(m + 1) / m, 2)[1:-1], [1.0]])
            a.plot(uu, np.sqrt(m) * (fn - uu), lw=0.8)
    kst = k * np.sqrt(nh) / (np.sqrt(nh) + 0.12 + 0.11 / np.sqrt(nh))
    for s in (-1, 1):
        a.axhline(s * k, color="k", ls="--", lw=1,
                  label="± k_α (asymptotic band)" if s > 0 else None)
        a.axhline(s * kst, color=fplot.OKABE_ITO["vermillion"], ls=":", lw=1,
                  label="± Stephens" if s > 0 else None)
    a.set(xlabel="u = Φ(x)", ylabel="√n (F_n − Φ)", ylim=(-2.2, 2.2))
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[1]
    a.errorbar(n, ca, yerr=COVERAGE_SE * sea, fmt="o", capsize=3, label="asymptotic band ± 2 SE")
    a.errorbar(n * 1.05, cs, yerr=COVERAGE_SE * ses, fmt="s", capsize=3,
               label="Stephens' band ± 2 SE")
    if abs(alpha - 0.05) < 1e-12:
        en = np.array(sorted(EXACT_COVERAGE))
        a.plot(en, [EXACT_COVERAGE[v][0] for v in en], "C0-", lw=0.8, label="exact, asymptotic")
        a.plot(en, [EXACT_COVERAGE[v][1] for v in en], "C1-", lw=0.8, label="exact, Stephens")
    a.axhline(level, color="k", lw=0.8)
    a.set_xscale("log")
    a.set(xlabel="n", ylabel="coverage")
    fplot.legend_outside(a, "bottom", ncol=1)
    a = ax[2]
    bins = np.linspace(0.2, 2.5, 60)
    a.hist(S["sqrt_n_d"], bins=bins, density=True, alpha=0.5, label=f"√n D_n, n = {nh}")
    xg = np.linspace(0.3, 2.5, 300)
    a.plot(xg[1:], np.diff(kolmogorov_cdf(xg)) / np.diff(xg), "k", lw=1, label="Kolmogorov K′")
    a.axvline(k, color="k", ls="--", lw=0.8)
    a.set(xlabel="x")
    fplot.legend_outside(a, "bottom", ncol=1)
    save(fig, os.path.join(outdir, "bridge_ks_band"))


def save(fig, path):
    """path without extension gets one file per --format."""
    fplot.save(fig, path, FORMATS)


def plain(obj):
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", default="results/bridge/bridge.h5")
    ap.add_argument("-o", "--outdir", default="results")
    ap.add_argument("--json", default=None)
    fplot.add_format_argument(ap)
    args = ap.parse_args()
    FORMATS[:] = args.format
    run = read(args.file)
    checks = Checks()
    summary = {"file": args.file}
    fig_moments(need(run, "bridge"), args.outdir, checks, summary)
    fig_kolmogorov(need(run, "kolmogorov"), args.outdir, checks, summary)
    fig_band(need(run, "ks_band"), args.outdir, checks, summary)
    out = args.json or os.path.join(os.path.dirname(os.path.abspath(args.file)), "summary.json")
    with open(out, "w") as fh:
        json.dump(plain(summary), fh, indent=2, allow_nan=False)
        fh.write("\n")
    print(f"wrote {out}")
    if checks.failed:
        print(f"figures.py: {len(checks.failed)} target(s) missed:", file=sys.stderr)
        for w in checks.failed:
            print(f"  {w}", file=sys.stderr)
        return 1
    print("figures.py: all targets met")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as e:
        print(f"figures.py: error: {e}", file=sys.stderr)
        sys.exit(2)
