/* Tests for the built-in non-linear models (src/models/langevin.c, gbm.c, bridge.c, mixture.c)
 * and their closed forms (src/exact/stationary.c): Gibbs cell averages and the periodic 1D
 * steady state; the pathwise solution of geometric Brownian motion; the Brownian bridge's mean
 * and variance; the Gaussian-mixture score and the mixture's cell probabilities.
 * References: ../shared/reference/closed-forms.md ("Langevin dynamics": the partition function
 * of the double well in modified Bessel functions), Risken (1989) §11.3 for the tilted periodic
 * potential. The periodic closed form is checked against an independent pointwise evaluation by
 * nested QUADPACK integrals and the defining ODE J = b p − (D p)'. Every tolerance is far tighter
 * than a factor of 2 in D = σ²/2 or a sign error in the tilt could meet. */
#include "fpk_test.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_bessel.h>

#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/sde.h"

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
  assert_ptr_equal(fpk_potential_lookup("harmonic"), fpk_potential_harmonic);
  assert_null(fpk_potential_lookup("quartic"));
  assert_null(fpk_potential_lookup(NULL));
  size_t k = 0;
  while (fpk_potentials[k]) k++;
  assert_int_equal(k, 3);
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
      {"quartic", 1, ok, "unknown potential 'quartic' (known: double-well, tilted-cosine, harmonic)"},
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

/* ==== geometric Brownian motion ============================================================= */

/* Fields, σ' and the pathwise solution of dX = μX dt + σX dW against the formulas
 * (closed-forms.md, "Geometric Brownian motion"); E X_t = x0 e^{μt} by integrating the solution
 * against the law N(0, t) of W_t (trapezoid on ±12√t, spectrally accurate for this integrand),
 * which pins the Itô correction −σ²/2; and the flow property X_{t0→t2} = X_{t1→t2} ∘ X_{t0→t1}. */
