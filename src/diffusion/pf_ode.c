/* Probability-flow ODE samplers (fpkit/diffusion.h, docs/diffusion.md "Probability-flow ODE
 * samplers"). The PF-ODE of a linear forward SDE (Song et al., ICLR 2021, eq. 13)
 *   dx/dt = f(t) x − ½ g(t)² ∇log p_t(x)
 * integrated backward from t_max to t_min. With σ = b/a, x̂ = x/a it reads dx̂/dσ = ε̂ with the
 * noise prediction ε̂ = −b ∇log p_t (Karras et al., NeurIPS 2022, eq. 4 after scaling), and with
 * λ = log(a/b) the exact solution from s to t is (Lu et al., NeurIPS 2022, eq. 3.4)
 *   x_t = (a_t/a_s) x_s − a_t ∫_{λ_s}^{λ_t} e^{−λ} ε̂(x_λ, λ) dλ,
 * whose Taylor expansions of ε̂ in λ give DDIM (= DPM-Solver-1) and DPM-Solver-2/3; the same
 * in the data prediction x̂0 = (x + b² ∇log p)/a gives DPM-Solver++ (Lu et al. 2023, eq. 9).
 * Each sampler advances a block of points over the whole grid: points are independent, so the
 * blocks go to OpenMP threads and the result does not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/score_call.h"
#include "fpkit/diffusion.h"

/* ---- the exact mixture score ----------------------------------------------------------- */

int fpk_gmm_score_fn(double t, size_t n, const double *x, double *out, void *user) {
  const fpk_gmm_score_ctx *c = user;
  fpk_error e = {0};
  return fpk_gmm_eval(c->gmm, c->schedule, t, n, x, NULL, out, NULL, NULL, &e) ? -1 : 0;
}

/* ---- registry -------------------------------------------------------------------------- */

enum { P_EULER, P_HEUN, P_DDIM, P_DPM2, P_DPM3, P_DPMPP2M };

typedef struct pfode_impl {
  fpk_pfode_type pub;
  int kind;
} pfode_impl;

static const pfode_impl impls[] = {
    {{"euler", "Euler in t on dx/dt = f x - g^2/2 score (Song et al. 2021, eq. 13)", 1, 1},
     P_EULER},
    {{"heun", "Heun in sigma = b/a on x/a (Karras et al. 2022, Algorithm 1, no churn)", 2, 2},
     P_HEUN},
    {{"ddim", "DDIM = DPM-Solver-1: x_t = (a_t/a_s) x_s - b_t (e^h - 1) eps (Lu et al. 2022, eq. 3.7)",
      1, 1},
     P_DDIM},
    {{"dpm-solver-2", "singlestep DPM-Solver-2, r1 = 1/2 (Lu et al. 2022, Algorithm 1)", 2, 2},
     P_DPM2},
    {{"dpm-solver-3", "singlestep DPM-Solver-3, r1 = 1/3, r2 = 2/3 (Lu et al. 2022, Algorithm 2)",
      3, 3},
     P_DPM3},
    {{"dpm-solver++2m", "multistep DPM-Solver++(2M), data prediction (Lu et al. 2023, Algorithm 2)",
      2, 1},
     P_DPMPP2M},
};

const fpk_pfode_type *fpk_pfode_euler = &impls[0].pub;
const fpk_pfode_type *fpk_pfode_heun = &impls[1].pub;
const fpk_pfode_type *fpk_pfode_ddim = &impls[2].pub;
const fpk_pfode_type *fpk_pfode_dpm_solver_2 = &impls[3].pub;
const fpk_pfode_type *fpk_pfode_dpm_solver_3 = &impls[4].pub;
const fpk_pfode_type *fpk_pfode_dpm_solver_pp2m = &impls[5].pub;
const fpk_pfode_type *const fpk_pfode_types[] = {&impls[0].pub, &impls[1].pub, &impls[2].pub,
                                                 &impls[3].pub, &impls[4].pub, &impls[5].pub,
                                                 NULL};

const fpk_pfode_type *fpk_pfode_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; fpk_pfode_types[i]; i++)
    if (!strcmp(name, fpk_pfode_types[i]->name)) return fpk_pfode_types[i];
  if (!strcmp(name, "dpm-solver-1")) return fpk_pfode_ddim;
  return NULL;
}

