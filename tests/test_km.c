/* Kramers–Moyal estimation (fpkit/km.h, docs/km.md): coverage of the 95% intervals against the
 * true drift and diffusion (OU, double well, correlated 2D OU), the order of the finite-τ bias
 * with and without the first-order (Richardson) correction against its closed form for OU, the
 * Pawula check on a diffusion and on a jump process, HDF5 round trip and thread independence. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/io.h"
#include "fpkit/km.h"
#include "fpkit/sde.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0");
}

static fpk_grid grid1(size_t n, double lo, double hi) {
  return fpk_test_grid(1, &n, &lo, &hi);
}

/* Simulates into a new estimator and computes; fails the test on any error. */
static fpk_km *km_sim(const fpk_model *m, const fpk_grid *g, double dt, size_t lag,
                      size_t min_count, const fpk_gaussian *init, const fpk_km_sim *sim) {
  fpk_error err = {0};
  fpk_km_params p = {.dt = dt, .lag = lag, .min_count = min_count};
  fpk_km *km = fpk_km_alloc(g, &p, &err);
  if (!km) fail_msg("alloc: %s", err.msg);
  if (fpk_km_simulate(km, m, init, sim)) fail_msg("simulate: %s", fpk_km_error(km)->msg);
  return km;
}

static void km_result(fpk_km *km, fpk_km_correction c, const fpk_model *truth,
                      fpk_km_result *res) {
  if (fpk_km_compute(km, c, res)) fail_msg("compute: %s", fpk_km_error(km)->msg);
  fpk_error err = {0};
  if (truth && fpk_km_compare(res, truth, &err)) fail_msg("compare: %s", err.msg);
}

/* The drift error of a 1D OU estimate as a regression slope on the bin's mean origin (the error
 * of every estimator of OU's linear drift is c(τ)·x): Σ w x (D1 - b) / Σ w x², w the counts, with
 * its standard error from the bins' intervals. */
static double km_d1_slope(const fpk_km_result *r, double *se) {
  double sxe = 0, sxx = 0, v = 0;
  for (size_t b = 0; b < r->cells; b++)
    if (r->count[b] >= r->min_count) {
      const double w = (double)r->count[b], x = r->x_mean[b];
      const double sb = (r->d1_hi[b] - r->d1_lo[b]) / (2 * FPK_KM_Z95);
      sxe += w * x * (r->d1[b] - r->d1_true[b]);
      sxx += w * x * x;
      v += pow(w * x * sb, 2);
    }
  *se = sqrt(v) / sxx;
  return sxe / sxx;
}

/* Coverage pooled over independent replicates (seeds seed0, seed0 + 1, ...): each replicate's
 * intervals are independent, so R replicates of B bins give R·B Bernoulli trials of the 95%
 * nominal coverage; the issue asks for >= 93%. */
static void coverage_replicates(const fpk_model *m, const fpk_grid *g, double dt, size_t lag,
                                const fpk_gaussian *init, fpk_km_sim sim, const char *what,
                                uint64_t seed0) {
  const size_t R = quick() ? 16 : 12;
  size_t c1 = 0, c2 = 0, n = 0, d = m->dim, P = d * (d + 1) / 2;
  for (size_t rep = 0; rep < R; rep++) {
    sim.seed = seed0 + rep;
    fpk_km *km = km_sim(m, g, dt, lag, 200, init, &sim);
    fpk_km_result r;
    km_result(km, FPK_KM_CORRECTION_FIRST_ORDER, m, &r);
    printf("%s, tau = %g, first-order, seed %llu: %zu valid bins of %zu (windows %zu, outside "
           "%zu); drift covered %zu/%zu = %.3f, diffusion %zu/%zu = %.3f\n", what, r.tau,
           (unsigned long long)sim.seed, r.valid, r.cells, fpk_km_windows(km), fpk_km_outside(km),
           r.d1_covered, d * r.compared, r.d1_coverage, r.d2_covered, P * r.compared,
           r.d2_coverage);
    assert_true(r.valid >= r.cells / 2);
    /* bins with too few windows are NaN and keep their count */
    for (size_t b = 0; b < r.cells; b++)
      if (r.count[b] < r.min_count) assert_true(isnan(r.d1[b]) && isnan(r.d2[b]));
    c1 += r.d1_covered;
    c2 += r.d2_covered;
    n += r.compared;
    fpk_km_result_free(&r);
    fpk_km_free(km);
  }
  const double f1 = (double)c1 / (double)(d * n), f2 = (double)c2 / (double)(P * n);
  printf("%s: pooled over %zu replicates: drift within its 95%% interval in %zu/%zu = %.3f of "
         "the bins, diffusion %zu/%zu = %.3f\n", what, R, c1, d * n, f1, c2, P * n, f2);
  assert_true(f1 >= 0.93);
  assert_true(f2 >= 0.93);
}