static void test_gbm(void **state) {
  (void)state;
  const double mu[2] = {0.3, -0.7}, sig[2] = {0.4, 1.1};
  fpk_error err = {0};
  fpk_model *m = fpk_model_gbm_alloc(2, mu, sig, &err);
  if (!m) fail_msg("%s", err.msg);
  assert_string_equal(m->name, "gbm");
  assert_int_equal(m->dim, 2);
  assert_int_equal(m->flags, FPK_MODEL_AUTONOMOUS);
  assert_null(m->linear);
  assert_non_null(m->noise_dx);
  assert_non_null(m->solution);
  const fpk_gbm_params *gp = fpk_model_gbm_params(m);
  assert_non_null(gp);
  assert_int_equal(gp->dim, 2);
  assert_true(gp->mu[0] == 0.3 && gp->mu[1] == -0.7 && gp->sigma[0] == 0.4 && gp->sigma[1] == 1.1);
  enum { N = 5 };
  const double x[2 * N] = {0.5, 1.0, 2.5, 1e-3, -0.8, 3.0, 0.2, 1.7, 9.0, 0.05};
  double b[2 * N], s[2 * N], g[2 * N];
  assert_int_equal(fpk_model_drift(m, 0.4, N, x, b, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_noise(m, 0.4, N, x, s, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_noise_dx(m, 0.4, N, x, g, &err), FPK_SUCCESS);
  for (size_t c = 0; c < 2; c++)
    for (size_t i = 0; i < N; i++) {
      assert_true(b[c * N + i] == mu[c] * x[c * N + i]);
      assert_true(s[c * N + i] == sig[c] * x[c * N + i]);
      assert_true(g[c * N + i] == sig[c]);
    }
  const double dw[2 * N] = {0.3, -1.2, 0.0, 2.2, -0.05, 1.0, -0.4, 0.7, -2.0, 0.01};
  const double t0 = 0.2, t1 = 0.9, t2 = 1.7;
  double X[2 * N], Y[2 * N], Z[2 * N], dw2[2 * N];
  assert_int_equal(m->solution(t0, t2, N, x, dw, X, m->params), 0);
  for (size_t c = 0; c < 2; c++)
    for (size_t i = 0; i < N; i++) {
      const double e = x[c * N + i] * exp((mu[c] - sig[c] * sig[c] / 2) * (t2 - t0) +
                                          sig[c] * dw[c * N + i]);
      assert_close_rel(X[c * N + i], e, 1e-15);
    }
  for (size_t k = 0; k < 2 * N; k++) dw2[k] = 0.37 * dw[k] - 0.2;
  double dsum[2 * N];
  for (size_t k = 0; k < 2 * N; k++) dsum[k] = dw[k] + dw2[k];
  assert_int_equal(m->solution(t0, t1, N, x, dw, Y, m->params), 0);
  assert_int_equal(m->solution(t1, t2, N, Y, dw2, Z, m->params), 0);
  assert_int_equal(m->solution(t0, t2, N, x, dsum, X, m->params), 0);
  for (size_t k = 0; k < 2 * N; k++) assert_close_rel(Z[k], X[k], 1e-14);
  /* E X_t = x0 e^{μ t} */
  double worst = 0.0;
  for (size_t c = 0; c < 2; c++) {
    const double t = 1.3, sd = sqrt(t), x0[2] = {1.5, 0.7};
    const size_t K = 4001;
    double acc = 0.0;
    for (size_t k = 0; k < K; k++) {
      const double w = -12 * sd + 24 * sd * (double)k / (double)(K - 1);
      double in[2] = {x0[0], x0[1]}, dwk[2] = {w, w}, out[2];
      assert_int_equal(m->solution(0.0, t, 1, in, dwk, out, m->params), 0);
      (void)in;
      const double wt = (k == 0 || k == K - 1) ? 0.5 : 1.0;
      acc += wt * out[c] * exp(-w * w / (2 * t)) / sqrt(2 * M_PI * t);
    }
    acc *= 24 * sd / (double)(K - 1);
    const double e = x0[c] * exp(mu[c] * t);
    assert_close_rel(acc, e, 1e-12);
    worst = fmax(worst, fabs(acc - e) / e);
  }
  print_message("GBM: E X_t from the pathwise solution vs x0 e^{mu t}: rel err %.2e\n", worst);
  fpk_model_free(m);

  const double one = 1.0, zero = 0.0, neg = -1.0, inf = INFINITY, nan = NAN;
  struct {
    size_t dim;
    const double *mu, *sig;
    const char *msg;
  } bad[] = {{0, &one, &one, "dimension 0"},      {4, &one, &one, "dimension 4"},
             {1, &one, &zero, "sigma[0] = 0"},    {1, &one, &neg, "sigma[0] = -1"},
             {1, &one, &inf, "sigma[0] = inf"},   {1, &nan, &one, "mu[0] = nan"},
             {1, &inf, &one, "mu[0] = inf"},      {1, NULL, &one, "mu is NULL"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    assert_null(fpk_model_gbm_alloc(bad[k].dim, bad[k].mu, bad[k].sig, &err));
    assert_int_equal(err.status, FPK_EINVAL);
    if (!strstr(err.msg, bad[k].msg)) fail_msg("case %zu: '%s' lacks '%s'", k, err.msg, bad[k].msg);
  }
  fpk_model *bm = fpk_model_bm_alloc(1, &one, &one, &err);
  assert_null(fpk_model_gbm_params(bm));
  assert_null(fpk_model_gbm_params(NULL));
  assert_null(fpk_model_bridge_params(bm));
  assert_null(fpk_model_mixture(bm));
  fpk_model_free(bm);
}

/* ==== Brownian bridge ======================================================================= */

static fpk_model *bridge(size_t dim, const double *a, const double *b, double T,
                         const double *sig) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_bridge_alloc(dim, a, b, T, sig, &err);
  if (!m) fail_msg("fpk_model_bridge_alloc: %s", err.msg);
  return m;
}

/* Fields (b − x)/(T − t) and σ, flags, parameters; the recoverable failure at and after T. */
static void test_bridge_fields(void **state) {
  (void)state;
  const double a[2] = {0.5, -1.0}, b[2] = {2.0, 0.3}, T = 1.5, sig[2] = {0.4, 0.9};
  fpk_model *m = bridge(2, a, b, T, sig);
  assert_string_equal(m->name, "bridge");
  assert_int_equal(m->flags, FPK_MODEL_ADDITIVE);
  assert_null(m->linear);
  assert_null(m->noise_dx);
  assert_null(m->solution);
  const fpk_bridge_params *bp = fpk_model_bridge_params(m);
  assert_non_null(bp);
  assert_true(bp->dim == 2 && bp->T == T && bp->a[0] == 0.5 && bp->a[1] == -1.0 &&
              bp->b[0] == 2.0 && bp->b[1] == 0.3 && bp->sigma[0] == 0.4 && bp->sigma[1] == 0.9);
  enum { N = 4 };
  const double x[2 * N] = {-1.0, 0.0, 2.0, 3.5, 0.3, -2.0, 1.0, 0.0};
  double out[2 * N], s[2 * N];
  const double ts[3] = {0.0, 0.7, 1.49};
  fpk_error err = {0};
  for (size_t k = 0; k < 3; k++) {
    assert_int_equal(fpk_model_drift(m, ts[k], N, x, out, &err), FPK_SUCCESS);
    assert_int_equal(fpk_model_noise(m, ts[k], N, x, s, &err), FPK_SUCCESS);
    for (size_t c = 0; c < 2; c++)
      for (size_t i = 0; i < N; i++) {
        const double e = (b[c] - x[c * N + i]) / (T - ts[k]);
        if (e == 0.0)
          assert_true(out[c * N + i] == 0.0);
        else
          assert_close_rel(out[c * N + i], e, 1e-15);
        assert_true(s[c * N + i] == sig[c]);
      }
  }
  const double tbad[3] = {T, 2.0, INFINITY};
  for (size_t k = 0; k < 3; k++) {
    assert_true(m->drift(tbad[k], N, x, out, m->params) > 0);
    assert_int_equal(fpk_model_drift(m, tbad[k], N, x, out, &err), FPK_ENUMERIC);
    assert_non_null(strstr(err.msg, "recoverable"));
  }
  assert_true(m->drift(NAN, N, x, out, m->params) > 0);
  fpk_model_free(m);

  const double one = 1.0, zero = 0.0, nan = NAN;
  struct {
    size_t dim;
    const double *a, *b, T, *s;
    const char *msg;
  } bad[] = {{0, &one, &one, 1.0, &one, "dimension 0"},
             {1, &one, &one, 0.0, &one, "T = 0"},
             {1, &one, &one, -2.0, &one, "T = -2"},
             {1, &one, &one, INFINITY, &one, "T = inf"},
             {1, &nan, &one, 1.0, &one, "a[0] = nan"},
             {1, &one, &nan, 1.0, &one, "b[0] = nan"},
             {1, &one, &one, 1.0, &zero, "sigma[0] = 0"},
             {1, &one, NULL, 1.0, &one, "b is NULL"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    assert_null(fpk_model_bridge_alloc(bad[k].dim, bad[k].a, bad[k].b, bad[k].T, bad[k].s, &err));
    assert_int_equal(err.status, FPK_EINVAL);
    if (!strstr(err.msg, bad[k].msg)) fail_msg("case %zu: '%s' lacks '%s'", k, err.msg, bad[k].msg);
  }
}

/* Monte Carlo of the bridge from a: Euler–Maruyama's mean is exactly a + (b − a)t_n/T (the
 * recursion m_{n+1} − b = (m_n − b)(1 − h/(T − t_n)) telescopes), its variance follows
 * v_{n+1} = v_n (1 − h/(T − t_n))² + σ²h; both within 5 standard errors of 40000 paths. The
 * continuous variance σ² t(T − t)/T (closed-forms.md) is within O(h) of the chain's. */
static void test_bridge_monte_carlo(void **state) {
  (void)state;
  const double a = 0.5, b = 2.0, T = 1.0, sig = 0.4, v0 = 1e-4;
  fpk_model *m = bridge(1, &a, &b, T, &sig);
  const double lo = -2.0, hi = 4.0, t_out[3] = {0.25, 0.5, 0.9}, h = 0.01;
  const size_t n = 60, npaths = 40000;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  fpk_gaussian init = fpk_test_gaussian(1, &a, &v0);
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = npaths, .dt = h, .seed = 11};
  fpk_mc_result res = {0};
  fpk_error err = {0};
  if (fpk_mc_run(m, &init, &g, t_out, 3, &p, &res, &err)) fail_msg("%s", err.msg);
  double v = v0, t = 0.0, worst = 0.0;
  for (size_t k = 0; k < 3; k++) {
    while (t < t_out[k] - 1e-9) {
      const double f = 1.0 - h / (T - t);
      v = v * f * f + sig * sig * h;
      t += h;
    }
    const double mean = a + (b - a) * t_out[k] / T;
    assert_close_abs(res.mean[k], mean, 5 * sqrt(v / npaths));
    assert_close_abs(res.cov[k], v, 5 * v * sqrt(2.0 / (npaths - 1)));
    assert_close_rel(v, sig * sig * t_out[k] * (T - t_out[k]) / T, 0.1);
    worst = fmax(worst, fabs(res.mean[k] - mean) / sqrt(v / npaths));
  }
  print_message("bridge MC: mean within %.2f standard errors of a + (b - a) t/T\n", worst);
  fpk_mc_result_free(&res);
  fpk_model_free(m);
}

/* ==== mixture Langevin ====================================================================== */

static fpk_mixture mixture1(void) {
  fpk_mixture mx = {.dim = 1, .K = 3};
  const double w[3] = {0.2, 0.5, 0.3}, mu[3] = {-2.0, 0.3, 1.8}, sd[3] = {0.5, 0.8, 0.3};
  for (size_t k = 0; k < 3; k++) {
    mx.weight[k] = w[k];
    mx.mean[k][0] = mu[k];
    mx.cov[k][0] = sd[k] * sd[k];
  }
  return mx;
}

/* Unnormalised weights and full, anisotropic covariances. */
static fpk_mixture mixture2(void) {
  fpk_mixture mx = {.dim = 2, .K = 3};
  const double w[3] = {1.0, 2.0, 1.5}, mu[3][2] = {{-1.5, 0.0}, {1.0, 1.0}, {1.0, -1.2}};
  const double S[3][4] = {{0.3, 0.1, 0.1, 0.2}, {0.25, 0.0, 0.0, 0.6}, {0.2, -0.12, -0.12, 0.3}};
  for (size_t k = 0; k < 3; k++) {
    mx.weight[k] = w[k];
    memcpy(mx.mean[k], mu[k], 2 * sizeof(double));
    memcpy(mx.cov[k], S[k], 4 * sizeof(double));
  }
  return mx;
}

static fpk_model *mixture_model(const fpk_mixture *mx) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_mixture_langevin_alloc(mx, &err);
  if (!m) fail_msg("fpk_model_mixture_langevin_alloc: %s", err.msg);
  return m;
}

/* log N(x; m_k, S_k) for dim <= 2 by the explicit inverse and determinant (no code shared with
 * the library's Cholesky). */
static double log_normal(const fpk_mixture *mx, size_t k, const double *x) {
  const double *S = mx->cov[k], *m = mx->mean[k];
  if (mx->dim == 1) {
    const double d = x[0] - m[0];
    return -0.5 * d * d / S[0] - 0.5 * log(2 * M_PI * S[0]);
  }
  const double det = S[0] * S[3] - S[1] * S[2], d0 = x[0] - m[0], d1 = x[1] - m[1];
  const double q = (S[3] * d0 * d0 - (S[1] + S[2]) * d0 * d1 + S[0] * d1 * d1) / det;
  return -0.5 * q - 0.5 * log(4 * M_PI * M_PI * det);
}

/* log p by the naive sum, normalising the weights itself. */
static double log_p(const fpk_mixture *mx, const double *x) {
  double s = 0.0, w = 0.0;
  for (size_t k = 0; k < mx->K; k++) w += mx->weight[k];
  for (size_t k = 0; k < mx->K; k++) s += mx->weight[k] / w * exp(log_normal(mx, k, x));
  return log(s);
}

/* The drift is ∇log p: against central differences of the naive log p (step 1e-5: truncation
 * ~1e-10 f''', rounding ~1e-11), at points spread over the modes and between them. */
static void test_mixture_score(void **state) {
  (void)state;
  double worst = 0.0;
  for (size_t dim = 1; dim <= 2; dim++) {
    const fpk_mixture mx = dim == 1 ? mixture1() : mixture2();
    fpk_model *m = mixture_model(&mx);
    enum { N = 41 };
    double x[2 * N], g[2 * N];
    for (size_t i = 0; i < N; i++) {
      x[i] = -3.0 + 6.0 * (double)i / (N - 1) + 0.011;
      x[N + i] = 2.2 * sin(0.9 * (double)i);
    }
    fpk_error err = {0};
    assert_int_equal(fpk_model_drift(m, 0.0, N, x, g, &err), FPK_SUCCESS);
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < dim; a++) {
        const double hs = 1e-5;
        double xp[2] = {x[i], x[N + i]}, xm[2] = {x[i], x[N + i]};
        xp[a] += hs;
        xm[a] -= hs;
        const double fd = (log_p(&mx, xp) - log_p(&mx, xm)) / (2 * hs), got = g[a * N + i];
        assert_close_abs(got, fd, 1e-7 * fabs(fd) + 1e-9);
        worst = fmax(worst, fabs(got - fd) / fmax(fabs(fd), 1e-2));
      }
    fpk_model_free(m);
  }
  print_message("mixture score vs central differences of log p: max rel err %.2e\n", worst);
}

