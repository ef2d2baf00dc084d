/* Stationary laws of non-linear models (fpkit/exact.h): Gibbs cell averages of a potential and the
 * closed-form steady state of a 1D diffusion on a circle.
 *
 * Both are computed as cell integrals by Gauss–Legendre quadrature with an a-posteriori check:
 * a 12-point and a 16-point rule are applied on the same panels and the 16-point result is kept
 * once the two agree (the difference estimates the error of the 12-point rule; the 16-point one
 * is far better for the analytic integrands met here); otherwise every panel is halved. This
 * is the same idea as Gauss–Kronrod, with nested panels instead of nested nodes.
 */
#include "fpkit/exact.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>

#define D FPK_MAX_DIM
#define NLO 12
#define NHI 16

/* ---- shared helpers ----------------------------------------------------------------------- */

/* n-point Gauss–Legendre rule on [0, 1]. */
typedef struct unit_rule {
  size_t n;
  double t[NHI], w[NHI];
} unit_rule;

static int unit_rule_init(unit_rule *r, size_t n) {
  gsl_integration_glfixed_table *tab = gsl_integration_glfixed_table_alloc(n);
  if (!tab) return FPK_ENOMEM;
  r->n = n;
  for (size_t i = 0; i < n; i++) gsl_integration_glfixed_point(0.0, 1.0, i, &r->t[i], &r->w[i], tab);
  gsl_integration_glfixed_table_free(tab);
  return FPK_SUCCESS;
}

/* Neumaier's compensated sum: Z and the cumulative potential differences are sums of up to 10⁶
 * terms, whose plain rounding error would reach the 1e-13 target. */
typedef struct ksum {
  double s, c;
} ksum;

static void ksum_add(ksum *k, double x) {
  const double t = k->s + x;
  k->c += fabs(k->s) >= fabs(x) ? (k->s - t) + x : (x - t) + k->s;
  k->s = t;
}

static double ksum_get(const ksum *k) { return k->s + k->c; }

/* Cells are addressed as (lo, h, index): the point at fraction τ of cell i is lo + (i + τ) h and
 * every cell is h wide. Differences of rounded edges would make widths err by ulp(x)/h, 1e-11
 * relative on a grid of 10⁵ cells, and the cell averages with them. */
static double cell_point(double lo, double h, double i, double tau) { return lo + (i + tau) * h; }

/* ==== Gibbs cells ============================================================================ */

/* e^{-β(U(x) − u_ref)}: the shift u_ref (the smallest U at a cell centre) keeps the largest
 * values near 1, so neither large β nor large U over- or underflows where the mass is. For a 1D
 * marginal (axis < SIZE_MAX) x is one coordinate and the others are held at base[]. */
typedef struct gibbs_fn {
  const fpk_model *m;
  double beta, uref;
  size_t axis;
  double base[D];
} gibbs_fn;

static double gibbs_u(const gibbs_fn *G, const double *x) {
  if (G->axis == SIZE_MAX) return fpk_model_potential(G->m, x);
  double y[D];
  memcpy(y, G->base, sizeof y);
  y[G->axis] = x[0];
  return fpk_model_potential(G->m, y);
}

/* ∫ e^{-β(U − u_ref)} over the cell idx[] of the grid (lo, h) in dd dimensions by the tensor
 * rule r on P×…×P equal panels; *umax is raised to the largest |U| met (it sizes the rounding
 * noise below). */
static double gibbs_tensor(const gibbs_fn *G, size_t dd, const double *lo, const double *h,
                           const double *idx, const unit_rule *r, size_t P, double *umax) {
  const size_t m = P * r->n;
  size_t total = 1;
  double vol = 1.0;
  for (size_t a = 0; a < dd; a++) total *= m, vol *= h[a];
  ksum s = {0, 0};
  for (size_t k = 0; k < total; k++) {
    size_t rem = k;
    double x[D], w = 1.0;
    for (size_t a = 0; a < dd; a++) {
      const size_t q = rem % m, panel = q / r->n, node = q % r->n;
      rem /= m;
      x[a] = cell_point(lo[a], h[a], idx[a], ((double)panel + r->t[node]) / (double)P);
      w *= r->w[node] / (double)P;
    }
    const double u = gibbs_u(G, x);
    *umax = fmax(*umax, fabs(u));
    ksum_add(&s, w * exp(-G->beta * (u - G->uref)));
  }
  return ksum_get(&s) * vol;
}

/* One cell integral, to relative 1e-14 or to the rounding noise of e^{-β(U − u_ref)}, whichever
 * is larger: U is known to about ε(|U| + 1) (the "+ 1" covers cancelling terms, e.g. the two
 * terms of the double well near x² = 2), so e^{-βU} to about κε with κ = 1 + β(|U| + |u_ref| + 1);
 * asking for more would only halve panels chasing noise. Fails (-1) if 2^10 (1D) or 2^6 × 2^6
 * (2D) panels still disagree: an integrand too rough for the cell, or NaN. */