/* (a) 1D OU dX = -X dt + dW (D = 1/2), exact transitions: intervals cover the truth. */
static void test_ou_coverage(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1, mu = 0, sig = 1;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(m);
  fpk_grid g = grid1(100, -2, 2);
  const double var0 = 0.5;
  fpk_gaussian init = fpk_test_gaussian(1, &mu, &var0);
  fpk_km_sim sim = {.stepper = fpk_sde_exact_ou, .npaths = quick() ? 1600 : 6400,
                    .nsamples = 400};
  coverage_replicates(m, &g, 0.02, 1, &init, sim, "OU 1D", 11);

  /* At a larger lag (τ = 0.25, θτ = 1/4) the uncorrected drift is biased by
   * c(τ) x = ((e^{-τ} - 1)/τ + 1) x = 0.115 x and most of its intervals miss; the corrected one
   * (bias (2(e^{-τ} - 1)/τ - (e^{-2τ} - 1)/(2τ) + 1) x = 0.017 x, O(τ²)) covers. 20 bins. */
  fpk_grid g20 = grid1(20, -2, 2);
  sim.seed = 12;
  fpk_km *km = km_sim(m, &g20, 0.05, 5, 200, &init, &sim);
  fpk_km_result raw, cor;
  km_result(km, FPK_KM_CORRECTION_NONE, m, &raw);
  km_result(km, FPK_KM_CORRECTION_FIRST_ORDER, m, &cor);
  const double t = raw.tau, craw = (exp(-t) - 1) / t + 1,
               ccor = 2 * (exp(-t) - 1) / t - (exp(-2 * t) - 1) / (2 * t) + 1;
  double se_raw, se_cor;
  const double sraw = km_d1_slope(&raw, &se_raw), scor = km_d1_slope(&cor, &se_cor);
  printf("OU 1D, tau = %g: drift coverage uncorrected %.3f, first-order %.3f over %zu bins; "
         "drift bias slope uncorrected %.4f +- %.4f (closed form %.4f), first-order %.4f +- %.4f "
         "(closed form %.4f)\n", t, raw.d1_coverage, cor.d1_coverage, raw.compared, sraw, se_raw,
         craw, scor, se_cor, ccor);
  assert_true(raw.d1_coverage < 0.6);
  assert_true(cor.d1_coverage >= 0.85);
  assert_true(sraw > 4 * se_raw); /* visibly biased */
  assert_close_abs(sraw, craw, 4 * se_raw);
  assert_close_abs(scor, ccor, 4 * se_cor);
  fpk_km_result_free(&raw);
  fpk_km_result_free(&cor);
  fpk_km_free(km);
  fpk_model_free(m);
}

/* (a) The finite-τ bias of OU against its closed form: E[ΔX | x] = (e^{-θτ} - 1) x and
 * E[ΔX² | x] = σ²(1 - e^{-2θτ})/(2θ) + (e^{-θτ} - 1)² x², at lags τ, 2τ, 4τ. Small noise
 * (σ = 5e-4) and a wide initial law make the sampling error far smaller than the bias; one
 * window per path. The drift bias is measured as the count-weighted regression slope of
 * (estimate - truth) on the bin's mean origin, the diffusion bias as the count-weighted mean
 * error; both are compared with the same weighted averages of the exact conditional moments. */
static double ou_m1(double tau, double x) { return (exp(-tau) - 1) * x; }
static double ou_m2(double tau, double x, double s2) {
  return s2 * (1 - exp(-2 * tau)) / 2 + pow(exp(-tau) - 1, 2) * x * x;
}

