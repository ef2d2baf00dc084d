/* Log-Sobolev decay of KL(p_t ‖ π) under overdamped Langevin dX = ∇log π dt + √2 dW
 * (fpkit/diffusion.h "Log-Sobolev decay", docs/diffusion.md "Log-Sobolev decay check"):
 * the Fokker–Planck equation solved by the FV solver (fpk_langevin_kl_decay) from a p_0 far
 * from π, KL on the grid over time, against
 *  (a) π = N(0, s²): the Bakry–Émery constant ρ = 1/s² (Bakry & Émery 1985): the bound
 *      KL(t) ≤ e^{−2ρt} KL(0) at every t, the late-time rate 2ρ within 1%, and the closed form of
 *      KL(t) for a Gaussian p_0 (OU: p_t Gaussian) to the solver's accuracy (O(h²));
 *  (b) π a two-mode mixture: the late-time rate equals 2λ (λ the spectral gap of the same model
 *      by fpk_spectral_gap: KL ≈ ½χ² near π and χ² decays at 2λ); the Holley–Stroock bound
 *      ρ ≥ ρ_0 e^{−osc ψ} (Holley & Stroock 1987) for the split −log π = V_0 + ψ with
 *      V_0 = (x² − 2m√(x² + c²))/(2σ²) (ρ_0 = (1 − m/c)/σ²-convex, c > m) and ψ bounded: the
 *      grid respects KL(t) ≤ e^{−2ρ_HS t} KL(0) at every t, and ρ_HS ≤ λ (ρ ≤ λ, Rothaus);
 *      deeper wells (larger separation m) decay more slowly, as λ says. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"
#include "fpkit/fv.h"
#include "fpkit/spectral.h"

static fpk_gmm *gmm1(size_t K, const double *w, const double *mu, const double *var) {
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(1, K, w, mu, var, &err);
  if (!m) fail_msg("gmm: %s", err.msg);
  return m;
}

/* N(m, v) at the cell centres of g. */
static void gauss_centres(const fpk_grid *g, double m, double v, double *p) {
  for (size_t i = 0; i < g->size; i++) {
    const double x = fpk_grid_center(g, 0, i);
    p[i] = exp(-0.5 * (x - m) * (x - m) / v) / sqrt(2 * M_PI * v);
  }
}

/* Least-squares slope of log kl against t over t in [ta, tb]: −(fitted rate). */
static double fit_rate(size_t nt, const double *t, const double *kl, double ta, double tb) {
  double st = 0, sy = 0, stt = 0, sty = 0, n = 0;
  for (size_t k = 0; k < nt; k++)
    if (t[k] >= ta && t[k] <= tb) {
      const double y = log(kl[k]);
      st += t[k], sy += y, stt += t[k] * t[k], sty += t[k] * y, n++;
    }
  return -(n * sty - st * sy) / (n * stt - st * st);
}

/* (a) π = N(0, s²), p_0 = N(m0, v0). */
static void gaussian_case(size_t ncell, double *max_rel, double *rate) {
  const double s2 = 0.64, m0 = 2.5, v0 = 0.16, rho = 1 / s2;
  const double w = 1, mu = 0;
  fpk_gmm *pi = gmm1(1, &w, &mu, &s2);
  size_t nn[1] = {ncell};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  double *p0 = malloc(ncell * sizeof *p0);
  gauss_centres(&g, m0, v0, p0);
  enum { NT = 61 };
  double t[NT], kl[NT];
  for (int k = 0; k < NT; k++) t[k] = 0.1 * k;
  fpk_kl_decay_params par;
  fpk_kl_decay_params_init(&par);
  par.dt = 1e-3;
  fpk_error err = {0};
  if (fpk_langevin_kl_decay(pi, &g, p0, &par, NT, t, kl, &err)) fail_msg("decay: %s", err.msg);
  *max_rel = 0;
  for (int k = 0; k < NT; k++) {
    const double e = exp(-t[k] / s2), mt = m0 * e, vt = s2 + (v0 - s2) * e * e;
    const double exact = 0.5 * (vt / s2 + mt * mt / s2 - 1 - log(vt / s2));
    const double rel = fabs(kl[k] / exact - 1);
    if (rel > *max_rel) *max_rel = rel;
    /* Bakry–Émery: KL(t) ≤ e^{−2ρt} KL(0) */
    if (!(kl[k] <= exp(-2 * rho * t[k]) * kl[0] * (1 + 1e-12)))
      fail_msg("Bakry-Emery bound violated at t = %g: KL %g > %g", t[k], kl[k],
               exp(-2 * rho * t[k]) * kl[0]);
    if (k % 10 == 0)
      print_message("  N(0, %.2f), %zu cells: t = %.1f  KL grid %.6e  closed form %.6e  "
                    "bound %.3e\n", s2, ncell, t[k], kl[k], exact, exp(-2 * rho * t[k]) * kl[0]);
  }
  *rate = fit_rate(NT, t, kl, 3, 6);
  free(p0);
  fpk_gmm_free(pi);
}

