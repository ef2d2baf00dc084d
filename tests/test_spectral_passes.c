/* The spectral solver's passes between the transforms (issue 15): results pinned against the code
 * before the passes were fused, and the thread-count rule of the FFT plans.
 *
 * Pinned values: densities computed by the solver as it was at commit af5dac5 (separate
 * multiplier, 2/3-rule and ETDRK4 stage passes), with FFTW_ESTIMATE plans (deterministic), for
 * both steppers, 1D and 2D, with and without the 2/3 rule, constant and variable diffusion, an
 * autonomous and a time-dependent drift. The fused passes compute the same sums in the same
 * order except where the compiler contracts a multiply and an add into an FMA differently, so they
 * must agree to round-off: 1e-12 relative to the largest density value (FPK_PIN_PRINT=1 prints
 * the table from the current code).
 *
 * The thread rule: with FFTW_ESTIMATE the plans for 1 and 2 threads split the same loops of the
 * same serial codelets, so the densities must be bitwise identical whatever the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fp/spectral_internal.h"
#include "fpkit/spectral.h"

#include "fpk_test_torus.h"

typedef struct pin_case {
  const char *name;
  size_t dim, n[2];
  int sbdf2, dealias;
  torus model;
  double pins[4]; /* p at cells 0, size/3, 2 size/3 + 1, and Σ p² */
} pin_case;

static pin_case cases[] = {
#include "test_spectral_pins.inc"
};

static fpk_spectral *run_case_planned(const pin_case *c, int nthreads, int nsteps, fpk_grid *g,
                                      fpk_fft_planner planner) {
  fpk_error err = {0};
  const double lo[2] = {0, 0}, hi[2] = {TWO_PI, TWO_PI};
  const fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(g, c->dim, c->n, lo, hi, bc, &err), FPK_SUCCESS);
  static fpk_model m;
  m = (fpk_model){.name = "torus", .dim = c->dim, .drift = torus_drift, .noise = torus_noise,
                  .params = (void *)&c->model,
                  .flags = (c->model.omega == 0.0 ? FPK_MODEL_AUTONOMOUS : 0u) |
                           (c->model.eps == 0.0 ? FPK_MODEL_ADDITIVE : 0u),
                  .linear = NULL};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = planner;
  o.dealias = c->dealias;
  o.nthreads = nthreads;
  const double dt = 2e-3;
  fpk_spectral *s = fpk_spectral_alloc(g, &m, c->sbdf2 ? fpk_spectral_sbdf2 : fpk_spectral_etdrk4,
                                       dt, &o, &err);
  if (!s) fail_msg("%s: fpk_spectral_alloc: %s", c->name, err.msg);
  double *p = malloc(g->size * sizeof *p);
  for (size_t k = 0; k < g->size; k++) {
    double x[2] = {0, 0};
    fpk_grid_point(g, k, x);
    p[k] = (1.0 + 0.6 * cos(x[0] - 1.0) * (c->dim == 2 ? cos(2.0 * x[1] + 0.3) : 1.0) +
            0.3 * sin(3.0 * x[0])) /
           pow(TWO_PI, (double)c->dim);
  }
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p), FPK_SUCCESS);
  free(p);
  if (fpk_spectral_evolve(s, nsteps * dt)) fail_msg("%s: %s", c->name, fpk_spectral_errmsg(s));
  return s;
}

static fpk_spectral *run_case(const pin_case *c, int nthreads, int nsteps, fpk_grid *g) {
  return run_case_planned(c, nthreads, nsteps, g, FPK_FFT_ESTIMATE);
}

static void pins_of(fpk_spectral *s, const fpk_grid *g, double out[4]) {
  const double *p = fpk_spectral_density(s);
  double ss = 0.0;
  for (size_t k = 0; k < g->size; k++) ss += p[k] * p[k];
  out[0] = p[0], out[1] = p[g->size / 3], out[2] = p[2 * g->size / 3 + 1], out[3] = ss;
}

static void test_pinned(void **state) {
  (void)state;
  const int print = getenv("FPK_PIN_PRINT") != NULL;
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const pin_case *c = &cases[k];
    fpk_grid g;
    fpk_spectral *s = run_case(c, 1, 25, &g);
    double v[4];
    pins_of(s, &g, v);
    double top = 0.0;
    const double *p = fpk_spectral_density(s);
    for (size_t m = 0; m < g.size; m++) top = fmax(top, fabs(p[m]));
    if (print)
      printf("PIN %s: %.17g, %.17g, %.17g, %.17g\n", c->name, v[0], v[1], v[2], v[3]);
    if (print) {
      /* FNV-1a of the density's bytes: tells a bitwise-identical result from a round-off one */
      unsigned long long hash = 1469598103934665603ull;
      const unsigned char *b = (const unsigned char *)p;
      for (size_t m = 0; m < g.size * sizeof *p; m++) hash = (hash ^ b[m]) * 1099511628211ull;
      printf("HASH %s: %016llx\n", c->name, hash);
      fpk_spectral_free(s);
      continue;
    }
    for (int q = 0; q < 3; q++)
      if (!(fabs(v[q] - c->pins[q]) <= 1e-12 * top))
        fail_msg("%s: pin %d is %.17g, was %.17g (difference %.2e, tolerance 1e-12 x %.3g)",
                 c->name, q, v[q], c->pins[q], fabs(v[q] - c->pins[q]), top);
    if (!(fabs(v[3] - c->pins[3]) <= 1e-12 * c->pins[3]))
      fail_msg("%s: sum of squares %.17g, was %.17g", c->name, v[3], c->pins[3]);
    fpk_spectral_free(s);
  }
}

