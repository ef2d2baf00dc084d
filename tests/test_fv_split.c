/* Tests of the split (ADI / Douglas) solver of the finite-volume steppers (fpkit/fv.h,
 * docs/fv-scheme.md "The split solver"): temporal order of each implicit stepper against a
 * fine-step reference of the same spatial operator (direct solver, so the spatial error cancels),
 * mass to round-off, the Gibbs state and the circulating stationary state as fixed points,
 * positivity, agreement with the direct solver, results bitwise the same for 1, 2 and 3 threads,
 * on reflecting, periodic and absorbing walls. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

static const fpk_fv_stepper_type **implicit_steppers(void) {
  static const fpk_fv_stepper_type *T[4];
  T[0] = fpk_fv_implicit_euler;
  T[1] = fpk_fv_crank_nicolson;
  T[2] = fpk_fv_tr_bdf2;
  T[3] = NULL;
  return T;
}

static fpk_grid grid2(size_t nx, size_t ny, double lo, double hi, fpk_bc bx, fpk_bc by) {
  fpk_grid g;
  fpk_error err = {0};
  const size_t n[2] = {nx, ny};
  const double l[2] = {lo, lo}, h[2] = {hi, hi};
  const fpk_bc bc[2] = {bx, by};
  if (fpk_grid_init(&g, 2, n, l, h, bc, &err)) fail_msg("grid: %s", err.msg);
  return g;
}

/* The flagship-like OU: anisotropic, non-symmetric A (circulating stationary flux). */
static const double A_NS[4] = {1.0, 0.8, -0.6, 0.5};
static const double MU0[2] = {0.0, 0.0};
static const double SIG_NS[2] = {0.8, 0.6};

typedef struct config {
  const char *name;
  int bm; /* 0: OU A_NS, 1: Brownian motion with drift */
  double lo, hi;
  fpk_bc bx, by;
  double mx, my, s0; /* initial Gaussian */
} config;

static const config CONFIGS[] = {
    {"OU, reflecting x reflecting", 0, -4.0, 4.0, FPK_BC_REFLECTING, FPK_BC_REFLECTING, 1.0, -0.5,
     0.5},
    {"BM, periodic x absorbing", 1, -2.0, 2.0, FPK_BC_PERIODIC, FPK_BC_ABSORBING, 0.5, 0.3, 0.4},
    {"OU, absorbing x periodic", 0, -2.5, 2.5, FPK_BC_ABSORBING, FPK_BC_PERIODIC, 0.5, -0.4, 0.5},
    {"BM, periodic x reflecting", 1, -2.0, 2.0, FPK_BC_PERIODIC, FPK_BC_REFLECTING, -0.3, 0.6,
     0.4},
};
#define NCONF (sizeof CONFIGS / sizeof CONFIGS[0])

static fpk_model *config_model(const config *c) {
  fpk_error err = {0};
  static const double v[2] = {0.7, -0.3}, sb[2] = {0.6, 0.5};
  fpk_model *m =
      c->bm ? fpk_model_bm_alloc(2, v, sb, &err) : fpk_model_ou_alloc(2, A_NS, MU0, SIG_NS, &err);
  if (!m) fail_msg("model: %s", err.msg);
  return m;
}

static double *gaussian_on(const fpk_grid *g, double mx, double my, double s) {
  fpk_gaussian law = {.dim = 2};
  law.mean[0] = mx;
  law.mean[1] = my;
  law.cov[0] = law.cov[3] = s * s;
  double *p = malloc(g->size * sizeof *p);
  fpk_error err = {0};
  assert_non_null(p);
  if (fpk_gaussian_density_grid(&law, g, p, &err)) fail_msg("density: %s", err.msg);
  return p;
}

static fpk_fv *make(const fpk_grid *g, const fpk_model *m, const fpk_fv_stepper_type *T,
                    double dt, fpk_fv_solver solver, const double *p0) {
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(g, m, T, dt, &err);
  if (!s) fail_msg("fpk_fv_alloc(%s, dt = %g): %s", T->name, dt, err.msg);
  assert_int_equal(fpk_fv_set_solver(s, solver), FPK_SUCCESS);
  if (p0) assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
  return s;
}

