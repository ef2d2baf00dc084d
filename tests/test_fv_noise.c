/* Finite volumes with a noise matrix (issue 16): cross-diffusion of a correlated OU (direct and
 * split solvers, second order), zero diffusion along an axis (the Kramers equation with the
 * second-order upwind flux in x: harmonic transient vs its exact Gaussian law, double-well
 * stationary density vs Gibbs, second order), the diagonal operator unchanged through the matrix
 * path, and the refusals (positivity messages, the split solver's transport limit).
 * FPK_TEST_FILTER=<cmocka pattern> runs a subset. docs/fv-scheme.md quotes the
 * numbers printed here. FPK_TEST_QUICK=1 drops the finest grid of each ladder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "fpk_test.h"
#include "fp/fv_internal.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0");
}

/* Cell-average density of a Gaussian (probabilities / cell volume). */
static double *gauss_cells(const fpk_gaussian *g, const fpk_grid *grid) {
  double *p = malloc(grid->size * sizeof *p);
  fpk_error err = {0};
  assert_non_null(p);
  if (fpk_gaussian_cell_probs(g, grid, p, &err)) fail_msg("cell probs: %s", err.msg);
  for (size_t i = 0; i < grid->size; i++) p[i] /= grid->cell_volume;
  return p;
}

static double l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

static fpk_grid grid2(size_t nx, size_t ny, double x0, double x1, double y0, double y1) {
  const size_t n[2] = {nx, ny};
  const double lo[2] = {x0, y0}, hi[2] = {x1, y1};
  return fpk_test_grid(2, n, lo, hi);
}

/* Evolves p0 from 0 to t with the given stepper, dt and solver; returns the density (malloc).
 * negative_tol > 0: the output guard's tolerance on negative values (the cross-diffusion
 * stencil undershoots by a spatial error, docs/fv-scheme.md); 0: the default. */
static double negative_tol = 0.0;
static fpk_fv_transport transport = FPK_FV_TRANSPORT_LIMITED; /* along a zero-diffusion axis */
static double *run(const fpk_grid *g, const fpk_model *m, const fpk_fv_stepper_type *T, double dt,
                   fpk_fv_solver solver, const double *p0, double t, double *mass_drift) {
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(g, m, T, dt, &err);
  if (!s) fail_msg("fpk_fv_alloc(%s): %s", m->name, err.msg);
  if (fpk_fv_set_transport(s, transport)) fail_msg("transport: %s", fpk_fv_errmsg(s));
  assert_int_equal(fpk_fv_set_solver(s, solver), FPK_SUCCESS);
  assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
  if (negative_tol > 0.0) {
    const fpk_density_guard gd = {.mass_tol = FPK_GUARD_MASS_TOL, .negative_tol = negative_tol};
    assert_int_equal(fpk_fv_set_guard(s, &gd), FPK_SUCCESS);
  }
  const double mass0 = fpk_fv_mass(s);
  if (fpk_fv_evolve(s, t)) fail_msg("evolve %s: %s", m->name, fpk_fv_errmsg(s));
  if (mass_drift) *mass_drift = fabs(fpk_fv_mass(s) - mass0) / mass0;
  double *p = malloc(g->size * sizeof *p);
  assert_non_null(p);
  memcpy(p, fpk_fv_density(s), g->size * sizeof *p);
  fpk_fv_free(s);
  return p;
}

/* ---- (a) correlated 2D OU: cross-diffusion, second order, both solvers ------------------- */

/* Non-symmetric A, B with correlation 0.8 in BBᵀ (D_xy = 0.4, D_xx = 0.5, D_yy = 0.5). */
static const double OU_A[4] = {1.0, 0.6, -0.4, 0.8}, OU_MU[2] = {0.0, 0.0};
static const double OU_B[4] = {1.0, 0.0, 0.8, 0.6};

static void test_correlated_ou_order(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, OU_A, OU_MU, 2, OU_B, &err);
  if (!m) fail_msg("ou matrix: %s", err.msg);
  const double S0[4] = {0.5, 0.2, 0.2, 0.4}, m0[2] = {0.8, -0.5};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  fpk_gaussian law;
  const double t = 1.0;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, t, &law, &err), FPK_SUCCESS);
  negative_tol = 2e-2; /* the coarsest grid undershoots by 1.3e-2 of the peak (printed) */
  /* quick: 64² and 128² (32² is pre-asymptotic: order 1.69 on 32², 64²) */
  const size_t ns4[4] = {32, 64, 128, 256}, *ns = quick() ? ns4 + 1 : ns4;
  const size_t nl = quick() ? 2 : 4;
  const fpk_fv_solver solvers[2] = {FPK_FV_SOLVER_SPLIT, FPK_FV_SOLVER_DIRECT};
  const fpk_fv_stepper_type *steppers[2] = {fpk_fv_tr_bdf2, fpk_fv_crank_nicolson};
  for (int st = 0; st < 2; st++)
    for (int sv = 0; sv < 2 - st; sv++) { /* TR-BDF2 split and direct, CN split (Craig–Sneyd) */
      double h[4], e[4], under[4];
      for (size_t k = 0; k < nl; k++) {
        const fpk_grid g = grid2(ns[k], ns[k], -5.0, 5.0, -5.0, 5.0);
        double *p0 = gauss_cells(&init, &g), *q = gauss_cells(&law, &g), drift;
        const double dt = 0.1 * 32.0 / (double)ns[k];
        double *p = run(&g, m, steppers[st], dt, solvers[sv], p0, t, &drift);
        h[k] = g.h[0];
        e[k] = l1(&g, p, q);
        double mn = 0.0, mx = 0.0;
        for (size_t i = 0; i < g.size; i++) mn = fmin(mn, p[i]), mx = fmax(mx, p[i]);
        under[k] = -mn / mx;
        printf("  correlated OU %s %s n = %3zu dt = %.5f: L1 = %.4e, mass drift %.1e, "
               "undershoot min p / max p = %.2e\n",
               steppers[st]->name, sv ? "direct" : "split", ns[k], dt, e[k], drift, -under[k]);
        assert_true(drift < 1e-12);
        free(p0);
        free(q);
        free(p);
      }
      /* fitted on the finest three (the coarsest is pre-asymptotic, h = σ/2) */
      const size_t k0 = nl > 2 ? 1 : 0;
      const double order = fpk_test_fit_order(nl - k0, h + k0, e + k0);
      printf("  correlated OU %s %s: fitted order %.3f\n", steppers[st]->name,
             sv ? "direct" : "split", order);
      assert_in_range_d(order, 1.75, 2.25);
      assert_true(e[nl - 1] < (quick() ? 4e-2 : 1e-2));
      /* the undershoot is a spatial error: it shrinks at least at second order */
      assert_true(under[nl - 1] <= 0.25 * under[nl - 2] + 1e-15);
    }
  negative_tol = 0.0;
  fpk_model_free(m);
}