static void test_ou_bias_order(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1, mu = 0, sig = 5e-4, s2 = sig * sig;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(m);
  fpk_grid g = grid1(60, -3, 3);
  const double var0 = 1;
  fpk_gaussian init = fpk_test_gaussian(1, &mu, &var0);
  const double taus[3] = {0.05, 0.1, 0.2};
  double b1[2][3], b2[2][3];
  for (size_t l = 0; l < 3; l++) {
    fpk_km_sim sim = {.stepper = fpk_sde_exact_ou, .npaths = quick() ? 20000 : 80000,
                      .nsamples = 2, .seed = 21};
    fpk_km *km = km_sim(m, &g, taus[l], 1, 50, &init, &sim);
    for (int c = 0; c < 2; c++) {
      fpk_km_result r;
      km_result(km, c ? FPK_KM_CORRECTION_FIRST_ORDER : FPK_KM_CORRECTION_NONE, m, &r);
      const double t = r.tau;
      double sxe = 0, sxx = 0, sxe_exact = 0, se = 0, se_exact = 0, sw = 0;
      for (size_t b = 0; b < r.cells; b++) {
        if (r.count[b] < r.min_count) continue;
        const double w = (double)r.count[b], x = r.x_mean[b];
        /* the exact estimator's expectation, uncorrected or Richardson-corrected */
        const double e1 = c ? 2 * ou_m1(t, x) / t - ou_m1(2 * t, x) / (2 * t) : ou_m1(t, x) / t;
        const double e2 = c ? ou_m2(t, x, s2) / t - ou_m2(2 * t, x, s2) / (4 * t)
                            : ou_m2(t, x, s2) / (2 * t);
        sxe += w * x * (r.d1[b] - r.d1_true[b]);
        sxe_exact += w * x * (e1 - (-x));
        sxx += w * x * x;
        se += w * (r.d2[b] - r.d2_true[b]);
        se_exact += w * (e2 - s2 / 2);
        sw += w;
      }
      b1[c][l] = sxe / sxx;
      b2[c][l] = se / sw;
      const double b1x = sxe_exact / sxx, b2x = se_exact / sw;
      printf("OU bias, tau = %.3f, %-11s: drift slope bias %.6e (closed form %.6e), diffusion "
             "bias %.6e (closed form %.6e)\n", t, c ? "first-order" : "none", b1[c][l], b1x,
             b2[c][l], b2x);
      assert_close_rel(b1[c][l], b1x, 0.05);
      assert_close_rel(b2[c][l], b2x, 0.05);
      fpk_km_result_free(&r);
    }
    fpk_km_free(km);
  }
  double a1[3], a2[3];
  for (int c = 0; c < 2; c++) {
    for (size_t l = 0; l < 3; l++) {
      a1[l] = fabs(b1[c][l]);
      a2[l] = fabs(b2[c][l]);
    }
    const double o1 = fpk_test_fit_order(3, taus, a1), o2 = fpk_test_fit_order(3, taus, a2);
    printf("OU bias order in tau, %s: drift %.3f, diffusion %.3f\n",
           c ? "first-order" : "none", o1, o2);
    if (c) {
      assert_in_range_d(o1, 1.8, 2.2);
      assert_in_range_d(o2, 1.8, 2.2);
    } else {
      assert_in_range_d(o1, 0.85, 1.15);
      assert_in_range_d(o2, 0.85, 1.15);
    }
  }
  fpk_model_free(m);
}

/* (b) Double well U = x⁴/4 - x²/2 at β = 2: drift x - x³, D = 1/β = 0.5 (SRA1, weak order 2,
 * 4 steps per sample; 2 under FPK_TEST_QUICK, where the intervals are wider than its O(h²) bias). */
static void test_double_well(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_langevin_params lp = {.beta = 2, .period = 1};
  fpk_model *m = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  if (!m) fail_msg("%s", err.msg);
  fpk_grid g = grid1(100, -2, 2);
  const double m0 = 0, v0 = 1;
  fpk_gaussian init = fpk_test_gaussian(1, &m0, &v0);
  fpk_km_sim sim = {.stepper = fpk_sde_sra1, .npaths = quick() ? 1600 : 6400, .nsamples = 400,
                    .substeps = quick() ? 2 : 4};
  coverage_replicates(m, &g, 0.02, 1, &init, sim, "double well", 31);
  fpk_model_free(m);
}

