/* The Fourier spectral solver (fpkit/spectral.h) with noise matrices (issue 16): a full,
 * correlated constant D in ETDRK4's exact part (2D OU with a full B against its exact Gaussian
 * law), a degenerate D (the harmonic Kramers equation against its exact Gaussian law; the
 * double-well Kramers equation's stationary density against the Gibbs density), a variable full
 * D through the mixed term 2∂x∂y((D_xy − D̄_xy)p) (a torus model with a gradient-form drift whose
 * stationary density is e^{−V}/Z, by the dense stationary solve and by ETDRK4), and diagonal
 * noise given as a matrix against the diagonal model (the same density to round-off).
 * FPK_TEST_QUICK=1 (sanitizer builds) drops the finest rungs of the ladders; the checks stay. */
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

static fpk_grid box(size_t n0, size_t n1, double lo0, double hi0, double lo1, double hi1) {
  fpk_grid g;
  fpk_error err = {0};
  size_t nn[2] = {n0, n1};
  double lo[2] = {lo0, lo1}, hi[2] = {hi0, hi1};
  fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, n1 ? 2 : 1, nn, lo, hi, bc, &err), FPK_SUCCESS);
  return g;
}

static double l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

static fpk_spectral *make_with(const fpk_grid *g, const fpk_model *m,
                               const fpk_spectral_stepper_type *T, double dt) {
  fpk_error err = {0};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  fpk_spectral *s = fpk_spectral_alloc(g, m, T, dt, &o, &err);
  if (!s) fail_msg("fpk_spectral_alloc: %s", err.msg);
  return s;
}

static fpk_spectral *make(const fpk_grid *g, const fpk_model *m, double dt) {
  return make_with(g, m, fpk_spectral_etdrk4, dt);
}

/* The coarse rungs of a ladder are under-resolved on purpose (that is what the ladder measures):
 * their small negative ripples are let through the output guard. */
static void loose_guard(fpk_spectral *s) {
  fpk_density_guard gd;
  fpk_density_guard_init(&gd);
  gd.negative_tol = 1.0;
  assert_int_equal(fpk_spectral_set_guard(s, &gd), FPK_SUCCESS);
}

#define EVOLVE(s, t)                                                                           \
  do {                                                                                         \
    if (fpk_spectral_evolve((s), (t))) fail_msg("evolve: %s", fpk_spectral_errmsg(s));         \
  } while (0)

/* Gaussian cell averages (cell probabilities / cell volume). */
static void gaussian_cells(const fpk_gaussian *ga, const fpk_grid *g, double *p) {
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_cell_probs(ga, g, p, &err), FPK_SUCCESS);
  for (size_t c = 0; c < g->size; c++) p[c] /= g->cell_volume;
}

/* L1 error at t of ETDRK4 (step dt) on the n × n periodic box [-L, L]² for the linear model m
 * started from g0, against the exact law (fpk_exact_linear_law: Van Loan with BBᵀ, exact for a
 * full or degenerate B). */
static double linear_error_with(const fpk_model *m, const fpk_spectral_stepper_type *T,
                                const fpk_gaussian *g0, size_t n, double L, double t, double dt) {
  fpk_error err = {0};
  fpk_grid g = box(n, n, -L, L, -L, L);
  double *p0 = malloc(g.size * sizeof *p0), *pe = malloc(g.size * sizeof *pe);
  gaussian_cells(g0, &g, p0);
  fpk_spectral *s = make_with(&g, m, T, dt);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
  loose_guard(s);
  if (fpk_spectral_evolve(s, t)) fail_msg("%s n = %zu: %s", m->name, n, fpk_spectral_errmsg(s));
  fpk_gaussian gt;
  assert_int_equal(fpk_exact_linear_law(m->linear, g0, t, &gt, &err), FPK_SUCCESS);
  assert_true(fpk_gaussian_mass_outside(&gt, &g) < 1e-12);
  gaussian_cells(&gt, &g, pe);
  const double e = l1(&g, fpk_spectral_density(s), pe);
  fpk_spectral_free(s);
  free(p0), free(pe);
  return e;
}

