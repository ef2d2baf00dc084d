/* Probability-flow ODE samplers (fpkit/diffusion.h, docs/diffusion.md "Probability-flow ODE
 * samplers") against the exact PF-ODE map of a 1D mixture.
 *
 * In 1D the PF-ODE flow preserves the CDF: the map from t_max to t_min is the monotone map
 * x ↦ F_{t_min}⁻¹(F_{t_max}(x)), F_t(x) = Σ_k w_k Φ((x − a_t μ_k)/√(a_t² s_k² + b_t²)) (the
 * noised mixture, closed form). Starting from 200 quantiles u_i of p_{t_max}, the exact endpoint
 * of point i is F_{t_min}⁻¹(u_i) (both inverses by bracketing + Brent, GSL). Each sampler runs on
 * a ladder of steps N = 8 … 4096; the fitted slope of log(mean |error|) against log(NFE)
 * (gsl_fit_linear, 95% interval = t-quantile × SE) is the order; the NFE to reach 1e-3 is
 * interpolated (log-log) on the ladder. Then: the samplers map the prior's quantiles onto
 * p_{t_min}'s (KS distance), the Tweedie option returns E[x0 | x_tmin], results are bitwise the
 * same on 1 and 2 threads, and bad input is refused. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_roots.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"

static const double W[2] = {0.3, 0.7}, MU[2] = {-2, 1.5}, SD[2] = {0.4, 0.6};
#define NPTS 200
#define NLAD 10 /* N = 8, 16, …, 4096 */
static const double T_MIN = 1e-3;

typedef struct fix {
  fpk_schedule *s;
  fpk_gmm *g;
  fpk_gmm_score_ctx ctx;
} fix;

static fix make_fix(void) {
  fix f;
  fpk_error err = {0};
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp); /* vp-linear: β_min 0.1, β_max 20, T = 1 */
  f.s = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  assert_non_null(f.s);
  const double cov[2] = {SD[0] * SD[0], SD[1] * SD[1]};
  f.g = fpk_gmm_alloc(1, 2, W, MU, cov, &err);
  assert_non_null(f.g);
  f.ctx.gmm = f.g, f.ctx.schedule = f.s;
  return f;
}
static void free_fix(fix *f) {
  fpk_gmm_free(f->g);
  fpk_schedule_free(f->s);
}

/* ---- the exact map ---------------------------------------------------------------------- */

typedef struct cdf_par {
  double a, b2, u;
} cdf_par;

static double cdf(double x, const cdf_par *c) {
  double F = 0;
  for (int k = 0; k < 2; k++)
    F += W[k] * gsl_cdf_ugaussian_P((x - c->a * MU[k]) / sqrt(c->a * c->a * SD[k] * SD[k] + c->b2));
  return F;
}
static double cdf_root(double x, void *p) { return cdf(x, p) - ((cdf_par *)p)->u; }

/* F_t⁻¹(u): bracket, then Brent to 1e-14 absolute. */
static double cdf_inv(const fpk_schedule *s, double t, double u) {
  cdf_par c = {fpk_schedule_mean_coef(s, t), fpk_schedule_var(s, t), u};
  double lo = -1, hi = 1;
  while (cdf_root(lo, &c) > 0) lo *= 2;
  while (cdf_root(hi, &c) < 0) hi *= 2;
  gsl_function fn = {cdf_root, &c};
  gsl_root_fsolver *r = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
  gsl_root_fsolver_set(r, &fn, lo, hi);
  double x = 0;
  for (int it = 0; it < 300; it++) {
    gsl_root_fsolver_iterate(r);
    x = gsl_root_fsolver_root(r);
    lo = gsl_root_fsolver_x_lower(r), hi = gsl_root_fsolver_x_upper(r);
    if (gsl_root_test_interval(lo, hi, 1e-15, 0) == GSL_SUCCESS) break;
  }
  gsl_root_fsolver_free(r);
  return x;
}

/* ---- the ladder ------------------------------------------------------------------------- */

typedef struct sampler_case {
  const char *name, *grid;
  double order;
  size_t fit_from; /* first ladder index of the asymptotic range */
} sampler_case;

/* The grid per sampler: time-uniform for Euler in t (its native variable), EDM ρ = 7 for Heun
 * (Karras et al. 2022), logSNR-uniform for DDIM and the DPM-Solvers (Lu et al. 2022, sec. 3.3). */