/* Count-weighted mean of the Pawula ratio Q = M4/(3 M2²) and the fraction of valid bins whose
 * interval covers 1. */
static void pawula_summary(const fpk_km_result *r, double *qmean, double *cover1, double *k4r) {
  double s = 0, w = 0, c = 0, n = 0, kr = 0;
  for (size_t b = 0; b < r->cells; b++)
    if (r->count[b] >= r->min_count) {
      s += (double)r->count[b] * r->pawula[b];
      kr += (double)r->count[b] * r->k4[b] / (r->d2[b] * r->d2[b]);
      w += (double)r->count[b];
      c += r->pawula_lo[b] <= 1 && 1 <= r->pawula_hi[b];
      n += 1;
    }
  *qmean = s / w;
  *cover1 = c / n;
  *k4r = kr / w;
}

/* (c) Pawula: Q ≈ 1 (K4/D2² ≈ τ/2) for a diffusion; Q ≫ 1 for a jump process, generated here:
 * X_{j+1} = X_j - θ X_j dt + σ √dt ξ + J, J = ±a with probability λ dt per step. */
static void test_pawula(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1, mu = 0, sig = 1;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  fpk_grid g = grid1(20, -2, 2);
  const double var0 = 0.5;
  fpk_gaussian init = fpk_test_gaussian(1, &mu, &var0);
  fpk_km_sim sim = {.stepper = fpk_sde_exact_ou, .npaths = quick() ? 640 : 2560,
                    .nsamples = 400, .seed = 41};
  fpk_km *km = km_sim(m, &g, 0.02, 1, 500, &init, &sim);
  fpk_km_result r;
  km_result(km, FPK_KM_CORRECTION_NONE, NULL, &r);
  double q, c1, k4r;
  pawula_summary(&r, &q, &c1, &k4r);
  printf("Pawula, OU (diffusion), tau = %g: mean Q = M4/(3 M2^2) = %.4f, intervals covering 1: "
         "%.3f, mean K4/D2^2 = %.5f (tau/2 = %.3f)\n", r.tau, q, c1, k4r, r.tau / 2);
  assert_close_abs(q, 1, 0.05);
  assert_true(c1 >= 0.85);
  assert_in_range_d(k4r, 0.3 * r.tau, 0.7 * r.tau);
  fpk_km_result_free(&r);
  fpk_km_free(km);

  /* the jump process */
  const size_t np = quick() ? 100 : 400, len = 2001;
  const double dt = 0.01, theta = 1, s = 0.3, lambda = 1, a = 0.5;
  /* jump when a standard normal exceeds the quantile of probability λ dt = 0.01 */
  const double zq = 2.3263478740408408;
  double *x = malloc(np * len * sizeof(double));
  for (size_t p = 0; p < np; p++) {
    x[p * len] = 0;
    for (size_t j = 1; j < len; j++) {
      double z[3];
      fpk_rng_normals(77, p, 3 * j, 3, z);
      const double xp = x[p * len + j - 1];
      const double jump = z[1] > zq ? (z[2] > 0 ? a : -a) : 0;
      x[p * len + j] = xp - theta * xp * dt + s * sqrt(dt) * z[0] + jump;
    }
  }
  fpk_km_params kp = {.dt = dt, .lag = 1, .min_count = 500};
  km = fpk_km_alloc(&g, &kp, &err);
  assert_int_equal(fpk_km_add_paths(km, np, len, x, 0), FPK_SUCCESS);
  km_result(km, FPK_KM_CORRECTION_NONE, NULL, &r);
  pawula_summary(&r, &q, &c1, &k4r);
  /* leading order: Q = (3σ⁴τ² + λτa⁴)/(3(σ²τ + λτa²)²) ≈ 18 */
  const double qx = (3 * pow(s, 4) * dt * dt + lambda * dt * pow(a, 4)) /
                    (3 * pow(s * s * dt + lambda * dt * a * a, 2));
  printf("Pawula, jump process, tau = %g: mean Q = %.3f (leading order %.3f), intervals covering "
         "1: %.3f, mean K4/D2^2 = %.4f over %zu bins\n", r.tau, q, qx, c1, k4r, r.valid);
  assert_true(r.valid >= 8);
  assert_true(c1 == 0);
  assert_in_range_d(q, 0.6 * qx, 1.4 * qx);
  fpk_km_result_free(&r);
  fpk_km_free(km);
  free(x);
  fpk_model_free(m);
}

