/* Noising schedules and Gaussian-mixture targets with exact scores (fpkit/diffusion.h,
 * docs/diffusion.md "Schedules and targets"):
 *  - every schedule's a_t, b_t² against its own SDE: d log a/dt = f(t) and db²/dt = 2f b² + g²
 *    (the moment equations of dX = fX dt + g dW), by 6th-order central differences; λ ↔ t round
 *    trips; closed values;
 *  - the mixture's log p_t against a direct multivariate normal density written here; the score
 *    against 6th-order differences of log p_t; the Tweedie mean against (x + b²∇log p)/a and the
 *    posterior covariance against (b²/a²)(I + b²∇²log p) (second-order Tweedie), the Hessian by
 *    differences of the score — in 1D, 2D and 3D with full covariances, under vp-linear, ve,
 *    subvp, vp-cosine and ou, and at t = 0;
 *  - the noised mixture against fpkit's finite-volume Fokker–Planck solver of the forward SDE
 *    (a time-dependent model built from the schedule), with the FV's second order in h;
 *  - bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"
#include "fpkit/fv.h"
#include "fpkit/model.h"

static fpk_schedule *make_schedule(const fpk_schedule_type *type) {
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  fpk_error err = {0};
  fpk_schedule *s = fpk_schedule_alloc(type, &p, &err);
  if (!s) fail_msg("schedule %s: %s", type->name, err.msg);
  return s;
}

/* f′(x) by the 6th-order central difference (error O(h⁶) + rounding/h). */
static double d6(double (*fn)(const fpk_schedule *, double), const fpk_schedule *s, double t,
                 double h) {
  return (-fn(s, t - 3 * h) + 9 * fn(s, t - 2 * h) - 45 * fn(s, t - h) + 45 * fn(s, t + h) -
          9 * fn(s, t + 2 * h) + fn(s, t + 3 * h)) / (60 * h);
}
static double loga(const fpk_schedule *s, double t) { return log(fpk_schedule_mean_coef(s, t)); }

