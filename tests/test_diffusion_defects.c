/* Defects found by hostile testing of the diffusion module (issue 14); reproducers in
 * tests/defects/diffusion/.
 *  - fpk_posterior_gmm refused a legitimate observation far out in one component's tail: the
 *    posterior weight of the other component underflows to 0 and fpk_gmm_alloc requires
 *    positive weights ("weight 2 = 0 must be positive"). The posterior is then, to double
 *    precision, the surviving component: the mixture must be built and its log-density and
 *    score must be those of that component.
 *  - the EDM time grid (Karras et al. 2022, eq. 5) summed σ^{1/ρ} = e^{−λ/ρ} directly: for a
 *    small ρ (1e-3) e^{−λ_T/ρ} overflowed and every run failed with "lambda = -nan" (no key
 *    named); for a huge ρ (1e300) σ^{1/ρ} rounded to 1 and the grid collapsed to 8 equal times
 *    and one jump, accepted silently. ρ = 7 must keep eq. 5's times; ρ → ∞ must tend to the
 *    logSNR-uniform grid (its limit); every grid strictly decreasing.
 *  - fpk_ddpm_elbo with N = 1 put its one latent at t_min, ignored t_max, and compared with a
 *    "continuous" bound of two independent Monte Carlo entropies at the same time: now refused,
 *    naming N. A t_min so small that SNR = a²/b² overflows returned nelbo = inf with success:
 *    now FPK_ENUMERIC naming t_min.
 *  - extreme schedules: ve with σ_min < 1e-150 (σ_min² underflows) or σ_max > 1e150 gave
 *    b² = NaN at every t > 0, and every sampler then failed with "noised covariance not positive
 *    definite (b^2 = -nan)"; ou with σ² or σ²/(2θ) outside the doubles did the same: refused by
 *    fpk_schedule_alloc naming the parameters and the bounds. A huge β (a_t underflows to 0)
 *    made fpk_schedule_t_of_lambda return t = NaN with success for λ = −∞. Near t = 0 the
 *    inverse lost digits: subvp (−2 log a near a = 1) 8e-4 and vp-cosine (acos near φ0, and
 *    φ(t) − φ0 in b²) 2e-3 relative at t = 1e-12; now the t ↔ λ round trip holds to 1e-11.
 *  - reverse-time samplers from a t_max where a_t vanishes or g² blows up (huge β, vp-cosine at
 *    T): reverse-em returned overflowing garbage (finite, ~1e80) with success, the exact
 *    ancestral chain "transition variance -nan <= 0 (the grid is too fine)": now refusals
 *    naming t_max, a_t and g² (the exact chain: the time where a_t underflowed); the exact chain
 *    from vp-cosine's T still runs. Every refusal names the function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"

static void test_posterior_gmm_underflowing_weight(void **state) {
  (void)state;
  fpk_error err = {0};
  const double w[2] = {0.4, 0.6}, mu[4] = {1, -1, -2, 0.5};
  const double C[8] = {1, 0.3, 0.3, 0.5, 0.4, -0.1, -0.1, 0.9};
  const double H[2] = {1, 0}, y[1] = {60}, sy = 0.1;
  double wp[2], mp[4], cp[8];
  assert_int_equal(fpk_posterior_params(2, 2, w, mu, C, 1, H, y, sy, wp, mp, cp, &err), 0);
  assert_true(wp[1] == 0 && wp[0] == 1); /* log-weights differ by ~3000: exp underflows */
  fpk_gmm *g = fpk_posterior_gmm(2, 2, w, mu, C, 1, H, y, sy, &err);
  assert_non_null(g);
  /* at a point, log p and the score of the posterior = those of component 1 alone */
  const double x[2] = {59.9, 18}; /* component-major, one point */
  double lp, sc[2];
  assert_int_equal(fpk_gmm_eval(g, NULL, 0, 1, x, &lp, sc, NULL, NULL, &err), 0);
  const double det = cp[0] * cp[3] - cp[1] * cp[2];
  const double r0 = x[0] - mp[0], r1 = x[1] - mp[1];
  const double i00 = cp[3] / det, i11 = cp[0] / det, i01 = -cp[1] / det;
  const double q = r0 * (i00 * r0 + i01 * r1) + r1 * (i01 * r0 + i11 * r1);
  const double lp1 = -0.5 * q - log(2 * M_PI) - 0.5 * log(det);
  assert_close_rel(lp, lp1, 1e-12);
  assert_close_rel(sc[0], -(i00 * r0 + i01 * r1), 1e-12);
  assert_close_rel(sc[1], -(i01 * r0 + i11 * r1), 1e-12);
  fpk_gmm_free(g);
}

