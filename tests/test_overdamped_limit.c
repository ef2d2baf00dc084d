/* The overdamped (Smoluchowski) limit of the Kramers equation (issue 16), Risken 1989 §10.4: for
 * dX = V dt, dV = (−U'(X) − γV) dt + √(2γ/β) dW, the position at time γt tends as γ → ∞ to the
 * solution at time t of dY = −U'(Y) dt + √(2/β) dW, started from the same position law (the
 * Kramers run starts in local equilibrium: that law times the Maxwellian in v). Risken's
 * expansion of the Kramers equation in powers of 1/γ (§10.4, the "corrected Smoluchowski
 * equation") puts the first correction to the position density at O(1/γ²) on this time scale,
 * and the initial slip of a Maxwellian start is O(1/γ²) as well: the L1 distance between the
 * position marginal and the Smoluchowski density falls like γ⁻².
 *   1. Harmonic U = κx²/2, both laws exact Gaussians (fpk_exact_linear_law; the Kramers one with
 *      the degenerate B): the damped oscillator's rates are λ₁ = κ/γ + κ²/γ³ + … and
 *      λ₂ = γ − κ/γ + …, and from v₀ = 0 the mean at γt is
 *      x₀ (λ₂e^{−λ₁γt} − λ₁e^{−λ₂γt})/(λ₂ − λ₁) = x₀ e^{−κt} (1 + κ(1 − κt)/γ² + O(γ⁻⁴)): order 2,
 *      except at κt = 1, where the γ⁻² term vanishes (measured: order 4.1 there). t = 1/2.
 *   2. Double well U = x⁴/4 − x²/2: the Kramers equation by the spectral solver (ETDRK4, the
 *      exact part the v-diffusion γ/β k_v², no diffusion in x) at γ = 2 … 16, its x-marginal at
 *      γt against the 1D spectral Smoluchowski solution at t on the same x grid; fitted order
 *      (measured with γ up to 32: 4.07, 4.00, 3.99 for the ratios of successive errors).
 * FPK_TEST_QUICK=1 stops the double-well ladder at γ = 8 (the order is then fitted over 2, 4, 8).
 * The steps grow like γ² (the explicit v-drift's rate γ v k_v times the time γt). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/spectral.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && *q != '0';
}

static fpk_grid periodic(size_t d, const size_t *n, const double *lo, const double *hi) {
  fpk_grid g;
  fpk_error err = {0};
  fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, d, n, lo, hi, bc, &err), FPK_SUCCESS);
  return g;
}

/* L1 distance between two 1D Gaussians, by their cell probabilities on a fine grid (erf:
 * exact per cell; the grid is wide enough that nothing is outside). */
static double gauss_l1(double m1, double v1, double m2, double v2) {
  fpk_error err = {0};
  const size_t n = 20000;
  const double lo = -12.0, hi = 12.0;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
  fpk_gaussian a = {.dim = 1, .mean = {m1}, .cov = {v1}}, b = {.dim = 1, .mean = {m2}, .cov = {v2}};
  assert_int_equal(fpk_gaussian_cell_probs(&a, &g, p, &err), FPK_SUCCESS);
  assert_int_equal(fpk_gaussian_cell_probs(&b, &g, q, &err), FPK_SUCCESS);
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += fabs(p[i] - q[i]);
  free(p), free(q);
  return s;
}

static void test_harmonic_exact(void **state) {
  (void)state;
  fpk_error err = {0};
  const double kappa = 1.0, beta = 1.0, t = 0.5, x0 = 1.0, s0 = 0.2;
  /* the Smoluchowski law: OU dY = −κY dt + √(2/β) dW */
  const double A = kappa, mu = 0.0, sig = sqrt(2.0 / beta);
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(ou);
  fpk_gaussian y0 = {.dim = 1, .mean = {x0}, .cov = {s0}}, yt;
  assert_int_equal(fpk_exact_linear_law(ou->linear, &y0, t, &yt, &err), FPK_SUCCESS);
  const double gammas[] = {4, 8, 16, 32, 64};
  double e[5];
  for (size_t k = 0; k < 5; k++) {
    fpk_kramers_params kp = {.beta = beta, .gamma = gammas[k], .amplitude = kappa, .period = 1};
    fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
    assert_non_null(m);
    fpk_gaussian z0 = {.dim = 2, .mean = {x0, 0.0}, .cov = {s0, 0.0, 0.0, 1.0 / beta}}, zt;
    assert_int_equal(fpk_exact_linear_law(m->linear, &z0, gammas[k] * t, &zt, &err),
                     FPK_SUCCESS);
    e[k] = gauss_l1(zt.mean[0], zt.cov[0], yt.mean[0], yt.cov[0]);
    printf("  harmonic, exact laws: gamma = %4g  position at gamma*t vs OU at t = %g: L1 = %.3e "
           "(mean %.3e, var %.3e)\n",
           gammas[k], t, e[k], zt.mean[0] - yt.mean[0], zt.cov[0] - yt.cov[0]);
    fpk_model_free(m);
  }
  double inv[5];
  for (size_t k = 0; k < 5; k++) inv[k] = 1.0 / gammas[k];
  /* over γ = 8..64 (γ = 4 is still pre-asymptotic: the error ratio 4.84 to γ = 8) */
  const double order = fpk_test_fit_order(4, inv + 1, e + 1);
  printf("  harmonic, exact laws: fitted order in 1/gamma over gamma = 8..64: %.3f (theory 2)\n",
         order);
  assert_in_range_d(order, 1.9, 2.1);
  fpk_model_free(ou);
}

