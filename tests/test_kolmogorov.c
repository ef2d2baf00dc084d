/* Tests for the Kolmogorov distribution (src/exact/kolmogorov.c): the law of sup|B⁰| for the
 * standard Brownian bridge, K(x) = 1 − 2 Σ (−1)^{k−1} e^{−2k²x²} (closed-forms.md). References:
 * 50-digit mpmath evaluations of both series (values below), the classical table quantiles
 * (e.g. Smirnov, "Table for estimating the goodness of fit of empirical distributions", Ann.
 * Math. Stat. 19, 1948: 1.2238, 1.3581, 1.6276), and the moments E sup|B⁰| = √(π/2) ln 2,
 * E sup|B⁰|² = π²/12 (the latter from E X² = ∫ 2x(1 − K) dx term by term: Σ (−1)^{k−1}/k² =
 * π²/12), by GSL quadrature of the density. */
#include "fpk_test.h"

#include <float.h>

#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_zeta.h>

#include "fpkit/exact.h"

/* x, K(x), 1 − K(x), K'(x): mpmath at 50 digits (theta series below 1, alternating above),
 * rounded to 17 digits, for the double nearest x. */
static const double ref[][4] = {
    {0.15, 2.5712189738417215e-23, 1.0, 1.8626299550182938e-20},
    {0.3, 9.3058013345666228e-6, 0.99999069419866543, 0.00081939341969312957},
    {0.5, 0.036054756335124906, 0.96394524366487509, 0.63958285094045663},
    {0.75, 0.37283295822373836, 0.62716704177626164, 1.6834609513049754},
    {0.9, 0.60726929205934566, 0.39273070794065434, 1.3807270542377327},
    {1, 0.73000032832264548, 0.26999967167735452, 1.0719485583569418},
    {1.25, 0.91213358605830894, 0.087866413941691065, 0.43922027016210846},
    {1.5, 0.97778203738347487, 0.022217962616525129, 0.13330722741988021},
    {2, 0.9993290747442203, 0.00067092525577969535, 0.0053674020456296828},
    {3, 0.99999996954004051, 3.0459959489425257e-8, 3.6551951387310308e-7},
    {5, 1.0, 3.8574996959278356e-22, 7.7149993918556711e-21},
    {8, 1.0, 5.1444187452848297e-56, 1.6462139984911455e-54},
};

/* The two series agree where both converge: at the switch to 1e-15 (measured ~1e-16), and on
 * [0.6, 3] to 1e-15. */
static void test_series_agree(void **state) {
  (void)state;
  const double xs = FPK_KOLMOGOROV_SWITCH;
  const double a = fpk_kolmogorov_cdf_alternating(xs), t = fpk_kolmogorov_cdf_theta(xs);
  assert_close_abs(a, t, 1e-15);
  double worst = 0.0;
  for (double x = 0.6; x <= 3.0; x += 0.01)
    worst = fmax(worst, fabs(fpk_kolmogorov_cdf_alternating(x) - fpk_kolmogorov_cdf_theta(x)));
  assert_in_range_d(worst, 0.0, 1e-15);
  /* cdf is continuous across the switch: the one-ulp neighbours agree to round-off */
  assert_close_abs(fpk_kolmogorov_cdf(nextafter(xs, 0.0)), fpk_kolmogorov_cdf(xs), 1e-15);
  assert_close_abs(fpk_kolmogorov_pdf(nextafter(xs, 0.0)), fpk_kolmogorov_pdf(xs), 1e-14);
  print_message("at x = %g: alternating - theta = %.3g; max |diff| on [0.6, 3]: %.3g\n", xs, a - t,
                worst);
}

/* K, 1 − K and K' against the 50-digit values: 3e-16 absolute for K and 1 − K, and relative
 * 2e-15 in the tails (K below the median, 1 − K above it) and for the density. */
static void test_reference_values(void **state) {
  (void)state;
  double wk = 0.0, wq = 0.0, wd = 0.0;
  for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
    const double x = ref[i][0], K = ref[i][1], Q = ref[i][2], d = ref[i][3];
    const double k = fpk_kolmogorov_cdf(x), q = fpk_kolmogorov_sf(x), p = fpk_kolmogorov_pdf(x);
    assert_close_abs(k, K, 3e-16);
    assert_close_abs(q, Q, 3e-16);
    if (K < 0.5) assert_close_rel(k, K, 2e-15);
    if (Q < 0.5) assert_close_rel(q, Q, 2e-15);
    assert_close_rel(p, d, 2e-15);
    wk = fmax(wk, fabs(k - K) / (K < 0.5 ? K : 1.0));
    wq = fmax(wq, fabs(q - Q) / (Q < 0.5 ? Q : 1.0));
    wd = fmax(wd, fabs(p - d) / d);
  }
  print_message("max error (relative in the tails): K %.2g, 1-K %.2g, density %.2g\n", wk, wq, wd);
}