static void test_schedules_solve_their_sde(void **state) {
  (void)state;
  for (size_t k = 0; fpk_schedule_types[k]; k++) {
    fpk_schedule *s = make_schedule(fpk_schedule_types[k]);
    const double T = fpk_schedule_T(s);
    double worst_a = 0, worst_v = 0, worst_l = 0;
    const double ts[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.9};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
      const double t = ts[i] * T, h = 1e-3 * T;
      const double f = fpk_schedule_f(s, t), g2 = fpk_schedule_g2(s, t);
      const double v = fpk_schedule_var(s, t);
      const double ea = fabs(d6(loga, s, t, h) - f) / fmax(fabs(f), 1e-300);
      const double ev = fabs(d6(fpk_schedule_var, s, t, h) - (2 * f * v + g2)) / (2 * fabs(f) * v + g2);
      worst_a = fmax(worst_a, f == 0 ? fabs(d6(loga, s, t, h)) : ea);
      worst_v = fmax(worst_v, ev);
      double tb;
      assert_int_equal(fpk_schedule_t_of_lambda(s, fpk_schedule_lambda(s, t), &tb, NULL), 0);
      worst_l = fmax(worst_l, fabs(tb - t) / t);
      /* λ strictly decreasing */
      assert_true(fpk_schedule_lambda(s, t + h) < fpk_schedule_lambda(s, t));
    }
    print_message("%-10s d log a/dt vs f: %.1e, db2/dt vs 2 f b2 + g2: %.1e, t(lambda(t)): %.1e\n",
                  fpk_schedule_types[k]->name, worst_a, worst_v, worst_l);
    assert_true(worst_a < 1e-9);
    assert_true(worst_v < 1e-9);
    assert_true(worst_l < 1e-12);
    /* the ends: a_0 = 1, b_0 = 0, λ_0 = +∞ ↦ t = 0 */
    assert_close_rel(fpk_schedule_mean_coef(s, 0), 1, 1e-15);
    assert_true(fpk_schedule_var(s, 0) == 0 || fabs(fpk_schedule_var(s, 0)) < 1e-300);
    double t0;
    assert_int_equal(fpk_schedule_t_of_lambda(s, INFINITY, &t0, NULL), 0);
    assert_true(t0 == 0);
    fpk_schedule_free(s);
  }
  /* closed values: vp-linear at T = 1, β 0.1 … 20: a_1 = exp(−(0.1 + 19.9/2)/2) */
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear);
  assert_close_rel(fpk_schedule_mean_coef(s, 1), exp(-0.5 * (0.1 + 0.5 * 19.9)), 1e-15);
  /* b² = 1 − e^{−B} at B = ∫β ≈ 1e-10: −expm1, no cancellation */
  assert_close_rel(fpk_schedule_var(s, 1e-9), -expm1(-(0.1e-9 + 0.5 * 19.9 * 1e-18)), 1e-15);
  fpk_schedule_free(s);
  s = make_schedule(fpk_schedule_ve);
  assert_close_rel(fpk_schedule_var(s, 1), 50.0 * 50.0 - 0.01 * 0.01, 1e-13);
  fpk_schedule_free(s);
  s = make_schedule(fpk_schedule_ou); /* θ = 1, σ = √2: b² = 1 − e^{−2t} */
  assert_close_rel(fpk_schedule_var(s, 0.3), -expm1(-0.6), 1e-15);
  fpk_schedule_free(s);
  s = make_schedule(fpk_schedule_vp_cosine); /* ᾱ(T/2) from its definition */
  const double c0 = cos(0.008 / 1.008 * M_PI / 2), ch = cos((0.5 + 0.008) / 1.008 * M_PI / 2);
  assert_close_rel(fpk_schedule_mean_coef(s, 0.5), ch / c0, 1e-15);
  assert_close_rel(fpk_schedule_var(s, 0.5), 1 - ch * ch / (c0 * c0), 1e-14);
  fpk_schedule_free(s);
}

/* ---- mixtures --------------------------------------------------------------------------- */

static const double w3[3] = {0.2, 0.5, 0.3};
static const double mu1[3] = {-2, 0.5, 2.5}, S1[3] = {0.16, 0.5, 0.09};
static const double mu2[6] = {-1.5, 0.5, 1, -1, 0.5, 2};
static const double S2[12] = {0.5, 0.2, 0.2, 0.3, 0.4, -0.15, -0.15, 0.6, 0.2, 0, 0, 0.8};
static const double mu3[9] = {-1, 0, 1, 1, 1, -1, 0, -1.5, 0.5};
static const double S3[27] = {0.5, 0.1, 0, 0.1, 0.4, 0.05, 0, 0.05, 0.3,
                              0.3, -0.1, 0.05, -0.1, 0.6, 0, 0.05, 0, 0.4,
                              0.8, 0.2, 0.1, 0.2, 0.5, 0.15, 0.1, 0.15, 0.7};

static fpk_gmm *make_gmm(size_t d) {
  fpk_error err = {0};
  fpk_gmm *m = fpk_gmm_alloc(d, 3, w3, d == 1 ? mu1 : d == 2 ? mu2 : mu3,
                             d == 1 ? S1 : d == 2 ? S2 : S3, &err);
  if (!m) fail_msg("gmm: %s", err.msg);
  return m;
}