static int gibbs_cell(const gibbs_fn *G, size_t dd, const double *lo, const double *h,
                      const double *idx, const unit_rule *r12, const unit_rule *r16,
                      double *out) {
  const size_t pmax = dd == 1 ? 1024 : 64;
  for (size_t P = 1; P <= pmax; P *= 2) {
    double umax = 0.0;
    const double q12 = gibbs_tensor(G, dd, lo, h, idx, r12, P, &umax);
    const double q16 = gibbs_tensor(G, dd, lo, h, idx, r16, P, &umax);
    const double kappa = 1.0 + G->beta * (umax + fabs(G->uref) + 1.0);
    if (fabs(q16 - q12) <= fmax(1e-14, 8.0 * DBL_EPSILON * kappa) * q16) {
      *out = q16;
      return 0;
    }
  }
  return -1;
}

static double gibbs_tail_fn(double s, void *params) {
  const gibbs_fn *G = params;
  return exp(-G->beta * (gibbs_u(G, &s) - G->uref));
}

/* Mass of the marginal e^{-βu} (u = U along `axis`, the other coordinates at base[]) outside
 * [lo, hi] relative to ℝ: tails by QUADPACK's qagil/qagiu (GSL), the inside by the cell rule. */
static int marginal_outside(const fpk_model *m, double beta, const fpk_grid *g, size_t axis,
                            const unit_rule *r12, const unit_rule *r16, double *out,
                            fpk_error *err) {
  gibbs_fn G = {.m = m, .beta = beta, .uref = INFINITY, .axis = axis};
  for (size_t a = 0; a < g->dim; a++) G.base[a] = 0.5 * (g->lo[a] + g->hi[a]);
  for (size_t i = 0; i < g->n[axis]; i++) {
    const double s = fpk_grid_center(g, axis, i);
    G.uref = fmin(G.uref, gibbs_u(&G, &s));
  }
  ksum in = {0, 0};
  for (size_t i = 0; i < g->n[axis]; i++) {
    const double idx = (double)i;
    double q;
    if (gibbs_cell(&G, 1, &g->lo[axis], &g->h[axis], &idx, r12, r16, &q))
      return fpk_error_set(err, FPK_ENUMERIC,
                           "Gibbs cells: the marginal quadrature did not converge in cell %zu of "
                           "axis %zu",
                           i, axis);
    ksum_add(&in, q);
  }
  const double inside = ksum_get(&in);
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(500);
  if (!w) return fpk_error_set(err, FPK_ENOMEM, "Gibbs cells: out of memory");
  gsl_function F = {gibbs_tail_fn, &G};
  double left, right, el, er;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  /* An absolute floor far below anything that matters keeps QUADPACK from chasing the relative
   * accuracy of a tail that has underflowed to nothing. */
  const double floor_abs = 1e-300;
  int s1 = gsl_integration_qagil(&F, g->lo[axis], floor_abs, 1e-12, 500, w, &left, &el);
  int s2 = gsl_integration_qagiu(&F, g->hi[axis], floor_abs, 1e-12, 500, w, &right, &er);
  gsl_set_error_handler(old);
  gsl_integration_workspace_free(w);
  const double tails = left + right;
  /* QUADPACK may report a round-off status on a tail that is tiny anyway; only an inaccurate
   * answer is an error. */
  if ((s1 && el > 1e-10 * left + floor_abs) || (s2 && er > 1e-10 * right + floor_abs) ||
      !isfinite(tails))
    return fpk_error_set(err, FPK_ENUMERIC,
                         "Gibbs cells: the tail integrals of axis %zu failed (%s)", axis,
                         gsl_strerror(s1 ? s1 : s2));
  *out = tails / (inside + tails);
  return FPK_SUCCESS;
}