enum { G_TIME, G_LOGSNR, G_EDM };
static const fpk_time_grid_type grids[] = {
    {"time-uniform", "t uniform from t_max to t_min"},
    {"logsnr-uniform", "lambda = log(a/b) uniform (Lu et al. 2022, sec. 3.3)"},
    {"edm", "sigma = b/a with Karras et al. 2022 eq. 5: (smax^(1/rho) + i/N (smin^(1/rho) - smax^(1/rho)))^rho"},
};
const fpk_time_grid_type *const fpk_time_grid_types[] = {&grids[0], &grids[1], &grids[2], NULL};

const fpk_time_grid_type *fpk_time_grid_find(const char *name) {
  for (size_t i = 0; name && fpk_time_grid_types[i]; i++)
    if (!strcmp(name, fpk_time_grid_types[i]->name)) return fpk_time_grid_types[i];
  return NULL;
}

static int check_span(const char *fn, const fpk_schedule *s, double t_max, double t_min, size_t N,
                      fpk_error *err) {
  const double T = fpk_schedule_T(s);
  if (!(t_max > 0) || !(t_max <= T))
    return fpk_error_set(err, FPK_EINVAL, "%s: t_max = %g must lie in (0, T = %g]", fn, t_max,
                         T);
  if (!(t_min > 0))
    return fpk_error_set(err, FPK_EINVAL, "%s: t_min = %g must be positive (the score of the "
                         "data is not smoothed at t = 0)", fn, t_min);
  if (!(t_min < t_max))
    return fpk_error_set(err, FPK_EINVAL, "%s: t_min = %g must be below t_max = %g", fn,
                         t_min, t_max);
  if (N < 1) return fpk_error_set(err, FPK_EINVAL, "%s: steps = %zu: need at least 1", fn, N);
  /* the samplers divide by a_t (and scale by a_t/a_s): a signal below 1e-8 at t_max (vp-cosine
   * at T, where a_T = 0 up to rounding) would turn every step into a cancellation */
  const double aT = fpk_schedule_mean_coef(s, t_max);
  if (!(aT >= 1e-8))
    return fpk_error_set(err, FPK_EINVAL, "%s: t_max = %g: the signal a_t = %g vanishes there "
                         "(%s; need a_t >= 1e-8): use a smaller t_max", fn, t_max, aT,
                         fpk_schedule_type_of(s)->name);
  return FPK_SUCCESS;
}

int fpk_time_grid(const fpk_time_grid_type *grid, const fpk_schedule *s, double t_max,
                  double t_min, size_t N, double rho, double *t, fpk_error *err) {
  int rc = check_span("fpk_time_grid", s, t_max, t_min, N, err);
  if (rc) return rc;
  int kind = -1;
  for (int i = 0; i < 3; i++)
    if (grid == &grids[i]) kind = i;
  if (kind < 0) return fpk_error_set(err, FPK_EINVAL, "fpk_time_grid: grid is not one of "
                                          "fpk_time_grid_types");
  const double l0 = fpk_schedule_lambda(s, t_max), l1 = fpk_schedule_lambda(s, t_min);
  if (kind == G_EDM && !(rho > 0 && isfinite(rho)))
    return fpk_error_set(err, FPK_EINVAL, "fpk_time_grid (edm): rho = %g must be positive "
                         "and finite", rho);
  t[0] = t_max;
  t[N] = t_min;
  for (size_t i = 1; i < N; i++) {
    const double u = (double)i / (double)N;
    double lam;
    switch (kind) {
      case G_TIME: t[i] = t_max + u * (t_min - t_max); continue;
      case G_LOGSNR: lam = l0 + u * (l1 - l0); break;
      default: /* σ = e^{−λ}: σ_max^{1/ρ}(1 + u((σ_min/σ_max)^{1/ρ} − 1)) without forming
                * σ^{1/ρ}, which overflowed for small ρ and rounded to 1 for huge ρ (the
                * logSNR-uniform limit as ρ → ∞) */
        lam = l0 - rho * log1p(u * expm1((l0 - l1) / rho));
    }
    rc = fpk_schedule_t_of_lambda(s, lam, &t[i], err);
    if (rc) return rc;
  }
  return FPK_SUCCESS;
}

