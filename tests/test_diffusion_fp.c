/* Exactness checks on the grid (fpkit/diffusion.h "Exactness checks on the grid",
 * docs/diffusion.md):
 *  - the reverse-time Fokker–Planck equation (η = 1) with the exact mixture score, solved by the
 *    finite-volume solver from the exact p_T, reproduces the forward marginals p_t at several t,
 *    with the FV's order 2 in h; by the Fourier spectral solver on a periodic box, to ~1e-12 L1;
 *  - the continuity equation of the probability-flow ODE (η = 0, zero noise: the FV flux is then
 *    first-order upwinding, order 1; the spectral solver keeps spectral accuracy);
 *  - the Girsanov bound KL(p_0 ‖ p_model) ≤ KL(p_T ‖ π) + ½∫g²E|s − ∇log p_t|² dt for the score
 *    of another mixture, the true KL from the FV solution of the reverse SDE with that score;
 *  - bad input. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/compare.h"
#include "fpkit/diffusion.h"
#include "fpkit/fv.h"
#include "fpkit/spectral.h"

static int quick(void) { return getenv("FPK_TEST_QUICK") != NULL; }

/* Data: a 1D two-mode mixture with unequal weights and widths. */
static const double W[2] = {0.3, 0.7}, MU[2] = {-1.5, 1.2}, VAR[2] = {0.25, 0.36};

static fpk_schedule *make_schedule(const fpk_schedule_type *type, double T) {
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  p.T = T;
  fpk_error err = {0};
  fpk_schedule *s = fpk_schedule_alloc(type, &p, &err);
  if (!s) fail_msg("schedule %s: %s", type->name, err.msg);
  return s;
}

static fpk_gmm *make_gmm(const double *w, const double *mu, const double *var) {
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, 2, w, mu, var, &err);
  if (!m) fail_msg("gmm: %s", err.msg);
  return m;
}

/* p_t at the cell centres of g. */
static void density_at_centres(const fpk_gmm *m, const fpk_schedule *s, double t,
                               const fpk_grid *g, double *p) {
  double *x = malloc(g->size * sizeof(double));
  for (size_t i = 0; i < g->size; i++) x[i] = fpk_grid_center(g, 0, i);
  assert_int_equal(fpk_gmm_eval(m, s, t, g->size, x, p, NULL, NULL, NULL, NULL), 0);
  for (size_t i = 0; i < g->size; i++) p[i] = exp(p[i]);
  free(x);
}

/* Exact cell averages of p_t (components N(aμ_k, a²σ_k² + b²)), by differences of the normal
 * CDF: what fpk_spectral_set_density expects. */
static void cell_averages(const fpk_schedule *s, double t, const fpk_grid *g, double *p) {
  const double a = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
  for (size_t i = 0; i < g->size; i++) {
    const double xl = g->lo[0] + (double)i * g->h[0], xr = xl + g->h[0];
    double v = 0;
    for (int k = 0; k < 2; k++) {
      const double m = a * MU[k], sd = sqrt(a * a * VAR[k] + b2) * M_SQRT2;
      v += W[k] * 0.5 * (erf((xr - m) / sd) - erf((xl - m) / sd));
    }
    p[i] = v / g->h[0];
  }
}

static double l1(const fpk_grid *g, const double *p, const double *q) {
  double e = 0;
  for (size_t i = 0; i < g->size; i++) e += fabs(p[i] - q[i]);
  return e * g->h[0];
}

#define NT 3
static const double TS[NT] = {0.5, 0.25, 0.0}; /* forward times, reached in this order */

/* The reverse-time family (η) with the exact score from the exact p_T by the FV solver on n cells
 * of [−8, 8]; L1 to p_t (cell centres) at the times TS. */
