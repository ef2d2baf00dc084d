/* Tests for src/core/compare.c: grid distances (L1, L2, Linf, KL) and density moments. */
#include "fpk_test.h"

#include <stdlib.h>
#include <string.h>

#include "fpkit/compare.h"
#include "fpkit/exact.h"

/* 1D, h = 0.5: p - q = (-0.5, 0, 2, -0.5). L1 = 3 h = 1.5, L2 = √(4.5 h) = 1.5, Linf = 2,
 * KL = h [log(1/1.5) + 3 log 3 + 4 log(4/4.5)]. */
static void test_distances_1d_by_hand(void **state) {
  (void)state;
  size_t n = 4;
  double lo = 0.0, hi = 2.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double p[] = {1, 2, 3, 4}, q[] = {1.5, 2, 1, 4.5};
  assert_close_rel(fpk_dist_l1(&g, p, q), 1.5, 1e-15);
  assert_close_rel(fpk_dist_l2(&g, p, q), 1.5, 1e-15);
  assert_close_rel(fpk_dist_linf(&g, p, q), 2.0, 1e-15);
  double kl = 0.5 * (log(1 / 1.5) + 3 * log(3.0) + 4 * log(4 / 4.5));
  assert_close_rel(fpk_dist_kl(&g, p, q), kl, 1e-15);
  /* Symmetric norms, asymmetric KL. */
  assert_close_rel(fpk_dist_l1(&g, q, p), 1.5, 1e-15);
  double klr = 0.5 * (1.5 * log(1.5) + 1 * log(1 / 3.0) + 4.5 * log(4.5 / 4));
  assert_close_rel(fpk_dist_kl(&g, q, p), klr, 1e-14); /* sum with cancellation */
  assert_close_abs(fpk_dist_l1(&g, p, p), 0.0, 0.0);
  assert_close_abs(fpk_dist_kl(&g, p, p), 0.0, 0.0);
}

/* 2D, h = (0.5, 0.25), cell volume 1/8: checks the h^d factor and the square root of L2. */
static void test_distances_2d_by_hand(void **state) {
  (void)state;
  size_t n[] = {3, 3};
  double lo[] = {0, 0}, hi[] = {1.5, 0.75};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  double p[9], q[9];
  for (size_t i = 0; i < 9; i++) {
    p[i] = 1.0;
    q[i] = 1.0;
  }
  q[4] = 4.0;  /* diff -3 */
  q[8] = 0.5;  /* diff 0.5 */
  assert_close_rel(fpk_dist_l1(&g, p, q), 3.5 / 8, 1e-15);
  assert_close_rel(fpk_dist_l2(&g, p, q), sqrt(9.25 / 8), 1e-15);
  assert_close_rel(fpk_dist_linf(&g, p, q), 3.0, 1e-15);
  assert_close_rel(fpk_dist_kl(&g, p, q), (log(0.25) + log(2.0)) / 8, 1e-15);
}

/* KL(p‖q) = +Inf where q = 0 (or q < 0) and p > 0; p <= 0 contributes nothing (clipped). */
static void test_kl_support(void **state) {
  (void)state;
  size_t n = 4;
  double lo = 0.0, hi = 4.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double p[] = {0.5, 0.5, 0.0, 0.0}, q[] = {0.25, 0.25, 0.25, 0.25};
  const double q0[] = {0.5, 0.0, 0.25, 0.25}, qneg[] = {0.5, -1e-3, 0.25, 0.25};
  double kl0 = fpk_dist_kl(&g, p, q0), kln = fpk_dist_kl(&g, p, qneg);
  assert_true(isinf(kl0) && kl0 > 0);
  assert_true(isinf(kln) && kln > 0);
  assert_close_rel(fpk_dist_kl(&g, p, q), log(2.0), 1e-15);
  /* q = 0 where p = 0 is fine; so is a negative p there. */
  const double q2[] = {0.5, 0.5, 0.0, 0.0}, pneg[] = {0.5, 0.5, -0.1, -1e-12};
  assert_close_abs(fpk_dist_kl(&g, p, q2), 0.0, 0.0);
  assert_close_abs(fpk_dist_kl(&g, pneg, q2), 0.0, 0.0);
  assert_close_rel(fpk_dist_kl(&g, pneg, q), log(2.0), 1e-15);
  /* a NaN or an infinity in either field, even in a cell skipped for p = 0 or after a cell with
   * q = 0: NaN, never 0 (a failed field would read as perfect agreement) nor +inf */
  const double pnan[] = {0.5, 0.5, NAN, 0.0}, qnan[] = {0.25, 0.25, 0.25, NAN};
  const double pinf[] = {0.5, INFINITY, 0.0, 0.0};
  assert_true(isnan(fpk_dist_kl(&g, pnan, q)));
  assert_true(isnan(fpk_dist_kl(&g, p, qnan)));
  assert_true(isnan(fpk_dist_kl(&g, pinf, q)));
  assert_true(isnan(fpk_dist_kl(&g, p, (const double[]){0.5, 0.0, NAN, 0.25})));
}

