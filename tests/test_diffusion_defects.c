/* Defects found by hostile testing of the diffusion module (issue 14); reproducers in
 * tests/defects/diffusion/.
 *  - fpk_posterior_gmm refused a legitimate observation far out in one component's tail: the
 *    posterior weight of the other component underflows to 0 and fpk_gmm_alloc requires
 *    positive weights ("weight 2 = 0 must be positive"). The posterior is then, to double
 *    precision, the surviving component: the mixture must be built and its log-density and
 *    score must be those of that component. */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posterior_gmm_underflowing_weight),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