static void fv_reverse(const fpk_schedule *s, double eta, size_t n, double dt, double *err_t) {
  fpk_gmm *m = make_gmm(W, MU, VAR);
  fpk_gmm_score_ctx sc = {m, s};
  fpk_error err = {0};
  fpk_reverse_model *r = fpk_reverse_model_alloc(s, 1, eta, fpk_gmm_score_fn, &sc, &err);
  if (!r) fail_msg("reverse model: %s", err.msg);
  size_t nn[1] = {n};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  double *p = malloc(n * sizeof(double)), *q = malloc(n * sizeof(double));
  const double T = fpk_schedule_T(s);
  density_at_centres(m, s, T, &g, p);
  fpk_fv *fv = fpk_fv_alloc(&g, fpk_reverse_model_get(r), fpk_fv_tr_bdf2, dt, &err);
  if (!fv) fail_msg("fv: %s", err.msg);
  assert_int_equal(fpk_fv_set_density(fv, 0, p), 0);
  for (int k = 0; k < NT; k++) {
    if (fpk_fv_evolve(fv, T - TS[k])) fail_msg("evolve: %s", fpk_fv_errmsg(fv));
    density_at_centres(m, s, TS[k], &g, q);
    err_t[k] = l1(&g, fpk_fv_density(fv), q);
  }
  fpk_fv_free(fv);
  fpk_reverse_model_free(r);
  fpk_gmm_free(m);
  free(p), free(q);
}

static void test_reverse_fp_fv(void **state) {
  (void)state;
  /* vp-linear (β 0.1 … 20, T = 1): the canonical schedule; p_T ≈ N(0, 1). TR-BDF2 with dt 2e-4
   * keeps the time error below the space error on 400 cells. */
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear, 1);
  double e1[NT], e2[NT];
  fv_reverse(s, 1, 200, 2e-4, e1);
  fv_reverse(s, 1, 400, 2e-4, e2);
  for (int k = 0; k < NT; k++) {
    const double order = log2(e1[k] / e2[k]);
    print_message("reverse SDE FP (FV, vp-linear) at t = %.2f: L1 %.2e (200 cells), %.2e (400), "
                  "order %.2f\n", TS[k], e1[k], e2[k], order);
    assert_true(e2[k] < 1e-3);
    assert_true(order > 1.8 && order < 2.3);
  }
  fpk_schedule_free(s);
}

static void test_pf_ode_continuity_fv(void **state) {
  (void)state;
  /* η = 0: zero noise, so the FV's Scharfetter–Gummel flux is first-order upwinding (fv.h,
   * fv_operator.c: the D = 0 branch): order 1, and the solver accepts it. */
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear, 1);
  double e1[NT], e2[NT];
  fv_reverse(s, 0, 400, 2e-4, e1);
  fv_reverse(s, 0, 800, 2e-4, e2);
  for (int k = 0; k < NT; k++) {
    const double order = log2(e1[k] / e2[k]);
    print_message("PF-ODE continuity (FV upwind, vp-linear) at t = %.2f: L1 %.2e (400 cells), "
                  "%.2e (800), order %.2f\n", TS[k], e1[k], e2[k], order);
    assert_true(e2[k] < 5e-2);
    assert_true(order > 0.8 && order < 1.3);
  }
  fpk_schedule_free(s);
}

/* The same with the ETDRK4 Fourier solver on the periodic box [−L, L] (the density is below
 * 1e-20 at its ends, so the box is periodic to rounding), from the exact cell averages of p_T;
 * compared point values at the cell centres. */
static void spectral_reverse(const fpk_schedule *s, double eta, size_t n, double dt,
                             double *err_t) {
  fpk_gmm *m = make_gmm(W, MU, VAR);
  fpk_gmm_score_ctx sc = {m, s};
  fpk_error err = {0};
  fpk_reverse_model *r = fpk_reverse_model_alloc(s, 1, eta, fpk_gmm_score_fn, &sc, &err);
  if (!r) fail_msg("reverse model: %s", err.msg);
  size_t nn[1] = {n};
  double lo[1] = {-10}, hi[1] = {10};
  fpk_bc bc[1] = {FPK_BC_PERIODIC};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 1, nn, lo, hi, bc, &err), 0);
  double *p = malloc(n * sizeof(double)), *q = malloc(n * sizeof(double));
  const double T = fpk_schedule_T(s);
  cell_averages(s, T, &g, p);
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  fpk_spectral *sp = fpk_spectral_alloc(&g, fpk_reverse_model_get(r), fpk_spectral_etdrk4, dt,
                                        &o, &err);
  if (!sp) fail_msg("spectral: %s", err.msg);
  /* under-resolved grids give small negative values: report their error instead of failing */
  fpk_density_guard gd;
  fpk_density_guard_init(&gd);
  gd.negative_tol = 1;
  assert_int_equal(fpk_spectral_set_guard(sp, &gd), 0);
  assert_int_equal(fpk_spectral_set_density(sp, 0, p), 0);
  for (int k = 0; k < NT; k++) {
    if (fpk_spectral_evolve(sp, T - TS[k])) fail_msg("evolve: %s", fpk_spectral_errmsg(sp));
    density_at_centres(m, s, TS[k], &g, q);
    err_t[k] = l1(&g, fpk_spectral_values(sp), q);
  }
  fpk_spectral_free(sp);
  fpk_reverse_model_free(r);
  fpk_gmm_free(m);
  free(p), free(q);
}