/* Euler also on logSNR-uniform: the NFE comparison on a common grid. The fit uses N >= 32. */
static const sampler_case CASES[] = {
    {"euler", "time-uniform", 1, 2},          {"euler", "logsnr-uniform", 1, 2},
    {"ddim", "logsnr-uniform", 1, 2},         {"heun", "edm", 2, 2},
    {"dpm-solver-2", "logsnr-uniform", 2, 2}, {"dpm-solver-3", "logsnr-uniform", 3, 2},
    {"dpm-solver++2m", "logsnr-uniform", 2, 2},
};
#define NCASES (sizeof CASES / sizeof *CASES)

static double x_start[NPTS], x_exact[NPTS];

static void exact_points(const fpk_schedule *s, double t_max) {
  for (int i = 0; i < NPTS; i++) {
    const double u = (i + 0.5) / NPTS;
    x_start[i] = cdf_inv(s, t_max, u);
    x_exact[i] = cdf_inv(s, T_MIN, u);
  }
}

static double run_err_tmax(fix *f, const char *name, const char *grid, size_t N, double t_max,
                          size_t *nfe) {
  fpk_pfode_params p;
  fpk_pfode_params_init(&p);
  p.sampler = name, p.grid = grid, p.steps = N, p.t_min = T_MIN, p.t_max = t_max;
  double x[NPTS];
  memcpy(x, x_start, sizeof x);
  fpk_error err = {0};
  assert_int_equal(fpk_pfode_sample(&p, f->s, fpk_gmm_score_fn, &f->ctx, NPTS, x, nfe, &err),
                   FPK_SUCCESS);
  double e = 0;
  for (int i = 0; i < NPTS; i++) e += fabs(x[i] - x_exact[i]);
  return e / NPTS;
}
static double run_err(fix *f, const char *name, const char *grid, size_t N, size_t *nfe) {
  return run_err_tmax(f, name, grid, N, NAN, nfe);
}

/* The NFE at which the error ladder crosses tol, interpolated log-log between the rungs. */
static double nfe_to(const double *err, const double *lx, const double *ly, const double *nf,
                     double tol) {
  if (err[0] < tol) return nf[0];
  for (size_t l = 0; l + 1 < NLAD; l++)
    if (err[l] >= tol && err[l + 1] < tol) {
      const double s = (log(tol) - ly[l]) / (ly[l + 1] - ly[l]);
      return exp(lx[l] + s * (lx[l + 1] - lx[l]));
    }
  return NAN;
}