/* (d) 2D OU dX = -A X dt + B dW with a full B (correlated noise), paths from the exact
 * transition X' = e^{-A dt} X + L ξ (L Lᵀ the transition covariance, fpk_exact_linear_law): the
 * off-diagonal D_01 = ½ (BBᵀ)_01 is estimated within its intervals. */
static void test_ou_2d_correlated(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1, 0.3, -0.2, 0.8}, mu[2] = {0, 0}, B[4] = {0.8, 0, 0.5, 0.6};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
  if (!m) fail_msg("%s", err.msg);
  const double dt = 0.02;
  /* columns of e^{-A dt} from point masses at e_0, e_1; the covariance from a point mass at 0 */
  double E[4], S[4];
  for (size_t j = 0; j < 3; j++) {
    fpk_gaussian p0 = {.dim = 2}, out;
    if (j < 2) p0.mean[j] = 1;
    assert_int_equal(fpk_exact_linear_law(m->linear, &p0, dt, &out, &err), FPK_SUCCESS);
    if (j < 2) {
      E[0 * 2 + j] = out.mean[0];
      E[1 * 2 + j] = out.mean[1];
    } else
      memcpy(S, out.cov, sizeof S);
  }
  const double l00 = sqrt(S[0]), l10 = S[2] / l00, l11 = sqrt(S[3] - l10 * l10);
  const size_t np = quick() ? 800 : 3200, len = 1001;
  double *x = malloc(np * len * 2 * sizeof(double));
  for (size_t p = 0; p < np; p++) {
    double z[2];
    fpk_rng_normals(5, p, 0, 2, z);
    x[p * len * 2] = 0.5 * z[0];
    x[p * len * 2 + 1] = 0.5 * z[1];
    for (size_t j = 1; j < len; j++) {
      fpk_rng_normals(5, p, 3 * j, 2, z);
      const double *xp = x + (p * len + j - 1) * 2;
      double *xn = x + (p * len + j) * 2;
      xn[0] = E[0] * xp[0] + E[1] * xp[1] + l00 * z[0];
      xn[1] = E[2] * xp[0] + E[3] * xp[1] + l10 * z[0] + l11 * z[1];
    }
  }
  const size_t n[2] = {20, 20};
  const double lo[2] = {-1.2, -1.2}, hi[2] = {1.2, 1.2};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  fpk_km_params kp = {.dt = dt, .lag = 1, .min_count = 300};
  fpk_km *km = fpk_km_alloc(&g, &kp, &err);
  assert_int_equal(fpk_km_add_paths(km, np, len, x, 0), FPK_SUCCESS);
  fpk_km_result r;
  km_result(km, FPK_KM_CORRECTION_FIRST_ORDER, m, &r);
  /* the off-diagonal alone, and its count-weighted mean against ½ (BBᵀ)_01 = 0.2 */
  size_t cov01 = 0;
  double s01 = 0, w = 0, v01 = 0;
  for (size_t b = 0; b < r.cells; b++)
    if (r.count[b] >= r.min_count) {
      const double *e = r.d2 + 1 * r.cells;
      cov01 += r.d2_lo[r.cells + b] <= r.d2_true[r.cells + b] &&
               r.d2_true[r.cells + b] <= r.d2_hi[r.cells + b];
      s01 += (double)r.count[b] * e[b];
      const double hw = (r.d2_hi[r.cells + b] - r.d2_lo[r.cells + b]) / (2 * FPK_KM_Z95);
      v01 += pow((double)r.count[b] * hw, 2);
      w += (double)r.count[b];
    }
  const double mean01 = s01 / w, se01 = sqrt(v01) / w;
  printf("2D OU, full B, tau = %g: %zu valid bins; drift covered %.3f (%zu/%zu), diffusion "
         "(00, 01, 11) %.3f (%zu/%zu); D_01 covered in %zu/%zu bins, weighted mean %.5f +- %.5f "
         "(true %.5f)\n", r.tau, r.valid, r.d1_coverage, r.d1_covered, 2 * r.compared,
         r.d2_coverage, r.d2_covered, 3 * r.compared, cov01, r.valid, mean01, se01,
         0.5 * (B[0] * B[2] + B[1] * B[3]));
  assert_true(r.valid >= 200);
  assert_true(r.d1_coverage >= 0.93);
  assert_true(r.d2_coverage >= 0.93);
  assert_true((double)cov01 >= 0.9 * (double)r.valid);
  assert_close_abs(mean01, 0.2, 4 * se01);
  assert_true(se01 < 0.01); /* a wrong factor of 2 (0.4 or 0.1) would be far outside */
  fpk_km_result_free(&r);
  fpk_km_free(km);
  free(x);
  fpk_model_free(m);
}

