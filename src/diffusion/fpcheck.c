/* Exactness checks on the grid (fpkit/diffusion.h, docs/diffusion.md "Exactness checks on the
 * grid"): the reverse-time η-family of a schedule as an fpkit model, and the Girsanov bound.
 *
 * Reverse time. With forward marginals p_t of dX = f X dt + g dW, the process
 *   dY = [−f Y + ½(1 + η²) g² ∇log p] dτ + η g dW,   t = T − τ,
 * has marginals p_{T−τ}: its Fokker–Planck equation ∂_τ q = −∇·((−f x + ½(1+η²)g²∇log p) q)
 * + ½η²g²Δq is satisfied by q = p_{T−τ}, because −∂_t p = ∇·(f x p) − ½g²Δp and
 * ½g²Δp = ½g²∇·(p∇log p) (Anderson 1982; Song et al. 2021, eq. (6), (13)). η = 1 is the
 * reverse SDE, η = 0 the probability-flow ODE.
 *
 * Girsanov. For two reverse SDEs with the same noise g and drifts differing by g²(s − ∇log p),
 * KL of the path laws is ½∫ g² E|s − ∇log p|² dt (Girsanov), plus KL of the initial laws; the
 * data processing inequality gives the bound on the endpoint laws (Song, Durkan, Murray & Ermon
 * 2021, Theorem 1). */
#include <gsl/gsl_integration.h>
#include <math.h>
#include <stdlib.h>

#include "fpkit/diffusion.h"
#include "fpkit/fv.h"

struct fpk_reverse_model {
  fpk_model model; /* params points back at this struct */
  const fpk_schedule *s;
  double eta, T;
  fpk_score_fn score;
  void *user;
};

/* b(τ, y) = −f(T−τ) y + ½(1 + η²) g(T−τ)² s(T−τ, y). The score is written into out first. */
static int reverse_drift(double tau, size_t n, const double *x, double *out, void *params) {
  const struct fpk_reverse_model *r = params;
  double t = r->T - tau;
  if (t < 0) t = 0; /* the last step's rounding */
  const int rc = r->score(t, n, x, out, r->user);
  if (rc) return rc > 0 ? rc : -1;
  const double f = fpk_schedule_f(r->s, t);
  const double c = 0.5 * (1 + r->eta * r->eta) * fpk_schedule_g2(r->s, t);
  const size_t m = r->model.dim * n;
  for (size_t i = 0; i < m; i++) out[i] = -f * x[i] + c * out[i];
  return 0;
}

static int reverse_noise(double tau, size_t n, const double *x, double *out, void *params) {
  (void)x;
  const struct fpk_reverse_model *r = params;
  double t = r->T - tau;
  if (t < 0) t = 0;
  const double sg = r->eta * sqrt(fpk_schedule_g2(r->s, t));
  const size_t m = r->model.dim * n;
  for (size_t i = 0; i < m; i++) out[i] = sg;
  return 0;
}

fpk_reverse_model *fpk_reverse_model_alloc(const fpk_schedule *s, size_t dim, double eta,
                                           fpk_score_fn score, void *user,
                                           fpk_error *err) {
  if (!s) {
    fpk_error_set(err, FPK_EINVAL, "fpk_reverse_model_alloc: NULL schedule or score");
    return NULL;
  }
  return fpk_reverse_model_alloc_from(s, fpk_schedule_T(s), dim, eta, score, user, err);
}