/* log N(x; m, C) for d <= 3 by cofactors (independent of the library's Cholesky). */
static double det3(size_t d, const double *C) {
  if (d == 1) return C[0];
  if (d == 2) return C[0] * C[3] - C[1] * C[2];
  return C[0] * (C[4] * C[8] - C[5] * C[7]) - C[1] * (C[3] * C[8] - C[5] * C[6]) +
         C[2] * (C[3] * C[7] - C[4] * C[6]);
}
static void inv3(size_t d, const double *C, double *I) {
  const double D = det3(d, C);
  if (d == 1) {
    I[0] = 1 / C[0];
  } else if (d == 2) {
    I[0] = C[3] / D, I[1] = -C[1] / D, I[2] = -C[2] / D, I[3] = C[0] / D;
  } else {
    I[0] = (C[4] * C[8] - C[5] * C[7]) / D, I[1] = (C[2] * C[7] - C[1] * C[8]) / D;
    I[2] = (C[1] * C[5] - C[2] * C[4]) / D, I[3] = (C[5] * C[6] - C[3] * C[8]) / D;
    I[4] = (C[0] * C[8] - C[2] * C[6]) / D, I[5] = (C[2] * C[3] - C[0] * C[5]) / D;
    I[6] = (C[3] * C[7] - C[4] * C[6]) / D, I[7] = (C[1] * C[6] - C[0] * C[7]) / D;
    I[8] = (C[0] * C[4] - C[1] * C[3]) / D;
  }
}
static double direct_log_p(size_t d, double a, double b2, const double *x) {
  const double *mu = d == 1 ? mu1 : d == 2 ? mu2 : mu3, *S = d == 1 ? S1 : d == 2 ? S2 : S3;
  double p = 0;
  for (size_t k = 0; k < 3; k++) {
    double C[9], I[9], df[3], q = 0;
    for (size_t i = 0; i < d * d; i++) C[i] = a * a * S[k * d * d + i];
    for (size_t i = 0; i < d; i++) C[i * d + i] += b2, df[i] = x[i] - a * mu[k * d + i];
    inv3(d, C, I);
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) q += df[i] * I[i * d + j] * df[j];
    p += w3[k] * exp(-0.5 * q) / sqrt(pow(2 * M_PI, (double)d) * det3(d, C));
  }
  return log(p);
}

static void check_point(const fpk_gmm *m, const fpk_schedule *s, double t, const double *x,
                        double *worst) {
  const size_t d = fpk_gmm_dim(m);
  double l, sc[3], den[3], cov[9];
  assert_int_equal(fpk_gmm_eval(m, s, t, 1, x, &l, sc, den, cov, NULL), 0);
  const double a = s ? fpk_schedule_mean_coef(s, t) : 1, b2 = s && t > 0 ? fpk_schedule_var(s, t) : 0;
  worst[0] = fmax(worst[0], fabs(l - direct_log_p(d, a, b2, x)) / fabs(l));
  /* score vs differences of log p: the 6th-order central difference at h and h/2, Richardson-
   * extrapolated to 8th order (truncation ~h⁸, rounding ~1e-16/h); the Hessian from 6th-order
   * differences of the score */
  double H[9], xs[3], scn = 0, ers = 0;
  const double h = 1e-2;
  for (size_t c = 0; c < d; c++) {
    double v[2][6], sv[6][3];
    const double off[6] = {-3, -2, -1, 1, 2, 3};
    for (int r = 0; r < 2; r++)
      for (int q = 0; q < 6; q++) {
        memcpy(xs, x, d * sizeof(double));
        xs[c] += off[q] * (r ? h / 2 : h);
        double lq;
        assert_int_equal(fpk_gmm_eval(m, s, t, 1, xs, &lq, r ? sv[q] : NULL, NULL, NULL, NULL), 0);
        v[r][q] = lq;
      }
    double D[2];
    for (int r = 0; r < 2; r++)
      D[r] = (-v[r][0] + 9 * v[r][1] - 45 * v[r][2] + 45 * v[r][3] - 9 * v[r][4] + v[r][5]) /
             (60 * (r ? h / 2 : h));
    const double fd = (64 * D[1] - D[0]) / 63;
    ers += (fd - sc[c]) * (fd - sc[c]), scn += sc[c] * sc[c];
    for (size_t e = 0; e < d; e++)
      H[e * d + c] = (-sv[0][e] + 9 * sv[1][e] - 45 * sv[2][e] + 45 * sv[3][e] - 9 * sv[4][e] +
                      sv[5][e]) / (60 * (h / 2));
  }
  worst[1] = fmax(worst[1], sqrt(ers / fmax(scn, 1e-30)));
  if (s && t > 0) {
    /* Tweedie: E[x0 | x] = (x + b² ∇log p)/a; Cov = (b²/a²)(I + b² ∇²log p) */
    double ed = 0, nd = 0, ec = 0, nc = 0;
    for (size_t c = 0; c < d; c++) {
      const double tw = (x[c] + b2 * sc[c]) / a;
      ed += (den[c] - tw) * (den[c] - tw), nd += tw * tw;
      for (size_t e = 0; e < d; e++) {
        const double cv = b2 / (a * a) * ((c == e) + b2 * 0.5 * (H[c * d + e] + H[e * d + c]));
        ec += (cov[c * d + e] - cv) * (cov[c * d + e] - cv), nc += cv * cv;
      }
    }
    worst[2] = fmax(worst[2], sqrt(ed / nd));
    worst[3] = fmax(worst[3], sqrt(ec / nc));
  }
}

