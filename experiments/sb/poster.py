#!/usr/bin/python3
"""Experiment (b): the three figures of the poster "Modelos de difusión, transporte óptimo y
puentes de Schrödinger" (F. Fêtis Riquelme; ../shared/seeds/001_*.txt), Figures 3-5.

Usage:
    /usr/bin/python3 experiments/sb/poster.py inputs  [-r RESULTS]
    /usr/bin/python3 experiments/sb/poster.py figures [-r RESULTS] [--format pdf|svg|png]

`inputs` writes RESULTS/sb/poster_particles_in.h5, the two particle distributions of figure 5 as
fields on a grid that `fpkit sb` reads (`[mu0] type = hdf5`). `figures` reads the files run.sh
wrote (RESULTS/sb/poster_map1d.h5, poster_map2d.h5, poster_plans.h5 from `fpkit ot`,
poster_particles.h5 from `fpkit sb`) and writes RESULTS/sb_poster_fig3, sb_poster_fig4,
sb_poster_fig5 and RESULTS/sb/poster_summary.json.

Figure 3: mu_t = ((1 - t) Id + t T*)#mu between two Gaussian mixtures. 1D exactly, by quantile
  functions (sbref.mccann_cells); 2D by the barycentric map T(x_i) = sum_j pi_ij y_j / a_i of a
  small-eps plan, formed here from the potentials f, g of `fpkit ot` (pi_ij = a_i b_j
  exp((f_i + g_j - |x_i - y_j|^2)/eps)): fpkit has no barycentric map, and the plan (4096^2) is
  never stored. Check: the 1D barycentric map of a small-eps plan against the exact G^-1 o F.
Figure 4: the entropic plans for eps = 1, 0.01, 0.005 between the 1D mixtures, each formed from
  its potentials. Checks: the last one equals the plan `fpkit ot` wrote; every plan's marginals
  equal a and b to the solver's tolerance; its transport cost matches /ot/cost.
Figure 5: the bridge between two particle distributions (Brownian reference, sigma^2 = 0.1), as
  paths of the exact sampler over the grid marginal p_t. Checks: p_t against the mixture of
  Brownian bridges of the discrete entropic plan (a 4 x 3 Sinkhorn here, independent of fpkit);
  the sampler's histograms within 1.5 sampling floors. (No KL: between point masses KL(P* | R)
  is infinite in the continuum, the drift ~ (y - x)/(T - t) making the Girsanov integral diverge
  like log(1/(T - t)); the grid's values are finite regularisations that need not agree.)
Exit status 1 if a check fails, 2 if a file is missing.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fpkit  # noqa: E402
import fpkit.plot as fplot  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import sbref  # noqa: E402

FORMATS = ["png"]

# Figure 5's particles (our choice: the poster's text gives no positions). Grid [-2.0025,
# 2.0025] with 801 cells: the centres are -2 + 0.005 i, so each particle is one cell's centre.
PARTICLE_GRID = dict(n=801, lo=-2.0025, hi=2.0025)
PARTICLES_0 = dict(x=[-1.2, -0.4, 0.3, 1.1], w=[0.25, 0.25, 0.25, 0.25])
PARTICLES_T = dict(x=[-0.8, 0.2, 1.0], w=[0.25, 0.35, 0.4])

MAP1D_TOL = 0.01       # |T_eps - T*| on the cells holding 99% of mu (h = 0.002, sqrt(eps/2) = 0.007)
PLAN_TOL = 1e-10
MARGINAL_TOL = 1e-8
BRIDGE_TOL = 1e-8      # grid p_t vs the discrete plan's mixture of Brownian bridges (L1)
L1_FLOORS = 1.5


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return bool(ok)


def centres(lo, hi, n):
    h = (hi - lo) / n
    return lo + (np.arange(n) + 0.5) * h


def inputs(results):
    g = PARTICLE_GRID
    x = centres(g["lo"], g["hi"], g["n"])
    path = os.path.join(results, "sb", "poster_particles_in.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["fpkit_version"] = "experiments/sb/poster.py"
        gx = f.create_dataset("grid/x", data=x)
        gx.attrs["lo"], gx.attrs["hi"] = g["lo"], g["hi"]
        for name, P in (("mu0", PARTICLES_0), ("muT", PARTICLES_T)):
            p = np.zeros(g["n"])
            for xi, wi in zip(P["x"], P["w"]):
                i = int(np.argmin(np.abs(x - xi)))
                assert abs(x[i] - xi) < 1e-9, (xi, x[i])
                p[i] += wi
            f.create_dataset(f"particles/{name}", data=p)
    print(f"wrote {path}")


def read_ot(path):
    """An `fpkit ot` file as {"gx", "glo", "ghi": centres, lo, hi per axis, every dataset of
    /ot by name, "config": the stored configuration}, read with the fpkit reader."""
    with fpkit.open(path) as r:
        axes = list(r.grid.axes.values())
        out = {"gx": [a.centres for a in axes], "glo": [a.lo for a in axes],
               "ghi": [a.hi for a in axes]}
        ot = r.ot
        for k in ot.keys():
            v = ot[k]
            if not isinstance(v, fpkit.Group):
                out[k] = v
        out["config"] = r.config
    return out


def points(ot):
    """Cell centres as (N, d), flat index x fastest (the order of the file's fields)."""
    if len(ot["gx"]) == 1:
        return ot["gx"][0][:, None]
    X, Y = np.meshgrid(ot["gx"][0], ot["gx"][1], indexing="xy")
    return np.stack([X.ravel(), Y.ravel()], axis=1)


def plan_rows(ot, eps, f, g, rows):
    """pi_ij for the rows i in `rows`, from the potentials (cost |x - y|^2)."""
    P = points(ot)
    a, b = ot["a"].ravel(), ot["b"].ravel()
    C = np.sum((P[rows, None, :] - P[None, :, :]) ** 2, axis=2)
    with np.errstate(divide="ignore"):
        logk = (f.ravel()[rows, None] + g.ravel()[None, :] - C) / eps + np.log(b)[None, :]
    return a[rows, None] * np.exp(logk)


def barycentric_map(ot, eps, f, g, chunk=256):
    """T(x_i) = sum_j pi_ij y_j / sum_j pi_ij for every cell with a_i > 0 (NaN elsewhere),
    in log-sum-exp form row by row (no underflow at small eps)."""
    P = points(ot)
    a, b = ot["a"].ravel(), ot["b"].ravel()
    N, d = P.shape
    T = np.full((N, d), np.nan)
    logb = np.log(np.where(b > 0, b, 1.0))
    logb[b <= 0] = -np.inf
    for s in range(0, N, chunk):
        rows = np.arange(s, min(N, s + chunk))
        C = np.sum((P[rows, None, :] - P[None, :, :]) ** 2, axis=2)
        L = (g.ravel()[None, :] - C) / eps + logb[None, :]
        L -= np.max(L, axis=1, keepdims=True)
        W = np.exp(L)
        T[rows] = (W @ P) / np.sum(W, axis=1, keepdims=True)
    T[a <= 0] = np.nan
    return T


def deposit(points_xy, mass, edges):
    """Cloud-in-cell deposit of point masses onto the cells (linear weights between centres)."""
    d = points_xy.shape[1]
    if d == 1:
        h = edges[0][1] - edges[0][0]
        n = len(edges[0]) - 1
        u = (points_xy[:, 0] - edges[0][0]) / h - 0.5
        i = np.floor(u).astype(int)
        w = u - i
        out = np.zeros(n)
        for off, wt in ((0, 1 - w), (1, w)):
            j = np.clip(i + off, 0, n - 1)
            np.add.at(out, j, mass * wt)
        return out
    hx, hy = edges[0][1] - edges[0][0], edges[1][1] - edges[1][0]
    nx, ny = len(edges[0]) - 1, len(edges[1]) - 1
    ux = (points_xy[:, 0] - edges[0][0]) / hx - 0.5
    uy = (points_xy[:, 1] - edges[1][0]) / hy - 0.5
    ix, iy = np.floor(ux).astype(int), np.floor(uy).astype(int)
    wx, wy = ux - ix, uy - iy
    out = np.zeros((ny, nx))
    for ox, wtx in ((0, 1 - wx), (1, wx)):
        for oy, wty in ((0, 1 - wy), (1, wy)):
            np.add.at(out, (np.clip(iy + oy, 0, ny - 1), np.clip(ix + ox, 0, nx - 1)),
                      mass * wtx * wty)
    return out


def smooth(img, cells=1.0):
    """Separable Gaussian blur of `cells` cells (for display only: the pushed points are unevenly
    spaced, and a bare deposit shows their aliasing as stripes)."""
    k = np.arange(-4, 5)
    w = np.exp(-0.5 * (k / cells) ** 2)
    w /= w.sum()
    img = np.apply_along_axis(lambda r: np.convolve(r, w, mode="same"), 0, img)
    return np.apply_along_axis(lambda r: np.convolve(r, w, mode="same"), 1, img)


def mixture1d(cfg, sec):
    def nums(k):
        return [float(v) for v in cfg[sec][k].split()]
    return sbref.Mixture1D(nums("weights"), nums("means"), nums("stds"))


def figure3(results, checks, summary):
    m1 = read_ot(os.path.join(results, "sb", "poster_map1d.h5"))
    m2 = read_ot(os.path.join(results, "sb", "poster_map2d.h5"))
    ts = [0, 0.25, 0.5, 0.75, 1]
    # 1D: exact by quantiles, and the check of the barycentric map of the small-eps plan
    mu, nu = mixture1d(m1["config"], "source"), mixture1d(m1["config"], "target")
    u = sbref.quantile_nodes()
    qmu, qnu = mu.quantile(u), nu.quantile(u)
    x = m1["gx"][0]
    n, lo, hi = len(x), m1["glo"][0], m1["ghi"][0]
    h = (hi - lo) / n
    edges = np.linspace(lo, hi, n + 1)
    eps1 = float(np.ravel(m1["eps"])[-1])
    T1 = barycentric_map(m1, eps1, np.ravel(m1["f"]), np.ravel(m1["g"]))[:, 0]
    Tstar = nu.quantile(np.clip(mu.cdf(x), 1e-300, 1 - 1e-16))
    a = m1["a"]
    order = np.argsort(-a)
    core = order[: np.searchsorted(np.cumsum(a[order]), 0.99) + 1]
    map_err = float(np.max(np.abs(T1[core] - Tstar[core])))
    # W1 = int |F_push - F_t| of the pushforward at t = 1/2 against the exact interpolation (a
    # deposit onto cells would alias: the pushed points are unevenly spaced)
    Ft = np.concatenate([[0.0], np.cumsum(sbref.mccann_cells(mu, nu, 0.5, edges, u, qmu, qnu))])

    def w1_push(Tmap):
        p = 0.5 * x + 0.5 * Tmap
        order = np.argsort(p)
        Fp = np.interp(edges, p[order], np.cumsum(a[order]), left=0.0, right=1.0)
        return float(np.sum(np.abs(Fp - Ft)) * h)
    w1_bary, w1_exact = w1_push(T1), w1_push(Tstar)
    w2 = sbref.w2sq_1d(qmu, qnu, u)
    print(f"[figure 3] 1D: eps = {eps1:g}, {n} cells: |T_eps - T*| <= {map_err:.2e} on 99% of mu "
          f"(h = {h:g}); W1 of the pushforward at t = 1/2 vs the exact interpolation "
          f"{w1_bary:.2e} (with T* itself on the cell centres: {w1_exact:.2e}); W2^2 = {w2:.6f}")
    checks.check(map_err <= MAP1D_TOL, f"figure 3: 1D barycentric map within {MAP1D_TOL} of T*")
    checks.check(w1_bary <= 2 * h, f"figure 3: W1 of its pushforward at t = 1/2 <= 2h")
    # 2D: barycentric map of the small-eps plan
    eps2 = float(np.ravel(m2["eps"])[-1])
    T2 = barycentric_map(m2, eps2, m2["f"], m2["g"])
    P2 = points(m2)
    a2 = m2["a"].ravel()
    b2 = m2["b"].ravel()
    ok = a2 > 0
    mean_T = np.sum(a2[ok, None] * T2[ok], axis=0)
    mean_b = b2 @ P2
    covT = np.cov(T2[ok].T, aweights=a2[ok], bias=True)
    covb = np.cov(P2.T, aweights=b2, bias=True)
    # E|y - T(x)|^2 under the plan: the part of nu's spread the map does not carry
    cond = 0.0
    for s in range(0, len(a2), 512):
        rows = np.arange(s, min(len(a2), s + 512))
        pr = plan_rows(m2, eps2, m2["f"], m2["g"], rows)
        keep = a2[rows] > 0
        d2 = np.sum((P2[None, :, :] - np.nan_to_num(T2[rows])[:, None, :]) ** 2, axis=2)
        cond += float(np.sum(pr[keep] * d2[keep]))
    rel_cond = cond / np.trace(covb)
    print(f"[figure 3] 2D: eps = {eps2:g}, {len(m2['gx'][0])}x{len(m2['gx'][1])} cells: mean of T#mu "
          f"- mean of nu {np.linalg.norm(mean_T - mean_b):.1e}; E|y - T(x)|^2 / tr Cov(nu) = "
          f"{rel_cond:.2e}; tr Cov(T#mu) / tr Cov(nu) = {np.trace(covT) / np.trace(covb):.4f}")
    checks.check(np.linalg.norm(mean_T - mean_b) <= 1e-6,
                 "figure 3: the barycentric map carries mu's mass to nu's mean")
    checks.check(rel_cond <= 0.02, "figure 3: the 2D plan is nearly a map "
                 "(E|y - T(x)|^2 <= 2% of tr Cov(nu))")
    summary["figure3"] = dict(eps_1d=eps1, map_err_1d=map_err, w1_push_half=w1_bary,
                              w1_push_half_exact_map=w1_exact, w2sq_1d=w2,
                              eps_2d=eps2, cond_var_rel_2d=rel_cond)

    fplot.style()
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=fplot.figure_size(2, 0.5))
    axd = fig.subplot_mosaic([["1d"] * 5, [f"t{k}" for k in range(5)]],
                             gridspec_kw=dict(height_ratios=[1, 1]))
    ax = axd["1d"]
    for k, t in enumerate(ts):
        ax.plot(x, sbref.mccann_cells(mu, nu, t, edges, u, qmu, qnu) / h, "-",
                color=fplot.CYCLE[k], label=f"t = {t:g}")
    ax.set_xlabel("x")
    ax.set_ylabel("density of μ_t")
    fplot.legend_outside(ax, "right")
    fplot.panel_label(ax, "1D: exact, by quantiles")
    ex = [np.linspace(m2["glo"][i], m2["ghi"][i], len(m2["gx"][i]) + 1) for i in range(2)]
    vmax = None
    imgs = []
    for k, t in enumerate(ts):
        dens = smooth(deposit(((1 - t) * P2 + t * T2)[ok], a2[ok], ex))
        imgs.append(dens)
        vmax = max(vmax or 0, float(np.quantile(dens[dens > 0], 0.995)))
    for k, t in enumerate(ts):
        a = axd[f"t{k}"]
        a.imshow(imgs[k], origin="lower", extent=[ex[0][0], ex[0][-1], ex[1][0], ex[1][-1]],
                 vmin=0, vmax=vmax, cmap="viridis", interpolation="nearest")
        a.set_xticks([0, 1])
        a.set_yticks([0, 1] if k == 0 else [])
        fplot.panel_label(a, f"2D, t = {t:g}")
    fplot.save(fig, os.path.join(results, "sb_poster_fig3"), FORMATS)


