/* Tests of fpkit/fit.h: convergence orders with confidence intervals.
 *
 * Exact power laws give their exponent; the correction term removes the pre-asymptotic bias of
 * e = C h^p (1 + c h); intervals from Monte Carlo standard errors cover the true order at the
 * nominal rate over many synthetic noisy ladders (binomial check); the Birge inflation widens
 * intervals when the scatter exceeds the stated errors; bad points are refused by name. */
#include <stdint.h>
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/fit.h"

static const double H[6] = {0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625};

static void test_exact_power_law(void **state) {
  (void)state;
  double e[6];
  for (size_t i = 0; i < 6; i++) e[i] = 3.0 * pow(H[i], 1.5);
  fpk_order_fit f;
  fpk_error err = {0};
  assert_int_equal(fpk_fit_order(6, H, e, NULL, 0, 0.95, &f, &err), FPK_SUCCESS);
  assert_close_abs(f.order, 1.5, 1e-12);
  assert_close_abs(f.intercept, log(3.0), 1e-11);
  assert_true(f.ci_lo <= 1.5 && 1.5 <= f.ci_hi);
  assert_true(f.ci_hi - f.ci_lo < 1e-10);
  assert_int_equal(f.weighted, 0);
}

/* e = h (1 + 4 h): the plain fit is biased upward on this ladder (pre-asymptotic), the corrected
 * one recovers p = 1 up to the O(h²) remainder of log(1 + 4h) ≈ 4h − 8h². */
static void test_correction_term(void **state) {
  (void)state;
  double e[6];
  for (size_t i = 0; i < 6; i++) e[i] = H[i] * (1.0 + 4.0 * H[i]);
  fpk_order_fit plain, corr, corr2;
  fpk_error err = {0};
  assert_int_equal(fpk_fit_order(6, H, e, NULL, 0, 0.95, &plain, &err), FPK_SUCCESS);
  assert_int_equal(fpk_fit_order(6, H, e, NULL, 1, 0.95, &corr, &err), FPK_SUCCESS);
  assert_int_equal(fpk_fit_order(6, H, e, NULL, 2, 0.95, &corr2, &err), FPK_SUCCESS);
  assert_true(plain.order > 1.1);             /* measured 1.18: the bias the term removes */
  assert_true(!(plain.ci_lo <= 1.0 && 1.0 <= plain.ci_hi));
  assert_close_abs(corr.order, 1.0, 0.03);
  assert_in_range_d(corr.correction, 2.0, 4.5); /* 4, less the −8h² of log(1 + 4h) it absorbs */
  assert_close_abs(corr2.order, 1.0, 3e-3);
  assert_true(corr2.ci_lo <= 1.0 && 1.0 <= corr2.ci_hi);
}

/* Standard normal from a 64-bit LCG (Box–Muller): independent of the library's streams. */
static double normal(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  const double u1 = ((double)(*s >> 11) + 0.5) * 0x1p-53;
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  const double u2 = ((double)(*s >> 11) + 0.5) * 0x1p-53;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Points e_i = h_i^p (1 + s_i Z_i) with known relative standard errors s_i: the 95% interval
 * must cover p in 95% of 2000 ladders (binomial standard error 0.49%: accept 93.5%..96.5%; a
 * Birge inflation applied whenever χ²/dof > 1 would over-cover at about 97.4%), and be about the
 * width the delta method predicts. */
static void test_coverage(void **state) {
  (void)state;
  const size_t R = 2000;
  const double p = 0.5;
  uint64_t seed = 12345;
  size_t covered = 0;
  double mean_hw = 0.0;
  for (size_t r = 0; r < R; r++) {
    double e[6], se[6];
    for (size_t i = 0; i < 6; i++) {
      const double rel = 0.01 * (1.0 + (double)i); /* finer levels noisier, as in practice */
      e[i] = pow(H[i], p) * (1.0 + rel * normal(&seed));
      se[i] = rel * pow(H[i], p);
    }
    fpk_order_fit f;
    fpk_error err = {0};
    assert_int_equal(fpk_fit_order(6, H, e, se, 0, 0.95, &f, &err), FPK_SUCCESS);
    covered += f.ci_lo <= p && p <= f.ci_hi;
    mean_hw += 0.5 * (f.ci_hi - f.ci_lo) / (double)R;
  }
  const double c = (double)covered / (double)R;
  assert_in_range_d(c, 0.935, 0.965);
  /* WLS prediction: 1.96 / sqrt(Σ w (x − x̄_w)²) with w = 1/rel², x = log h */
  double sw = 0, swx = 0, swxx = 0;
  for (size_t i = 0; i < 6; i++) {
    const double w = 1.0 / pow(0.01 * (1.0 + (double)i), 2), x = log(H[i]);
    sw += w, swx += w * x, swxx += w * x * x;
  }
  const double hw = 1.96 / sqrt(swxx - swx * swx / sw);
  assert_in_range_d(mean_hw, hw, 1.5 * hw); /* Birge inflation only widens */
}

/* Scatter ten times the stated errors: the Birge ratio is about 10 and the interval widens. */
static void test_birge_inflation(void **state) {
  (void)state;
  double e[6], se[6];
  const double wiggle[6] = {1, -1, 1, -1, 1, -1};
  for (size_t i = 0; i < 6; i++) {
    e[i] = H[i] * (1.0 + 0.01 * wiggle[i]);
    se[i] = 0.001 * e[i];
  }
  fpk_order_fit f;
  fpk_error err = {0};
  assert_int_equal(fpk_fit_order(6, H, e, se, 0, 0.95, &f, &err), FPK_SUCCESS);
  assert_true(f.birge > 5.0);
  assert_true(f.ci_lo <= 1.0 && 1.0 <= f.ci_hi);
}

static void test_bad_points(void **state) {
  (void)state;
  double e[6], se[6];
  for (size_t i = 0; i < 6; i++) e[i] = H[i], se[i] = 0.1 * H[i];
  fpk_order_fit f;
  fpk_error err = {0};
  e[3] = -1e-4; /* a weak error that changed sign: no logarithm */
  assert_int_equal(fpk_fit_order(6, H, e, se, 0, 0.95, &f, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "point 3"));
  e[3] = H[3];
  se[2] = 0.0;
  assert_int_equal(fpk_fit_order(6, H, e, se, 0, 0.95, &f, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "standard error"));
  assert_int_equal(fpk_fit_order(2, H, e, NULL, 0, 0.95, &f, &err), FPK_EINVAL);
  assert_int_equal(fpk_fit_order(3, H, e, NULL, 2, 0.95, &f, &err), FPK_EINVAL);
  assert_int_equal(fpk_fit_order(6, H, e, NULL, 0, 1.5, &f, &err), FPK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_power_law), cmocka_unit_test(test_correction_term),
      cmocka_unit_test(test_coverage),        cmocka_unit_test(test_birge_inflation),
      cmocka_unit_test(test_bad_points),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
