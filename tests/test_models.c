/* Tests for the built-in non-linear models (src/models/langevin.c) and their stationary closed
 * forms (src/exact/stationary.c): Gibbs cell averages and the periodic 1D steady state.
 * References: ../shared/reference/closed-forms.md ("Langevin dynamics": the partition function
 * of the double well in modified Bessel functions), Risken (1989) §11.3 for the tilted periodic
 * potential. The periodic closed form is checked against an independent pointwise evaluation by
 * nested QUADPACK integrals and the defining ODE J = b p − (D p)'. Every tolerance is far tighter
 * than a factor of 2 in D = σ²/2 or a sign error in the tilt could meet. */
#include "fpk_test.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_bessel.h>

#include "fpkit/exact.h"

static fpk_langevin_params params(double beta, double amplitude, double period, double tilt0,
                                  double tilt1, double modulation) {
  fpk_langevin_params p = {.beta = beta, .amplitude = amplitude, .period = period,
                           .modulation = modulation};
  p.tilt[0] = tilt0;
  p.tilt[1] = tilt1;
  return p;
}

static fpk_model *langevin(const char *pot, size_t dim, fpk_langevin_params p) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_langevin_alloc(pot, dim, &p, &err);
  if (!m) fail_msg("fpk_model_langevin_alloc(%s): %s", pot, err.msg);
  return m;
}

static fpk_grid grid1(size_t n, double lo, double hi, fpk_bc bc) {
  fpk_grid g;
  fpk_error err = {0};
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  return g;
}

/* ∫_a^b f by QUADPACK qag (61-point Gauss–Kronrod) to 1e-13 relative or epsabs; fails the test
 * when QUADPACK reports an answer worse than 1e-11 relative or 10 epsabs. */
static double quad_abs(const gsl_function *f, double a, double b, double epsabs,
                       gsl_integration_workspace *w) {
  double res = 0.0, abserr = 0.0;
  int st = gsl_integration_qag(f, a, b, epsabs, 1e-13, 200, GSL_INTEG_GAUSS61, w, &res, &abserr);
  if (st && !(abserr <= 1e-11 * fabs(res) + 10 * epsabs))
    fail_msg("reference quadrature on [%g, %g]: %s (abserr %g of %g)", a, b, gsl_strerror(st),
             abserr, res);
  return res;
}

static double quad(const gsl_function *f, double a, double b, gsl_integration_workspace *w) {
  return quad_abs(f, a, b, 0.0, w);
}

/* ==== models ================================================================================ */

static void test_registry(void **state) {
  (void)state;
  assert_ptr_equal(fpk_potential_lookup("double-well"), fpk_potential_double_well);
  assert_ptr_equal(fpk_potential_lookup("tilted-cosine"), fpk_potential_tilted_cosine);
  assert_null(fpk_potential_lookup("harmonic"));
  assert_null(fpk_potential_lookup(NULL));
  size_t k = 0;
  while (fpk_potentials[k]) k++;
  assert_int_equal(k, 2);
  assert_true(fpk_potential_double_well->confining && fpk_potential_double_well->separable);
  assert_false(fpk_potential_tilted_cosine->confining);
  assert_true(fpk_potential_tilted_cosine->periodic && fpk_potential_tilted_cosine->separable);
}

/* Drift −∇U + F and noise √(2/β)(1 + ε cos(2πx/period)) against the formulas, point by point,
 * with the batch (component-major) layout; flags, name, linear. */
static void test_langevin_fields(void **state) {
  (void)state;
  const double xs[][2] = {{-1.7, 0.4}, {-1.0, 1.0}, {0.0, -0.3}, {0.3, 2.2}, {1.3, -1.4}};
  const size_t n = sizeof xs / sizeof xs[0];
  for (size_t dim = 1; dim <= 2; dim++)
    for (int which = 0; which < 2; which++) {
      const char *pot = which ? "tilted-cosine" : "double-well";
      const double beta = 2.5, amp = 0.8, per = 1.7, eps = which ? 0.35 : 0.0;
      fpk_model *m = langevin(pot, dim, params(beta, amp, per, 0.6, -1.1, eps));
      char name[64];
      snprintf(name, sizeof name, "langevin-%s", pot);
      assert_string_equal(m->name, name);
      assert_int_equal(m->dim, dim);
      assert_null(m->linear);
      assert_true(m->flags & FPK_MODEL_AUTONOMOUS);
      assert_int_equal(!!(m->flags & FPK_MODEL_ADDITIVE), eps == 0.0);
      assert_ptr_equal(fpk_model_potential_type(m), fpk_potential_lookup(pot));
      assert_close_rel(fpk_model_langevin_params(m)->beta, beta, 0);
      double x[10], b[10], s[10];
      for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < dim; a++) x[a * n + i] = xs[i][a];
      fpk_error err = {0};
      assert_int_equal(fpk_model_drift(m, 0.3, n, x, b, &err), FPK_SUCCESS);
      assert_int_equal(fpk_model_noise(m, 0.3, n, x, s, &err), FPK_SUCCESS);
      const double k = 2 * M_PI / per, F[2] = {0.6, -1.1};
      for (size_t i = 0; i < n; i++) {
        double u = 0.0;
        for (size_t a = 0; a < dim; a++) {
          const double y = xs[i][a];
          const double du = which ? amp * k * sin(k * y) : y * y * y - y;
          u += which ? -amp * cos(k * y) : y * y * y * y / 4 - y * y / 2;
          assert_close_rel(b[a * n + i], -du + F[a], 1e-14);
          assert_close_rel(s[a * n + i], sqrt(2 / beta) * (1 + eps * cos(k * y)), 1e-15);
        }
        assert_close_rel(fpk_model_potential(m, xs[i]), u, 1e-14);
      }
      fpk_model_free(m);
    }
}