static void test_reverse_fp_spectral(void **state) {
  (void)state;
  /* OU (θ = 1, σ = √2, T = 1): constant g, so the spectral solver's exactly-treated diffusion
   * D̄ is the whole diffusion. ETDRK4, dt 5e-4 (the explicit drift, up to ~7|x| at t = 0, is
   * the step limit). */
  const fpk_schedule_type *types[2] = {fpk_schedule_ou, fpk_schedule_vp_linear};
  for (int it = 0; it < 2; it++) {
  fpk_schedule *s = make_schedule(types[it], 1);
  const size_t ns[3] = {64, 128, 256};
  for (int eta = 1; eta >= 0; eta--) {
    double e[3][NT];
    for (int j = 0; j < 3; j++) spectral_reverse(s, eta, ns[j], 5e-4, e[j]);
    for (int k = 0; k < NT; k++) {
      print_message("%s (spectral, %s) at t = %.2f: L1 %.2e (64), %.2e (128), %.2e (256)\n",
                    eta ? "reverse SDE FP" : "PF-ODE continuity", types[it]->name, TS[k],
                    e[0][k], e[1][k], e[2][k]);
      assert_true(e[2][k] < 1e-8); /* the target */
    }
    /* at t = 0 (the narrowest density) 64 cells are under-resolved: spectral convergence */
    assert_true(e[1][NT - 1] < 1e-2 * e[0][NT - 1]);
  }
  fpk_schedule_free(s);
  }
}

/* ---- Girsanov ---------------------------------------------------------------------------- */

static void test_girsanov(void **state) {
  (void)state;
  /* OU (θ = 1, σ = √2) on [0, 1]: π = N(0, 1) is the stationary law, and p_T still differs
   * from it (a_T = e^{−1}), so both terms of the bound matter. The model's score is the exact
   * score of another mixture q (weights 0.4/0.6, means shifted by 0.2, widths 1.2×). */
  fpk_schedule *s = make_schedule(fpk_schedule_ou, 1);
  fpk_gmm *data = make_gmm(W, MU, VAR);
  const double Wq[2] = {0.4, 0.6}, MUq[2] = {-1.3, 1.4}, VARq[2] = {0.3, 0.43};
  fpk_gmm *qm = make_gmm(Wq, MUq, VARq);
  fpk_gmm_score_ctx exact = {data, s}, pert = {qm, s};
  const size_t n = quick() ? 400 : 800;
  size_t nn[1] = {n};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  fpk_error err = {0};
  fpk_girsanov_bound b, b2, b0;
  assert_int_equal(fpk_girsanov_bound_eval(data, s, 0, fpk_gmm_score_fn, &pert, &g, 32, 1, &b,
                                           &err), 0);
  assert_int_equal(fpk_girsanov_bound_eval(data, s, 0, fpk_gmm_score_fn, &pert, &g, 64, 1,
                                           &b2, &err), 0);
  assert_int_equal(fpk_girsanov_bound_eval(data, s, 0, fpk_gmm_score_fn, &exact, &g, 32, 1,
                                           &b0, &err), 0);
  /* Gauss–Legendre converged; the exact score has no score term */
  assert_close_rel(b.score_term, b2.score_term, 1e-8);
  assert_true(b0.score_term == 0);
  assert_close_rel(b0.kl_prior, b.kl_prior, 1e-15);

  /* The true KL: the reverse SDE (η = 1) with each score from π by FV (TR-BDF2) to t = 0. */
  double *pdata = malloc(n * sizeof(double)), *p0 = malloc(n * sizeof(double));
  density_at_centres(data, NULL, 0, &g, pdata);
  double kl[2];
  for (int which = 0; which < 2; which++) {
    fpk_reverse_model *r = fpk_reverse_model_alloc(s, 1, 1, fpk_gmm_score_fn,
                                                   which ? (void *)&pert : (void *)&exact, &err);
    for (size_t i = 0; i < n; i++) {
      const double x = fpk_grid_center(&g, 0, i);
      p0[i] = exp(-0.5 * x * x) / sqrt(2 * M_PI);
    }
    fpk_fv *fv = fpk_fv_alloc(&g, fpk_reverse_model_get(r), fpk_fv_tr_bdf2, 1e-3, &err);
    if (!fv) fail_msg("fv: %s", err.msg);
    assert_int_equal(fpk_fv_set_density(fv, 0, p0), 0);
    if (fpk_fv_evolve(fv, 1)) fail_msg("evolve: %s", fpk_fv_errmsg(fv));
    kl[which] = fpk_dist_kl(&g, pdata, fpk_fv_density(fv));
    fpk_fv_free(fv);
    fpk_reverse_model_free(r);
  }
  print_message("Girsanov (ou, T = 1): perturbed score: bound %.4e = KL(p_T||pi) %.4e + score "
                "term %.4e >= true KL %.4e (FV, %zu cells)\n", b.bound, b.kl_prior, b.score_term,
                kl[1], n);
  print_message("  exact score: bound = KL(p_T||pi) = %.4e >= true KL %.4e\n", b0.bound, kl[0]);
  assert_true(kl[1] > 0 && kl[0] >= 0);
  assert_true(b.bound >= kl[1]);
  assert_true(b0.bound >= kl[0]);
  /* not vacuous: the perturbed model is measurably worse than the exact one, and the bound is
   * within a factor 10 of the truth here */
  assert_true(kl[1] > 2 * kl[0]);
  assert_true(b.bound < 10 * kl[1]);
  free(pdata), free(p0);
  fpk_gmm_free(qm);
  fpk_gmm_free(data);
  fpk_schedule_free(s);
}

