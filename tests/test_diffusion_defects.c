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
 *    logSNR-uniform grid (its limit); every grid strictly decreasing. */
#include <math.h>
#include <stdlib.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posterior_gmm_underflowing_weight),
      cmocka_unit_test(test_edm_grid_extreme_rho),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
