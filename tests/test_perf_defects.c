/* Regression tests of the defects found by hostile testing of issue 15's faster paths
 * (reproducers in tests/defects/perf/).
 *
 * 01: the split (ADI) solver's implicit Euler was the plain Lie-split step
 *     (I - hL_2)⁻¹(I - hL_1)⁻¹ p, whose fixed point is L p = h L_1 L_2 p: on a rotating OU
 *     (circulating stationary current) at dt = 1 the density was O(1) wrong (FV vs exact L1 1.6
 *     against 0.03) with exit 0. Each split step is now corrected to the exact implicit-Euler
 *     step (defect correction, else the direct solve), so split and direct agree to round-off
 *     for every dt, the result stays non-negative, and threads change no bit.
 * 02: the guard's "likely cause" for Crank–Nicolson and TR-BDF2 stated the positivity bound
 *     1/(2c max|L_ii|), half the scheme's c h max|L_ii| <= 1 (CN: dt <= 2/max|L_ii| stated as
 *     1/max|L_ii|), and the split solver's own bound (per axis) was not stated at all.
 * 03: libmatheval differentiates asinh and acoth wrongly (d asinh(x) = 1/sqrt(1 - x^2),
 *     d acoth(x) = 1/(x^2 - 1)), and Milstein took that σ' for an expression model silently: such
 *     a noise now gets no derivative (Milstein refuses the model, naming the cause). */
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

static const double A_ROT[4] = {1.0, 3.0, -3.0, 1.0}; /* strong rotation */
static const double MU0[2] = {0.0, 0.0};
static const double SIG[2] = {0.8, 0.6};

static fpk_fv *make(const fpk_grid *g, const fpk_model *m, double dt, fpk_fv_solver solver,
                    const double *p0) {
  fpk_error err = {0};
  fpk_fv *s = fpk_fv_alloc(g, m, fpk_fv_implicit_euler, dt, &err);
  if (!s) fail_msg("fpk_fv_alloc(dt = %g): %s", dt, err.msg);
  assert_int_equal(fpk_fv_set_solver(s, solver), FPK_SUCCESS);
  assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
  return s;
}

static void test_split_implicit_euler_rotation(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(2, A_ROT, MU0, SIG, &err);
  assert_non_null(m);
  static const fpk_bc bcs[2][2] = {{FPK_BC_REFLECTING, FPK_BC_REFLECTING},
                                   {FPK_BC_ABSORBING, FPK_BC_PERIODIC}};
  for (size_t b = 0; b < 2; b++) {
    fpk_grid g;
    const size_t n[2] = {70, 61}; /* > FPK_FV_PARALLEL_MIN cells: 2 threads split the lines */
    const double lo[2] = {-4, -4}, hi[2] = {4, 4};
    if (fpk_grid_init(&g, 2, n, lo, hi, bcs[b], &err)) fail_msg("grid: %s", err.msg);
    fpk_gaussian law = {.dim = 2};
    law.mean[0] = 0.5, law.mean[1] = -0.5;
    law.cov[0] = law.cov[3] = 0.16;
    double *p0 = malloc(g.size * sizeof *p0);
    assert_int_equal(fpk_gaussian_density_grid(&law, &g, p0, &err), FPK_SUCCESS);
    static const double dts[] = {0.01, 0.1, 1.0, 10.0};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
      const double dt = dts[k], t = 20.0 * dt;
      fpk_fv *d = make(&g, m, dt, FPK_FV_SOLVER_DIRECT, p0);
      if (fpk_fv_evolve(d, t)) fail_msg("direct: %s", fpk_fv_errmsg(d));
      double *ref = NULL;
      for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        fpk_fv *s = make(&g, m, dt, FPK_FV_SOLVER_SPLIT, p0);
        if (fpk_fv_evolve(s, t)) fail_msg("split: %s", fpk_fv_errmsg(s));
        const double *ps = fpk_fv_density(s), *pd = fpk_fv_density(d);
        double e = 0.0, mx = 0.0;
        for (size_t i = 0; i < g.size; i++) {
          e = fmax(e, fabs(ps[i] - pd[i]));
          mx = fmax(mx, fabs(pd[i]));
        }
        printf("  rotating OU, bc %zu, implicit-euler dt %5g, %d thread(s): split vs direct max "
               "rel %.2e, min %.2e\n",
               b, dt, nt, e / mx, fpk_fv_min_density(s));
        assert_true(e <= 1e-10 * mx); /* the Lie-split step alone: 0.1 .. O(1) */
        assert_true(fpk_fv_min_density(s) >= -1e-14 * mx);
        if (!ref) {
          ref = malloc(g.size * sizeof *ref);
          memcpy(ref, ps, g.size * sizeof *ref);
        } else {
          assert_memory_equal(ref, ps, g.size * sizeof *ref); /* threads change no bit */
        }
        fpk_fv_free(s);
      }
      omp_set_num_threads(1);
      free(ref);
      fpk_fv_free(d);
    }
    free(p0);
  }
  fpk_model_free(m);
}

