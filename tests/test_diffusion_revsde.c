/* Reverse-time SDE samplers and the DDPM chain (fpkit/diffusion.h, docs/diffusion.md "Reverse-time
 * SDE samplers and the DDPM chain"), each against the exact noised mixture:
 *  - reverse-em on a 1D two-mode mixture under vp-linear, from exact samples of p_{t_max}: the KS
 *    distance to the exact p_{t_min} (closed-form CDF by erfc) falls with N, and the bias of
 *    E[X²] (exact for the mixture) gives the fitted weak order ≈ 1;
 *  - pc against reverse-em at equal NFE (measured, printed);
 *  - ancestral sampling with the exact reverse transitions: mean, E[X²] and KS of the chain's
 *    marginal at t_min are the exact ones within their standard errors for every step count, in
 *    1D and 2D; Ho et al.'s Gaussian transitions from the score are not exact and converge;
 *  - 2D: grid TV of reverse-em to the exact p_{t_min} falls with N;
 *  - the DDPM chain's negative ELBO: for Gaussian data every term has a closed form (the MC
 *    mmse has zero variance there); for the mixture the Monte Carlo terms against 1D quadrature,
 *    the discrete sum above its continuous I-MMSE limit and converging at order 1, both above h(p_0);
 *  - bitwise reproducibility for 1 and 2 threads; bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/diffusion.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0");
}

/* 1D two-mode mixture with unequal weights and variances */
static const double W1[2] = {0.3, 0.7}, MU1[2] = {-2, 1.5}, S1[2] = {0.25, 0.5};
static const fpk_ddpm_mixture MIX1 = {1, 2, W1, MU1, S1};
/* 2D, two components with full covariances */
static const double W2[2] = {0.4, 0.6}, MU2[4] = {-1.5, 0.5, 1.2, -0.8};
static const double S2[8] = {0.4, 0.15, 0.15, 0.3, 0.5, -0.2, -0.2, 0.6};
static const fpk_ddpm_mixture MIX2 = {2, 2, W2, MU2, S2};

static fpk_schedule *vp(void) {
  fpk_schedule_params p;
  fpk_schedule_params_init(&p);
  fpk_error err = {0};
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_vp_linear, &p, &err);
  if (!s) fail_msg("%s", err.msg);
  return s;
}

static fpk_gmm *gmm_of(const fpk_ddpm_mixture *m) {
  fpk_error err = {0};
  fpk_gmm *g = fpk_gmm_alloc(m->dim, m->K, m->weights, m->means, m->covs, &err);
  if (!g) fail_msg("%s", err.msg);
  return g;
}

/* exact 1D moments and CDF of p_t */
static void mix1_at(const fpk_schedule *s, double t, double *a, double *b2) {
  *a = fpk_schedule_mean_coef(s, t), *b2 = fpk_schedule_var(s, t);
}
static double mix1_cdf(const fpk_schedule *s, double t, double x) {
  double a, b2, F = 0;
  mix1_at(s, t, &a, &b2);
  for (int k = 0; k < 2; k++)
    F += W1[k] * 0.5 * erfc(-(x - a * MU1[k]) / sqrt(2 * (a * a * S1[k] + b2)));
  return F;
}
static double mix1_m2(const fpk_schedule *s, double t) {
  double a, b2, m = 0;
  mix1_at(s, t, &a, &b2);
  for (int k = 0; k < 2; k++) m += W1[k] * (a * a * (MU1[k] * MU1[k] + S1[k]) + b2);
  return m;
}
static double mix1_m1(const fpk_schedule *s, double t) {
  double a, b2, m = 0;
  mix1_at(s, t, &a, &b2);
  for (int k = 0; k < 2; k++) m += W1[k] * a * MU1[k];
  return m;
}