int fpk_exact_gibbs_cells(const fpk_model *m, double beta, const fpk_grid *g, double *p,
                          double *mass_outside, fpk_error *err) {
  if (!m || !g || !p) return fpk_error_set(err, FPK_EINVAL, "Gibbs cells: NULL argument");
  const fpk_potential_type *T = fpk_model_potential_type(m);
  if (!T)
    return fpk_error_set(err, FPK_EINVAL, "Gibbs cells: model %s has no potential",
                         m->name ? m->name : "(unnamed)");
  if (!(beta > 0.0) || !isfinite(beta))
    return fpk_error_set(err, FPK_EINVAL, "Gibbs cells: beta = %g, must be positive and finite",
                         beta);
  const size_t d = g->dim;
  if (d != m->dim)
    return fpk_error_set(err, FPK_EINVAL, "Gibbs cells: model %s of dimension %zu on a grid of "
                         "dimension %zu", m->name, m->dim, d);
  unit_rule r12, r16;
  if (unit_rule_init(&r12, NLO) || unit_rule_init(&r16, NHI))
    return fpk_error_set(err, FPK_ENOMEM, "Gibbs cells: out of memory");

  gibbs_fn G = {.m = m, .beta = beta, .uref = INFINITY, .axis = SIZE_MAX};
  for (size_t c = 0; c < g->size; c++) {
    double x[D];
    fpk_grid_point(g, c, x);
    G.uref = fmin(G.uref, fpk_model_potential(m, x));
  }
  if (!isfinite(G.uref))
    return fpk_error_set(err, FPK_ENUMERIC, "Gibbs cells: the potential of %s is not finite on "
                         "the grid", m->name);

  /* Cells are independent: parallel, and the same result whatever the thread count. */
  long bad = -1;
#pragma omp parallel for schedule(dynamic, 16) reduction(max : bad)
  for (size_t c = 0; c < g->size; c++) {
    double idx[D];
    size_t r = c;
    for (size_t a = 0; a < d; a++) {
      idx[a] = (double)(r % g->n[a]);
      r /= g->n[a];
    }
    if (gibbs_cell(&G, d, g->lo, g->h, idx, &r12, &r16, &p[c])) bad = bad > (long)c ? bad : (long)c;
  }
  if (bad >= 0)
    return fpk_error_set(err, FPK_ENUMERIC,
                         "Gibbs cells: the quadrature did not converge in cell %ld (beta = %g): "
                         "the grid is too coarse for e^{-beta U}, or U is not finite there",
                         bad, beta);
  ksum z = {0, 0};
  for (size_t c = 0; c < g->size; c++) ksum_add(&z, p[c]);
  const double Z = ksum_get(&z);
  if (!(Z > 0.0) || !isfinite(Z))
    return fpk_error_set(err, FPK_ENUMERIC, "Gibbs cells: the normalisation is %g", Z);
  for (size_t c = 0; c < g->size; c++) p[c] /= Z * g->cell_volume;

  if (!mass_outside) return FPK_SUCCESS;
  if (!T->confining) {
    /* e^{-βU} has infinite mass on ℝ^d: every bounded box holds a vanishing fraction of it. */
    *mass_outside = 1.0;
    return FPK_SUCCESS;
  }
  if (d > 1 && !T->separable) {
    *mass_outside = NAN;
    return FPK_SUCCESS;
  }
  /* Separable: the Gibbs law is a product of its marginals, so the mass inside the box is the
   * product of the marginal masses inside: outside = 1 − Π(1 − o_a), summed in logs so that
   * tiny o_a are not lost to 1 − o_a. */
  double log_in = 0.0;
  for (size_t a = 0; a < d; a++) {
    double o = NAN;
    int rc = marginal_outside(m, beta, g, a, &r12, &r16, &o, err);
    if (rc) return rc;
    log_in += log1p(-o);
  }
  *mass_outside = -expm1(log_in);
  return FPK_SUCCESS;
}

/* ==== Periodic 1D steady state =================================================================
 *
 * Stationary Fokker–Planck equation on a circle of length L (Itô convention, as every model):
 *   0 = −J',  J = b p − (D p)',  D = σ²/2.
 * With q = D p and Φ(x) = ∫_lo^x b/D dy this reads q' − Φ' q = −J, i.e. (q e^{−Φ})' = −J e^{−Φ}.
 * Since b/D is L-periodic, Φ(x + L) = Φ(x) + ΔΦ with ΔΦ = Φ(lo + L) constant. The periodic
 * solution is
 *   q(x) = N e^{Φ(x)} ∫_x^{x+L} e^{−Φ(y)} dy = N I(x),   I(x) = ∫_x^{x+L} e^{Φ(x)−Φ(y)} dy:
 * differentiating, q' = Φ' q + N(e^{Φ(x)−Φ(x+L)} − 1) = Φ' q − N(1 − e^{−ΔΦ}), so the current is
 *   J = b p − q' = N (1 − e^{−ΔΦ}),
 * and q(x + L) = q(x) by the substitution y → y + L. N normalises ∫_period p = 1. This is the
 * classical steady state of overdamped Brownian motion in a tilted periodic potential (H. Risken,
 * The Fokker–Planck Equation, 2nd ed., Springer 1989, Chap. 11 "Brownian motion in periodic
 * potentials"; R. L. Stratonovich, Topics in the Theory of Random Noise, vol. II, 1967; P.
 * Reimann, "Brownian motors", Phys. Rep. 361 (2002) 57), written here for any periodic b and D.
 * Checks: b = 0 gives p ∝ 1/D and J = 0; constant b = F and D give p = 1/L and J = F/L (F > 0
 * flows to +x); ΔΦ = 0 gives p ∝ e^{Φ}/D with J = 0, the Gibbs density when D = 1/β.
 *
 * Numerics. The circle is cut into K panels (S per grid cell). On each panel [a, a + w] the
 * model is sampled at the n Gauss–Legendre nodes y_j; r = b/D is replaced by its interpolating
 * polynomial, whose integral from a to any point is exact (precomputed integrated Lagrange
 * basis), giving the local potential φ(z) = Φ(z) − Φ(a) at every point needed. Per panel:
 *   δ_k = ∫_panel r,   G_k = ∫_panel e^{−φ},
 *   A(y_j) = ∫_{y_j}^{a+w} e^{φ(y_j)−φ(z)} dz,   B(y_j) = ∫_a^{y_j} e^{φ(y_j)−φ(z)} dz,
 * only differences of φ within one panel, so nothing overflows for a resolved panel. With
 *   Suf_k = ∫_{a_k}^{hi} e^{Φ(a_k)−Φ},  Suf_k = G_k + e^{−δ_k} Suf_{k+1},  Suf_K = 0,
 *   Pre_k = ∫_{lo}^{a_k} e^{Φ(a_k)−Φ},  Pre_{k+1} = e^{δ_k} (Pre_k + G_k),  Pre_0 = 0,
 * the integral at a node of panel k splits into the part before the panel end, the panels after
 * it, and the wrapped part y − L ∈ [lo, y_j] where Φ(y) = Φ(y − L) + ΔΦ:
 *   I(y_j) = A_j + e^{φ_j − δ_k} Suf_{k+1} + e^{−ΔΦ} (e^{φ_j} Pre_k + B_j).
 * Suf, Pre and e^{−ΔΦ} may leave the double range when |ΔΦ| or β max|U| is large although I
 * stays moderate, so they are carried as scaled floats m·2^e with a long double m (exact
 * rescaling by powers of two); only the final normalised density is a plain double (values
 * below 2^-1074 of the peak underflow to 0). Every step adds positive terms, so the recursions
 * are stable; their rounding grows like K ε_long.
 */

