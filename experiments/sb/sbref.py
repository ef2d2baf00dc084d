"""Closed forms and shared helpers of the Schroedinger-bridge experiments (experiments/sb/).

- GaussianBridge: the Schroedinger bridge between N(m0, A) and N(m1, B) for the Brownian
  reference dX = sigma dW on [0, T] (any T): marginal mean and covariance, and the affine forward
  drift, from the entropic plan at eps = 2 sigma^2 T (Janati et al. 2020; Mallasto et al. 2021;
  the bridge as the plan's mixture of Brownian bridges, Bunne et al. 2023, as written in
  ../shared/reference/closed-forms.md and docs/sb.md). bunne_t1() is Bunne et al.'s own T = 1
  form, kept to check this one against (self_check()).
- Mixture1D: a 1D Gaussian mixture: CDF, cell probabilities, quantile function.
- mccann_cells(): McCann's displacement interpolation between two 1D laws, as exact cell
  probabilities, from the quantile functions: mu_t = ((1 - t) Id + t T*)#mu, T* = G^-1 o F, whose
  quantile function is (1 - t) F^-1 + t G^-1 (Villani 2003, Thm 2.18; Santambrogio 2015, 2.2).
- read_sb(): the datasets and attributes of an `fpkit sb` file (docs/hdf5-layout.md) as a dict,
  through the fpkit reader (python/fpkit: fpkit.open gives the SBResult itself).

Needs numpy and h5py only (the project's Python dependencies: docs/dependencies.md).
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fpkit  # noqa: E402

_erfc = np.vectorize(math.erfc, otypes=[float])


def ndtr(x):
    """The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 (math.erfc: accurate in both
    tails, unlike 1 - erf)."""
    return 0.5 * _erfc(-np.asarray(x, float) / math.sqrt(2.0))


def sqrtm_spd(S):
    """Square root of a symmetric positive definite matrix (eigendecomposition)."""
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(w)) @ V.T


def entropic_cross_cov(A, B, s2):
    """Cross-covariance C = Cov(X0, X1) of the entropic plan between N(., A) and N(., B) for the
    cost |x - y|^2 at eps = 2 s2: C = 1/2 A^(1/2) D A^(-1/2) - 1/2 s2 I,
    D = (4 A^(1/2) B A^(1/2) + s2^2 I)^(1/2) (closed-forms.md, "Entropic optimal transport")."""
    d = A.shape[0]
    Ah = sqrtm_spd(A)
    D = sqrtm_spd(4 * Ah @ B @ Ah + s2 ** 2 * np.eye(d))
    return 0.5 * Ah @ D @ np.linalg.inv(Ah) - 0.5 * s2 * np.eye(d)


class GaussianBridge:
    """The bridge N(m0, A) -> N(m1, B), reference sigma W on [0, T]. Its static plan is the
    entropic plan at eps = 2 sigma^2 T (cross-covariance C); X_t = (1 - s) X0 + s XT +
    sigma sqrt(t (1 - s)) Z, s = t / T."""

    def __init__(self, m0, A, m1, B, sigma, T=1.0):
        self.m0, self.m1 = np.atleast_1d(np.asarray(m0, float)), np.atleast_1d(np.asarray(m1, float))
        self.d = self.m0.size
        self.A = np.asarray(A, float).reshape(self.d, self.d)
        self.B = np.asarray(B, float).reshape(self.d, self.d)
        self.sigma, self.T = float(sigma), float(T)
        self.eps = 2 * self.sigma ** 2 * self.T
        self.C = entropic_cross_cov(self.A, self.B, self.sigma ** 2 * self.T)

    def marginal(self, t):
        """Mean and covariance of X_t."""
        s, I = t / self.T, np.eye(self.d)
        m = (1 - s) * self.m0 + s * self.m1
        S = ((1 - s) ** 2 * self.A + s ** 2 * self.B + s * (1 - s) * (self.C + self.C.T)
             + self.sigma ** 2 * t * (1 - s) * I)
        return m, S

    def drift_affine(self, t):
        """(c, K, m_t) with b(x, t) = c + K (x - m_t): b = (E[X_T | X_t = x] - x) / (T - t),
        E[X_T | X_t] = m1 + ((1 - s) C^T + s B) Sigma_t^-1 (x - m_t) (the joint Gaussian of
        (X_t, X_T)); at t = T the limit (B - C - sigma^2 T I) B^-1 / T (docs/sb.md)."""
        s, I, T = t / self.T, np.eye(self.d), self.T
        c = (self.m1 - self.m0) / T
        m, S = self.marginal(t)
        if t >= T:
            return c, (self.B - self.C - self.sigma ** 2 * T * I) @ np.linalg.inv(self.B) / T, m
        G = ((1 - s) * self.C.T + s * self.B) @ np.linalg.inv(S)
        return c, (G - I) / (T - t), m

    def drift(self, t, x):
        """b(x, t) at points x of shape (d, ...) (component first, as the file's drift)."""
        c, K, m = self.drift_affine(t)
        y = x - m.reshape((self.d,) + (1,) * (x.ndim - 1))
        return c.reshape((self.d,) + (1,) * (x.ndim - 1)) + np.tensordot(K, y, axes=1)

    def bunne_t1(self, t):
        """Bunne et al. (2023) at T = 1: Sigma_t and K_t = S_t Sigma_t^-1,
        S_t = tB - (1 - t)A + (1 - t)C^T - tC - t sigma^2 I (closed-forms.md)."""
        I, A, B, C, s2 = np.eye(self.d), self.A, self.B, self.C, self.sigma ** 2
        S = (1 - t) ** 2 * A + t ** 2 * B + t * (1 - t) * (C + C.T + s2 * I)
        St = t * B - (1 - t) * A + (1 - t) * C.T - t * C - t * s2 * I
        return S, St @ np.linalg.inv(S)


def self_check():
    """This module's bridge (any T) against Bunne et al.'s T = 1 form, 1D and 2D, three sigma:
    the largest relative difference of Sigma_t and of K_t (rounding), and of the drift matrix
    at T against the interior formula at T - 1e-7 (O(1e-7))."""
    worst = limit = 0.0
    pairs = [([-1.0], [[0.25]], [1.5], [[0.64]]),
             ([-0.6, 0.4], [[0.5, 0.2], [0.2, 0.3]], [0.8, -0.5], [[0.4, -0.15], [-0.15, 0.6]])]
    for m0, A, m1, B in pairs:
        for sigma in (0.05, 0.3, 2.0):
            g = GaussianBridge(m0, A, m1, B, sigma, 1.0)
            for t in (0.1, 0.5, 0.9):
                S, K = g.bunne_t1(t)
                _, S2 = g.marginal(t)
                _, K2, _ = g.drift_affine(t)
                worst = max(worst, np.linalg.norm(S - S2) / np.linalg.norm(S),
                            np.linalg.norm(K - K2) / np.linalg.norm(K))
            # the end limit is the limit of the interior formula
            _, K1, _ = g.drift_affine(1.0)
            _, K0, _ = g.drift_affine(1.0 - 1e-7)
            limit = max(limit, np.linalg.norm(K1 - K0) / np.linalg.norm(K1))
    return worst, limit


class Mixture1D:
    """sum_k w_k N(m_k, s_k^2) on the line."""

    def __init__(self, weights, means, stds):
        self.w = np.asarray(weights, float) / np.sum(weights)
        self.m = np.asarray(means, float)
        self.s = np.asarray(stds, float)

    def cdf(self, x):
        x = np.asarray(x, float)
        return np.sum(self.w[:, None] * ndtr((x.ravel()[None, :] - self.m[:, None])
                                             / self.s[:, None]), axis=0).reshape(x.shape)

    def pdf(self, x):
        x = np.asarray(x, float)
        z = (x.ravel()[None, :] - self.m[:, None]) / self.s[:, None]
        return np.sum(self.w[:, None] * np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi)
                                                                 * self.s[:, None]),
                      axis=0).reshape(x.shape)

    def cells(self, edges):
        """Exact cell probabilities between consecutive edges."""
        return np.diff(self.cdf(edges))

    def quantile(self, u, fine=200001, newton=3):
        """F^-1(u), vectorised over u in (0, 1): linear interpolation of the CDF tabulated on
        `fine` points over m_k +- 12 s_k (error ~1e-10 in x), then Newton steps on F(x) = u with
        the exact CDF and density (quadratic: rounding after 2)."""
        u = np.asarray(u, float)
        lo, hi = np.min(self.m - 12 * self.s), np.max(self.m + 12 * self.s)
        xs = np.linspace(lo, hi, fine)
        x = np.interp(u, self.cdf(xs), xs)
        for _ in range(newton):
            f = self.pdf(x)
            step = np.where(f > 0, (self.cdf(x) - u) / np.where(f > 0, f, 1.0), 0.0)
            x = np.clip(x - step, lo, hi)
        return x