/* Table values to their 4 digits, full precision against mpmath, and cdf(quantile(p)) = p. */
static void test_quantiles(void **state) {
  (void)state;
  assert_close_abs(fpk_kolmogorov_cdf(1.3581), 0.95, 1e-6);
  const double p[] = {0.90, 0.95, 0.99}, table[] = {1.2238, 1.3581, 1.6276};
  const double exact[] = {1.223847870217082388, 1.358098639322550604, 1.627623611518950347};
  for (size_t i = 0; i < 3; i++) {
    const double q = fpk_kolmogorov_quantile(p[i]);
    assert_close_abs(q, table[i], 5e-5);
    assert_close_rel(q, exact[i], 4e-16);
    assert_close_rel(fpk_kolmogorov_isf(1.0 - p[i]), exact[i], 4e-16);
    print_message("quantile(%.2f) = %.16f (table %.4f)\n", p[i], q, table[i]);
  }
  assert_close_rel(fpk_kolmogorov_quantile(0.5), 0.8275735551899076901, 4e-16);
  assert_close_rel(fpk_kolmogorov_quantile(1e-10), 0.2201355425292829761, 4e-16);
  assert_close_rel(fpk_kolmogorov_isf(1e-12), 3.763254462329679714, 4e-16);

  /* Consistency over 600 orders of magnitude of both tails: the round trip is exact up to the
   * conditioning of F at the root, |ΔF/F| <= (x F'/F) |Δx/x| with |Δx/x| a few ulps. */
  double worst = 0.0;
  for (int e = -300; e <= -1; e++)
    for (double m = 1.0; m < 10.0; m += 2.5) {
      const double t = m * pow(10.0, e);
      if (t >= 0.5) continue;
      const double xl = fpk_kolmogorov_quantile(t), xu = fpk_kolmogorov_isf(t);
      const double kl = fpk_kolmogorov_cdf(xl), ku = fpk_kolmogorov_sf(xu);
      const double cl = 1.0 + xl * fpk_kolmogorov_pdf(xl) / kl;
      const double cu = 1.0 + xu * fpk_kolmogorov_pdf(xu) / ku;
      if (!(fabs(kl - t) <= 4.0 * DBL_EPSILON * cl * t))
        fail_msg("cdf(quantile(%g)) = %.17g (x = %.17g)", t, kl, xl);
      if (!(fabs(ku - t) <= 4.0 * DBL_EPSILON * cu * t))
        fail_msg("sf(isf(%g)) = %.17g (x = %.17g)", t, ku, xu);
      worst = fmax(worst, fmax(fabs(kl - t) / (cl * t), fabs(ku - t) / (cu * t)));
    }
  /* and in the body, absolute */
  double worst_abs = 0.0;
  for (double t = 0.001; t < 1.0; t += 0.001) {
    const double d = fabs(fpk_kolmogorov_cdf(fpk_kolmogorov_quantile(t)) - t);
    assert_in_range_d(d, 0.0, 1e-15);
    worst_abs = fmax(worst_abs, d);
  }
  print_message("round trips: tails %.2g eps x conditioning, body %.2g absolute\n",
                worst / DBL_EPSILON, worst_abs);
}

static double f_pdf(double x, void *p) {
  (void)p;
  return fpk_kolmogorov_pdf(x);
}
static double f_xpdf(double x, void *p) {
  (void)p;
  return x * fpk_kolmogorov_pdf(x);
}
static double f_sf(double x, void *p) {
  (void)p;
  return fpk_kolmogorov_sf(x);
}
static double f_x2pdf(double x, void *p) {
  (void)p;
  return x * x * fpk_kolmogorov_pdf(x);
}

/* ∫ K' = 1, ∫ x K' = √(π/2) ln 2, ∫ x² K' = π²/12 by QUADPACK qagiu on [0, ∞); and the mean
 * also as ∫ (1 − K), which checks sf against pdf independently. */