/* The x-marginal (cell averages) of a phase-space density on an nx × nv grid (x fastest). */
static void x_marginal(const fpk_grid *g, const double *p, double *mx) {
  const size_t nx = g->n[0], nv = g->n[1];
  for (size_t i = 0; i < nx; i++) {
    double s = 0.0;
    for (size_t j = 0; j < nv; j++) s += p[j * nx + i];
    mx[i] = s * g->h[1];
  }
}

static fpk_spectral *make(const fpk_grid *g, const fpk_model *m, double dt) {
  fpk_error err = {0};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  fpk_spectral *s = fpk_spectral_alloc(g, m, fpk_spectral_etdrk4, dt, &o, &err);
  if (!s) fail_msg("fpk_spectral_alloc: %s", err.msg);
  return s;
}

static void test_double_well_spectral(void **state) {
  (void)state;
  fpk_error err = {0};
  const double beta = 1.0, t = 1.0, x0 = -0.8, s0 = 0.1, X = 3.5, Vb = 7.0;
  const size_t nx = 64, nv = 48;
  /* the Smoluchowski solution on the x grid: the 1D Langevin double well, ETDRK4 */
  fpk_langevin_params lp = {.beta = beta, .period = 1.0};
  fpk_model *sm = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  assert_non_null(sm);
  const double lo1 = -X, hi1 = X;
  fpk_grid g1 = periodic(1, &nx, &lo1, &hi1);
  double y0[64], ys[64];
  fpk_gaussian gy = {.dim = 1, .mean = {x0}, .cov = {s0}};
  assert_int_equal(fpk_gaussian_cell_probs(&gy, &g1, y0, &err), FPK_SUCCESS);
  for (size_t i = 0; i < nx; i++) y0[i] /= g1.h[0];
  fpk_spectral *s1 = make(&g1, sm, 5e-4);
  assert_int_equal(fpk_spectral_set_density(s1, 0.0, y0), FPK_SUCCESS);
  if (fpk_spectral_evolve(s1, t)) fail_msg("smoluchowski: %s", fpk_spectral_errmsg(s1));
  memcpy(ys, fpk_spectral_density(s1), sizeof ys);
  fpk_spectral_free(s1);

  const double gammas[] = {2, 4, 8, 16};
  const size_t ng = quick() ? 3 : 4;
  double e[4], inv[4];
  const size_t n2[2] = {nx, nv};
  const double lo2[2] = {-X, -Vb}, hi2[2] = {X, Vb};
  fpk_grid g2 = periodic(2, n2, lo2, hi2);
  double *p0 = malloc(g2.size * sizeof *p0), mx[64];
  fpk_gaussian gz = {.dim = 2, .mean = {x0, 0.0}, .cov = {s0, 0.0, 0.0, 1.0 / beta}};
  assert_int_equal(fpk_gaussian_cell_probs(&gz, &g2, p0, &err), FPK_SUCCESS);
  for (size_t c = 0; c < g2.size; c++) p0[c] /= g2.cell_volume;
  for (size_t k = 0; k < ng; k++) {
    const double gam = gammas[k];
    fpk_kramers_params kp = {.beta = beta, .gamma = gam, .amplitude = 1.0, .period = 1.0};
    fpk_model *m = fpk_model_kramers_alloc("double-well", &kp, &err);
    assert_non_null(m);
    /* the explicit part's stable step (fourth-order RK on the imaginary axis, ~2.8/rate): the
     * rate of the transport v∂_x and of the v-drift (−U' − γv) at the 2/3 rule's wavenumbers */
    const double kx = M_PI / g2.h[0] * 2.0 / 3.0, kv = M_PI / g2.h[1] * 2.0 / 3.0;
    const double Fmax = X * X * X - X, rate = kx * Vb + kv * (gam * Vb + Fmax);
    fpk_spectral *s = make(&g2, m, 1.5 / rate);
    assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
    if (fpk_spectral_evolve(s, gam * t)) fail_msg("kramers gamma %g: %s", gam, fpk_spectral_errmsg(s));
    x_marginal(&g2, fpk_spectral_density(s), mx);
    double d = 0.0;
    for (size_t i = 0; i < nx; i++) d += fabs(mx[i] - ys[i]);
    e[k] = d * g1.h[0];
    inv[k] = 1.0 / gam;
    printf("  double well (beta %g): gamma = %4g  x-marginal at gamma*t vs Smoluchowski at t = "
           "%g: L1 = %.3e (%zu steps)\n",
           beta, gam, t, e[k], fpk_spectral_steps_taken(s));
    fpk_spectral_free(s);
    fpk_model_free(m);
  }
  /* the order over the last three rungs (the asymptotic regime) */
  const double order = fpk_test_fit_order(3, inv + ng - 3, e + ng - 3);
  printf("  double well: fitted order in 1/gamma over gamma = %g..%g: %.3f (theory 2)\n",
         gammas[ng - 3], gammas[ng - 1], order);
  assert_in_range_d(order, 1.7, 2.3);
  for (size_t k = 1; k < ng; k++) assert_true(e[k] < e[k - 1]);
  free(p0);
  fpk_model_free(sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_harmonic_exact),
      cmocka_unit_test(test_double_well_spectral),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