static void test_orders(void **state) {
  (void)state;
  fix f = make_fix();
  exact_points(f.s, 1);
  double nfe_tol[NCASES], nfe_tol4[NCASES];
  printf("  sampler         grid            order [95%% CI]          NFE to 1e-3, 1e-4  errors "
         "(N = 8..4096)\n");
  for (size_t c = 0; c < NCASES; c++) {
    const sampler_case *sc = &CASES[c];
    double lx[NLAD], ly[NLAD], err[NLAD], nf[NLAD];
    for (size_t l = 0; l < NLAD; l++) {
      size_t nfe = 0;
      err[l] = run_err(&f, sc->name, sc->grid, (size_t)8 << l, &nfe);
      nf[l] = (double)nfe;
      lx[l] = log(nf[l]), ly[l] = log(err[l]);
    }
    const size_t k = sc->fit_from, m = NLAD - k;
    double c0, c1, v00, v01, v11, ss;
    gsl_fit_linear(lx + k, 1, ly + k, 1, m, &c0, &c1, &v00, &v01, &v11, &ss);
    const double order = -c1, half = gsl_cdf_tdist_Qinv(0.025, (double)(m - 2)) * sqrt(v11);
    /* NFE to a mean endpoint error of 1e-3 (and 1e-4): log-log interpolation between rungs */
    const double need = nfe_to(err, lx, ly, nf, 1e-3);
    nfe_tol[c] = need;
    nfe_tol4[c] = nfe_to(err, lx, ly, nf, 1e-4);
    printf("  %-15s %-15s %.3f [%.3f, %.3f]   %8.1f %8.1f ", sc->name, sc->grid, order,
           order - half, order + half, need, nfe_tol4[c]);
    for (size_t l = 0; l < NLAD; l++) printf(" %.2e", err[l]);
    printf("\n");
    assert_in_range_d(order, sc->order - 0.25, sc->order + 0.25);
    assert_true(half < 0.15);
    assert_true(isfinite(need));
  }
  /* NFE to 1e-3 (CASES order: 0 euler/time, 1 euler/logsnr, 4 dpm-2, 5 dpm-3). On the common
   * logSNR grid DPM-Solver-2 and -3 need at least 4× fewer than Euler; against Euler on its best
   * grid (time-uniform: this mixture is smooth, the ODE not stiff in t) DPM-Solver-3 still needs
   * 4× fewer, DPM-Solver-2 only about 2× fewer (measured 2.1×: asserted > 1.8×). The ratio of a
   * second- to a first-order method grows as tol^(−1/2): at 1e-4 DPM-Solver-2 needs ≥ 4× fewer
   * than Euler on its best grid too (measured 6.5×). */
  printf("  NFE ratios to 1e-3: euler(logsnr)/dpm2 %.1f, euler(logsnr)/dpm3 %.1f, "
         "euler(time)/dpm2 %.2f, euler(time)/dpm3 %.1f; to 1e-4: euler(time)/dpm2 %.2f, "
         "euler(time)/dpm3 %.1f\n", nfe_tol[1] / nfe_tol[4], nfe_tol[1] / nfe_tol[5],
         nfe_tol[0] / nfe_tol[4], nfe_tol[0] / nfe_tol[5], nfe_tol4[0] / nfe_tol4[4],
         nfe_tol4[0] / nfe_tol4[5]);
  assert_true(4 * nfe_tol[4] <= nfe_tol[1]);
  assert_true(4 * nfe_tol[5] <= nfe_tol[1]);
  assert_true(4 * nfe_tol[5] <= nfe_tol[0]);
  assert_true(1.8 * nfe_tol[4] <= nfe_tol[0]);
  assert_true(4 * nfe_tol4[4] <= nfe_tol4[0]);
  assert_true(4 * nfe_tol4[5] <= nfe_tol4[0]);
  free_fix(&f);
}

/* The other schedules (vp-cosine from T − 1e-3, sub-VP, VE σ 0.01…50, OU θ = 1, σ = √2 over
 * T = 5): every sampler on every grid at N = 256 and 512 against the exact map; the error
 * must be below 0.1 and fall by at least 0.7 × 2^order per doubling (1.4 for first order). */
static void test_other_schedules(void **state) {
  (void)state;
  const fpk_schedule_type *ty[4] = {fpk_schedule_vp_cosine, fpk_schedule_subvp,
                                    fpk_schedule_ve, fpk_schedule_ou};
  const char *gs[3] = {"time-uniform", "logsnr-uniform", "edm"};
  for (int k = 0; k < 4; k++) {
    fix f = make_fix();
    fpk_schedule_free(f.s);
    fpk_schedule_params sp;
    fpk_schedule_params_init(&sp);
    if (ty[k] == fpk_schedule_ou) sp.T = 5;
    fpk_error err = {0};
    f.s = fpk_schedule_alloc(ty[k], &sp, &err);
    f.ctx.schedule = f.s;
    const double t_max = ty[k] == fpk_schedule_vp_cosine ? sp.T - 1e-3 : sp.T;
    exact_points(f.s, t_max);
    for (const fpk_pfode_type *const *t = fpk_pfode_types; *t; t++)
      for (int g = 0; g < 3; g++) {
        size_t nfe;
        const double e1 = run_err_tmax(&f, (*t)->name, gs[g], 256, t_max, &nfe),
                     e2 = run_err_tmax(&f, (*t)->name, gs[g], 512, t_max, &nfe);
        /* time-uniform grids put the last step across Δλ ≈ ½ log(1 + Δt/t_min) (b² ∝ t near
         * 0): with t_min = 1e-3 and Δt = T/N that is not small at N = 512 (OU, T = 5: Δλ ≈ 1.2),
         * so there only convergence (×1.4 per doubling) is asked of the higher orders */
        const double drop = (*t)->order == 1 || g == 0 ? 1.4 : 0.7 * pow(2, (*t)->order);
        if (getenv("PFODE_VERBOSE"))
          printf("%-10s %-15s %-15s %.3e %.3e\n", ty[k]->name, (*t)->name, gs[g], e1, e2);
        if (!(e1 < 0.1 && (e1 / e2 > drop || e2 < 1e-9)))
          fail_msg("%s %s %s: errors %.3g (N = 256), %.3g (N = 512)", ty[k]->name, (*t)->name,
                   gs[g], e1, e2);
      }
    free_fix(&f);
  }
}