/* ---- the 1D probability-flow map ----------------------------------------------------------- */

typedef struct { fpk_gmm *m; fpk_schedule *s; } ode_ctx;
static int pf_rhs(double t, const double *y, double *dy, void *params) {
  const ode_ctx *c = params;
  double sc;
  if (fpk_gmm_eval(c->m, c->s, t, 1, y, NULL, &sc, NULL, NULL, NULL)) return GSL_EBADFUNC;
  dy[0] = fpk_schedule_f(c->s, t) * y[0] - 0.5 * fpk_schedule_g2(c->s, t) * sc;
  return GSL_SUCCESS;
}

static void test_pf_map_1d(void **state) {
  (void)state;
  /* F_{t1}⁻¹ ∘ F_{t0} against the PF-ODE dx/dt = f x − ½g²∇log p_t integrated by GSL's rk8pd
   * (tolerances 1e-13) from t0 = T = 1 under vp-linear: the map is the ODE's flow. */
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear, 1);
  fpk_gmm *m = make_gmm(W, MU, VAR);
  ode_ctx c = {m, s};
  gsl_odeiv2_system sys = {pf_rhs, NULL, 1, &c};
  const double xs[7] = {-5, -3, -1, 0, 0.5, 2, 6}; /* 6: 1 − F_T ≈ 1e-9, the upper tail */
  const double t1s[3] = {0.5, 0.1, 0};
  fpk_error err = {0};
  double worst = 0;
  for (int j = 0; j < 3; j++) {
    double map[7], back[7];
    assert_int_equal(fpk_gmm1d_pf_map(2, W, MU, VAR, s, 1, t1s[j], 7, xs, map, &err), 0);
    assert_int_equal(fpk_gmm1d_pf_map(2, W, MU, VAR, s, t1s[j], 1, 7, map, back, &err), 0);
    for (int i = 0; i < 7; i++) {
      gsl_odeiv2_driver *d = gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rk8pd, -1e-3,
                                                           1e-13, 1e-13);
      double t = 1, y[1] = {xs[i]};
      assert_int_equal(gsl_odeiv2_driver_apply(d, &t, t1s[j], y), GSL_SUCCESS);
      gsl_odeiv2_driver_free(d);
      worst = fmax(worst, fabs(y[0] - map[i]) / fmax(1, fabs(map[i])));
      assert_close_abs(back[i], xs[i], 1e-12 * fmax(1, fabs(xs[i])));
    }
  }
  print_message("1D PF map F_t1^-1 o F_T vs the PF-ODE (rk8pd, tol 1e-13), t1 = 0.5, 0.1, 0: "
                "worst %.1e\n", worst);
  assert_true(worst < 1e-9);
  /* F + (1 − F) = 1, F′ = p (4th-order differences), and the far tails keep relative accuracy */
  double F[7], S[7], lp[7];
  assert_int_equal(fpk_gmm1d_cdf(2, W, MU, VAR, s, 0.3, 7, xs, F, S, &err), 0);
  assert_int_equal(fpk_gmm_eval(m, s, 0.3, 7, xs, lp, NULL, NULL, NULL, NULL), 0);
  double wd = 0;
  for (int i = 0; i < 7; i++) {
    assert_close_abs(F[i] + S[i], 1, 2e-16);
    const double h = 1e-3, xp[4] = {xs[i] - 2 * h, xs[i] - h, xs[i] + h, xs[i] + 2 * h};
    double Fp[4], Sp[4];
    assert_int_equal(fpk_gmm1d_cdf(2, W, MU, VAR, s, 0.3, 4, xp, Fp, Sp, &err), 0);
    /* differences of the smaller of F and 1 − F: no cancellation in the tails */
    const double *G = F[i] <= S[i] ? Fp : Sp, sg = F[i] <= S[i] ? 1 : -1;
    const double dF = sg * (G[0] - 8 * G[1] + 8 * G[2] - G[3]) / (12 * h);
    wd = fmax(wd, fabs(dF - exp(lp[i])) / exp(lp[i]));
  }
  print_message("dF/dx vs p_t (4th-order differences, h = 1e-3): worst relative %.1e\n", wd);
  assert_true(wd < 1e-9);
  /* a point 30 sd out: sf ~ 1e-200, the map still inverts it */
  const double far = 30;
  double fm;
  if (fpk_gmm1d_pf_map(2, W, MU, VAR, s, 1, 0, 1, &far, &fm, &err)) fail_msg("%s", err.msg);
  double back;
  assert_int_equal(fpk_gmm1d_pf_map(2, W, MU, VAR, s, 0, 1, 1, &fm, &back, &err), 0);
  assert_close_rel(back, far, 1e-12);
  assert_int_equal(fpk_gmm1d_pf_map(2, W, MU, VAR, s, 1, 0, 1, (const double[]){1e3}, &fm, &err),
                   FPK_ENUMERIC);
  fpk_gmm_free(m);
  fpk_schedule_free(s);
}