static void evolve_ok(fpk_fv *s, double t) {
  int rc = fpk_fv_evolve(s, t);
  if (rc) fail_msg("evolve to %g: %s", t, fpk_fv_errmsg(s));
}

static double l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

static double max_rel_dev(size_t n, const double *p, const double *q) {
  double m = 0.0, qm = 0.0;
  for (size_t i = 0; i < n; i++) qm = fmax(qm, fabs(q[i]));
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(p[i] - q[i]));
  return m / qm;
}

/* Least-squares slope of log e against log dt. */
static double fit_order(size_t k, const double *dt, const double *e) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < k; i++) {
    const double x = log(dt[i]), y = log(e[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

/* ------------------------------------------------------------------------------------------ */

static void test_solver_api(void **state) {
  (void)state;
  const config *c = &CONFIGS[0];
  fpk_model *m = config_model(c);
  fpk_grid g = grid2(20, 18, c->lo, c->hi, c->bx, c->by);
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, 0.1, &err);
  assert_non_null(s);
  assert_string_equal(fpk_fv_solver_name(s), "split"); /* the default in 2D */
  assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_DIRECT), FPK_SUCCESS);
  assert_string_equal(fpk_fv_solver_name(s), "direct");
  assert_int_equal(fpk_fv_set_solver(s, (fpk_fv_solver)7), FPK_EINVAL);
  assert_non_null(strstr(fpk_fv_errmsg(s), "unknown solver"));
  assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_SPLIT), FPK_SUCCESS);
  assert_string_equal(fpk_fv_solver_name(s), "split");
  fpk_fv_free(s);
  /* explicit Euler has no solver; 1D always solves exactly */
  s = fpk_fv_alloc(&g, m, fpk_fv_explicit_euler, 1e-4, &err);
  assert_non_null(s);
  assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_SPLIT), FPK_SUCCESS);
  assert_string_equal(fpk_fv_solver_name(s), "none");
  fpk_fv_free(s);
  fpk_grid g1;
  const size_t n1 = 50;
  const double lo = -4, hi = 4, th = 1.0, mu = 0.0, sg = 1.0;
  assert_int_equal(fpk_grid_init(&g1, 1, &n1, &lo, &hi, NULL, &err), 0);
  fpk_model *m1 = fpk_model_ou_alloc(1, &th, &mu, &sg, &err);
  s = fpk_fv_alloc(&g1, m1, fpk_fv_crank_nicolson, 0.1, &err);
  assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_SPLIT), FPK_SUCCESS);
  assert_string_equal(fpk_fv_solver_name(s), "direct");
  fpk_fv_free(s);
  fpk_model_free(m1);
  fpk_model_free(m);
}

/* Temporal order of the split steppers against a fine-step reference of the same spatial
 * operator (direct TR-BDF2, dt 2.5e-4), on every wall combination. */
static void test_time_order(void **state) {
  (void)state;
  const double dts[] = {0.05, 0.025, 0.0125, 0.00625}, t_end = 0.5;
  const size_t nd = sizeof dts / sizeof dts[0];
  const fpk_fv_stepper_type **T = implicit_steppers();
  for (size_t ci = 0; ci < NCONF; ci++) {
    const config *c = &CONFIGS[ci];
    fpk_model *m = config_model(c);
    fpk_grid g = grid2(32, 28, c->lo, c->hi, c->bx, c->by);
    double *p0 = gaussian_on(&g, c->mx, c->my, c->s0);
    fpk_fv *ref = make(&g, m, fpk_fv_tr_bdf2, 2.5e-4, FPK_FV_SOLVER_DIRECT, p0);
    evolve_ok(ref, t_end);
    for (size_t k = 0; T[k]; k++) {
      double e[4];
      for (size_t j = 0; j < nd; j++) {
        fpk_fv *s = make(&g, m, T[k], dts[j], FPK_FV_SOLVER_SPLIT, p0);
        evolve_ok(s, t_end);
        e[j] = l1(&g, fpk_fv_density(s), fpk_fv_density(ref));
        fpk_fv_free(s);
      }
      const double q = fit_order(nd, dts, e);
      printf("  split %-15s %-28s L1 vs reference %.2e .. %.2e, order %.3f\n", T[k]->name,
             c->name, e[0], e[nd - 1], q);
      const double expect = T[k]->order;
      assert_true(fabs(q - expect) <= 0.15);
    }
    fpk_fv_free(ref);
    free(p0);
    fpk_model_free(m);
  }
}