/* 2D, component-major: one Gaussian with a diagonal covariance. The PF-ODE map is affine per
 * axis, x ↦ a' m + (s'/s)(x − a m) with s² = a²S + b² at each end. */
static void test_2d_gaussian(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  const double w[1] = {1}, m[2] = {1, -2}, S[4] = {0.25, 0, 0, 2};
  fpk_gmm *g = fpk_gmm_alloc(2, 1, w, m, S, &err);
  fpk_gmm_score_ctx ctx = {g, s};
  enum { M = 100 };
  double x[2 * M], y[2 * M];
  for (int i = 0; i < M; i++) x[i] = -3 + 0.06 * i, x[M + i] = 2 - 0.04 * i;
  const double a1 = fpk_schedule_mean_coef(s, 1), b1 = fpk_schedule_var(s, 1);
  const double a0 = fpk_schedule_mean_coef(s, T_MIN), b0 = fpk_schedule_var(s, T_MIN);
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < M; i++) {
      const double s1 = sqrt(a1 * a1 * S[3 * c] + b1), s0 = sqrt(a0 * a0 * S[3 * c] + b0);
      y[c * M + i] = a0 * m[c] + s0 / s1 * (x[c * M + i] - a1 * m[c]);
    }
  fpk_pfode_params p;
  fpk_pfode_params_init(&p);
  p.dim = 2, p.sampler = "dpm-solver-3", p.steps = 1000;
  assert_int_equal(fpk_pfode_sample(&p, s, fpk_gmm_score_fn, &ctx, M, x, NULL, &err), 0);
  for (int i = 0; i < 2 * M; i++) assert_close_abs(x[i], y[i], 1e-8);
  fpk_gmm_free(g);
  fpk_schedule_free(s);
}