/* ∇U against the 6th-order centred difference of U (step 1e-2: truncation ~1e-13 for these
 * polynomial/trigonometric U, rounding ~1e-14/1e-2), i.e. the drift minus the tilt. */
static void test_gradient_vs_potential(void **state) {
  (void)state;
  const double pts[][2] = {{-1.9, 0.7}, {-0.6, -1.2}, {0.05, 0.5}, {0.8, 1.6}, {1.45, -0.2}};
  const double c[3] = {45.0 / 60, -9.0 / 60, 1.0 / 60}, hs = 1e-2;
  double worst = 0.0;
  for (int which = 0; which < 2; which++) {
    const char *pot = which ? "tilted-cosine" : "double-well";
    fpk_model *m = langevin(pot, 2, params(1.0, 1.3, 2.1, 0.4, -0.9, 0.2));
    for (size_t i = 0; i < 5; i++) {
      double x[2] = {pts[i][0], pts[i][1]}, b[2];
      fpk_error err = {0};
      assert_int_equal(fpk_model_drift(m, 0.0, 1, x, b, &err), FPK_SUCCESS);
      for (size_t a = 0; a < 2; a++) {
        double g = 0.0;
        for (int k = 1; k <= 3; k++) {
          double xp[2] = {x[0], x[1]}, xm[2] = {x[0], x[1]};
          xp[a] += k * hs;
          xm[a] -= k * hs;
          g += c[k - 1] * (fpk_model_potential(m, xp) - fpk_model_potential(m, xm)) / hs;
        }
        const double grad = -(b[a] - fpk_model_langevin_params(m)->tilt[a]);
        assert_close_abs(grad, g, 1e-10 * (1 + fabs(g)));
        worst = fmax(worst, fabs(grad - g) / (1 + fabs(g)));
      }
    }
    fpk_model_free(m);
  }
  print_message("grad U vs finite differences: max err %.2e\n", worst);
}