/* Far from the modes every N(x; m_k, S_k) underflows (|x| = 50: log N ~ −5000), but log-sum-exp
 * keeps the score finite and equal to the dominant component's −S_k⁻¹(x − m_k). */
static void test_mixture_far(void **state) {
  (void)state;
  double worst = 0.0;
  for (size_t dim = 1; dim <= 2; dim++) {
    const fpk_mixture mx = dim == 1 ? mixture1() : mixture2();
    fpk_model *m = mixture_model(&mx);
    const double radii[3] = {50.0, 1e3, 1e6};
    for (size_t r = 0; r < 3; r++)
      for (size_t j = 0; j < 8; j++) {
        const double phi = 2 * M_PI * (double)j / 8 + 0.1;
        double x[2] = {radii[r] * cos(phi), radii[r] * sin(phi)}, g[2];
        if (dim == 1) x[0] = j % 2 ? radii[r] : -radii[r];
        fpk_error err = {0};
        assert_int_equal(fpk_model_drift(m, 0.0, 1, x, g, &err), FPK_SUCCESS);
        size_t kbest = 0;
        double lbest = -INFINITY;
        for (size_t k = 0; k < mx.K; k++) {
          const double l = log(mx.weight[k]) + log_normal(&mx, k, x);
          if (l > lbest) lbest = l, kbest = k;
        }
        const double *S = mx.cov[kbest], *mk = mx.mean[kbest];
        double e[2];
        if (dim == 1) {
          e[0] = -(x[0] - mk[0]) / S[0];
        } else {
          const double det = S[0] * S[3] - S[1] * S[2], d0 = x[0] - mk[0], d1 = x[1] - mk[1];
          e[0] = -(S[3] * d0 - S[1] * d1) / det;
          e[1] = -(-S[2] * d0 + S[0] * d1) / det;
        }
        for (size_t a = 0; a < dim; a++) {
          assert_true(isfinite(g[a]));
          assert_close_rel(g[a], e[a], 1e-12);
          worst = fmax(worst, fabs(g[a] - e[a]) / fabs(e[a]));
        }
      }
    fpk_model_free(m);
  }
  print_message("mixture score far from the modes (|x| = 50 .. 1e6): finite, rel err %.2e vs "
                "the dominant component\n",
                worst);
}