/* ---- quantiles of the prior onto p_{t_min} ---------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int half_score(double t, size_t n, const double *x, double *out, void *user) {
  const int rc = fpk_gmm_score_fn(t, n, x, out, user);
  for (size_t i = 0; i < n; i++) out[i] *= 0.5;
  return rc;
}

static void test_prior_quantiles(void **state) {
  (void)state;
  fix f = make_fix();
  enum { M = 1000 };
  const fpk_schedule *s = f.s;
  cdf_par cT = {fpk_schedule_mean_coef(s, 1), fpk_schedule_var(s, 1), 0};
  cdf_par c0 = {fpk_schedule_mean_coef(s, T_MIN), fpk_schedule_var(s, T_MIN), 0};
  /* the prior N(0, 1) is not p_T: sup |F_T − Φ| bounds what the map can recover */
  double gap = 0;
  for (int i = 0; i <= 2000; i++) {
    const double x = -6 + 12.0 * i / 2000;
    gap = fmax(gap, fabs(cdf(x, &cT) - gsl_cdf_ugaussian_P(x)));
  }
  static const struct { const char *name, *grid; size_t N; } R[] = {
      {"euler", "time-uniform", 400},     {"heun", "edm", 64},
      {"ddim", "logsnr-uniform", 1024},   {"dpm-solver-2", "logsnr-uniform", 80},
      {"dpm-solver-3", "logsnr-uniform", 24}, {"dpm-solver++2m", "logsnr-uniform", 64}};
  double *x = malloc(M * sizeof *x);
  for (size_t r = 0; r < sizeof R / sizeof *R; r++) {
    for (int i = 0; i < M; i++) x[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
    fpk_pfode_params p;
    fpk_pfode_params_init(&p);
    p.sampler = R[r].name, p.grid = R[r].grid, p.steps = R[r].N, p.t_min = T_MIN;
    fpk_error err = {0};
    assert_int_equal(fpk_pfode_sample(&p, s, fpk_gmm_score_fn, &f.ctx, M, x, NULL, &err), 0);
    qsort(x, M, sizeof *x, cmp_d);
    double ks = 0;
    for (int i = 0; i < M; i++) {
      const double F = cdf(x[i], &c0);
      ks = fmax(ks, fmax(fabs(F - (double)i / M), fabs(F - (double)(i + 1) / M)));
    }
    printf("  %-15s N = %3zu: KS to p_tmin = %.4f (prior gap %.4f, 1/M = %.4f)\n", R[r].name,
           R[r].N, ks, gap, 1.0 / M);
    assert_true(ks <= gap + 1.0 / M + 1e-3);
  }
  /* a wrong factor in the score (½ ∇log p) is caught by the same check */
  for (int i = 0; i < M; i++) x[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
  fpk_pfode_params p;
  fpk_pfode_params_init(&p);
  p.steps = 80;
  fpk_error err = {0};
  assert_int_equal(fpk_pfode_sample(&p, s, half_score, &f.ctx, M, x, NULL, &err), 0);
  qsort(x, M, sizeof *x, cmp_d);
  double ks = 0;
  for (int i = 0; i < M; i++) ks = fmax(ks, fabs(cdf(x[i], &c0) - (i + 0.5) / M));
  printf("  dpm-solver-2 with half the score: KS = %.3f\n", ks);
  assert_true(ks > 0.05);
  free(x);
  free_fix(&f);
}

/* ---- the Tweedie step, threads, bad input ----------------------------------------------- */

static void test_denoise_and_threads(void **state) {
  (void)state;
  fix f = make_fix();
  enum { M = 777 }; /* 13 blocks, the last partial */
  double *x1 = malloc(M * sizeof *x1), *x2 = malloc(M * sizeof *x2), *d = malloc(M * sizeof *d);
  for (int i = 0; i < M; i++) x1[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
  for (const fpk_pfode_type *const *t = fpk_pfode_types; *t; t++) {
    fpk_pfode_params p;
    fpk_pfode_params_init(&p);
    p.sampler = (*t)->name, p.steps = 25, p.grid = "edm";
    fpk_error err = {0};
    for (int i = 0; i < M; i++) x1[i] = x2[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
    const int nth = omp_get_max_threads();
    omp_set_num_threads(1);
    size_t nfe = 0;
    assert_int_equal(fpk_pfode_sample(&p, f.s, fpk_gmm_score_fn, &f.ctx, M, x1, &nfe, &err), 0);
    assert_int_equal(nfe, 25 * (size_t)(*t)->nfe_per_step);
    omp_set_num_threads(2);
    assert_int_equal(fpk_pfode_sample(&p, f.s, fpk_gmm_score_fn, &f.ctx, M, x2, NULL, &err), 0);
    omp_set_num_threads(nth);
    assert_memory_equal(x1, x2, M * sizeof *x1);
    /* denoise: the same path, then E[x0 | x_tmin] by Tweedie (checked against fpk_gmm_eval) */
    for (int i = 0; i < M; i++) x2[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
    p.denoise = 1;
    assert_int_equal(fpk_pfode_sample(&p, f.s, fpk_gmm_score_fn, &f.ctx, M, x2, &nfe, &err), 0);
    assert_int_equal(nfe, 25 * (size_t)(*t)->nfe_per_step + 1);
    assert_int_equal(fpk_gmm_eval(f.g, f.s, T_MIN, M, x1, NULL, NULL, d, NULL, &err), 0);
    for (int i = 0; i < M; i++) assert_close_abs(x2[i], d[i], 1e-12 * (1 + fabs(d[i])));
  }
  /* "dpm-solver" with order 3 is dpm-solver-3 */
  for (int k = 0; k < 2; k++) {
    double *y = k ? x2 : x1;
    for (int i = 0; i < M; i++) y[i] = gsl_cdf_ugaussian_Pinv((i + 0.5) / M);
    fpk_pfode_params p;
    fpk_pfode_params_init(&p);
    p.sampler = k ? "dpm-solver" : "dpm-solver-3", p.order = 3, p.steps = 10;
    fpk_error err = {0};
    assert_int_equal(fpk_pfode_sample(&p, f.s, fpk_gmm_score_fn, &f.ctx, M, y, NULL, &err), 0);
  }
  assert_memory_equal(x1, x2, M * sizeof *x1);
  free(x1), free(x2), free(d);
  free_fix(&f);
}

static void test_registry_and_grids(void **state) {
  (void)state;
  fix f = make_fix();
  assert_ptr_equal(fpk_pfode_find("dpm-solver-1"), fpk_pfode_ddim);
  assert_ptr_equal(fpk_pfode_find("dpm-solver-3"), fpk_pfode_dpm_solver_3);
  assert_int_equal(fpk_pfode_dpm_solver_3->order, 3);
  assert_int_equal(fpk_pfode_dpm_solver_3->nfe_per_step, 3);
  assert_int_equal(fpk_pfode_dpm_solver_pp2m->nfe_per_step, 1);
  assert_null(fpk_pfode_find("dpm-solver-4"));
  fpk_error err = {0};
  double t[11];
  /* logsnr-uniform: λ equally spaced; edm: σ^{1/ρ} equally spaced; ends exact */
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("logsnr-uniform"), f.s, 1, 1e-3, 10, 7, t,
                                 &err), 0);
  assert_true(t[0] == 1 && t[10] == 1e-3);
  const double dl = fpk_schedule_lambda(f.s, t[1]) - fpk_schedule_lambda(f.s, t[0]);
  for (int i = 1; i < 10; i++)
    assert_close_rel(fpk_schedule_lambda(f.s, t[i + 1]) - fpk_schedule_lambda(f.s, t[i]), dl,
                     1e-9);
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), f.s, 1, 1e-3, 10, 7, t, &err), 0);
  double r[11];
  for (int i = 0; i <= 10; i++) r[i] = pow(exp(-fpk_schedule_lambda(f.s, t[i])), 1.0 / 7);
  for (int i = 1; i < 10; i++) assert_close_rel(r[i + 1] - r[i], r[1] - r[0], 1e-9);
  for (int i = 0; i < 10; i++) assert_true(t[i + 1] < t[i]);
  free_fix(&f);
}

