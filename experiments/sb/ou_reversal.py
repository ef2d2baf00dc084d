#!/usr/bin/python3
"""Experiment (d) of experiments/sb (README.md there): the Schrödinger bridge from a Gaussian
mixture μ0 to N(0, 1) with the OU reference dX = −θX dt + σ dW (θ = 1, σ = √2, stationary law
N(0, 1)) against the time reversal of the diffusion model's OU noising process started from μ0.

  ou_reversal.py [-r RESULTS_DIR] [--format pdf|svg|png]

Reads RESULTS_DIR/sb/ou_reversal_T*.h5 (experiments/sb/run.sh), writes RESULTS_DIR/sb_ou_reversal.*
and RESULTS_DIR/sb/ou_reversal_summary.json.

The noising process is the reference itself, so its marginals are the noised mixture
(closed-forms.md, "Gaussian mixtures under linear forward SDEs"): q_t = Σ_k w_k N(a_t μ_k,
a_t² s_k² + b_t²), a_t = e^{−θt}, b_t² = σ²(1 − e^{−2θt})/(2θ), and the drift of its reversal at
physical time t is b̂_rev = θx + σ²∇log q_t with the exact score. The bridge pins X_T ~ N(0, 1)
instead of q_T; as T grows q_T → N(0, 1) and the bridge → the reference: p_t → q_t, the forward
drift → −θx and the backward drift → b̂_rev. Printed per T: KL(P* ‖ R) (static), KL(N(0,1) ‖ q_T)
on the grid (the data-processing lower bound of KL(P* ‖ R)), max_t L1(p_t, q_t), the p-weighted
RMS of the forward control b + θx and of b̂ − b̂_rev over the output times. Checks (exit 1): the
fitted decay rates over T >= 2 of KL (e^{−2θT}) and of L1 (e^{−θT}) within 20%, KL(P*‖R) >=
KL(N(0,1)‖q_T) (data processing), and the backward drift at T = 8 within 1e-3 of the exact reversal.
"""
import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import numpy as np  # noqa: E402

W, MU, SD = np.array([0.3, 0.7]), np.array([-2.0, 1.5]), np.array([0.4, 0.6])


def noised(x, t, theta, sigma):
    """q_t at x (density), its score and the cell probabilities."""
    a = np.exp(-theta * t)
    b2 = sigma * sigma * (-np.expm1(-2 * theta * t)) / (2 * theta)
    var = a * a * SD ** 2 + b2
    logc = (np.log(W)[:, None] - 0.5 * np.log(2 * np.pi * var)[:, None]
            - 0.5 * (x[None, :] - a * MU[:, None]) ** 2 / var[:, None])
    m = logc.max(0)
    logq = m + np.log(np.exp(logc - m).sum(0))
    r = np.exp(logc - logq)  # responsibilities
    score = (r * (a * MU[:, None] - x[None, :]) / var[:, None]).sum(0)
    return np.exp(logq), score


