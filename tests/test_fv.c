/* Tests of the finite-volume Fokker–Planck solver (fpkit/fv.h): every stepper on every problem
 * where it makes sense. Reference values: docs/fv-scheme.md and
 * shared/reference/closed-forms.md (OU transition law, Scharfetter–Gummel equilibrium, the
 * Dirichlet heat-equation series). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"
#include "fp/fv_internal.h"

#define NSTEP 4 /* explicit, implicit, CN, TR-BDF2 */
static const double PI = 3.14159265358979323846;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Problem helpers                                                                            */

static fpk_grid grid1(size_t n, double lo, double hi, fpk_bc bc) {
  fpk_grid g;
  fpk_error err = {0};
  int rc = fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err);
  if (rc) fail_msg("grid: %s", err.msg);
  return g;
}

static fpk_grid grid2(size_t nx, size_t ny, double lo, double hi, fpk_bc bx, fpk_bc by) {
  fpk_grid g;
  fpk_error err = {0};
  const size_t n[2] = {nx, ny};
  const double l[2] = {lo, lo}, h[2] = {hi, hi};
  const fpk_bc bc[2] = {bx, by};
  int rc = fpk_grid_init(&g, 2, n, l, h, bc, &err);
  if (rc) fail_msg("grid: %s", err.msg);
  return g;
}

static fpk_model *ou1(double theta, double mu, double sigma) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  if (!m) fail_msg("ou: %s", err.msg);
  return m;
}

static fpk_model *ou2(const double *A, const double *mu, const double *sigma) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(2, A, mu, sigma, &err);
  if (!m) fail_msg("ou: %s", err.msg);
  return m;
}

/* The 2D flagship-like OU: anisotropic, non-symmetric A (experiments/ou/ou2d.ini). */
static const double A_NS[4] = {1.0, 0.8, -0.6, 0.5};
static const double MU0[2] = {0.0, 0.0};
static const double SIG_NS[2] = {0.8, 0.6};

static fpk_gaussian gauss1(double m, double s) {
  fpk_gaussian g = {.dim = 1};
  g.mean[0] = m;
  g.cov[0] = s * s;
  return g;
}

static fpk_gaussian gauss2(double mx, double my, double s) {
  fpk_gaussian g = {.dim = 2};
  g.mean[0] = mx;
  g.mean[1] = my;
  g.cov[0] = g.cov[3] = s * s;
  return g;
}

static double *density_of(const fpk_gaussian *g, const fpk_grid *grid) {
  double *p = malloc(grid->size * sizeof *p);
  fpk_error err = {0};
  assert_non_null(p);
  if (fpk_gaussian_density_grid(g, grid, p, &err)) fail_msg("density: %s", err.msg);
  return p;
}

/* L1 distance Σ|p - q| h^d. */
static double l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

/* L1 error of p against the exact OU law at time t from init. */
static double l1_exact(const fpk_grid *g, const fpk_model *m, const fpk_gaussian *init, double t,
                       const double *p) {
  fpk_gaussian law;
  fpk_error err = {0};
  if (fpk_exact_linear_law(m->linear, init, t, &law, &err)) fail_msg("exact: %s", err.msg);
  double *q = density_of(&law, g);
  double e = l1(g, p, q);
  free(q);
  return e;
}

static fpk_fv *make(const fpk_grid *g, const fpk_model *m, const fpk_fv_stepper_type *T,
                    double dt, const double *p0) {
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(g, m, T, dt, &err);
  if (!s) fail_msg("fpk_fv_alloc(%s, dt = %g): %s", T->name, dt, err.msg);
  if (p0) assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
  return s;
}

static void evolve_ok(fpk_fv *s, double t) {
  int rc = fpk_fv_evolve(s, t);
  if (rc) fail_msg("evolve to %g: %s", t, fpk_fv_errmsg(s));
}

/* Largest explicit step for (grid, model): queried from a solver made with a tiny dt. */
static double explicit_dt_max(const fpk_grid *g, const fpk_model *m) {
  fpk_fv *s = make(g, m, fpk_fv_explicit_euler, 1e-12, NULL);
  double d = fpk_fv_explicit_dt_max(s);
  fpk_fv_free(s);
  return d;
}

/* The step each stepper uses in the mass/positivity problems. */
static double step_for(const fpk_fv_stepper_type *T, const fpk_grid *g, const fpk_model *m,
                       double dt_implicit) {
  return T->implicit ? dt_implicit : 0.9 * explicit_dt_max(g, m);
}

/* ---- custom models ------------------------------------------------------------------------ */

/* Periodic, non-gradient drift on [0, 2π]^d: a non-equilibrium steady state with a current. */
static int periodic_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const size_t d = *(const size_t *)params;
  for (size_t i = 0; i < n; i++) {
    out[i] = -sin(x[i]) + 0.3;
    if (d == 2) {
      out[i] += 0.2 * cos(x[n + i]);
      out[n + i] = -0.5 * sin(x[n + i]) - 0.2;
    }
  }
  return 0;
}

static int periodic_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  (void)x;
  const size_t d = *(const size_t *)params;
  for (size_t i = 0; i < n; i++) {
    out[i] = 0.8;
    if (d == 2) out[n + i] = 0.6 + 0.2 * cos(x[i]); /* state-dependent noise */
  }
  return 0;
}

static size_t DIM1 = 1, DIM2 = 2;
static const fpk_model PERIODIC1 = {.name = "periodic1", .dim = 1, .drift = periodic_drift, .noise = periodic_noise,
                                  .params = &DIM1, .flags = FPK_MODEL_AUTONOMOUS};
static const fpk_model PERIODIC2 = {.name = "periodic2", .dim = 2, .drift = periodic_drift, .noise = periodic_noise,
                                  .params = &DIM2, .flags = FPK_MODEL_AUTONOMOUS};

/* Non-autonomous OU: dX = -(X - a sin(ωt)) dt + σ dW. Mean m' = -m + a sin ωt, so
 * m(t) = m0 e^{-t} + a[(sin ωt - ω cos ωt) + ω e^{-t}]/(1 + ω²); var as for OU with θ = 1. */
typedef struct {
  double a, omega, sigma;
} moving_ou;

static int moving_drift(double t, size_t n, const double *x, double *out, void *params) {
  const moving_ou *q = params;
  const double c = q->a * sin(q->omega * t);
  for (size_t i = 0; i < n; i++) out[i] = -(x[i] - c);
  return 0;
}

static int moving_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  (void)x;
  const moving_ou *q = params;
  for (size_t i = 0; i < n; i++) out[i] = q->sigma;
  return 0;
}

static moving_ou MOVING = {1.0, 3.0, 1.0};
static const fpk_model MOVING1 = {.name = "moving-ou", .dim = 1, .drift = moving_drift, .noise = moving_noise,
                                  .params = &MOVING, .flags = FPK_MODEL_ADDITIVE};

static fpk_gaussian moving_law(double m0, double s0, double t) {
  const double a = MOVING.a, w = MOVING.omega, s = MOVING.sigma;
  const double m = m0 * exp(-t) + a * ((sin(w * t) - w * cos(w * t)) + w * exp(-t)) / (1 + w * w);
  const double v = s0 * s0 * exp(-2 * t) + s * s * (1 - exp(-2 * t)) / 2;
  fpk_gaussian g = {.dim = 1};
  g.mean[0] = m;
  g.cov[0] = v;
  return g;
}

/* A drift that fails (fatal) after t = 0.5. */
static int failing_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)params;
  if (t > 0.5) return -3;
  for (size_t i = 0; i < n; i++) out[i] = -x[i];
  return 0;
}
static const fpk_model FAILING1 = {.name = "failing", .dim = 1, .drift = failing_drift, .noise = moving_noise,
                                  .params = &MOVING, .flags = FPK_MODEL_ADDITIVE};

/* ------------------------------------------------------------------------------------------ */
/* Building blocks                                                                            */