/* The split solver's own time order with cross-diffusion (Craig–Sneyd correction): against a
 * fine-step direct reference on the same grid, so the spatial error cancels. */
static void test_correlated_ou_split_time_order(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, OU_A, OU_MU, 2, OU_B, &err);
  assert_non_null(m);
  const double S0[4] = {0.5, 0.2, 0.2, 0.4}, m0[2] = {0.8, -0.5};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  const fpk_grid g = grid2(40, 40, -5.0, 5.0, -5.0, 5.0);
  double *p0 = gauss_cells(&init, &g);
  const double t = 0.5;
  negative_tol = 2e-2; /* the undershoot of the cross-diffusion stencil on this coarse grid */
  double *ref = run(&g, m, fpk_fv_tr_bdf2, 0.5 / 256, FPK_FV_SOLVER_DIRECT, p0, t, NULL);
  const fpk_fv_stepper_type *steppers[2] = {fpk_fv_crank_nicolson, fpk_fv_tr_bdf2};
  for (int st = 0; st < 2; st++) {
    double h[3], e[3];
    for (int k = 0; k < 3; k++) {
      h[k] = 0.05 / (double)(1 << k); /* 0.1 is pre-asymptotic for CN (local order 1.68) */
      double *p = run(&g, m, steppers[st], h[k], FPK_FV_SOLVER_SPLIT, p0, t, NULL);
      e[k] = l1(&g, p, ref);
      free(p);
    }
    const double order = fpk_test_fit_order(3, h, e);
    printf("  split %s with cross-diffusion vs direct reference: L1 %.3e %.3e %.3e at dt = "
           "0.05/1,2,4: time order %.3f\n",
           steppers[st]->name, e[0], e[1], e[2], order);
    assert_in_range_d(order, 1.8, 2.3);
  }
  negative_tol = 0.0;
  free(ref);
  free(p0);
  fpk_model_free(m);
}

/* 3D: every pair of axes has cross-diffusion (the 19-point stencil); periodic and absorbing
 * walls with cross terms; thread-count independence of the split solver with L_x. */