/* The bound and the 1/max|L_ii| a guard message states: "... dt <= B here (1/max... = L; ..." */
static void stated_bound(const char *msg, double *bound, double *limit) {
  const char *p = strstr(msg, "only for dt <= ");
  if (!p) fail_msg("no bound in: %s", msg);
  *bound = strtod(p + strlen("only for dt <= "), NULL);
  p = strstr(p, " = ");
  if (!p) fail_msg("no 1/max|L_ii| in: %s", msg);
  *limit = strtod(p + 3, NULL);
}

static void test_guard_cause_bound(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(2, A_ROT, MU0, SIG, &err);
  assert_non_null(m);
  fpk_grid g;
  const size_t n[2] = {60, 60};
  const double lo[2] = {-4, -4}, hi[2] = {4, 4};
  const fpk_bc bc[2] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  if (fpk_grid_init(&g, 2, n, lo, hi, bc, &err)) fail_msg("grid: %s", err.msg);
  fpk_gaussian law = {.dim = 2};
  law.mean[0] = 0.5, law.mean[1] = -0.5;
  law.cov[0] = law.cov[3] = 0.16;
  double *p0 = malloc(g.size * sizeof *p0);
  assert_int_equal(fpk_gaussian_density_grid(&law, &g, p0, &err), FPK_SUCCESS);
  const fpk_fv_stepper_type *T[2] = {fpk_fv_crank_nicolson, fpk_fv_tr_bdf2};
  const double c[2] = {0.5, 0.5 * (2.0 - sqrt(2.0))}; /* the explicit weight of the TR stage */
  for (int k = 0; k < 2; k++)
    for (int split = 0; split < 2; split++) {
      fpk_fv *s = fpk_fv_alloc(&g, m, T[k], 0.5, &err);
      assert_non_null(s);
      assert_int_equal(fpk_fv_set_solver(s, split ? FPK_FV_SOLVER_SPLIT : FPK_FV_SOLVER_DIRECT),
                       FPK_SUCCESS);
      assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
      assert_int_not_equal(fpk_fv_evolve(s, 2.0), FPK_SUCCESS); /* negative densities */
      double bound, limit;
      stated_bound(fpk_fv_errmsg(s), &bound, &limit);
      printf("  %s, %s: stated bound %.4g, 1/max diag %.4g: ratio %.3f (1/c = %.3f)\n",
             T[k]->name, split ? "split" : "direct", bound, limit, bound / limit, 1.0 / c[k]);
      assert_true(fabs(bound / limit * c[k] - 1.0) < 0.01); /* %.3g in the message */
      if (split) assert_non_null(strstr(fpk_fv_errmsg(s), "max_a max|(L_a)_ii|"));
      fpk_fv_free(s);
    }
  free(p0);
  fpk_model_free(m);
}

/* σ' of an expression model against a central difference of its σ. */
static void test_expr_noise_derivative(void **state) {
  (void)state;
  static const char *const noises[] = {"0.5 + 0.2*tanh(asinh(0.5*x))", "0.5 + 0.2/acoth(2 + x^2)",
                                       "0.5 + 0.2*tanh(sinh(0.5*x))", "0.5 + 0.1*atanh(0.3*tanh(x))",
                                       "0.5 + 0.2*tanh(acosh(2 + x^2))", "0.5 + 0.1*acot(x)"};
  for (size_t k = 0; k < sizeof noises / sizeof noises[0]; k++)
    for (int jit = 0; jit < 2; jit++) {
      fpk_error err = {0};
      fpk_expr_spec spec = {.dim = 1, .drift = {"-x"}, .noise = {noises[k]},
                            .jit = jit ? FPK_EXPR_JIT_AUTO : FPK_EXPR_JIT_OFF};
      fpk_model *m = fpk_model_expr_alloc(&spec, &err);
      if (!m) fail_msg("%s: %s", noises[k], err.msg);
      const int wrong = strstr(noises[k], "asinh") || strstr(noises[k], "acoth");
      if (wrong) {
        assert_null(m->noise_dx); /* no derivative rather than a wrong one */
      } else {
        assert_non_null(m->noise_dx);
        double x[3] = {-0.7, 0.2, 0.9}, ds[3], sp[3], sm[3], xp[3], xm[3];
        const double h = 1e-6;
        for (int i = 0; i < 3; i++) xp[i] = x[i] + h, xm[i] = x[i] - h;
        assert_int_equal(fpk_model_noise_dx(m, 0.0, 3, x, ds, &err), FPK_SUCCESS);
        assert_int_equal(fpk_model_noise(m, 0.0, 3, xp, sp, &err), FPK_SUCCESS);
        assert_int_equal(fpk_model_noise(m, 0.0, 3, xm, sm, &err), FPK_SUCCESS);
        for (int i = 0; i < 3; i++) {
          const double fd = (sp[i] - sm[i]) / (2 * h);
          assert_true(fabs(ds[i] - fd) <= 1e-6 * fmax(1.0, fabs(fd)));
        }
      }
      printf("  noise %-34s jit %-4s: %s\n", noises[k], jit ? "auto" : "off",
             wrong ? "no derivative (Milstein refuses)" : "derivative = central difference");
      fpk_model_free(m);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_implicit_euler_rotation),
      cmocka_unit_test(test_guard_cause_bound),
      cmocka_unit_test(test_expr_noise_derivative),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