def figure4(results, checks, summary):
    ot = read_ot(os.path.join(results, "sb", "poster_plans.h5"))
    eps = np.ravel(ot["eps"])
    F, G = np.atleast_2d(ot["f"]), np.atleast_2d(ot["g"])
    N = len(ot["gx"][0])
    rows = np.arange(N)
    mu, nu = mixture1d(ot["config"], "source"), mixture1d(ot["config"], "target")
    u = sbref.quantile_nodes()
    w2 = sbref.w2sq_1d(mu.quantile(u), nu.quantile(u), u)
    x = ot["gx"][0]
    C = (x[:, None] - x[None, :]) ** 2
    plans = []
    out = []
    for j, e in enumerate(eps):
        pi = plan_rows(ot, e, F[j], G[j], rows)
        plans.append(pi)
        err = float(np.abs(pi.sum(1) - ot["a"]).sum() + np.abs(pi.sum(0) - ot["b"]).sum())
        cost = float(np.sum(pi * C))
        out.append(dict(eps=float(e), marginal_l1=err, cost=cost,
                        cost_file=float(np.ravel(ot["cost"])[j])))
        print(f"[figure 4] eps = {e:g}: marginals {err:.1e}, <pi, C> = {cost:.6f} (file "
              f"{out[-1]['cost_file']:.6f}; W2^2 = {w2:.6f})")
        checks.check(err <= MARGINAL_TOL, f"figure 4: eps = {e:g}: plan marginals {err:.1e} "
                     f"<= {MARGINAL_TOL:g}")
        checks.check(abs(cost - out[-1]["cost_file"]) <= 1e-9 * max(1.0, cost),
                     f"figure 4: eps = {e:g}: <pi, C> = the file's cost")
    plan_diff = float(np.max(np.abs(plans[-1] - ot["plan"])) / np.max(ot["plan"]))
    checks.check(plan_diff <= PLAN_TOL, f"figure 4: the plan from the potentials = /ot/plan "
                 f"({plan_diff:.1e})")
    summary["figure4"] = dict(plans=out, plan_vs_file=plan_diff, w2sq=w2)

    fig, ax = fplot.figure(columns=2, aspect=0.34, nrows=1, ncols=len(eps))
    Tstar = nu.quantile(np.clip(mu.cdf(x), 1e-300, 1 - 1e-16))
    a = ot["a"]
    core = a > 1e-6 * a.max()
    for j, e in enumerate(eps):
        A = ax[j]
        A.imshow(plans[j].T, origin="lower", extent=[ot["glo"][0], ot["ghi"][0]] * 2,
                 cmap="Greys", interpolation="nearest")
        A.plot(x[core], Tstar[core], "--", color=fplot.OKABE_ITO["vermillion"], lw=0.8,
               label="T* (Monge map)" if j == len(eps) - 1 else None)
        A.set_xlabel("x (source)")
        if j == 0:
            A.set_ylabel("y (target)")
        fplot.panel_label(A, f"ε = {e:g}")
    fplot.legend_outside(ax[-1], "right")
    fplot.save(fig, os.path.join(results, "sb_poster_fig4"), FORMATS)