static void test_gmm_exact_fields(void **state) {
  (void)state;
  const fpk_schedule_type *types[] = {fpk_schedule_vp_linear, fpk_schedule_ve,
                                      fpk_schedule_subvp, fpk_schedule_vp_cosine, fpk_schedule_ou};
  for (size_t d = 1; d <= 3; d++) {
    fpk_gmm *m = make_gmm(d);
    double worst[4] = {0};
    const double pts[4][3] = {{-1.7, 0.3, 0.9}, {0.2, -0.4, 1.1}, {2.4, 1.5, -0.8}, {0.9, -2, 0}};
    for (int q = 0; q < 4; q++) check_point(m, NULL, 0, pts[q], worst);
    for (size_t k = 0; k < 5; k++) {
      fpk_schedule *s = make_schedule(types[k]);
      const double ts[3] = {0.05, 0.3, 0.7};
      for (int i = 0; i < 3; i++)
        for (int q = 0; q < 4; q++) check_point(m, s, ts[i] * fpk_schedule_T(s), pts[q], worst);
      fpk_schedule_free(s);
    }
    print_message("%zuD: log p vs direct %.1e, score vs differences %.1e, Tweedie mean %.1e, "
                  "posterior covariance vs Hessian %.1e\n", d, worst[0], worst[1], worst[2],
                  worst[3]);
    assert_true(worst[0] < 1e-13);
    assert_true(worst[1] < 1e-11);
    assert_true(worst[2] < 1e-12);
    assert_true(worst[3] < 1e-9);
    fpk_gmm_free(m);
  }
}

/* Batches: the same numbers as one point at a time, and the density integrates to 1 (1D). */
static void test_gmm_batch_and_mass(void **state) {
  (void)state;
  fpk_gmm *m = make_gmm(1);
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear);
  const size_t n = 8001;
  double *x = malloc(n * sizeof(double)), *l = malloc(n * sizeof(double));
  double *sc = malloc(n * sizeof(double));
  const double lo = -12, h = 24.0 / (double)(n - 1);
  for (size_t i = 0; i < n; i++) x[i] = lo + (double)i * h;
  assert_int_equal(fpk_gmm_eval(m, s, 0.4, n, x, l, sc, NULL, NULL, NULL), 0);
  double mass = 0;
  for (size_t i = 0; i < n; i++) mass += exp(l[i]) * h;
  print_message("1D mass at t = 0.4 (trapezoid on [-12, 12]): 1 + %.1e\n", mass - 1);
  assert_close_abs(mass, 1, 1e-12);
  for (size_t i = 0; i < n; i += 997) {
    double l1, s1;
    assert_int_equal(fpk_gmm_eval(m, s, 0.4, 1, x + i, &l1, &s1, NULL, NULL, NULL), 0);
    assert_true(l1 == l[i] && s1 == sc[i]);
  }
  /* far from every component: finite log p and score (log-sum-exp, no underflow) */
  double xf = 1e3, lf, sf;
  assert_int_equal(fpk_gmm_eval(m, NULL, 0, 1, &xf, &lf, &sf, NULL, NULL, NULL), 0);
  assert_true(isfinite(lf) && isfinite(sf) && sf < 0);
  free(x), free(l), free(sc);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
}