static void test_lsi_gaussian(void **state) {
  (void)state;
  double r1, r2, rate1, rate2;
  gaussian_case(400, &r1, &rate1);
  gaussian_case(800, &r2, &rate2);
  const double order = log2(r1 / r2);
  print_message("Gaussian pi = N(0, 0.64): 2 rho = %.6f; fitted late rate (t in [3, 6]) %.6f "
                "(400 cells), %.6f (800); max rel. error to the closed form over t in [0, 6] "
                "%.3e (400), %.3e (800), order %.2f\n", 2 / 0.64, rate1, rate2, r1, r2, order);
  /* the late rate is 2ρ = 2/s² within 1% (measured: 4e-4, 1e-4: the FV gap's O(h²)) */
  assert_close_rel(rate1, 2 / 0.64, 1e-2);
  assert_close_rel(rate2, 2 / 0.64, 1e-3);
  /* the closed form to the FV's second order (measured 7.8e-3, 2.0e-3, order 2.00): the error
   * is the discrete gap's O(h²) times t */
  assert_true(r2 < 4e-3);
  assert_in_range_d(order, 1.8, 2.2);
}

/* (b) π = ½N(−m, σ²) + ½N(m, σ²). */
static double spectral_gap_of(const fpk_gmm *pi, double L, size_t n) {
  fpk_error err = {0};
  fpk_model *m = fpk_gmm_langevin_model_alloc(pi, &err);
  if (!m) fail_msg("model: %s", err.msg);
  double lo = -L, hi = L, gap;
  fpk_bc bc = FPK_BC_PERIODIC;
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err), 0);
  if (fpk_spectral_gap(&g, m, &gap, &err)) fail_msg("gap: %s", err.msg);
  fpk_model_free(m);
  return gap;
}

/* The Holley–Stroock bound for π = ½N(−m, σ²) + ½N(m, σ²): −log π = V_0 + ψ with
 * V_0 = (x² − 2m√(x² + c²))/(2σ²), V_0'' = (1 − m c²/(x² + c²)^{3/2})/σ² ≥ ρ_0 = (1 − m/c)/σ²
 * (Bakry–Émery for e^{−V_0}), and ψ = −log π − V_0 bounded (both grow like x²/(2σ²) − m|x|/σ²):
 * ρ ≥ ρ_0 e^{−osc ψ} (Holley & Stroock 1987). osc ψ from ψ on [0, 200] (ψ is even) by steps of
 * 1e-3 and its limit at ∞, ψ(∞) = log 2 + ½ log(2πσ²) + m²/(2σ²) (beyond 200 ψ moves
 * monotonically towards it); c maximises the bound over (m, 4m]. */
static double holley_stroock(const fpk_gmm *pi, double m, double sig2, double *c_best) {
  enum { NX = 200001 };
  double *x = malloc(NX * sizeof *x), *lp = malloc(NX * sizeof *lp);
  for (int i = 0; i < NX; i++) x[i] = 1e-3 * i;
  assert_int_equal(fpk_gmm_eval(pi, NULL, 0, NX, x, lp, NULL, NULL, NULL, NULL), 0);
  const double psi_inf = log(2) + 0.5 * log(2 * M_PI * sig2) + m * m / (2 * sig2);
  double best = 0;
  for (double c = m * 1.01; c <= 4 * m; c += m * 0.01) {
    double lo = psi_inf, hi = psi_inf;
    for (int i = 0; i < NX; i++) {
      const double v0 = (x[i] * x[i] - 2 * m * sqrt(x[i] * x[i] + c * c)) / (2 * sig2);
      const double psi = -lp[i] - v0;
      if (psi < lo) lo = psi;
      if (psi > hi) hi = psi;
    }
    const double r = (1 - m / c) / sig2 * exp(-(hi - lo));
    if (r > best) best = r, *c_best = c;
  }
  free(x), free(lp);
  return best;
}