/* ---- scaled floats m·2^e, m = 0 or 0.5 <= |m| < 1 ----------------------------------------
 * The mantissa is a long double (64-bit significand on x86-64, 113 on aarch64): the suffix and
 * prefix recursions chain up to K multiplications by e^{∓δ_k}, whose rounding errors add up.
 * Measured on 10⁵ cells (tilted cosine, β = 10, tilt, modulation): 2e-13 of the peak with a
 * double mantissa, 8e-15 with long double. */

typedef struct xf {
  long double m;
  int64_t e;
} xf;

static xf xf_make(long double m, int64_t e) {
  int k = 0;
  m = frexpl(m, &k);
  return (xf){m, m == 0.0L ? 0 : e + k};
}

/* e^a for any finite a: a = q ln 2 + r with Cody–Waite's two-part ln 2 (fdlibm; q·ln2_hi is
 * exact for |q| < 2^31), |r| <= ln2/2. */
static xf xf_exp(double a) {
  static const long double ln2_hi = 6.93147180369123816490e-01L,
                           ln2_lo = 1.90821492927058770002e-10L;
  const long double q = nearbyintl((long double)a / M_LN2);
  return xf_make(expl(((long double)a - q * ln2_hi) - q * ln2_lo), (int64_t)q);
}

static xf xf_mul(xf a, xf b) { return xf_make(a.m * b.m, a.e + b.e); }

static long double shift_by(long double m, int64_t k) {
  if (k < -20000) return 0.0L;
  if (k > 20000) return m * INFINITY;
  return ldexpl(m, (int)k);
}

static xf xf_add(xf a, xf b) {
  if (a.m == 0.0L) return b;
  if (b.m == 0.0L) return a;
  return a.e >= b.e ? xf_make(a.m + shift_by(b.m, b.e - a.e), a.e)
                    : xf_make(b.m + shift_by(a.m, a.e - b.e), b.e);
}

static double xf_to_double(xf a) { return (double)shift_by(a.m, a.e); }

/* ---- the panel rule: nodes, weights and integrated Lagrange basis ------------------------- */

typedef struct panel_rule {
  unit_rule r;
  double MN[NHI][NHI];      /* ∫_0^{t_j} ℓ_i */
  double MB[NHI][NHI][NHI]; /* ∫_0^{t_j t_l} ℓ_i: sub-nodes of [0, t_j] */
  double MA[NHI][NHI][NHI]; /* ∫_0^{t_j + (1 − t_j) t_l} ℓ_i: sub-nodes of [t_j, 1] */
} panel_rule;

/* ℓ_i(s), the Lagrange basis polynomial of the nodes t. */
static double lagrange(const unit_rule *r, size_t i, double s) {
  double v = 1.0;
  for (size_t k = 0; k < r->n; k++)
    if (k != i) v *= (s - r->t[k]) / (r->t[i] - r->t[k]);
  return v;
}

/* ∫_0^τ ℓ_i, exact with the same n-point rule on [0, τ] (ℓ_i has degree n − 1 < 2n). */
static double lagrange_integral(const unit_rule *r, size_t i, double tau) {
  double s = 0.0;
  for (size_t m = 0; m < r->n; m++) s += r->w[m] * lagrange(r, i, tau * r->t[m]);
  return tau * s;
}