/* Every invalid argument fails with FPK_EINVAL, returns NULL and names the problem. */
static void test_langevin_invalid(void **state) {
  (void)state;
  const fpk_langevin_params ok = params(1.0, 1.0, 1.0, 0.0, 0.0, 0.0);
  struct {
    const char *pot;
    size_t dim;
    fpk_langevin_params p;
    const char *msg;
  } bad[] = {
      {"harmonic", 1, ok, "unknown potential 'harmonic' (known: double-well, tilted-cosine)"},
      {NULL, 1, ok, "unknown potential"},
      {"double-well", 0, ok, "dimension 0"},
      {"double-well", 3, ok, "dimension 3"},
      {"double-well", 1, params(0.0, 1, 1, 0, 0, 0), "beta = 0"},
      {"double-well", 1, params(-2.0, 1, 1, 0, 0, 0), "beta = -2"},
      {"double-well", 1, params(INFINITY, 1, 1, 0, 0, 0), "beta = inf"},
      {"tilted-cosine", 1, params(NAN, 1, 1, 0, 0, 0), "beta = nan"},
      {"tilted-cosine", 1, params(1, 1, 0.0, 0, 0, 0), "period = 0"},
      {"tilted-cosine", 1, params(1, 1, -1.0, 0, 0, 0), "period = -1"},
      {"double-well", 1, params(1, 1, INFINITY, 0, 0, 0), "period = inf"},
      {"double-well", 1, params(1, 1, NAN, 0, 0, 0), "period = nan"},
      {"double-well", 1, params(1, 1, 1, 0, 0, 1.0), "modulation = 1,"},
      {"double-well", 1, params(1, 1, 1, 0, 0, -1.0), "modulation = -1,"},
      {"tilted-cosine", 2, params(1, 1, 1, 0, 0, 1.5), "modulation = 1.5"},
      {"tilted-cosine", 1, params(1, 1, 1, 0, 0, NAN), "modulation = nan"},
      {"tilted-cosine", 1, params(1, INFINITY, 1, 0, 0, 0), "amplitude = inf"},
      {"tilted-cosine", 1, params(1, NAN, 1, 0, 0, 0), "amplitude = nan"},
      {"tilted-cosine", 1, params(1, 1, 1, NAN, 0, 0), "tilt[0] = nan"},
      {"tilted-cosine", 2, params(1, 1, 1, 0, -INFINITY, 0), "tilt[1] = -inf"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    fpk_error err = {0};
    fpk_model *m = fpk_model_langevin_alloc(bad[k].pot, bad[k].dim, &bad[k].p, &err);
    if (m) fail_msg("case %zu (%s) was accepted", k, bad[k].msg);
    assert_int_equal(err.status, FPK_EINVAL);
    if (!strstr(err.msg, bad[k].msg)) fail_msg("case %zu: message '%s' lacks '%s'", k, err.msg,
                                              bad[k].msg);
  }
  fpk_error err = {0};
  assert_null(fpk_model_langevin_alloc("double-well", 1, NULL, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  /* A tilt beyond dim is ignored (not part of a 1D model). */
  fpk_model *m = fpk_model_langevin_alloc("double-well", 1, &(fpk_langevin_params){
      .beta = 1, .period = 1, .tilt = {0.5, NAN, NAN}}, &err);
  assert_non_null(m);
  assert_true(fpk_model_langevin_params(m)->tilt[1] == 0.0);
  fpk_model_free(m);
  /* Models without a potential. */
  const double A = 1, mu = 0, sig = 1, x = 0.3;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(ou);
  assert_true(isnan(fpk_model_potential(ou, &x)));
  assert_null(fpk_model_potential_type(ou));
  assert_null(fpk_model_langevin_params(ou));
  assert_true(isnan(fpk_model_potential(NULL, &x)));
  fpk_model_free(ou);
  fpk_model_free(NULL);
}

/* ==== Gibbs cells =========================================================================== */

typedef struct dw_par {
  double beta;
} dw_par;

static double dw_gibbs(double x, void *par) {
  const dw_par *q = par;
  return exp(-q->beta * (x * x * x * x / 4 - x * x / 2));
}

static double qags_dw(double beta, double a, double b) {
  dw_par q = {beta};
  gsl_function f = {dw_gibbs, &q};
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
  const double res = quad(&f, a, b, w);
  gsl_integration_workspace_free(w);
  return res;
}

/* Z(β) = ∫_ℝ e^{-β(x⁴/4 − x²/2)} = (π/2) e^{β/8} [I_{−1/4}(β/8) + I_{1/4}(β/8)]
 * (closed-forms.md), with I_{−ν} = I_ν + (2/π) sin(νπ) K_ν since GSL has ν >= 0 only. */
static double dw_partition(double beta) {
  const double y = beta / 8, nu = 0.25;
  const double Im = gsl_sf_bessel_Inu(nu, y) + 2 / M_PI * sin(nu * M_PI) * gsl_sf_bessel_Knu(nu, y);
  return M_PI / 2 * exp(y) * (Im + gsl_sf_bessel_Inu(nu, y));
}

/* 1D double well: every cell against QUADPACK qag (independent adaptive Gauss–Kronrod) to
 * 1e-12, unit mass, mirror symmetry, and the mass outside against the Bessel closed form. Cells
 * of width 0.1 with β up to 10 (the accuracy claimed in exact.h), and coarse cells. */
static void test_gibbs_1d(void **state) {
  (void)state;
  const struct {
    double beta, lo, hi;
    size_t n;
  } cases[] = {{1.0, -2.5, 2.5, 50}, {3.0, -3.0, 3.0, 60}, {10.0, -2.2, 2.2, 44},
               {10.0, -2.5, 2.5, 7}, {0.5, -4.0, 4.0, 16}, {2.0, -2.0, 1.8, 38}};
  double worst_cell = 0.0, worst_out = 0.0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const double beta = cases[k].beta, lo = cases[k].lo, hi = cases[k].hi;
    const size_t n = cases[k].n;
    fpk_model *m = langevin("double-well", 1, params(beta, 1, 1, 0, 0, 0));
    fpk_grid g = grid1(n, lo, hi, FPK_BC_REFLECTING);
    double *p = malloc(n * sizeof *p), out = -1;
    fpk_error err = {0};
    assert_int_equal(fpk_exact_gibbs_cells(m, beta, &g, p, &out, &err), FPK_SUCCESS);
    const double Zbox = qags_dw(beta, lo, hi);
    double mass = 0.0, pmax = 0.0;
    for (size_t i = 0; i < n; i++) mass += p[i] * g.h[0], pmax = fmax(pmax, p[i]);
    assert_close_abs(mass, 1.0, 1e-14);
    for (size_t i = 0; i < n; i++) {
      if (lo == -hi) assert_close_abs(p[i], p[n - 1 - i], 1e-14 * pmax);
      const double a = lo + i * g.h[0], b = i + 1 == n ? hi : a + g.h[0];
      const double ref = qags_dw(beta, a, b) / (Zbox * g.h[0]);
      /* cells holding at least 1e-200 of the peak: relative; the rest is noise of e^{-βU} */
      if (ref > 1e-200 * pmax) {
        assert_close_rel(p[i], ref, 1e-12);
        worst_cell = fmax(worst_cell, fabs(p[i] - ref) / ref);
      }
    }
    /* outside = 1 − Z_box/Z: cancellation costs ~1e-16/outside, so only moderate tails. */
    const double ref_out = 1.0 - Zbox / dw_partition(beta);
    if (ref_out > 1e-7) {
      assert_close_rel(out, ref_out, 1e-8);
      worst_out = fmax(worst_out, fabs(out - ref_out) / ref_out);
    } else {
      assert_in_range_d(out, 0.0, 1e-7);
    }
    free(p);
    fpk_model_free(m);
  }
  print_message("1D Gibbs cells vs qag: max rel err %.2e; mass outside vs Bessel: %.2e\n",
                worst_cell, worst_out);
}

/* 2D double well: the tensor quadrature equals the product of the 1D results (the Gibbs law of a
 * separable U factorises), unit mass, and outside = 1 − (1 − o_x)(1 − o_y). */
static void test_gibbs_2d(void **state) {
  (void)state;
  const double beta = 2.0, lo[2] = {-2.5, -2.0}, hi[2] = {2.5, 2.6};
  const size_t n[2] = {25, 23};
  fpk_model *m2 = langevin("double-well", 2, params(beta, 1, 1, 0, 0, 0));
  fpk_model *m1 = langevin("double-well", 1, params(beta, 1, 1, 0, 0, 0));
  fpk_grid g = fpk_test_grid(2, n, lo, hi);
  fpk_grid gx = grid1(n[0], lo[0], hi[0], FPK_BC_REFLECTING);
  fpk_grid gy = grid1(n[1], lo[1], hi[1], FPK_BC_REFLECTING);
  double *p = malloc(g.size * sizeof *p), px[25], py[23], o2, ox, oy;
  fpk_error err = {0};
  assert_int_equal(fpk_exact_gibbs_cells(m2, beta, &g, p, &o2, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_gibbs_cells(m1, beta, &gx, px, &ox, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_gibbs_cells(m1, beta, &gy, py, &oy, &err), FPK_SUCCESS);
  double worst = 0.0, pmax = 0.0;
  for (size_t c = 0; c < g.size; c++) pmax = fmax(pmax, p[c]);
  for (size_t j = 0; j < n[1]; j++)
    for (size_t i = 0; i < n[0]; i++) {
      const double ref = px[i] * py[j];
      assert_close_rel(p[i + n[0] * j], ref, 1e-13);
      worst = fmax(worst, fabs(p[i + n[0] * j] - ref) / ref);
    }
  assert_close_abs(fpk_grid_integral(&g, p), 1.0, 1e-14);
  assert_close_rel(o2, 1 - (1 - ox) * (1 - oy), 1e-12);
  assert_true(ox > 0.0 && oy > ox); /* the y box is the tighter one, at its lower end */
  print_message("2D Gibbs cells vs product of 1D: max rel err %.2e\n", worst);
  free(p);
  fpk_model_free(m1);
  fpk_model_free(m2);
}

static void test_gibbs_invalid(void **state) {
  (void)state;
  fpk_grid g = grid1(10, -2, 2, FPK_BC_REFLECTING);
  double p[10], out = 0;
  fpk_error err = {0};
  const double A = 1, mu = 0, sig = 1;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_int_equal(fpk_exact_gibbs_cells(ou, 1.0, &g, p, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "no potential"));
  fpk_model_free(ou);
  fpk_model *m = langevin("double-well", 1, params(1, 1, 1, 0, 0, 0));
  assert_int_equal(fpk_exact_gibbs_cells(m, 0.0, &g, p, NULL, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_gibbs_cells(m, NAN, &g, p, NULL, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_gibbs_cells(m, 1.0, &g, NULL, NULL, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_gibbs_cells(NULL, 1.0, &g, p, NULL, &err), FPK_EINVAL);
  const size_t n2[2] = {4, 4};
  const double lo2[2] = {-1, -1}, hi2[2] = {1, 1};
  fpk_grid g2 = fpk_test_grid(2, n2, lo2, hi2);
  double p2[16];
  assert_int_equal(fpk_exact_gibbs_cells(m, 1.0, &g2, p2, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension"));
  fpk_model_free(m);
  /* The tilted cosine has infinite Gibbs mass on ℝ: all of it is outside any box. */
  fpk_model *tc = langevin("tilted-cosine", 1, params(2, 1, 1, 0, 0, 0));
  assert_int_equal(fpk_exact_gibbs_cells(tc, 2.0, &g, p, &out, &err), FPK_SUCCESS);
  assert_true(out == 1.0);
  fpk_model_free(tc);
}

/* ==== periodic steady state ================================================================= */

static double max_of(size_t n, const double *p) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, p[i]);
  return m;
}

/* (i) No tilt, no modulation: the steady state on a torus that U is periodic on is the Gibbs
 * density with zero current, to 1e-13. Two periods on the box, and a barrier of βA·2 = 16. */
static void test_periodic_equals_gibbs(void **state) {
  (void)state;
  const struct {
    double beta, amp, lo, hi;
    size_t n;
  } cases[] = {{3.0, 1.0, -0.5, 1.5, 40}, {8.0, 1.0, 0.0, 1.0, 64}, {1.0, -0.4, 0.2, 1.2, 9}};
  double worst = 0.0, worst_j = 0.0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const size_t n = cases[k].n;
    fpk_model *m = langevin("tilted-cosine", 1, params(cases[k].beta, cases[k].amp, 1, 0, 0, 0));
    fpk_grid g = grid1(n, cases[k].lo, cases[k].hi, FPK_BC_PERIODIC);
    double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q), J = NAN;
    fpk_error err = {0};
    assert_int_equal(fpk_exact_stationary_periodic_1d(m, &g, p, &J, &err), FPK_SUCCESS);
    assert_int_equal(fpk_exact_gibbs_cells(m, cases[k].beta, &g, q, NULL, &err), FPK_SUCCESS);
    const double pmax = max_of(n, q);
    for (size_t i = 0; i < n; i++) {
      assert_close_abs(p[i], q[i], 1e-13 * pmax);
      worst = fmax(worst, fabs(p[i] - q[i]) / pmax);
    }
    /* current scale (D/L) p_max with D = 1/β */
    const double jscale = pmax / cases[k].beta / (cases[k].hi - cases[k].lo);
    assert_close_abs(J, 0.0, 1e-13 * jscale);
    worst_j = fmax(worst_j, fabs(J) / jscale);
    free(p), free(q);
    fpk_model_free(m);
  }
  print_message("periodic, no tilt: max |p - Gibbs|/max p %.2e, |J|/scale %.2e\n", worst,
                worst_j);
}

/* (ii) Constant drift F, constant noise: uniform density, J = F/L for either sign, also when
 * ΔΦ = βFL is far beyond the double range of e^{ΔΦ} (±1500). */
static void test_periodic_uniform(void **state) {
  (void)state;
  const struct {
    double beta, F, lo, hi;
  } cases[] = {{2.0, 0.7, 0.0, 1.0},  {2.0, -1.3, 0.0, 2.0}, {0.5, 1e-9, -1.0, 2.0},
               {10.0, 40.0, 0.0, 3.0}, {10.0, -50.0, 0.0, 3.0}, {50.0, 10.0, -1.0, 2.0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const double L = cases[k].hi - cases[k].lo;
    fpk_model *m = langevin("tilted-cosine", 1, params(cases[k].beta, 0.0, 1, cases[k].F, 0, 0));
    fpk_grid g = grid1(12, cases[k].lo, cases[k].hi, FPK_BC_PERIODIC);
    double p[12], J = NAN;
    fpk_error err = {0};
    assert_int_equal(fpk_exact_stationary_periodic_1d(m, &g, p, &J, &err), FPK_SUCCESS);
    for (size_t i = 0; i < 12; i++) assert_close_rel(p[i], 1.0 / L, 1e-13);
    assert_close_rel(J, cases[k].F / L, 1e-13);
    fpk_model_free(m);
  }
}

/* (iv) Modulated noise, no drift: p ∝ 1/D(x) ∝ (1 + ε cos kx)^{-2}, cell integrals by QUADPACK,
 * normalised by the exact ∫ over one period, (1 − ε²)^{-3/2} per unit length. This is the Itô
 * steady state: the noise-induced drift piles mass up where the noise is weak. */
typedef struct mod_par {
  double eps, k;
} mod_par;

static double inv_d(double x, void *par) {
  const mod_par *q = par;
  const double s = 1 + q->eps * cos(q->k * x);
  return 1 / (s * s);
}

static void test_periodic_modulated_noise(void **state) {
  (void)state;
  const double eps = 0.6, per = 0.5, lo = -0.25, hi = 0.75; /* two periods */
  const size_t n = 20;
  /* no potential: the tilted cosine with zero amplitude */
  fpk_model *m = langevin("tilted-cosine", 1, params(3.0, 0.0, per, 0, 0, eps));
  fpk_grid g = grid1(n, lo, hi, FPK_BC_PERIODIC);
  double p[20], J = NAN;
  fpk_error err = {0};
  assert_int_equal(fpk_exact_stationary_periodic_1d(m, &g, p, &J, &err), FPK_SUCCESS);
  mod_par q = {eps, 2 * M_PI / per};
  gsl_function f = {inv_d, &q};
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
  const double Z = (hi - lo) * pow(1 - eps * eps, -1.5);
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double a = lo + i * g.h[0];
    const double ref = quad(&f, a, a + g.h[0], w) / (Z * g.h[0]);
    assert_close_rel(p[i], ref, 1e-13);
    worst = fmax(worst, fabs(p[i] - ref) / ref);
  }
  gsl_integration_workspace_free(w);
  assert_close_abs(J, 0.0, 1e-14);
  print_message("periodic, modulated noise: max rel err vs 1/D %.2e\n", worst);
  fpk_model_free(m);
}

/* ---- (iii) an independent pointwise evaluation of the closed form ------------------------- */

/* Φ(x) = ∫_lo^x b/D, I(x) = ∫_x^{x+L} e^{Φ(x)−Φ(y)} dy and D p = N I by nested QUADPACK
 * integrals calling the model one point at a time: no code shared with the library. */
typedef struct pointwise {
  const fpk_model *m;
  double lo, L, dphi, N;
  double px; /* Φ(x) of the current outer point */
  gsl_integration_workspace *w1, *w2, *w3;
} pointwise;

static void bd(const fpk_model *m, double x, double *b, double *D) {
  double s;
  fpk_error err = {0};
  assert_int_equal(fpk_model_drift(m, 0.0, 1, &x, b, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_noise(m, 0.0, 1, &x, &s, &err), FPK_SUCCESS);
  *D = 0.5 * s * s;
}

static double r_fn(double x, void *par) {
  double b, D;
  bd(((pointwise *)par)->m, x, &b, &D);
  return b / D;
}

static double phi_at(pointwise *pw, double x) {
  const double k = floor((x - pw->lo) / pw->L), y = x - k * pw->L;
  gsl_function f = {r_fn, pw};
  /* Φ enters through e^{Φ(x)−Φ(y)}: an absolute error of 1e-13 is a relative 1e-13 of p. */
  return (y > pw->lo ? quad_abs(&f, pw->lo, y, 1e-13, pw->w1) : 0.0) + k * pw->dphi;
}

static double inner_fn(double y, void *par) {
  pointwise *pw = par;
  return exp(pw->px - phi_at(pw, y));
}

/* D p / N at x */
static double dp_unnorm(pointwise *pw, double x) {
  pw->px = phi_at(pw, x);
  gsl_function f = {inner_fn, pw};
  return quad(&f, x, x + pw->L, pw->w2);
}

static double p_unnorm_fn(double x, void *par) {
  pointwise *pw = par;
  double b, D;
  bd(pw->m, x, &b, &D);
  return dp_unnorm(pw, x) / D;
}

static void pointwise_init(pointwise *pw, const fpk_model *m, double lo, double hi) {
  pw->m = m;
  pw->lo = lo;
  pw->L = hi - lo;
  pw->w1 = gsl_integration_workspace_alloc(200);
  pw->w2 = gsl_integration_workspace_alloc(200);
  pw->w3 = gsl_integration_workspace_alloc(200);
  gsl_function f = {r_fn, pw};
  pw->dphi = quad(&f, lo, hi, pw->w1);
  gsl_function fp = {p_unnorm_fn, pw};
  pw->N = 1.0 / quad(&fp, lo, hi, pw->w3);
}

static void pointwise_free(pointwise *pw) {
  gsl_integration_workspace_free(pw->w1);
  gsl_integration_workspace_free(pw->w2);
  gsl_integration_workspace_free(pw->w3);
}

/* A model that is not a Langevin model: b = sin x + 0.3, σ = 1 + 0.4 cos x on [0, 2π). */
static int wavy_drift(double t, size_t n, const double *x, double *out, void *par) {
  (void)t, (void)par;
  for (size_t i = 0; i < n; i++) out[i] = sin(x[i]) + 0.3;
  return 0;
}

static int wavy_noise(double t, size_t n, const double *x, double *out, void *par) {
  (void)t, (void)par;
  for (size_t i = 0; i < n; i++) out[i] = 1 + 0.4 * cos(x[i]);
  return 0;
}

/* (iii) Tilt and potential (and modulated noise): the pointwise closed form satisfies the
 * defining ODE b p − (D p)' = J (7-point derivative, h = 1e-3: truncation ~1e-10 here) with the
 * library's J at every point, and the library's cell averages equal the pointwise formula's to 1e-11. */
static void test_periodic_flux_ode(void **state) {
  (void)state;
  fpk_model wavy = {.name = "wavy", .dim = 1, .drift = wavy_drift, .noise = wavy_noise,
                    .flags = FPK_MODEL_AUTONOMOUS};
  const struct {
    double beta, amp, per, F, eps, lo, hi;
    size_t n;
    int custom;
  } cases[] = {{4.0, 0.8, 1.0, 1.1, 0.3, 0.0, 1.0, 16, 0},
               {2.0, 1.0, 0.5, -2.5, 0.0, -0.5, 0.5, 12, 0},
               {1.5, -0.6, 1.0, 0.4, -0.45, 0.3, 2.3, 10, 0},
               {0, 0, 0, 0, 0, 0.0, 2 * M_PI, 12, 1}};
  double worst_ode = 0.0, worst_cell = 0.0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_model *m = cases[k].custom ? &wavy
                                   : langevin("tilted-cosine", 1,
                                              params(cases[k].beta, cases[k].amp, cases[k].per,
                                                     cases[k].F, 0, cases[k].eps));
    const size_t n = cases[k].n;
    const double lo = cases[k].lo, hi = cases[k].hi, L = hi - lo;
    fpk_grid g = grid1(n, lo, hi, FPK_BC_PERIODIC);
    double p[16], J = NAN;
    fpk_error err = {0};
    assert_int_equal(fpk_exact_stationary_periodic_1d(m, &g, p, &J, &err), FPK_SUCCESS);
    double mass = 0.0;
    for (size_t i = 0; i < n; i++) mass += p[i] * g.h[0];
    assert_close_abs(mass, 1.0, 1e-14);

    pointwise pw;
    pointwise_init(&pw, m, lo, hi);
    /* the current of the formula itself, N (1 − e^{−ΔΦ}) */
    assert_close_rel(J, pw.N * -expm1(-pw.dphi), 1e-11);
    const double pmax = max_of(n, p);
    double b0, D0;
    bd(m, lo, &b0, &D0);
    const double jscale = fmax(fabs(J), pmax * D0 / L);
    const double hs = 1e-3, c7[3] = {45.0 / 60, -9.0 / 60, 1.0 / 60};
    for (size_t i = 0; i < 9; i++) {
      const double x = lo + L * (i + 0.37) / 9;
      double b, D;
      bd(m, x, &b, &D);
      double dq = 0.0; /* 7-point, 6th-order centred derivative of D p */
      for (int j = 1; j <= 3; j++)
        dq += c7[j - 1] * pw.N * (dp_unnorm(&pw, x + j * hs) - dp_unnorm(&pw, x - j * hs)) / hs;
      const double Jx = b * pw.N * dp_unnorm(&pw, x) / D - dq;
      assert_close_abs(Jx, J, 1e-8 * jscale);
      worst_ode = fmax(worst_ode, fabs(Jx - J) / jscale);
    }
    for (size_t i = 0; i < n; i += n / 3) {
      gsl_function f = {p_unnorm_fn, &pw};
      const double a = lo + i * g.h[0];
      const double ref = pw.N * quad(&f, a, a + g.h[0], pw.w3) / g.h[0];
      assert_close_abs(p[i], ref, 1e-11 * pmax);
      worst_cell = fmax(worst_cell, fabs(p[i] - ref) / pmax);
    }
    pointwise_free(&pw);
    if (!cases[k].custom) fpk_model_free(m);
  }
  print_message("periodic with tilt: ODE residual %.2e of the current scale, cells vs pointwise "
                "formula %.2e of the peak\n",
                worst_ode, worst_cell);
}

/* Mirror symmetry with tilts so strong that e^{±ΔΦ} and e^{β·barrier} leave the double range:
 * U is even, so tilt −F gives p(−x) and −J. Exercises both signs of ΔΦ against each other. */
static void test_periodic_extreme_mirror(void **state) {
  (void)state;
  const struct {
    double beta, amp, F, eps;
  } cases[] = {{20.0, 1.0, 60.0, 0.0}, {40.0, 2.0, 5.0, 0.2}, {5.0, 3.0, 300.0, 0.1}};
  const size_t n = 200;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_model *mp = langevin("tilted-cosine", 1,
                             params(cases[k].beta, cases[k].amp, 1, cases[k].F, 0, cases[k].eps));
    fpk_model *mm = langevin("tilted-cosine", 1,
                             params(cases[k].beta, cases[k].amp, 1, -cases[k].F, 0, cases[k].eps));
    fpk_grid g = grid1(n, -0.5, 0.5, FPK_BC_PERIODIC);
    double *p = malloc(2 * n * sizeof *p), *q = p + n, Jp = NAN, Jm = NAN;
    fpk_error err = {0};
    if (fpk_exact_stationary_periodic_1d(mp, &g, p, &Jp, &err)) fail_msg("%s", err.msg);
    if (fpk_exact_stationary_periodic_1d(mm, &g, q, &Jm, &err)) fail_msg("%s", err.msg);
    const double pmax = max_of(n, p);
    double mass = 0.0;
    for (size_t i = 0; i < n; i++) {
      assert_true(isfinite(p[i]) && p[i] >= 0.0);
      assert_close_abs(q[n - 1 - i], p[i], 1e-12 * pmax);
      mass += p[i] * g.h[0];
    }
    assert_close_abs(mass, 1.0, 1e-13);
    assert_true(Jp > 0.0);
    assert_close_rel(Jm, -Jp, 1e-12);
    free(p);
    fpk_model_free(mp);
    fpk_model_free(mm);
  }
}

static int t_drift(double t, size_t n, const double *x, double *out, void *par) {
  (void)par;
  for (size_t i = 0; i < n; i++) out[i] = sin(x[i]) + t;
  return 0;
}

static void test_periodic_invalid(void **state) {
  (void)state;
  double p[16], J;
  fpk_error err = {0};
  fpk_model *tc = langevin("tilted-cosine", 1, params(2, 1, 1, 0.5, 0, 0));
  fpk_grid refl = grid1(16, 0, 1, FPK_BC_REFLECTING), per = grid1(16, 0, 1, FPK_BC_PERIODIC);
  assert_int_equal(fpk_exact_stationary_periodic_1d(tc, &refl, p, &J, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not periodic"));
  /* L = 1.3 is not a multiple of the period 1 */
  fpk_grid off = grid1(16, 0, 1.3, FPK_BC_PERIODIC);
  assert_int_equal(fpk_exact_stationary_periodic_1d(tc, &off, p, &J, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not periodic with the grid's period"));
  fpk_model *dw = langevin("double-well", 1, params(2, 1, 1, 0, 0, 0));
  assert_int_equal(fpk_exact_stationary_periodic_1d(dw, &per, p, &J, &err), FPK_EINVAL);
  fpk_model_free(dw);
  fpk_model *tc2 = langevin("tilted-cosine", 2, params(2, 1, 1, 0, 0, 0));
  const size_t n2[2] = {4, 4};
  const double lo2[2] = {0, 0}, hi2[2] = {1, 1};
  const fpk_bc bc2[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  fpk_grid g2;
  assert_int_equal(fpk_grid_init(&g2, 2, n2, lo2, hi2, bc2, &err), FPK_SUCCESS);
  assert_int_equal(fpk_exact_stationary_periodic_1d(tc2, &g2, p, &J, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "1D only"));
  fpk_model_free(tc2);
  fpk_model nonaut = {.name = "moving", .dim = 1, .drift = t_drift, .noise = wavy_noise};
  assert_int_equal(fpk_exact_stationary_periodic_1d(&nonaut, &per, p, &J, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "not autonomous"));
  assert_int_equal(fpk_exact_stationary_periodic_1d(NULL, &per, p, &J, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_stationary_periodic_1d(tc, &per, NULL, &J, &err), FPK_EINVAL);
  /* flux may be NULL */
  assert_int_equal(fpk_exact_stationary_periodic_1d(tc, &per, p, NULL, &err), FPK_SUCCESS);
  fpk_model_free(tc);
}

int main(void) {
  /* QUADPACK references report through their status; GSL's default handler would abort. */
  gsl_set_error_handler_off();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),
      cmocka_unit_test(test_langevin_fields),
      cmocka_unit_test(test_gradient_vs_potential),
      cmocka_unit_test(test_langevin_invalid),
      cmocka_unit_test(test_gibbs_1d),
      cmocka_unit_test(test_gibbs_2d),
      cmocka_unit_test(test_gibbs_invalid),
      cmocka_unit_test(test_periodic_equals_gibbs),
      cmocka_unit_test(test_periodic_uniform),
      cmocka_unit_test(test_periodic_modulated_noise),
      cmocka_unit_test(test_periodic_flux_ode),
      cmocka_unit_test(test_periodic_extreme_mirror),
      cmocka_unit_test(test_periodic_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