static double linear_error(const fpk_model *m, const fpk_gaussian *g0, size_t n, double L,
                           double t, double dt) {
  return linear_error_with(m, fpk_spectral_etdrk4, g0, n, L, t, dt);
}

/* SBDF2 (the cross term and the zero-diffusion axis in its implicit λ as well): second order in
 * dt at N = 96, where the spatial error is far below. */
static void sbdf2_order(const char *what, const fpk_model *m, const fpk_gaussian *g0, double L) {
  const double dts[3] = {0.004, 0.002, 0.001};
  double e[3];
  for (size_t k = 0; k < 3; k++) {
    e[k] = linear_error_with(m, fpk_spectral_sbdf2, g0, 96, L, 1.0, dts[k]);
    printf("  %s, sbdf2: N = 96  dt = %.3f  L1 = %.3e\n", what, dts[k], e[k]);
  }
  const double order = fpk_test_fit_order(3, dts, e);
  printf("  %s, sbdf2: fitted order in dt %.3f\n", what, order);
  assert_in_range_d(order, 1.8, 2.2);
}

/* A ladder in N at a fixed small dt: the error falls geometrically (spectral convergence: each
 * rung divides it by at least `ratio`) down to `floor` at the finest N. */
static void spectral_ladder(const char *what, const fpk_model *m, const fpk_gaussian *g0,
                            double L, double dt, double floor, double ratio) {
  const size_t all[] = {48, 64, 96, 128};
  const size_t nn = quick() ? 2 : 4;
  double e[4];
  for (size_t k = 0; k < nn; k++) {
    e[k] = linear_error(m, g0, all[k], L, 1.0, dt);
    printf("  %s: N = %3zu  L1 = %.3e%s\n", what, all[k], e[k],
           k ? "" : "  (t = 1, ETDRK4)");
  }
  for (size_t k = 1; k < nn; k++)
    if (e[k - 1] > 1e3 * floor) assert_true(e[k] < e[k - 1] / ratio);
  if (!quick()) assert_true(e[nn - 1] <= floor);
}

/* (a) 2D OU with a full, strongly correlated B and a non-symmetric A: the constant D = ½BBᵀ
 * with its cross term −2D_xy k_x k_y in the exact part. */
static void test_ou_full_b(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1.0, 0.6, -0.4, 0.8}, mu[2] = {0.2, -0.1};
  /* BBᵀ = [[0.81, 0.72], [0.72, 0.89]]: correlation 0.85 */
  const double B[4] = {0.9, 0.0, 0.8, 0.5};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
  assert_non_null(m);
  const double m0[2] = {-0.5, 0.4}, S0[4] = {0.3, 0.1, 0.1, 0.25};
  fpk_gaussian g0 = fpk_test_gaussian(2, m0, S0);
  spectral_ladder("OU full B", m, &g0, 6.5, 0.002, 1e-10, 5.0);
  if (!quick()) sbdf2_order("OU full B", m, &g0, 6.5);
  fpk_model_free(m);
}

/* (b) The harmonic Kramers equation: D = diag(0, γ/β), no diffusion in x (λ = 0 along k_x: pure
 * transport v∂_x p, pseudo-spectral, as is the force term). */
static void test_kramers_harmonic(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
  assert_non_null(m);
  assert_int_equal(fpk_model_zero_noise_rows(m, 0, NULL, &err), 1u);
  const double m0[2] = {1.0, -0.5}, S0[4] = {0.25, 0.0, 0.0, 0.4};
  fpk_gaussian g0 = fpk_test_gaussian(2, m0, S0);
  spectral_ladder("Kramers harmonic", m, &g0, 8.0, 0.002, 1e-10, 5.0);
  if (!quick()) sbdf2_order("Kramers harmonic", m, &g0, 8.0);
  fpk_model_free(m);
}