static int panel_rule_init(panel_rule *pr, size_t n) {
  if (unit_rule_init(&pr->r, n)) return FPK_ENOMEM;
  const unit_rule *r = &pr->r;
  for (size_t j = 0; j < n; j++)
    for (size_t i = 0; i < n; i++) {
      pr->MN[j][i] = lagrange_integral(r, i, r->t[j]);
      for (size_t l = 0; l < n; l++) {
        pr->MB[j][l][i] = lagrange_integral(r, i, r->t[j] * r->t[l]);
        pr->MA[j][l][i] = lagrange_integral(r, i, r->t[j] + (1.0 - r->t[j]) * r->t[l]);
      }
    }
  return FPK_SUCCESS;
}

/* ---- one evaluation of the closed form on K = n_cells·S panels ---------------------------- */

typedef struct periodic_work {
  size_t K, n;     /* panels, nodes per panel */
  double *x;       /* nodes, then b/D at them */
  double *dn;      /* σ at the nodes, then D */
  double *phi;     /* φ at the nodes */
  double *delta, *G;
  xf *suf, *pre, *pt; /* pt: D p / N·D = I/D at the nodes, unnormalised */
} periodic_work;

static void periodic_work_free(periodic_work *w) {
  free(w->x), free(w->dn), free(w->phi), free(w->delta), free(w->G);
  free(w->suf), free(w->pre), free(w->pt);
}

static int periodic_work_alloc(periodic_work *w, size_t K, size_t n) {
  memset(w, 0, sizeof *w);
  w->K = K, w->n = n;
  const size_t N = K * n;
  w->x = malloc(N * sizeof *w->x);
  w->dn = malloc(N * sizeof *w->dn);
  w->phi = malloc(N * sizeof *w->phi);
  w->delta = malloc(K * sizeof *w->delta);
  w->G = malloc(K * sizeof *w->G);
  w->suf = malloc((K + 1) * sizeof *w->suf);
  w->pre = malloc((K + 1) * sizeof *w->pre);
  w->pt = malloc(N * sizeof *w->pt);
  if (w->x && w->dn && w->phi && w->delta && w->G && w->suf && w->pre && w->pt)
    return FPK_SUCCESS;
  periodic_work_free(w);
  return FPK_ENOMEM;
}

/* Panel k of cell i = k / S: [a, a + w]. */
static void panel_of(const fpk_grid *g, size_t S, size_t k, double *a, double *w) {
  *w = g->h[0] / (double)S;
  *a = cell_point(g->lo[0], g->h[0], (double)(k / S), (double)(k % S) / (double)S);
}

/* Cell averages p (g->n[0]) and the current J from panels of S per cell and the panel rule pr.
 * Returns FPK_SUCCESS, an error from a callback or invalid noise (recorded in err), or -1 when a
 * value is not finite (panels too wide: the caller refines). */