/* ---- against the FP solver -------------------------------------------------------------- */

static int sched_drift(double t, size_t n, const double *x, double *out, void *user) {
  const double f = fpk_schedule_f(user, t);
  for (size_t i = 0; i < n; i++) out[i] = f * x[i];
  return 0;
}
static int sched_noise(double t, size_t n, const double *x, double *out, void *user) {
  (void)x;
  const double g = sqrt(fpk_schedule_g2(user, t));
  for (size_t i = 0; i < n; i++) out[i] = g;
  return 0;
}

/* L1 between the FV solution of dX = f(t)X dt + g(t) dW from the mixture (cell-centre density)
 * and the exact noised mixture at t, on n cells of [−8, 8]. */
static double fv_l1(const fpk_gmm *m, fpk_schedule *s, size_t n, double t) {
  size_t nn[1] = {n};
  double lo[1] = {-8}, hi[1] = {8};
  fpk_grid g = fpk_test_grid(1, nn, lo, hi);
  fpk_model model = {.name = "vp", .dim = 1, .drift = sched_drift, .noise = sched_noise,
                     .params = s, .flags = FPK_MODEL_ADDITIVE};
  double *x = malloc(n * sizeof(double)), *l = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = fpk_grid_center(&g, 0, i);
  assert_int_equal(fpk_gmm_eval(m, NULL, 0, n, x, l, NULL, NULL, NULL, NULL), 0);
  for (size_t i = 0; i < n; i++) l[i] = exp(l[i]);
  fpk_error err = {0};
  fpk_fv *fv = fpk_fv_alloc(&g, &model, fpk_fv_tr_bdf2, 2e-4, &err);
  if (!fv) fail_msg("fv: %s", err.msg);
  assert_int_equal(fpk_fv_set_density(fv, 0, l), 0);
  if (fpk_fv_evolve(fv, t)) fail_msg("evolve: %s", fpk_fv_errmsg(fv));
  const double *p = fpk_fv_density(fv);
  assert_int_equal(fpk_gmm_eval(m, s, t, n, x, l, NULL, NULL, NULL, NULL), 0);
  double e = 0;
  for (size_t i = 0; i < n; i++) e += fabs(p[i] - exp(l[i])) * g.h[0];
  fpk_fv_free(fv);
  free(x), free(l);
  return e;
}

static void test_gmm_against_fv(void **state) {
  (void)state;
  fpk_gmm *m = make_gmm(1);
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear);
  const double e1 = fv_l1(m, s, 200, 0.3), e2 = fv_l1(m, s, 400, 0.3);
  const double order = log2(e1 / e2);
  print_message("vp-linear t = 0.3, FV (TR-BDF2, dt 2e-4) vs the exact noised mixture: L1 %.2e "
                "(200 cells), %.2e (400 cells), order %.2f\n", e1, e2, order);
  assert_true(e2 < 2e-3);
  assert_true(order > 1.7 && order < 2.4);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
}

