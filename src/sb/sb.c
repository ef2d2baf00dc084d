/* Schrödinger bridges with a linear reference on an fpkit grid (fpkit/sb.h, docs/sb.md).
 *
 * References. dX = −θX dt + σ dW per axis (θ = 0: Brownian), transition density
 *   K_τ(x, y) = (πε_τ)^{−d/2} exp(−|y − κ_τ x|²/ε_τ),  κ_τ = e^{−θτ},  ε_τ = 2v_τ,
 * v_τ = σ²(1 − e^{−2θτ})/(2θ) (sb_reference_law). Expanding the square,
 *   |y − κx|²/ε_τ = |x − y|²/ε'_τ − κ(1 − κ)|x|²/ε_τ + (1 − κ)|y|²/ε_τ,  ε'_τ = ε_τ/κ,
 * so the OU kernel is the heat kernel of the cost |x − y|² at ε'_τ between two diagonal scalings.
 * Scalings are absorbed by Sinkhorn's potentials, so the static OU bridge is the entropic OT plan
 * of |x − y|² at ε' = ε_T/κ_T = 2σ² sinh(θT)/θ (2σ²T at θ = 0), solved by the grid Sinkhorn with
 * all its back-ends, and every propagation is the Brownian one at ε'_τ framed by the two scalings
 * (for θ = 0 both scalings are exactly 0 and the code path is the heat kernel's).
 *
 * Static problem. The grid Sinkhorn (src/ot/grid.c) returns OT potentials (f, g) with the plan
 *   π_ij = a_i b_j exp((f_i + g_j − |x_i − y_j|²)/ε'),
 * in cell masses. The Schrödinger system on the grid's quadrature (cell volume V) reads
 *   π_ij = V² φ̂_0(x_i) K_T(x_i, y_j) φ_T(y_j),
 * so with the gauge that puts K_T's constant on φ_T:
 *   log φ̂_0 = log(a/V) + f/ε' − κ_T(1 − κ_T)|x|²/ε_T,
 *   log φ_T = log(b/V) + g/ε' + (1 − κ_T)|y|²/ε_T + (d/2) log(πε_T).
 * Then φ_0(x_i) = Σ_j V K_T(x_i, y_j) φ_T(y_j) and V φ̂_0 φ_0 = the plan's row sums (a to the
 * Sinkhorn tolerance); likewise at T.
 *
 * Propagation. φ̂_t(y) = Σ_x V K_t(x, y) φ̂_0(x) (forward: the Fokker–Planck equation of the
 * reference) and φ_t(x) = Σ_y V K_{T−t}(x, y) φ_T(y) (backward: its Kolmogorov backward equation)
 * are log-domain heat propagations at ε'_τ (ot_grid_propagate, src/ot/propagate.c: fft,
 * line-shifted dgemm or exact log-sum-exp, every output within 1e-12 of the exact one, −∞ inputs
 * allowed), plus the scalings and the constant Σ_a log(h_a/√(πε_τ)). Nothing is formed outside the
 * log domain except p_t = V exp(log φ_t + log φ̂_t) itself.
 *
 * Drift without differences. ∇_x K_τ(x, y) = 2κ(y − κx)/ε_τ K_τ, so
 *   σ²∇log φ_t(x) = 2σ²κ (E_w[y] − κx)/ε_τ,  w(y) ∝ K_τ(x, y) φ_T(y),  τ = T − t,
 * and likewise σ²∇log φ̂_t(y) = 2σ² (κ E_ŵ[x] − y)/ε_τ, ŵ(x) ∝ K_τ(x, y) φ̂_0(x), τ = t. E_w[y_a] =
 * lo_a + exp(LSE(log φ_T + log(y_a − lo_a)) − LSE(log φ_T)) with the kernel's weights: a ratio of
 * two kernel applications with positive weights, so no sign is lost in the log domain (the
 * scalings of the weighted variable cancel in the ratio). The forward drift is b = f + σ²∇log φ_t
 * and the backward drift b̂ = −f + σ²∇log φ̂_t, f(x) = −θx. The quadrature of E_w is a trapezoidal
 * rule of a Gaussian of variance v_τ (in y; v_τ/κ² >= v_τ in x) times a smooth function: relative
 * error about 2 exp(−2π² v_τ/h²), below 1e-10 for v_τ >= 1.2 h² (fpk_sb_resolved_tau); closer to
 * the end the score part is interpolated linearly in t to the end limit (fpkit/sb.h).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot/ot_internal.h"
#include "sb/sb_internal.h"

/* v_τ >= SB_RESOLVED h² for the propagated kernel's quadrature to be exact to ~1e-10: the
 * trapezoidal rule on a Gaussian of variance v errs by about 2 exp(−2π² v/h²) (Trefethen &
 * Weideman, SIAM Rev. 56(3), 2014), 1e-10 at v/h² = 1.2. */