/* Mass to round-off with reflecting and periodic walls; never growing with an absorbing one. */
static void test_mass(void **state) {
  (void)state;
  const fpk_fv_stepper_type **T = implicit_steppers();
  for (size_t ci = 0; ci < NCONF; ci++) {
    const config *c = &CONFIGS[ci];
    const int absorbing = c->bx == FPK_BC_ABSORBING || c->by == FPK_BC_ABSORBING;
    fpk_model *m = config_model(c);
    fpk_grid g = grid2(40, 36, c->lo, c->hi, c->bx, c->by);
    double *p0 = gaussian_on(&g, c->mx, c->my, c->s0);
    for (size_t k = 0; T[k]; k++) {
      fpk_fv *s = make(&g, m, T[k], 0.01, FPK_FV_SOLVER_SPLIT, p0);
      const double m0 = fpk_fv_mass(s);
      double prev = m0, worst = 0.0;
      for (int j = 1; j <= 20; j++) {
        evolve_ok(s, 0.1 * j); /* 200 steps */
        const double mj = fpk_fv_mass(s);
        if (absorbing) assert_true(mj <= prev * (1.0 + 1e-14));
        else worst = fmax(worst, fabs(mj - m0) / m0);
        prev = mj;
      }
      printf("  split %-15s %-28s mass %s %.2e\n", T[k]->name, c->name,
             absorbing ? "left at t = 2:" : "drift |dm|/m", absorbing ? prev / m0 : worst);
      if (!absorbing) assert_true(worst <= 1e-13);
      fpk_fv_free(s);
    }
    free(p0);
    fpk_model_free(m);
  }
}

/* Fixed points. The discrete Gibbs density of a gradient drift (symmetric A, equal noise) has
 * zero flux on every face, L_a p = 0 for each axis: a fixed point of every split stepper (delta
 * form and plain factorised implicit Euler), to round-off over many steps. The circulating
 * stationary state of the non-symmetric OU (L p = 0, L_a p != 0) is a fixed point of the delta
 * form (Crank–Nicolson, TR-BDF2) only; the plain factorised implicit Euler shifts it by O(dt). */