static int results_identical(const fpk_km_result *a, const fpk_km_result *b) {
  const size_t dn = a->dim * a->cells, pn = a->npairs * a->cells;
  const double *da[] = {a->d1, a->d1_lo, a->d1_hi, a->k4, a->pawula, a->pawula_lo, a->x_mean};
  const double *db[] = {b->d1, b->d1_lo, b->d1_hi, b->k4, b->pawula, b->pawula_lo, b->x_mean};
  for (size_t i = 0; i < sizeof da / sizeof da[0]; i++)
    if (memcmp(da[i], db[i], dn * sizeof(double))) return 0;
  const double *pa[] = {a->d2, a->d2_lo, a->d2_hi}, *pb[] = {b->d2, b->d2_lo, b->d2_hi};
  for (size_t i = 0; i < 3; i++)
    if (memcmp(pa[i], pb[i], pn * sizeof(double))) return 0;
  return memcmp(a->count, b->count, a->cells * sizeof(uint64_t)) == 0;
}

/* (d') The same correlated OU simulated by fpk_km_simulate with Euler–Maruyama, which draws the
 * m = 3 normals per step of a 2 × 3 noise matrix at the engine's stream positions: the paths
 * are those of fpk_mc_run (checked on the recorded last state of path 0 against an independent
 * EM loop over fpk_rng_normals), and D_01 = ½(BBᵀ)_01 is recovered within 4 standard errors. */