/* (c) The double-well Kramers equation's stationary density against the Gibbs density
 * e^{−β(U + v²/2)}/Z (cell averages, fpk_exact_stationary_cells), by ETDRK4 to a long time from
 * a Gaussian in x times the Maxwellian (normalised on the box: the mass of it outside the box
 * would otherwise be the error). The dense stationary solve refuses degenerate noise (its
 * collocation operator has spurious zero modes), saying what to use. Box: e^{−βU} < 1e-26 at
 * x = ±4, the Maxwellian 2e-11 at v = ±7; β = γ = 1 relaxes at ~0.7 per unit time. */
static void test_kramers_gibbs(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("double-well", &kp, &err);
  assert_non_null(m);
  {
    fpk_grid g = box(16, 16, -4, 4, -7, 7);
    double p[256];
    assert_int_equal(fpk_spectral_stationary(&g, m, p, &err), FPK_EUNSUP);
    assert_non_null(strstr(err.msg, "no diffusion along axis 0"));
    assert_non_null(strstr(err.msg, "etdrk4"));
  }
  const size_t all[] = {48, 64, 96};
  const size_t nn = quick() ? 1 : 3;
  const double T = quick() ? 12.0 : 36.0;
  double e[3];
  for (size_t k = 0; k < nn; k++) {
    fpk_grid g = box(all[k], 64, -4, 4, -7, 7);
    double *p = malloc(g.size * sizeof *p), *pe = malloc(g.size * sizeof *pe);
    const char *what = NULL;
    assert_int_equal(fpk_exact_stationary_cells(m, &g, pe, &what, &err), FPK_SUCCESS);
    const double m0[2] = {0.3, 0.0}, S0[4] = {0.3, 0.0, 0.0, 1.0 / kp.beta};
    fpk_gaussian g0 = fpk_test_gaussian(2, m0, S0);
    gaussian_cells(&g0, &g, p);
    double mass = 0.0;
    for (size_t c = 0; c < g.size; c++) mass += p[c] * g.cell_volume;
    for (size_t c = 0; c < g.size; c++) p[c] /= mass;
    fpk_spectral *s = make(&g, m, 0.003);
    loose_guard(s);
    assert_int_equal(fpk_spectral_set_density(s, 0.0, p), FPK_SUCCESS);
    EVOLVE(s, T);
    e[k] = l1(&g, fpk_spectral_density(s), pe);
    printf("  Kramers double well (beta 1, gamma 1) at t = %g vs Gibbs: N = %zu x 64  L1 = %.3e\n",
           T, all[k], e[k]);
    fpk_spectral_free(s);
    free(p), free(pe);
  }
  for (size_t k = 1; k < nn; k++) assert_true(e[k] < e[k - 1] / 10.0);
  assert_true(e[nn - 1] <= (quick() ? 1e-3 : 1e-10));
  fpk_model_free(m);
}

/* ---- a variable, full D: the mixed term --------------------------------------------------
 * On the torus [0, 2π)²: D(x, y) = [[1 + 0.3 cos x, 0.3 + 0.2 cos(x + y)],
 *                                   [0.3 + 0.2 cos(x + y), 0.8 + 0.2 sin y]]
 * (positive definite: D_xx D_yy >= 0.42 > 0.25 >= D_xy²), σ its Cholesky factor times √2, and
 * the drift b_a = Σ_b ∂_b D_ab − D_ab ∂_b V for V = cos x + 0.5 sin y + 0.3 cos(x − y): the flux
 * b p − ∇·(D p) vanishes for p = e^{−V}, so e^{−V}/Z is stationary (detailed balance). */
static const double TWO_PI = 6.283185307179586476925;

static void varD(double x, double y, double *dxx, double *dxy, double *dyy) {
  *dxx = 1.0 + 0.3 * cos(x);
  *dxy = 0.3 + 0.2 * cos(x + y);
  *dyy = 0.8 + 0.2 * sin(y);
}

static double varV(double x, double y) { return cos(x) + 0.5 * sin(y) + 0.3 * cos(x - y); }