fpk_reverse_model *fpk_reverse_model_alloc_from(const fpk_schedule *s, double t_start,
                                                size_t dim, double eta, fpk_score_fn score,
                                                void *user, fpk_error *err) {
  if (!s || !score) {
    fpk_error_set(err, FPK_EINVAL, "fpk_reverse_model_alloc: NULL schedule or score");
    return NULL;
  }
  if (!(t_start > 0 && t_start <= fpk_schedule_T(s))) {
    fpk_error_set(err, FPK_EINVAL, "fpk_reverse_model_alloc_from: t_start = %g outside (0, T = %g]",
                  t_start, fpk_schedule_T(s));
    return NULL;
  }
  if (dim < 1 || dim > FPK_MAX_DIM) {
    fpk_error_set(err, FPK_EINVAL, "fpk_reverse_model_alloc: dim = %zu: 1 to %d dimensions", dim,
                  FPK_MAX_DIM);
    return NULL;
  }
  if (!(eta >= 0) || !isfinite(eta)) {
    fpk_error_set(err, FPK_EINVAL, "fpk_reverse_model_alloc: eta = %g must be >= 0 and finite", eta);
    return NULL;
  }
  struct fpk_reverse_model *r = calloc(1, sizeof *r);
  if (!r) {
    fpk_error_set(err, FPK_ENOMEM, "fpk_reverse_model_alloc: out of memory");
    return NULL;
  }
  r->s = s, r->eta = eta, r->T = t_start, r->score = score, r->user = user;
  r->model.name = eta == 0 ? "pf-ode" : "reverse-sde";
  r->model.dim = dim;
  r->model.drift = reverse_drift;
  r->model.noise = reverse_noise;
  r->model.params = r;
  r->model.flags = FPK_MODEL_ADDITIVE;
  return r;
}

const fpk_model *fpk_reverse_model_get(const fpk_reverse_model *r) { return &r->model; }
void fpk_reverse_model_free(fpk_reverse_model *r) { free(r); }

int fpk_girsanov_bound_eval(const fpk_gmm *data, const fpk_schedule *s, double t_min,
                            fpk_score_fn score, void *user, const fpk_grid *grid,
                            size_t nq, double prior_var, fpk_girsanov_bound *out,
                            fpk_error *err) {
  if (!data || !s || !score || !grid || !out)
    return fpk_error_set(err, FPK_EINVAL, "fpk_girsanov_bound_eval: NULL argument");
  const double T = fpk_schedule_T(s);
  const size_t d = fpk_gmm_dim(data);
  if (!(t_min >= 0 && t_min < T))
    return fpk_error_set(err, FPK_EINVAL, "fpk_girsanov_bound_eval: t_min = %g outside [0, T = %g)", t_min, T);
  if (nq < 1) return fpk_error_set(err, FPK_EINVAL, "fpk_girsanov_bound_eval: nq = 0 quadrature nodes");
  if (!(prior_var > 0) || !isfinite(prior_var))
    return fpk_error_set(err, FPK_EINVAL, "fpk_girsanov_bound_eval: prior_var = %g must be positive", prior_var);
  if (grid->dim != d)
    return fpk_error_set(err, FPK_EINVAL, "fpk_girsanov_bound_eval: grid of dimension %zu, mixture of %zu",
                         grid->dim, d);
  const size_t n = grid->size;
  double *x = malloc(d * n * sizeof(double)), *lp = malloc(n * sizeof(double));
  double *sc = malloc(d * n * sizeof(double)), *se = malloc(d * n * sizeof(double));
  gsl_integration_glfixed_table *tab = gsl_integration_glfixed_table_alloc(nq);
  int rc = 0;
  if (!x || !lp || !sc || !se || !tab) {
    rc = fpk_error_set(err, FPK_ENOMEM, "fpk_girsanov_bound_eval: out of memory");
    goto done;
  }
  for (size_t j = 0; j < n; j++) {
    double pt[FPK_MAX_DIM];
    fpk_grid_point(grid, j, pt);
    for (size_t c = 0; c < d; c++) x[c * n + j] = pt[c];
  }
  /* KL(p_T ‖ π), midpoint rule: Σ p (log p − log π) h^d. */
  rc = fpk_gmm_eval(data, s, T, n, x, lp, NULL, NULL, NULL, err);
  if (rc) goto done;
  double kl = 0;
  for (size_t j = 0; j < n; j++) {
    double r2 = 0;
    for (size_t c = 0; c < d; c++) r2 += x[c * n + j] * x[c * n + j];
    const double lpi = -0.5 * (double)d * log(2 * M_PI * prior_var) - 0.5 * r2 / prior_var;
    kl += exp(lp[j]) * (lp[j] - lpi);
  }
  out->kl_prior = kl * grid->cell_volume;
  /* ½ ∫ g² E_{p_t}|s − ∇log p_t|² dt, Gauss–Legendre in t. */
  double I = 0;
  for (size_t q = 0; q < nq; q++) {
    double t, wq;
    gsl_integration_glfixed_point(t_min, T, q, &t, &wq, tab);
    rc = fpk_gmm_eval(data, s, t, n, x, lp, se, NULL, NULL, err);
    if (rc) goto done;
    const int cr = score(t, n, x, sc, user);
    if (cr) {
      rc = fpk_error_set(err, FPK_ECALLBACK, "fpk_girsanov_bound_eval: the score returned %d at t = %g", cr, t);
      goto done;
    }
    double e = 0;
    for (size_t j = 0; j < n; j++) {
      double r2 = 0;
      for (size_t c = 0; c < d; c++) {
        const double dv = sc[c * n + j] - se[c * n + j];
        r2 += dv * dv;
      }
      e += exp(lp[j]) * r2;
    }
    I += wq * fpk_schedule_g2(s, t) * e * grid->cell_volume;
  }
  out->score_term = 0.5 * I;
  out->bound = out->kl_prior + out->score_term;
  if (!isfinite(out->bound))
    rc = fpk_error_set(err, FPK_ENUMERIC, "fpk_girsanov_bound_eval: non-finite bound (KL %g, score term %g)",
                       out->kl_prior, out->score_term);
done:
  free(x), free(lp), free(sc), free(se);
  if (tab) gsl_integration_glfixed_table_free(tab);
  return rc;
}