static void test_simulate_matrix_noise(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1, 0.3, -0.2, 0.8}, mu[2] = {0, 0}, B[6] = {0.8, 0, 0.3, 0.5, 0.6, -0.2};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 3, B, &err);
  if (!m) fail_msg("%s", err.msg);
  const double D01 = 0.5 * (0.8 * 0.5 + 0.3 * -0.2);
  const size_t n[2] = {12, 12};
  const double lo[2] = {-1.2, -1.2}, hi[2] = {1.2, 1.2};
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  const size_t np = quick() ? 400 : 2000, ns = 400;
  double *rec = malloc(np * (ns + 1) * 2 * sizeof(double));
  fpk_gaussian init = {.dim = 2, .cov = {0.25, 0, 0, 0.25}};
  /* 10 EM substeps per sample: the EM chain's own O(h) bias in D_01, (h/4)(A BBᵀ + BBᵀ Aᵀ)_01
   * = 3.3e-3 at h = 0.02 (its two-step covariance has −h², the SDE's −2h², times that term),
   * is then 3.3e-4, below the standard error. */
  fpk_km_sim sim = {.npaths = np, .nsamples = ns, .substeps = 10, .seed = 17, .nthreads = 2,
                    .record = rec};
  fpk_km *km = km_sim(m, &g, 0.02, 1, 200, &init, &sim);
  /* path 0 by hand: X_0 = 0.5 ξ (positions 0, 1), then EM with positions 3 + 3 s + k */
  double x[2], z[3];
  fpk_rng_normals(17, 0, 0, 2, z);
  x[0] = 0.5 * z[0], x[1] = 0.5 * z[1];
  const double h = 0.002, sh = sqrt(h);
  for (size_t s = 0; s < 10 * ns; s++) {
    fpk_rng_normals(17, 0, 3 + 3 * (uint64_t)s, 3, z);
    const double b0 = -(A[0] * x[0] + A[1] * x[1]), b1 = -(A[2] * x[0] + A[3] * x[1]);
    const double w0 = B[0] * z[0] + B[1] * z[1] + B[2] * z[2];
    const double w1 = B[3] * z[0] + B[4] * z[1] + B[5] * z[2];
    x[0] += h * b0 + sh * w0, x[1] += h * b1 + sh * w1;
  }
  const double *last = rec + ns * 2;
  printf("simulate, 2 x 3 noise: path 0 at t = %g: (%.15g, %.15g), by hand (%.15g, %.15g)\n",
         10 * ns * h, last[0], last[1], x[0], x[1]);
  assert_close_abs(last[0], x[0], 1e-12);
  assert_close_abs(last[1], x[1], 1e-12);
  fpk_km_result r;
  km_result(km, FPK_KM_CORRECTION_FIRST_ORDER, m, &r);
  double s01 = 0, w = 0, v01 = 0;
  for (size_t b = 0; b < r.cells; b++)
    if (r.count[b] >= r.min_count) {
      const double hw = (r.d2_hi[r.cells + b] - r.d2_lo[r.cells + b]) / (2 * FPK_KM_Z95);
      s01 += (double)r.count[b] * r.d2[r.cells + b];
      v01 += pow((double)r.count[b] * hw, 2);
      w += (double)r.count[b];
    }
  const double mean01 = s01 / w, se01 = sqrt(v01) / w;
  printf("simulate, 2 x 3 noise: %zu valid bins, D_01 weighted mean %.5f +- %.5f (true %.5f); "
         "drift covered %.3f, diffusion %.3f\n", r.valid, mean01, se01, D01, r.d1_coverage,
         r.d2_coverage);
  assert_true(r.valid >= 20);
  assert_true(fabs(mean01 - D01) <= 4 * se01);
  assert_true(r.d1_coverage >= 0.85 && r.d2_coverage >= 0.85);
  fpk_km_result_free(&r);
  fpk_km_free(km);
  free(rec);
  fpk_model_free(m);
}

/* (e) paths written to HDF5 ([path][time]) and read back give the estimates of the in-memory
 * paths and of the streaming simulation, bitwise; (f) the thread count changes nothing. */