static void test_mixture_fields_invalid(void **state) {
  (void)state;
  const fpk_mixture mx = mixture2();
  fpk_model *m = mixture_model(&mx);
  assert_string_equal(m->name, "mixture-langevin");
  assert_int_equal(m->flags, FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS);
  assert_null(m->linear);
  const fpk_mixture *got = fpk_model_mixture(m);
  assert_non_null(got);
  assert_int_equal(got->K, 3);
  assert_close_rel(got->weight[1], 2.0 / 4.5, 1e-15);
  assert_close_rel(got->weight[0] + got->weight[1] + got->weight[2], 1.0, 1e-15);
  assert_true(got->cov[2][1] == -0.12 && got->mean[2][1] == -1.2);
  const double x[4] = {0.1, 5.0, -0.3, 2.0};
  double s[4];
  fpk_error err = {0};
  assert_int_equal(fpk_model_noise(m, 0.0, 2, x, s, &err), FPK_SUCCESS);
  for (size_t i = 0; i < 4; i++) assert_true(s[i] == sqrt(2.0));
  fpk_model_free(m);

  const char *msgs[] = {"dimension 0", "0 components", "17 components", "weight[1] = 0",
                        "weight[2] = -1", "weight[0] = nan", "mean[1][0] = inf",
                        "covariance 2 is not symmetric", "covariance 0 is not positive definite",
                        "covariance 1 is not positive definite"};
  for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++) {
    fpk_mixture b = mixture2();
    switch (k) {
      case 0: b.dim = 0; break;
      case 1: b.K = 0; break;
      case 2: b.K = 17; break;
      case 3: b.weight[1] = 0.0; break;
      case 4: b.weight[2] = -1.0; break;
      case 5: b.weight[0] = NAN; break;
      case 6: b.mean[1][0] = INFINITY; break;
      case 7: b.cov[2][1] = -0.1; break;
      case 8: b.cov[0][3] = 0.02; break; /* det = 0.006 - 0.01 < 0 */
      case 9: b.cov[1][0] = -0.25; break;
    }
    fpk_model *mb = fpk_model_mixture_langevin_alloc(&b, &err);
    if (mb) fail_msg("case %zu (%s) was accepted", k, msgs[k]);
    assert_int_equal(err.status, FPK_EINVAL);
    if (!strstr(err.msg, msgs[k])) fail_msg("case %zu: '%s' lacks '%s'", k, err.msg, msgs[k]);
  }
  assert_null(fpk_model_mixture_langevin_alloc(NULL, &err));
}