void fpk_pfode_params_init(fpk_pfode_params *p) {
  memset(p, 0, sizeof *p);
  p->sampler = "dpm-solver-2";
  p->grid = "logsnr-uniform";
  p->t_max = NAN; /* NaN: T */
  p->t_min = 1e-3;
  p->steps = 0;
  p->rho = 7;
  p->dim = 1;
}

/* ---- the integrators on one block of points -------------------------------------------- */

/* Per-time coefficients, computed once per grid time (and stage time). */
typedef struct coef {
  double t, a, b, lam;
} coef;

static coef coef_at(const fpk_schedule *s, double t) {
  coef c = {t, fpk_schedule_mean_coef(s, t), sqrt(fpk_schedule_var(s, t)), 0};
  c.lam = log(c.a) - log(c.b);
  return c;
}

typedef struct block {
  const fpk_schedule *s;
  fpk_score_fn score;
  void *user;
  size_t m;   /* dim × points in the block */
  size_t np;  /* points in the block */
  double *w[6];
  double fail_t;
} block;

/* out = ε̂ = −b ∇log p_t(x) */
static int eps_at(block *B, coef c, const double *x, double *out) {
  if (fpk_score_call_checked(B->score, B->user, c.t, B->np, B->m / B->np, x, out)) {
    B->fail_t = c.t;
    return -1;
  }
  for (size_t j = 0; j < B->m; j++) out[j] *= -c.b;
  return 0;
}

/* out = x̂0 = (x + b² ∇log p_t(x))/a = (x − b ε̂)/a */
static int x0_at(block *B, coef c, const double *x, double *out) {
  if (eps_at(B, c, x, out)) return -1;
  for (size_t j = 0; j < B->m; j++) out[j] = (x[j] - c.b * out[j]) / c.a;
  return 0;
}

static coef coef_lambda(const fpk_schedule *s, double lam) {
  double t;
  fpk_schedule_t_of_lambda(s, lam, &t, NULL); /* λ inside (λ_tmax, λ_tmin): cannot fail */
  return coef_at(s, t);
}