static void test_edm_grid_extreme_rho(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  assert_non_null(s);
  enum { N = 10 };
  double t[N + 1], tl[N + 1];
  const double rhos[] = {1e-3, 0.5, 7, 1e6, 1e300};
  for (size_t r = 0; r < sizeof rhos / sizeof *rhos; r++) {
    assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), s, 1, 1e-3, N, rhos[r], t, &err), 0);
    for (size_t i = 0; i < N; i++) assert_true(t[i] > t[i + 1]);
  }
  /* ρ = 7: eq. 5 directly on σ = b/a */
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), s, 1, 1e-3, N, 7, t, &err), 0);
  const double l0 = fpk_schedule_lambda(s, 1), l1 = fpk_schedule_lambda(s, 1e-3);
  for (size_t i = 1; i < N; i++) {
    const double u = (double)i / N, smax = exp(-l0), smin = exp(-l1);
    const double sg = pow(pow(smax, 1 / 7.0) + u * (pow(smin, 1 / 7.0) - pow(smax, 1 / 7.0)), 7);
    double ti;
    assert_int_equal(fpk_schedule_t_of_lambda(s, -log(sg), &ti, &err), 0);
    assert_close_rel(t[i], ti, 1e-12);
  }
  /* ρ → ∞: the logSNR-uniform grid */
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), s, 1, 1e-3, N, 1e300, t, &err), 0);
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("logsnr-uniform"), s, 1, 1e-3, N, 7, tl, &err),
                   0);
  for (size_t i = 0; i <= N; i++) assert_close_rel(t[i], tl[i], 1e-12);
  fpk_schedule_free(s);
}

static void expect_msg(const fpk_error *err, const char *a, const char *b) {
  if (!strstr(err->msg, a) || (b && !strstr(err->msg, b)))
    fail_msg("message '%s' lacks '%s' / '%s'", err->msg, a, b ? b : "");
}

static const double W1[2] = {0.3, 0.7}, MU1[2] = {-2, 1.5}, S1[2] = {0.25, 0.5};
static const fpk_ddpm_mixture MIX1 = {1, 2, W1, MU1, S1};

static fpk_schedule *sched(const fpk_schedule_type *ty, double a, double b, fpk_error *err) {
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  if (ty == fpk_schedule_ve) p.sigma_min = a, p.sigma_max = b;
  else if (ty == fpk_schedule_ou) p.theta = a, p.sigma = b;
  else if (ty == fpk_schedule_vp_cosine) p.s = a;
  else p.beta_min = a, p.beta_max = b;
  return fpk_schedule_alloc(ty, &p, err);
}