static void expect_einval(fix *f, fpk_pfode_params p, const char *needle) {
  double x[3] = {0, 0.5, 1};
  fpk_error err = {0};
  assert_int_equal(fpk_pfode_sample(&p, f->s, fpk_gmm_score_fn, &f->ctx, 3, x, NULL, &err),
                   FPK_EINVAL);
  if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static int failing_score(double t, size_t n, const double *x, double *out, void *user) {
  (void)x, (void)out, (void)user, (void)n;
  return t < 0.5 ? -1 : 0;
}

static void test_bad_input(void **state) {
  (void)state;
  fix f = make_fix();
  fpk_pfode_params p0;
  fpk_pfode_params_init(&p0);
  p0.steps = 10;
  fpk_pfode_params p = p0;
  p.t_min = 0;
  expect_einval(&f, p, "t_min = 0");
  p = p0, p.t_min = 1;
  expect_einval(&f, p, "t_min = 1");
  p = p0, p.t_max = 2;
  expect_einval(&f, p, "t_max = 2");
  p = p0, p.steps = 0;
  expect_einval(&f, p, "steps = 0");
  p = p0, p.sampler = "rk45";
  expect_einval(&f, p, "'rk45'");
  p = p0, p.sampler = "heun", p.order = 3;
  expect_einval(&f, p, "has order 2, not order = 3");
  p = p0, p.sampler = "dpm-solver", p.order = 4;
  expect_einval(&f, p, "order = 4");
  p = p0, p.grid = "karras";
  expect_einval(&f, p, "'karras'");
  p = p0, p.grid = "edm", p.rho = 0;
  expect_einval(&f, p, "rho = 0");
  fpk_error err = {0};
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *cs = fpk_schedule_alloc(fpk_schedule_vp_cosine, &sp, &err);
  double x[3] = {0, 1, 2};
  assert_int_equal(fpk_pfode_sample(&p0, cs, fpk_gmm_score_fn, &f.ctx, 3, x, NULL, &err),
                   FPK_EINVAL);
  if (!strstr(err.msg, "vp-cosine")) fail_msg("%s", err.msg);
  fpk_schedule_free(cs);
  assert_int_equal(fpk_pfode_sample(&p0, f.s, failing_score, NULL, 2, x, NULL, &err),
                   FPK_ECALLBACK);
  assert_non_null(strstr(err.msg, "score callback"));
  free_fix(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_and_grids), cmocka_unit_test(test_orders),
      cmocka_unit_test(test_prior_quantiles),    cmocka_unit_test(test_denoise_and_threads),
      cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_other_schedules),
      cmocka_unit_test(test_2d_gaussian),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