static void test_bernoulli(void **state) {
  (void)state;
  assert_close_abs(fpk_fv_bernoulli(0.0), 1.0, 0.0);
  /* series branch and expm1 branch agree across the switch, and B(-z) = B(z) + z */
  const double zs[] = {1e-12, 1e-6, 9.99e-3, 1.001e-2, 0.3, 2.0, 30.0, 700.0};
  for (size_t k = 0; k < sizeof zs / sizeof zs[0]; k++) {
    const double z = zs[k];
    const double ref = z / expm1(z); /* fine away from 0 */
    if (z > 1e-7) assert_close_rel(fpk_fv_bernoulli(z), ref, 2e-15);
    assert_close_rel(fpk_fv_bernoulli(-z), fpk_fv_bernoulli(z) + z, 1e-14);
  }
  assert_close_rel(fpk_fv_bernoulli(-800.0), 800.0, 1e-15);
  assert_true(fpk_fv_bernoulli(800.0) >= 0.0 && fpk_fv_bernoulli(800.0) < 1e-300);
}

static void test_stepper_registry(void **state) {
  (void)state;
  size_t k = 0;
  for (; fpk_fv_steppers[k]; k++)
    assert_ptr_equal(fpk_fv_stepper_lookup(fpk_fv_steppers[k]->name), fpk_fv_steppers[k]);
  assert_int_equal(k, NSTEP);
  assert_ptr_equal(fpk_fv_stepper_lookup("tr-bdf2"), fpk_fv_tr_bdf2);
  assert_null(fpk_fv_stepper_lookup("rk4"));
  assert_null(fpk_fv_stepper_lookup(NULL));
  assert_int_equal(fpk_fv_explicit_euler->implicit, 0);
  assert_int_equal(fpk_fv_implicit_euler->order, 1);
  assert_int_equal(fpk_fv_crank_nicolson->order, 2);
  assert_int_equal(fpk_fv_tr_bdf2->order, 2);
}

/* Pure diffusion, reflecting: L_ii = -2D/h² inside, -D/h² in the end cells; so the explicit
 * bound is h²/(2D) and 1ᵀL = 0. Checks the operator entries directly. */
static void test_operator_entries(void **state) {
  (void)state;
  const double v = 0.0, sig = 0.7, D = 0.5 * sig * sig;
  fpk_error err = {0};
  fpk_model *bm = fpk_model_bm_alloc(1, &v, &sig, &err);
  fpk_grid g = grid1(10, 0.0, 1.0, FPK_BC_REFLECTING);
  fpk_fv_op op;
  assert_int_equal(fpk_fv_op_init(&op, &g, &err), 0);
  assert_int_equal(fpk_fv_op_assemble(&op, bm, 0.0, &err), 0);
  const double h = g.h[0];
  assert_close_rel(fpk_fv_op_max_diag(&op), 2 * D / (h * h), 1e-14);
  assert_int_equal(op.nnz, 3 * 10 - 2);
  /* column sums vanish */
  for (size_t j = 0; j < op.n; j++) {
    double cs = 0;
    for (int q = op.Ap[j]; q < op.Ap[j + 1]; q++) cs += op.Ax[q];
    assert_close_abs(cs, 0.0, 1e-12 * D / (h * h));
  }
  fpk_fv_op_free(&op);
  /* absorbing walls: the end cell loses D/h² to its neighbour and 2D/h² to the wall */
  g = grid1(10, 0.0, 1.0, FPK_BC_ABSORBING);
  assert_int_equal(fpk_fv_op_init(&op, &g, &err), 0);
  assert_int_equal(fpk_fv_op_assemble(&op, bm, 0.0, &err), 0);
  assert_close_rel(op.Ax[op.slot[0]], -3 * D / (h * h), 1e-14);
  assert_close_rel(op.Ax[op.slot[3 * 9]], -3 * D / (h * h), 1e-14);
  fpk_fv_op_free(&op);
  fpk_fv *s = make(&g, bm, fpk_fv_explicit_euler, 1e-9, NULL);
  assert_close_rel(fpk_fv_explicit_dt_max(s), h * h / (3 * D), 1e-14);
  fpk_fv_free(s);
  fpk_model_free(bm);
}

/* ------------------------------------------------------------------------------------------ */
/* 1. Mass conservation to 1e-12 with reflecting and periodic boundaries, every stepper.       */

typedef struct {
  const char *name;
  fpk_grid g;
  const fpk_model *m;
  double *p0;
} problem;

static void check_mass(const problem *pr) {
  for (size_t k = 0; fpk_fv_steppers[k]; k++) {
    const fpk_fv_stepper_type *T = fpk_fv_steppers[k];
    const double dt = step_for(T, &pr->g, pr->m, 0.05);
    fpk_fv *s = make(&pr->g, pr->m, T, dt, pr->p0);
    const double m0 = fpk_fv_mass(s);
    double worst = 0.0;
    for (int q = 1; q <= 4; q++) {
      evolve_ok(s, 0.25 * q);
      const double dm = fabs(fpk_fv_mass(s) - m0) / m0;
      if (dm > worst) worst = dm;
    }
    printf("  mass %-28s %-15s dt %.3g steps %5zu |Δm|/m %.2e factorisations %zu\n", pr->name,
           T->name, dt, fpk_fv_steps_taken(s), worst, fpk_fv_factorizations(s));
    if (!(worst <= 1e-12)) fail_msg("%s/%s: mass drift %.3g", pr->name, T->name, worst);
    /* autonomous: one factorisation for all four evolves */
    if (T->implicit && (pr->m->flags & FPK_MODEL_AUTONOMOUS))
      assert_int_equal(fpk_fv_factorizations(s), 1);
    fpk_fv_free(s);
  }
}

static void test_mass_conservation(void **state) {
  (void)state;
  fpk_model *o1 = ou1(1.0, 0.5, 1.0);
  fpk_model *o2 = ou2(A_NS, MU0, (const double[]){1.0, 0.7});
  problem pr[7];
  size_t np = 0;
  fpk_gaussian g1 = gauss1(1.5, 0.3), g2 = gauss2(1.0, -0.5, 0.4);
  fpk_gaussian gp1 = gauss1(2.0, 0.4), gp2 = gauss2(2.0, 4.0, 0.5);

  pr[np] = (problem){"1D OU reflecting", grid1(100, -5, 5, FPK_BC_REFLECTING), o1, NULL};
  pr[np].p0 = density_of(&g1, &pr[np].g), np++;
  pr[np] = (problem){"1D periodic drift", grid1(90, 0, 2 * PI, FPK_BC_PERIODIC), &PERIODIC1, NULL};
  pr[np].p0 = density_of(&gp1, &pr[np].g), np++;
  pr[np] = (problem){"1D OU periodic", grid1(80, -4, 4, FPK_BC_PERIODIC), o1, NULL};
  pr[np].p0 = density_of(&g1, &pr[np].g), np++;
  pr[np] = (problem){"1D moving OU (non-auton.)", grid1(100, -5, 5, FPK_BC_REFLECTING), &MOVING1,
                     NULL};
  pr[np].p0 = density_of(&g1, &pr[np].g), np++;
  pr[np] = (problem){"2D OU non-sym reflecting", grid2(40, 36, -5, 5, FPK_BC_REFLECTING,
                                                       FPK_BC_REFLECTING), o2, NULL};
  pr[np].p0 = density_of(&g2, &pr[np].g), np++;
  pr[np] = (problem){"2D OU non-sym periodic x", grid2(36, 40, -5, 5, FPK_BC_PERIODIC,
                                                       FPK_BC_REFLECTING), o2, NULL};
  pr[np].p0 = density_of(&g2, &pr[np].g), np++;
  pr[np] = (problem){"2D periodic drift", grid2(32, 30, 0, 2 * PI, FPK_BC_PERIODIC,
                                                FPK_BC_PERIODIC), &PERIODIC2, NULL};
  pr[np].p0 = density_of(&gp2, &pr[np].g), np++;

  for (size_t i = 0; i < np; i++) {
    check_mass(&pr[i]);
    free(pr[i].p0);
  }
  fpk_model_free(o1);
  fpk_model_free(o2);
}

/* ------------------------------------------------------------------------------------------ */
/* 2. Positivity: implicit Euler (any step) and explicit Euler below its bound keep p >= 0    */
/* from a one-cell spike; Crank–Nicolson with a large step does not (shows the test bites).   */