#define SB_RESOLVED 1.2

/* Directions of a propagation: FWD sums over the kernel's first argument (φ̂, forward in time),
 * BWD over its second (φ, backward in time). */
enum { SB_FWD = 0, SB_BWD = 1 };

struct fpk_sb {
  fpk_grid g;
  size_t N, d;
  fpk_sb_params p;
  const sb_reference_impl *ref;
  double theta;             /* the reference's rate (0: Brownian) */
  fpk_ot_grid *ot;
  ot_propagator *prop; /* the time propagations (ot_grid_propagate) */
  double eps;               /* ε' of the static OT problem (cost |x − y|²) */
  double epsT, kappaT;      /* ε_T = 2 v_T and κ_T of the reference kernel over [0, T] */
  double logV;
  double *a, *b;            /* normalised end marginals (cell masses) */
  double *f, *gp;           /* OT potentials */
  double *lrow, *lcol;      /* log(a/V) + f/ε', log(b/V) + g/ε' (the plan in OT form) */
  double *lphat0, *lphiT;   /* log φ̂_0, log φ_T */
  double *xsq;              /* |x|² at the cell centres (the OU kernel's scalings) */
  double *xr;               /* dim × N: cell centre − lo_a (> 0) */
  double *logxr;            /* dim × N: its log, the weight of the drift's numerator */
  double *t1, *t2, *t3, *t4, *t5, *t6;
  double *dbuf;             /* dim × N: the end limit, for the interpolation near the ends */
  /* the model reference (FP-based IPF, src/sb/ipf.c); NULL for the kernel references */
  sb_ipf *ipf;
  double model_sigma;       /* the σ of an additive isotropic model (EM sampling), else NaN */
  const char *no_sampling;  /* why EM sampling is refused, or NULL */
  int solved;
  fpk_error err;
};

void fpk_sb_params_init(fpk_sb_params *p) {
  memset(p, 0, sizeof *p);
  p->reference = NULL;
  p->sigma = 1;
  p->T = 1;
  p->theta = 1;
  fpk_ot_params_init(&p->ot);
  p->kernel = NULL;
  p->mass_tol = 1e-6;
  p->dt = 0.01;
}

void fpk_sb_free(fpk_sb *s) {
  if (!s) return;
  fpk_ot_grid_free(s->ot);
  ot_propagator_free(s->prop);
  sb_ipf_free(s->ipf);
  double *bufs[] = {s->a,  s->b,  s->f,  s->gp, s->lrow, s->lcol, s->lphat0, s->lphiT, s->xsq,
                    s->xr, s->logxr, s->t1, s->t2, s->t3, s->t4, s->t5, s->t6, s->dbuf};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++) free(bufs[k]);
  free(s);
}

/* ---- The model reference: FP-based IPF (src/sb/ipf.c) ------------------------------------ */

/* The time levels: 0, the given times and T, each interval split into equal steps <= dt as
 * fpk_time_steps splits it (so Euler–Maruyama with the same times and dt steps on them). */