static void test_fixed_points(void **state) {
  (void)state;
  const fpk_fv_stepper_type **T = implicit_steppers();
  fpk_error err = {0};
  const double A[4] = {1.2, 0.4, 0.4, 0.9}, mu[2] = {0.3, -0.2}, sg[2] = {0.8, 0.8};
  const double D = 0.32;
  fpk_model *m = fpk_model_ou_alloc(2, A, mu, sg, &err);
  fpk_grid g = grid2(40, 44, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  double *gb = malloc(g.size * sizeof *gb);
  for (size_t i = 0; i < g.size; i++) {
    double x[2];
    fpk_grid_point(&g, i, x);
    double U = 0.0;
    for (size_t r = 0; r < 2; r++)
      for (size_t q = 0; q < 2; q++) U += 0.5 * (x[r] - mu[r]) * A[r * 2 + q] * (x[q] - mu[q]);
    gb[i] = exp(-U / D);
  }
  const double Z = fpk_grid_integral(&g, gb);
  for (size_t i = 0; i < g.size; i++) gb[i] /= Z;
  const double dts[] = {0.05, 2.0};
  for (size_t k = 0; T[k]; k++)
    for (size_t j = 0; j < 2; j++) {
      if (j == 1 && T[k] != fpk_fv_implicit_euler) continue; /* CN/TR-BDF2: not positive there */
      fpk_fv *s = make(&g, m, T[k], dts[j], FPK_FV_SOLVER_SPLIT, gb);
      evolve_ok(s, 500 * dts[j]);
      const double e = max_rel_dev(g.size, fpk_fv_density(s), gb);
      printf("  Gibbs 2D, split %-15s dt %-4g 500 steps: max rel deviation %.2e\n", T[k]->name,
             dts[j], e);
      assert_true(e <= 1e-12);
      fpk_fv_free(s);
    }
  fpk_model_free(m);
  free(gb);

  m = fpk_model_ou_alloc(2, A_NS, MU0, SIG_NS, &err);
  fpk_grid g2 = grid2(40, 40, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  double *ps = malloc(g2.size * sizeof *ps);
  assert_int_equal(fpk_fv_stationary(&g2, m, ps, &err), 0);
  for (size_t k = 1; T[k]; k++) {
    fpk_fv *s = make(&g2, m, T[k], 0.05, FPK_FV_SOLVER_SPLIT, ps);
    evolve_ok(s, 25.0);
    const double e = max_rel_dev(g2.size, fpk_fv_density(s), ps);
    printf("  circulating stationary state, split %-15s dt 0.05, 500 steps: %.2e\n", T[k]->name,
           e);
    assert_true(e <= 1e-12);
    fpk_fv_free(s);
  }
  double shift[2];
  for (size_t j = 0; j < 2; j++) {
    const double dt = j ? 0.125 : 0.25;
    fpk_fv *s = make(&g2, m, fpk_fv_implicit_euler, dt, FPK_FV_SOLVER_SPLIT, ps);
    evolve_ok(s, 80.0);
    shift[j] = max_rel_dev(g2.size, fpk_fv_density(s), ps);
    fpk_fv_free(s);
  }
  /* The Lie-split step alone had the fixed point L p = h L_1 L_2 p, shifted by O(dt) (4.8e-2 at
   * dt 0.25); the split implicit Euler now corrects each step to the exact one (defect
   * correction, else the direct solve: tests/defects/perf/01), so the state stays put. */
  printf("  circulating stationary state, split implicit-euler: dt 0.25 %.2e, dt 0.125 %.2e\n",
         shift[0], shift[1]);
  assert_true(shift[0] <= 1e-11 && shift[1] <= 1e-11);
  free(ps);
  fpk_model_free(m);
}

/* Positivity: the plain factorised implicit Euler for any dt; Crank–Nicolson (delta form = the
 * factored form (I - κL_1)⁻¹(I - κL_2)⁻¹... with non-negative explicit factors I + κ L_a) up to
 * dt = 2 / max|L_ii| (the exact Crank–Nicolson's own bound). A spike in the middle of a
 * non-symmetric OU. */
static void test_positivity(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(2, A_NS, MU0, SIG_NS, &err);
  for (int wall = 0; wall < 2; wall++) {
    const fpk_bc b = wall ? FPK_BC_ABSORBING : FPK_BC_REFLECTING;
    fpk_grid g = grid2(60, 60, -4, 4, b, b);
    double *p0 = calloc(g.size, sizeof *p0);
    p0[30 * 60 + 37] = 1.0 / g.cell_volume;
    fpk_fv *probe = make(&g, m, fpk_fv_explicit_euler, 1e-5, FPK_FV_SOLVER_SPLIT, p0);
    const double dte = fpk_fv_explicit_dt_max(probe);
    fpk_fv_free(probe);
    const double dts[] = {0.5, 2.0, 2.0 * dte};
    for (size_t j = 0; j < 3; j++) {
      const fpk_fv_stepper_type *T = j < 2 ? fpk_fv_implicit_euler : fpk_fv_crank_nicolson;
      fpk_fv *s = make(&g, m, T, dts[j], FPK_FV_SOLVER_SPLIT, p0);
      double mn = INFINITY;
      for (int k = 1; k <= 8; k++) {
        evolve_ok(s, k * dts[j]);
        mn = fmin(mn, fpk_fv_min_density(s));
      }
      printf("  positivity, %s walls, split %-15s dt %.3g: min p = %.3g\n",
             wall ? "absorbing" : "reflecting", T->name, dts[j], mn);
      assert_true(mn >= 0.0);
      fpk_fv_free(s);
    }
    free(p0);
  }
  fpk_model_free(m);
}

/* At small steps the split and the direct solver agree to the splitting error O(dt²). */
static void test_agreement(void **state) {
  (void)state;
  const fpk_fv_stepper_type **T = implicit_steppers();
  for (size_t ci = 0; ci < NCONF; ci += 1) {
    const config *c = &CONFIGS[ci];
    fpk_model *m = config_model(c);
    fpk_grid g = grid2(36, 30, c->lo, c->hi, c->bx, c->by);
    double *p0 = gaussian_on(&g, c->mx, c->my, c->s0);
    for (size_t k = 1; T[k]; k++) {
      fpk_fv *a = make(&g, m, T[k], 1e-3, FPK_FV_SOLVER_SPLIT, p0);
      fpk_fv *b = make(&g, m, T[k], 1e-3, FPK_FV_SOLVER_DIRECT, p0);
      evolve_ok(a, 0.3);
      evolve_ok(b, 0.3);
      const double e = l1(&g, fpk_fv_density(a), fpk_fv_density(b));
      printf("  split vs direct, %-15s %-28s dt 1e-3 to t 0.3: L1 %.2e\n", T[k]->name, c->name,
             e);
      assert_true(e <= 1e-6);
      fpk_fv_free(a);
      fpk_fv_free(b);
    }
    free(p0);
    fpk_model_free(m);
  }
}

/* A time-dependent model (Brownian bridge to b at T = 2, not autonomous): the split steppers
 * re-assemble L at the stage times and refactor; they agree with the direct solver at small
 * steps and keep their orders. */
static void test_non_autonomous(void **state) {
  (void)state;
  fpk_error err = {0};
  const double a[2] = {0.5, -0.3}, b[2] = {-0.8, 0.6}, sg[2] = {0.7, 0.5};
  fpk_model *m = fpk_model_bridge_alloc(2, a, b, 2.0, sg, &err);
  assert_non_null(m);
  fpk_grid g = grid2(40, 36, -3, 3, FPK_BC_REFLECTING, FPK_BC_PERIODIC);
  double *p0 = gaussian_on(&g, a[0], a[1], 0.4);
  const fpk_fv_stepper_type **T = implicit_steppers();
  const double t_end = 1.0;
  fpk_fv *ref = make(&g, m, fpk_fv_tr_bdf2, 2.5e-4, FPK_FV_SOLVER_DIRECT, p0);
  evolve_ok(ref, t_end);
  const double dts[] = {0.05, 0.025, 0.0125, 0.00625};
  for (size_t k = 0; T[k]; k++) {
    double e[4];
    for (size_t j = 0; j < 4; j++) {
      fpk_fv *s = make(&g, m, T[k], dts[j], FPK_FV_SOLVER_SPLIT, p0);
      evolve_ok(s, t_end);
      e[j] = l1(&g, fpk_fv_density(s), fpk_fv_density(ref));
      fpk_fv_free(s);
    }
    const double q = fit_order(4, dts, e);
    printf("  split %-15s bridge (not autonomous)       L1 vs reference %.2e .. %.2e, order %.3f\n",
           T[k]->name, e[0], e[3], q);
    assert_true(fabs(q - T[k]->order) <= 0.15);
  }
  fpk_fv_free(ref);
  free(p0);
  fpk_model_free(m);
}

/* The same bits on 1, 2 and 3 threads: every line is solved by the same operations whichever
 * thread gets it, and every cell of the axis-wise operator is summed in the same order. */
static void test_threads_bitwise(void **state) {
  (void)state;
  const fpk_fv_stepper_type **T = implicit_steppers();
  const int saved = omp_get_max_threads();
  for (size_t ci = 0; ci < NCONF; ci++) {
    const config *c = &CONFIGS[ci];
    fpk_model *m = config_model(c);
    fpk_grid g = grid2(80, 66, c->lo, c->hi, c->bx, c->by); /* > FPK_FV_PARALLEL_MIN cells */
    double *p0 = gaussian_on(&g, c->mx, c->my, c->s0);
    for (size_t k = 0; T[k]; k++) {
      double *first = malloc(g.size * sizeof *first);
      for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        fpk_fv *s = make(&g, m, T[k], 0.02, FPK_FV_SOLVER_SPLIT, p0);
        evolve_ok(s, 0.2);
        if (nt == 1) memcpy(first, fpk_fv_density(s), g.size * sizeof *first);
        else assert_memory_equal(first, fpk_fv_density(s), g.size * sizeof *first);
        fpk_fv_free(s);
      }
      printf("  %-15s %-28s 1, 2, 3 threads: bitwise identical\n", T[k]->name, c->name);
      free(first);
    }
    free(p0);
    fpk_model_free(m);
  }
  omp_set_num_threads(saved);
}

/* 3D: the solver loops over d axes; mass and the Gibbs state there. */
static void test_3d(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A3[9] = {1.0, 0.2, 0.1, 0.2, 0.8, -0.15, 0.1, -0.15, 1.1};
  const double m3[3] = {0.2, -0.1, 0.3}, s3[3] = {0.9, 0.9, 0.9}, D = 0.405;
  fpk_model *m = fpk_model_ou_alloc(3, A3, m3, s3, &err);
  fpk_grid g;
  const size_t n3[3] = {14, 12, 10};
  const double lo3[3] = {-3.5, -3.5, -3.5}, hi3[3] = {3.5, 3.5, 3.5};
  const fpk_bc bc3[3] = {FPK_BC_REFLECTING, FPK_BC_PERIODIC, FPK_BC_REFLECTING};
  assert_int_equal(fpk_grid_init(&g, 3, n3, lo3, hi3, NULL, &err), 0);
  double *gb = malloc(g.size * sizeof *gb);
  for (size_t i = 0; i < g.size; i++) {
    double x[3];
    fpk_grid_point(&g, i, x);
    double U = 0.0;
    for (size_t r = 0; r < 3; r++)
      for (size_t q = 0; q < 3; q++) U += 0.5 * (x[r] - m3[r]) * A3[r * 3 + q] * (x[q] - m3[q]);
    gb[i] = exp(-U / D);
  }
  const double Z = fpk_grid_integral(&g, gb);
  for (size_t i = 0; i < g.size; i++) gb[i] /= Z;
  const fpk_fv_stepper_type **T = implicit_steppers();
  for (size_t k = 0; T[k]; k++) {
    fpk_fv *s = make(&g, m, T[k], 0.05, FPK_FV_SOLVER_SPLIT, gb);
    evolve_ok(s, 10.0);
    const double e = max_rel_dev(g.size, fpk_fv_density(s), gb);
    printf("  Gibbs 3D, split %-15s dt 0.05, 200 steps: %.2e, |dm| %.1e\n", T[k]->name, e,
           fabs(fpk_fv_mass(s) - 1.0));
    assert_true(e <= 1e-12);
    assert_true(fabs(fpk_fv_mass(s) - 1.0) <= 1e-13);
    fpk_fv_free(s);
  }
  /* periodic middle axis, a moving Gaussian: mass kept */
  fpk_grid gp;
  assert_int_equal(fpk_grid_init(&gp, 3, n3, lo3, hi3, bc3, &err), 0);
  fpk_fv *s = make(&gp, m, fpk_fv_tr_bdf2, 0.02, FPK_FV_SOLVER_SPLIT, gb);
  const double m0 = fpk_fv_mass(s);
  evolve_ok(s, 1.0);
  printf("  3D periodic middle axis, split tr-bdf2: |dm|/m %.1e\n", fabs(fpk_fv_mass(s) - m0) / m0);
  assert_true(fabs(fpk_fv_mass(s) - m0) <= 1e-13 * m0);
  fpk_fv_free(s);
  free(gb);
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_solver_api),    cmocka_unit_test(test_time_order),
      cmocka_unit_test(test_mass),          cmocka_unit_test(test_fixed_points),
      cmocka_unit_test(test_positivity),    cmocka_unit_test(test_agreement),
      cmocka_unit_test(test_threads_bitwise), cmocka_unit_test(test_3d),
      cmocka_unit_test(test_non_autonomous),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