static void test_linf_nan(void **state) {
  (void)state;
  size_t n = 3;
  double lo = 0.0, hi = 1.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double p[] = {1, NAN, 0}, q[] = {0, 0, 5};
  assert_true(isnan(fpk_dist_linf(&g, p, q)));
  assert_true(isnan(fpk_dist_l1(&g, p, q)));
}

/* Moments. Point values of a Gaussian on a wide grid: mean and covariance are reproduced to
 * round-off (Poisson summation: the error is of order e^{-2π²σ²/h²}). Cell probabilities are the
 * Gaussian convolved with the cell box, so their covariance is Σ + diag(h²/12) exactly
 * (Sheppard's correction): an O(h²) difference with the known constant. */
static void test_moments_gaussian(void **state) {
  (void)state;
  const double m[] = {0.37, -0.61}, S[] = {0.8, 0.3, 0.3, 0.5};
  fpk_gaussian g = fpk_test_gaussian(2, m, S);
  fpk_error err = {0};
  double hs[3], es[3], worst_pt = 0.0, worst_shep = 0.0;
  for (size_t r = 0; r < 3; r++) {
    size_t n[] = {(size_t)40 << r, (size_t)36 << r};
    double lo[] = {-7, -7}, hi[] = {8, 6};
    fpk_grid G = fpk_test_grid(2, n, lo, hi);
    double *p = malloc(G.size * sizeof *p), *q = malloc(G.size * sizeof *q);
    assert_int_equal(fpk_gaussian_density_grid(&g, &G, p, &err), FPK_SUCCESS);
    assert_int_equal(fpk_gaussian_cell_probs(&g, &G, q, &err), FPK_SUCCESS);
    double mp[2], cp[4], mq[2], cq[4];
    fpk_density_moments(&G, p, mp, cp);
    fpk_density_moments(&G, q, mq, cq);
    es[r] = 0.0;
    for (size_t a = 0; a < 2; a++) {
      assert_close_abs(mp[a], m[a], 1e-12);
      assert_close_abs(mq[a], m[a], 1e-12);
      worst_pt = fmax(worst_pt, fabs(mp[a] - m[a]));
      for (size_t b = 0; b < 2; b++) {
        assert_close_abs(cp[a * 2 + b], S[a * 2 + b], 1e-12);
        worst_pt = fmax(worst_pt, fabs(cp[a * 2 + b] - S[a * 2 + b]));
        double shep = S[a * 2 + b] + (a == b ? G.h[a] * G.h[a] / 12.0 : 0.0);
        assert_close_abs(cq[a * 2 + b], shep, 1e-12);
        worst_shep = fmax(worst_shep, fabs(cq[a * 2 + b] - shep));
        es[r] = fmax(es[r], fabs(cq[a * 2 + b] - S[a * 2 + b]));
      }
    }
    assert_true(cp[1] == cp[2]);
    hs[r] = G.h[0];
    free(p);
    free(q);
  }
  double order = fpk_test_fit_order(3, hs, es);
  print_message("moments: point-value error %.2e; cell-average minus Sheppard %.2e; "
                "|cov - Σ| %.3e %.3e %.3e, order %.3f\n", worst_pt, worst_shep, es[0], es[1],
                es[2], order);
  assert_in_range_d(order, 1.99, 2.01);
}

/* Moments are normalised by the density's own mass, and a 1D/3D case; zero mass gives NaN. */
static void test_moments_normalisation(void **state) {
  (void)state;
  size_t n = 4;
  double lo = 0.0, hi = 4.0; /* centres 0.5 1.5 2.5 3.5 */
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double p[] = {0, 3, 1, 0}; /* mass 4: mean 1.75, var (3·0.0625 + 0.5625)/4 */
  double mean, var;
  fpk_density_moments(&g, p, &mean, &var);
  assert_close_rel(mean, 1.75, 1e-15);
  assert_close_rel(var, (3 * 0.0625 + 0.5625) / 4, 1e-15);
  const double z[] = {0, 0, 0, 0};
  fpk_density_moments(&g, z, &mean, &var);
  assert_true(isnan(mean) && isnan(var));

  /* 3D: mass on two cells. */
  size_t n3[] = {3, 3, 3};
  double lo3[] = {0, 0, 0}, hi3[] = {3, 3, 3};
  fpk_grid g3 = fpk_test_grid(3, n3, lo3, hi3);
  double p3[27] = {0}, m3[3], c3[9];
  p3[0] = 1.0;                  /* (0.5, 0.5, 0.5) */
  p3[2 + 3 * (1 + 3 * 2)] = 1.0; /* (2.5, 1.5, 2.5) */
  fpk_density_moments(&g3, p3, m3, c3);
  const double me[] = {1.5, 1.0, 1.5}, dv[] = {1.0, 0.5, 1.0}; /* half-differences */
  for (size_t a = 0; a < 3; a++) {
    assert_close_rel(m3[a], me[a], 1e-15);
    for (size_t b = 0; b < 3; b++) assert_close_rel(c3[a * 3 + b], dv[a] * dv[b], 1e-15);
  }
}

