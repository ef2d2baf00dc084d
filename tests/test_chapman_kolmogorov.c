/* The Chapman–Kolmogorov equation on the grid (issue 16, part 4): the FV solver's transition
 * matrix P(Δt) (column j = the cell masses at Δt from a unit mass in cell j) composes,
 * P(Δt) P(Δt) = P(2Δt), to round-off (the discrete propagator is a power of one step matrix),
 * and both approach the exact OU transition kernel, cell-averaged, at second order. 1D OU
 * dX = −θX dt + σ dW on [−4, 4] (reflecting), TR-BDF2. docs/fv-scheme.md quotes the numbers.
 * FPK_TEST_QUICK=1 drops the finest grid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0");
}

/* ‖M‖₁ = max_j Σ_i |M_ij|: the largest L1 change of a probability vector (column-major n × n);
 * with g: only the columns of start cells with |x| <= 2, whose exact kernel leaves the box
 * [−4, 4] with a mass below 1e-6 (the reflecting walls change the others by more than the
 * discretisation does). */
static double norm1(size_t n, const double *M, const fpk_grid *g) {
  double worst = 0.0;
  for (size_t j = 0; j < n; j++) {
    if (g && fabs(fpk_grid_center(g, 0, j)) > 2.0) continue;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs(M[j * n + i]);
    worst = fmax(worst, s);
  }
  return worst;
}

/* Exact transition over time t from cell j, cell-averaged: the OU law started from the uniform
 * density on cell j is approximated by the one started from N(x_j, h²/12) (same mean and
 * variance; the higher cumulants of the start enter the law at O(h⁴)). Column-major, masses. */
static void exact_kernel(const fpk_grid *g, const fpk_model *m, double t, double *K) {
  const size_t n = g->size;
  fpk_error err = {0};
  for (size_t j = 0; j < n; j++) {
    const double x = fpk_grid_center(g, 0, j), v = g->h[0] * g->h[0] / 12.0;
    const fpk_gaussian init = fpk_test_gaussian(1, &x, &v);
    fpk_gaussian law;
    if (fpk_exact_linear_law(m->linear, &init, t, &law, &err)) fail_msg("law: %s", err.msg);
    if (fpk_gaussian_cell_probs(&law, g, K + j * n, &err)) fail_msg("probs: %s", err.msg);
  }
}

static void test_chapman_kolmogorov(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1.0, mu = 0.0, sigma = 1.0, dT = 0.25;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sigma, &err);
  assert_non_null(m);
  const size_t ns[3] = {50, 100, 200};
  const size_t nl = quick() ? 2 : 3;
  double h[3], e1[3], e2[3];
  for (size_t k = 0; k < nl; k++) {
    const size_t n = ns[k];
    const double lo = -4.0, hi = 4.0;
    const fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
    double *P1 = malloc(n * n * sizeof *P1), *P2 = malloc(n * n * sizeof *P2);
    double *PP = calloc(n * n, sizeof *PP), *K1 = malloc(n * n * sizeof *K1);
    double *K2 = malloc(n * n * sizeof *K2), *p0 = calloc(n, sizeof *p0);
    assert_true(P1 && P2 && PP && K1 && K2 && p0);
    const double dt = dT / (double)(n / 5); /* dt ∝ h: 10, 20, 40 steps per Δt */
    fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, dt, &err);
    if (!s) fail_msg("alloc: %s", err.msg);
    for (size_t j = 0; j < n; j++) {
      memset(p0, 0, n * sizeof *p0);
      p0[j] = 1.0 / g.cell_volume; /* unit mass in cell j */
      assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
      if (fpk_fv_evolve(s, dT)) fail_msg("evolve: %s", fpk_fv_errmsg(s));
      for (size_t i = 0; i < n; i++) P1[j * n + i] = fpk_fv_density(s)[i] * g.cell_volume;
      if (fpk_fv_evolve(s, 2.0 * dT)) fail_msg("evolve: %s", fpk_fv_errmsg(s));
      for (size_t i = 0; i < n; i++) P2[j * n + i] = fpk_fv_density(s)[i] * g.cell_volume;
    }
    fpk_fv_free(s);
    /* PP = P1 P1, and the composition defect PP − P2 */
    for (size_t j = 0; j < n; j++)
      for (size_t l = 0; l < n; l++) {
        const double b = P1[j * n + l];
        for (size_t i = 0; i < n; i++) PP[j * n + i] += P1[l * n + i] * b;
      }
    double colsum = 0.0;
    for (size_t j = 0; j < n; j++) {
      double c = 0.0;
      for (size_t i = 0; i < n; i++) c += P1[j * n + i];
      colsum = fmax(colsum, fabs(c - 1.0));
    }
    for (size_t q = 0; q < n * n; q++) PP[q] -= P2[q];
    const double ck = norm1(n, PP, NULL);
    exact_kernel(&g, m, dT, K1);
    exact_kernel(&g, m, 2.0 * dT, K2);
    for (size_t q = 0; q < n * n; q++) K1[q] -= P1[q], K2[q] -= P2[q];
    h[k] = g.h[0];
    e1[k] = norm1(n, K1, &g);
    e2[k] = norm1(n, K2, &g);
    printf("  n = %3zu, %zu steps of %.4f per Δt = %.2f: ‖P(Δt)² − P(2Δt)‖₁ = %.2e, column "
           "sums − 1 ≤ %.1e, ‖P(Δt) − exact‖₁ = %.3e, ‖P(2Δt) − exact‖₁ = %.3e\n",
           n, n / 5, dt, dT, ck, colsum, e1[k], e2[k]);
    assert_true(ck < 1e-13);
    assert_true(colsum < 1e-13);
    free(P1), free(P2), free(PP), free(K1), free(K2), free(p0);
  }
  const double o1 = fpk_test_fit_order(nl, h, e1), o2 = fpk_test_fit_order(nl, h, e2);
  printf("  fitted order of the transition matrix vs the exact kernel: %.3f (Δt), %.3f (2Δt)\n",
         o1, o2);
  assert_in_range_d(o1, 1.75, 2.25);
  assert_in_range_d(o2, 1.75, 2.25);
  assert_true(e1[nl - 1] < (quick() ? 4e-2 : 1e-2));
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_chapman_kolmogorov)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
