/* Schrödinger bridges with the Brownian reference on an fpkit grid (fpkit/sb.h, docs/sb.md).
 *
 * Static problem. The grid Sinkhorn (src/ot/grid.c) returns OT potentials (f, g) with the plan
 *   π_ij = a_i b_j exp((f_i + g_j − |x_i − y_j|²)/ε),   ε = 2σ²T,
 * in cell masses. The Schrödinger system on the grid's quadrature (cell volume V) reads
 *   π_ij = V² φ̂_0(x_i) K_T(x_i, y_j) φ_T(y_j),   K_τ(x, y) = Π_a (πε_τ)^{−1/2} e^{−(x_a − y_a)²/ε_τ},
 * ε_τ = 2σ²τ, so with the gauge that puts K_T's constant on φ_T:
 *   log φ̂_0 = log(a/V) + f/ε,   log φ_T = log(b/V) + g/ε + (d/2) log(πε).
 * Then φ_0(x_i) = Σ_j V K_T φ_T(y_j) = Σ_j b_j e^{(g_j − C_ij)/ε} and V φ̂_0 φ_0 = the plan's row
 * sums (a to the Sinkhorn tolerance); likewise at T.
 *
 * Propagation. φ̂_t = Σ_z V K_t(z, ·) φ̂_0(z) and φ_t = Σ_y V K_{T−t}(·, y) φ_T(y) are separable
 * log-sum-exps: the OT module's "lse" kernel back-end at ε_t (exact to rounding at every ε, −∞
 * inputs allowed), plus the constant Σ_a log(h_a/√(πε_t)). Nothing is formed outside the log
 * domain except p_t = V exp(log φ_t + log φ̂_t) itself.
 *
 * Drift without differences. ∇_x log Σ_y K_τ(x, y) φ_T(y) = (E_w[y] − x)/(σ²τ) with
 * w(y) ∝ K_τ(x, y) φ_T(y) (the kernel's gradient is −2(x − y)/ε_τ K_τ), so
 *   b(x, t) = σ²∇log φ_t(x) = (E_w[y] − x)/(T − t),
 * and E_w[y_a] = lo_a + exp(LSE(log φ_T + log(y_a − lo_a)) − LSE(log φ_T)): a ratio of two
 * kernel applications with positive weights, so no sign is lost in the log domain. The
 * quadrature of E_w is a trapezoidal rule of a Gaussian of variance σ²τ times a smooth function:
 * relative error about 2 exp(−2π²σ²τ/h²), below 1e-10 for σ²τ >= 1.2 h² (fpk_sb_resolved_tau);
 * closer to the end the drift is interpolated linearly in t to the end limit (fpkit/sb.h).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"
#include "sb/sb_internal.h"

/* σ²τ >= SB_RESOLVED h² for the propagated kernel's quadrature to be exact to ~1e-10: the
 * trapezoidal rule on a Gaussian of variance v errs by about 2 exp(−2π² v/h²) (Trefethen &
 * Weideman, SIAM Rev. 56(3), 2014), 1e-10 at v/h² = 1.2. */
#define SB_RESOLVED 1.2

struct fpk_sb {
  fpk_grid g;
  size_t N, d;
  fpk_sb_params p;
  const sb_reference_impl *ref;
  fpk_ot_grid *ot;
  ot_propagator *prop; /* the time propagations (ot_grid_propagate) */
  double eps, logV;
  double *a, *b;            /* normalised end marginals (cell masses) */
  double *f, *gp;           /* OT potentials */
  double *lphat0, *lphiT;   /* log φ̂_0, log φ_T */
  double *xr;               /* dim × N: cell centre − lo_a (> 0) */
  double *logxr;            /* dim × N: its log, the weight of the drift's numerator */
  double *t1, *t2, *t3, *t4, *t5;
  double *dbuf;             /* dim × N: the end limit, for the interpolation near the ends */
  int solved;
  fpk_error err;
};

void fpk_sb_params_init(fpk_sb_params *p) {
  memset(p, 0, sizeof *p);
  p->reference = NULL;
  p->sigma = 1;
  p->T = 1;
  fpk_ot_params_init(&p->ot);
  p->kernel = NULL;
  p->mass_tol = 1e-6;
}

void fpk_sb_free(fpk_sb *s) {
  if (!s) return;
  fpk_ot_grid_free(s->ot);
  ot_propagator_free(s->prop);
  double *bufs[] = {s->a, s->b, s->f, s->gp, s->lphat0, s->lphiT, s->xr, s->logxr,
                    s->t1, s->t2, s->t3, s->t4, s->t5, s->dbuf};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++) free(bufs[k]);
  free(s);
}