/* Grid KL of two discretised Gaussians → the closed-form Gaussian KL, with O(h²) error from the
 * cell averaging (both densities from cell probabilities). */
static void test_kl_matches_gaussian_kl(void **state) {
  (void)state;
  const double m0[] = {0.2, -0.1}, S0[] = {0.6, 0.2, 0.2, 0.5};
  const double m1[] = {-0.3, 0.3}, S1[] = {1.0, -0.3, -0.3, 0.9};
  fpk_gaussian g0 = fpk_test_gaussian(2, m0, S0), g1 = fpk_test_gaussian(2, m1, S1);
  double exact = fpk_gaussian_kl(&g0, &g1), hs[3], es[3];
  fpk_error err = {0};
  for (size_t r = 0; r < 3; r++) {
    size_t n[] = {(size_t)30 << r, (size_t)30 << r};
    double lo[] = {-7, -7}, hi[] = {7, 7};
    fpk_grid G = fpk_test_grid(2, n, lo, hi);
    double *p = malloc(G.size * sizeof *p), *q = malloc(G.size * sizeof *q);
    assert_int_equal(fpk_gaussian_cell_probs(&g0, &G, p, &err), FPK_SUCCESS);
    assert_int_equal(fpk_gaussian_cell_probs(&g1, &G, q, &err), FPK_SUCCESS);
    for (size_t c = 0; c < G.size; c++) {
      p[c] /= G.cell_volume;
      q[c] /= G.cell_volume;
    }
    es[r] = fabs(fpk_dist_kl(&G, p, q) - exact);
    hs[r] = G.h[0];
    free(p);
    free(q);
  }
  double order = fpk_test_fit_order(3, hs, es);
  print_message("grid KL vs Gaussian KL %.6f: errors %.3e %.3e %.3e, order %.3f\n", exact, es[0],
                es[1], es[2], order);
  assert_true(es[2] < 3e-3 * exact);
  assert_in_range_d(order, 1.9, 2.1);
}

/* The error of a mean (n = dim) and, as the Frobenius norm, of a covariance (n = dim²): by hand,
 * 0 for equal vectors, and NaN carried. */
static void test_euclid_by_hand(void **state) {
  (void)state;
  const double a[4] = {1.0, 2.0, 3.0, 4.0}, b[4] = {4.0, 6.0, 3.0, 4.0};
  assert_true(fpk_dist_euclid(2, a, b) == 5.0); /* the 3-4-5 triangle, exactly */
  assert_true(fpk_dist_euclid(4, a, b) == 5.0);
  assert_true(fpk_dist_euclid(1, a + 2, b + 2) == 0.0);
  assert_true(fpk_dist_euclid(0, a, b) == 0.0);
  const double c[2] = {1.0, NAN};
  assert_true(isnan(fpk_dist_euclid(2, a, c)));
}

/* The order statistic x_(⌈np⌉), clamped to the sample: by hand. */
static void test_sorted_quantile(void **state) {
  (void)state;
  const double x[5] = {1.0, 2.0, 3.0, 4.0, 5.0};
  assert_true(fpk_sorted_quantile(x, 5, 0.5) == 3.0);  /* ⌈2.5⌉ = 3 */
  assert_true(fpk_sorted_quantile(x, 5, 0.4) == 2.0);  /* ⌈2⌉ = 2: left-continuous */
  assert_true(fpk_sorted_quantile(x, 5, 0.41) == 3.0);
  assert_true(fpk_sorted_quantile(x, 5, 0.0) == 1.0);
  assert_true(fpk_sorted_quantile(x, 5, -1.0) == 1.0);
  assert_true(fpk_sorted_quantile(x, 5, 1.0) == 5.0);
  assert_true(fpk_sorted_quantile(x, 5, 2.0) == 5.0);
  assert_true(fpk_sorted_quantile(x, 1, 0.7) == 1.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_distances_1d_by_hand),
      cmocka_unit_test(test_distances_2d_by_hand),
      cmocka_unit_test(test_kl_support),
      cmocka_unit_test(test_linf_nan),
      cmocka_unit_test(test_moments_gaussian),
      cmocka_unit_test(test_moments_normalisation),
      cmocka_unit_test(test_kl_matches_gaussian_kl),
      cmocka_unit_test(test_euclid_by_hand),
      cmocka_unit_test(test_sorted_quantile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