static int periodic_eval(const fpk_model *m, const fpk_grid *g, const panel_rule *pr, size_t S,
                         double *p, double *J, fpk_error *err) {
  const size_t n = pr->r.n, K = g->n[0] * S, N = K * n;
  const double *t = pr->r.t, *om = pr->r.w;
  periodic_work W;
  if (periodic_work_alloc(&W, K, n))
    return fpk_error_set(err, FPK_ENOMEM, "periodic stationary density: out of memory (%zu "
                         "panels)", K);
  int rc = FPK_SUCCESS;
  for (size_t k = 0; k < K; k++) {
    double a, w;
    panel_of(g, S, k, &a, &w);
    for (size_t j = 0; j < n; j++) W.x[k * n + j] = a + w * t[j];
  }
  double *b = W.phi; /* the drift goes where φ will be */
  if ((rc = fpk_model_drift(m, 0.0, N, W.x, b, err)) ||
      (rc = fpk_model_noise(m, 0.0, N, W.x, W.dn, err)))
    goto done;
  for (size_t i = 0; i < N; i++) {
    const double Dv = 0.5 * W.dn[i] * W.dn[i];
    if (!(Dv > 0.0) || !isfinite(Dv) || !isfinite(b[i])) {
      rc = fpk_error_set(err, FPK_EINVAL,
                         "periodic stationary density: model %s has drift %g and noise %g at "
                         "x = %g: need finite drift and non-zero finite noise",
                         m->name, b[i], W.dn[i], W.x[i]);
      goto done;
    }
    W.dn[i] = Dv;
    W.x[i] = b[i] / Dv; /* x now holds r = b/D */
  }

  /* Pass 1: per panel δ_k, G_k and φ at the nodes. */
  ksum dphi = {0, 0};
  for (size_t k = 0; k < K; k++) {
    double a, w;
    panel_of(g, S, k, &a, &w);
    const double *r = W.x + k * n;
    double *phi = W.phi + k * n, delta = 0.0, G = 0.0;
    for (size_t j = 0; j < n; j++) {
      double s = 0.0;
      for (size_t i = 0; i < n; i++) s += pr->MN[j][i] * r[i];
      phi[j] = w * s;
      delta += om[j] * r[j];
    }
    for (size_t j = 0; j < n; j++) G += om[j] * exp(-phi[j]);
    W.delta[k] = w * delta;
    W.G[k] = w * G;
    ksum_add(&dphi, W.delta[k]);
    if (!isfinite(W.delta[k]) || !isfinite(W.G[k])) {
      rc = -1;
      goto done;
    }
  }
  const double DPhi = ksum_get(&dphi);

  /* Suffix and prefix integrals as scaled floats. */
  W.suf[K] = (xf){0.0, 0};
  for (size_t k = K; k-- > 0;)
    W.suf[k] = xf_add(xf_make(W.G[k], 0), xf_mul(xf_exp(-W.delta[k]), W.suf[k + 1]));
  W.pre[0] = (xf){0.0, 0};
  for (size_t k = 0; k < K; k++)
    W.pre[k + 1] = xf_mul(xf_exp(W.delta[k]), xf_add(W.pre[k], xf_make(W.G[k], 0)));
  const xf wrap = xf_exp(-DPhi);

  /* Pass 2: I/D at every node. */
  int64_t emax = INT64_MIN;
  for (size_t k = 0; k < K; k++) {
    double a, w;
    panel_of(g, S, k, &a, &w);
    const double *r = W.x + k * n, *phi = W.phi + k * n;
    for (size_t j = 0; j < n; j++) {
      double A = 0.0, B = 0.0;
      for (size_t l = 0; l < n; l++) {
        double sa = 0.0, sb = 0.0;
        for (size_t i = 0; i < n; i++) {
          sa += pr->MA[j][l][i] * r[i];
          sb += pr->MB[j][l][i] * r[i];
        }
        A += om[l] * exp(phi[j] - w * sa);
        B += om[l] * exp(phi[j] - w * sb);
      }
      A *= w * (1.0 - t[j]);
      B *= w * t[j];
      if (!isfinite(A) || !isfinite(B)) {
        rc = -1;
        goto done;
      }
      xf I = xf_add(xf_make(A, 0), xf_mul(xf_exp(phi[j] - W.delta[k]), W.suf[k + 1]));
      I = xf_add(I, xf_mul(wrap, xf_add(xf_mul(xf_exp(phi[j]), W.pre[k]), xf_make(B, 0))));
      const xf q = xf_make(I.m / (long double)W.dn[k * n + j], I.e);
      W.pt[k * n + j] = q;
      if (q.m > 0.0L && q.e > emax) emax = q.e;
    }
  }
  if (emax == INT64_MIN) {
    rc = -1;
    goto done;
  }

  /* Cell averages of I/D relative to 2^emax, and the normalisation. */
  const size_t nc = g->n[0];
  ksum tot = {0, 0};
  for (size_t c = 0; c < nc; c++) {
    ksum cs = {0, 0};
    for (size_t k = c * S; k < (c + 1) * S; k++) {
      double a, w;
      panel_of(g, S, k, &a, &w);
      for (size_t j = 0; j < n; j++) {
        const xf q = W.pt[k * n + j];
        ksum_add(&cs, w * om[j] * (double)shift_by(q.m, q.e - emax));
      }
    }
    p[c] = ksum_get(&cs);
    ksum_add(&tot, p[c]);
  }
  const double T = ksum_get(&tot);
  if (!(T > 0.0) || !isfinite(T)) {
    rc = -1;
    goto done;
  }
  for (size_t c = 0; c < nc; c++) p[c] /= T * g->h[0];
  /* N = 1 / ∫ I/D = 2^{-emax} / T; J = N (1 − e^{−ΔΦ}), written without cancellation or
   * overflow for either sign of ΔΦ: for ΔΦ < 0, 1 − e^{−ΔΦ} = e^{−ΔΦ} expm1(ΔΦ). */
  const xf Nx = xf_make(1.0 / T, -emax);
  if (DPhi >= 0.0) {
    *J = xf_to_double(xf_mul(Nx, xf_make(-expm1(-DPhi), 0)));
  } else {
    *J = xf_to_double(xf_mul(xf_mul(Nx, wrap), xf_make(expm1(DPhi), 0)));
  }
  if (!isfinite(*J)) rc = -1;
done:
  periodic_work_free(&W);
  return rc;
}

/* b/D must be L-periodic for the closed form; checked at the cell centres (a double well on a
 * periodic grid is a configuration error, not a steady state). */