static int run_block(int kind, block *B, size_t N, const double *tg, double *x) {
  const fpk_schedule *s = B->s;
  const size_t m = B->m;
  double *e0 = B->w[0], *e1 = B->w[1], *e2 = B->w[2], *u = B->w[3], *prev = B->w[4];
  for (size_t i = 0; i < N; i++) {
    const coef cs = coef_at(s, tg[i]), ct = coef_at(s, tg[i + 1]);
    const double h = ct.lam - cs.lam; /* > 0: λ grows toward t = 0 */
    switch (kind) {
      case P_EULER: { /* x += Δt (f x − ½g² score) */
        const double dt = ct.t - cs.t, f = fpk_schedule_f(s, cs.t),
                     g2 = fpk_schedule_g2(s, cs.t);
        if (fpk_score_call_checked(B->score, B->user, cs.t, B->np, m / B->np, x, e0))
          return B->fail_t = cs.t, -1;
        for (size_t j = 0; j < m; j++) x[j] += dt * (f * x[j] - 0.5 * g2 * e0[j]);
        break;
      }
      case P_HEUN: { /* on x̂ = x/a in σ = b/a: dx̂/dσ = ε̂ (Karras et al. 2022, Alg. 1) */
        const double ss = cs.b / cs.a, st = ct.b / ct.a, ds = st - ss;
        if (eps_at(B, cs, x, e0)) return -1;
        /* Algorithm 1 corrects every step with σ_{i+1} ≠ 0, here all (t_min > 0); its last
         * Euler step to σ = 0 gives x̂ − σ ε̂ = x̂0, the optional Tweedie step (denoise) */
        for (size_t j = 0; j < m; j++) u[j] = ct.a * (x[j] / cs.a + ds * e0[j]);
        if (eps_at(B, ct, u, e1)) return -1;
        for (size_t j = 0; j < m; j++) x[j] = ct.a * (x[j] / cs.a + 0.5 * ds * (e0[j] + e1[j]));
        break;
      }
      case P_DDIM: { /* Lu et al. 2022, eq. 3.7 */
        if (eps_at(B, cs, x, e0)) return -1;
        const double r = ct.a / cs.a, q = ct.b * expm1(h);
        for (size_t j = 0; j < m; j++) x[j] = r * x[j] - q * e0[j];
        break;
      }
      case P_DPM2: { /* Lu et al. 2022, Algorithm 1 (DPM-Solver-2), r1 = 1/2 */
        const double r1 = 0.5;
        const coef c1 = coef_lambda(s, cs.lam + r1 * h);
        if (eps_at(B, cs, x, e0)) return -1;
        const double ru = c1.a / cs.a, qu = c1.b * expm1(r1 * h);
        for (size_t j = 0; j < m; j++) u[j] = ru * x[j] - qu * e0[j];
        if (eps_at(B, c1, u, e1)) return -1;
        const double r = ct.a / cs.a, q = ct.b * expm1(h);
        for (size_t j = 0; j < m; j++)
          x[j] = r * x[j] - q * e0[j] - q / (2 * r1) * (e1[j] - e0[j]);
        break;
      }
      case P_DPM3: { /* Lu et al. 2022, Algorithm 2 (DPM-Solver-3), r1 = 1/3, r2 = 2/3 */
        const double r1 = 1.0 / 3, r2 = 2.0 / 3;
        const coef c1 = coef_lambda(s, cs.lam + r1 * h), c2 = coef_lambda(s, cs.lam + r2 * h);
        if (eps_at(B, cs, x, e0)) return -1;
        const double ru1 = c1.a / cs.a, qu1 = c1.b * expm1(r1 * h);
        for (size_t j = 0; j < m; j++) u[j] = ru1 * x[j] - qu1 * e0[j];
        if (eps_at(B, c1, u, e1)) return -1;
        for (size_t j = 0; j < m; j++) e1[j] -= e0[j]; /* D1 */
        const double em2 = expm1(r2 * h), ru2 = c2.a / cs.a, qu2 = c2.b * em2,
                     pu2 = c2.b * r2 / r1 * (em2 / (r2 * h) - 1);
        for (size_t j = 0; j < m; j++) u[j] = ru2 * x[j] - qu2 * e0[j] - pu2 * e1[j];
        if (eps_at(B, c2, u, e2)) return -1;
        for (size_t j = 0; j < m; j++) e2[j] -= e0[j]; /* D2 */
        const double em = expm1(h), r = ct.a / cs.a, q = ct.b * em,
                     p = ct.b / r2 * (em / h - 1);
        for (size_t j = 0; j < m; j++) x[j] = r * x[j] - q * e0[j] - p * e2[j];
        break;
      }
      default: { /* DPM-Solver++(2M), Lu et al. 2023, Algorithm 2 */
        if (x0_at(B, cs, x, e0)) return -1;
        const double r = ct.b / cs.b, q = ct.a * expm1(-h);
        if (i == 0) {
          for (size_t j = 0; j < m; j++) x[j] = r * x[j] - q * e0[j];
        } else {
          const double hp = cs.lam - coef_at(s, tg[i - 1]).lam, ri = hp / h,
                       c = 1 / (2 * ri);
          for (size_t j = 0; j < m; j++)
            x[j] = r * x[j] - q * ((1 + c) * e0[j] - c * prev[j]);
        }
        memcpy(prev, e0, m * sizeof *e0);
      }
    }
  }
  return 0;
}

enum { PFODE_BLOCK = 64 }; /* points per block: fixed, so blocks (not threads) set the order */