static void test_correlated_ou_3d_and_walls(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[9] = {1.0, 0.3, 0.0, -0.3, 0.9, 0.2, 0.1, -0.2, 1.1}, mu[3] = {0, 0, 0};
  const double B[9] = {1.0, 0.0, 0.0, 0.6, 0.8, 0.0, -0.5, 0.3, 0.8};
  fpk_model *m = fpk_model_ou_matrix_alloc(3, A, mu, 3, B, &err);
  if (!m) fail_msg("ou3: %s", err.msg);
  const double S0[9] = {0.5, 0.1, 0.0, 0.1, 0.4, 0.05, 0.0, 0.05, 0.45}, m0[3] = {0.5, -0.3, 0.2};
  const fpk_gaussian init = fpk_test_gaussian(3, m0, S0);
  fpk_gaussian law;
  const double t = 0.5;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, t, &law, &err), FPK_SUCCESS);
  negative_tol = 2e-2;
  /* quick: 12³, 24³; else 24³, 48³ (h = 0.29, 0.15 against standard deviations 0.6–0.7) */
  const size_t ns3[3] = {12, 24, 48}, *ns = quick() ? ns3 : ns3 + 1;
  const size_t nl = 2;
  double h[2], e[2];
  for (size_t k = 0; k < nl; k++) {
    const size_t n[3] = {ns[k], ns[k], ns[k]};
    const double lo[3] = {-3.5, -3.5, -3.5}, hi[3] = {3.5, 3.5, 3.5};
    const fpk_grid g = fpk_test_grid(3, n, lo, hi);
    double *p0 = gauss_cells(&init, &g), *q = gauss_cells(&law, &g), drift;
    const double dt = 0.1 * 12.0 / (double)ns[k];
    double *p = run(&g, m, fpk_fv_tr_bdf2, dt, FPK_FV_SOLVER_SPLIT, p0, t, &drift);
    h[k] = g.h[0];
    e[k] = l1(&g, p, q);
    if (k == 0) { /* the direct solver on the coarsest grid: the same discretisation */
      double *pd = run(&g, m, fpk_fv_tr_bdf2, dt, FPK_FV_SOLVER_DIRECT, p0, t, NULL);
      const double sd = l1(&g, p, pd), ed = l1(&g, pd, q);
      printf("  3D correlated OU n = %zu: direct L1 = %.4e, split vs direct %.2e\n", ns[k], ed, sd);
      assert_true(sd < 0.1 * ed);
      free(pd);
    }
    printf("  3D correlated OU tr-bdf2 split n = %2zu: L1 = %.4e (mass drift %.1e)\n", ns[k], e[k],
           drift);
    assert_true(drift < 1e-12);
    free(p0), free(q), free(p);
  }
  const double order = fpk_test_fit_order(nl, h, e);
  printf("  3D correlated OU: fitted order %.3f\n", order);
  assert_in_range_d(order, quick() ? 1.35 : 1.75, 2.25); /* quick: 1.46 on 12³, 24³ */
  fpk_model_free(m);

  /* 2D walls: periodic keeps the mass to round-off, absorbing loses mass monotonically; the
   * split solver gives the same bits for 1, 2 and 3 threads */
  m = fpk_model_ou_matrix_alloc(2, OU_A, OU_MU, 2, OU_B, &err);
  assert_non_null(m);
  const double S2[4] = {0.5, 0.2, 0.2, 0.4}, m2[2] = {0.8, -0.5};
  const fpk_gaussian i2 = fpk_test_gaussian(2, m2, S2);
  const fpk_bc bcs[2][2] = {{FPK_BC_PERIODIC, FPK_BC_PERIODIC}, {FPK_BC_ABSORBING, FPK_BC_REFLECTING}};
  for (int b = 0; b < 2; b++) {
    fpk_grid g;
    const size_t n[2] = {64, 70};
    const double lo[2] = {-3.5, -3.5}, hi[2] = {3.5, 3.5};
    assert_int_equal(fpk_grid_init(&g, 2, n, lo, hi, bcs[b], &err), FPK_SUCCESS);
    double *p0 = gauss_cells(&i2, &g), *ref = NULL;
    for (int nt = 1; nt <= 3; nt++) {
      omp_set_num_threads(nt);
      fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, 0.02, &err);
      assert_non_null(s);
      const fpk_density_guard gd = {.mass_tol = FPK_GUARD_MASS_TOL, .negative_tol = 1e-4};
      assert_int_equal(fpk_fv_set_guard(s, &gd), FPK_SUCCESS); /* undershoot 5e-6 of the peak */
      assert_int_equal(fpk_fv_set_density(s, 0.0, p0), 0);
      const double m0v = fpk_fv_mass(s);
      double prev = m0v;
      for (int k = 1; k <= 4; k++) {
        if (fpk_fv_evolve(s, 0.25 * k)) fail_msg("walls: %s", fpk_fv_errmsg(s));
        const double mk = fpk_fv_mass(s);
        if (b == 0) assert_true(fabs(mk - m0v) < 1e-12 * m0v);
        else assert_true(mk <= prev * (1 + 1e-14));
        prev = mk;
      }
      if (nt == 1) {
        printf("  2D correlated OU, %s walls, t = 1: mass %.15f\n", b ? "absorbing x" : "periodic",
               prev);
        if (b == 1) assert_true(prev < (1.0 - 1e-5) * m0v); /* the wall took mass */
        ref = malloc(g.size * sizeof *ref);
        memcpy(ref, fpk_fv_density(s), g.size * sizeof *ref);
      } else if (memcmp(ref, fpk_fv_density(s), g.size * sizeof *ref) != 0) {
        fail_msg("split solver with cross-diffusion: %d threads differ from 1", nt);
      }
      fpk_fv_free(s);
    }
    free(ref);
    free(p0);
  }
  omp_set_num_threads(2);
  negative_tol = 0.0;
  fpk_model_free(m);
}

/* ---- (b), (c) Kramers equation: zero diffusion in x ---------------------------------------- */

static void test_kramers_harmonic(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
  if (!m) fail_msg("kramers: %s", err.msg);
  const double S0[4] = {0.16, 0.0, 0.0, 0.25}, m0[2] = {1.0, 0.0};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  fpk_gaussian law;
  const double t = 1.0;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, t, &law, &err), FPK_SUCCESS);
  const size_t ns[3] = {40, 80, 160};
  const size_t nl = quick() ? 2 : 3;
  negative_tol = 2e-2; /* the linear second-order upwind flux undershoots (printed) */
  /* limited (the default; split and direct), linear (Beam–Warming; split and direct) */
  for (int cfg = 0; cfg < 4; cfg++) {
    const int sv = cfg & 1;
    transport = cfg < 2 ? FPK_FV_TRANSPORT_LIMITED : FPK_FV_TRANSPORT_LINEAR;
    const char *tn = fpk_fv_transport_name(transport);
    double h[3], e[3], under[3];
    for (size_t k = 0; k < nl; k++) {
      const fpk_grid g = grid2(ns[k], ns[k], -4.5, 4.5, -4.5, 4.5);
      double *p0 = gauss_cells(&init, &g), *q = gauss_cells(&law, &g), drift;
      const double dt = 0.05 * 40.0 / (double)ns[k];
      double *p = run(&g, m, fpk_fv_tr_bdf2, dt, sv ? FPK_FV_SOLVER_DIRECT : FPK_FV_SOLVER_SPLIT,
                      p0, t, &drift);
      h[k] = g.h[0];
      e[k] = l1(&g, p, q);
      double mn = 0.0, mx = 0.0;
      for (size_t i = 0; i < g.size; i++) mn = fmin(mn, p[i]), mx = fmax(mx, p[i]);
      under[k] = -mn / mx;
      printf("  harmonic Kramers tr-bdf2 %s %s n = %3zu: L1 = %.4e (mass drift %.1e, min p / "
             "max p = %.2e)\n",
             tn, sv ? "direct" : "split", ns[k], e[k], drift, -under[k]);
      assert_true(drift < 1e-12);
      free(p0);
      free(q);
      free(p);
    }
    const double order = fpk_test_fit_order(nl, h, e);
    printf("  harmonic Kramers %s %s: fitted order %.3f\n", tn, sv ? "direct" : "split", order);
    /* x is pure transport (D_xx = 0): limited or linear second-order flux (docs/fv-scheme.md) */
    if (transport == FPK_FV_TRANSPORT_LIMITED) {
      /* 2.19 on the full ladder; quick (40², 80²) 2.38: the coarse pair is pre-asymptotic */
      assert_in_range_d(order, 1.7, quick() ? 2.5 : 2.3);
      assert_true(under[nl - 1] == 0.0); /* no negative value at all */
    } else {
      assert_in_range_d(order, 1.75, 2.25);
      assert_true(under[nl - 1] <= 0.25 * under[nl - 2] + 1e-15);
    }
  }
  transport = FPK_FV_TRANSPORT_LIMITED;
  negative_tol = 0.0;
  fpk_model_free(m);
}