static int var_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    const double X = x[i], Y = x[n + i];
    double dxx, dxy, dyy;
    varD(X, Y, &dxx, &dxy, &dyy);
    const double Vx = -sin(X) - 0.3 * sin(X - Y), Vy = 0.5 * cos(Y) + 0.3 * sin(X - Y);
    const double dxx_x = -0.3 * sin(X), dxy_x = -0.2 * sin(X + Y), dxy_y = dxy_x,
                 dyy_y = 0.2 * cos(Y);
    out[i] = dxx_x + dxy_y - dxx * Vx - dxy * Vy;
    out[n + i] = dxy_x + dyy_y - dxy * Vx - dyy * Vy;
  }
  return 0;
}

static int var_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    double dxx, dxy, dyy;
    varD(x[i], x[n + i], &dxx, &dxy, &dyy);
    /* ½σσᵀ = D for σ = √2 chol(D) */
    const double l00 = sqrt(dxx), l10 = dxy / l00, l11 = sqrt(dyy - l10 * l10);
    out[0 * n + i] = M_SQRT2 * l00, out[1 * n + i] = 0.0;
    out[2 * n + i] = M_SQRT2 * l10, out[3 * n + i] = M_SQRT2 * l11;
  }
  return 0;
}

/* Exact cell averages of e^{−V}/Z: 8 × 8 Gauss–Legendre points per cell (V is entire and the
 * cells small: far below 1e-14), normalised over the torus. */
static void var_gibbs_cells(const fpk_grid *g, double *p) {
  static const double gx[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
                               0.9602898564975363};
  static const double gw[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
                               0.1012285362903763};
  double z = 0.0;
  for (size_t j = 0; j < g->n[1]; j++)
    for (size_t i = 0; i < g->n[0]; i++) {
      const double xc = fpk_grid_center(g, 0, i), yc = fpk_grid_center(g, 1, j);
      double s = 0.0;
      for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
          const double ua = (a < 4 ? -1 : 1) * gx[a % 4], ub = (b < 4 ? -1 : 1) * gx[b % 4];
          s += gw[a % 4] * gw[b % 4] *
               exp(-varV(xc + 0.5 * g->h[0] * ua, yc + 0.5 * g->h[1] * ub));
        }
      p[j * g->n[0] + i] = 0.25 * s;
      z += 0.25 * s * g->cell_volume;
    }
  for (size_t c = 0; c < g->size; c++) p[c] /= z;
}

static void test_variable_full_d(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model m = {.name = "torus-full-D", .dim = 2, .drift = var_drift,
                 .noise_matrix = var_noise_matrix, .noise_dim = 2,
                 .flags = FPK_MODEL_AUTONOMOUS};
  /* the dense stationary solve (collocation, no dealiasing): spectral convergence */
  const size_t all[] = {12, 16, 24, 32};
  const size_t nn = quick() ? 3 : 4;
  double e[4];
  for (size_t k = 0; k < nn; k++) {
    fpk_grid g = box(all[k], all[k], 0, TWO_PI, 0, TWO_PI);
    double *p = malloc(g.size * sizeof *p), *pe = malloc(g.size * sizeof *pe);
    var_gibbs_cells(&g, pe);
    if (fpk_spectral_stationary(&g, &m, p, &err)) fail_msg("stationary: %s", err.msg);
    e[k] = l1(&g, p, pe);
    printf("  variable full D, stationary e^{-V}/Z: N = %zu^2  L1 = %.3e\n", all[k], e[k]);
    free(p), free(pe);
  }
  for (size_t k = 1; k < nn; k++)
    if (e[k - 1] > 1e-11) assert_true(e[k] < e[k - 1] / 10.0);
  assert_true(e[nn - 1] <= 1e-11);
  /* ETDRK4 with the 2/3 rule (the row pipeline, all five terms of 𝒩) relaxes to the same
   * density from a uniform start */
  fpk_grid g = box(32, 32, 0, TWO_PI, 0, TWO_PI);
  double *p = malloc(g.size * sizeof *p), *pe = malloc(g.size * sizeof *pe);
  var_gibbs_cells(&g, pe);
  for (size_t c = 0; c < g.size; c++) p[c] = 1.0 / (TWO_PI * TWO_PI);
  fpk_spectral *s = make(&g, &m, 0.02);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p), FPK_SUCCESS);
  if (fpk_spectral_evolve(s, quick() ? 10.0 : 40.0)) fail_msg("%s", fpk_spectral_errmsg(s));
  const double et = l1(&g, fpk_spectral_density(s), pe);
  printf("  variable full D, ETDRK4 to t = %g from uniform: L1 = %.3e\n", quick() ? 10.0 : 40.0,
         et);
  assert_true(et <= (quick() ? 1e-3 : 1e-10)); /* quick: 3.1e-4 at t = 10 */
  fpk_spectral_free(s);
  free(p), free(pe);
}

