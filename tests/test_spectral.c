/* Tests of the Fourier spectral Fokker–Planck solver (fpkit/spectral.h): every stepper against
 * exact solutions on the torus, fitted orders in time, exponential convergence in N, mass
 * conservation, the stationary solver and spectral gap against closed forms, and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <gsl/gsl_sf_bessel.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/spectral.h"

#include "fpk_test_torus.h"

static fpk_grid torus_grid(size_t d, size_t n) {
  fpk_grid g;
  fpk_error err = {0};
  size_t nn[2] = {n, n};
  double lo[2] = {0, 0}, hi[2] = {TWO_PI, TWO_PI};
  fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, d, nn, lo, hi, bc, &err), FPK_SUCCESS);
  return g;
}

/* Exact cell averages of p(x) = (1 + Σ_m a_m e^{−D m² t} cos(m (x − s))) / 2π in 1D, s the
 * displacement: the cell average of cos(m(x − s)) is cos(m(x_c − s)) sinc(m h / 2). */
static const double MODES[4] = {0.0, 0.5, 0.3, 0.2};

static void transported_cells(const fpk_grid *g, double D, double t, double shift, double *p) {
  const double h = g->h[0];
  for (size_t i = 0; i < g->n[0]; i++) {
    const double xc = fpk_grid_center(g, 0, i);
    double v = 1.0;
    for (int m = 1; m < 4; m++)
      v += MODES[m] * exp(-D * m * m * t) * cos(m * (xc - shift)) * sin(0.5 * m * h) / (0.5 * m * h);
    p[i] = v / TWO_PI;
  }
}

static double l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

static fpk_spectral *make(const fpk_grid *g, const fpk_model *m, const fpk_spectral_stepper_type *T,
                          double dt) {
  fpk_error err = {0};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  fpk_spectral *s = fpk_spectral_alloc(g, m, T, dt, &o, &err);
  if (!s) fail_msg("fpk_spectral_alloc: %s", err.msg);
  return s;
}

/* L1 error at t = 1 of the transported, diffused cosines, time-dependent speed F cos(ωt). */
static double transport_error(const fpk_spectral_stepper_type *T, double dt, size_t n) {
  torus p = {.dim = 1, .F = {2.0, 0}, .omega = 1.5, .s0 = 1.0};
  fpk_model m = torus_model(&p);
  fpk_grid g = torus_grid(1, n);
  double *p0 = malloc(n * sizeof *p0), *pe = malloc(n * sizeof *pe);
  transported_cells(&g, 0.5, 0.0, 0.0, p0);
  fpk_spectral *s = make(&g, &m, T, dt);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_evolve(s, 1.0), FPK_SUCCESS);
  /* shift = ∫_0^1 F cos(ωt) dt = F sin(ω)/ω; D = s0²/2 */
  transported_cells(&g, 0.5, 1.0, p.F[0] * sin(p.omega) / p.omega, pe);
  double e = l1(&g, fpk_spectral_density(s), pe);
  fpk_spectral_free(s);
  free(p0), free(pe);
  return e;
}

static void test_registry(void **state) {
  (void)state;
  assert_ptr_equal(fpk_spectral_stepper_lookup("etdrk4"), fpk_spectral_etdrk4);
  assert_ptr_equal(fpk_spectral_stepper_lookup("sbdf2"), fpk_spectral_sbdf2);
  assert_null(fpk_spectral_stepper_lookup("rk4"));
  assert_int_equal(fpk_spectral_etdrk4->order, 4);
  assert_int_equal(fpk_spectral_sbdf2->order, 2);
}