/* Cell probabilities of the mixture: 1D against differences of the normal CDF (GSL), 2D with full
 * covariances summing to 1 on a box that holds all but ~1e-15 of the mass; and the finite-volume
 * stationary density of the model converging to them at second order (Scharfetter–Gummel on a
 * gradient drift; a check of the score as a whole). */
static void test_mixture_cells(void **state) {
  (void)state;
  const fpk_mixture m1 = mixture1();
  const size_t n = 50;
  const double lo = -4.0, hi = 3.5;
  fpk_grid g = grid1(n, lo, hi, FPK_BC_REFLECTING);
  double q[400], worst = 0.0;
  fpk_error err = {0};
  assert_int_equal(fpk_mixture_cell_probs(&m1, &g, q, &err), FPK_SUCCESS);
  for (size_t i = 0; i < n; i++) {
    const double a = lo + (double)i * g.h[0], b = i + 1 == n ? hi : a + g.h[0];
    double e = 0.0;
    for (size_t k = 0; k < 3; k++) {
      const double sd = sqrt(m1.cov[k][0]);
      e += m1.weight[k] * (gsl_cdf_gaussian_P(b - m1.mean[k][0], sd) -
                           gsl_cdf_gaussian_P(a - m1.mean[k][0], sd));
    }
    assert_close_abs(q[i], e, 1e-15);
    worst = fmax(worst, fabs(q[i] - e));
  }
  const fpk_mixture m2 = mixture2();
  const size_t n2[2] = {20, 20};
  const double lo2[2] = {-7.0, -7.0}, hi2[2] = {7.0, 7.0};
  fpk_grid g2 = fpk_test_grid(2, n2, lo2, hi2);
  assert_int_equal(fpk_mixture_cell_probs(&m2, &g2, q, &err), FPK_SUCCESS);
  double sum = 0.0;
  for (size_t i = 0; i < g2.size; i++) assert_true(q[i] >= 0.0), sum += q[i];
  assert_close_abs(sum, 1.0, 1e-12);
  assert_int_equal(fpk_mixture_cell_probs(&m2, &g, q, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension"));

  fpk_model *m = mixture_model(&m1);
  double l1[2];
  for (size_t r = 0; r < 2; r++) {
    const size_t nr = r ? 320 : 160;
    fpk_grid gr = grid1(nr, lo, hi, FPK_BC_REFLECTING);
    double *p = malloc(nr * sizeof *p), *e = malloc(nr * sizeof *e);
    assert_int_equal(fpk_fv_stationary(&gr, m, p, &err), FPK_SUCCESS);
    assert_int_equal(fpk_mixture_cell_probs(&m1, &gr, e, &err), FPK_SUCCESS);
    double z = 0.0;
    for (size_t i = 0; i < nr; i++) z += e[i];
    l1[r] = 0.0;
    for (size_t i = 0; i < nr; i++) l1[r] += fabs(p[i] - e[i] / (z * gr.h[0])) * gr.h[0];
    free(p), free(e);
  }
  assert_in_range_d(l1[0] / l1[1], 3.6, 4.4);
  print_message("mixture cells vs normal CDFs: max err %.1e; FV stationary L1 %.2e -> %.2e "
                "(ratio %.2f)\n",
                worst, l1[0], l1[1], l1[0] / l1[1]);
  fpk_model_free(m);
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
      cmocka_unit_test(test_gbm),
      cmocka_unit_test(test_bridge_fields),
      cmocka_unit_test(test_bridge_monte_carlo),
      cmocka_unit_test(test_mixture_score),
      cmocka_unit_test(test_mixture_far),
      cmocka_unit_test(test_mixture_fields_invalid),
      cmocka_unit_test(test_mixture_cells),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