static int model_levels(const fpk_sb_params *p, double **out, size_t *nout, fpk_error *err) {
  const double T = p->T;
  for (size_t k = 0; k < p->nt; k++) {
    const double t = p->t[k];
    if (!(t >= 0 && t <= T))
      return fpk_error_set(err, FPK_EINVAL, "sb: time %zu is %g, outside [0, T] = [0, %g]", k + 1,
                           t, T);
    if (k && !(t >= p->t[k - 1]))
      return fpk_error_set(err, FPK_EINVAL, "sb: times must not decrease (time %zu is %g, after "
                           "%g)", k + 1, t, p->t[k - 1]);
  }
  /* the breakpoints 0, t..., T without repeats */
  double *bp = malloc((p->nt + 2) * sizeof *bp);
  if (!bp) return fpk_error_set(err, FPK_ENOMEM, "sb: out of memory for the time levels");
  size_t nb = 0;
  bp[nb++] = 0;
  for (size_t k = 0; k < p->nt; k++)
    if (p->t[k] > bp[nb - 1]) bp[nb++] = p->t[k];
  if (T > bp[nb - 1]) bp[nb++] = T;
  size_t total = 1;
  for (size_t k = 0; k + 1 < nb; k++) {
    size_t n;
    double h;
    int rc = fpk_time_steps(bp[k], bp[k + 1], p->dt, &n, &h, err);
    if (rc) {
      free(bp);
      return rc;
    }
    total += n;
  }
  double *tl = malloc(total * sizeof *tl);
  if (!tl) {
    free(bp);
    return fpk_error_set(err, FPK_ENOMEM, "sb: out of memory for %zu time levels", total);
  }
  size_t m = 0;
  tl[m++] = 0;
  for (size_t k = 0; k + 1 < nb; k++) {
    size_t n;
    double h;
    fpk_time_steps(bp[k], bp[k + 1], p->dt, &n, &h, err);
    for (size_t j = 1; j < n; j++) tl[m++] = bp[k] + (double)j * h;
    tl[m++] = bp[k + 1];
  }
  free(bp);
  *out = tl;
  *nout = m;
  return FPK_SUCCESS;
}

/* σ of an additive, autonomous model with the same noise on every axis (what the Euler–Maruyama
 * sampler takes), or NaN with the reason in *why. */
static double model_sigma(const fpk_model *m, const fpk_grid *g, const char **why) {
  *why = "the model's noise is not additive and autonomous (the bridge's Euler-Maruyama sampler "
         "takes one constant sigma)";
  if (!(m->flags & FPK_MODEL_ADDITIVE) || !(m->flags & FPK_MODEL_AUTONOMOUS)) return NAN;
  if (!m->noise) {
    *why = "the model has a noise matrix (the bridge's Euler-Maruyama sampler takes one sigma for "
           "every axis)";
    return NAN;
  }
  double x[FPK_MAX_DIM], sg[FPK_MAX_DIM];
  fpk_grid_point(g, 0, x);
  if (m->noise(0, 1, x, sg, m->params)) return NAN;
  for (size_t a = 1; a < m->dim; a++)
    if (fabs(sg[a]) != fabs(sg[0])) {
      *why = "the model's noise differs between the axes (the bridge's Euler-Maruyama sampler "
             "takes one sigma for every axis)";
      return NAN;
    }
  if (!(fabs(sg[0]) > 0) || !isfinite(sg[0])) return NAN;
  *why = NULL;
  return fabs(sg[0]);
}

static fpk_sb *alloc_model(const fpk_grid *g, const fpk_sb_params *p, fpk_error *err) {
  const sb_reference_impl *ref = &sb_reference_model;
  if (!(p->T > 0) || !isfinite(p->T)) {
    fpk_error_set(err, FPK_EINVAL, "sb: T = %g: the horizon must be positive and finite", p->T);
    return NULL;
  }
  if (ref->check(p, err)) return NULL;
  if (p->model->dim != g->dim) {
    fpk_error_set(err, FPK_EINVAL, "sb: the reference model is %zu-dimensional, the grid %zu",
                  p->model->dim, g->dim);
    return NULL;
  }
  double *levels = NULL;
  size_t nlev = 0;
  if (model_levels(p, &levels, &nlev, err)) return NULL;
  fpk_sb *s = calloc(1, sizeof *s);
  if (!s) {
    free(levels);
    fpk_error_set(err, FPK_ENOMEM, "sb: out of memory");
    return NULL;
  }
  s->g = *g;
  s->N = g->size;
  s->d = g->dim;
  s->p = *p;
  s->p.reference = &ref->pub;
  s->p.t = NULL; /* not owned */
  s->p.nt = 0;
  s->ref = ref;
  s->eps = NAN;
  s->logV = log(g->cell_volume);
  sb_ipf_params ip;
  sb_ipf_params_init(&ip);
  ip.model = p->model;
  ip.T = p->T;
  /* every level is an output time of the chain: each interval between two of them is one step
   * (the margin keeps rounding of t0 + jh from splitting it again) */
  ip.dt = p->dt * (1 + 1e-9);
  ip.nt = nlev;
  ip.t = levels;
  ip.tol = p->ot.tol;
  ip.max_iter = p->ot.max_iter;
  ip.normalize = p->ot.normalize;
  s->ipf = sb_ipf_alloc(g, &ip, err);
  free(levels);
  if (!s->ipf || !(s->a = malloc(s->N * sizeof(double))) ||
      !(s->b = malloc(s->N * sizeof(double)))) {
    if (s->ipf) fpk_error_set(err, FPK_ENOMEM, "sb: out of memory for a grid of %zu cells", s->N);
    fpk_sb_free(s);
    return NULL;
  }
  s->model_sigma = model_sigma(p->model, g, &s->no_sampling);
  return s;
}