static void test_hdf5_and_threads(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_langevin_params lp = {.beta = 2, .period = 1};
  fpk_model *m = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  fpk_grid g = grid1(20, -2, 2);
  const double m0 = 0, v0 = 1;
  fpk_gaussian init = fpk_test_gaussian(1, &m0, &v0);
  const size_t np = 300, ns = 200;
  double *rec = malloc(np * (ns + 1) * sizeof(double));
  fpk_km_sim sim = {.stepper = fpk_sde_euler_maruyama, .npaths = np, .nsamples = ns,
                    .substeps = 2, .seed = 3, .nthreads = 1, .record = rec};
  fpk_km *k1 = km_sim(m, &g, 0.02, 2, 20, &init, &sim);
  sim.nthreads = 3;
  sim.record = NULL;
  fpk_km *k3 = km_sim(m, &g, 0.02, 2, 20, &init, &sim);
  fpk_km_params kp = {.dt = 0.02, .lag = 2, .min_count = 20};
  fpk_km *km_mem = fpk_km_alloc(&g, &kp, &err);
  assert_int_equal(fpk_km_add_paths(km_mem, np, ns + 1, rec, 2), FPK_SUCCESS);

  char path[] = "/tmp/fpk_test_km_XXXXXX.h5";
  int fd = mkstemps(path, 3);
  assert_true(fd >= 0);
  close(fd);
  fpk_h5_create_options o = {.force = 1};
  fpk_h5 *f = fpk_h5_create(path, &o, &err);
  if (!f) fail_msg("%s", err.msg);
  const size_t dims[2] = {np, ns + 1};
  assert_int_equal(fpk_h5_write(f, "/x", 2, dims, rec, "1", "paths"), FPK_SUCCESS);
  assert_int_equal(fpk_h5_commit(f), 0);
  fpk_h5_close(f);
  fpk_h5_reader *rd = fpk_h5_reader_open(path, &err);
  assert_non_null(rd);
  double *back = malloc(np * (ns + 1) * sizeof(double));
  assert_int_equal(fpk_h5_read_doubles(rd, "/x", np * (ns + 1), back), FPK_SUCCESS);
  fpk_h5_reader_close(rd);
  unlink(path);
  fpk_km *km_h5 = fpk_km_alloc(&g, &kp, &err);
  assert_int_equal(fpk_km_add_paths(km_h5, np, ns + 1, back, 1), FPK_SUCCESS);

  fpk_km_result r1, r3, rm, rh;
  km_result(k1, FPK_KM_CORRECTION_FIRST_ORDER, NULL, &r1);
  km_result(k3, FPK_KM_CORRECTION_FIRST_ORDER, NULL, &r3);
  km_result(km_mem, FPK_KM_CORRECTION_FIRST_ORDER, NULL, &rm);
  km_result(km_h5, FPK_KM_CORRECTION_FIRST_ORDER, NULL, &rh);
  printf("HDF5 round trip: %zu valid bins; simulate 1 thread == 3 threads: %d, == in-memory "
         "paths: %d, == paths read from HDF5: %d\n", r1.valid, results_identical(&r1, &r3),
         results_identical(&r1, &rm), results_identical(&rm, &rh));
  assert_true(r1.valid >= 10);
  assert_true(results_identical(&r1, &r3));
  assert_true(results_identical(&r1, &rm));
  assert_true(results_identical(&rm, &rh));
  fpk_km_result_free(&r1);
  fpk_km_result_free(&r3);
  fpk_km_result_free(&rm);
  fpk_km_result_free(&rh);
  fpk_km_free(k1);
  fpk_km_free(k3);
  fpk_km_free(km_mem);
  fpk_km_free(km_h5);
  free(rec);
  free(back);
  fpk_model_free(m);
}

/* Bad input: errors on the object, nothing accumulated. */
static void test_bad_input(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_grid g = grid1(10, -1, 1);
  fpk_km_params kp = {.dt = 0.1, .lag = 3};
  fpk_km *km = fpk_km_alloc(&g, &kp, &err);
  double x[7] = {0, 0.1, 0.2, 0.1, 0, -0.1, 0};
  assert_int_equal(fpk_km_add_paths(km, 1, 6, x, 1), FPK_EINVAL);
  assert_non_null(strstr(fpk_km_error(km)->msg, "too short for lag 3"));
  x[4] = NAN;
  assert_int_equal(fpk_km_add_paths(km, 1, 7, x, 1), FPK_ENUMERIC);
  assert_non_null(strstr(fpk_km_error(km)->msg, "sample 4 of path 0"));
  assert_int_equal(fpk_km_windows(km), 0);
  fpk_km_result r;
  assert_int_equal(fpk_km_compute(km, FPK_KM_CORRECTION_NONE, &r), FPK_EINVAL);
  assert_non_null(strstr(fpk_km_error(km)->msg, "no bin has"));
  fpk_km_free(km);
  kp.lag = 0;
  assert_null(fpk_km_alloc(&g, &kp, &err));
  kp.lag = 1;
  kp.dt = -1;
  assert_null(fpk_km_alloc(&g, &kp, &err));
  assert_non_null(strstr(err.msg, "dt = -1"));
  fpk_km_correction c;
  assert_int_equal(fpk_km_correction_parse("second-order", &c), FPK_EINVAL);
  assert_int_equal(fpk_km_correction_parse("first-order", &c), FPK_SUCCESS);
  assert_int_equal(c, FPK_KM_CORRECTION_FIRST_ORDER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ou_coverage),     cmocka_unit_test(test_ou_bias_order),
      cmocka_unit_test(test_double_well),     cmocka_unit_test(test_pawula),
      cmocka_unit_test(test_ou_2d_correlated), cmocka_unit_test(test_simulate_matrix_noise),
      cmocka_unit_test(test_hdf5_and_threads),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