fpk_sb *fpk_sb_alloc(const fpk_grid *g, const fpk_sb_params *p, fpk_error *err) {
  const fpk_sb_reference_type *rt = p->reference ? p->reference : fpk_sb_reference_brownian;
  size_t k = 0;
  while (fpk_sb_reference_types[k] && fpk_sb_reference_types[k] != rt) k++;
  if (!fpk_sb_reference_types[k]) {
    fpk_error_set(err, FPK_EINVAL, "sb: unknown reference process");
    return NULL;
  }
  if (!(p->sigma > 0) || !isfinite(p->sigma)) {
    fpk_error_set(err, FPK_EINVAL, "sb: sigma = %g: the noise level must be positive and finite",
                  p->sigma);
    return NULL;
  }
  if (!(p->T > 0) || !isfinite(p->T)) {
    fpk_error_set(err, FPK_EINVAL, "sb: T = %g: the horizon must be positive and finite", p->T);
    return NULL;
  }
  if (!(p->mass_tol > 0) || !isfinite(p->mass_tol)) {
    fpk_error_set(err, FPK_EINVAL, "sb: mass_tol = %g must be positive and finite", p->mass_tol);
    return NULL;
  }
  const sb_reference_impl *ref = SB_REFERENCE_IMPL(rt);
  fpk_ot_params q = p->ot;
  q.eps = ref->eps(p->sigma, p->T);
  if (!(q.eps > 0) || !isfinite(q.eps)) {
    fpk_error_set(err, FPK_EINVAL,
                  "sb: eps = 2 sigma^2 T = %g (sigma = %g, T = %g) is not a positive finite number",
                  q.eps, p->sigma, p->T);
    return NULL;
  }
  fpk_error e = {0};
  if (ot_check_params(&q, &e)) {
    fpk_error_set(err, FPK_EINVAL, "sb: static problem: %s", e.msg);
    return NULL;
  }
  fpk_sb *s = calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->g = *g;
  s->N = g->size;
  s->d = g->dim;
  s->p = *p;
  s->p.reference = rt;
  s->ref = ref;
  s->eps = q.eps;
  s->logV = log(g->cell_volume);
  const size_t N = s->N;
  if (!(s->ot = fpk_ot_grid_alloc(g, p->kernel, err))) {
    fpk_sb_free(s);
    return NULL;
  }
  if (!(s->prop = ot_propagator_alloc(g, 1, err))) {
    fpk_sb_free(s);
    return NULL;
  }
  double **bufs[] = {&s->a, &s->b, &s->f, &s->gp, &s->lphat0, &s->lphiT,
                     &s->t1, &s->t2, &s->t3, &s->t4, &s->t5};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
    if (!(*bufs[k] = malloc(N * sizeof(double)))) goto nomem;
  if (!(s->xr = malloc(s->d * N * sizeof(double)))) goto nomem;
  if (!(s->logxr = malloc(s->d * N * sizeof(double)))) goto nomem;
  if (!(s->dbuf = malloc(s->d * N * sizeof(double)))) goto nomem;
  double x[FPK_MAX_DIM];
  for (size_t c = 0; c < N; c++) {
    fpk_grid_point(g, c, x);
    for (size_t a = 0; a < s->d; a++) {
      s->xr[a * N + c] = x[a] - g->lo[a];
      s->logxr[a * N + c] = log(s->xr[a * N + c]);
    }
  }
  return s;
nomem:
  fpk_sb_free(s);
  fpk_error_set(err, FPK_ENOMEM, "sb: out of memory for a grid of %zu cells", g->size);
  return NULL;
}

const char *fpk_sb_errmsg(const fpk_sb *s) { return s->err.msg; }
double fpk_sb_eps(const fpk_sb *s) { return s->eps; }
const double *fpk_sb_history(const fpk_sb *s, size_t *n) { return fpk_ot_grid_history(s->ot, n); }

