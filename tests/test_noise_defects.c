/* Regression tests of the defects found by hostile testing of issue 16 that only the library API
 * reaches (reproducers and the list: tests/defects/noise/README.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/km.h"
#include "fpkit/model.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0");
}

/* Defect 04: on a periodic axis the window origins are wrapped into the box for binning, but the
 * mean origin x_mean (where a bin's estimate is attributed and fpk_km_compare evaluates the truth)
 * summed the unwrapped offsets: paths that wander over many periods gave x_mean periods outside
 * the bin (11.26 for the bin [0, 0.1) of a unit box) and the truth of a periodic drift was
 * evaluated at the wrong point. Overdamped Langevin in a tilted cosine (β = 2, amplitude 0.5,
 * period 1, tilt 1) drifts through ~20 periods; every x_mean must lie in its bin, and the drift
 * b(x) = −πsin(2πx)·1 + 1 must be covered as for a confined process (asserted ≥ 0.85 with 10
 * bins, 95% intervals). */
static void test_km_periodic_x_mean(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_langevin_params lp = {.beta = 2.0, .amplitude = 0.5, .period = 1.0, .tilt = {1.0}};
  fpk_model *m = fpk_model_langevin_alloc("tilted-cosine", 1, &lp, &err);
  assert_non_null(m);
  const size_t n = 10;
  const double lo = 0.0, hi = 1.0;
  const fpk_bc bc = FPK_BC_PERIODIC;
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  fpk_km_params p = {.dt = 0.01, .lag = 1, .min_count = 100};
  fpk_km *km = fpk_km_alloc(&g, &p, &err);
  assert_non_null(km);
  fpk_gaussian init = fpk_test_gaussian(1, (double[]){0.5}, (double[]){0.04});
  fpk_km_sim sim = {.npaths = quick() ? 200 : 1000, .nsamples = 2000, .substeps = 4, .seed = 3,
                    .nthreads = 1};
  if (fpk_km_simulate(km, m, &init, &sim)) fail_msg("simulate: %s", fpk_km_error(km)->msg);
  fpk_km_result r = {0};
  if (fpk_km_compute(km, FPK_KM_CORRECTION_FIRST_ORDER, &r)) fail_msg("compute");
  assert_int_equal(fpk_km_compare(&r, m, &err), FPK_SUCCESS);
  for (size_t b = 0; b < n; b++) {
    const double a = lo + (double)b * g.h[0];
    printf("  bin [%.1f, %.1f): x_mean %.4f, d1 %.4f [%.4f, %.4f], true %.4f\n", a,
           a + g.h[0], r.x_mean[b], r.d1[b], r.d1_lo[b], r.d1_hi[b], r.d1_true[b]);
    assert_true(r.x_mean[b] >= a && r.x_mean[b] <= a + g.h[0]);
  }
  printf("  periodic tilted cosine: drift coverage %.3f (%zu/%zu)\n", r.d1_coverage,
         r.d1_covered, r.valid);
  assert_true(r.d1_coverage >= 0.85);
  fpk_km_result_free(&r);
  fpk_km_free(km);
  fpk_model_free(m);
}

/* Defect 05: finite samples whose increments overflow the sums of their powers (a⁸ for K4's
 * interval is infinite beyond |a| ≈ 1e38) gave infinite estimates with FPK_SUCCESS; `fpkit km`
 * then stopped in the HDF5 writer ("a solver produced a value its checks did not catch; please
 * report it"). fpk_km_compute must fail with FPK_ENUMERIC and name the cause. */
static void test_km_overflow_named(void **state) {
  (void)state;
  fpk_error err = {0};
  const size_t n = 4;
  const double lo = -2.0, hi = 2.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  fpk_km_params p = {.dt = 0.01, .lag = 1, .min_count = 2};
  fpk_km *km = fpk_km_alloc(&g, &p, &err);
  assert_non_null(km);
  enum { NP = 20, LEN = 41 };
  double *x = malloc(NP * LEN * sizeof *x);
  assert_non_null(x);
  for (size_t q = 0; q < NP; q++)
    for (size_t j = 0; j < LEN; j++)  /* origins (even samples) in the grid, odd ones far away */
      x[q * LEN + j] = (j % 2 ? 1e40 : 0.0) + 0.1 * (double)(q % 7) - 0.3;
  assert_int_equal(fpk_km_add_paths(km, NP, LEN, x, 1), FPK_SUCCESS);
  fpk_km_result r = {0};
  assert_int_equal(fpk_km_compute(km, FPK_KM_CORRECTION_FIRST_ORDER, &r), FPK_ENUMERIC);
  printf("  %s\n", fpk_km_error(km)->msg);
  assert_non_null(strstr(fpk_km_error(km)->msg, "overflow"));
  fpk_km_result_free(&r);
  fpk_km_free(km);
  free(x);
}

/* Defect 07: the asymmetry message of fpk_diffusion_factor printed both entries with %g, so a
 * D that is asymmetric by 1e-7 read "D[0][1] = 0.16 but D[1][0] = 0.16". */
static void test_diffusion_asymmetry_digits(void **state) {
  (void)state;
  fpk_error err = {0};
  double B[4];
  assert_int_equal(fpk_diffusion_factor(2, (double[]){0.365, 0.16, 0.1600001, 0.26}, B, &err),
                   FPK_EINVAL);
  printf("  %s\n", err.msg);
  assert_non_null(strstr(err.msg, "D[0][1] = 0.16 but D[1][0] = 0.1600001"));
  assert_int_equal(fpk_diffusion_factor(2, (double[]){1.0, 0.2, 0.3, 1.0}, B, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "D[0][1] = 0.2 but D[1][0] = 0.3"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_km_periodic_x_mean),
      cmocka_unit_test(test_km_overflow_named),
      cmocka_unit_test(test_diffusion_asymmetry_digits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
