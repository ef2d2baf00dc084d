/* Output guards (fpkit/guard.h) and the checked step count (fpk_time_steps, fpkit/grid.h): every
 * check fires on the value it exists for, stays silent on a correct density, and says what, where
 * and when in its message. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/guard.h"

/* A normalised Gaussian bump on [-5, 5] with n cells. */
static fpk_grid bump(size_t n, double *p) {
  const double lo = -5.0, hi = 5.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += p[i] = exp(-0.5 * pow(fpk_grid_center(&g, 0, i), 2));
  for (size_t i = 0; i < n; i++) p[i] /= s * g.cell_volume;
  return g;
}

#define assert_msg_has(err, text)                                                           \
  do {                                                                                      \
    if (!strstr((err).msg, (text))) fail_msg("message lacks \"%s\": %s", (text), (err).msg); \
  } while (0)

static void test_density_ok(void **state) {
  (void)state;
  double p[100];
  fpk_grid g = bump(100, p);
  fpk_error err = {0};
  fpk_density_guard spec;
  fpk_density_guard_init(&spec);
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0.5, &err), FPK_SUCCESS);
  assert_int_equal(fpk_guard_density(&g, p, NULL, "m", 0.5, &err), FPK_SUCCESS);
  /* rounding-size negatives and mass errors pass */
  p[0] = -1e-9 * p[50];
  p[1] *= 1.0 + 1e-9;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0.5, &err), FPK_SUCCESS);
}

static void test_density_failures(void **state) {
  (void)state;
  double p[100];
  fpk_grid g = bump(100, p);
  fpk_density_guard spec;
  fpk_density_guard_init(&spec);
  fpk_error err = {0};

  p[37] = NAN;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "fv tr-bdf2", 0.25, &err), FPK_ENUMERIC);
  assert_msg_has(err, "fv tr-bdf2 at t = 0.25: density = nan at cell 37 (x = -1.25)");
  assert_msg_has(err, "not finite");
  bump(100, p);
  p[10] = INFINITY;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 1, &err), FPK_ENUMERIC);

  /* negative beyond -negative_tol · max p: named with the cell and the bound */
  bump(100, p);
  const double pmax = p[49], old80 = p[80];
  p[80] = -1e-5 * pmax;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "spectral etdrk4", 2, &err), FPK_ENUMERIC);
  assert_msg_has(err, "spectral etdrk4 at t = 2: density = ");
  assert_msg_has(err, "at cell 80");
  assert_msg_has(err, "negative beyond rounding");
  spec.negative_tol = 1e-4; /* a looser guard lets it through */
  p[81] += old80 - p[80];   /* (keep the mass) */
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 2, &err), FPK_SUCCESS);

  /* mass: a factor (1 + 2e-6) is caught at the default 1e-6, a factor 2 a fortiori */
  fpk_density_guard_init(&spec);
  bump(100, p);
  for (size_t i = 0; i < 100; i++) p[i] *= 1.0 + 2e-6;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0, &err), FPK_ENUMERIC);
  assert_msg_has(err, "mass = 1.000002");
  assert_msg_has(err, "expected 1 within 1e-06");
  for (size_t i = 0; i < 100; i++) p[i] *= -1.0;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0, &err), FPK_ENUMERIC);

  /* unknown mass (absorbing walls): only [0, mass_max] */
  bump(100, p);
  spec.mass = NAN;
  spec.mass_max = 1.0;
  for (size_t i = 0; i < 100; i++) p[i] *= 0.5;
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0, &err), FPK_SUCCESS);
  spec.mass_max = 0.4; /* survival cannot grow */
  assert_int_equal(fpk_guard_density(&g, p, &spec, "m", 0, &err), FPK_ENUMERIC);
  assert_msg_has(err, "survival cannot grow");
}