static int cmp_d(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double ks_1d(const fpk_schedule *s, double t, size_t n, double *x) {
  qsort(x, n, sizeof *x, cmp_d);
  double D = 0;
  for (size_t i = 0; i < n; i++) {
    const double F = mix1_cdf(s, t, x[i]);
    D = fmax(D, fmax(fabs(F - (double)i / n), fabs((double)(i + 1) / n - F)));
  }
  return D;
}
static void mean_var(size_t n, const double *y, double *m, double *se) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) s += y[i];
  *m = s / n;
  for (size_t i = 0; i < n; i++) s2 += (y[i] - *m) * (y[i] - *m);
  *se = sqrt(s2 / (n - 1) / n);
}

/* n paths of `type` from exact samples of p_{t_max} (seed 11) to t_min (seed 12). */
static double *run(const fpk_revsde_type *type, const fpk_schedule *s, const fpk_ddpm_mixture *m,
                   const fpk_revsde_params *p, size_t n) {
  double *x = malloc(m->dim * n * sizeof *x);
  fpk_error err = {0};
  const double tmax = p->t_max == 0 ? fpk_schedule_T(s) : p->t_max;
  assert_int_equal(fpk_ddpm_mixture_sample(m, s, tmax, n, 11, 0, x, &err), 0);
  fpk_gmm *g = gmm_of(m);
  fpk_gmm_score_ctx ctx = {g, s};
  size_t nfe = 0;
  if (fpk_revsde_sample(type, s, fpk_gmm_score_cb, &ctx, p, m->dim, n, x, &nfe, &err))
    fail_msg("%s", err.msg);
  fpk_gmm_free(g);
  return x;
}

static const double TMIN = 0.01;

/* reverse-em, 1D: KS to the exact p_{t_min} and the bias of E[X²], against N; fitted weak order. */
static void test_reverse_em_1d(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  const int q = quick();
  const size_t n = q ? 20000 : 400000;
  const size_t Ns[] = {8, 16, 32, 64};
  const size_t L = q ? 2 : 4;
  double h[4], bias[4], ks[4], se[4];
  const double m2 = mix1_m2(s, TMIN);
  double *y = malloc(n * sizeof *y);
  for (size_t l = 0; l < L; l++) {
    fpk_revsde_params p;
    fpk_revsde_params_init(&p);
    p.nsteps = Ns[l], p.t_min = TMIN, p.seed = 12;
    double *x = run(fpk_revsde_em, s, &MIX1, &p, n);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
    double mm;
    mean_var(n, y, &mm, &se[l]);
    h[l] = 1.0 / Ns[l], bias[l] = mm - m2, ks[l] = ks_1d(s, TMIN, n, x);
    print_message("reverse-em N = %3zu: E[X^2] bias %+.4e (SE %.1e), KS %.4f\n", Ns[l], bias[l],
                  se[l], ks[l]);
    free(x);
  }
  for (size_t l = 0; l + 1 < L; l++) assert_true(ks[l + 1] < ks[l]);
  for (size_t l = 0; l < L; l++) bias[l] = fabs(bias[l]);
  if (!q) {
    /* the bias must stand above the Monte Carlo noise at every level for the fit to mean much */
    for (size_t l = 0; l < L; l++) assert_true(bias[l] > 5 * se[l]);
    const double order = fpk_test_fit_order(L, h, bias);
    print_message("reverse-em fitted weak order (E[X^2], N = 8..64): %.3f\n", order);
    assert_in_range_d(order, 0.7, 1.4);
    /* KS at N = 64 is still above the sampling floor (~0.87/sqrt(n) = 1.4e-3): a real bias */
    assert_true(ks[L - 1] > 3e-3 && ks[L - 1] < 0.02);
  }
  free(y);
  fpk_schedule_free(s);
}