/* (d) Diagonal noise given as a noise matrix gives the diagonal model's density to round-off:
 * OU in 2D (diag σ against B = diag σ), and a variable diagonal σ (the matrix route's D_xy ≡ 0
 * adds no term), and 1D noise from two Brownian components (B = [0.6, 0.8]: D = ½). */
typedef struct diag_params {
  double s0, eps;
} diag_params;

static int diag_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    out[i] = -0.7 * sin(x[i]) + 0.4 * cos(x[n + i]);
    out[n + i] = 0.5 - 0.6 * sin(x[n + i]);
  }
  return 0;
}

static int diag_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const diag_params *d = params;
  for (size_t a = 0; a < 2; a++)
    for (size_t i = 0; i < n; i++) out[a * n + i] = d->s0 * (1.0 + d->eps * cos(x[a * n + i]));
  return 0;
}

static int diag_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  double s[2 * 4096];
  assert_true(n <= 4096);
  diag_noise(t, n, x, s, params);
  for (size_t i = 0; i < n; i++)
    out[i] = s[i], out[n + i] = 0.0, out[2 * n + i] = 0.0, out[3 * n + i] = s[n + i];
  return 0;
}

static double max_abs_diff(const fpk_grid *g, const double *p, const double *q) {
  double d = 0.0, mx = 0.0;
  for (size_t c = 0; c < g->size; c++) d = fmax(d, fabs(p[c] - q[c])), mx = fmax(mx, fabs(q[c]));
  return d / mx;
}