/* Accessors: the constructor's layout, weights as stored (normalised), and the views. */
static void test_gmm_accessors(void **state) {
  (void)state;
  const double w[3] = {0.2, 0.3, 0.5 - 4e-13}; /* sums to 1 − 4e-13: accepted, normalised */
  const double mu[6] = {-1, 0.5, 2, -0.25, 0.75, 3};
  const double S[12] = {0.4, 0.1, 0.1, 0.3, 1, -0.2, -0.2, 0.5, 0.7, 0, 0, 0.2};
  fpk_error err = {0};
  fpk_gmm *g = fpk_gmm_alloc(2, 3, w, mu, S, &err);
  assert_non_null(g);
  assert_int_equal(fpk_gmm_dim(g), 2);
  assert_int_equal(fpk_gmm_size(g), 3);
  assert_int_equal(fpk_gmm_components(g), 3);
  const double *gw = fpk_gmm_weights(g), *gm = fpk_gmm_means(g), *gS = fpk_gmm_covs(g);
  double sw = 0;
  for (int k = 0; k < 3; k++) {
    assert_close_rel(gw[k], w[k] / (1 - 4e-13), 1e-15);
    sw += gw[k];
  }
  assert_close_rel(sw, 1, 2e-16);
  assert_memory_equal(gm, mu, sizeof mu);
  assert_memory_equal(gS, S, sizeof S);
  /* a copy built from the accessors is the same mixture: same log p at a few points */
  fpk_gmm *h = fpk_gmm_alloc(fpk_gmm_dim(g), fpk_gmm_size(g), gw, gm, gS, &err);
  assert_non_null(h);
  const double x[8] = {-1, 0, 1, 2.5, 0.3, -0.2, 0.7, 3};
  double l1[4], l2[4];
  assert_int_equal(fpk_gmm_eval(g, NULL, 0, 4, x, l1, NULL, NULL, NULL, &err), 0);
  assert_int_equal(fpk_gmm_eval(h, NULL, 0, 4, x, l2, NULL, NULL, NULL, &err), 0);
  for (int i = 0; i < 4; i++) assert_close_rel(l1[i], l2[i], 1e-15);
  fpk_gmm_free(h);
  /* the fpk_ddpm_mixture view points at the same arrays */
  const fpk_ddpm_mixture v = fpk_gmm_mixture_view(g);
  assert_int_equal(v.dim, 2);
  assert_int_equal(v.K, 3);
  assert_ptr_equal(v.weights, gw);
  assert_ptr_equal(v.means, gm);
  assert_ptr_equal(v.covs, gS);
  fpk_gmm_free(g);
  /* 1D: the covariances are the variances fpk_gmm1d_cdf takes; samples through the view equal
   * those from the raw arrays bitwise */
  const double w1[2] = {0.25, 0.75}, m1[2] = {-1, 1}, v1[2] = {0.3, 0.6};
  fpk_gmm *g1 = fpk_gmm_alloc(1, 2, w1, m1, v1, &err);
  assert_non_null(g1);
  double F1[3], F2[3];
  const double xs[3] = {-2, 0.1, 1.5};
  assert_int_equal(fpk_gmm1d_cdf(2, w1, m1, v1, NULL, 0, 3, xs, F1, NULL, &err), 0);
  assert_int_equal(fpk_gmm1d_cdf(fpk_gmm_size(g1), fpk_gmm_weights(g1), fpk_gmm_means(g1),
                                 fpk_gmm_covs(g1), NULL, 0, 3, xs, F2, NULL, &err), 0);
  assert_memory_equal(F1, F2, sizeof F1);
  const fpk_ddpm_mixture raw = {1, 2, w1, m1, v1}, view = fpk_gmm_mixture_view(g1);
  double s1[64], s2[64];
  assert_int_equal(fpk_ddpm_mixture_sample(&raw, NULL, 0, 64, 9, 0, s1, &err), 0);
  assert_int_equal(fpk_ddpm_mixture_sample(&view, NULL, 0, 64, 9, 0, s2, &err), 0);
  assert_memory_equal(s1, s2, sizeof s1);
  fpk_gmm_free(g1);
}

/* fpk_gmm_cell_probs against exact cell probabilities: in 1D the CDF differences; in 2D a
 * mixture of axis-aligned components, whose cell probabilities are products of 1D CDF
 * differences (exact), on a grid whose cells are as wide as the narrowest component's standard
 * deviation (the widest `fpkit sample` admits). The quadrature must hold 1e-7 relative on every
 * cell with mass above 1e-6; the midpoint rule (density × volume) misses by ~4%, so the check
 * fails for it. Also: Σ P = the mass inside the box, and the noised law (vp-linear, t = 0.3). */