def quantile_nodes(n=200001, zmax=8.0):
    """Levels u = Phi(z), z uniform on [-zmax, zmax]: dense in the tails, where the quantile
    function is steep, so that interpolating the inverse of (1 - t)F^-1 + tG^-1 between the
    nodes is accurate to ~1e-10 in the cell probabilities."""
    return ndtr(np.linspace(-zmax, zmax, n))


def mccann_cells(mu, nu, t, edges, u=None, qmu=None, qnu=None):
    """Cell probabilities of McCann's interpolation mu_t between the 1D laws mu and nu (objects
    with quantile()), at fraction t in [0, 1]: F_t(y) is the u with (1 - t)F^-1(u) + tG^-1(u) =
    y (the quantile function of mu_t is increasing), by linear interpolation between the nodes u.
    qmu, qnu: precomputed quantiles at u (several t share them)."""
    if u is None:
        u = quantile_nodes()
    qmu = mu.quantile(u) if qmu is None else qmu
    qnu = nu.quantile(u) if qnu is None else qnu
    q = (1 - t) * qmu + t * qnu
    Ft = np.interp(edges, q, u, left=0.0, right=1.0)
    return np.diff(Ft)


def w2sq_1d(qmu, qnu, u):
    """W2^2 = int_0^1 |F^-1 - G^-1|^2 du by the trapezoid rule on the nodes u."""
    return float(np.trapz((qmu - qnu) ** 2, u))


