/* 3D pieces below fpkit run (issue 17 part 4): the Monte Carlo start from a law on a 3D grid
 * (fpk_mc_params.init_cells: [init] type = expr or file in a 3D run), exact in law and bitwise
 * independent of the thread count; 1D and 2D starts keep their bits (the 3D draw takes the cell
 * from one 32-bit word so that the point gets the other three). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/sde.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && q[0] == '1';
}

/* The histogram at t = 0 has the cell probabilities (chi-square over the cells), the mean and
 * variance of every axis are those of the piecewise-constant law (uniform inside each cell: the
 * variance holds h_a^2/12, which a point put at the cell centre would miss), and 1 and 3
 * threads give the same bits. */
static void test_mc_cells_3d(void **state) {
  (void)state;
  fpk_error err = {0};
  /* coarse z cells (h_z = 1): the in-cell spread h_z^2/12 = 0.083 is 50 standard errors of the
   * variance at N = 2e5 */
  const size_t n3[3] = {10, 8, 4};
  const double lo[3] = {-3, -2, -2}, hi[3] = {3, 2, 2};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 3, n3, lo, hi, NULL, &err), 0);
  const double A[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, mu[3] = {0, 0, 0}, sg[3] = {0.5, 0.5, 0.5};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sg, &err);
  assert_non_null(m);
  double mass[320], total = 0.0;
  for (size_t i = 0; i < g.size; i++) {
    double x[3];
    fpk_grid_point(&g, i, x);
    mass[i] = (i % 11 == 4) ? 0.0
                            : exp(-x[0] * x[0] / 2 - x[1] * x[1] / 1.5 - x[2] * x[2] / 3) *
                                  (1.5 + 0.5 * sin(x[0]) + 0.2 * x[2]);
    total += mass[i];
  }
  const size_t N = quick() ? 40000 : 200000;
  const double t[2] = {0.0, 0.1};
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = N, .dt = 0.05, .seed = 11,
                     .nthreads = 1, .init_cells = mass};
  fpk_mc_result r1, r3;
  if (fpk_mc_run(m, NULL, &g, t, 2, &p, &r1, &err)) fail_msg("%s", err.msg);
  p.nthreads = 3;
  assert_int_equal(fpk_mc_run(m, NULL, &g, t, 2, &p, &r3, &err), FPK_SUCCESS);
  assert_memory_equal(r1.density, r3.density, 2 * g.size * sizeof(double));
  assert_memory_equal(r1.mean, r3.mean, 2 * 3 * sizeof(double));
  assert_memory_equal(r1.cov, r3.cov, 2 * 9 * sizeof(double));
  assert_true(r1.outside[0] == 0.0);
  double chi2 = 0.0;
  size_t dof = 0;
  for (size_t i = 0; i < g.size; i++) {
    const double count = r1.density[i] * (double)N * g.cell_volume, e = (double)N * mass[i] / total;
    if (mass[i] == 0.0) {
      assert_true(count == 0.0); /* a cell without mass never gets a path */
      continue;
    }
    chi2 += (count - e) * (count - e) / e;
    dof++;
  }
  dof--;
  /* chi-square of dof degrees: mean dof, sd sqrt(2 dof); 5 sd is a 1e-6 false alarm */
  print_message("3D start: chi-square %.1f for %zu degrees of freedom\n", chi2, dof);
  if (fabs(chi2 - (double)dof) > 5.0 * sqrt(2.0 * (double)dof))
    fail_msg("chi-square %.1f for %zu degrees of freedom", chi2, dof);
  for (size_t a = 0; a < 3; a++) {
    double ma = 0.0, va = 0.0, m4 = 0.0;
    for (size_t i = 0; i < g.size; i++) {
      double x[3];
      fpk_grid_point(&g, i, x);
      ma += mass[i] / total * x[a];
    }
    for (size_t i = 0; i < g.size; i++) {
      double x[3];
      fpk_grid_point(&g, i, x);
      const double c = x[a] - ma, h2 = g.h[a] * g.h[a];
      va += mass[i] / total * (c * c + h2 / 12.0);
      m4 += mass[i] / total * (c * c * c * c + c * c * h2 / 2.0 + h2 * h2 / 80.0);
    }
    const double se_m = sqrt(va / (double)N), se_v = sqrt((m4 - va * va) / (double)N);
    print_message("3D start, axis %zu: mean %.5f (law %.5f, SE %.1e), variance %.5f (law %.5f, "
                  "SE %.1e)\n",
                  a, r1.mean[a], ma, se_m, r1.cov[a * 3 + a], va, se_v);
    assert_close_abs(r1.mean[a], ma, 5.0 * se_m);
    assert_close_abs(r1.cov[a * 3 + a], va, 5.0 * se_v);
  }
  fpk_mc_result_free(&r1);
  fpk_mc_result_free(&r3);
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mc_cells_3d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