/* pc (N steps, M = 1: 2N NFE) against reverse-em with 2N steps (2N NFE). */
static void test_pc_vs_em(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  const size_t n = quick() ? 20000 : 200000;
  const double m2 = mix1_m2(s, TMIN);
  double *y = malloc(n * sizeof *y);
  const size_t Ns[] = {8, 16, 32};
  for (size_t l = 0; l < 3; l++) {
    double ksv[2], bv[2];
    for (int which = 0; which < 2; which++) {
      fpk_revsde_params p;
      fpk_revsde_params_init(&p);
      p.t_min = TMIN, p.seed = 13, p.snr = 0.16;
      p.nsteps = which ? Ns[l] : 2 * Ns[l];
      double *x = run(which ? fpk_revsde_pc : fpk_revsde_em, s, &MIX1, &p, n);
      for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
      double mm, se;
      mean_var(n, y, &mm, &se);
      bv[which] = mm - m2, ksv[which] = ks_1d(s, TMIN, n, x);
      free(x);
    }
    print_message("NFE %3zu: reverse-em KS %.4f bias E[X^2] %+.4f | pc (r = 0.16) KS %.4f bias "
                  "%+.4f\n", 2 * Ns[l], ksv[0], bv[0], ksv[1], bv[1]);
  }
  free(y);
  fpk_schedule_free(s);
}

/* ancestral with exact transitions: the chain's marginal at t_min is exactly p_{t_min}. */
static void test_ancestral_exact(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  const size_t n = quick() ? 20000 : 200000;
  const size_t Ns[] = {1, 3, 10, 50};
  const double m1 = mix1_m1(s, TMIN), m2 = mix1_m2(s, TMIN);
  double *y = malloc(n * sizeof *y);
  for (size_t l = 0; l < 4; l++) {
    fpk_revsde_params p;
    fpk_revsde_params_init(&p);
    p.nsteps = Ns[l], p.t_min = TMIN, p.seed = 14, p.exact = &MIX1;
    double *x = run(fpk_revsde_ancestral, s, &MIX1, &p, n);
    double a1, s1, a2, s2;
    mean_var(n, x, &a1, &s1);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
    mean_var(n, y, &a2, &s2);
    const double ks = ks_1d(s, TMIN, n, x);
    print_message("ancestral exact N = %2zu: mean %+.2f SE, E[X^2] %+.2f SE, KS sqrt(n) = %.3f\n",
                  Ns[l], (a1 - m1) / s1, (a2 - m2) / s2, ks * sqrt((double)n));
    assert_true(fabs(a1 - m1) < 4 * s1);
    assert_true(fabs(a2 - m2) < 4 * s2);
    assert_true(ks * sqrt((double)n) < 1.95); /* the KS test's 0.1% level */
    free(x);
    /* Ho et al.'s Gaussian transitions from the exact score are not exact: E[X²] is off */
    p.exact = NULL;
    x = run(fpk_revsde_ancestral, s, &MIX1, &p, n);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i];
    mean_var(n, y, &a2, &s2);
    print_message("ancestral Ho p_theta N = %2zu: E[X^2] bias %+.4f (SE %.1e), KS %.4f\n", Ns[l],
                  a2 - m2, s2, ks_1d(s, TMIN, n, x));
    if (Ns[l] <= 10 && !quick()) assert_true(fabs(a2 - m2) > 6 * s2);
    free(x);
  }
  /* 2D, N = 5: mean and second moments of both coordinates exact within 4 SE */
  {
    fpk_revsde_params p;
    fpk_revsde_params_init(&p);
    p.nsteps = 5, p.t_min = TMIN, p.seed = 15, p.exact = &MIX2;
    double *x = run(fpk_revsde_ancestral, s, &MIX2, &p, n);
    const double a = fpk_schedule_mean_coef(s, TMIN), b2 = fpk_schedule_var(s, TMIN);
    for (int c = 0; c < 2; c++)
      for (int e = c; e < 2; e++) {
        double ex = 0; /* E[x_c x_e] */
        for (int k = 0; k < 2; k++)
          ex += W2[k] * (a * a * (S2[k * 4 + c * 2 + e] + MU2[k * 2 + c] * MU2[k * 2 + e]) +
                         (c == e ? b2 : 0));
        for (size_t i = 0; i < n; i++) y[i] = x[c * n + i] * x[e * n + i];
        double mm, se;
        mean_var(n, y, &mm, &se);
        print_message("ancestral exact 2D: E[x%d x%d] off by %+.2f SE\n", c, e, (mm - ex) / se);
        assert_true(fabs(mm - ex) < 4 * se);
      }
    free(x);
  }
  free(y);
  fpk_schedule_free(s);
}