/* A steep start (std 0.2, one cell of the 40² grid) of the harmonic Kramers equation on
 * [−4, 4]²: the limited transport keeps every output non-negative (min p >= −1e-14 max p) and
 * converges at second order to the exact Gaussian law; the linear (Beam–Warming) flux
 * undershoots here beyond the guard's 1e-6 (so the positivity check can fail). */
static void test_kramers_steep_positivity(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
  if (!m) fail_msg("kramers: %s", err.msg);
  const double S0[4] = {0.04, 0.0, 0.0, 0.04}, m0[2] = {1.0, 0.0};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  const size_t ns[3] = {40, 80, 160}, nl = quick() ? 2 : 3, nout = 8;
  const double t_out = 0.25; /* outputs at 0.25, 0.5, ..., 2 */
  fpk_gaussian law;
  assert_int_equal(fpk_exact_linear_law(m->linear, &init, t_out * nout, &law, &err), 0);
  const fpk_density_guard loose = {.mass_tol = FPK_GUARD_MASS_TOL, .negative_tol = 1.0};
  /* cfg: limited tr-bdf2 split, limited tr-bdf2 direct, limited implicit-euler split, limited
   * crank-nicolson split, linear tr-bdf2 split */
  const fpk_fv_stepper_type *Ts[5] = {fpk_fv_tr_bdf2, fpk_fv_tr_bdf2, fpk_fv_implicit_euler,
                                      fpk_fv_crank_nicolson, fpk_fv_tr_bdf2};
  for (int cfg = 0; cfg < 5; cfg++) {
    const fpk_fv_transport tr = cfg < 4 ? FPK_FV_TRANSPORT_LIMITED : FPK_FV_TRANSPORT_LINEAR;
    const fpk_fv_solver so = cfg == 1 ? FPK_FV_SOLVER_DIRECT : FPK_FV_SOLVER_SPLIT;
    double h[3], e[3];
    const size_t nk = cfg == 0 ? nl : 2; /* 160² for the first only (test time) */
    for (size_t k = 0; k < nk; k++) {
      const fpk_grid g = grid2(ns[k], ns[k], -4.0, 4.0, -4.0, 4.0);
      double *p0 = gauss_cells(&init, &g), *q = gauss_cells(&law, &g);
      const double dt = 0.05 * 40.0 / (double)ns[k];
      fpk_fv *s = fpk_fv_alloc(&g, m, Ts[cfg], dt, &err);
      if (!s) fail_msg("alloc: %s", err.msg);
      assert_int_equal(fpk_fv_set_transport(s, tr), FPK_SUCCESS);
      assert_int_equal(fpk_fv_set_solver(s, so), FPK_SUCCESS);
      assert_int_equal(fpk_fv_set_guard(s, &loose), FPK_SUCCESS);
      assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
      double worst = 0.0; /* min over the outputs of min p / max p */
      for (size_t o = 1; o <= nout; o++) {
        if (fpk_fv_evolve(s, t_out * (double)o)) fail_msg("steep: %s", fpk_fv_errmsg(s));
        const double *p = fpk_fv_density(s);
        double mn = INFINITY, mx = 0.0;
        for (size_t i = 0; i < g.size; i++) mn = fmin(mn, p[i]), mx = fmax(mx, p[i]);
        worst = fmin(worst, mn / mx);
      }
      h[k] = g.h[0];
      e[k] = l1(&g, fpk_fv_density(s), q);
      printf("  steep harmonic Kramers %s %s %s n = %3zu: L1 at t = 2 = %.4e, min over the 8 "
             "outputs of min p / max p = %.2e\n",
             fpk_fv_transport_name(tr), Ts[cfg]->name, so == FPK_FV_SOLVER_DIRECT ? "direct" : "split",
             ns[k], e[k], worst);
      if (tr == FPK_FV_TRANSPORT_LIMITED) assert_true(worst >= -1e-14);
      else if (k == 0) assert_true(worst < -1e-6); /* the linear flux undershoots */
      fpk_fv_free(s);
      free(p0);
      free(q);
    }
    const double order = fpk_test_fit_order(nk, h, e);
    printf("  steep harmonic Kramers %s %s %s: fitted order %.3f\n", fpk_fv_transport_name(tr),
           Ts[cfg]->name, so == FPK_FV_SOLVER_DIRECT ? "direct" : "split", order);
    /* dt ∝ h: implicit Euler's first order in time dominates; the others are second order */
    if (Ts[cfg] == fpk_fv_implicit_euler) assert_in_range_d(order, 0.8, 1.3);
    else assert_in_range_d(order, 1.7, 2.4);
  }
  fpk_model_free(m);
}


/* The limited transport's other guarantees: explicit Euler's bound counts α = 2 (refused above
 * it, non-negative below), `upwind` is first order, and an interrupted evolve restored into a
 * fresh solver continues bitwise (the flux is frozen from the state, no cache to carry). */
static int stop_after(void *user) { return --*(int *)user < 0; }

