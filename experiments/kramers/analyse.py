#!/usr/bin/python3
"""Figures and checks of the Kramers study (experiments/kramers/README.md).

Reads the runs of run.sh from DIR (results/kramers), writes results/kramers_*.png and
DIR/summary.json, prints every measured number and exits non-zero when a stated target is
missed:
  (a) double well in phase space: FV, spectral and Monte Carlo agree (x-marginal L1); the
      spectral density at t = 40 and FV's stationary solve against the Gibbs density;
  (b) harmonic Kramers equation: FV, spectral vs the exact Gaussian law, MC moments within
      4 standard errors;
  (c) escape rates from the survival's decay vs Kramers' formula at three frictions, within the
      finite-barrier correction;
  (d) Kramers-Moyal: drift and diffusion within their 95% intervals in >= 93% of the bins;
  (e) correlated-noise OU: as (b).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit.plot as fplot  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402

fplot.style()
FAILS = []
SUMMARY = {}


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)


def h5(path):
    if not os.path.exists(path):
        sys.exit(f"analyse.py: {path} is missing (did run.sh run?)")
    return h5py.File(path, "r")


def paths_of(f):
    cfg = f.attrs.get("config", "")
    cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
    sec = None
    for line in cfg.splitlines():
        s = line.split(";")[0].strip()
        if s.startswith("["):
            sec = s
        elif sec == "[mc]" and s.startswith("paths"):
            return float(s.split("=")[1])
    raise KeyError("mc paths not in the stored configuration")


def linear_case(key, name, path, targets):
    f = h5(path)
    t = f["errors/t"][()]
    out = {"t": t.tolist()}
    for m in ("fv", "spectral", "mc"):
        key = f"l1_{m}_exact"
        if key in f["errors"]:
            out[f"l1_{m}"] = f["errors"][key][()].tolist()
    N = paths_of(f)
    em, ec, mm, mcv = (f[k][()] for k in ("exact/mean", "exact/cov", "mc/mean", "mc/cov"))
    worst = 0.0
    for k in range(len(t)):
        if t[k] == 0:
            continue
        d = np.diag(ec[k])
        worst = max(worst, np.max(np.abs(mm[k] - em[k]) / np.sqrt(d / N)))
        se = np.sqrt((ec[k] ** 2 + np.outer(d, d)) / N)
        worst = max(worst, np.max(np.abs(mcv[k] - ec[k]) / se))
    out["mc_worst_se"] = worst
    for m, tol in targets.items():
        e = max(out[f"l1_{m}"])
        check(e <= tol, f"{name}: {m} L1 vs the exact law, max over t = {e:.3e} (target <= {tol:g})")
    check(worst <= 4.0, f"{name}: MC mean and covariance within {worst:.2f} standard errors of "
          f"the exact law (target <= 4; {N:.0f} paths)")
    SUMMARY[key] = out
    return f, out


def marginal_x(p, hv):
    return p.sum(axis=0) * hv  # density[y=v][x]: integrate over v


def part_a(d, outdir, formats):
    f = h5(os.path.join(d, "double_well.h5"))
    hx = f["grid/x"][1] - f["grid/x"][0]
    hv = f["grid/y"][1] - f["grid/y"][0]
    t = f["fv/t"][()]
    res = {"t": t.tolist()}
    l1 = {}
    for a, b in (("fv", "spectral"), ("mc", "spectral")):
        pa, pb = f[f"{a}/density"][()], f[f"{b}/density"][()]
        l1[f"{a}_{b}"] = [float(np.sum(np.abs(marginal_x(pa[k], hv) - marginal_x(pb[k], hv))) * hx)
                          for k in range(len(t))]
    res.update(l1)
    e_fv = max(l1["fv_spectral"][1:])
    check(e_fv <= 2e-2, f"(a) double well: FV vs spectral x-marginal L1, max over t = {e_fv:.3e} "
          "(target <= 2e-2)")
    e_mc = max(l1["mc_spectral"][1:])
    check(e_mc <= 3e-2, f"(a) double well: MC (BAOAB) vs spectral x-marginal L1, max over t = "
          f"{e_mc:.3e} (target <= 3e-2: histogram noise and bias)")
    # stationary (gibbs.ini, beta = gamma = 1): spectral at t = 36 and FV's stationary solve on
    # three grids against the Gibbs cells (fpk_exact_stationary_cells, in /stationary/exact)
    gl1, hs = [], []
    for n in (48, 96, 192):
        fs = h5(os.path.join(d, f"gibbs_fv_n{n}.h5"))
        xg, vg = fs["grid/x"][()], fs["grid/y"][()]
        cell = (xg[1] - xg[0]) * (vg[1] - vg[0])
        gl1.append(float(np.sum(np.abs(fs["stationary/fv"][()] - fs["stationary/exact"][()])) * cell))
        hs.append(xg[1] - xg[0])
        if n == 96:
            gibbs96, cell96 = fs["stationary/exact"][()], cell
    order = float(np.polyfit(np.log(hs), np.log(gl1), 1)[0])
    fg = h5(os.path.join(d, "gibbs_spectral.h5"))
    e_sp = float(np.sum(np.abs(fg["spectral/density"][()][-1] - gibbs96)) * cell96)
    res.update(gibbs_l1_fv=gl1, gibbs_fv_order=order, gibbs_l1_spectral=e_sp)
    check(e_sp <= 1e-10, f"(a') spectral (96 x 64) at t = {fg['spectral/t'][-1]:g} vs the Gibbs "
          f"density: L1 = {e_sp:.3e} (target <= 1e-10)")
    check(1.8 <= order <= 2.3, f"(a') FV stationary solve vs the Gibbs density: L1 = "
          f"{', '.join(f'{e:.3e}' for e in gl1)} on 48x32, 96x64, 192x128: order {order:.2f} "
          "(target 2)")
    SUMMARY["double_well"] = res

    x, v = f["grid/x"][()], f["grid/y"][()]
    ks = [0, 1, 3, len(t) - 1]
    fig, axes = fplot.figure(columns=2, nrows=3, ncols=len(ks), height=6.0)
    for r, m in enumerate(("fv", "spectral", "mc")):
        p = f[f"{m}/density"][()]
        vmax = max(p[k].max() for k in ks)
        for c, k in enumerate(ks):
            ax = axes[r][c]
            ax.pcolormesh(x, v, p[k], shading="auto", vmin=0, vmax=vmax, cmap="viridis")
            if r == 0:
                ax.set_title(f"t = {t[k]:g}")
            if c == 0:
                ax.set_ylabel(f"{fplot.method_label(m)}\nv")
            if r == 2:
                ax.set_xlabel("x")
    fplot.save(fig, os.path.join(outdir, "kramers_double_well"), formats)

    fig, ax = fplot.figure(columns=1)
    for m in ("fv", "spectral", "mc"):
        p = f[f"{m}/density"][()][-1]
        ax.plot(x, marginal_x(p, hv), **fplot.method_style(m, label=fplot.method_label(m)))
    ax.set_xlabel("x")
    ax.set_ylabel(f"position density at t = {t[-1]:g}")
    ax.legend()
    fplot.save(fig, os.path.join(outdir, "kramers_double_well_marginal"), formats)


def kramers_rate(beta, gamma):
    lb = math.sqrt(gamma * gamma / 4 + 1) - gamma / 2
    return lb * math.sqrt(2) / (2 * math.pi) * math.exp(-beta / 4)


def overdamped_mfpt(beta, x0=-1.0, b=0.8):
    """T = beta int_x0^b e^{beta U(y)} int_-inf^y e^{-beta U(z)} dz dy, U = x^4/4 - x^2/2 (the
    exact overdamped MFPT, Gardiner 5.2.7; fpk_exact_mfpt_1d in C), by the trapezoid rule on a
    fine grid (1e-7 relative here)."""
    z = np.linspace(-4.0, b, 400001)
    U = z ** 4 / 4 - z ** 2 / 2
    w = np.exp(-beta * (U - U.min()))
    inner = np.concatenate([[0], np.cumsum((w[1:] + w[:-1]) / 2 * np.diff(z))])
    outer = np.exp(beta * (U - U.min())) * inner
    m = z >= x0
    zz, oo = z[m], outer[m]
    return beta * float(np.sum((oo[1:] + oo[:-1]) / 2 * np.diff(zz)))


def part_c(d, outdir, formats):
    beta = 10.0
    res = {}
    # the finite-barrier correction of the overdamped limit, exactly: k = 1/T vs Smoluchowski
    T = overdamped_mfpt(beta)
    c_beta = 1.0 / (T * math.sqrt(2) / (2 * math.pi) * math.exp(-beta / 4)) - 1.0
    res["overdamped_correction"] = c_beta
    print(f"(c) overdamped double well, beta = {beta:g}: exact 1/(T k_Smoluchowski) - 1 = "
          f"{c_beta:+.4f} (the O(1/(beta dU)) correction, beta dU = {beta / 4:g})")
    fig, (ax1, ax2) = fplot.figure(columns=2, ncols=2)
    gammas = (0.5, 2.0, 8.0)
    ratios = {}
    for g in gammas:
        f = h5(os.path.join(d, f"escape_gamma{g:g}.h5"))
        kK = kramers_rate(beta, g)
        row = {"kramers": kK}
        for m, key, lab in (("fv", "fv/mass", "FV"), ("mc", "mc/survival", "MC")):
            t = f[f"{m}/t"][()]
            S = f[key][()]
            sel = (t >= t[-1] / 3) & (S > 0)
            k, _ = np.polyfit(t[sel], np.log(S[sel]), 1)
            k = -k
            row[m] = k
            if m == "mc":
                N = paths_of(f)
                # binomial SE of log S at the window's ends -> SE of the slope (conservative)
                t1, t2 = t[sel][0], t[sel][-1]
                s1, s2 = S[sel][0], S[sel][-1]
                se = math.sqrt((1 - s1) / (N * s1) + (1 - s2) / (N * s2)) / (t2 - t1)
                row["mc_se"] = se
            ax1.semilogy(t, S, **fplot.method_style(m, label=lab if g == gammas[0] else None))
        ax1.semilogy(t, np.exp(-kK * t), "k:", lw=0.8, label="Kramers' rate" if g == gammas[0] else None)
        ax1.annotate(f"gamma = {g:g}", (t[-1], S[-1]), textcoords="offset points", xytext=(-4, -12),
                     ha="right", fontsize=7)
        res[f"gamma_{g:g}"] = row
        ratios[g] = row
        r_fv, r_mc = row["fv"] / kK, row["mc"] / kK
        print(f"(c) gamma = {g:g}: k_FV = {row['fv']:.4e}, k_MC = {row['mc']:.4e} +- "
              f"{row['mc_se']:.1e}, Kramers {kK:.4e}: ratios {r_fv:.3f} (FV), {r_mc:.3f} (MC)")
        check(abs(row["fv"] - row["mc"]) <= 4 * row["mc_se"] + 0.02 * row["fv"],
              f"(c) gamma = {g:g}: FV and MC escape rates agree ({row['fv']:.4e} vs "
              f"{row['mc']:.4e}, 4 SE + 2%)")
        # Kramers' formula holds up to O(1/(beta dU)): the deviation must be within twice the
        # exact overdamped correction at this beta (and of its sign)
        dev = r_fv - 1.0
        check(abs(dev) <= 2 * abs(c_beta) and dev * c_beta > 0,
              f"(c) gamma = {g:g}: k/k_Kramers - 1 = {dev:+.3f}, within the finite-barrier "
              f"correction (same sign, |.| <= 2 x {abs(c_beta):.3f})")
    ax1.set_xlabel("t")
    ax1.set_ylabel("survival S(t)")
    ax1.legend(fontsize=7)
    gg = np.geomspace(0.2, 20, 200)
    k_tst = math.sqrt(2) / (2 * math.pi) * math.exp(-beta / 4)
    ax2.loglog(gg, [kramers_rate(beta, g) / k_tst for g in gg], "k-", label="Kramers (1940)")
    ax2.loglog(gg, (1 + c_beta) / gg, "k--", lw=0.8, label="overdamped, exact MFPT")
    for i, g in enumerate(gammas):
        ax2.plot(g, ratios[g]["fv"] / k_tst, **fplot.method_style(
            "fv", marker="o", linestyle="none", label=None if i else fplot.method_label("fv")))
        ax2.plot(g, ratios[g]["mc"] / k_tst, **fplot.method_style(
            "mc", marker="x", linestyle="none", label=None if i else fplot.method_label("mc")))
    ax2.set_xlabel("friction gamma")
    ax2.set_ylabel("k / k_TST")
    ax2.legend(fontsize=7)
    fplot.save(fig, os.path.join(outdir, "kramers_escape"), formats)
    SUMMARY["escape"] = res


def part_d(d, outdir, formats):
    c1 = c2 = n = 0
    first = None
    for s in range(1, 11):
        f = h5(os.path.join(d, f"km_seed{s}.h5"))
        a = f["km"].attrs
        c1 += int(a["d1_covered"])
        c2 += int(a["d2_covered"])
        n += int(a["compared_bins"])
        if first is None:
            first = {k: np.asarray(f["km"][k][()]).reshape(-1) for k in f["km"]}  # 1D: [1][bin]
            first["tau"] = float(a["tau"])
    f1, f2 = c1 / n, c2 / n
    SUMMARY["km"] = {"drift_coverage": f1, "diffusion_coverage": f2, "bins": n}
    check(f1 >= 0.93, f"(d) Kramers-Moyal drift within its 95% interval in {c1}/{n} = {f1:.3f} "
          "of the bins over 10 seeds (target >= 0.93)")
    check(f2 >= 0.93, f"(d) Kramers-Moyal diffusion within its 95% interval in {c2}/{n} = "
          f"{f2:.3f} of the bins over 10 seeds (target >= 0.93)")
    x = first["x_mean"]
    fig, (a1, a2, a3) = fplot.figure(columns=2, ncols=3)
    a1.fill_between(x, first["d1_lo"], first["d1_hi"], color="C0", alpha=0.3, lw=0)
    a1.plot(x, first["d1"], "C0.", ms=3, label="estimate, 95% interval")
    a1.plot(x, first["d1_true"], "k-", lw=0.8, label="x - x^3")
    a1.set_xlabel("x")
    a1.set_ylabel("drift D1")
    a1.legend(fontsize=7)
    a2.fill_between(x, first["d2_lo"], first["d2_hi"], color="C1", alpha=0.3, lw=0)
    a2.plot(x, first["d2"], "C1.", ms=3)
    a2.plot(x, first["d2_true"], "k-", lw=0.8)
    a2.set_xlabel("x")
    a2.set_ylabel("diffusion D2")
    a3.fill_between(x, first["pawula_lo"], first["pawula_hi"], color="C2", alpha=0.3, lw=0)
    a3.plot(x, first["pawula"], "C2.", ms=3)
    a3.axhline(1.0, color="k", lw=0.8)
    a3.set_xlabel("x")
    a3.set_ylabel("Pawula ratio M4 / (3 M2^2)")
    fplot.save(fig, os.path.join(outdir, "kramers_km"), formats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("-o", "--outdir", default="results")
    fplot.add_format_argument(ap)
    a = ap.parse_args()
    formats = a.format
    part_a(a.dir, a.outdir, formats)
    linear_case("harmonic", "(b) harmonic Kramers", os.path.join(a.dir, "harmonic.h5"),
                {"fv": 2e-2, "spectral": 1e-5})
    part_c(a.dir, a.outdir, formats)
    part_d(a.dir, a.outdir, formats)
    linear_case("ou_correlated", "(e) correlated OU", os.path.join(a.dir, "ou_correlated.h5"),
                {"fv": 2e-2, "spectral": 1e-5})
    with open(os.path.join(a.dir, "summary.json"), "w") as fh:
        json.dump(SUMMARY, fh, indent=1, default=float)
    if FAILS:
        print(f"analyse.py: {len(FAILS)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