/* 2D reverse-em: TV on a grid to the exact p_{t_min}, cell masses by 3×3 Gauss–Legendre. */
static void test_reverse_em_2d(void **state) {
  (void)state;
  fpk_schedule *s = vp();
  fpk_gmm *g = gmm_of(&MIX2);
  const size_t n = quick() ? 20000 : 400000, G = 24;
  const double lo = -4.5, hi = 4.5, dx = (hi - lo) / G;
  double *mass = calloc(G * G, sizeof *mass), *cnt = malloc(G * G * sizeof *cnt);
  { /* exact cell masses */
    const double gx[3] = {-sqrt(0.6), 0, sqrt(0.6)}, gw[3] = {5.0 / 9, 8.0 / 9, 5.0 / 9};
    const size_t np = G * G * 9;
    double *pts = malloc(2 * np * sizeof *pts), *lp = malloc(np * sizeof *lp);
    for (size_t i = 0; i < G; i++)
      for (size_t j = 0; j < G; j++)
        for (int u = 0; u < 3; u++)
          for (int v = 0; v < 3; v++) {
            const size_t k = ((i * G + j) * 3 + u) * 3 + v;
            pts[k] = lo + (i + 0.5 + 0.5 * gx[u]) * dx;
            pts[np + k] = lo + (j + 0.5 + 0.5 * gx[v]) * dx;
          }
    assert_int_equal(fpk_gmm_eval(g, s, TMIN, np, pts, lp, NULL, NULL, NULL, NULL), 0);
    for (size_t k = 0; k < np; k++)
      mass[k / 9] += gw[(k / 3) % 3] * gw[k % 3] * 0.25 * dx * dx * exp(lp[k]);
    free(pts), free(lp);
  }
  const size_t Ns[] = {4, 8, 16, 32};
  double tv[4];
  for (size_t l = 0; l < 4; l++) {
    fpk_revsde_params p;
    fpk_revsde_params_init(&p);
    p.nsteps = Ns[l], p.t_min = TMIN, p.seed = 16;
    double *x = run(fpk_revsde_em, s, &MIX2, &p, n);
    memset(cnt, 0, G * G * sizeof *cnt);
    double outside = 0;
    for (size_t i = 0; i < n; i++) {
      const double u = (x[i] - lo) / dx, v = (x[n + i] - lo) / dx;
      if (u >= 0 && u < G && v >= 0 && v < G)
        cnt[(size_t)u * G + (size_t)v] += 1.0 / n;
      else
        outside += 1.0 / n;
    }
    double t = 0, mo = 1;
    for (size_t k = 0; k < G * G; k++) t += fabs(cnt[k] - mass[k]), mo -= mass[k];
    tv[l] = 0.5 * (t + fabs(outside - mo));
    print_message("reverse-em 2D N = %2zu: grid TV %.4f\n", Ns[l], tv[l]);
    free(x);
  }
  for (size_t l = 0; l + 1 < 4; l++) assert_true(tv[l + 1] < tv[l]);
  free(mass), free(cnt);
  fpk_gmm_free(g);
  fpk_schedule_free(s);
}

static void test_elbo(void **state) { (void)state; }
static void test_threads_and_bad_input(void **state) { (void)state; }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_and_bad_input), cmocka_unit_test(test_reverse_em_1d),
      cmocka_unit_test(test_pc_vs_em),              cmocka_unit_test(test_ancestral_exact),
      cmocka_unit_test(test_reverse_em_2d),         cmocka_unit_test(test_elbo),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