static void test_bad_input(void **state) {
  (void)state;
  fpk_schedule *s = make_schedule(fpk_schedule_ou, 1);
  fpk_gmm *m = make_gmm(W, MU, VAR);
  fpk_gmm_score_ctx sc = {m, s};
  fpk_error err = {0};
  assert_null(fpk_reverse_model_alloc(s, 1, -1, fpk_gmm_score_fn, &sc, &err));
  assert_non_null(strstr(err.msg, "eta = -1"));
  assert_null(fpk_reverse_model_alloc(s, 0, 1, fpk_gmm_score_fn, &sc, &err));
  assert_null(fpk_reverse_model_alloc(s, 1, 1, NULL, &sc, &err));
  size_t nn[1] = {50};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  fpk_girsanov_bound b;
  assert_int_equal(fpk_girsanov_bound_eval(m, s, 1, fpk_gmm_score_fn, &sc, &g, 8, 1, &b, &err),
                   FPK_EINVAL);
  assert_non_null(strstr(err.msg, "t_min = 1"));
  assert_int_equal(fpk_girsanov_bound_eval(m, s, 0, fpk_gmm_score_fn, &sc, &g, 0, 1, &b, &err),
                   FPK_EINVAL);
  assert_int_equal(fpk_girsanov_bound_eval(m, s, 0, fpk_gmm_score_fn, &sc, &g, 8, 0, &b, &err),
                   FPK_EINVAL);
  assert_non_null(strstr(err.msg, "prior_var = 0"));
  fpk_gmm_free(m);
  fpk_schedule_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_reverse_fp_fv),
      cmocka_unit_test(test_pf_ode_continuity_fv),
      cmocka_unit_test(test_reverse_fp_spectral),
      cmocka_unit_test(test_girsanov),
      cmocka_unit_test(test_pf_map_1d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