/* ---- 1D CDF and the probability-flow map ------------------------------------------------- */

/* The noised components N(a μ_k, a² var_k + b²) at t (s = NULL: the data). */
static int comp1d(const char *fn, size_t K, const double *w, const double *var,
                  const fpk_schedule *s, double t, double *a, double *sd, fpk_error *err) {
  if (K < 1) return fpk_error_set(err, FPK_EINVAL, "%s: K = 0 components: give at least one", fn);
  double sw = 0;
  for (size_t k = 0; k < K; k++) {
    if (!(w[k] > 0) || !isfinite(w[k]))
      return fpk_error_set(err, FPK_EINVAL, "%s: weight %zu = %g must be positive", fn, k + 1,
                           w[k]);
    if (!(var[k] > 0) || !isfinite(var[k]))
      return fpk_error_set(err, FPK_EINVAL, "%s: variance %zu = %g must be positive", fn, k + 1,
                           var[k]);
    sw += w[k];
  }
  /* an improper mixture gave F(2) = 1.218 with success */
  if (!(fabs(sw - 1) <= 1e-9))
    return fpk_error_set(err, FPK_EINVAL, "%s: the weights sum to %.17g, off 1 by %.3g (> 1e-9)",
                         fn, sw, sw - 1);
  double aa = 1, b2 = 0;
  if (s) {
    const double T = fpk_schedule_T(s);
    if (!(t >= 0 && t <= T))
      return fpk_error_set(err, FPK_EINVAL, "%s: t = %g outside [0, T = %g]", fn, t, T);
    aa = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
  }
  *a = aa;
  for (size_t k = 0; k < K; k++) sd[k] = sqrt(aa * aa * var[k] + b2);
  return 0;
}

/* F, 1 − F and p at one point. */
static void cdf1(size_t K, const double *w, const double *mu, double a, const double *sd,
                 double x, double *F, double *S, double *p) {
  double f = 0, sv = 0, d = 0;
  for (size_t k = 0; k < K; k++) {
    const double z = (x - a * mu[k]) / sd[k];
    f += w[k] * 0.5 * erfc(-z * M_SQRT1_2);
    sv += w[k] * 0.5 * erfc(z * M_SQRT1_2);
    d += w[k] * exp(-0.5 * z * z) / (sd[k] * sqrt(2 * M_PI));
  }
  *F = f, *S = sv, *p = d;
}