def discrete_plan(x, a, y, b, eps, iters=100000):
    """Entropic plan between sum a_i delta_x_i and sum b_j delta_y_j, cost |x - y|^2, by
    Sinkhorn's scaling to rounding (4 x 3 here: a check independent of fpkit)."""
    K = np.exp(-(x[:, None] - y[None, :]) ** 2 / eps)
    v = np.ones(len(y))
    for _ in range(iters):
        u = a / (K @ v)
        v_new = b / (K.T @ u)
        if np.max(np.abs(v_new - v) / v) < 1e-15:
            v = v_new
            break
        v = v_new
    u = a / (K @ v)
    return u[:, None] * K * v[None, :]


def figure5(results, checks, summary):
    with fpkit.open(os.path.join(results, "sb", "poster_particles.h5")) as r:
        ax_x = r.grid.x
        x, h, lo, hi = ax_x.centres, ax_x.h, ax_x.lo, ax_x.hi
        t, T, sigma, eps = r.t, r.T, r.sigma, r.eps
        marginal = r.marginal()               # cell probabilities [t][x]
        l1_error, l1_floor = r.sample_l1()
        kept, npaths = r.paths, r.sample.attrs["paths"]
    x0, a0 = np.array(PARTICLES_0["x"]), np.array(PARTICLES_0["w"])
    xT, bT = np.array(PARTICLES_T["x"]), np.array(PARTICLES_T["w"])
    pi = discrete_plan(x0, a0, xT, bT, 2 * sigma ** 2 * T)
    worst, worst_t = 0.0, None
    for k, tk in enumerate(t):
        if tk == 0 or tk == T:
            continue
        s = tk / T
        var = sigma ** 2 * tk * (1 - s)
        m = (1 - s) * x0[:, None] + s * xT[None, :]
        # midpoint cell probabilities (the grid's quadrature: density at the centre x h)
        dens = np.sum(pi[:, :, None] * np.exp(-(x[None, None, :] - m[:, :, None]) ** 2 / (2 * var)),
                      axis=(0, 1)) / np.sqrt(2 * np.pi * var)
        e = float(np.abs(marginal[k] - dens * h).sum())
        if e > worst:
            worst, worst_t = e, tk
    print(f"[figure 5] sigma^2 = {sigma ** 2:g} (eps = 2 sigma^2 T = {eps:g}), "
          f"{len(x)} cells, h = {h:g}: grid p_t vs the discrete plan's Brownian-bridge mixture: "
          f"max L1 {worst:.1e} (t = {worst_t:g}) over {len(t) - 2} interior times")
    print("  discrete plan (rows x0 = " + ", ".join(f"{v:g}" for v in x0) + "; columns xT = "
          + ", ".join(f"{v:g}" for v in xT) + "):")
    for i in range(len(x0)):
        print("   " + " ".join(f"{v:.4f}" for v in pi[i]))
    checks.check(worst <= BRIDGE_TOL, f"figure 5: grid marginal vs closed form {worst:.1e} <= "
                 f"{BRIDGE_TOL:g}")
    ratio = l1_error / l1_floor
    inner = (t > 0) & (t < T)
    print(f"  exact sampler, {npaths} paths: L1 / floor {ratio[inner].min():.2f}-"
          f"{ratio[inner].max():.2f} (interior times)")
    checks.check(np.all(ratio[inner] <= L1_FLOORS), f"figure 5: sampler within {L1_FLOORS} floors")
    summary["figure5"] = dict(sigma=sigma, eps=eps, marginal_l1_max=worst,
                              plan=pi.tolist(), l1_ratio=ratio.tolist())

    fig, ax = fplot.figure(columns=2, aspect=0.42)
    P = marginal / h
    ax.imshow(np.sqrt(P.T), origin="lower", aspect="auto", extent=[t[0], t[-1], lo, hi],
              cmap="Greys", interpolation="bilinear", vmax=np.sqrt(np.quantile(P[inner], 0.999)))
    paths = kept[:, :, 0]
    start = np.argmin(np.abs(paths[:, 0][:, None] - x0[None, :]), axis=1)
    for p in range(paths.shape[0]):
        ax.plot(t, paths[p], "-", lw=0.35, alpha=0.6, color=fplot.CYCLE[start[p] % len(fplot.CYCLE)])
    ax.scatter(np.zeros_like(x0), x0, s=200 * a0, color="k", zorder=3)
    ax.scatter(np.full_like(xT, T), xT, s=200 * bT, color="k", zorder=3)
    ax.set_xlim(-0.02, T + 0.02)
    ax.set_ylim(min(x0.min(), xT.min()) - 0.8, max(x0.max(), xT.max()) + 0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("x")
    fplot.save(fig, os.path.join(results, "sb_poster_fig5"), FORMATS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["inputs", "figures"])
    ap.add_argument("-r", "--results", default="results")
    fplot.add_format_argument(ap)
    args = ap.parse_args()
    FORMATS[:] = args.format
    if args.what == "inputs":
        inputs(args.results)
        return 0
    checks = Checks()
    summary = {}
    try:
        figure3(args.results, checks, summary)
        figure4(args.results, checks, summary)
        figure5(args.results, checks, summary)
    except (OSError, KeyError) as e:
        print(f"poster.py: {e} (did run.sh run?)", file=sys.stderr)
        return 2
    summary["failed"] = checks.failed
    path = os.path.join(args.results, "sb", "poster_summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote {path}")
    if checks.failed:
        print(f"poster.py: {len(checks.failed)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