static void test_elbo_one_latent_and_tiny_tmin(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_schedule *s = sched(fpk_schedule_vp_linear, 0.1, 20, &err);
  fpk_ddpm_elbo_result r;
  assert_int_equal(fpk_ddpm_elbo(&MIX1, s, 1, 0.01, 1, 1000, 1, &r, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_ddpm_elbo: N = 1", "N >= 2");
  assert_int_equal(fpk_ddpm_elbo(&MIX1, s, 0, 0.01, 1, 1000, 1, &r, &err), FPK_EINVAL);
  expect_msg(&err, "N = 0", NULL);
  /* N = 2: the two ends, finite */
  assert_int_equal(fpk_ddpm_elbo(&MIX1, s, 2, 0.01, 1, 1000, 1, &r, &err), 0);
  assert_true(isfinite(r.nelbo) && isfinite(r.cont_nelbo) && r.N == 2);
  /* t_min = 1e-310: b² subnormal, SNR = a²/b² = inf: refused, not inf with success */
  assert_int_equal(fpk_ddpm_elbo(&MIX1, s, 3, 1e-310, 1, 1000, 1, &r, &err), FPK_ENUMERIC);
  expect_msg(&err, "fpk_ddpm_elbo: the bound is not finite", "t_min = 1e-310");
  fpk_schedule_free(s);
}

/* Every schedule function at t in [0, T] is a number or ±inf, never NaN, for parameters at the
 * edges of what fpk_schedule_alloc accepts; beyond them it refuses, naming them. */
static void test_extreme_schedules(void **state) {
  (void)state;
  fpk_error err = {0};
  struct {
    const fpk_schedule_type *ty;
    double a, b;
    const char *m1, *m2; /* NULL: accepted */
  } cs[] = {
      {fpk_schedule_ve, 1e-200, 1, "fpk_schedule_alloc (ve): sigma_min = 1e-200", "1e-150"},
      {fpk_schedule_ve, 1e-3, 1e200, "sigma_max = 1e+200", "1e150"},
      {fpk_schedule_ve, 1e-150, 1e150, NULL, NULL},
      {fpk_schedule_ou, 1e-300, 1e300, "fpk_schedule_alloc (ou): theta = 1e-300, sigma = 1e+300",
       "rescale"},
      {fpk_schedule_ou, 1e300, 1, "sigma^2/(2 theta) = 5e-301", "[1e-300, 1e300]"},
      {fpk_schedule_ou, 1e200, 1e-40, NULL, NULL},
      {fpk_schedule_vp_linear, 0.1, 1e6, NULL, NULL},
      {fpk_schedule_vp_linear, 1e-300, 1e300, NULL, NULL},
      {fpk_schedule_subvp, 0.1, 1e6, NULL, NULL},
      {fpk_schedule_vp_cosine, 0.008, 0, NULL, NULL},
      {fpk_schedule_vp_cosine, 1e-300, 0, NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    fpk_schedule *s = sched(cs[i].ty, cs[i].a, cs[i].b, &err);
    if (cs[i].m1) {
      assert_null(s);
      expect_msg(&err, cs[i].m1, cs[i].m2);
      continue;
    }
    if (!s) fail_msg("%s %g %g refused: %s", cs[i].ty->name, cs[i].a, cs[i].b, err.msg);
    const double ts[] = {0, 1e-300, 1e-12, 1e-3, 0.5, 1 - 1e-12, 1};
    for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
      const double t = ts[k];
      const double v[5] = {fpk_schedule_mean_coef(s, t), fpk_schedule_var(s, t),
                           fpk_schedule_f(s, t), fpk_schedule_g2(s, t),
                           fpk_schedule_lambda(s, t)};
      for (int j = 0; j < 5; j++)
        if (isnan(v[j]))
          fail_msg("%s (%g, %g): function %d is NaN at t = %g", cs[i].ty->name, cs[i].a, cs[i].b,
                   j, t);
      assert_true(v[1] >= 0 && v[0] >= 0);
      /* the inverse of λ: a time, or a refusal naming λ; never NaN with success */
      double tl = -1;
      const int rc = fpk_schedule_t_of_lambda(s, v[4], &tl, &err);
      if (rc) expect_msg(&err, "fpk_schedule_t_of_lambda", "lambda = ");
      else assert_true(tl >= 0 && tl <= 1);
      if (!rc && isfinite(v[4]) && v[0] > 1e-8 && v[1] > 1e-290 && t > 0)
        assert_close_rel(tl, t, 1e-11);
    }
    fpk_schedule_free(s);
  }
  /* huge β: λ = −∞ where a_t underflowed: t is not determined */
  fpk_schedule *s = sched(fpk_schedule_vp_linear, 0.1, 1e6, &err);
  double t;
  assert_int_equal(fpk_schedule_t_of_lambda(s, -INFINITY, &t, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_schedule_t_of_lambda (vp-linear): lambda = -inf", "finite lambda");
  fpk_schedule_free(s);
}

/* Runs a reverse sampler from exact p_{t_max} samples; returns the status, and on success checks
 * that every output is finite. */
static int revsde_run(const fpk_revsde_type *ty, const fpk_schedule *s, double t_min, double t_max,
                      int exact, fpk_error *err) {
  enum { n = 300 };
  double x[n];
  fpk_gmm *g = fpk_gmm_alloc(1, 2, W1, MU1, S1, err);
  fpk_gmm_score_ctx ctx = {g, s};
  fpk_revsde_params p;
  fpk_revsde_params_init(&p);
  p.t_min = t_min, p.t_max = t_max, p.nsteps = 20, p.denoise = 1, p.exact = exact ? &MIX1 : NULL;
  int rc = fpk_ddpm_mixture_sample(&MIX1, s, t_max == 0 ? fpk_schedule_T(s) : t_max, n, 1, 0, x,
                                   err);
  if (!rc) rc = fpk_revsde_sample(ty, s, fpk_gmm_score_fn, &ctx, &p, 1, n, x, NULL, err);
  if (!rc)
    for (int i = 0; i < n; i++)
      if (!isfinite(x[i])) fail_msg("%s: success with x[%d] = %g", ty->name, i, x[i]);
  fpk_gmm_free(g);
  return rc;
}

static void test_revsde_vanishing_signal(void **state) {
  (void)state;
  fpk_error err = {0};
  /* huge β: a_T = 0 */
  fpk_schedule *s = sched(fpk_schedule_vp_linear, 0.1, 1e6, &err);
  for (size_t k = 0; fpk_revsde_types[k]; k++) {
    assert_int_equal(revsde_run(fpk_revsde_types[k], s, 1e-3, 0, 0, &err), FPK_EINVAL);
    expect_msg(&err, "fpk_revsde_sample", "t_max = 1: the signal a_t = 0");
  }
  assert_int_equal(revsde_run(fpk_revsde_ancestral, s, 1e-3, 0, 1, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_revsde_sample (ancestral, exact): the signal a_t = 0", "underflowed");
  /* a t_max where a_t = e^{−6.25}: every sampler runs, finite */
  for (size_t k = 0; fpk_revsde_types[k]; k++)
    assert_int_equal(revsde_run(fpk_revsde_types[k], s, 1e-4, 5e-3, 0, &err), 0);
  assert_int_equal(revsde_run(fpk_revsde_ancestral, s, 1e-4, 5e-3, 1, &err), 0);
  fpk_schedule_free(s);
  /* vp-cosine at T: g² = 5e16 refused for the score-driven samplers; the exact chain runs */
  s = sched(fpk_schedule_vp_cosine, 0.008, 0, &err);
  assert_int_equal(revsde_run(fpk_revsde_em, s, 1e-3, 0, 0, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_revsde_sample (reverse-em): t_max = 1", "g^2 = 5.");
  assert_int_equal(revsde_run(fpk_revsde_ancestral, s, 1e-3, 0, 1, &err), 0);
  fpk_schedule_free(s);
  /* t_min near 0 (b² = 1e-301 at 1e-300): the samplers run and stay finite */
  s = sched(fpk_schedule_vp_linear, 0.1, 20, &err);
  for (size_t k = 0; fpk_revsde_types[k]; k++)
    assert_int_equal(revsde_run(fpk_revsde_types[k], s, 1e-300, 0, 0, &err), 0);
  assert_int_equal(revsde_run(fpk_revsde_ancestral, s, 1e-300, 0, 1, &err), 0);
  /* the refusals of the probability-flow side name their function */
  fpk_pfode_params q;
  fpk_pfode_params_init(&q);
  q.steps = 4, q.t_min = 0;
  double x[4] = {0, 0, 0, 0};
  fpk_gmm *g = fpk_gmm_alloc(1, 2, W1, MU1, S1, &err);
  fpk_gmm_score_ctx ctx = {g, s};
  assert_int_equal(fpk_pfode_sample(&q, s, fpk_gmm_score_fn, &ctx, 4, x, NULL, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_pfode_sample: t_min = 0", "positive");
  double tg[5];
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), s, 1, 1e-3, 4, 0, tg, &err),
                   FPK_EINVAL);
  expect_msg(&err, "fpk_time_grid (edm): rho = 0", NULL);
  assert_int_equal(fpk_time_grid(fpk_time_grid_find("edm"), s, 2, 1e-3, 4, 7, tg, &err),
                   FPK_EINVAL);
  expect_msg(&err, "fpk_time_grid: t_max = 2", "(0, T = 1]");
  const double w0[1] = {1}, m0[1] = {0}, v0[1] = {-1};
  assert_int_equal(fpk_gmm1d_cdf(1, w0, m0, v0, NULL, 0, 1, x, tg, NULL, &err), FPK_EINVAL);
  expect_msg(&err, "fpk_gmm1d_cdf: variance 1 = -1", NULL);
  fpk_gmm_free(g);
  fpk_schedule_free(s);
}

/* fpk_reverse_model_alloc_from: reverse time from t_start (the spectral solver samples its
 * stabilising diffusion there, not at T where vp-cosine's beta is infinite). Its drift at τ is
 * the T-origin model's at τ + T − t_start; t_start outside (0, T] is refused. */
static void test_reverse_model_from(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_cosine, &sp, &err);
  const double w[1] = {1}, mu[1] = {0.5}, S[1] = {0.3};
  fpk_gmm *g = fpk_gmm_alloc(1, 1, w, mu, S, &err);
  assert_non_null(s);
  assert_non_null(g);
  fpk_gmm_score_ctx ctx = {g, s};
  fpk_reverse_model *a = fpk_reverse_model_alloc(s, 1, 1, fpk_gmm_score_fn, &ctx, &err);
  fpk_reverse_model *b = fpk_reverse_model_alloc_from(s, 0.9, 1, 1, fpk_gmm_score_fn, &ctx, &err);
  assert_non_null(a);
  assert_non_null(b);
  const double x[3] = {-1, 0.2, 2};
  double da[3], db[3];
  for (double tau = 0; tau <= 0.8; tau += 0.2) {
    assert_int_equal(fpk_model_drift(fpk_reverse_model_get(a), tau + 0.1, 3, x, da, &err), 0);
    assert_int_equal(fpk_model_drift(fpk_reverse_model_get(b), tau, 3, x, db, &err), 0);
    for (int i = 0; i < 3; i++) assert_close_rel(db[i], da[i], 1e-12);
  }
  assert_null(fpk_reverse_model_alloc_from(s, 1.5, 1, 1, fpk_gmm_score_fn, &ctx, &err));
  assert_non_null(strstr(err.msg, "t_start = 1.5"));
  assert_null(fpk_reverse_model_alloc_from(s, 0, 1, 1, fpk_gmm_score_fn, &ctx, &err));
  fpk_reverse_model_free(a), fpk_reverse_model_free(b);
  fpk_gmm_free(g);
  fpk_schedule_free(s);
}

/* A score callback of another dimension than the sampler's (a 1D mixture's score under dim = 2)
 * left half of the block unwritten and returned success: garbage from uninitialised memory,
 * different on every run (tests/defects/diffusion/pfode_dim_mismatch_uninitialised.c). The
 * samplers now fill the block with NaN and require it back finite: FPK_ECALLBACK, the points
 * untouched or finite, for the PF-ODE and the reverse SDE alike. */
static void test_score_of_another_dimension(void **state) {
  (void)state;
  fpk_error err = {0};
  const double w[2] = {0.3, 0.7}, mu[2] = {-2, 1.5}, C[2] = {0.16, 0.36};
  fpk_gmm *g = fpk_gmm_alloc(1, 2, w, mu, C, &err);
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  assert_non_null(g);
  assert_non_null(s);
  fpk_gmm_score_ctx ctx = {g, s};
  double y[4] = {0.1, -0.2, 0.3, 1};
  fpk_pfode_params p;
  fpk_pfode_params_init(&p);
  p.steps = 10, p.dim = 2;
  assert_int_equal(fpk_pfode_sample(&p, s, fpk_gmm_score_fn, &ctx, 2, y, NULL, &err),
                   FPK_ECALLBACK);
  assert_non_null(strstr(err.msg, "another dimension"));
  fpk_revsde_params q;
  fpk_revsde_params_init(&q);
  q.nsteps = 10;
  double z[4] = {0.1, -0.2, 0.3, 1};
  assert_int_not_equal(fpk_revsde_sample(fpk_revsde_em, s, fpk_gmm_score_fn, &ctx, &q, 2,
                                         2, z, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "another dimension"));
  fpk_schedule_free(s);
  fpk_gmm_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posterior_gmm_underflowing_weight),
      cmocka_unit_test(test_edm_grid_extreme_rho),
      cmocka_unit_test(test_elbo_one_latent_and_tiny_tmin),
      cmocka_unit_test(test_extreme_schedules),
      cmocka_unit_test(test_revsde_vanishing_signal),
      cmocka_unit_test(test_reverse_model_from),
      cmocka_unit_test(test_score_of_another_dimension),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