int fpk_gmm1d_cdf(size_t K, const double *w, const double *mu, const double *var,
                  const fpk_schedule *s, double t, size_t n, const double *x, double *cdf,
                  double *sf, fpk_error *err) {
  double *sd = malloc((K ? K : 1) * sizeof(double)), a;
  if (!sd) return fpk_error_set(err, FPK_ENOMEM, "fpk_gmm1d_cdf: out of memory");
  int rc = comp1d("fpk_gmm1d_cdf", K, w, var, s, t, &a, sd, err);
  for (size_t i = 0; !rc && i < n; i++) {
    double F, S, p;
    cdf1(K, w, mu, a, sd, x[i], &F, &S, &p);
    if (cdf) cdf[i] = F;
    if (sf) sf[i] = S;
  }
  free(sd);
  return rc;
}

int fpk_gmm1d_pf_map(size_t K, const double *w, const double *mu, const double *var,
                     const fpk_schedule *s, double t0, double t1, size_t n, const double *x,
                     double *map, fpk_error *err) {
  double *sd0 = malloc((K ? K : 1) * sizeof(double)), *sd1 = malloc((K ? K : 1) * sizeof(double));
  double a0, a1;
  if (!sd0 || !sd1) {
    free(sd0), free(sd1);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_gmm1d_pf_map: out of memory");
  }
  int rc = comp1d("fpk_gmm1d_pf_map", K, w, var, s, t0, &a0, sd0, err);
  if (!rc) rc = comp1d("fpk_gmm1d_pf_map", K, w, var, s, t1, &a1, sd1, err);
  /* mixture mean and sd at t1 and t0 for the starting guess (the Gaussian map) */
  double m0 = 0, m1 = 0, v0 = 0, v1 = 0;
  for (size_t k = 0; !rc && k < K; k++) m0 += w[k] * a0 * mu[k], m1 += w[k] * a1 * mu[k];
  for (size_t k = 0; !rc && k < K; k++) {
    v0 += w[k] * (sd0[k] * sd0[k] + (a0 * mu[k] - m0) * (a0 * mu[k] - m0));
    v1 += w[k] * (sd1[k] * sd1[k] + (a1 * mu[k] - m1) * (a1 * mu[k] - m1));
  }
  for (size_t i = 0; !rc && i < n; i++) {
    double F0, S0, p0;
    cdf1(K, w, mu, a0, sd0, x[i], &F0, &S0, &p0);
    const int lower = F0 <= S0; /* invert the smaller of F and 1 − F, in logarithms */
    const double target = log(lower ? F0 : S0);
    if (!isfinite(target)) { /* the smaller of F and 1 − F underflowed */
      rc = fpk_error_set(err, FPK_ENUMERIC, "fpk_gmm1d_pf_map: x = %g is beyond the representable tail at "
                         "t = %g", x[i], t0);
      break;
    }
    /* h(y) = ±(log F1(y) − target) (the S side with the sign flipped), increasing in y. */
    double y = m1 + sqrt(v1 / v0) * (x[i] - m0);
    double lo = -INFINITY, hi = INFINITY;
    int ok = 0;
    for (int it = 0; it < 200; it++) {
      double F1, S1, p1;
      cdf1(K, w, mu, a1, sd1, y, &F1, &S1, &p1);
      const double G = lower ? F1 : S1;
      double h = lower ? log(G) - target : target - log(G);
      if (h > 0) hi = y; else if (h < 0) lo = y; else { ok = 1; break; }
      /* Newton: dh/dy = p/G (both sides) */
      double yn = (G > 0 && p1 > 0) ? y - h * G / p1 : NAN;
      if (!(yn > lo && yn < hi)) {
        /* outside the bracket: bisect, or expand an open bracket by the mixture's sd */
        if (isfinite(lo) && isfinite(hi)) yn = 0.5 * (lo + hi);
        else if (isfinite(lo)) yn = lo + sqrt(v1) * (1 + it);
        else yn = hi - sqrt(v1) * (1 + it);
      }
      const double dy = fabs(yn - y);
      y = yn;
      if (dy <= 4e-16 * (fabs(y) + sqrt(v1)) ||
          (isfinite(lo) && isfinite(hi) && hi - lo <= 4e-16 * (fabs(y) + sqrt(v1)))) {
        ok = 1;
        break;
      }
    }
    if (!ok) {
      rc = fpk_error_set(err, FPK_ENUMERIC, "fpk_gmm1d_pf_map: the inversion at x = %g did not converge",
                         x[i]);
      break;
    }
    map[i] = y;
  }
  free(sd0), free(sd1);
  return rc;
}