static void test_finite_and_cause(void **state) {
  (void)state;
  fpk_error err = {0};
  double v[4] = {1, 2, NAN, 4};
  assert_int_equal(fpk_guard_finite(v, 2, "exact", "covariance", 1.5, &err), FPK_SUCCESS);
  assert_int_equal(fpk_guard_finite(v, 4, "exact", "covariance", 1.5, &err), FPK_ENUMERIC);
  assert_msg_has(err, "exact at t = 1.5: covariance[2] = nan: not finite");
  assert_int_equal(fpk_guard_cause(&err, "dt = %g too large", 0.5), FPK_ENUMERIC);
  assert_msg_has(err, "not finite; likely cause: dt = 0.5 too large");
  /* no time */
  assert_int_equal(fpk_guard_fail(&err, "ot dense", NAN, "KL = %g < 0", -1.0), FPK_ENUMERIC);
  assert_string_equal(err.msg, "ot dense: KL = -1 < 0");
  /* a long cause is cut, never overflows */
  char big[3000];
  memset(big, 'c', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(fpk_guard_cause(&err, "%s", big), FPK_ENUMERIC);
  assert_true(strlen(err.msg) < sizeof err.msg);
}

/* fpk_time_steps: counts computed in floating point, refused beyond FPK_MAX_STEPS (a count of
 * 2.5e19 once became 0 steps through a size_t cast), never 0 steps over a non-empty interval. */
static void test_time_steps(void **state) {
  (void)state;
  fpk_error err = {0};
  size_t n;
  double h;
  assert_int_equal(fpk_time_steps(0.0, 1.0, 0.1, &n, &h, &err), FPK_SUCCESS);
  assert_int_equal(n, 10);
  assert_close_rel(h, 0.1, 1e-15);
  assert_int_equal(fpk_time_steps(0.0, 1.0, 0.3, &n, &h, &err), FPK_SUCCESS);
  assert_int_equal(n, 4);
  assert_int_equal(fpk_time_steps(0.0, 1e-300, 1.0, &n, &h, &err), FPK_SUCCESS);
  assert_int_equal(n, 1); /* a step longer than the interval: one step */
  assert_int_equal(fpk_time_steps(2.0, 2.0, 0.1, &n, &h, &err), FPK_SUCCESS);
  assert_int_equal(n, 0); /* empty interval */
  /* the limit passes (the 1e-9 relative slack takes the count a little below it), beyond it
   * the call fails with the numbers */
  assert_int_equal(fpk_time_steps(0.0, 1.0, 1.0 / FPK_MAX_STEPS, &n, &h, &err), FPK_SUCCESS);
  assert_true((double)n <= FPK_MAX_STEPS && (double)n >= FPK_MAX_STEPS * (1.0 - 2e-9));
  assert_int_equal(fpk_time_steps(0.0, 1.0, 0.9 / FPK_MAX_STEPS, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, 0.25, 1e-20, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(n, 0);
  assert_msg_has(err, "dt = 1e-20 splits [0, 0.25] into 2.5e+19 steps");
  assert_msg_has(err, "limit of 1e+12");
  assert_int_equal(fpk_time_steps(0.0, 1e300, 1.0, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, 1.0, DBL_MIN, &n, &h, &err), FPK_EINVAL); /* inf count */
  /* a step below the resolution of t: t + h == t */
  assert_int_equal(fpk_time_steps(1e10, 1e10 + 1e-4, 1e-7, &n, &h, &err), FPK_EINVAL);
  assert_msg_has(err, "resolution");
  /* bad input */
  assert_int_equal(fpk_time_steps(1.0, 0.0, 0.1, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, 1.0, 0.0, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, 1.0, NAN, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, INFINITY, 0.1, &n, &h, &err), FPK_EINVAL);
  assert_int_equal(fpk_time_steps(0.0, 1.0, 0.1, &n, &h, NULL), FPK_SUCCESS); /* err optional */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_density_ok),
      cmocka_unit_test(test_density_failures),
      cmocka_unit_test(test_finite_and_cause),
      cmocka_unit_test(test_time_steps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