/* The IPF object's error as the bridge's (status rc). */
static int ipf_error(fpk_sb *s, int rc) {
  return fpk_error_set(&s->err, rc, "%s", sb_ipf_errmsg(s->ipf));
}

static int solve_model(fpk_sb *s, const double *a, const double *b, fpk_ot_result *r) {
  fpk_ot_result res;
  memset(&res, 0, sizeof res);
  res.eps = NAN;
  int rc = sb_ipf_solve(s->ipf, a, b);
  size_t nh = 0;
  const double *h = sb_ipf_history(s->ipf, &nh);
  res.iterations = nh;
  res.stages = 1;
  res.err_a = nh ? h[nh - 1] : NAN;
  res.converged = rc == 0;
  double ma = 0, mb = 0;
  for (size_t i = 0; i < s->N; i++) ma += a[i], mb += b[i];
  res.mass_a = ma, res.mass_b = mb;
  if (r) *r = res;
  if (rc) return ipf_error(s, rc);
  for (size_t i = 0; i < s->N; i++) s->a[i] = a[i] / ma, s->b[i] = b[i] / mb;
  s->solved = 1;
  return FPK_SUCCESS;
}

fpk_sb *fpk_sb_alloc(const fpk_grid *g, const fpk_sb_params *p, fpk_error *err) {
  const fpk_sb_reference_type *rt = p->reference ? p->reference : fpk_sb_reference_brownian;
  size_t k = 0;
  while (fpk_sb_reference_types[k] && fpk_sb_reference_types[k] != rt) k++;
  if (!fpk_sb_reference_types[k]) {
    fpk_error_set(err, FPK_EINVAL, "sb: unknown reference process");
    return NULL;
  }
  if (SB_REFERENCE_IMPL(rt)->kind == SB_REF_MODEL) return alloc_model(g, p, err);
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
  if (ref->check && ref->check(p, err)) return NULL;
  const double theta = ref->rate(p);
  double kappaT, vT;
  sb_reference_law(p->sigma, theta, p->T, &kappaT, &vT);
  fpk_ot_params q = p->ot;
  q.eps = 2 * vT / kappaT;
  if (!(q.eps > 0) || !isfinite(q.eps)) {
    fpk_error_set(err, FPK_EINVAL,
                  "sb: the static problem's eps = %g (sigma = %g, T = %g, %s reference) is not a "
                  "positive finite number",
                  q.eps, p->sigma, p->T, rt->name);
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
  s->theta = theta;
  s->eps = q.eps;
  s->epsT = 2 * vT;
  s->kappaT = kappaT;
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
  double **bufs[] = {&s->a,  &s->b,  &s->f,  &s->gp, &s->lrow, &s->lcol, &s->lphat0, &s->lphiT,
                     &s->xsq, &s->t1, &s->t2, &s->t3, &s->t4, &s->t5, &s->t6};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
    if (!(*bufs[k] = malloc(N * sizeof(double)))) goto nomem;
  if (!(s->xr = malloc(s->d * N * sizeof(double)))) goto nomem;
  if (!(s->logxr = malloc(s->d * N * sizeof(double)))) goto nomem;
  if (!(s->dbuf = malloc(s->d * N * sizeof(double)))) goto nomem;
  double x[FPK_MAX_DIM];
  for (size_t c = 0; c < N; c++) {
    fpk_grid_point(g, c, x);
    s->xsq[c] = 0;
    for (size_t a = 0; a < s->d; a++) {
      s->xsq[c] += x[a] * x[a];
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
const double *fpk_sb_history(const fpk_sb *s, size_t *n) {
  return s->ipf ? sb_ipf_history(s->ipf, n) : fpk_ot_grid_history(s->ot, n);
}

int fpk_sb_solve(fpk_sb *s, const double *a, const double *b, fpk_ot_result *r) {
  fpk_error_clear(&s->err);
  s->solved = 0;
  if (s->ipf) return solve_model(s, a, b, r);
  fpk_ot_params q = s->p.ot;
  q.eps = s->eps;
  q.warm_start = 0;
  fpk_ot_result res;
  int rc = fpk_ot_grid_solve(s->ot, a, b, &q, s->f, s->gp, &res);
  if (r) *r = res;
  if (rc)
    return fpk_error_set(&s->err, rc, "sb: static problem (eps = %g, %s reference): %s", s->eps,
                         s->p.reference->name, fpk_ot_grid_errmsg(s->ot));
  if (!res.converged)
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: Sinkhorn stopped at marginal error %.3g > tol %g after %zu "
                         "iterations (eps = %g, %s reference); raise ot.max_iter, or refine the "
                         "grid if h^2/eps = %.3g is large",
                         res.err_a + res.err_b, q.tol, res.iterations, s->eps,
                         s->p.reference->name, s->g.h[0] * s->g.h[0] / s->eps);
  /* The solver validated a and b (finite, >= 0, masses); its normalisation, repeated here. */
  const size_t N = s->N;
  double sa = 0, sbm = 0;
  for (size_t i = 0; i < N; i++) sa += a[i], sbm += b[i];
  double cT = 0; /* (d/2) log(πε_T): K_T's constant, carried by φ_T */
  for (size_t ax = 0; ax < s->d; ax++) cT += 0.5 * log(M_PI * s->epsT);
  const double inv = 1 / s->eps, k = s->kappaT;
  /* the OU scalings (exactly 0 for the Brownian reference, κ = 1) */
  const double sx = k * (1 - k) / s->epsT, sy = (1 - k) / s->epsT;
  for (size_t i = 0; i < N; i++) {
    s->a[i] = a[i] / sa;
    s->b[i] = b[i] / sbm;
    s->lrow[i] = s->a[i] > 0 ? log(s->a[i]) - s->logV + s->f[i] * inv : -INFINITY;
    s->lcol[i] = s->b[i] > 0 ? log(s->b[i]) - s->logV + s->gp[i] * inv : -INFINITY;
    s->lphat0[i] = s->lrow[i] - sx * s->xsq[i];
    s->lphiT[i] = s->lcol[i] + sy * s->xsq[i] + cT;
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

/* out = log Σ_z exp(in_z − |x − z|²/eps) (no constant) by ot_grid_propagate: every output
 * within SB_PROP_ACCURACY of the exact log-sum-exp (fft, line-shifted dgemm, or exact). */
#define SB_PROP_ACCURACY 1e-12
static int lse_apply(fpk_sb *s, double eps, const double *in, double *out) {
  fpk_error e = {0};
  int rc = ot_grid_propagate(s->prop, 0, eps, NULL, SB_PROP_ACCURACY, in, out, &e);
  if (rc)
    return fpk_error_set(&s->err, rc, "sb: kernel propagation at eps = %g: %s", eps, e.msg);
  return FPK_SUCCESS;
}

/* The reference kernel over τ > 0 in the form of the file's top comment: ε_τ = 2v_τ, κ_τ, the
 * Brownian-form ε'_τ = ε_τ/κ_τ and the scalings sx = κ(1 − κ)/ε_τ, sy = (1 − κ)/ε_τ (both 0 for
 * the Brownian reference). */
typedef struct kernel_form {
  double kappa, eps, eps_bm, sx, sy;
} kernel_form;

static kernel_form kernel_at(const fpk_sb *s, double tau) {
  kernel_form k;
  double v;
  sb_reference_law(s->p.sigma, s->theta, tau, &k.kappa, &v);
  k.eps = 2 * v;
  k.eps_bm = k.eps / k.kappa;
  k.sx = k.kappa * (1 - k.kappa) / k.eps;
  k.sy = (1 - k.kappa) / k.eps;
  return k;
}

/* dir SB_FWD: out(y) = log Σ_x V K_τ(x, y) exp(in(x)) (φ̂ forward over τ);
 * dir SB_BWD: out(x) = log Σ_y V K_τ(x, y) exp(in(y)) (φ backward over τ); τ = 0: a copy. */
static int propagate(fpk_sb *s, int dir, const double *in, double tau, double *out) {
  const size_t N = s->N;
  if (tau == 0) {
    memcpy(out, in, N * sizeof *out);
    return FPK_SUCCESS;
  }
  const kernel_form k = kernel_at(s, tau);
  /* the scaling of the summed variable goes in, that of the output variable comes out */
  const double sin_ = dir == SB_FWD ? k.sx : -k.sy, sout = dir == SB_FWD ? -k.sy : k.sx;
  const double *src = in;
  if (sin_ != 0) {
    for (size_t i = 0; i < N; i++) s->t6[i] = in[i] + sin_ * s->xsq[i];
    src = s->t6;
  }
  int rc = lse_apply(s, k.eps_bm, src, out);
  if (rc) return rc;
  const double c = s->logV - 0.5 * (double)s->d * log(M_PI * k.eps);
  for (size_t i = 0; i < N; i++) out[i] += c + sout * s->xsq[i]; /* −∞ stays −∞ */
  return FPK_SUCCESS;
}

int fpk_sb_log_phi_hat(fpk_sb *s, double t, double *log_phi_hat) {
  int rc = check_t(s, t, "log phi_hat");
  if (!rc && s->ipf) return (rc = sb_ipf_log_phi_hat(s->ipf, t, log_phi_hat)) ? ipf_error(s, rc) : 0;
  return rc ? rc : propagate(s, SB_FWD, s->lphat0, t, log_phi_hat);
}

int fpk_sb_log_phi(fpk_sb *s, double t, double *log_phi) {
  int rc = check_t(s, t, "log phi");
  if (!rc && s->ipf) return (rc = sb_ipf_log_phi(s->ipf, t, log_phi)) ? ipf_error(s, rc) : 0;
  return rc ? rc : propagate(s, SB_BWD, s->lphiT, s->p.T - t, log_phi);
}

/* log p_t into lp (with lph, lphi as scratch); the mass into *mass. */
static int log_marginal(fpk_sb *s, double t, double *lph, double *lphi, double *lp,
                        double *mass) {
  int rc = propagate(s, SB_FWD, s->lphat0, t, lph);
  if (!rc) rc = propagate(s, SB_BWD, s->lphiT, s->p.T - t, lphi);
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
  if (s->ipf) return (rc = sb_ipf_marginal(s->ipf, t, p, log_p, mass)) ? ipf_error(s, rc) : 0;
  double *lp = log_p ? log_p : s->t3, m;
  rc = log_marginal(s, t, s->t1, s->t2, lp, &m);
  if (rc) return rc;
  if (p)
    for (size_t i = 0; i < s->N; i++) p[i] = exp(lp[i]);
  if (mass) *mass = m;
  if (!(fabs(m - 1) <= s->p.mass_tol)) {
    /* the reference bridge's variance at t, v_t v_{T−t}/(v_{T−t} + κ_{T−t}² v_t) (σ²t(T − t)/T
     * for the Brownian reference): the kernels' width the grid must resolve */
    double k1, v1, k2, v2;
    sb_reference_law(s->p.sigma, s->theta, t, &k1, &v1);
    sb_reference_law(s->p.sigma, s->theta, s->p.T - t, &k2, &v2);
    const double v = v1 * v2 / (v2 + k2 * k2 * v1), h2 = hmax2(s);
    if (v < SB_RESOLVED * h2)
      return fpk_error_set(&s->err, FPK_ENUMERIC,
                           "sb: the marginal at t = %g has mass %.12g, off 1 by %.3g > mass_tol "
                           "= %g; likely cause: the grid does not resolve the reference's kernels "
                           "this close to an end (the reference bridge's variance %.3g < %.2g h^2 "
                           "= %.3g): refine the grid or query further from the ends",
                           t, m, fabs(m - 1), s->p.mass_tol, v, SB_RESOLVED, SB_RESOLVED * h2);
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: the marginal at t = %g has mass %.12g, off 1 by %.3g > mass_tol = "
                         "%g; likely cause: the bridge reaches the walls of the box (the reference "
                         "bridge's variance %.3g adds to the ends' spread; the grid's kernels stop "
                         "at the walls): widen the box",
                         t, m, fabs(m - 1), s->p.mass_tol, v);
  }
  return FPK_SUCCESS;
}

/* The score part of a drift, from two log-domain products per axis (top comment):
 * dir SB_BWD: out = σ²∇_x log Σ_y K_τ(x, y) e^{logpot(y)} = 2σ²κ(E_w[y] − κx)/ε_τ (φ_t, τ = T − t);
 * dir SB_FWD: out = σ²∇_y log Σ_x K_τ(x, y) e^{logpot(x)} = 2σ²(κE_ŵ[x] − y)/ε_τ (φ̂_t, τ = t).
 * out is dim × N, component-major. */
static int kernel_score(fpk_sb *s, int dir, const double *logpot, double tau, double *out) {
  const size_t N = s->N;
  const kernel_form k = kernel_at(s, tau);
  double *den = s->t1, *in = s->t2, *num = s->t3, *base = s->t6;
  /* the kernel's factor of the averaged variable (it cancels in the ratio but sets the weights) */
  const double sin_ = dir == SB_FWD ? k.sx : -k.sy;
  for (size_t j = 0; j < N; j++) base[j] = logpot[j] + sin_ * s->xsq[j];
  int rc = lse_apply(s, k.eps_bm, base, den);
  if (rc) return rc;
  const double c = 2 * s->p.sigma * s->p.sigma / k.eps, kap = k.kappa;
  for (size_t a = 0; a < s->d; a++) {
    const double *z = s->xr + a * N;       /* z − lo > 0 */
    const double *logz = s->logxr + a * N;
    const double lo = s->g.lo[a];
    for (size_t j = 0; j < N; j++) in[j] = base[j] + logz[j];
    if ((rc = lse_apply(s, k.eps_bm, in, num))) return rc;
    for (size_t i = 0; i < N; i++) {
      /* den_i = −∞ only if logpot is −∞ everywhere, which a solve excludes; e = E[z] − lo */
      const double e = exp(num[i] - den[i]);
      /* with x = lo + z_i: E[y] − κx = e − κz_i + (1 − κ)lo, κE[x] − y = κe − z_i − (1 − κ)lo
       * (for κ = 1 the shift drops out exactly) */
      const double gap = dir == SB_BWD ? (kap == 1 ? e - z[i] : e - kap * z[i] + (1 - kap) * lo)
                                       : (kap == 1 ? e - z[i] : kap * e - z[i] - (1 - kap) * lo);
      out[a * N + i] = c * (dir == SB_BWD ? kap : 1) * gap;
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

/* The shortest propagation time the grid resolves: v_τ >= SB_RESOLVED max_a h_a², i.e.
 * τ = 1.2h²/σ² (Brownian) or −log(1 − 2θ·1.2h²/σ²)/(2θ) (OU; ∞ when the stationary variance
 * σ²/(2θ) is itself below 1.2h²). */
double fpk_sb_resolved_tau(const fpk_sb *s) {
  if (s->ipf) return 0; /* the chain answers at its levels; nothing is interpolated */
  const double r = SB_RESOLVED * hmax2(s) / (s->p.sigma * s->p.sigma);
  if (s->theta == 0) return r;
  const double x = 2 * s->theta * r;
  return x < 1 ? -log1p(-x) / (2 * s->theta) : INFINITY;
}

static void fill_mask(fpk_sb *s, const double *lp, unsigned char *mask) {
  const double floor = log(DBL_MIN);
  for (size_t i = 0; i < s->N; i++) mask[i] = !(lp[i] >= floor);
}

/* End limits of the score parts: σ²∇log φ_T = σ²∇log p_T − σ²∇log φ̂_T (which 0, forward drift
 * at T) and σ²∇log φ̂_0 = σ²∇log p_0 − σ²∇log φ_0 (which 1, backward drift at 0); the other
 * potential is propagated over the whole horizon. */
static int end_limit(fpk_sb *s, int which, double *out) {
  int rc = which == 0 ? kernel_score(s, SB_FWD, s->lphat0, s->p.T, out)
                      : kernel_score(s, SB_BWD, s->lphiT, s->p.T, out);
  if (rc) return rc;
  for (size_t k = 0; k < s->d * s->N; k++) out[k] = -out[k];
  add_score(s, which == 0 ? s->b : s->a, out);
  return FPK_SUCCESS;
}

/* which 0: forward drift f + σ²∇log φ_t; which 1: backward drift −f + σ²∇log φ̂_t; f = −θx. */
static int drift(fpk_sb *s, int which, double t, double *out, unsigned char *mask) {
  const char *what = which == 0 ? "forward drift" : "backward drift";
  int rc = check_t(s, t, what);
  if (rc) return rc;
  const double T = s->p.T;
  const double tau = which == 0 ? T - t : t; /* time over which the potential is propagated */
  const int dir = which == 0 ? SB_BWD : SB_FWD;
  const double *pot = which == 0 ? s->lphiT : s->lphat0;
  const double tr = fpk_sb_resolved_tau(s);
  if (tau == 0) {
    rc = end_limit(s, which, out);
  } else if (tau >= tr) {
    rc = kernel_score(s, dir, pot, tau, out);
  } else if (tr < T) {
    /* Within tr of the end the grid cannot resolve K_τ (the weights would collapse onto the cell
     * itself and the formula tend to 0): linear interpolation in t between the last resolved
     * time and the end limit, error O(tr²) = O(h⁴/σ⁴) for a drift smooth in t (docs/sb.md). */
    rc = kernel_score(s, dir, pot, tr, out);
    if (!rc) rc = end_limit(s, which, s->dbuf);
    const double w = tau / tr;
    for (size_t k = 0; !rc && k < s->d * s->N; k++) out[k] = w * out[k] + (1 - w) * s->dbuf[k];
  } else {
    return fpk_error_set(&s->err, FPK_ENUMERIC,
                         "sb: %s at t = %g: the grid resolves no reference kernel shorter than "
                         "tau = %.3g (kernel variance >= %.2g h^2 = %.3g), longer than T = %g: "
                         "only the ends are available; refine the grid (h^2 <= sigma^2 T / %.2g "
                         "for the brownian reference)",
                         what, t, tr, SB_RESOLVED, SB_RESOLVED * hmax2(s), T, SB_RESOLVED);
  }
  if (rc) return rc;
  if (s->theta != 0) { /* ±f = ∓θx */
    const double th = which == 0 ? -s->theta : s->theta;
    for (size_t a = 0; a < s->d; a++)
      for (size_t i = 0; i < s->N; i++)
        out[a * s->N + i] += th * (s->g.lo[a] + s->xr[a * s->N + i]);
  }
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
  if (s->ipf) {
    int rc = check_t(s, t, "forward drift");
    if (!rc) rc = sb_ipf_drift(s->ipf, t, out, mask);
    return rc && !s->err.status ? ipf_error(s, rc) : rc;
  }
  return drift(s, 0, t, out, mask);
}

int fpk_sb_backward_drift(fpk_sb *s, double t, double *out, unsigned char *mask) {
  if (s->ipf) {
    int rc = check_t(s, t, "backward drift");
    if (!rc) rc = sb_ipf_backward_drift(s->ipf, t, out, mask);
    return rc && !s->err.status ? ipf_error(s, rc) : rc;
  }
  return drift(s, 1, t, out, mask);
}

/* For src/sb/diagnostics.c and sample.c (sb_internal.h). */
void sb_get_view(fpk_sb *s, sb_view *v) {
  v->g = &s->g;
  v->sigma = s->p.sigma;
  v->T = s->p.T;
  v->theta = s->theta;
  v->eps = s->eps;
  v->lrow = s->lrow;
  v->lcol = s->lcol;
  v->logV = s->logV;
  v->a = s->a;
  v->b = s->b;
  v->lphat0 = s->lphat0;
  v->lphiT = s->lphiT;
  v->solved = s->solved;
  v->err = &s->err;
  v->ipf = s->ipf;
  v->model = s->ipf ? s->p.model : NULL;
  v->no_sampling = s->no_sampling;
  if (s->ipf) v->sigma = s->model_sigma;
}