/* ---- Log-Sobolev decay of KL(p_t ‖ π) under overdamped Langevin ------------------------------
 * dX = ∇log π(X) dt + √2 dW has the stationary law π and the Fokker–Planck equation
 * ∂_t p = ∇·(π ∇(p/π)); along it d/dt KL(p_t ‖ π) = −I(p_t ‖ π) (the relative Fisher
 * information), so a log-Sobolev inequality KL ≤ I/(2ρ) gives KL(p_t ‖ π) ≤ e^{−2ρt} KL(p_0 ‖ π)
 * (Bakry & Émery 1985; Markowich & Villani 2000; Otto & Villani 2000). */

struct gmm_langevin {
  fpk_model model; /* first: fpk_model_free() releases the whole struct with one free() */
  const fpk_gmm *pi;
};

static int gmm_langevin_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const struct gmm_langevin *g = params;
  /* the exact score of the data mixture (s = NULL: no noising) */
  return fpk_gmm_eval(g->pi, NULL, 0, n, x, NULL, out, NULL, NULL, NULL) ? -1 : 0;
}

static int gmm_langevin_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)x;
  const struct gmm_langevin *g = params;
  const size_t m = g->model.dim * n;
  for (size_t i = 0; i < m; i++) out[i] = M_SQRT2;
  return 0;
}

fpk_model *fpk_gmm_langevin_model_alloc(const fpk_gmm *pi, fpk_error *err) {
  if (!pi) {
    fpk_error_set(err, FPK_EINVAL, "fpk_gmm_langevin_model_alloc: pi is NULL (pass the mixture "
                  "whose law the dynamics keep)");
    return NULL;
  }
  struct gmm_langevin *g = calloc(1, sizeof *g);
  if (!g) {
    fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_langevin_model_alloc: out of memory");
    return NULL;
  }
  g->pi = pi;
  g->model.name = "langevin-gmm";
  g->model.dim = fpk_gmm_dim(pi);
  g->model.drift = gmm_langevin_drift;
  g->model.noise = gmm_langevin_noise;
  g->model.params = g;
  g->model.flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS;
  return &g->model;
}

/* (1 + δ) log(1 + δ) − δ ≥ 0 without cancellation: its Taylor series Σ_{n≥2} (−1)^n δ^n/(n(n−1))
 * for |δ| < 1e-3 (truncation below 1e-21 δ²), log1p otherwise. */
static double kl_kernel(double d) {
  if (fabs(d) < 1e-3)
    return d * d * (1.0 / 2 + d * (-1.0 / 6 + d * (1.0 / 12 + d * (-1.0 / 20 + d / 30))));
  return (1 + d) * log1p(d) - d;
}