def read_sb(path):
    """An `fpkit sb` file as {"x": [centres per axis], "lo", "hi", "h", "sb": {dataset: array,
    "@attr": value}, "sample": {...} (when present), "mu0", "muT"}, read with the fpkit reader
    (python/fpkit; new scripts can use fpkit.open(path), an SBResult, directly). Raises OSError
    for a missing or unreadable file, ValueError for a file another command wrote."""
    with fpkit.open(path) as r:
        if r.kind != "sb":
            raise ValueError(f"{path}: not an `fpkit sb` file")
        axes = list(r.grid.axes.values())
        out = {"x": [a.centres for a in axes], "lo": [a.lo for a in axes],
               "hi": [a.hi for a in axes]}
        for part in ("sb", "sample", "mu0", "muT"):
            if part not in r:
                continue
            g = r.group(part)
            d = {k: g[k] for k in g.keys()}
            d.update({"@" + k: v for k, v in g.attrs.items()})
            out[part] = d
    out["h"] = [(hi - lo) / len(x) for lo, hi, x in zip(out["lo"], out["hi"], out["x"])]
    return out


def read_config(path):
    """The resolved configuration of an fpkit file (root attribute `config`) as
    {section: {key: value string}} (fpkit.Config)."""
    with fpkit.open(path) as r:
        return r.config


def mesh(run):
    """Cell centres as an array (d, [ny,] nx), component first (x, y), as the file's drift."""
    if len(run["x"]) == 1:
        return run["x"][0][None, :]
    X, Y = np.meshgrid(run["x"][0], run["x"][1], indexing="xy")  # [ny][nx], x fastest
    return np.stack([X, Y])


def weighted_rel_l2(p, b, b_exact, mass=0.999):
    """Relative L2 of b against b_exact weighted by p over the smallest set of cells holding
    `mass` of p (the definition of tests/test_sb.c). b, b_exact: (d, cells...)."""
    pf = p.ravel()
    order = np.argsort(-pf, kind="stable")
    keep = order[: np.searchsorted(np.cumsum(pf[order]), mass) + 1]
    d = b.shape[0]
    diff = (b - b_exact).reshape(d, -1)[:, keep]
    ref = b_exact.reshape(d, -1)[:, keep]
    w = pf[keep]
    return float(np.sqrt(np.sum(w * diff ** 2) / np.sum(w * ref ** 2)))