static void test_moments(void **state) {
  (void)state;
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(1000);
  double (*fs[])(double, void *) = {f_pdf, f_xpdf, f_x2pdf};
  const double expect[] = {1.0, sqrt(M_PI / 2.0) * M_LN2, M_PI * M_PI / 12.0};
  for (size_t i = 0; i < 3; i++) {
    gsl_function F = {fs[i], NULL};
    double r, e;
    assert_int_equal(gsl_integration_qagiu(&F, 0.0, 1e-13, 1e-13, 1000, w, &r, &e), 0);
    assert_close_rel(r, expect[i], 1e-13);
    print_message("moment %zu: %.17g (exact %.17g, diff %.2g)\n", i, r, expect[i], r - expect[i]);
  }
  gsl_function S = {f_sf, NULL};
  double r, e;
  assert_int_equal(gsl_integration_qagiu(&S, 0.0, 1e-13, 1e-13, 1000, w, &r, &e), 0);
  assert_close_rel(r, expect[1], 1e-13);
  gsl_integration_workspace_free(w);
  assert_close_rel(FPK_KOLMOGOROV_MEAN, sqrt(M_PI / 2.0) * M_LN2, 2e-16);
  /* β = −ζ(1/2)/√(2π) (Broadie–Glasserman–Kou) */
  assert_close_rel(FPK_BGK_BETA, -gsl_sf_zeta(0.5) / sqrt(2.0 * M_PI), 1e-15);
}

static void test_out_of_range(void **state) {
  (void)state;
  assert_true(fpk_kolmogorov_cdf(0.0) == 0.0 && fpk_kolmogorov_cdf(-1.0) == 0.0);
  assert_true(fpk_kolmogorov_sf(-1.0) == 1.0 && fpk_kolmogorov_pdf(-1.0) == 0.0);
  assert_true(fpk_kolmogorov_cdf(INFINITY) == 1.0 && fpk_kolmogorov_sf(INFINITY) == 0.0);
  assert_true(fpk_kolmogorov_pdf(INFINITY) == 0.0 && fpk_kolmogorov_pdf(0.0) == 0.0);
  assert_true(fpk_kolmogorov_cdf(1e-3) == 0.0 && fpk_kolmogorov_sf(30.0) == 0.0);
  assert_true(isnan(fpk_kolmogorov_cdf(NAN)) && isnan(fpk_kolmogorov_sf(NAN)));
  assert_true(isnan(fpk_kolmogorov_pdf(NAN)) && isnan(fpk_kolmogorov_quantile(NAN)));
  assert_true(fpk_kolmogorov_quantile(0.0) == 0.0 && isinf(fpk_kolmogorov_quantile(1.0)));
  assert_true(fpk_kolmogorov_quantile(-0.5) == 0.0 && isinf(fpk_kolmogorov_quantile(2.0)));
  assert_true(isinf(fpk_kolmogorov_isf(0.0)) && fpk_kolmogorov_isf(1.0) == 0.0);
  /* monotone: the quantile is non-decreasing in p across the tail switch at 1/2 */
  double prev = 0.0;
  for (double t = 0.45; t < 0.55; t += 0.001) {
    const double q = fpk_kolmogorov_quantile(t);
    assert_true(q >= prev);
    prev = q;
  }
}

/* The KS distance to K: by hand for one point (max(1 − K(y), K(y))), 0.5 for one point at the
 * median, the scale and shift applied before K, and the quantiles of K themselves (y_i = the
 * (i − 1/2)/n quantile) at the smallest possible distance 1/(2n). */
static void test_ks_distance(void **state) {
  (void)state;
  const double one = 1.0;
  const double k1 = fpk_kolmogorov_cdf(1.0);
  assert_true(fpk_kolmogorov_ks_distance(&one, 1, 1.0, 0.0) == fmax(1.0 - k1, k1));
  const double med = fpk_kolmogorov_quantile(0.5);
  assert_close_abs(fpk_kolmogorov_ks_distance(&med, 1, 1.0, 0.0), 0.5, 1e-15);
  const double half = 0.5 * med;
  assert_close_abs(fpk_kolmogorov_ks_distance(&half, 1, 2.0, 0.0), 0.5, 1e-15);
  assert_close_abs(fpk_kolmogorov_ks_distance(&half, 1, 1.0, half), 0.5, 1e-15);
  enum { N = 200 };
  double q[N];
  for (size_t i = 0; i < N; i++) q[i] = fpk_kolmogorov_quantile(((double)i + 0.5) / N);
  assert_close_abs(fpk_kolmogorov_ks_distance(q, N, 1.0, 0.0), 0.5 / N, 1e-14);
  /* the whole sample shifted far right: every K(y) = 1 while F_n is 0 just below the first
   * point, so the distance is K(y_1) − 0 = 1 */
  assert_close_abs(fpk_kolmogorov_ks_distance(q, N, 1.0, 10.0), 1.0, 1e-15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_series_agree),
      cmocka_unit_test(test_reference_values),
      cmocka_unit_test(test_quantiles),
      cmocka_unit_test(test_moments),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_ks_distance),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