/* 1 and 2 threads: bitwise the same densities, with FFTW_ESTIMATE and FFTW_MEASURE plans, on
 * grids where the passes may be threaded (>= 128², chosen by timing) and, unless FPK_TEST_QUICK,
 * a larger one (512², estimate only: measure planning takes seconds there). Whatever the solver
 * chose (threads by timing only between variants with the same arithmetic), the numbers must
 * not move. */
static void test_threads_bitwise(void **state) {
  (void)state;
  const int quick = getenv("FPK_TEST_QUICK") != NULL;
  pin_case big[] = {
      {"2d etdrk4 vard 128", 2, {128, 128}, 0, 1, {2, {0.3, 0.2}, 0.0, 1.0, 0.5, 1.0, 0.3}, {0}},
      {"2d sbdf2 additive 160x128", 2, {160, 128}, 1, 1, {2, {0.4, -0.3}, 0.0, 1.0, 0.5, 0.8, 0.0},
       {0}},
      {"2d etdrk4 additive t-dep 512", 2, {512, 512}, 0, 1,
       {2, {0.4, -0.3}, 2.0, 1.0, 0.5, 0.8, 0.0}, {0}},
  };
  const size_t ncase = quick ? 2 : 3;
  for (int planner = 0; planner < 2; planner++)
    for (size_t k = 0; k < ncase; k++) {
      if (planner && k == 2) continue; /* FFTW_MEASURE planning of 512² takes seconds */
      const fpk_fft_planner pl = planner ? FPK_FFT_MEASURE : FPK_FFT_ESTIMATE;
      fpk_grid g;
      fpk_spectral *s1 = run_case_planned(&big[k], 1, 3, &g, pl);
      fpk_spectral *s2 = run_case_planned(&big[k], 2, 3, &g, pl);
      int r2c, c2r, passes, timed;
      fpk_spectral_threads(s2, &r2c, &c2r, &passes, &timed);
      const double *p1 = fpk_spectral_density(s1), *p2 = fpk_spectral_density(s2);
      if (memcmp(p1, p2, g.size * sizeof *p1) != 0) {
        size_t m = 0;
        while (p1[m] == p2[m]) m++;
        fail_msg("%s (%s): 1 and 2 threads differ at cell %zu: %.17g vs %.17g (threads r2c %d, "
                 "c2r %d, chosen by %s)",
                 big[k].name, planner ? "measure" : "estimate", m, p1[m], p2[m], r2c, c2r,
                 timed ? "timing" : "size");
      }
      fpk_spectral_free(s1), fpk_spectral_free(s2);
    }
}

/* The operator itself, 2D with the 2/3 rule on a 128² grid (variable D: four terms): 𝒩 with the
 * passes on 1 and on 2 threads is bitwise the same; the row pipeline (column passes, blocks of
 * rows, products in between) agrees with the 2D transforms and the separate product pass to
 * 1e-14 of max |𝒩| (bitwise under FFTW_ESTIMATE on FFTW 3.3.10, not asserted: other sub-plans
 * may round differently). */
static void test_op_paths(void **state) {
  (void)state;
  static torus tm = {2, {0.3, 0.2}, 0.0, 1.0, 0.5, 1.0, 0.3};
  const fpk_model m = {.name = "torus", .dim = 2, .drift = torus_drift, .noise = torus_noise,
                       .params = &tm, .flags = FPK_MODEL_AUTONOMOUS, .linear = NULL};
  fpk_error err = {0};
  fpk_grid g;
  const size_t n[2] = {128, 128};
  const double lo[2] = {0, 0}, hi[2] = {TWO_PI, TWO_PI};
  const fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, 2, n, lo, hi, bc, &err), FPK_SUCCESS);
  fpk_spectral_op op;
  if (fpk_spectral_op_init(&op, &g, &m, FFTW_ESTIMATE, 2, 1, &err) ||
      fpk_spectral_op_sample(&op, &m, 0.0, &err))
    fail_msg("op init: %s", err.msg);
  assert_int_equal(op.pass_threads, 2); /* before the timing: buffers for 2 */
  assert_non_null(op.row_c2r);          /* the pipeline is planned */
  const size_t nc = op.nc;
  fftw_complex *uh = fftw_alloc_complex(nc), *o[3];
  for (int k = 0; k < 3; k++) o[k] = fftw_alloc_complex(nc);
  for (size_t k = 0; k < g.size; k++) {
    double x[2];
    fpk_grid_point(&g, k, x);
    op.r[k] = exp(cos(x[0] - 1.0) + 0.5 * sin(2.0 * x[1]));
  }
  fftw_execute_dft_r2c(op.r2c, op.r, uh);
  const int threads[3] = {1, 2, 1};
  for (int k = 0; k < 3; k++) {
    fftw_plan hidden = op.row_c2r;
    if (k == 2) op.row_c2r = NULL; /* the 2D transforms and the separate product pass */
    op.pass_threads = threads[k];
    memcpy(op.ct, uh, nc * sizeof *uh);
    fpk_spectral_op_apply_ct(&op, o[k]);
    op.row_c2r = hidden;
  }
  assert_int_equal(op.nterms, 4);
  assert_memory_equal(o[0], o[1], nc * sizeof *uh);
  double top = 0.0, diff = 0.0;
  for (size_t c = 0; c < nc; c++) {
    top = fmax(top, cabs(o[2][c]));
    diff = fmax(diff, cabs(o[0][c] - o[2][c]));
  }
  assert_true(top > 1.0);
  if (!(diff <= 1e-14 * top))
    fail_msg("row pipeline vs 2D transforms: max |difference| %.3e, max |N| %.3e", diff, top);
  for (int k = 0; k < 3; k++) fftw_free(o[k]);
  fftw_free(uh);
  fpk_spectral_op_free(&op);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pinned),
      cmocka_unit_test(test_threads_bitwise),
      cmocka_unit_test(test_op_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