static int check_periodic(const fpk_model *m, const fpk_grid *g, fpk_error *err) {
  const size_t n = g->n[0];
  const double L = g->hi[0] - g->lo[0];
  double *x = malloc(6 * n * sizeof *x);
  if (!x) return fpk_error_set(err, FPK_ENOMEM, "periodic stationary density: out of memory");
  double *b = x + 2 * n, *s = x + 4 * n;
  for (size_t i = 0; i < n; i++) {
    x[i] = fpk_grid_center(g, 0, i);
    x[n + i] = x[i] + L;
  }
  int rc = fpk_model_drift(m, 0.0, 2 * n, x, b, err);
  if (!rc) rc = fpk_model_noise(m, 0.0, 2 * n, x, s, err);
  if (!rc) {
    double bmax = 0.0, smax = 0.0;
    for (size_t i = 0; i < 2 * n; i++) bmax = fmax(bmax, fabs(b[i])), smax = fmax(smax, fabs(s[i]));
    /* Velocity scale: the drift, or diffusion over the period when the drift vanishes. */
    const double bscale = bmax + 0.5 * smax * smax / L;
    for (size_t i = 0; i < n && !rc; i++)
      if (!(fabs(b[n + i] - b[i]) <= 1e-9 * bscale) || !(fabs(s[n + i] - s[i]) <= 1e-9 * smax))
        rc = fpk_error_set(err, FPK_EINVAL,
                           "periodic stationary density: model %s is not periodic with the "
                           "grid's period L = %g (drift %g, noise %g at x = %g but drift %g, "
                           "noise %g at x + L)",
                           m->name, L, b[i], s[i], x[i], b[n + i], s[n + i]);
  }
  free(x);
  return rc;
}

int fpk_exact_stationary_periodic_1d(const fpk_model *m, const fpk_grid *g, double *p,
                                     double *flux, fpk_error *err) {
  if (!m || !g || !p)
    return fpk_error_set(err, FPK_EINVAL, "periodic stationary density: NULL argument");
  if (g->dim != 1 || m->dim != 1)
    return fpk_error_set(err, FPK_EINVAL,
                         "periodic stationary density: 1D only (model %s has dimension %zu, the "
                         "grid %zu)", m->name, m->dim, g->dim);
  if (g->bc[0] != FPK_BC_PERIODIC)
    return fpk_error_set(err, FPK_EINVAL,
                         "periodic stationary density: the grid's boundary is %s, not periodic",
                         fpk_bc_name(g->bc[0]));
  if (!(m->flags & FPK_MODEL_AUTONOMOUS))
    return fpk_error_set(err, FPK_EINVAL,
                         "periodic stationary density: model %s is not autonomous", m->name);
  if (!m->drift || !m->noise)
    return fpk_error_set(err, FPK_EINVAL, "periodic stationary density: model %s lacks a "
                         "drift or noise callback", m->name);
  int rc = check_periodic(m, g, err);
  if (rc) return rc;

  panel_rule *pr = malloc(2 * sizeof *pr);
  double *q = malloc(2 * g->n[0] * sizeof *q);
  if (!pr || !q || panel_rule_init(&pr[0], NLO) || panel_rule_init(&pr[1], NHI)) {
    free(pr), free(q);
    return fpk_error_set(err, FPK_ENOMEM, "periodic stationary density: out of memory");
  }
  double *p12 = q, *p16 = q + g->n[0];
  /* At least 16 panels per period, then halving until the 12- and 16-point answers agree to
   * 1e-13 of the peak (density) and of the current scale; 2^20 panels at most. */
  const size_t nc = g->n[0], kmax = (size_t)1 << 20;
  size_t S = nc >= 16 ? 1 : (16 + nc - 1) / nc;
  rc = -1;
  for (; nc * S <= kmax; S *= 2) {
    double J12 = NAN, J16 = NAN;
    int r1 = periodic_eval(m, g, &pr[0], S, p12, &J12, err);
    if (r1 > 0) {
      rc = r1;
      break;
    }
    int r2 = periodic_eval(m, g, &pr[1], S, p16, &J16, err);
    if (r2 > 0) {
      rc = r2;
      break;
    }
    if (r1 || r2) continue;
    double pmax = 0.0, diff = 0.0;
    for (size_t c = 0; c < nc; c++) pmax = fmax(pmax, p16[c]), diff = fmax(diff, fabs(p16[c] - p12[c]));
    /* Natural current scale: J ~ (D/L) p; L·pmax·(D/L)/L = pmax·D/L with D from σ at lo. */
    double s0 = 0.0, x0 = g->lo[0];
    if ((rc = fpk_model_noise(m, 0.0, 1, &x0, &s0, err))) break;
    const double jscale = pmax * 0.5 * s0 * s0 / (g->hi[0] - g->lo[0]);
    rc = -1;
    if (diff <= 1e-13 * pmax && fabs(J16 - J12) <= 1e-13 * fmax(fabs(J16), jscale)) {
      memcpy(p, p16, nc * sizeof *p);
      if (flux) *flux = J16;
      rc = FPK_SUCCESS;
      break;
    }
  }
  if (rc < 0)
    rc = fpk_error_set(err, FPK_ENUMERIC,
                       "periodic stationary density: no convergence with up to %zu panels "
                       "for model %s (drift or noise too rough, or a density beyond the double "
                       "range)", kmax, m->name);
  free(pr), free(q);
  return rc;
}