static void spike_run(const fpk_grid *g, const fpk_model *m, const fpk_fv_stepper_type *T,
                      double dt, double t_end, int nout, double *min_out) {
  double *p0 = calloc(g->size, sizeof *p0);
  /* one cell near (1, -0.5): mass 1 */
  size_t flat = 0, stride = 1;
  const double target[2] = {1.0, -0.5};
  for (size_t a = 0; a < g->dim; a++) {
    size_t i = (size_t)((target[a] - g->lo[a]) / g->h[a]);
    flat += i * stride;
    stride *= g->n[a];
  }
  p0[flat] = 1.0 / g->cell_volume;
  fpk_fv *s = make(g, m, T, dt, p0);
  double mn = INFINITY;
  for (int q = 1; q <= nout; q++) {
    evolve_ok(s, t_end * q / nout);
    const double v = fpk_fv_min_density(s);
    if (v < mn) mn = v;
  }
  *min_out = mn;
  fpk_fv_free(s);
  free(p0);
}

static void test_positivity(void **state) {
  (void)state;
  fpk_model *o1 = ou1(1.0, 0.0, 1.0);
  fpk_model *o2 = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g1 = grid1(200, -5, 5, FPK_BC_REFLECTING);
  fpk_grid g2 = grid2(60, 60, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  fpk_grid g1a = grid1(200, -5, 5, FPK_BC_ABSORBING);
  double mn;
  const double big[] = {0.5, 2.0};
  for (int k = 0; k < 2; k++) {
    spike_run(&g1, o1, fpk_fv_implicit_euler, big[k], 4.0, 8, &mn);
    printf("  implicit Euler 1D dt %.1f: min p = %.3g\n", big[k], mn);
    assert_true(mn >= 0.0);
    spike_run(&g1a, o1, fpk_fv_implicit_euler, big[k], 4.0, 8, &mn);
    assert_true(mn >= 0.0);
    spike_run(&g2, o2, fpk_fv_implicit_euler, big[k], 4.0, 8, &mn);
    printf("  implicit Euler 2D dt %.1f: min p = %.3g\n", big[k], mn);
    assert_true(mn >= 0.0);
  }
  spike_run(&g1, o1, fpk_fv_explicit_euler, explicit_dt_max(&g1, o1), 0.5, 5, &mn);
  printf("  explicit Euler 1D at the bound: min p = %.3g\n", mn);
  assert_true(mn >= 0.0);
  spike_run(&g2, o2, fpk_fv_explicit_euler, 0.999 * explicit_dt_max(&g2, o2), 0.5, 5, &mn);
  printf("  explicit Euler 2D below the bound: min p = %.3g\n", mn);
  assert_true(mn >= 0.0);
  /* Crank-Nicolson at dt 0.5 is far beyond its positivity bound 2/max|L_ii| (~0.005 here): the
   * output guard (fpkit/guard.h) refuses the density and names the bound and the remedy ... */
  {
    double *p0 = calloc(g1.size, sizeof *p0);
    p0[120] = 1.0 / g1.cell_volume;
    fpk_fv *s = make(&g1, o1, fpk_fv_crank_nicolson, 0.5, p0);
    assert_int_equal(fpk_fv_evolve(s, 0.5), FPK_ENUMERIC);
    const char *msg = fpk_fv_errmsg(s);
    printf("  Crank-Nicolson 1D dt 0.5: %s\n", msg);
    assert_non_null(strstr(msg, "fv crank-nicolson"));
    assert_non_null(strstr(msg, "at t = 0.5"));
    assert_non_null(strstr(msg, "negative beyond rounding"));
    assert_non_null(strstr(msg, "non-negative only for dt <= 0.00"));
    assert_non_null(strstr(msg, "use implicit-euler"));
    /* ... and the density it refused is still there to look at: negative */
    assert_true(fpk_fv_min_density(s) < -1e-3);
    fpk_fv_free(s);
    /* a guard opened up (negative_tol = 1e3: anything down to -1000 max p) lets it through */
    s = make(&g1, o1, fpk_fv_crank_nicolson, 0.5, p0);
    fpk_density_guard loose;
    fpk_density_guard_init(&loose);
    loose.negative_tol = 1e3;
    assert_int_equal(fpk_fv_set_guard(s, &loose), FPK_SUCCESS);
    evolve_ok(s, 0.5);
    mn = fpk_fv_min_density(s);
    printf("  Crank-Nicolson 1D dt 0.5 under negative_tol = 1e3: min p = %.3g\n", mn);
    assert_true(mn < 0.0);
    fpk_fv_free(s);
    free(p0);
  }
  fpk_model_free(o1);
  fpk_model_free(o2);
}

/* ------------------------------------------------------------------------------------------ */
/* 3. The discrete stationary state of OU (gradient drift, equal D) is the discrete Gibbs     */
/* density exp(-U(x_i)/D)/Z, via fpk_fv_stationary and via long implicit-Euler stepping.     */

static double max_rel_dev(size_t n, const double *p, const double *q) {
  double mx = 0, dev = 0;
  for (size_t i = 0; i < n; i++) {
    if (fabs(q[i]) > mx) mx = fabs(q[i]);
    if (fabs(p[i] - q[i]) > dev) dev = fabs(p[i] - q[i]);
  }
  return dev / mx;
}

static void gibbs_check(const fpk_grid *g, const fpk_model *m, const double *A, const double *mu,
                        double D, double dt, double t_end) {
  const size_t n = g->size, d = g->dim;
  double *gb = calloc(n, sizeof *gb), *ps = calloc(n, sizeof *ps);
  double x[FPK_MAX_DIM];
  for (size_t i = 0; i < n; i++) {
    fpk_grid_point(g, i, x);
    double U = 0; /* ½ (x-μ)ᵀ A (x-μ), A symmetric */
    for (size_t r = 0; r < d; r++)
      for (size_t c = 0; c < d; c++) U += 0.5 * (x[r] - mu[r]) * A[r * d + c] * (x[c] - mu[c]);
    gb[i] = exp(-U / D);
  }
  const double Z = fpk_grid_integral(g, gb);
  for (size_t i = 0; i < n; i++) gb[i] /= Z;

  fpk_error err = {0};
  if (fpk_fv_stationary(g, m, ps, &err)) fail_msg("stationary: %s", err.msg);
  const double e_stat = max_rel_dev(n, ps, gb);

  double *u = malloc(n * sizeof *u); /* uniform start */
  for (size_t i = 0; i < n; i++) u[i] = 1.0 / (g->cell_volume * (double)n);
  fpk_fv *s = make(g, m, fpk_fv_implicit_euler, dt, u);
  evolve_ok(s, t_end);
  const double e_ie = max_rel_dev(n, fpk_fv_density(s), gb);
  printf("  Gibbs %zuD (%zu cells): stationary %.2e, implicit Euler dt %g to t %g: %.2e, mass-1 "
         "%.1e\n",
         d, n, e_stat, dt, t_end, e_ie, fpk_fv_mass(s) - 1.0);
  assert_true(e_stat <= 1e-10);
  assert_true(e_ie <= 1e-10);
  assert_close_abs(fpk_grid_integral(g, ps), 1.0, 1e-13);
  fpk_fv_free(s);
  free(u);
  free(gb);
  free(ps);
}

static void test_gibbs(void **state) {
  (void)state;
  const double th = 1.3, mu = 0.4, sg = 0.9;
  fpk_model *o1 = ou1(th, mu, sg);
  fpk_grid g1 = grid1(80, -4, 4, FPK_BC_REFLECTING);
  gibbs_check(&g1, o1, &th, &mu, 0.5 * sg * sg, 1.0, 80.0);

  const double A[4] = {1.2, 0.4, 0.4, 0.9}, m2[2] = {0.3, -0.2}, s2[2] = {0.8, 0.8};
  fpk_model *o2 = ou2(A, m2, s2);
  fpk_grid g2 = grid2(40, 44, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  gibbs_check(&g2, o2, A, m2, 0.32, 2.0, 200.0);

  /* 3D: the assembly loops over axes generically, so the same identity must hold there. */
  {
    const double A3[9] = {1.0, 0.2, 0.1, 0.2, 0.8, -0.15, 0.1, -0.15, 1.1};
    const double m3[3] = {0.2, -0.1, 0.3}, s3[3] = {0.9, 0.9, 0.9};
    fpk_error e3 = {0};
    fpk_model *o3d = fpk_model_ou_alloc(3, A3, m3, s3, &e3);
    assert_non_null(o3d);
    fpk_grid g3d;
    const size_t n3[3] = {14, 12, 10};
    const double lo3[3] = {-3.5, -3.5, -3.5}, hi3[3] = {3.5, 3.5, 3.5};
    assert_int_equal(fpk_grid_init(&g3d, 3, n3, lo3, hi3, NULL, &e3), 0);
    gibbs_check(&g3d, o3d, A3, m3, 0.405, 2.0, 200.0);
    fpk_model_free(o3d);
  }

  /* Non-symmetric A: no Gibbs density, but the stationary state of the solver must agree with
   * long time stepping and carry unit mass. */
  fpk_model *o3 = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g3 = grid2(40, 40, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  double *ps = malloc(g3.size * sizeof *ps), *u = malloc(g3.size * sizeof *u);
  fpk_error err = {0};
  assert_int_equal(fpk_fv_stationary(&g3, o3, ps, &err), 0);
  for (size_t i = 0; i < g3.size; i++) u[i] = 1.0 / 64.0;
  /* The exact implicit Euler (direct solver): its fixed point is the null vector of L. The split
   * solver's plain factorised implicit Euler reproduces this circulating state only to O(dt)
   * (tests/test_fv_split.c). */
  fpk_fv *s = make(&g3, o3, fpk_fv_implicit_euler, 2.0, u);
  assert_int_equal(fpk_fv_set_solver(s, FPK_FV_SOLVER_DIRECT), FPK_SUCCESS);
  evolve_ok(s, 300.0);
  const double e = max_rel_dev(g3.size, fpk_fv_density(s), ps);
  printf("  non-symmetric 2D OU: stationary vs long implicit Euler %.2e\n", e);
  assert_true(e <= 1e-10);
  fpk_fv_free(s);
  /* periodic drift: same check in 1D */
  fpk_grid gp = grid1(64, 0, 2 * PI, FPK_BC_PERIODIC);
  double *pp = malloc(64 * sizeof *pp), *up = malloc(64 * sizeof *up);
  assert_int_equal(fpk_fv_stationary(&gp, &PERIODIC1, pp, &err), 0);
  for (size_t i = 0; i < 64; i++) up[i] = 1.0 / (2 * PI);
  s = make(&gp, &PERIODIC1, fpk_fv_implicit_euler, 2.0, up);
  evolve_ok(s, 400.0);
  const double ep = max_rel_dev(64, fpk_fv_density(s), pp);
  printf("  periodic 1D: stationary vs long implicit Euler %.2e\n", ep);
  assert_true(ep <= 1e-10);
  fpk_fv_free(s);
  free(pp);
  free(up);
  free(ps);
  free(u);
  fpk_model_free(o1);
  fpk_model_free(o2);
  fpk_model_free(o3);
}

/* ------------------------------------------------------------------------------------------ */
/* 4a. Spatial order against the exact OU law at t = 1 (time error made negligible).           */

static void test_space_order_1d(void **state) {
  (void)state;
  fpk_model *m = ou1(1.0, 0.0, 1.0);
  const fpk_gaussian g0 = gauss1(1.5, 0.25);
  const size_t ns[] = {40, 80, 160, 320};
  double h[4], e[4];
  for (size_t k = 0; k < 4; k++) {
    fpk_grid g = grid1(ns[k], -5, 5, FPK_BC_REFLECTING);
    double *p0 = density_of(&g0, &g);
    fpk_fv *s = make(&g, m, fpk_fv_tr_bdf2, 1e-3, p0);
    evolve_ok(s, 1.0);
    h[k] = g.h[0];
    e[k] = l1_exact(&g, m, &g0, 1.0, fpk_fv_density(s));
    printf("  1D space: n %4zu h %.4f Pe_max %.2f L1 %.3e\n", ns[k], h[k], 5 * h[k] / 0.5, e[k]);
    fpk_fv_free(s);
    free(p0);
  }
  const double order = fpk_test_fit_order(4, h, e);
  printf("  1D spatial order %.3f\n", order);
  assert_in_range_d(order, 1.8, 2.3);
  assert_true(e[3] < 3e-4); /* measured 2.49e-4 */
  fpk_model_free(m);
}

static void test_space_order_2d(void **state) {
  (void)state;
  fpk_model *m = ou2(A_NS, MU0, SIG_NS);
  const fpk_gaussian g0 = gauss2(1.5, -1.0, 0.3);
  const size_t ns[] = {20, 40, 80, 160};
  double h[4], e[4];
  for (size_t k = 0; k < 4; k++) {
    fpk_grid g = grid2(ns[k], ns[k], -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
    double *p0 = density_of(&g0, &g);
    fpk_fv *s = make(&g, m, fpk_fv_tr_bdf2, 5e-3, p0);
    evolve_ok(s, 1.0);
    h[k] = g.h[0];
    e[k] = l1_exact(&g, m, &g0, 1.0, fpk_fv_density(s));
    printf("  2D space: n %4zu² h %.4f L1 %.3e\n", ns[k], h[k], e[k]);
    fpk_fv_free(s);
    free(p0);
  }
  const double order = fpk_test_fit_order(3, h + 1, e + 1);
  printf("  2D spatial order (40..160) %.3f, (20..160) %.3f\n", order,
         fpk_test_fit_order(4, h, e));
  assert_in_range_d(order, 1.8, 2.3);
  fpk_model_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* 4b. Time order of each scheme: error against a much smaller step on the same grid.         */

static void time_order(const char *name, const fpk_grid *g, const fpk_model *m,
                       const double *p0, const double *dts_implicit, double dt_ref,
                       double t_end) {
  fpk_fv *r = make(g, m, fpk_fv_tr_bdf2, dt_ref, p0);
  evolve_ok(r, t_end);
  const double *pref = fpk_fv_density(r);
  const double dtx = explicit_dt_max(g, m);
  for (size_t k = 0; fpk_fv_steppers[k]; k++) {
    const fpk_fv_stepper_type *T = fpk_fv_steppers[k];
    double dts[4], e[4];
    for (int q = 0; q < 4; q++) {
      /* explicit Euler only below its bound: steps of 0.8 dtmax / 2^q */
      dts[q] = T->implicit ? dts_implicit[q] : 0.8 * dtx / (double)(1 << q);
      fpk_fv *s = make(g, m, T, dts[q], p0);
      evolve_ok(s, t_end);
      e[q] = l1(g, fpk_fv_density(s), pref);
      fpk_fv_free(s);
    }
    const double order = fpk_test_fit_order(4, dts, e);
    printf("  time %-12s %-15s dt %.2e..%.2e L1 %.2e..%.2e order %.3f\n", name, T->name,
           dts[0], dts[3], e[0], e[3], order);
    if (T->order == 1) assert_in_range_d(order, 0.9, 1.2);
    else assert_in_range_d(order, 1.8, 2.3);
  }
  fpk_fv_free(r);
}

static void test_time_order(void **state) {
  (void)state;
  const double dts[4] = {0.1, 0.05, 0.025, 0.0125};
  fpk_model *m1 = ou1(1.0, 0.0, 1.0);
  fpk_grid g1 = grid1(100, -5, 5, FPK_BC_REFLECTING);
  fpk_gaussian g0 = gauss1(1.5, 0.5);
  double *p1 = density_of(&g0, &g1);
  time_order("1D OU", &g1, m1, p1, dts, 1e-4, 1.0);
  time_order("1D moving OU", &g1, &MOVING1, p1, dts, 1e-4, 1.0);

  fpk_model *m2 = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g2 = grid2(40, 40, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  fpk_gaussian g20 = gauss2(1.5, -1.0, 0.5);
  double *p2 = density_of(&g20, &g2);
  time_order("2D OU", &g2, m2, p2, dts, 5e-4, 1.0);
  free(p1);
  free(p2);
  fpk_model_free(m1);
  fpk_model_free(m2);
}

/* Non-autonomous model against its exact Gaussian law: checks that L is re-assembled at the
 * stage times (a lag of one step would leave an O(dt) error). */
static void test_nonautonomous_exact(void **state) {
  (void)state;
  fpk_grid g = grid1(400, -5, 5, FPK_BC_REFLECTING);
  fpk_gaussian g0 = gauss1(1.5, 0.3);
  double *p0 = density_of(&g0, &g);
  for (size_t k = 1; fpk_fv_steppers[k]; k++) {
    const fpk_fv_stepper_type *T = fpk_fv_steppers[k];
    const double dt = T->order == 1 ? 4e-5 : 2e-3;
    fpk_fv *s = make(&g, &MOVING1, T, dt, p0);
    for (int q = 1; q <= 2; q++) {
      evolve_ok(s, q * 1.0);
      fpk_gaussian law = moving_law(1.5, 0.3, q * 1.0);
      double *pe = density_of(&law, &g);
      const double e = l1(&g, fpk_fv_density(s), pe);
      printf("  moving OU %-15s t %d L1 %.2e (mean %.4f)\n", T->name, q, e, law.mean[0]);
      assert_true(e < 3e-4); /* spatial error of the 400-cell grid dominates (~2e-4) */
      free(pe);
    }
    fpk_fv_free(s);
  }
  free(p0);
}

/* ------------------------------------------------------------------------------------------ */
/* 5. Explicit Euler bound.                                                                   */

static void test_explicit_bound(void **state) {
  (void)state;
  fpk_model *m = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g = grid2(50, 50, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  const double dmax = explicit_dt_max(&g, m);
  char want[64];
  snprintf(want, sizeof want, "%.6g", dmax);
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_explicit_euler, 1.01 * dmax, &err);
  assert_null(s);
  assert_int_equal(err.status, FPK_EINVAL);
  printf("  explicit bound %.6g; message: %s\n", dmax, err.msg);
  assert_non_null(strstr(err.msg, want));
  /* below the bound: positive and conservative from a sharp start */
  fpk_gaussian g0 = gauss2(1.5, -1.0, 0.1);
  double *p0 = density_of(&g0, &g);
  s = make(&g, m, fpk_fv_explicit_euler, 0.99 * dmax, p0);
  const double m0 = fpk_fv_mass(s);
  evolve_ok(s, 0.5);
  assert_true(fpk_fv_min_density(s) >= 0.0);
  assert_close_rel(fpk_fv_mass(s), m0, 1e-12);
  assert_close_rel(fpk_fv_explicit_dt_max(s), dmax, 1e-15);
  fpk_fv_free(s);
  free(p0);
  fpk_model_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* 6. Absorbing walls: Brownian motion on [0, 1], survival against the Fourier series.        */

/* Survival of BM (diffusion D) on [0, 1] killed at 0 and 1, started uniform on [a, b]. */
static double survival_box(double D, double a, double b, double t) {
  double S = 0.0;
  for (int n = 1; n < 4000; n += 2) { /* even modes have zero mass */
    const double k = n * PI;
    const double bn = 2.0 * (cos(k * a) - cos(k * b)) / (k * (b - a));
    const double term = bn * exp(-D * k * k * t) * 2.0 / k;
    S += term;
    if (fabs(term) < 1e-18 && n > 50) break;
  }
  return S;
}

/* Stability function R(z) of each stepper for y' = λy, z = λh. */
static double stability(const fpk_fv_stepper_type *T, double z) {
  if (T == fpk_fv_explicit_euler) return 1 + z;
  if (T == fpk_fv_implicit_euler) return 1 / (1 - z);
  if (T == fpk_fv_crank_nicolson) return (1 + z / 2) / (1 - z / 2);
  const double g = 2 - sqrt(2.0), a = 1 / (g * (2 - g)), b = (1 - g) * (1 - g) / (g * (2 - g));
  const double yg = (1 + g * z / 2) / (1 - g * z / 2);
  return (a * yg - b) / (1 - g * z / 2);
}

static void test_absorbing_sine(void **state) {
  (void)state;
  const double v = 0.0, sig = 1.0, D = 0.5, L = 1.0;
  fpk_error err = {0};
  fpk_model *bm = fpk_model_bm_alloc(1, &v, &sig, &err);
  const size_t ns[2] = {100, 200};
  double cont_err[2];
  for (int ig = 0; ig < 2; ig++) {
    fpk_grid g = grid1(ns[ig], 0.0, L, FPK_BC_ABSORBING);
    const double h = g.h[0];
    double *p0 = malloc(g.size * sizeof *p0);
    for (size_t i = 0; i < g.size; i++)
      p0[i] = sin(PI * fpk_grid_center(&g, 0, i) / L) * PI / (2 * L);
    /* The sampled sine is an exact eigenvector of the half-cell absorbing scheme (the wall
     * coefficient 2D/h² equals an antisymmetric ghost cell), eigenvalue -(4D/h²) sin²(πh/2L).
     * So every stepper's survival is R(-λ_h dt)^k to round-off: this pins the wall flux. */
    const double lam_h = 4 * D / (h * h) * pow(sin(PI * h / (2 * L)), 2);
    for (size_t k = 0; fpk_fv_steppers[k]; k++) {
      const fpk_fv_stepper_type *T = fpk_fv_steppers[k];
      const double dt = T->implicit ? (T->order == 1 ? 1e-3 : 2.5e-4) : 0.9 * h * h / (3 * D);
      fpk_fv *s = make(&g, bm, T, dt, p0);
      const double m0 = fpk_fv_mass(s);
      double prevS = 1.0, worst_disc = 0.0, worst_cont = 0.0;
      for (int q = 1; q <= 20; q++) {
        const double t = 0.05 * q;
        evolve_ok(s, t);
        const double S = fpk_fv_mass(s) / m0;
        assert_true(S < prevS); /* strictly decreasing */
        prevS = S;
        double hs;
        size_t per;
        assert_int_equal(fpk_time_steps(0.0, 0.05, dt, &per, &hs, NULL), FPK_SUCCESS);
        const double disc = pow(stability(T, -lam_h * hs), (double)(per * (size_t)q));
        const double ex = exp(-D * PI * PI * t / (L * L));
        if (fabs(S - disc) / disc > worst_disc) worst_disc = fabs(S - disc) / disc;
        if (fabs(S - ex) / ex > worst_cont) worst_cont = fabs(S - ex) / ex;
      }
      printf("  absorbing sine n %3zu %-15s dt %.1e: S(1) %.8f, rel err vs R(-λ_h dt)^k %.1e, "
             "vs e^{-Dπ²t} %.2e\n",
             ns[ig], T->name, dt, prevS, worst_disc, worst_cont);
      assert_true(worst_disc < 1e-10);
      if (T == fpk_fv_tr_bdf2) {
        /* grid error (πh)²/12 · Dπ²t at t = 1, time error ~1e-6 */
        assert_true(worst_cont < 1.1 * pow(PI * h, 2) / 12 * D * PI * PI + 2e-6);
        cont_err[ig] = worst_cont;
      }
      fpk_fv_free(s);
    }
    free(p0);
  }
  printf("  absorbing sine, TR-BDF2: error ratio n 100 -> 200: %.3f\n", cont_err[0] / cont_err[1]);
  assert_in_range_d(cont_err[0] / cont_err[1], 3.6, 4.4);
  fpk_model_free(bm);
}

static void test_absorbing_narrow(void **state) {
  (void)state;
  const double v = 0.0, sig = 1.0, D = 0.5;
  fpk_error err = {0};
  fpk_model *bm = fpk_model_bm_alloc(1, &v, &sig, &err);
  const size_t ns[2] = {200, 400};
  double worst[2];
  for (int ig = 0; ig < 2; ig++) {
    fpk_grid g = grid1(ns[ig], 0.0, 1.0, FPK_BC_ABSORBING);
    const double h = g.h[0];
    const size_t ic = (size_t)(0.3 / h); /* the cell holding x0 = 0.3 */
    double *p0 = calloc(g.size, sizeof *p0);
    p0[ic] = 1.0 / h;
    const double a = g.lo[0] + (double)ic * h, b = a + h;
    fpk_fv *s = make(&g, bm, fpk_fv_tr_bdf2, 2e-4, p0);
    double prev = 1.0;
    worst[ig] = 0.0;
    for (int q = 1; q <= 50; q++) {
      const double t = 0.02 * q;
      evolve_ok(s, t);
      const double S = fpk_fv_mass(s), ex = survival_box(D, a, b, t);
      assert_true(S < prev);
      prev = S;
      const double e = fabs(S - ex) / ex;
      if (e > worst[ig]) worst[ig] = e;
    }
    printf("  absorbing narrow start n %zu: S(0.02) .. S(1) = %.6f, max rel err vs series %.2e\n",
           ns[ig], fpk_fv_mass(s), worst[ig]);
    assert_true(fpk_fv_min_density(s) >= 0.0);
    fpk_fv_free(s);
    free(p0);
  }
  assert_true(worst[0] < 2e-4);
  assert_in_range_d(worst[0] / worst[1], 3.0, 5.0);
  fpk_model_free(bm);
}

/* Absorbing with drift: the outflow must leave through the wall the drift points to. Brownian
 * motion with drift v > 0 on [0, 1] from the centre: more mass leaves at the right wall, so
 * the survival is below that of v = 0 and the density's centre of mass moves right. Also
 * stationary() refuses absorbing boundaries. */
static void test_absorbing_drift(void **state) {
  (void)state;
  const double sig = 1.0;
  fpk_error err = {0};
  fpk_grid g = grid1(200, 0.0, 1.0, FPK_BC_ABSORBING);
  double *p0 = malloc(g.size * sizeof *p0);
  for (size_t i = 0; i < g.size; i++) p0[i] = sin(PI * fpk_grid_center(&g, 0, i)) * PI / 2;
  double S[2];
  for (int k = 0; k < 2; k++) {
    const double v = k ? 2.0 : 0.0;
    fpk_model *bm = fpk_model_bm_alloc(1, &v, &sig, &err);
    fpk_fv *s = make(&g, bm, fpk_fv_tr_bdf2, 1e-3, p0);
    evolve_ok(s, 0.5);
    S[k] = fpk_fv_mass(s);
    /* With drift v the survival from the principal mode decays at D π² + v²/(4D) */
    if (k) {
      const double D = 0.5;
      /* exact survival for the drifted problem from this p0: mode sum, computed here by the
       * ratio with the v = 0 run at late time is not exact; check the decay rate instead */
      const double S1 = S[1];
      evolve_ok(s, 1.5);
      const double rate = -log(fpk_fv_mass(s) / S1) / 1.0;
      printf("  absorbing with drift v = 2: decay rate %.5f, exact Dπ² + v²/(4D) = %.5f\n", rate,
             D * PI * PI + v * v / (4 * D));
      assert_close_rel(rate, D * PI * PI + v * v / (4 * D), 2e-3);
    }
    fpk_fv_free(s);
    if (k) {
      double *ps = malloc(g.size * sizeof *ps);
      assert_int_equal(fpk_fv_stationary(&g, bm, ps, &err), FPK_EINVAL);
      assert_non_null(strstr(err.msg, "absorbing"));
      free(ps);
    }
    fpk_model_free(bm);
  }
  assert_true(S[1] < S[0]);
  free(p0);
}

/* ------------------------------------------------------------------------------------------ */
/* 6b. Position-dependent noise: the flux is J = b p − ∂(D p) (Itô), SG-discretised on u = D p. */

static fpk_model *langevin_tc(double amplitude, double tilt, double modulation) {
  fpk_langevin_params lp = {0};
  lp.beta = 2.0;
  lp.amplitude = amplitude;
  lp.period = 2 * PI;
  lp.tilt[0] = tilt;
  lp.modulation = modulation;
  fpk_error err = {0};
  fpk_model *m = fpk_model_langevin_alloc("tilted-cosine", 1, &lp, &err);
  if (!m) fail_msg("langevin: %s", err.msg);
  return m;
}

/* L1 distance between fpk_fv_stationary and the exact cell averages on n periodic cells. */
static double stationary_l1(const fpk_model *m, size_t n, double **p_out, double **q_out) {
  fpk_error err = {0};
  fpk_grid g = grid1(n, 0.0, 2 * PI, FPK_BC_PERIODIC);
  double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
  if (fpk_fv_stationary(&g, m, p, &err)) fail_msg("stationary: %s", err.msg);
  if (fpk_exact_stationary_periodic_1d(m, &g, q, NULL, &err)) fail_msg("exact: %s", err.msg);
  const double e = l1(&g, p, q);
  if (p_out) *p_out = p; else free(p);
  if (q_out) *q_out = q; else free(q);
  return e;
}

static void test_multiplicative_noise(void **state) {
  (void)state;
  fpk_error err = {0};
  /* Operator structure with variable D: zero column sums and Metzler. */
  fpk_model *m = langevin_tc(1.0, 0.5, 0.3);
  assert_true((m->flags & FPK_MODEL_ADDITIVE) == 0);
  fpk_grid g = grid1(50, 0.0, 2 * PI, FPK_BC_PERIODIC);
  fpk_fv_op op;
  assert_int_equal(fpk_fv_op_init(&op, &g, &err), 0);
  assert_int_equal(fpk_fv_op_assemble(&op, m, 0.0, &err), 0);
  const double scale = fpk_fv_op_max_diag(&op);
  for (size_t j = 0; j < op.n; j++) {
    double cs = 0;
    for (int q = op.Ap[j]; q < op.Ap[j + 1]; q++) {
      cs += op.Ax[q];
      if (op.Ai[q] != (int)j) assert_true(op.Ax[q] >= 0.0);
    }
    assert_close_abs(cs, 0.0, 1e-13 * scale);
  }
  fpk_fv_op_free(&op);

  /* Discrete zero-flux state with variable D: reflecting walls, so the stationary p has J = 0 on
   * every face, i.e. D_{i+1} p_{i+1} / (D_i p_i) = exp(b_f h / D_f) with b_f, D_f at the face. */
  {
    const size_t nr = 60;
    fpk_grid gr = grid1(nr, 0.0, 2 * PI, FPK_BC_REFLECTING);
    double *pr = malloc(nr * sizeof *pr), *xr = malloc(nr * sizeof *xr);
    double *sr = malloc(nr * sizeof *sr), *xf = malloc(nr * sizeof *xf);
    double *bf = malloc(nr * sizeof *bf), *sf = malloc(nr * sizeof *sf);
    assert_int_equal(fpk_fv_stationary(&gr, m, pr, &err), 0);
    for (size_t i = 0; i < nr; i++) {
      xr[i] = fpk_grid_center(&gr, 0, i);
      xf[i] = gr.lo[0] + (double)(i + 1) * gr.h[0]; /* face i + ½ (last one unused) */
    }
    assert_int_equal(fpk_model_noise(m, 0.0, nr, xr, sr, &err), 0);
    assert_int_equal(fpk_model_drift(m, 0.0, nr, xf, bf, &err), 0);
    assert_int_equal(fpk_model_noise(m, 0.0, nr, xf, sf, &err), 0);
    double dev = 0.0;
    for (size_t i = 0; i + 1 < nr; i++) {
      const double ratio = (sr[i + 1] * sr[i + 1] * pr[i + 1]) / (sr[i] * sr[i] * pr[i]);
      const double want = exp(bf[i] * gr.h[0] / (0.5 * sf[i] * sf[i]));
      if (fabs(ratio / want - 1.0) > dev) dev = fabs(ratio / want - 1.0);
    }
    printf("  variable D, reflecting: max |ratio / exp(v_f h) - 1| %.2e\n", dev);
    assert_true(dev < 1e-11); /* measured 1.8e-13 (round-off of the solve) */
    free(pr);
    free(xr);
    free(sr);
    free(xf);
    free(bf);
    free(sf);
  }

  /* Tilted cosine, β = 2, A = 1, F = 0.5, ε = 0.3: convergence to the exact stationary density
   * (Risken's closed form, fpk_exact_stationary_periodic_1d). Measured with the old flux
   * J = b p − D ∂p: L1 ≈ 0.19 at every n (no convergence). */
  const size_t ns[] = {100, 200, 400};
  double h[3], e[3];
  for (size_t k = 0; k < 3; k++) {
    h[k] = 2 * PI / (double)ns[k];
    e[k] = stationary_l1(m, ns[k], NULL, NULL);
    printf("  tilted cosine, eps 0.3: n %3zu L1 %.3e\n", ns[k], e[k]);
  }
  const double order = fpk_test_fit_order(3, h, e);
  printf("  tilted cosine, eps 0.3: order %.3f\n", order);
  assert_in_range_d(order, 1.8, 2.3);
  assert_true(e[2] < 2.5e-5); /* measured 1.69e-5 (orders 2.000) */
  fpk_model_free(m);

  /* Modulation only (A = 0, F = 0): b = 0, exact p ∝ 1/D. The SG zero-flux state is then
   * D_i p_i = const at the cell centres, exactly; vs the exact cell averages it is O(h²). */
  m = langevin_tc(0.0, 0.0, 0.3);
  double *p, *q;
  const size_t n = 200;
  const double e0 = stationary_l1(m, n, &p, &q);
  g = grid1(n, 0.0, 2 * PI, FPK_BC_PERIODIC);
  double *x = malloc(n * sizeof *x), *sig = malloc(n * sizeof *sig);
  for (size_t i = 0; i < n; i++) x[i] = fpk_grid_center(&g, 0, i);
  assert_int_equal(fpk_model_noise(m, 0.0, n, x, sig, &err), 0);
  double dev = 0.0;
  const double u0 = 0.5 * sig[0] * sig[0] * p[0];
  for (size_t i = 0; i < n; i++) {
    const double d = fabs(0.5 * sig[i] * sig[i] * p[i] / u0 - 1.0);
    if (d > dev) dev = d;
  }
  printf("  modulation only: n %zu L1 %.3e, max |D_i p_i / D_0 p_0 - 1| %.2e\n", n, e0, dev);
  assert_true(dev < 1e-12);
  assert_true(e0 < 3e-5); /* measured 1.99e-5 */
  free(x);
  free(sig);
  free(p);
  free(q);
  fpk_model_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* 7. Flagship: experiments/ou/ou2d.ini, 200² on [-4, 4]², TR-BDF2 dt 5e-3, L1 at t = 1.       */

static double flagship(size_t N, double *e2_out, double *wall) {
  fpk_model *m = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g = grid2(N, N, -4, 4, FPK_BC_REFLECTING, FPK_BC_REFLECTING);
  fpk_gaussian g0 = gauss2(1.5, -1.0, 0.3);
  double *p0 = density_of(&g0, &g);
  const double t0 = now();
  fpk_fv *s = make(&g, m, fpk_fv_tr_bdf2, 5e-3, p0);
  evolve_ok(s, 1.0);
  const double t1 = now();
  const double e1 = l1_exact(&g, m, &g0, 1.0, fpk_fv_density(s));
  evolve_ok(s, 2.0);
  const double e2 = l1_exact(&g, m, &g0, 2.0, fpk_fv_density(s));
  const double dm = fabs(fpk_fv_mass(s) - fpk_grid_integral(&g, p0)) / fpk_grid_integral(&g, p0);
  printf("  flagship 2D %zux%zu TR-BDF2 dt 5e-3: L1(t=1) %.3e, wall %.3f s (alloc + 200 steps), "
         "L1(t=2) %.3e, factorisations %zu, |Δm|/m %.1e\n",
         N, N, e1, t1 - t0, e2, fpk_fv_factorizations(s), dm);
  assert_int_equal(fpk_fv_factorizations(s), 1);
  assert_true(dm < 1e-12);
  fpk_fv_free(s);
  free(p0);
  fpk_model_free(m);
  *e2_out = e2;
  *wall = t1 - t0;
  return e1;
}

/* The flagship grid is 200² because the target L1 < 2e-3 at t = 1 is not met on 160²: the SG
 * scheme measures 2.73e-3 there (second order, constant ≈ 7 h²; a central flux gives 2.26e-3, so
 * no second-order flux would meet it either). 200² gives ~1.75e-3; the ratio between the two grids
 * checks the h² scaling. */
static void test_flagship_2d(void **state) {
  (void)state;
  double e2, wall;
  const double e1 = flagship(160, &e2, &wall);
  assert_true(e1 < 2.9e-3);
  assert_true(e2 < 2e-3);
  const double e1b = flagship(200, &e2, &wall);
  assert_true(e1b < 2e-3);
  assert_in_range_d(e1 / e1b, 1.5, 1.7); /* (200/160)² = 1.5625 */
}

/* ------------------------------------------------------------------------------------------ */
/* 8. Bad input.                                                                              */

static void test_bad_input(void **state) {
  (void)state;
  fpk_model *m1 = ou1(1.0, 0.0, 1.0);
  fpk_model *m2 = ou2(A_NS, MU0, SIG_NS);
  fpk_grid g1 = grid1(20, -3, 3, FPK_BC_REFLECTING);
  fpk_error err = {0};
  const double bad_dt[] = {0.0, -1e-3, NAN, INFINITY};
  for (size_t k = 0; k < 4; k++) {
    memset(&err, 0, sizeof err);
    assert_null(fpk_fv_alloc(&g1, m1, fpk_fv_implicit_euler, bad_dt[k], &err));
    assert_int_equal(err.status, FPK_EINVAL);
    assert_non_null(strstr(err.msg, "dt"));
  }
  memset(&err, 0, sizeof err);
  assert_null(fpk_fv_alloc(&g1, m2, fpk_fv_implicit_euler, 0.1, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_non_null(strstr(err.msg, "dimension"));
  memset(&err, 0, sizeof err);
  assert_null(fpk_fv_alloc(&g1, m1, NULL, 0.1, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_non_null(strstr(err.msg, "stepper"));
  fpk_fv_stepper_type fake = {"fake", 1, 1};
  memset(&err, 0, sizeof err);
  assert_null(fpk_fv_alloc(&g1, m1, &fake, 0.1, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_null(fpk_fv_alloc(NULL, m1, fpk_fv_tr_bdf2, 0.1, &err));
  assert_null(fpk_fv_alloc(&g1, NULL, fpk_fv_tr_bdf2, 0.1, &err));
  memset(&err, 0, sizeof err);
  double p[20];
  assert_int_equal(fpk_fv_stationary(&g1, m2, p, &err), FPK_EINVAL);
  assert_int_equal(fpk_fv_stationary(&g1, &MOVING1, p, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "autonomous"));

  /* evolve backwards, non-finite input, and a failing callback */
  fpk_fv *s = make(&g1, m1, fpk_fv_crank_nicolson, 0.1, NULL);
  for (int i = 0; i < 20; i++) p[i] = 1.0 / 6.0;
  assert_int_equal(fpk_fv_set_density(s, 1.0, p), 0);
  assert_int_equal(fpk_fv_evolve(s, 0.5), FPK_EINVAL);
  assert_true(strlen(fpk_fv_errmsg(s)) > 0);
  assert_int_equal(fpk_fv_evolve(s, 1.0), FPK_SUCCESS); /* empty interval */
  assert_int_equal(fpk_fv_steps_taken(s), 0);
  assert_close_abs(fpk_fv_time(s), 1.0, 0.0);
  p[3] = NAN;
  assert_int_equal(fpk_fv_set_density(s, 0.0, p), FPK_EINVAL);
  assert_ptr_equal(fpk_fv_stepper(s), fpk_fv_crank_nicolson);
  fpk_fv_free(s);
  fpk_fv_free(NULL);

  for (int i = 0; i < 20; i++) p[i] = 1.0 / 6.0;
  s = make(&g1, &FAILING1, fpk_fv_implicit_euler, 0.1, p);
  const int rc = fpk_fv_evolve(s, 1.0);
  printf("  failing callback: rc %d, %s\n", rc, fpk_fv_errmsg(s));
  assert_int_equal(rc, FPK_ECALLBACK);
  assert_non_null(strstr(fpk_fv_errmsg(s), "failing"));
  fpk_fv_free(s);

  /* A stable-looking but exploding run is reported as FPK_ENUMERIC with time and step count:
   * a negative-diffusion-like blow-up cannot be made from valid models, so feed a huge value */
  for (int i = 0; i < 20; i++) p[i] = 1e308;
  s = make(&g1, m1, fpk_fv_crank_nicolson, 0.1, p);
  assert_int_equal(fpk_fv_evolve(s, 0.3), FPK_ENUMERIC);
  printf("  overflow: %s\n", fpk_fv_errmsg(s));
  assert_non_null(strstr(fpk_fv_errmsg(s), "t = 0.3"));
  assert_non_null(strstr(fpk_fv_errmsg(s), "3 steps"));
  fpk_fv_free(s);
  fpk_model_free(m1);
  fpk_model_free(m2);
}

/* ------------------------------------------------------------------------------------------ */
/* 9. Checkpoints: an evolve interrupted at a step boundary and continued in a fresh solver from
 * its saved state gives the uninterrupted run's densities bit for bit (docs/checkpoint.md).   */

/* A poll that asks for an interruption at every k-th call. */
typedef struct every_kth {
  unsigned long calls, k;
} every_kth;

static int poll_kth(void *user) {
  every_kth *e = user;
  return ++e->calls % e->k == 0;
}

/* Runs p0 through the output times t[0..nt-1], densities into out (nt * cells), interrupted at
 * every k-th poll (k = 0: never). At each interruption the state is copied out, the solver freed
 * and a fresh one made from the copy, as a resumed process would. Returns the interruptions. */
static size_t fv_interrupted(const fpk_grid *g, const fpk_model *m, const fpk_fv_stepper_type *T,
                             double dt, const double *p0, const double *t, size_t nt,
                             unsigned long k, double *out, size_t *steps) {
  every_kth e = {0, k};
  fpk_fv *s = make(g, m, T, dt, p0);
  if (k) assert_int_equal(fpk_fv_set_interrupt(s, poll_kth, &e), FPK_SUCCESS);
  double *saved = malloc(g->size * sizeof *saved);
  size_t stops = 0;
  for (size_t q = 0; q < nt;) {
    const int rc = fpk_fv_evolve(s, t[q]);
    if (rc == FPK_EINTR) {
      fpk_fv_state st;
      assert_int_equal(fpk_fv_get_state(s, &st), FPK_SUCCESS);
      assert_true(st.n > 0 && st.i < st.n && st.t1 == t[q]);
      assert_true(st.t == fpk_fv_time(s));
      memcpy(saved, st.p, g->size * sizeof *saved);
      st.p = saved;
      fpk_fv_free(s);
      s = make(g, m, T, dt, NULL);
      assert_int_equal(fpk_fv_restore(s, &st), FPK_SUCCESS);
      assert_int_equal(fpk_fv_set_interrupt(s, poll_kth, &e), FPK_SUCCESS);
      stops++;
      continue;
    }
    if (rc) fail_msg("evolve to %g: %s", t[q], fpk_fv_errmsg(s));
    memcpy(out + q * g->size, fpk_fv_density(s), g->size * sizeof *out);
    q++;
  }
  *steps = fpk_fv_steps_taken(s);
  fpk_fv_free(s);
  free(saved);
  return stops;
}

static void test_checkpoint_bitwise(void **state) {
  (void)state;
  fpk_model *o1 = ou1(1.0, 0.5, 1.0), *o2 = ou2(A_NS, MU0, SIG_NS);
  fpk_error err = {0};
  const double v = 0.3, sig = 1.0;
  fpk_model *bm = fpk_model_bm_alloc(1, &v, &sig, &err);
  struct {
    const char *name;
    fpk_grid g;
    const fpk_model *m;
    fpk_gaussian init;
  } pr[4] = {
      {"1D OU, reflecting", grid1(60, -5, 5, FPK_BC_REFLECTING), o1, gauss1(1.0, 0.5)},
      {"1D moving OU (non-autonomous)", grid1(60, -5, 5, FPK_BC_REFLECTING), &MOVING1,
       gauss1(1.0, 0.5)},
      {"1D BM, absorbing", grid1(50, -2, 2, FPK_BC_ABSORBING), bm, gauss1(0.3, 0.4)},
      {"2D OU, periodic x reflecting", grid2(16, 14, -4, 4, FPK_BC_PERIODIC, FPK_BC_REFLECTING), o2,
       gauss2(0.5, -0.5, 0.7)}};
  /* Steps (implicit, dt = 0.02) of 0.015, 0.020000000000000004 and 0.02: the last is within
   * round-off of the second, whose factorisation the uninterrupted solver reuses for it; a
   * restored solver must hold that factorisation too (fpk_fv_state.cache), not one for 0.02. */
  const double t[3] = {0.03, 0.33, 0.63};
  const unsigned long ks[3] = {2, 5, 13};
  for (size_t i = 0; i < 4; i++) {
    const fpk_grid *g = &pr[i].g;
    double *p0 = density_of(&pr[i].init, g);
    double *ref = malloc(3 * g->size * sizeof *ref), *got = malloc(3 * g->size * sizeof *got);
    for (size_t j = 0; fpk_fv_steppers[j]; j++) {
      const fpk_fv_stepper_type *T = fpk_fv_steppers[j];
      const double dt = T->implicit ? 0.02 : 0.5 * explicit_dt_max(g, pr[i].m);
      size_t ref_steps, steps;
      fv_interrupted(g, pr[i].m, T, dt, p0, t, 3, 0, ref, &ref_steps);
      for (size_t q = 0; q < 3; q++) {
        const size_t stops = fv_interrupted(g, pr[i].m, T, dt, p0, t, 3, ks[q], got, &steps);
        assert_true(stops > 0);
        assert_int_equal(steps, ref_steps);
        assert_memory_equal(got, ref, 3 * g->size * sizeof *ref);
        if (q == 0)
          printf("  %-30s %-15s %4zu steps, interrupted %3zu times: bitwise identical\n",
                 pr[i].name, T->name, steps, stops);
      }
    }
    free(p0), free(ref), free(got);
  }

  /* Misuse: another target while an evolve is pending; a state of another dt; a bad t. */
  const fpk_grid *g = &pr[0].g;
  double *p0 = density_of(&pr[0].init, g);
  every_kth e = {0, 3};
  fpk_fv *s = make(g, o1, fpk_fv_tr_bdf2, 0.01, p0);
  fpk_fv_set_interrupt(s, poll_kth, &e);
  assert_int_equal(fpk_fv_evolve(s, 0.37), FPK_EINTR);
  printf("  %s\n", fpk_fv_errmsg(s));
  assert_non_null(strstr(fpk_fv_errmsg(s), "interrupted at t = "));
  assert_int_equal(fpk_fv_evolve(s, 0.5), FPK_EINVAL);
  assert_non_null(strstr(fpk_fv_errmsg(s), "pending"));
  fpk_fv_state st;
  fpk_fv_get_state(s, &st);
  fpk_fv *r = make(g, o1, fpk_fv_tr_bdf2, 0.02, NULL);
  assert_int_equal(fpk_fv_restore(r, &st), FPK_EINVAL);
  printf("  restore with another dt: %s\n", fpk_fv_errmsg(r));
  assert_non_null(strstr(fpk_fv_errmsg(r), "split"));
  fpk_fv_free(r);
  r = make(g, o1, fpk_fv_tr_bdf2, 0.01, NULL);
  st.t = nextafter(st.t, 1.0);
  assert_int_equal(fpk_fv_restore(r, &st), FPK_EINVAL);
  fpk_fv_free(r);
  /* after a new density, nothing is pending */
  assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
  fpk_fv_set_interrupt(s, NULL, NULL);
  evolve_ok(s, 0.5);
  fpk_fv_free(s);
  free(p0);
  fpk_model_free(o1);
  fpk_model_free(o2);
  fpk_model_free(bm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bernoulli),
      cmocka_unit_test(test_stepper_registry),
      cmocka_unit_test(test_operator_entries),
      cmocka_unit_test(test_mass_conservation),
      cmocka_unit_test(test_positivity),
      cmocka_unit_test(test_gibbs),
      cmocka_unit_test(test_space_order_1d),
      cmocka_unit_test(test_space_order_2d),
      cmocka_unit_test(test_time_order),
      cmocka_unit_test(test_nonautonomous_exact),
      cmocka_unit_test(test_explicit_bound),
      cmocka_unit_test(test_absorbing_sine),
      cmocka_unit_test(test_absorbing_narrow),
      cmocka_unit_test(test_absorbing_drift),
      cmocka_unit_test(test_multiplicative_noise),
      cmocka_unit_test(test_flagship_2d),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_checkpoint_bitwise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