/* set_density then density returns the same cell averages: the sinc map is inverted exactly. */
static void test_cell_average_roundtrip(void **state) {
  (void)state;
  torus p = {.dim = 2, .F = {0.3, -0.2}, .A = 0.7, .C = 0.4, .s0 = 0.8, .eps = 0.2};
  fpk_model m = torus_model(&p);
  fpk_grid g = torus_grid(2, 16);
  double p0[256];
  for (size_t i = 0; i < g.size; i++) p0[i] = 0.1 + 0.05 * sin(0.7 * (double)i) + 1e-3 * (double)(i % 7);
  fpk_spectral *s = make(&g, &m, fpk_spectral_etdrk4, 0.01);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
  const double *q = fpk_spectral_density(s);
  for (size_t i = 0; i < g.size; i++) assert_close_abs(q[i], p0[i], 1e-15);
  fpk_spectral_free(s);
}

/* Transport + diffusion with a time-dependent speed is exact in space for every N >= 8 (three
 * modes): the error is the time error alone, and its fitted order is the scheme's. */
static void test_time_order(void **state) {
  (void)state;
  const fpk_spectral_stepper_type *T[2] = {fpk_spectral_etdrk4, fpk_spectral_sbdf2};
  const double lo[2] = {3.7, 1.8}, hi[2] = {4.3, 2.2};
  for (size_t k = 0; k < 2; k++) {
    double dt[4] = {0.1, 0.05, 0.025, 0.0125}, e[4];
    for (size_t i = 0; i < 4; i++) e[i] = transport_error(T[k], dt[i], 16);
    double order = fpk_test_fit_order(4, dt, e);
    printf("  %-7s errors %.3e %.3e %.3e %.3e  order %.3f\n", T[k]->name, e[0], e[1], e[2], e[3],
           order);
    assert_in_range_d(order, lo[k], hi[k]);
  }
  /* and ETDRK4 reaches round-off with a small step */
  assert_true(transport_error(fpk_spectral_etdrk4, 1e-3, 16) < 1e-13);
}

/* Mass is the k = 0 mode, untouched by every derivative: conserved to round-off in 2D with
 * coupled drift and state-dependent noise. The density stays a density (finite). */
static void test_mass_conservation(void **state) {
  (void)state;
  torus p = {.dim = 2, .F = {0.5, -0.3}, .A = 1.0, .C = 0.5, .s0 = 0.9, .eps = 0.3};
  fpk_model m = torus_model(&p);
  fpk_grid g = torus_grid(2, 32);
  double *p0 = malloc(g.size * sizeof *p0);
  for (size_t i = 0; i < g.size; i++) {
    double x[2];
    fpk_grid_point(&g, i, x);
    p0[i] = exp(2.0 * cos(x[0] - 1.0) + cos(x[1]));
  }
  double z = fpk_grid_integral(&g, p0);
  for (size_t i = 0; i < g.size; i++) p0[i] /= z;
  for (size_t k = 0; fpk_spectral_steppers[k]; k++) {
    fpk_spectral *s = make(&g, &m, fpk_spectral_steppers[k], 0.01);
    assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
    assert_close_rel(fpk_spectral_mass(s), 1.0, 1e-14);
    assert_int_equal(fpk_spectral_evolve(s, 2.0), FPK_SUCCESS);
    assert_int_equal(fpk_spectral_steps_taken(s), 200);
    assert_close_rel(fpk_spectral_mass(s), 1.0, 1e-13);
    assert_close_rel(fpk_grid_integral(&g, fpk_spectral_density(s)), 1.0, 1e-13);
    fpk_spectral_free(s);
  }
  free(p0);
}

/* Exact stationary density of b = −A sin x, D = s0²/2 (a gradient drift, U = −A cos x):
 * π ∝ e^{κ cos x}, κ = A/D, whose Fourier series is I_0(κ) + 2 Σ I_n(κ) cos(nx) (Jacobi–Anger),
 * so the exact cell averages are (I_0 + 2 Σ_n I_n(κ) cos(n x_c) sinc(nh/2)) / (2π I_0(κ)). */