static void test_lsi_mixture(void **state) {
  (void)state;
  const double sig2 = 0.25, ms[3] = {0.75, 1.0, 1.25};
  double lam_prev = INFINITY, rate_prev = INFINITY;
  for (int im = 0; im < 3; im++) {
    const double m = ms[im], w[2] = {0.5, 0.5}, mu[2] = {-m, m}, var[2] = {sig2, sig2};
    fpk_gmm *pi = gmm1(2, w, mu, var);
    /* λ by the Fourier collocation operator on the periodic box [−6, 6] (π < 1e-20 at its
     * ends): converged to 1e-7 between 128 and 256 points */
    const double lam1 = spectral_gap_of(pi, 6, 128), lam = spectral_gap_of(pi, 6, 256);
    assert_close_rel(lam1, lam, 1e-6);
    double c = 0;
    const double rho_hs = holley_stroock(pi, m, sig2, &c);
    /* KL from p_0 = N(m + 0.5, 0.3²) (all mass in the right well) by FV on 1200 cells of
     * [−6, 6], reflecting, up to λt = 8 */
    size_t nn[1] = {1200};
    double lo[1] = {-6}, hi[1] = {6};
    fpk_grid g = fpk_test_grid(1, nn, lo, hi);
    double *p0 = malloc(nn[0] * sizeof *p0);
    gauss_centres(&g, m + 0.5, 0.09, p0);
    enum { NT = 401 };
    double t[NT], kl[NT];
    const double tend = 8 / lam;
    for (int k = 0; k < NT; k++) t[k] = tend * k / (NT - 1);
    fpk_kl_decay_params par;
    fpk_kl_decay_params_init(&par);
    fpk_error err = {0};
    if (fpk_langevin_kl_decay(pi, &g, p0, &par, NT, t, kl, &err)) fail_msg("decay: %s", err.msg);
    /* LSI with ρ_HS: KL(t) ≤ e^{−2ρ_HS t} KL(0) at every t; ρ_emp = min_t −log(KL(t)/KL(0))/(2t)
     * is an upper bound on ρ (for this p_0) */
    double rho_emp = INFINITY;
    for (int k = 1; k < NT; k++) {
      if (!(kl[k] <= exp(-2 * rho_hs * t[k]) * kl[0]))
        fail_msg("m = %g: Holley-Stroock bound violated at t = %g: KL %g > %g", m, t[k], kl[k],
                 exp(-2 * rho_hs * t[k]) * kl[0]);
      const double r = -log(kl[k] / kl[0]) / (2 * t[k]);
      if (r < rho_emp) rho_emp = r;
    }
    const double rate = fit_rate(NT, t, kl, 4 / lam, 8 / lam);
    print_message("m = %.2f, sigma = 0.5: lambda %.8f; late KL rate (lambda t in [4, 8]) %.8f = "
                  "2 lambda x %.6f; rho_HS %.4e (c = %.3f) <= rho <= min(lambda, rho_emp = %.6f)"
                  "; KL(0) %.4f, KL(8/lambda) %.3e\n", m, lam, rate, rate / (2 * lam), rho_hs,
                  c, rho_emp, kl[0], kl[NT - 1]);
    /* KL ≈ ½χ² near π, χ² decays at 2λ: within 1% (measured 2e-5 relative) */
    assert_close_rel(rate, 2 * lam, 1e-2);
    assert_true(rho_hs > 0 && rho_hs <= lam); /* ρ ≤ λ (linearising the LSI) */
    assert_true(rho_hs <= rho_emp);
    /* a deeper well (larger m) relaxes more slowly, as λ says */
    assert_true(lam < 0.8 * lam_prev && rate < 0.8 * rate_prev);
    lam_prev = lam, rate_prev = rate;
    free(p0);
    fpk_gmm_free(pi);
  }
}