int fpk_sb_solve(fpk_sb *s, const double *a, const double *b, fpk_ot_result *r) {
  fpk_error_clear(&s->err);
  s->solved = 0;
  fpk_ot_params q = s->p.ot;
  q.eps = s->eps;
  q.warm_start = 0;
  fpk_ot_result res;
  int rc = fpk_ot_grid_solve(s->ot, a, b, &q, s->f, s->gp, &res);
  if (r) *r = res;
  if (rc)
    return fpk_error_set(&s->err, rc, "sb: static problem (eps = 2 sigma^2 T = %g): %s", s->eps,
                         fpk_ot_grid_errmsg(s->ot));
  if (!res.converged)
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: Sinkhorn stopped at marginal error %.3g > tol %g after %zu "
                         "iterations (eps = 2 sigma^2 T = %g); raise ot.max_iter, or refine the "
                         "grid if h^2/eps = %.3g is large",
                         res.err_a + res.err_b, q.tol, res.iterations, s->eps,
                         s->g.h[0] * s->g.h[0] / s->eps);
  /* The solver validated a and b (finite, >= 0, masses); its normalisation, repeated here. */
  const size_t N = s->N;
  double sa = 0, sbm = 0;
  for (size_t i = 0; i < N; i++) sa += a[i], sbm += b[i];
  double cT = 0; /* (d/2) log(πε): K_T's constant, carried by φ_T */
  for (size_t ax = 0; ax < s->d; ax++) cT += 0.5 * log(M_PI * s->eps);
  const double inv = 1 / s->eps;
  for (size_t i = 0; i < N; i++) {
    s->a[i] = a[i] / sa;
    s->b[i] = b[i] / sbm;
    s->lphat0[i] = s->a[i] > 0 ? log(s->a[i]) - s->logV + s->f[i] * inv : -INFINITY;
    s->lphiT[i] = s->b[i] > 0 ? log(s->b[i]) - s->logV + s->gp[i] * inv + cT : -INFINITY;
    if (isnan(s->lphat0[i]) || isnan(s->lphiT[i]) || s->lphat0[i] == INFINITY ||
        s->lphiT[i] == INFINITY)
      return fpk_error_set(&s->err, FPK_ENUMERIC,
                           "sb: non-finite Schrodinger potential at cell %zu (f = %g, g = %g)", i,
                           s->f[i], s->gp[i]);
  }
  s->solved = 1;
  return FPK_SUCCESS;
}

static int check_t(fpk_sb *s, double t, const char *what) {
  fpk_error_clear(&s->err);
  if (!s->solved)
    return fpk_error_set(&s->err, FPK_EINVAL, "sb: %s asked before a successful fpk_sb_solve",
                         what);
  if (!(t >= 0 && t <= s->p.T))
    return fpk_error_set(&s->err, FPK_EINVAL, "sb: %s at t = %g: t must be in [0, T] = [0, %g]",
                         what, t, s->p.T);
  return FPK_SUCCESS;
}

/* out = log Σ_z exp(in_z − |x − z|²/ε_τ) (no constant), τ > 0, by ot_grid_propagate: every
 * output within SB_PROP_ACCURACY of the exact log-sum-exp (fft, line-shifted dgemm, or exact). */
#define SB_PROP_ACCURACY 1e-12
static int lse_apply(fpk_sb *s, double tau, const double *in, double *out) {
  fpk_error e = {0};
  const double eps_t = s->ref->eps(s->p.sigma, tau);
  int rc = ot_grid_propagate(s->prop, 0, eps_t, NULL, SB_PROP_ACCURACY, in, out, &e);
  if (rc)
    return fpk_error_set(&s->err, rc, "sb: kernel propagation at eps = %g: %s", eps_t, e.msg);
  return FPK_SUCCESS;
}

/* out = log Σ_z V K_τ(·, z) exp(in_z): the heat propagation over τ >= 0 (τ = 0: a copy). */
static int propagate(fpk_sb *s, const double *in, double tau, double *out) {
  if (tau == 0) {
    memcpy(out, in, s->N * sizeof *out);
    return FPK_SUCCESS;
  }
  int rc = lse_apply(s, tau, in, out);
  if (rc) return rc;
  const double eps_t = s->ref->eps(s->p.sigma, tau);
  double c = s->logV - 0.5 * (double)s->d * log(M_PI * eps_t);
  for (size_t i = 0; i < s->N; i++) out[i] += c; /* −∞ stays −∞ */
  return FPK_SUCCESS;
}

int fpk_sb_log_phi_hat(fpk_sb *s, double t, double *log_phi_hat) {
  int rc = check_t(s, t, "log phi_hat");
  return rc ? rc : propagate(s, s->lphat0, t, log_phi_hat);
}

int fpk_sb_log_phi(fpk_sb *s, double t, double *log_phi) {
  int rc = check_t(s, t, "log phi");
  return rc ? rc : propagate(s, s->lphiT, s->p.T - t, log_phi);
}