static void test_kramers_limited_extras(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("harmonic", &kp, &err);
  assert_non_null(m);
  const double S0[4] = {0.04, 0.0, 0.0, 0.04}, m0[2] = {1.0, 0.0};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  const fpk_grid g = grid2(40, 40, -4.0, 4.0, -4.0, 4.0);
  double *p0 = gauss_cells(&init, &g);
  /* explicit Euler: the bound with α = 2 on x, half the first-order one there */
  fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_explicit_euler, 1e-3, &err);
  assert_non_null(s);
  const double dtmax = fpk_fv_explicit_dt_max(s);
  assert_int_equal(fpk_fv_set_transport(s, FPK_FV_TRANSPORT_UPWIND), FPK_SUCCESS);
  const double dtmax_up = fpk_fv_explicit_dt_max(s);
  printf("  explicit Euler bound, limited %.5g, upwind %.5g\n", dtmax, dtmax_up);
  assert_true(dtmax < dtmax_up && dtmax > 0.4 * dtmax_up);
  fpk_fv_free(s);
  assert_null(fpk_fv_alloc(&g, m, fpk_fv_explicit_euler, 1.01 * dtmax, &err));
  printf("  %s\n", err.msg);
  assert_non_null(strstr(err.msg, "limited transport"));
  s = fpk_fv_alloc(&g, m, fpk_fv_explicit_euler, dtmax, &err);
  assert_non_null(s);
  assert_int_equal(fpk_fv_set_density(s, 0.0, p0), 0);
  if (fpk_fv_evolve(s, 0.5)) fail_msg("explicit limited: %s", fpk_fv_errmsg(s));
  printf("  explicit Euler at its bound, t = 0.5: min p = %.3g\n", fpk_fv_min_density(s));
  assert_true(fpk_fv_min_density(s) >= 0.0);
  fpk_fv_free(s);
  /* upwind: first order (L1 at t = 1 on 40², 80²) */
  {
    fpk_gaussian law;
    assert_int_equal(fpk_exact_linear_law(m->linear, &init, 1.0, &law, &err), 0);
    double h[2], e[2];
    transport = FPK_FV_TRANSPORT_UPWIND;
    for (int k = 0; k < 2; k++) {
      const fpk_grid gk = grid2(40u << k, 40u << k, -4.0, 4.0, -4.0, 4.0);
      double *a = gauss_cells(&init, &gk), *q = gauss_cells(&law, &gk);
      double *p = run(&gk, m, fpk_fv_tr_bdf2, 0.05 / (double)(1 << k), FPK_FV_SOLVER_SPLIT, a,
                      1.0, NULL);
      h[k] = gk.h[0], e[k] = l1(&gk, p, q);
      free(a), free(q), free(p);
    }
    transport = FPK_FV_TRANSPORT_LIMITED;
    const double order = fpk_test_fit_order(2, h, e);
    printf("  upwind transport: L1 %.4e, %.4e on 40², 80²: order %.3f\n", e[0], e[1], order);
    assert_in_range_d(order, 0.6, 1.3);
  }
  /* checkpoint: interrupted after 7 steps, restored into a fresh solver, bitwise */
  for (int sv = 0; sv < 2; sv++) {
    const fpk_fv_solver so = sv ? FPK_FV_SOLVER_DIRECT : FPK_FV_SOLVER_SPLIT;
    double *ref = run(&g, m, fpk_fv_tr_bdf2, 0.05, so, p0, 1.0, NULL);
    fpk_fv *a = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, 0.05, &err);
    assert_non_null(a);
    assert_int_equal(fpk_fv_set_solver(a, so), 0);
    int budget = 7;
    assert_int_equal(fpk_fv_set_interrupt(a, stop_after, &budget), 0);
    assert_int_equal(fpk_fv_set_density(a, 0.0, p0), 0);
    assert_int_equal(fpk_fv_evolve(a, 1.0), FPK_EINTR);
    fpk_fv_state st;
    assert_int_equal(fpk_fv_get_state(a, &st), 0);
    fpk_fv *b = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, 0.05, &err);
    assert_non_null(b);
    assert_int_equal(fpk_fv_set_solver(b, so), 0);
    if (fpk_fv_restore(b, &st)) fail_msg("restore: %s", fpk_fv_errmsg(b));
    if (fpk_fv_evolve(b, 1.0)) fail_msg("continue: %s", fpk_fv_errmsg(b));
    assert_memory_equal(fpk_fv_density(b), ref, g.size * sizeof *ref);
    printf("  limited transport, %s: interrupted at step 7, restored: bitwise equal\n",
           sv ? "direct" : "split");
    fpk_fv_free(a), fpk_fv_free(b), free(ref);
  }
  /* a model flagged non-autonomous (the same coefficients, re-assembled at every stage time:
   * the limited coefficients are frozen again after each re-assembly, and every factor is
   * recomputed): the autonomous result (measured: bitwise, since κy + κy = (2κ)y exactly) */
  {
    fpk_model na = *m;
    na.flags &= ~(unsigned)FPK_MODEL_AUTONOMOUS;
    double *pa = run(&g, m, fpk_fv_tr_bdf2, 0.05, FPK_FV_SOLVER_SPLIT, p0, 1.0, NULL);
    double *pn = run(&g, &na, fpk_fv_tr_bdf2, 0.05, FPK_FV_SOLVER_SPLIT, p0, 1.0, NULL);
    double mn = INFINITY;
    for (size_t i = 0; i < g.size; i++) mn = fmin(mn, pn[i]);
    const double d = l1(&g, pa, pn);
    printf("  limited transport, non-autonomous flag: L1 vs autonomous %.2e, min p %.3g\n", d, mn);
    assert_true(d < 1e-12 && mn >= 0.0);
    free(pa), free(pn);
  }
  free(p0);
  fpk_model_free(m);
  /* 3D: x1 transported by x2 (a zero row of B), x2, x3 diffusing: the limited flux on axis 0
   * only, non-negative, mass kept, closer to the exact law than first-order upwind */
  {
    const double A3[9] = {0.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.3, 1.0}, mu3[3] = {0, 0, 0};
    const double B3[9] = {0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.8};
    fpk_model *m3 = fpk_model_ou_matrix_alloc(3, A3, mu3, 3, B3, &err);
    if (!m3) fail_msg("ou3: %s", err.msg);
    const double S3[9] = {0.09, 0, 0, 0, 0.16, 0, 0, 0, 0.16}, c3[3] = {0.8, 0.0, 0.0};
    const fpk_gaussian i3 = fpk_test_gaussian(3, c3, S3);
    fpk_gaussian law3;
    assert_int_equal(fpk_exact_linear_law(m3->linear, &i3, 0.5, &law3, &err), 0);
    const size_t n3[3] = {24, 24, 24};
    const double lo3[3] = {-3.5, -3.5, -3.5}, hi3[3] = {3.5, 3.5, 3.5};
    const fpk_grid g3 = fpk_test_grid(3, n3, lo3, hi3);
    double *a = gauss_cells(&i3, &g3), *q = gauss_cells(&law3, &g3), e[2], drift[2], mn = INFINITY;
    for (int k = 0; k < 2; k++) {
      transport = k ? FPK_FV_TRANSPORT_UPWIND : FPK_FV_TRANSPORT_LIMITED;
      double *p = run(&g3, m3, fpk_fv_tr_bdf2, 0.025, FPK_FV_SOLVER_SPLIT, a, 0.5, &drift[k]);
      e[k] = l1(&g3, p, q);
      if (k == 0)
        for (size_t i = 0; i < g3.size; i++) mn = fmin(mn, p[i]);
      free(p);
    }
    transport = FPK_FV_TRANSPORT_LIMITED;
    printf("  3D, zero row of B: L1 vs exact limited %.4e (min p %.3g, mass drift %.1e), upwind "
           "%.4e\n", e[0], mn, drift[0], e[1]);
    assert_true(mn >= 0.0 && drift[0] < 1e-12 && e[0] < 0.6 * e[1]);
    free(a), free(q);
    fpk_model_free(m3);
  }
}