static void gibbs_cells(const fpk_grid *g, double kappa, double *p) {
  const double h = g->h[0];
  for (size_t i = 0; i < g->n[0]; i++) {
    const double xc = fpk_grid_center(g, 0, i);
    double v = gsl_sf_bessel_I0_scaled(kappa);
    for (int n = 1; n < 80; n++)
      v += 2.0 * gsl_sf_bessel_In_scaled(n, kappa) * cos(n * xc) * sin(0.5 * n * h) / (0.5 * n * h);
    p[i] = v / (TWO_PI * gsl_sf_bessel_I0_scaled(kappa));
  }
}

/* Exponential convergence in N: the stationary density against the Bessel series, and the
 * long-time limit of both steppers against it. */
static void test_stationary_bessel(void **state) {
  (void)state;
  torus p = {.dim = 1, .A = 2.0, .s0 = 1.0};
  fpk_model m = torus_model(&p);
  const double kappa = p.A / (0.5 * p.s0 * p.s0);
  size_t ns[5] = {8, 16, 24, 32, 48};
  double e[5];
  for (size_t k = 0; k < 5; k++) {
    fpk_grid g = torus_grid(1, ns[k]);
    double ps[48], pe[48];
    fpk_error err = {0};
    assert_int_equal(fpk_spectral_stationary(&g, &m, ps, &err), FPK_SUCCESS);
    gibbs_cells(&g, kappa, pe);
    e[k] = l1(&g, ps, pe);
  }
  printf("  stationary L1 vs N: %.2e %.2e %.2e %.2e %.2e\n", e[0], e[1], e[2], e[3], e[4]);
  /* geometric decay: each 8 points gain at least 2 digits (measured: 3) until round-off */
  assert_true(e[0] > 1e-4);
  assert_true(e[1] < e[0] * 1e-2);
  assert_true(e[2] < e[1] * 1e-2);
  assert_true(e[3] < 1e-9);
  assert_true(e[4] < 1e-13);

  fpk_grid g = torus_grid(1, 64);
  double pe[64], p0[64];
  gibbs_cells(&g, kappa, pe);
  for (size_t i = 0; i < 64; i++) p0[i] = 1.0 / TWO_PI;
  for (size_t k = 0; fpk_spectral_steppers[k]; k++) {
    fpk_spectral *s = make(&g, &m, fpk_spectral_steppers[k], 0.01);
    fpk_spectral_set_density(s, 0.0, p0);
    assert_int_equal(fpk_spectral_evolve(s, 40.0), FPK_SUCCESS);
    /* dealiasing keeps modes |k| <= 21 in 𝒩, where π's coefficients I_k(4)/I_0(4) are down
     * to 1e-14; relaxation at rate ~0.5 leaves e^{-20} of the initial error */
    const double e = l1(&g, fpk_spectral_density(s), pe);
    printf("  %s long-time L1 %.3e\n", fpk_spectral_steppers[k]->name, e);
    assert_true(e < 1e-11);
    fpk_spectral_free(s);
  }
}

/* Spectral gap: pure diffusion on the torus has gap D (mode k = 1); OU on a large periodic box
 * has gap θ (eigenvalues −nθ of the OU Fokker–Planck operator). */