static double Phi(double z) { return 0.5 * erfc(-z / sqrt(2)); }

static void test_gmm_cell_probs(void **state) {
  (void)state;
  fpk_error err = {0};
  const double w[2] = {0.4, 0.6}, mu[4] = {-1, 0.5, 1.2, -0.3};
  const double sd[4] = {0.3, 0.5, 0.6, 0.4}; /* component k, axis c: sd[2k + c] */
  double S[8] = {0};
  for (int k = 0; k < 2; k++) S[4 * k] = sd[2 * k] * sd[2 * k], S[4 * k + 3] = sd[2 * k + 1] * sd[2 * k + 1];
  fpk_gmm *m = fpk_gmm_alloc(2, 2, w, mu, S, &err);
  assert_non_null(m);
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *vp = fpk_schedule_alloc(fpk_schedule_vp_linear, &sp, &err);
  assert_non_null(vp);
  const size_t n[2] = {40, 40};
  const double lo[2] = {-3, -2.5}, hi[2] = {3, 2.5};
  fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  fpk_grid g;
  assert_int_equal(fpk_grid_init(&g, 2, n, lo, hi, bc, &err), 0);
  assert_true(g.h[0] >= 0.15 && g.h[0] <= 0.3 && g.h[1] <= 0.3); /* h <= the narrowest sd */
  double *P = malloc(g.size * sizeof(double)), *Pm = malloc(g.size * sizeof(double));
  const double ts[2] = {0, 0.3};
  for (int it = 0; it < 2; it++) {
    const double t = ts[it];
    const double a = t > 0 ? fpk_schedule_mean_coef(vp, t) : 1, b2 = t > 0 ? fpk_schedule_var(vp, t) : 0;
    assert_int_equal(fpk_gmm_cell_probs(m, t > 0 ? vp : NULL, t, &g, P, &err), 0);
    double worst = 0, worst_mid = 0, sum = 0, inside = 0;
    for (int k = 0; k < 2; k++) {
      double pk = w[k];
      for (int c = 0; c < 2; c++) {
        const double v = sqrt(a * a * sd[2 * k + c] * sd[2 * k + c] + b2);
        pk *= Phi((hi[c] - a * mu[2 * k + c]) / v) - Phi((lo[c] - a * mu[2 * k + c]) / v);
      }
      inside += pk;
    }
    for (size_t i = 0; i < g.size; i++) {
      double x[2];
      fpk_grid_point(&g, i, x);
      double ex = 0, dens = 0;
      for (int k = 0; k < 2; k++) {
        double pk = w[k], dk = w[k];
        for (int c = 0; c < 2; c++) {
          const double v = sqrt(a * a * sd[2 * k + c] * sd[2 * k + c] + b2), m0 = a * mu[2 * k + c];
          const double e0 = x[c] - 0.5 * g.h[c], e1 = x[c] + 0.5 * g.h[c];
          pk *= Phi((e1 - m0) / v) - Phi((e0 - m0) / v);
          dk *= exp(-0.5 * (x[c] - m0) * (x[c] - m0) / (v * v)) / (v * sqrt(2 * M_PI));
        }
        ex += pk, dens += dk;
      }
      Pm[i] = dens * g.cell_volume;
      sum += P[i];
      if (ex > 1e-6) {
        worst = fmax(worst, fabs(P[i] - ex) / ex);
        worst_mid = fmax(worst_mid, fabs(Pm[i] - ex) / ex);
      }
    }
    printf("  2D cell probabilities, t = %g: quadrature max rel error %.2e, midpoint %.2e; "
           "sum %.15f vs mass inside %.15f\n", t, worst, worst_mid, sum, inside);
    assert_true(worst < 1e-7);
    assert_true(worst_mid > 1e-2); /* the rule it replaced: the check can tell them apart */
    assert_close_rel(sum, inside, 1e-9);
  }
  /* 1D: CDF differences, and a dimension mismatch refused */
  fpk_gmm *m1 = fpk_gmm_alloc(1, 2, w, mu, (double[]){0.09, 0.36}, &err);
  const size_t n1[1] = {50};
  const double lo1[1] = {-4}, hi1[1] = {4};
  fpk_grid g1;
  assert_int_equal(fpk_grid_init(&g1, 1, n1, lo1, hi1, bc, &err), 0);
  assert_int_equal(fpk_gmm_cell_probs(m1, NULL, 0, &g1, P, &err), 0);
  for (size_t i = 0; i < 50; i++) {
    const double e0 = -4 + 0.16 * (double)i, e1 = e0 + 0.16;
    const double ex = 0.4 * (Phi((e1 + 1) / 0.3) - Phi((e0 + 1) / 0.3)) +
                      0.6 * (Phi((e1 - 0.5) / 0.6) - Phi((e0 - 0.5) / 0.6));
    assert_true(fabs(P[i] - ex) <= 1e-15 + 1e-12 * ex);
  }
  assert_int_equal(fpk_gmm_cell_probs(m1, NULL, 0, &g, P, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "fpk_gmm_cell_probs"));
  free(P), free(Pm);
  fpk_gmm_free(m1);
  fpk_gmm_free(m);
  fpk_schedule_free(vp);
}