def analyse(path):
    with fpkit.open(path) as r:
        theta, sigma, T = r.theta, r.sigma, r.T
        x = r.grid.x.centres
        h = x[1] - x[0]
        ts = r.t
        P, B = r.marginal(), r.drift()[:, 0]
        BW = r.drift(backward=True)[:, 0] if "sb/backward_drift" in r else None
        row = {"T": T, "kl_bridge": r.kl["static"]}
    qT, _ = noised(x, T, theta, sigma)
    qT = qT * h / (qT * h).sum()
    mT = np.exp(-0.5 * x * x)
    mT /= mT.sum()
    row["kl_end"] = float((mT * np.log(mT / qT)).sum())
    l1 = ctrl = bw = 0.0
    for k, t in enumerate(ts):
        q, score = noised(x, t, theta, sigma)
        q = q * h / (q * h).sum()
        p = P[k]
        l1 = max(l1, float(np.abs(p - q).sum()))
        ctrl = max(ctrl, float(np.sqrt((p * (B[k] + theta * x) ** 2).sum())))
        if BW is not None and 0 < t:  # at t = 0 the limit uses a difference of log μ0
            bw = max(bw, float(np.sqrt((p * (BW[k] - (theta * x + sigma ** 2 * score)) ** 2).sum())))
    row.update(l1=l1, control=ctrl, backward=bw if BW is not None else float("nan"))
    return row, (x, ts, P, theta, sigma)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-r", "--results", default="results")
    fplot.add_format_argument(ap)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.results, "sb", "ou_reversal_T*.h5")),
                   key=lambda p: float(re.search(r"_T([0-9.]+)\.h5$", p).group(1)))
    if not files:
        print(f"ou_reversal.py: no {args.results}/sb/ou_reversal_T*.h5", file=sys.stderr)
        return 2
    rows, curves = [], {}
    print(f"{'T':>5} {'KL(P*|R)':>11} {'KL(N01|q_T)':>12} {'max L1(p,q)':>12} "
          f"{'RMS b+theta x':>14} {'RMS bhat-rev':>13}")
    for path in files:
        row, c = analyse(path)
        rows.append(row)
        curves[row["T"]] = c
        print(f"{row['T']:5g} {row['kl_bridge']:11.3e} {row['kl_end']:12.3e} {row['l1']:12.3e} "
              f"{row['control']:14.3e} {row['backward']:13.3e}")
    T = np.array([r["T"] for r in rows])
    sel = T >= 2
    fit = {}
    for key in ("kl_bridge", "l1"):
        y = np.array([r[key] for r in rows])
        fit[key] = float(-np.polyfit(T[sel], np.log(y[sel]), 1)[0])
    theta = curves[T[0]][3]
    print(f"decay rates over T >= 2: KL(P*|R) ~ exp(-{fit['kl_bridge']:.3f} T) (expected "
          f"2 theta = {2 * theta:g}), max L1 ~ exp(-{fit['l1']:.3f} T) (expected theta = {theta:g})")
    ok = True
    if not abs(fit["kl_bridge"] / (2 * theta) - 1) <= 0.2:
        print("FAIL: KL decay rate off 2 theta by more than 20%"); ok = False
    if not abs(fit["l1"] / theta - 1) <= 0.2:
        print("FAIL: L1 decay rate off theta by more than 20%"); ok = False
    for r in rows:
        if not r["kl_bridge"] >= r["kl_end"] * (1 - 1e-6):
            print(f"FAIL: T = {r['T']}: KL(P*|R) < KL(N01|q_T) violates data processing"); ok = False
    last = rows[-1]
    if np.isfinite(last["backward"]) and not last["backward"] <= 1e-3:
        print(f"FAIL: T = {last['T']}: backward drift off the reversal by {last['backward']:.2e}")
        ok = False
    with open(os.path.join(args.results, "sb", "ou_reversal_summary.json"), "w") as fh:
        json.dump({"rows": rows, "rates": fit}, fh, indent=1)

    fig, (ax1, ax2) = fplot.figure(2, aspect=0.36, ncols=2)
    Tshow = 2.0 if 2.0 in curves else T[len(T) // 2]
    x, ts, P, th, sg = curves[Tshow]
    h = x[1] - x[0]
    for k, frac in enumerate((0, 0.25, 0.5, 1.0)):
        i = int(np.argmin(np.abs(ts - frac * Tshow)))
        q, _ = noised(x, ts[i], th, sg)
        c = f"C{k}"
        ax1.plot(x, q, color=c, lw=1, label=f"t = {ts[i]:g}")
        ax1.plot(x, P[i] / h, color=c, lw=1, ls="--")
    ax1.set_xlim(-5, 5)
    ax1.set_xlabel("x")
    ax1.set_ylabel(f"density (T = {Tshow:g})")
    ax1.legend(frameon=False, fontsize=7, title="solid: noised mixture q_t\ndashed: bridge p_t",
               title_fontsize=7)
    for key, lab in (("kl_bridge", "KL(P* ‖ R)"), ("kl_end", "KL(N(0,1) ‖ q_T)"),
                     ("l1", "max_t L1(p_t, q_t)"), ("backward", "RMS b̂ − b̂_rev")):
        y = np.array([r[key] for r in rows])
        if np.all(np.isfinite(y)):
            ax2.semilogy(T, y, marker="o", ms=3, lw=1, label=lab)
    ax2.set_xlabel("horizon T")
    ax2.legend(frameon=False, fontsize=7)
    fplot.save(fig, os.path.join(args.results, "sb_ou_reversal"), args.format)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