/* log p_t into lp (with lph, lphi as scratch); the mass into *mass. */
static int log_marginal(fpk_sb *s, double t, double *lph, double *lphi, double *lp,
                        double *mass) {
  int rc = propagate(s, s->lphat0, t, lph);
  if (!rc) rc = propagate(s, s->lphiT, s->p.T - t, lphi);
  if (rc) return rc;
  double m = 0;
  for (size_t i = 0; i < s->N; i++) {
    /* either factor −∞ (zero weight at an end): p = 0 exactly */
    lp[i] = (lph[i] == -INFINITY || lphi[i] == -INFINITY) ? -INFINITY : s->logV + lph[i] + lphi[i];
    m += exp(lp[i]);
  }
  *mass = m;
  return FPK_SUCCESS;
}

static double hmax2(const fpk_sb *s) {
  double h2 = 0;
  for (size_t a = 0; a < s->d; a++) h2 = fmax(h2, s->g.h[a] * s->g.h[a]);
  return h2;
}

int fpk_sb_marginal(fpk_sb *s, double t, double *p, double *log_p, double *mass) {
  int rc = check_t(s, t, "marginal");
  if (rc) return rc;
  double *lp = log_p ? log_p : s->t3, m;
  rc = log_marginal(s, t, s->t1, s->t2, lp, &m);
  if (rc) return rc;
  if (p)
    for (size_t i = 0; i < s->N; i++) p[i] = exp(lp[i]);
  if (mass) *mass = m;
  if (!(fabs(m - 1) <= s->p.mass_tol)) {
    const double T = s->p.T, v = s->p.sigma * s->p.sigma * t * (T - t) / T, h2 = hmax2(s);
    if (v < SB_RESOLVED * h2)
      return fpk_error_set(&s->err, FPK_ENUMERIC,
                           "sb: the marginal at t = %g has mass %.12g, off 1 by %.3g > mass_tol "
                           "= %g; likely cause: the grid does not resolve the heat kernels this "
                           "close to an end (the bridge variance sigma^2 t (T - t)/T = %.3g < "
                           "%.2g h^2 = %.3g): refine the grid or query further from the ends",
                           t, m, fabs(m - 1), s->p.mass_tol, v, SB_RESOLVED, SB_RESOLVED * h2);
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: the marginal at t = %g has mass %.12g, off 1 by %.3g > mass_tol = "
                         "%g; likely cause: the bridge reaches the walls of the box (its spread "
                         "sigma^2 t (T - t)/T = %.3g adds to the ends' variances; the grid's "
                         "kernels stop at the walls): widen the box",
                         t, m, fabs(m - 1), s->p.mass_tol, v);
  }
  return FPK_SUCCESS;
}

/* out[a·N + i] = (E_w[y_a] − x_ia)/τ, w(y) ∝ K_τ(x_i, y) exp(logpot(y)): σ²∇ log of the
 * propagated potential, from two log-domain products per axis (fpkit/sb.h). */
static int kernel_drift(fpk_sb *s, const double *logpot, double tau, double *out) {
  const size_t N = s->N;
  double *den = s->t1, *in = s->t2, *num = s->t3;
  int rc = lse_apply(s, tau, logpot, den);
  if (rc) return rc;
  for (size_t a = 0; a < s->d; a++) {
    const double *y = s->xr + a * N;
    const double *logy = s->logxr + a * N; /* y − lo > 0 */
    for (size_t j = 0; j < N; j++) in[j] = logpot[j] + logy[j];
    if ((rc = lse_apply(s, tau, in, num))) return rc;
    for (size_t i = 0; i < N; i++) {
      /* den_i = −∞ only if logpot is −∞ everywhere, which a solve excludes */
      const double ey = exp(num[i] - den[i]);
      out[a * N + i] = (ey - y[i]) / tau;
    }
  }
  return FPK_SUCCESS;
}

/* out[a·N + i] += σ² ∂_a log w at cell i: centred differences of log w, one-sided at the walls,
 * 0 where w or a neighbour used is 0 (the score of an input marginal, for the end limits). */
static void add_score(fpk_sb *s, const double *w, double *out) {
  const size_t N = s->N;
  const double s2 = s->p.sigma * s->p.sigma;
  size_t stride = 1;
  for (size_t a = 0; a < s->d; a++) {
    const size_t n = s->g.n[a];
    const double h = s->g.h[a];
    for (size_t i = 0; i < N; i++) {
      const size_t k = (i / stride) % n;
      const size_t lo = k > 0 ? i - stride : i, hi = k + 1 < n ? i + stride : i;
      if (w[lo] > 0 && w[hi] > 0)
        out[a * N + i] += s2 * (log(w[hi]) - log(w[lo])) / ((double)(hi - lo) / stride * h);
    }
    stride *= n;
  }
}