static void test_gap(void **state) {
  (void)state;
  fpk_error err = {0};
  torus p = {.dim = 1, .s0 = 0.6};
  fpk_model m = torus_model(&p);
  fpk_grid g = torus_grid(1, 32);
  double gap;
  assert_int_equal(fpk_spectral_gap(&g, &m, &gap, &err), FPK_SUCCESS);
  assert_close_rel(gap, 0.18, 1e-12);

  double A = 1.3, mu = 0.0, sig = 1.0;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  size_t n = 128;
  double lo = -10, hi = 10;
  fpk_bc bc = FPK_BC_PERIODIC;
  fpk_grid go;
  assert_int_equal(fpk_grid_init(&go, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  assert_int_equal(fpk_spectral_gap(&go, ou, &gap, &err), FPK_SUCCESS);
  printf("  OU gap %.15f (theta 1.3)\n", gap);
  assert_close_rel(gap, 1.3, 1e-8);
  fpk_model_free(ou);
}

/* The OU test problem on the periodic box [lo, hi] with n points: ETDRK4 from N(−1, 0.3) to
 * t = 1. Returns the solver (for its density and diagnostics); the grid is written to *g. */
static fpk_spectral *ou_box_run(const fpk_model *ou, const fpk_gaussian *g0, size_t n, double lo,
                                double hi, double dt, const fpk_density_guard *guard,
                                fpk_grid *g) {
  fpk_error err = {0};
  fpk_bc bc = FPK_BC_PERIODIC;
  assert_int_equal(fpk_grid_init(g, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  double p0[128];
  assert_true(n <= 128);
  fpk_gaussian_cell_probs(g0, g, p0, &err);
  for (size_t i = 0; i < n; i++) p0[i] /= g->h[0];
  fpk_spectral *s = make(g, ou, fpk_spectral_etdrk4, dt);
  fpk_spectral_set_density(s, 0.0, p0);
  if (guard) assert_int_equal(fpk_spectral_set_guard(s, guard), FPK_SUCCESS);
  const int rc = fpk_spectral_evolve(s, 1.0);
  if (rc) fail_msg("n = %zu on [%g, %g]: %s", n, lo, hi, fpk_spectral_errmsg(s));
  return s;
}

/* OU on a large periodic box against the exact law: the drift's jump at the seam is invisible
 * where the density is ~1e-40, and the error reaches ~1e-12 with modest N. */
static void test_ou_box(void **state) {
  (void)state;
  fpk_error err = {0};
  double A = 1.0, mu = 0.5, sig = 1.0;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  fpk_gaussian g0 = {.dim = 1, .mean = {-1.0}, .cov = {0.3}}, gt;
  fpk_grid g;
  fpk_spectral *s = ou_box_run(ou, &g0, 96, -8, 8, 0.001, NULL, &g);
  double pe[96];
  assert_int_equal(fpk_exact_linear_law(ou->linear, &g0, 1.0, &gt, &err), FPK_SUCCESS);
  fpk_gaussian_cell_probs(&gt, &g, pe, &err);
  for (size_t i = 0; i < g.n[0]; i++) pe[i] /= g.h[0];
  double e = l1(&g, fpk_spectral_density(s), pe);
  printf("  OU box L1 %.3e  tail %.2e  edge %.2e  min %.2e\n", e, fpk_spectral_tail_energy(s),
         fpk_spectral_edge_density(s), fpk_spectral_min_density(s));
  assert_true(e < 1e-11);
  assert_true(fpk_spectral_tail_energy(s) < 1e-25);
  assert_true(fpk_spectral_edge_density(s) < 1e-14);
  fpk_spectral_free(s);
  /* the diagnostics flag what is not resolved: on 32 points the same run has a tail 10 orders
   * larger, and on [-3, 3] the density is far from zero at the box faces */
  fpk_density_guard loose;
  fpk_density_guard_init(&loose);
  loose.negative_tol = 1.0;
  s = ou_box_run(ou, &g0, 32, -8, 8, 0.005, &loose, &g);
  printf("  OU box 32 points: tail %.2e  min %.2e\n", fpk_spectral_tail_energy(s), fpk_spectral_min_density(s));
  assert_true(fpk_spectral_tail_energy(s) > 1e-15);
  fpk_spectral_free(s);
  s = ou_box_run(ou, &g0, 64, -3, 3, 0.005, &loose, &g);
  assert_true(fpk_spectral_edge_density(s) > 1e-5); /* exp(-3²/(2·0.47)) ≈ 7e-5 */
  fpk_spectral_free(s);
  fpk_model_free(ou);
}

static void test_bad_input(void **state) {
  (void)state;
  fpk_error err = {0};
  torus p = {.dim = 1, .A = 1.0, .s0 = 1.0};
  fpk_model m = torus_model(&p);
  fpk_grid g = torus_grid(1, 32);
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;

  fpk_grid gr = g;
  gr.bc[0] = FPK_BC_REFLECTING;
  assert_null(fpk_spectral_alloc(&gr, &m, fpk_spectral_etdrk4, 0.01, &o, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_non_null(strstr(err.msg, "periodic"));
  assert_non_null(strstr(err.msg, "fv"));

  fpk_grid godd = torus_grid(1, 31);
  assert_null(fpk_spectral_alloc(&godd, &m, fpk_spectral_etdrk4, 0.01, &o, &err));
  assert_non_null(strstr(err.msg, "even"));
  fpk_grid gsmall = torus_grid(1, 6);
  assert_null(fpk_spectral_alloc(&gsmall, &m, fpk_spectral_etdrk4, 0.01, &o, &err));
  assert_non_null(strstr(err.msg, ">= 8"));
  assert_null(fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, -1.0, &o, &err));
  assert_non_null(strstr(err.msg, "dt"));

  /* Too few contour points: the φ-functions are inaccurate, detected against the series. */
  o.contour_points = 4;
  assert_null(fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, 0.5, &o, &err));
  assert_int_equal(err.status, FPK_ENUMERIC);
  assert_non_null(strstr(err.msg, "phi-functions"));
  o.contour_points = 32;

  /* An unreadable wisdom file is a warning, and planning goes on. */
  char path[] = "/tmp/fpk_wisdomXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "not wisdom at all\n", 18), 18);
  close(fd);
  o.wisdom = path;
  fpk_spectral *s = fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, 0.01, &o, &err);
  assert_non_null(s);
  assert_non_null(strstr(fpk_spectral_warning(s), "could not be read"));
  fpk_spectral_free(s);
  /* it is not FFTW's, so it is left as it is (a mistyped wisdom key must not destroy a file) */
  char text[32] = {0};
  FILE *wf = fopen(path, "rb");
  assert_non_null(wf);
  assert_int_equal(fread(text, 1, sizeof text - 1, wf), 18);
  fclose(wf);
  assert_string_equal(text, "not wisdom at all\n");
  /* a wisdom file FFTW wrote is rewritten and loads silently */
  remove(path);
  s = fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, 0.01, &o, &err);
  assert_non_null(s);
  fpk_spectral_free(s);
  s = fpk_spectral_alloc(&g, &m, fpk_spectral_etdrk4, 0.01, &o, &err);
  assert_non_null(s);
  assert_string_equal(fpk_spectral_warning(s), "");
  fpk_spectral_free(s);
  remove(path);
  o.wisdom = NULL;

  /* A step far beyond the explicit drift's stability limit blows up: reported, not returned. */
  torus fast = {.dim = 1, .A = 0.0, .F = {200.0, 0}, .s0 = 0.01};
  fpk_model mf = torus_model(&fast);
  fpk_grid gf = torus_grid(1, 64);
  s = fpk_spectral_alloc(&gf, &mf, fpk_spectral_sbdf2, 0.5, &o, &err);
  double p0[64];
  for (size_t i = 0; i < 64; i++) p0[i] = (1.0 + 0.5 * cos(fpk_grid_center(&gf, 0, i))) / TWO_PI;
  fpk_spectral_set_density(s, 0.0, p0);
  assert_int_equal(fpk_spectral_evolve(s, 1000.0), FPK_ENUMERIC);
  assert_non_null(strstr(fpk_spectral_errmsg(s), "reduce dt"));
  fpk_spectral_free(s);

  /* The dense stationary solve refuses sizes beyond its limit. */
  fpk_grid gbig = torus_grid(2, 128);
  torus p2 = {.dim = 2, .A = 1.0, .s0 = 1.0};
  fpk_model m2 = torus_model(&p2);
  double *pb = malloc(gbig.size * sizeof *pb);
  assert_int_equal(fpk_spectral_stationary(&gbig, &m2, pb, &err), FPK_EUNSUP);
  free(pb);
  fpk_spectral_free(NULL);
}

/* Checkpoints (docs/checkpoint.md): an evolve interrupted at a step boundary and continued in a
 * fresh solver from its saved state (û, step position, ETDRK4's coefficient step, SBDF2's history)
 * gives the uninterrupted densities bit for bit. */
typedef struct every_kth {
  unsigned long calls, k;
} every_kth;

static int poll_kth(void *user) {
  every_kth *e = user;
  return ++e->calls % e->k == 0;
}

/* The run through t[0..nt-1], cell averages into out, interrupted at every k-th poll (0: never);
 * each interruption copies the state out and continues in a new solver. */
static size_t spectral_interrupted(const fpk_grid *g, const fpk_model *m,
                                   const fpk_spectral_stepper_type *T, double dt, const double *p0,
                                   const double *t, size_t nt, unsigned long k, double *out,
                                   size_t *steps) {
  every_kth e = {0, k};
  fpk_spectral *s = make(g, m, T, dt);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
  if (k) assert_int_equal(fpk_spectral_set_interrupt(s, poll_kth, &e), FPK_SUCCESS);
  double *buf = NULL;
  size_t stops = 0;
  for (size_t q = 0; q < nt;) {
    const int rc = fpk_spectral_evolve(s, t[q]);
    if (rc == FPK_EINTR) {
      fpk_spectral_state st;
      assert_int_equal(fpk_spectral_get_state(s, &st), FPK_SUCCESS);
      assert_true(st.n > 0 && st.i < st.n && st.t1 == t[q]);
      if (T == fpk_spectral_sbdf2) assert_true(st.hc == 0.0);
      if (T == fpk_spectral_etdrk4) assert_true(st.hc > 0.0 && st.hist_h == 0.0);
      const size_t n2 = 2 * st.nc;
      if (!buf) buf = malloc(3 * n2 * sizeof *buf);
      memcpy(buf, st.uh, n2 * sizeof *buf);
      st.uh = buf;
      if (st.hist_h > 0.0) {
        memcpy(buf + n2, st.uprev, n2 * sizeof *buf);
        memcpy(buf + 2 * n2, st.nprev, n2 * sizeof *buf);
        st.uprev = buf + n2, st.nprev = buf + 2 * n2;
      }
      fpk_spectral_free(s);
      s = make(g, m, T, dt);
      assert_int_equal(fpk_spectral_restore(s, &st), FPK_SUCCESS);
      assert_int_equal(fpk_spectral_set_interrupt(s, poll_kth, &e), FPK_SUCCESS);
      stops++;
      continue;
    }
    if (rc) fail_msg("evolve to %g: %s", t[q], fpk_spectral_errmsg(s));
    memcpy(out + q * g->size, fpk_spectral_density(s), g->size * sizeof *out);
    q++;
  }
  *steps = fpk_spectral_steps_taken(s);
  fpk_spectral_free(s);
  free(buf);
  return stops;
}

static void test_checkpoint_bitwise(void **state) {
  (void)state;
  torus p1 = {.dim = 1, .F = {1.0, 0}, .omega = 1.5, .A = 0.7, .s0 = 0.9, .eps = 0.2};
  torus p2 = {.dim = 2, .F = {0.5, -0.3}, .A = 1.0, .C = 0.5, .s0 = 0.9, .eps = 0.3};
  fpk_model m[2] = {torus_model(&p1), torus_model(&p2)};
  const char *name[2] = {"1D torus, non-autonomous", "2D torus, coupled"};
  fpk_grid g[2] = {torus_grid(1, 32), torus_grid(2, 16)};
  /* Steps of 0.015, then 0.020000000000000004 (ETDRK4 recomputes its coefficients for it, SBDF2
   * restarts), then 0.02: within round-off of the last, so the uninterrupted run keeps those
   * coefficients and that history, and a restored solver must too (its own alloc computed the
   * coefficients for dt = 0.02 exactly). */
  const double t[3] = {0.03, 0.33, 0.63};
  const unsigned long ks[3] = {2, 5, 13};
  for (size_t i = 0; i < 2; i++) {
    const size_t M = g[i].size;
    double *p0 = malloc(M * sizeof *p0), *ref = malloc(3 * M * sizeof *ref);
    double *got = malloc(3 * M * sizeof *got);
    if (i == 0) {
      transported_cells(&g[0], 0.5, 0.0, 0.0, p0);
    } else {
      for (size_t c = 0; c < M; c++) {
        double x[2];
        fpk_grid_point(&g[1], c, x);
        p0[c] = (1.0 + 0.5 * cos(x[0] - 1.0) * cos(x[1])) / (TWO_PI * TWO_PI);
      }
    }
    for (size_t j = 0; fpk_spectral_steppers[j]; j++) {
      const fpk_spectral_stepper_type *T = fpk_spectral_steppers[j];
      size_t ref_steps, steps;
      spectral_interrupted(&g[i], &m[i], T, 0.02, p0, t, 3, 0, ref, &ref_steps);
      for (size_t q = 0; q < 3; q++) {
        const size_t stops =
            spectral_interrupted(&g[i], &m[i], T, 0.02, p0, t, 3, ks[q], got, &steps);
        assert_true(stops > 0);
        assert_int_equal(steps, ref_steps);
        assert_memory_equal(got, ref, 3 * M * sizeof *ref);
        if (q == 0)
          printf("  %-26s %-7s %3zu steps, interrupted %2zu times: bitwise identical\n", name[i],
                 T->name, steps, stops);
      }
    }
    free(p0), free(ref), free(got);
  }

  /* Misuse: another target while pending; a state of another dt; history for etdrk4. */
  double p0[32];
  transported_cells(&g[0], 0.5, 0.0, 0.0, p0);
  every_kth e = {0, 4};
  fpk_spectral *s = make(&g[0], &m[0], fpk_spectral_sbdf2, 0.02);
  fpk_spectral_set_density(s, 0.0, p0);
  fpk_spectral_set_interrupt(s, poll_kth, &e);
  assert_int_equal(fpk_spectral_evolve(s, 0.37), FPK_EINTR);
  printf("  %s\n", fpk_spectral_errmsg(s));
  assert_int_equal(fpk_spectral_evolve(s, 0.5), FPK_EINVAL);
  assert_non_null(strstr(fpk_spectral_errmsg(s), "pending"));
  fpk_spectral_state st;
  fpk_spectral_get_state(s, &st);
  assert_true(st.hist_h > 0.0 && st.uprev && st.nprev);
  fpk_spectral *r = make(&g[0], &m[0], fpk_spectral_sbdf2, 0.03);
  assert_int_equal(fpk_spectral_restore(r, &st), FPK_EINVAL);
  printf("  restore with another dt: %s\n", fpk_spectral_errmsg(r));
  fpk_spectral_free(r);
  r = make(&g[0], &m[0], fpk_spectral_etdrk4, 0.02);
  assert_int_equal(fpk_spectral_restore(r, &st), FPK_EINVAL);
  printf("  sbdf2 state into etdrk4: %s\n", fpk_spectral_errmsg(r));
  fpk_spectral_free(r);
  fpk_spectral_free(s);

  /* FFTW wisdom: exported, imported back; garbage refused. */
  char *w = fpk_spectral_export_wisdom();
  assert_non_null(w);
  assert_int_equal(fpk_spectral_import_wisdom(w), FPK_SUCCESS);
  free(w);
  assert_int_equal(fpk_spectral_import_wisdom("not wisdom"), FPK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),          cmocka_unit_test(test_cell_average_roundtrip),
      cmocka_unit_test(test_time_order),        cmocka_unit_test(test_mass_conservation),
      cmocka_unit_test(test_stationary_bessel), cmocka_unit_test(test_gap),
      cmocka_unit_test(test_ou_box),            cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_checkpoint_bitwise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