/* ---- the closed form of a model's stationary law, when there is one ------------------------- */

/* Cell probabilities q (Σ q = mass in the box) as cell averages of the law restricted to the box. */
static void renormalise(const fpk_grid *g, double *p) {
  double sum = 0.0;
  for (size_t i = 0; i < g->size; i++) sum += p[i];
  for (size_t i = 0; i < g->size; i++) p[i] /= sum * g->cell_volume;
}

static int none(fpk_error *err, const char *why) {
  return fpk_error_set(err, FPK_EUNSUP, "no closed-form stationary density: %s", why);
}

int fpk_exact_stationary_cells(const fpk_model *m, const fpk_grid *g, double *p,
                               const char **what, fpk_error *err) {
  const char *unused;
  if (!what) what = &unused;
  if (m->linear) {
    fpk_gaussian law = {.dim = g->dim};
    fpk_error e2 = {0};
    if (fpk_exact_lyapunov(m->linear, law.cov, &e2)) return none(err, e2.msg); /* not stable */
    if (g->dim > 2) return none(err, "a linear model in more than 2 dimensions");
    /* mean: A μ = c, by Cramer's rule (dim <= 2) */
    const double *A = m->linear->A, *c = m->linear->c;
    if (g->dim == 1) {
      law.mean[0] = c[0] / A[0];
    } else {
      const double det = A[0] * A[3] - A[1] * A[2];
      law.mean[0] = (c[0] * A[3] - A[1] * c[1]) / det;
      law.mean[1] = (A[0] * c[1] - A[2] * c[0]) / det;
    }
    int rc = fpk_gaussian_cell_probs(&law, g, p, err);
    if (rc) return rc;
    renormalise(g, p);
    *what = "Gaussian N(A^-1 c, Sigma_inf), Sigma_inf from the Lyapunov equation, renormalised to "
            "the box";
    return FPK_SUCCESS;
  }
  /* dX = grad log p dt + sqrt(2) dW is reversible with zero flux p grad log p - grad p = 0, so on
   * a box with reflecting walls its stationary law is p restricted to the box (model.h). */
  const fpk_mixture *mix = fpk_model_mixture(m);
  if (mix) {
    int reflecting = 1;
    for (size_t a = 0; a < g->dim; a++) reflecting &= g->bc[a] == FPK_BC_REFLECTING;
    if (!reflecting) return none(err, "a mixture-Langevin model on a box without reflecting walls");
    int rc = fpk_mixture_cell_probs(mix, g, p, err);
    if (rc) return rc;
    renormalise(g, p);
    *what = "Gaussian mixture sum_k w_k N(m_k, S_k), exact cell probabilities renormalised to the "
            "box";
    return FPK_SUCCESS;
  }
  /* Any 1D model on a periodic grid: Risken's closed form (tilt, multiplicative noise). */
  if (g->dim == 1 && g->bc[0] == FPK_BC_PERIODIC) {
    fpk_error e2 = {0};
    if (fpk_exact_stationary_periodic_1d(m, g, p, NULL, &e2) == FPK_SUCCESS) {
      *what = "1D periodic closed form p = (N/D) int_x^{x+L} exp(Phi(x) - Phi(y)) dy, Phi' = b/D "
              "(Risken 1989, 11.3), by quadrature";
      return FPK_SUCCESS;
    }
  }
  /* Gradient Langevin (no tilt, no modulation): the Gibbs density e^{-beta U}/Z on the box. */
  const fpk_langevin_params *lp = fpk_model_langevin_params(m);
  if (lp && lp->modulation == 0.0) {
    int tilted = 0;
    for (size_t a = 0; a < g->dim; a++) tilted |= lp->tilt[a] != 0.0;
    if (!tilted) {
      int rc = fpk_exact_gibbs_cells(m, lp->beta, g, p, NULL, err);
      if (rc) return rc;
      *what = "Gibbs density exp(-beta U)/Z, Z by Gauss-Legendre quadrature over the box";
      return FPK_SUCCESS;
    }
  }
  /* Kramers equation without tilt: the phase-space Gibbs density e^{-beta (U(x) + v^2/2)}/Z
   * (Risken 1989, eq. 10.5); fpk_model_potential of a Kramers model is U(x) + v²/2. */
  const fpk_kramers_params *kp = fpk_model_kramers_params(m);
  if (kp && kp->tilt == 0.0) {
    int rc = fpk_exact_gibbs_cells(m, kp->beta, g, p, NULL, err);
    if (rc) return rc;
    *what = "phase-space Gibbs density exp(-beta (U(x) + v^2/2))/Z, Z by Gauss-Legendre "
            "quadrature over the box";
    return FPK_SUCCESS;
  }
  return none(err, "not a stable linear model, a mixture-Langevin model on a reflecting box, a 1D "
                   "model on a periodic grid, an untilted, unmodulated Langevin model or an "
                   "untilted Kramers model");
}