/* The shortest propagation time the grid resolves: σ²τ >= SB_RESOLVED max_a h_a². */
double fpk_sb_resolved_tau(const fpk_sb *s) {
  return SB_RESOLVED * hmax2(s) / (s->p.sigma * s->p.sigma);
}

static void fill_mask(fpk_sb *s, const double *lp, unsigned char *mask) {
  const double floor = log(DBL_MIN);
  for (size_t i = 0; i < s->N; i++) mask[i] = !(lp[i] >= floor);
}

/* End limit: σ²∇log φ_T = σ²∇log p_T − σ²∇log φ̂_T (dir 0, forward drift at T) and
 * σ²∇log φ̂_0 = σ²∇log p_0 − σ²∇log φ_0 (dir 1, backward drift at 0); the other potential is
 * propagated over the whole horizon. */
static int end_limit(fpk_sb *s, int dir, double *out) {
  int rc = kernel_drift(s, dir == 0 ? s->lphat0 : s->lphiT, s->p.T, out);
  if (rc) return rc;
  for (size_t k = 0; k < s->d * s->N; k++) out[k] = -out[k];
  add_score(s, dir == 0 ? s->b : s->a, out);
  return FPK_SUCCESS;
}

/* dir 0: forward drift σ²∇log φ_t; dir 1: backward drift σ²∇log φ̂_t. */
static int drift(fpk_sb *s, int dir, double t, double *out, unsigned char *mask) {
  const char *what = dir == 0 ? "forward drift" : "backward drift";
  int rc = check_t(s, t, what);
  if (rc) return rc;
  const double T = s->p.T;
  const double tau = dir == 0 ? T - t : t; /* time over which the potential is propagated */
  const double *pot = dir == 0 ? s->lphiT : s->lphat0;
  const double tr = fpk_sb_resolved_tau(s);
  if (tau == 0) {
    rc = end_limit(s, dir, out);
  } else if (tau >= tr) {
    rc = kernel_drift(s, pot, tau, out);
  } else if (tr < T) {
    /* Within tr of the end the grid cannot resolve K_τ (the weights would collapse onto the cell
     * itself and the formula tend to 0): linear interpolation in t between the last resolved
     * time and the end limit, error O(tr²) = O(h⁴/σ⁴) for a drift smooth in t (docs/sb.md). */
    rc = kernel_drift(s, pot, tr, out);
    if (!rc) rc = end_limit(s, dir, s->dbuf);
    const double w = tau / tr;
    for (size_t k = 0; !rc && k < s->d * s->N; k++) out[k] = w * out[k] + (1 - w) * s->dbuf[k];
  } else {
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: %s at t = %g: the grid resolves no heat kernel shorter than "
                         "tau = %.3g (sigma^2 tau >= %.2g h^2 = %.3g), longer than T = %g: only "
                         "the ends are available; refine the grid (h^2 <= sigma^2 T / %.2g)",
                         what, t, tr, SB_RESOLVED, SB_RESOLVED * hmax2(s), T, SB_RESOLVED);
  }
  if (rc) return rc;
  for (size_t k = 0; k < s->d * s->N; k++)
    if (!isfinite(out[k]))
      return fpk_error_set(&s->err, FPK_ENUMERIC, "sb: %s at t = %g: non-finite value %g at "
                           "component %zu, cell %zu", what, t, out[k], k / s->N, k % s->N);
  if (mask) {
    double m;
    if ((rc = log_marginal(s, t, s->t4, s->t5, s->t3, &m))) return rc;
    fill_mask(s, s->t3, mask);
  }
  return FPK_SUCCESS;
}

int fpk_sb_drift(fpk_sb *s, double t, double *out, unsigned char *mask) {
  return drift(s, 0, t, out, mask);
}

int fpk_sb_backward_drift(fpk_sb *s, double t, double *out, unsigned char *mask) {
  return drift(s, 1, t, out, mask);
}

/* For src/sb/diagnostics.c (sb_internal.h). */
void sb_get_view(fpk_sb *s, sb_view *v) {
  v->g = &s->g;
  v->sigma = s->p.sigma;
  v->T = s->p.T;
  v->eps = s->eps;
  v->logV = s->logV;
  v->a = s->a;
  v->b = s->b;
  v->lphat0 = s->lphat0;
  v->lphiT = s->lphiT;
  v->solved = s->solved;
  v->err = &s->err;
}