static void test_bad_input(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  p.beta_min = -0.1;
  assert_null(fpk_schedule_alloc(fpk_schedule_vp_linear, &p, &err));
  assert_non_null(strstr(err.msg, "beta_min = -0.1"));
  fpk_schedule_params_init(&p);
  p.beta_max = 0.05; /* below β_min: β decreasing */
  assert_null(fpk_schedule_alloc(fpk_schedule_subvp, &p, &err));
  assert_non_null(strstr(err.msg, "increasing"));
  fpk_schedule_params_init(&p);
  p.sigma_max = 0.005;
  assert_null(fpk_schedule_alloc(fpk_schedule_ve, &p, &err));
  assert_non_null(strstr(err.msg, "sigma_min"));
  assert_null(fpk_schedule_find("nope"));
  assert_ptr_equal(fpk_schedule_find("vp-cosine"), fpk_schedule_vp_cosine);
  const double w[2] = {0.5, 0.49}, mu[2] = {0, 1}, S[2] = {1, 1}, Sbad[2] = {1, -0.1};
  assert_null(fpk_gmm_alloc(1, 2, w, mu, S, &err));
  print_message("%s\n", err.msg);
  assert_non_null(strstr(err.msg, "off 1 by -0.01"));
  const double w2[2] = {0.5, 0.5};
  assert_null(fpk_gmm_alloc(1, 2, w2, mu, Sbad, &err));
  assert_non_null(strstr(err.msg, "covariance 2 is not positive definite"));
  const double Sns[8] = {1, 0.3, 0.2, 1, 1, 0, 0, 1}, mu2d[4] = {0, 0, 1, 1};
  assert_null(fpk_gmm_alloc(2, 2, w2, mu2d, Sns, &err));
  assert_non_null(strstr(err.msg, "not symmetric"));
  fpk_gmm *m = fpk_gmm_alloc(1, 2, w2, mu, S, &err);
  fpk_schedule *s = make_schedule(fpk_schedule_vp_linear);
  double x = 0, l;
  assert_int_equal(fpk_gmm_eval(m, s, 1.5, 1, &x, &l, NULL, NULL, NULL, &err), FPK_EINVAL);
  assert_int_equal(fpk_schedule_t_of_lambda(s, -100, &x, &err), FPK_EINVAL);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_gmm_accessors),
      cmocka_unit_test(test_gmm_cell_probs),
      cmocka_unit_test(test_schedules_solve_their_sde),
      cmocka_unit_test(test_gmm_exact_fields),
      cmocka_unit_test(test_gmm_batch_and_mass),
      cmocka_unit_test(test_gmm_against_fv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