/* The relative entropy's evaluation down to tiny values, and the reference options. */
static void test_relative_entropy(void **state) {
  (void)state;
  size_t nn[1] = {100};
  double lo[1] = {-5}, hi[1] = {5};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  double p[100], q[100];
  gauss_centres(&g, 0, 1, q);
  /* p = q(1 + ε x): KL = ½ε² Σ q x² vol + O(ε³) (Σ q x vol = 0 by symmetry) */
  double qx2 = 0;
  for (size_t i = 0; i < 100; i++) qx2 += q[i] * pow(fpk_grid_center(&g, 0, i), 2) * g.cell_volume;
  for (double eps = 1e-3; eps > 1e-13; eps *= 1e-2) {
    for (size_t i = 0; i < 100; i++) p[i] = q[i] * (1 + eps * fpk_grid_center(&g, 0, i));
    assert_close_rel(fpk_grid_relative_entropy(&g, p, q), 0.5 * eps * eps * qx2, 1e-4);
  }
  assert_true(fpk_grid_relative_entropy(&g, q, q) == 0);
  q[3] = 0;
  assert_true(isinf(fpk_grid_relative_entropy(&g, p, q)));
}

static void test_lsi_bad_input(void **state) {
  (void)state;
  const double w = 1, mu = 0, v = 1;
  fpk_gmm *pi = gmm1(1, &w, &mu, &v);
  size_t nn[1] = {50};
  double lo[1] = {-5}, hi[1] = {5}, p0[50], t[2] = {0, 1}, kl[2];
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  gauss_centres(&g, 1, 1, p0);
  fpk_kl_decay_params par;
  fpk_kl_decay_params_init(&par);
  fpk_error err = {0};
  par.dt = 0;
  assert_int_equal(fpk_langevin_kl_decay(pi, &g, p0, &par, 2, t, kl, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "fpk_langevin_kl_decay: dt = 0"));
  par.dt = 1e-2;
  t[1] = -1;
  assert_int_equal(fpk_langevin_kl_decay(pi, &g, p0, &par, 2, t, kl, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "t[1] = -1"));
  t[1] = 1;
  p0[7] = NAN;
  assert_int_equal(fpk_langevin_kl_decay(pi, &g, p0, &par, 2, t, kl, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "p0[7] = nan"));
  p0[7] = 0;
  fpk_bc bc = FPK_BC_ABSORBING;
  fpk_grid ga;
  assert_int_equal(fpk_grid_init(&ga, 1, nn, lo, hi, &bc, &err), 0);
  assert_int_equal(fpk_langevin_kl_decay(pi, &ga, p0, &par, 2, t, kl, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "absorbing"));
  size_t n2[2] = {10, 10};
  double lo2[2] = {-5, -5}, hi2[2] = {5, 5};
  fpk_grid g2 = fpk_test_grid(2, n2, lo2, hi2);
  assert_int_equal(fpk_langevin_kl_decay(pi, &g2, p0, &par, 2, t, kl, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension 2"));
  assert_null(fpk_gmm_langevin_model_alloc(NULL, &err));
  assert_non_null(strstr(err.msg, "pi is NULL"));
  /* the discrete equilibrium of the 1D product formula is fpk_fv_stationary's null vector:
   * started there, KL(p_0 ‖ reference) is 0 to rounding */
  {
    double q[50];
    fpk_model *mod = fpk_gmm_langevin_model_alloc(pi, &err);
    assert_non_null(mod);
    assert_int_equal(fpk_fv_stationary(&g, mod, q, &err), 0);
    fpk_model_free(mod);
    for (int j = 0; j < 50; j++) assert_true(q[j] > 0);
    assert_int_equal(fpk_langevin_kl_decay(pi, &g, q, &par, 2, t, kl, &err), 0);
    print_message("KL(discrete equilibrium | product-formula reference) = %.3e\n", kl[0]);
    assert_true(kl[0] < 1e-24);
  }
  /* the exact reference: KL(0) against π at the centres equals the discrete one to O(h²) */
  double kl_e[2];
  par.exact_reference = 1;
  assert_int_equal(fpk_langevin_kl_decay(pi, &g, p0, &par, 2, t, kl_e, &err), 0);
  par.exact_reference = 0;
  assert_int_equal(fpk_langevin_kl_decay(pi, &g, p0, &par, 2, t, kl, &err), 0);
  assert_close_rel(kl_e[0], kl[0], 1e-2);
  fpk_gmm_free(pi);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lsi_gaussian),
      cmocka_unit_test(test_lsi_mixture),
      cmocka_unit_test(test_relative_entropy),
      cmocka_unit_test(test_lsi_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