static void test_kramers_double_well_stationary(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_kramers_params kp = {.beta = 2.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("double-well", &kp, &err);
  if (!m) fail_msg("kramers: %s", err.msg);
  const size_t ns[3] = {40, 80, 160};
  const size_t nl = quick() ? 2 : 3;
  double h[3], e[3], under[3];
  for (size_t k = 0; k < nl; k++) {
    const fpk_grid g = grid2(ns[k], ns[k], -2.6, 2.6, -4.0, 4.0);
    double *p = malloc(g.size * sizeof *p), *q = malloc(g.size * sizeof *q);
    assert_true(p && q);
    if (fpk_fv_stationary(&g, m, p, &err)) fail_msg("stationary: %s", err.msg);
    const char *what = NULL;
    if (fpk_exact_stationary_cells(m, &g, q, &what, &err)) fail_msg("gibbs: %s", err.msg);
    h[k] = g.h[0];
    e[k] = l1(&g, p, q);
    double pmin = 0.0, pmax = 0.0;
    for (size_t i = 0; i < g.size; i++) pmin = fmin(pmin, p[i]), pmax = fmax(pmax, p[i]);
    under[k] = -pmin / pmax;
    printf("  double-well Kramers stationary n = %3zu: L1 vs Gibbs = %.4e (min p / max p "
           "%.2e)\n",
           ns[k], e[k], -under[k]);
    free(p);
    free(q);
  }
  const double order = fpk_test_fit_order(nl, h, e);
  printf("  double-well Kramers stationary: fitted order %.3f\n", order);
  assert_in_range_d(order, 1.75, 2.25);
  /* the undershoot of the second-order upwind flux is a spatial error: it shrinks */
  assert_true(under[nl - 1] <= 0.25 * under[nl - 2] + 1e-15);
  fpk_model_free(m);
}

/* The flux along an axis without diffusion is the upwind flux exactly (D = 0), and its limit
 * for a diffusion that underflows (the |z| > 745 branch) or is tiny but representable. */
static void test_zero_diffusion_flux(void **state) {
  (void)state;
  fpk_error err = {0};
  assert_true(fpk_fv_bernoulli(0.0) == 1.0);
  assert_true(fpk_fv_bernoulli(800.0) == 0.0);
  assert_close_rel(fpk_fv_bernoulli(-800.0), 800.0, 1e-15);
  const double A[4] = {0.0, -1.0, 1.0, 1.0}, mu[2] = {0.0, 0.0};
  const double eps[3] = {0.0, 1e-160, 1e-7};
  for (int k = 0; k < 3; k++) {
    /* dX = V dt + ε dW_1, dV = (−X − V) dt + dW_2 */
    const double B[4] = {eps[k], 0.0, 0.0, 1.0};
    fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
    if (!m) fail_msg("ou matrix: %s", err.msg);
    const fpk_grid g = grid2(8, 9, -2.0, 2.0, -2.0, 2.0);
    fpk_fv_op op;
    /* the default transport: the limited flux on x (and only x) when σ_x = 0 */
    assert_int_equal(fv_op_init_faces(&op, &g, &err), FPK_SUCCESS);
    if (fpk_fv_op_assemble(&op, m, 0.0, &err)) fail_msg("assemble: %s", err.msg);
    assert_int_equal(op.limited, k == 0 ? 1u : 0u);
    assert_int_equal(op.upwind2, 0u);
    assert_int_equal(op.cross, 0);
    fpk_fv_op_free(&op);
    /* linear: the second-order upwind correction is switched on for x (and only x) */
    assert_int_equal(fv_op_init_faces(&op, &g, &err), FPK_SUCCESS);
    op.transport = FPK_FV_TRANSPORT_LINEAR;
    if (fpk_fv_op_assemble(&op, m, 0.0, &err)) fail_msg("assemble: %s", err.msg);
    assert_int_equal(op.mixed, 0);
    assert_int_equal(op.limited, 0u);
    if (k == 0) assert_int_equal(op.upwind2, 1u);
    if (k == 2) assert_int_equal(op.upwind2, 0u);
    double worst = 0.0;
    for (size_t f = 0; f < op.nfaces[0]; f++) {
      const size_t ix = f % 9, iv = f / 9;
      if (ix == 0 || ix == 8) continue; /* reflecting walls */
      const double v = fpk_grid_center(&g, 1, iv), h = g.h[0];
      const double up_l = (v > 0 ? v : 0) / h, up_r = (v < 0 ? -v : 0) / h;
      worst = fmax(worst, fabs(op.out_left[0][f] - up_l) + fabs(op.out_right[0][f] - up_r));
      assert_true(isfinite(op.out_left[0][f]) && isfinite(op.out_right[0][f]));
    }
    printf("  zero-diffusion flux, σ_x = %g: max deviation from upwind %.2e\n", eps[k], worst);
    /* exact for D = 0; for D = 5e-321 (subnormal; 0 where the build flushes subnormals) the
     * deviation is the diffusion D/h² itself at v = 0, and for D = 5e-15 the SG correction
     * O(D/h) */
    if (k == 0) assert_true(worst == 0.0);
    else if (k == 1) assert_true(worst < 1e-300);
    else assert_true(worst < 1e-12);
    fpk_fv_op_free(&op);
    fpk_model_free(m);
  }
}

/* ---- (d) a diagonal noise given as a matrix: the same operator, bit for bit --------------- */

static void test_diagonal_as_matrix(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[4] = {1.0, 0.5, -0.5, 1.5}, mu[2] = {0.2, -0.1}, sigma[2] = {0.9, 1.3};
  const double B[4] = {0.9, 0.0, 0.0, 1.3};
  fpk_model *md = fpk_model_ou_alloc(2, A, mu, sigma, &err);
  fpk_model *mm = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
  assert_true(md && mm);
  const double S0[4] = {0.3, 0.05, 0.05, 0.2}, m0[2] = {0.5, 0.5};
  const fpk_gaussian init = fpk_test_gaussian(2, m0, S0);
  const fpk_grid g = grid2(32, 28, -4.0, 4.0, -3.5, 3.5);
  double *p0 = gauss_cells(&init, &g);
  for (int sv = 0; sv < 2; sv++)
    for (size_t st = 0; fpk_fv_steppers[st]; st++) {
      const fpk_fv_stepper_type *T = fpk_fv_steppers[st];
      const double dt = T->implicit ? 0.02 : 1e-3;
      const fpk_fv_solver so = sv ? FPK_FV_SOLVER_DIRECT : FPK_FV_SOLVER_SPLIT;
      double *a = run(&g, md, T, dt, so, p0, 0.2, NULL), *b = run(&g, mm, T, dt, so, p0, 0.2, NULL);
      if (memcmp(a, b, g.size * sizeof *a) != 0)
        fail_msg("%s %s: the diagonal model and its matrix form differ", T->name,
                 sv ? "direct" : "split");
      free(a);
      free(b);
    }
  printf("  diagonal OU vs the same σ as a 2x2 matrix: bitwise equal (4 steppers, 2 solvers)\n");
  free(p0);
  fpk_model_free(md);
  fpk_model_free(mm);
}

/* ---- (e) positivity and refusals ---------------------------------------------------------- */

static void test_cross_positivity_message(void **state) {
  (void)state;
  fpk_error err = {0};
  /* correlation 0.95 (|D_01| = 0.475 against D_00 = D_11 = 0.5 on square cells: within the
   * 7-point stencil's bound without drift, beyond it once the drift's Scharfetter–Gummel factor
   * B(Pe) < 0.95 lowers an axis coefficient), a one-cell start: it undershoots */
  const double A[4] = {1.0, 0.0, 0.0, 1.0}, mu[2] = {0.0, 0.0};
  const double B[4] = {1.0, 0.0, 0.95, 0.31224989991991997};
  fpk_model *m = fpk_model_ou_matrix_alloc(2, A, mu, 2, B, &err);
  assert_non_null(m);
  const fpk_grid g = grid2(21, 21, -3.0, 3.0, -3.0, 3.0);
  double *p0 = calloc(g.size, sizeof *p0);
  assert_non_null(p0);
  p0[10 * 21 + 10] = 1.0 / g.cell_volume;
  for (int sv = 0; sv < 2; sv++) {
    fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_implicit_euler, 0.01, &err);
    assert_non_null(s);
    assert_int_equal(fpk_fv_set_solver(s, sv ? FPK_FV_SOLVER_DIRECT : FPK_FV_SOLVER_SPLIT), 0);
    assert_int_equal(fpk_fv_set_density(s, 0.0, p0), 0);
    const int rc = fpk_fv_evolve(s, 0.01);
    printf("  one-cell start, correlation 0.95, %s: rc %d, min p / max p = %.2e\n  %s\n",
           sv ? "direct" : "split", rc, fpk_fv_min_density(s) / (1.0 / g.cell_volume),
           rc ? fpk_fv_errmsg(s) : "(accepted)");
    assert_int_equal(rc, FPK_ENUMERIC);
    assert_non_null(strstr(fpk_fv_errmsg(s), "implicit-euler"));
    assert_non_null(strstr(fpk_fv_errmsg(s), "cross-diffusion"));
    assert_non_null(strstr(fpk_fv_errmsg(s), "t = 0.01"));
    fpk_fv_free(s);
  }
  free(p0);
  /* the split solver's stability limit of the explicit second-order upwind transport */
  {
    const fpk_kramers_params kp = {.beta = 1.0, .gamma = 1.0, .amplitude = 1.0, .period = 1.0};
    fpk_model *k = fpk_model_kramers_alloc("harmonic", &kp, &err);
    assert_non_null(k);
    const fpk_grid gk = grid2(80, 80, -4.5, 4.5, -4.5, 4.5);
    /* max|v|/h = 4.44375 / 0.1125 = 39.5: CN's limit is 8 / 39.5 = 0.2025 */
    const double Sk[4] = {0.16, 0.0, 0.0, 0.25}, mk[2] = {1.0, 0.0};
    const fpk_gaussian ik = fpk_test_gaussian(2, mk, Sk);
    double *pk = gauss_cells(&ik, &gk);
    fpk_fv *s = fpk_fv_alloc(&gk, k, fpk_fv_crank_nicolson, 0.25, &err);
    assert_non_null(s);
    assert_int_equal(fpk_fv_set_transport(s, FPK_FV_TRANSPORT_LINEAR), FPK_SUCCESS);
    const fpk_density_guard gd = {.mass_tol = FPK_GUARD_MASS_TOL, .negative_tol = 2e-2};
    assert_int_equal(fpk_fv_set_guard(s, &gd), FPK_SUCCESS); /* the upwind2 undershoot, 80² */
    assert_int_equal(fpk_fv_set_density(s, 0.0, pk), 0);
    assert_int_equal(fpk_fv_evolve(s, 0.25), FPK_EINVAL); /* the default split solver refuses */
    printf("  harmonic Kramers, split crank-nicolson, dt = 0.25: %s\n", fpk_fv_errmsg(s));
    assert_non_null(strstr(fpk_fv_errmsg(s), "dt = 0.25"));
    assert_non_null(strstr(fpk_fv_errmsg(s), "stability limit 0.2025"));
    assert_non_null(strstr(fpk_fv_errmsg(s), "direct solver"));
    /* the direct solver takes that step; switching back to split is refused */
    assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_DIRECT), FPK_SUCCESS);
    assert_int_equal(fpk_fv_set_density(s, 0.0, pk), 0);
    if (fpk_fv_evolve(s, 0.25)) fail_msg("direct: %s", fpk_fv_errmsg(s));
    assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_SPLIT), FPK_EINVAL);
    assert_non_null(strstr(fpk_fv_errmsg(s), "stability limit"));
    fpk_fv_free(s);
    s = fpk_fv_alloc(&gk, k, fpk_fv_crank_nicolson, 0.2, &err);
    assert_non_null(s);
    assert_int_equal(fpk_fv_set_transport(s, FPK_FV_TRANSPORT_LINEAR), FPK_SUCCESS);
    assert_int_equal(fpk_fv_set_guard(s, &gd), FPK_SUCCESS);
    assert_int_equal(fpk_fv_set_density(s, 0.0, pk), 0);
    if (fpk_fv_evolve(s, 0.2)) fail_msg("split below the limit: %s", fpk_fv_errmsg(s));
    fpk_fv_free(s);
    free(pk);
    s = fpk_fv_alloc(&gk, k, fpk_fv_implicit_euler, 0.25, &err); /* corrected to the exact step */
    assert_non_null(s);
    fpk_fv_free(s);
    /* a one-cell start: the second-order upwind flux undershoots, and the guard says why */
    const fpk_grid gs = grid2(21, 21, -3.0, 3.0, -3.0, 3.0);
    double *p1 = calloc(gs.size, sizeof *p1);
    assert_non_null(p1);
    p1[10 * 21 + 14] = 1.0 / gs.cell_volume;
    s = fpk_fv_alloc(&gs, k, fpk_fv_implicit_euler, 0.05, &err);
    assert_non_null(s);
    assert_int_equal(fpk_fv_set_transport(s, FPK_FV_TRANSPORT_LINEAR), FPK_SUCCESS);
    assert_int_equal(fpk_fv_set_density(s, 0.0, p1), 0);
    assert_int_equal(fpk_fv_evolve(s, 0.05), FPK_ENUMERIC);
    printf("  harmonic Kramers, one-cell start, linear transport: %s\n", fpk_fv_errmsg(s));
    assert_non_null(strstr(fpk_fv_errmsg(s), "second-order upwind"));
    assert_non_null(strstr(fpk_fv_errmsg(s), "implicit-euler"));
    fpk_fv_free(s);
    /* the limited transport (the default) keeps it non-negative: implicit Euler with a Metzler
     * L, whatever dt (0.05 and 5) */
    for (int big = 0; big < 2; big++) {
      s = fpk_fv_alloc(&gs, k, fpk_fv_implicit_euler, big ? 5.0 : 0.05, &err);
      assert_non_null(s);
      assert_int_equal(fpk_fv_set_density(s, 0.0, p1), 0);
      if (fpk_fv_evolve(s, big ? 10.0 : 0.05)) fail_msg("limited, one cell: %s", fpk_fv_errmsg(s));
      printf("  harmonic Kramers, one-cell start, limited transport, dt = %g: min p = %.3g\n",
             big ? 5.0 : 0.05, fpk_fv_min_density(s));
      assert_true(fpk_fv_min_density(s) >= 0.0);
      fpk_fv_free(s);
    }
    free(p1);
    fpk_model_free(k);
  }
  /* a model with neither a noise nor a noise matrix is refused */
  fpk_model bad = *m;
  bad.noise_matrix = NULL;
  bad.noise = NULL;
  assert_null(fpk_fv_alloc(&g, &bad, fpk_fv_tr_bdf2, 0.01, &err));
  assert_non_null(strstr(err.msg, "noise"));
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_correlated_ou_order),
      cmocka_unit_test(test_correlated_ou_split_time_order),
      cmocka_unit_test(test_correlated_ou_3d_and_walls),
      cmocka_unit_test(test_kramers_harmonic),
      cmocka_unit_test(test_kramers_steep_positivity),
      cmocka_unit_test(test_kramers_limited_extras),
      cmocka_unit_test(test_kramers_double_well_stationary),
      cmocka_unit_test(test_zero_diffusion_flux),
      cmocka_unit_test(test_diagonal_as_matrix),
      cmocka_unit_test(test_cross_positivity_message),
  };
  if (getenv("FPK_TEST_FILTER")) cmocka_set_test_filter(getenv("FPK_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