static void test_diagonal_as_matrix(void **state) {
  (void)state;
  fpk_error err = {0};
  /* OU, additive */
  const double A[4] = {1.0, 0.3, -0.2, 0.7}, mu[2] = {0.0, 0.0}, sig[2] = {0.9, 0.6};
  const double B[4] = {0.9, 0.0, 0.0, 0.6};
  fpk_model *md = fpk_model_ou_alloc(2, A, mu, sig, &err), *mm =
                                                                fpk_model_ou_matrix_alloc(
                                                                    2, A, mu, 2, B, &err);
  assert_non_null(md), assert_non_null(mm);
  fpk_grid g = box(64, 64, -6, 6, -6, 6);
  double *p0 = malloc(g.size * sizeof *p0);
  const double m0[2] = {0.5, -0.5}, S0[4] = {0.4, 0.1, 0.1, 0.3};
  fpk_gaussian g0 = fpk_test_gaussian(2, m0, S0);
  gaussian_cells(&g0, &g, p0);
  fpk_spectral *sd = make(&g, md, 0.01), *sm = make(&g, mm, 0.01);
  assert_int_equal(fpk_spectral_set_density(sd, 0.0, p0), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_set_density(sm, 0.0, p0), FPK_SUCCESS);
  EVOLVE(sd, 0.5);
  EVOLVE(sm, 0.5);
  double d = max_abs_diff(&g, fpk_spectral_density(sm), fpk_spectral_density(sd));
  printf("  diagonal OU as a matrix: max |diff| / max p = %.2e\n", d);
  assert_true(d <= 1e-14);
  fpk_spectral_free(sd), fpk_spectral_free(sm);
  free(p0);
  /* variable diagonal σ on the torus */
  diag_params dp = {.s0 = 0.8, .eps = 0.3};
  fpk_model vd = {.name = "diag", .dim = 2, .drift = diag_drift, .noise = diag_noise,
                  .params = &dp, .flags = FPK_MODEL_AUTONOMOUS};
  fpk_model vm = {.name = "diag-matrix", .dim = 2, .drift = diag_drift,
                  .noise_matrix = diag_noise_matrix, .noise_dim = 2, .params = &dp,
                  .flags = FPK_MODEL_AUTONOMOUS};
  fpk_grid gt = box(32, 32, 0, TWO_PI, 0, TWO_PI);
  double *q0 = malloc(gt.size * sizeof *q0);
  for (size_t j = 0; j < 32; j++)
    for (size_t i = 0; i < 32; i++)
      q0[j * 32 + i] = (1.0 + 0.5 * cos(fpk_grid_center(&gt, 0, i)) *
                                  sin(fpk_grid_center(&gt, 1, j))) /
                       (TWO_PI * TWO_PI);
  sd = make(&gt, &vd, 0.01), sm = make(&gt, &vm, 0.01);
  assert_int_equal(fpk_spectral_set_density(sd, 0.0, q0), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_set_density(sm, 0.0, q0), FPK_SUCCESS);
  EVOLVE(sd, 1.0);
  EVOLVE(sm, 1.0);
  d = max_abs_diff(&gt, fpk_spectral_density(sm), fpk_spectral_density(sd));
  printf("  variable diagonal sigma as a matrix: max |diff| / max p = %.2e\n", d);
  assert_true(d <= 1e-14);
  double *pd = malloc(gt.size * sizeof *pd), *pm = malloc(gt.size * sizeof *pm);
  assert_int_equal(fpk_spectral_stationary(&gt, &vd, pd, &err), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_stationary(&gt, &vm, pm, &err), FPK_SUCCESS);
  d = max_abs_diff(&gt, pm, pd);
  printf("  variable diagonal sigma as a matrix, stationary: max |diff| / max p = %.2e\n", d);
  assert_true(d <= 1e-12);
  fpk_spectral_free(sd), fpk_spectral_free(sm);
  free(q0), free(pd), free(pm);
  fpk_model_free(md), fpk_model_free(mm);
  /* 1D, two Brownian components */
  const double a1 = 1.2, mu1 = 0.3, s1 = 1.0, B1[2] = {0.6, 0.8};
  md = fpk_model_ou_alloc(1, &a1, &mu1, &s1, &err);
  mm = fpk_model_ou_matrix_alloc(1, &a1, &mu1, 2, B1, &err);
  assert_non_null(md), assert_non_null(mm);
  fpk_grid g1 = box(64, 0, -7, 7, 0, 0);
  double p1[64];
  const double m1 = -1.0, S1 = 0.3;
  fpk_gaussian g10 = fpk_test_gaussian(1, &m1, &S1);
  gaussian_cells(&g10, &g1, p1);
  sd = make(&g1, md, 0.01), sm = make(&g1, mm, 0.01);
  assert_int_equal(fpk_spectral_set_density(sd, 0.0, p1), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_set_density(sm, 0.0, p1), FPK_SUCCESS);
  EVOLVE(sd, 1.0);
  EVOLVE(sm, 1.0);
  d = max_abs_diff(&g1, fpk_spectral_density(sm), fpk_spectral_density(sd));
  printf("  1D noise from 2 Brownian components: max |diff| / max p = %.2e\n", d);
  assert_true(d <= 1e-13);
  fpk_spectral_free(sd), fpk_spectral_free(sm);
  fpk_model_free(md), fpk_model_free(mm);
}

/* A model with neither noise nor a noise matrix is refused. */
static void test_no_noise(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model m = {.name = "nonoise", .dim = 2, .drift = diag_drift};
  fpk_grid g = box(16, 16, 0, TWO_PI, 0, TWO_PI);
  assert_null(fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, 0.01, NULL, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_non_null(strstr(err.msg, "noise"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ou_full_b),        cmocka_unit_test(test_kramers_harmonic),
      cmocka_unit_test(test_kramers_gibbs),    cmocka_unit_test(test_variable_full_d),
      cmocka_unit_test(test_diagonal_as_matrix), cmocka_unit_test(test_no_noise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