int fpk_pfode_sample(const fpk_pfode_params *p, const fpk_schedule *s, fpk_score_fn score,
                     void *user, size_t n, double *x, size_t *nfe, fpk_error *err) {
  if (!p || !s || !score || (n && !x))
    return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: %s is NULL",
                         !p ? "params" : !s ? "schedule" : !score ? "score" : "x");
  const fpk_pfode_type *st = fpk_pfode_find(p->sampler);
  if (!st && p->sampler && !strcmp(p->sampler, "dpm-solver")) { /* the family: pick by order */
    static const fpk_pfode_type *const fam[3] = {&impls[2].pub, &impls[3].pub, &impls[4].pub};
    if (p->order < 1 || p->order > 3)
      return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: sampler = 'dpm-solver' with order = %d: "
                           "its table has orders 1, 2, 3", p->order);
    st = fam[p->order - 1];
  }
  if (!st)
    return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: sampler = '%s' is unknown (euler, heun, ddim, "
                         "dpm-solver-1, dpm-solver-2, dpm-solver-3, dpm-solver++2m, or "
                         "dpm-solver with order 1-3)", p->sampler ? p->sampler : "(null)");
  if (p->order && p->order != st->order)
    return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: sampler = '%s' has order %d, not order = %d",
                         p->sampler, st->order, p->order);
  const fpk_time_grid_type *gt = fpk_time_grid_find(p->grid);
  if (!gt)
    return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: grid = '%s' is unknown (time-uniform, "
                         "logsnr-uniform, edm)", p->grid ? p->grid : "(null)");
  if (p->dim < 1) return fpk_error_set(err, FPK_EINVAL, "fpk_pfode_sample: dim = 0");
  const double t_max = isnan(p->t_max) ? fpk_schedule_T(s) : p->t_max;
  const size_t N = p->steps;
  int rc = check_span("fpk_pfode_sample", s, t_max, p->t_min, N, err);
  if (rc) return rc;
  int kind = P_EULER;
  for (size_t i = 0; i < sizeof impls / sizeof *impls; i++)
    if (st == &impls[i].pub) kind = impls[i].kind;
  double *tg = malloc((N + 1) * sizeof *tg);
  if (!tg) return fpk_error_set(err, FPK_ENOMEM, "fpk_pfode_sample: out of memory for %zu steps", N);
  rc = fpk_time_grid(gt, s, t_max, p->t_min, N, p->rho, tg, err);
  if (rc) {
    free(tg);
    return rc;
  }
  const size_t dim = p->dim, nblk = (n + PFODE_BLOCK - 1) / PFODE_BLOCK;
  const coef cend = coef_at(s, p->t_min);
  int fail = 0; /* first failure: 1 callback, 2 memory, 3 non-finite */
  double fail_t = 0;
#pragma omp parallel
  {
    double *buf = malloc(7 * dim * PFODE_BLOCK * sizeof *buf);
#pragma omp for schedule(static)
    for (size_t bi = 0; bi < nblk; bi++) {
      const size_t i0 = bi * PFODE_BLOCK, np = n - i0 < PFODE_BLOCK ? n - i0 : PFODE_BLOCK;
      int f = 0;
      block B = {s, score, user, dim * np, np, {0}, 0};
      if (!buf) {
        f = 2;
      } else {
        double *xb = buf + 6 * dim * PFODE_BLOCK;
        for (int k = 0; k < 6; k++) B.w[k] = buf + (size_t)k * dim * PFODE_BLOCK;
        for (size_t c = 0; c < dim; c++) memcpy(xb + c * np, x + c * n + i0, np * sizeof *x);
        if (run_block(kind, &B, N, tg, xb)) f = 1;
        if (!f && p->denoise) {
          if (x0_at(&B, cend, xb, B.w[5])) f = 1;
          else memcpy(xb, B.w[5], dim * np * sizeof *xb);
        }
        for (size_t j = 0; !f && j < dim * np; j++)
          if (!isfinite(xb[j])) f = 3;
        if (!f)
          for (size_t c = 0; c < dim; c++) memcpy(x + c * n + i0, xb + c * np, np * sizeof *x);
      }
#pragma omp critical(fpk_pfode)
      {
        if (f && !fail) fail = f, fail_t = B.fail_t;
      }
    }
    free(buf);
  }
  free(tg);
  if (nfe) *nfe = N * (size_t)st->nfe_per_step + (p->denoise != 0); /* + the Tweedie step */
  if (fail == 1)
    return fpk_error_set(err, FPK_ECALLBACK, "fpk_pfode_sample (%s): the score callback failed at "
                         "t = %g, or left entries unwritten or non-finite (a score of another "
                         "dimension than dim = %zu?)", st->name, fail_t, dim);
  if (fail == 2) return fpk_error_set(err, FPK_ENOMEM, "fpk_pfode_sample: out of memory for a block");
  if (fail == 3)
    return fpk_error_set(err, FPK_ENUMERIC, "fpk_pfode_sample (%s): a point is not finite at t_min = %g "
                         "(steps = %zu)", st->name, p->t_min, N);
  return FPK_SUCCESS;
}