double fpk_grid_relative_entropy(const fpk_grid *g, const double *p, const double *q) {
  double kl = 0;
  for (size_t j = 0; j < g->size; j++) {
    const double pj = p[j] > 0 ? p[j] : 0, qj = q[j];
    if (pj == 0) {
      kl += qj > 0 ? qj : 0;
      continue;
    }
    if (!(qj > 0)) return INFINITY;
    const double r = pj / qj;
    /* near 1: the cancellation-free kernel; far from 1 (or q subnormal): the direct form */
    kl += fabs(r - 1) < 0.5 ? qj * kl_kernel(r - 1) : pj * (log(pj) - log(qj)) - pj + qj;
  }
  return kl * g->cell_volume;
}

void fpk_kl_decay_params_init(fpk_kl_decay_params *p) {
  p->dt = 1e-2;
  p->exact_reference = 0;
}

int fpk_langevin_kl_decay(const fpk_gmm *pi, const fpk_grid *g, const double *p0,
                          const fpk_kl_decay_params *par, size_t nt, const double *t, double *kl,
                          fpk_error *err) {
  static const char fn[] = "fpk_langevin_kl_decay";
  if (!pi || !g || !p0 || !t || !kl)
    return fpk_error_set(err, FPK_EINVAL, "%s: NULL pi, grid, p0, t or kl", fn);
  fpk_kl_decay_params def;
  fpk_kl_decay_params_init(&def);
  if (!par) par = &def;
  if (g->dim != fpk_gmm_dim(pi))
    return fpk_error_set(err, FPK_EINVAL, "%s: a grid of dimension %zu for a mixture of "
                         "dimension %zu: use a grid of the mixture's dimension", fn, g->dim,
                         fpk_gmm_dim(pi));
  for (size_t a = 0; a < g->dim; a++)
    if (g->bc[a] == FPK_BC_ABSORBING)
      return fpk_error_set(err, FPK_EINVAL, "%s: axis %zu has an absorbing boundary: π is the "
                           "stationary law only with reflecting or periodic walls", fn, a + 1);
  if (!(par->dt > 0) || !isfinite(par->dt))
    return fpk_error_set(err, FPK_EINVAL, "%s: dt = %g: the time step must be positive and "
                         "finite", fn, par->dt);
  for (size_t k = 0; k < nt; k++)
    if (!(t[k] >= 0) || !isfinite(t[k]) || (k > 0 && t[k] < t[k - 1]))
      return fpk_error_set(err, FPK_EINVAL, "%s: t[%zu] = %g: the output times must be finite, "
                           ">= 0 and non-decreasing", fn, k, t[k]);
  const size_t n = g->size;
  for (size_t j = 0; j < n; j++)
    if (!isfinite(p0[j]) || p0[j] < 0)
      return fpk_error_set(err, FPK_EINVAL, "%s: p0[%zu] = %g: the initial density must be "
                           "finite and >= 0", fn, j, p0[j]);
  fpk_model *m = fpk_gmm_langevin_model_alloc(pi, err);
  if (!m) return err ? err->status : FPK_ENOMEM;
  double *ref = malloc(n * sizeof *ref), *x = NULL;
  fpk_fv *fv = NULL;
  int rc = 0;
  if (!ref) {
    rc = fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
    goto done;
  }
  /* p0 and the reference normalised to mass 1 on the grid */
  const double m0 = fpk_grid_integral(g, p0);
  if (!(m0 > 0)) {
    rc = fpk_error_set(err, FPK_EINVAL, "%s: p0 has mass %g on the grid: give a density with "
                       "mass in the box", fn, m0);
    goto done;
  }
  if (par->exact_reference) { /* π at the cell centres */
    const size_t d = g->dim;
    x = malloc(d * n * sizeof *x);
    if (!x) {
      rc = fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
      goto done;
    }
    for (size_t j = 0; j < n; j++) {
      double pt[FPK_MAX_DIM];
      fpk_grid_point(g, j, pt);
      for (size_t c = 0; c < d; c++) x[c * n + j] = pt[c];
    }
    rc = fpk_gmm_eval(pi, NULL, 0, n, x, ref, NULL, NULL, NULL, err);
    if (rc) goto done;
    for (size_t j = 0; j < n; j++) ref[j] = exp(ref[j]);
  } else if (g->dim == 1 && g->bc[0] == FPK_BC_REFLECTING) {
    /* The discrete equilibrium in 1D with reflecting walls: zero Scharfetter–Gummel flux
     * through every face, out_l p_l = out_r p_r, i.e. p_{j+1}/p_j = B(−z)/B(z) = e^z with
     * z = b(x_{j+½}) h / D, D = 1 (docs/fv-scheme.md: the discrete Gibbs density). Summed in
     * logarithms it is positive with full relative accuracy in the tails, where the LU null
     * vector of fpk_fv_stationary carries absolute rounding (even negative values) and
     * KL(p ‖ q) would be +∞. */
    const size_t nf = n > 1 ? n - 1 : 1;
    x = malloc(2 * nf * sizeof *x);
    if (!x) {
      rc = fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
      goto done;
    }
    double *bf = x + nf;
    for (size_t j = 0; j + 1 < n; j++) x[j] = g->lo[0] + (double)(j + 1) * g->h[0];
    if (n > 1 && (rc = fpk_gmm_eval(pi, NULL, 0, n - 1, x, NULL, bf, NULL, NULL, err))) goto done;
    ref[0] = 0;
    for (size_t j = 0; j + 1 < n; j++) ref[j + 1] = ref[j] + bf[j] * g->h[0];
    double mx = -INFINITY;
    for (size_t j = 0; j < n; j++) mx = ref[j] > mx ? ref[j] : mx;
    for (size_t j = 0; j < n; j++) ref[j] = exp(ref[j] - mx);
  } else { /* the discrete equilibrium: the null vector of the FV operator (LU); its rounding
            * in the far tails is absolute, so it is floored at 1e-300 to keep KL finite */
    rc = fpk_fv_stationary(g, m, ref, err);
    if (rc) {
      fpk_error_prefix(err, "%s: ", fn);
      goto done;
    }
    for (size_t j = 0; j < n; j++) ref[j] = ref[j] > 1e-300 ? ref[j] : 1e-300;
  }
  const double mr = fpk_grid_integral(g, ref);
  if (!(mr > 0) || !isfinite(mr)) {
    rc = fpk_error_set(err, FPK_ENUMERIC, "%s: the reference density has mass %g on the grid",
                       fn, mr);
    goto done;
  }
  for (size_t j = 0; j < n; j++) ref[j] /= mr;
  fv = fpk_fv_alloc(g, m, fpk_fv_tr_bdf2, par->dt, err);
  if (!fv) {
    rc = err ? err->status : FPK_EINVAL;
    fpk_error_prefix(err, "%s: ", fn);
    goto done;
  }
  {
    double *q = malloc(n * sizeof *q);
    if (!q) {
      rc = fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
      goto done;
    }
    for (size_t j = 0; j < n; j++) q[j] = p0[j] / m0;
    rc = fpk_fv_set_density(fv, 0, q);
    free(q);
  }
  if (rc) {
    rc = fpk_error_set(err, rc, "%s: %s", fn, fpk_fv_errmsg(fv));
    goto done;
  }
  for (size_t k = 0; k < nt; k++) {
    if (t[k] > fpk_fv_time(fv) && (rc = fpk_fv_evolve(fv, t[k]))) {
      rc = fpk_error_set(err, rc, "%s: at t = %g: %s", fn, t[k], fpk_fv_errmsg(fv));
      goto done;
    }
    kl[k] = fpk_grid_relative_entropy(g, fpk_fv_density(fv), ref);
    if (!isfinite(kl[k])) {
      rc = fpk_error_set(err, FPK_ENUMERIC, "%s: KL(p_t | pi) = %g at t = %g (the reference "
                         "vanishes where p_t does not: widen the box)", fn, kl[k], t[k]);
      goto done;
    }
  }
done:
  fpk_fv_free(fv);
  free(ref), free(x);
  fpk_model_free(m);
  return rc;
}
