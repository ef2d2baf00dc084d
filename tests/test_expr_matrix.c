/* Expression models with a noise matrix (issue 16; src/models/expr.c, expr_jit.c): an expression
 * OU with a full B has the noise matrix, the diffusion matrix and (to rounding) the drift of
 * fpk_model_ou_matrix_alloc; a degenerate (Kramers-like) matrix has its zero row recognised from
 * the strings, where sampling would be fooled; flags come from every entry; compiled and
 * interpreted matrices agree bit for bit (2D and 3D, up to 6 columns); a parse error names the
 * entry noise[r][k]; fpk_model_expr_string gives the entries. */
#include "fpk_test.h"

#include <stdlib.h>
#include <string.h>

#include "models/expr_jit.h"

static int same(double a, double b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

static fpk_model *alloc_or_fail(const fpk_expr_spec *s) {
  fpk_error err = {0};
  fpk_model *m = fpk_model_expr_alloc(s, &err);
  if (!m) fail_msg("fpk_model_expr_alloc: %s", err.msg);
  return m;
}

/* dX = -A(X - μ) dt + B dW, 2D with 3 Brownian components, as expressions and as the built-in. */
static void test_ou_matches_builtin(void **state) {
  (void)state;
  const double A[4] = {1.0, 0.5, -0.3, 2.0}, mu[2] = {0.2, -0.1};
  const double B[6] = {0.6, 0.2, 0.0, 0.1, 0.9, 0.3};
  fpk_expr_spec s = {.dim = 2,
                     .drift = {"-(1*(x-0.2) + 0.5*(y+0.1))", "-(-0.3*(x-0.2) + 2*(y+0.1))"},
                     .noise_dim = 3,
                     .noise_matrix = {"0.6", "0.2", "0", "0.1", "0.9", "0.3"},
                     .jit = FPK_EXPR_JIT_OFF};
  fpk_model *me = alloc_or_fail(&s);
  fpk_error err = {0};
  fpk_model *mo = fpk_model_ou_matrix_alloc(2, A, mu, 3, B, &err);
  assert_non_null(mo);
  assert_null(me->noise);
  assert_null(me->noise_dx);
  assert_non_null(me->noise_matrix);
  assert_int_equal(me->noise_dim, 3);
  assert_int_equal(fpk_model_noise_dim(me), 3);
  assert_false(fpk_model_noise_is_diagonal(me));
  assert_int_equal(me->flags, FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS);
  enum { N = 41 };
  double x[2 * N], se[6 * N], so[6 * N], de[4 * N], dd[4 * N], w[6 * N], be[2 * N], bo[2 * N];
  for (size_t i = 0; i < N; i++) x[i] = -3.0 + 0.15 * (double)i, x[N + i] = 2.0 - 0.1 * (double)i;
  assert_int_equal(fpk_model_noise(me, 0.0, N, x, se, &err), FPK_EUNSUP); /* diagonal-only API */
  assert_int_equal(fpk_model_noise_matrix(me, 0.0, N, x, se, &err), 0);
  assert_int_equal(fpk_model_noise_matrix(mo, 0.0, N, x, so, &err), 0);
  for (size_t j = 0; j < 6 * N; j++) assert_true(same(se[j], so[j]));
  assert_int_equal(fpk_model_diffusion(me, 0.0, N, x, de, w, &err), 0);
  assert_int_equal(fpk_model_diffusion(mo, 0.0, N, x, dd, w, &err), 0);
  for (size_t j = 0; j < 4 * N; j++) assert_true(same(de[j], dd[j]));
  /* D_01 = ½ (0.6·0.1 + 0.2·0.9 + 0·0.3) = 0.12 */
  assert_true(fabs(de[1 * N] - 0.12) < 1e-16);
  assert_int_equal(fpk_model_drift(me, 0.0, N, x, be, &err), 0);
  assert_int_equal(fpk_model_drift(mo, 0.0, N, x, bo, &err), 0);
  double worst = 0.0;
  for (size_t j = 0; j < 2 * N; j++) worst = fmax(worst, fabs(be[j] - bo[j]));
  print_message("expression OU vs fpk_model_ou_matrix_alloc: noise and D bitwise, drift within "
                "%.2g\n", worst);
  assert_true(worst < 1e-14); /* a different operation order: rounding only */
  assert_int_equal(fpk_model_zero_noise_rows(me, N, x, &err), 0u);
  fpk_model_free(me);
  fpk_model_free(mo);
}

/* The harmonic Kramers model written as an expression: σ = [0; sqrt(2 g / b)]. */
static void test_degenerate_zero_rows(void **state) {
  (void)state;
  const char *names[3] = {"g", "b", "k"};
  const double values[3] = {0.7, 2.0, 1.5};
  fpk_expr_spec s = {.dim = 2,
                     .drift = {"y", "-k*x - g*y"},
                     .noise_dim = 1,
                     .noise_matrix = {"0", "sqrt(2*g/b)"},
                     .nparams = 3,
                     .param_names = names,
                     .param_values = values};
  fpk_model *me = alloc_or_fail(&s);
  fpk_error err = {0};
  fpk_model *mk = fpk_model_kramers_alloc(
      "harmonic", &(fpk_kramers_params){.beta = 2.0, .gamma = 0.7, .amplitude = 1.5, .period = 1},
      &err);
  assert_non_null(mk);
  double x[2] = {0.0, 0.0};
  assert_int_equal(fpk_model_zero_noise_rows(me, 1, x, &err), 1u);
  assert_int_equal(fpk_model_zero_noise_rows(mk, 1, x, &err), 1u);
  enum { N = 9 };
  double xs[2 * N], de[4 * N], dk[4 * N], w[2 * N];
  for (size_t i = 0; i < 2 * N; i++) xs[i] = -2.0 + 0.5 * (double)i;
  assert_int_equal(fpk_model_diffusion(me, 0.0, N, xs, de, w, &err), 0);
  assert_int_equal(fpk_model_diffusion(mk, 0.0, N, xs, dk, w, &err), 0);
  for (size_t j = 0; j < 4 * N; j++) assert_true(fabs(de[j] - dk[j]) <= 1e-15 * fabs(dk[j]));
  assert_true(fabs(de[3 * N] - 0.7 / 2.0) < 1e-15); /* D_vv = γ/β */
  assert_true(de[0] == 0.0 && de[N] == 0.0);
  fpk_model_free(me);
  fpk_model_free(mk);
  /* sin(x) vanishes at x = 0, where sampling would call the row zero; the strings say it is not.
   * Only the literal 0 counts (libmatheval leaves 0*y as it is: such a row is not taken as zero). */
  fpk_expr_spec s2 = {.dim = 2,
                      .drift = {"-x", "-y"},
                      .noise_dim = 2,
                      .noise_matrix = {"sin(x)", "0", "0", "0"},
                      .jit = FPK_EXPR_JIT_OFF};
  fpk_model *m2 = alloc_or_fail(&s2);
  assert_int_equal(fpk_model_zero_noise_rows(m2, 1, x, &err), 2u);
  assert_int_equal(m2->flags, FPK_MODEL_AUTONOMOUS); /* sin(x): not additive */
  fpk_model_free(m2);
}

static void test_flags_and_strings(void **state) {
  (void)state;
  fpk_expr_spec s = {.dim = 2,
                     .drift = {"-x", "-y"},
                     .noise_dim = 2,
                     .noise_matrix = {"1", "0.5*t", "0.25", "2"},
                     .jit = FPK_EXPR_JIT_OFF};
  fpk_model *m = alloc_or_fail(&s);
  assert_int_equal(m->flags, FPK_MODEL_ADDITIVE); /* t in an entry: not autonomous */
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_MATRIX_SOURCE, 1), "0.5*t");
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_MATRIX, 2), "0.25");
  assert_null(fpk_model_expr_string(m, FPK_EXPR_NOISE_MATRIX, 4));
  assert_null(fpk_model_expr_string(m, FPK_EXPR_NOISE, 0));
  assert_null(fpk_model_expr_string(m, FPK_EXPR_NOISE_SOURCE, 0));
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_DRIFT_SOURCE, 1), "-y");
  double x[2] = {0.3, 0.4}, out[4];
  fpk_error err = {0};
  assert_int_equal(fpk_model_noise_matrix(m, 2.0, 1, x, out, &err), 0);
  assert_true(out[0] == 1.0 && out[1] == 1.0 && out[2] == 0.25 && out[3] == 2.0);
  fpk_model_free(m);
  /* a diagonal model has no matrix entries */
  fpk_expr_spec sd = {.dim = 1, .drift = {"-x"}, .noise = {"1"}, .jit = FPK_EXPR_JIT_OFF};
  m = alloc_or_fail(&sd);
  assert_null(fpk_model_expr_string(m, FPK_EXPR_NOISE_MATRIX, 0));
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE, 0), "1");
  fpk_model_free(m);
}

static void test_errors_name_the_entry(void **state) {
  (void)state;
  fpk_expr_spec s = {.dim = 2,
                     .drift = {"-x", "-y"},
                     .noise_dim = 3,
                     .noise_matrix = {"1", "0", "0", "0", "1", "x +* 2"},
                     .jit = FPK_EXPR_JIT_OFF};
  fpk_error err = {0};
  assert_null(fpk_model_expr_alloc(&s, &err));
  print_message("%s\n", err.msg);
  assert_int_equal(err.status, FPK_EINVAL);
  assert_non_null(strstr(err.msg, "noise[1][2]"));
  assert_non_null(strstr(err.msg, "column 4"));
  s.noise_matrix[5] = "q";
  fpk_error_clear(&err);
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "noise[1][2]"));
  assert_non_null(strstr(err.msg, "unknown symbol 'q'"));
  s.noise_matrix[5] = NULL;
  fpk_error_clear(&err);
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "noise[1][2]"));
  s.noise_matrix[5] = "1";
  s.noise_dim = FPK_MAX_NOISE + 1;
  fpk_error_clear(&err);
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "columns"));
}

/* Compiled vs interpreted noise matrices, bitwise, at many points and times. */
static void test_jit_bitwise(void **state) {
  (void)state;
  if (!expr_jit_available()) {
    print_message("this build has no libgccjit (FPK_JIT=OFF): comparison skipped\n");
    return;
  }
  const size_t NP = getenv("FPK_TEST_QUICK") ? 200 : 2000;
  const char *names[2] = {"a", "c"};
  const double values[2] = {0.123456789012345, -1.7};
  fpk_expr_spec s2 = {.dim = 2,
                      .drift = {"-a*x + y", "-x - c*y^3"},
                      .noise_dim = 3,
                      .noise_matrix = {"a*(1 + 0.1*sin(y))", "exp(-x^2)*t", "0", "0.3*x*y",
                                       "sqrt(1 + y^2)", "c/(2 + cos(x))"},
                      .nparams = 2,
                      .param_names = names,
                      .param_values = values};
  fpk_expr_spec s3 = {.dim = 3, .drift = {"-x", "-y", "-z + t"}, .noise_dim = 6,
                      .nparams = 2, .param_names = names, .param_values = values};
  static const char *const e3[18] = {
      "1",        "x*y",       "0",     "tanh(z)", "a",     "abs(x-y)", "erf(x)", "0.5",   "z^2",
      "log(1 + x^2)", "c*t",   "atan(y)", "0",     "0",     "sqrt(2)",  "cosh(z/10)", "x - z", "-a"};
  for (size_t k = 0; k < 18; k++) s3.noise_matrix[k] = e3[k];
  const fpk_expr_spec *specs[2] = {&s2, &s3};
  size_t compared = 0;
  for (int sp = 0; sp < 2; sp++) {
    fpk_expr_spec sj = *specs[sp], si = *specs[sp];
    sj.jit = FPK_EXPR_JIT_ON, si.jit = FPK_EXPR_JIT_OFF;
    fpk_model *mj = alloc_or_fail(&sj), *mi = alloc_or_fail(&si);
    const char *info = NULL;
    assert_int_equal(fpk_model_expr_jit(mj, &info), 1);
    print_message("%zuD, %zu columns: %s\n", sj.dim, sj.noise_dim, info);
    assert_int_equal(mj->flags, mi->flags);
    const size_t d = sj.dim, q = d * sj.noise_dim;
    double *x = malloc(d * NP * sizeof *x), *a = malloc(q * NP * sizeof *a),
           *b = malloc(q * NP * sizeof *b);
    assert_true(x && a && b);
    for (size_t c = 0; c < d; c++)
      for (size_t i = 0; i < NP; i++)
        x[c * NP + i] = -5.0 + 10.0 * (double)((i * (3 + 2 * c)) % NP) / (double)NP;
    x[0] = NAN, x[1] = INFINITY, x[2] = -0.0;
    fpk_error err = {0};
    static const double times[3] = {0.0, 0.37, 2.5};
    for (int k = 0; k < 3; k++) {
      assert_int_equal(fpk_model_noise_matrix(mj, times[k], NP, x, a, &err), 0);
      assert_int_equal(fpk_model_noise_matrix(mi, times[k], NP, x, b, &err), 0);
      for (size_t j = 0; j < q * NP; j++) {
        if (!same(a[j], b[j]))
          fail_msg("%zuD noise[%zu][%zu] at t = %g: compiled %a, interpreted %a", d,
                   j / NP / sj.noise_dim, j / NP % sj.noise_dim, times[k], a[j], b[j]);
        compared++;
      }
    }
    free(x), free(a), free(b);
    fpk_model_free(mj);
    fpk_model_free(mi);
  }
  print_message("compiled vs interpreted noise matrices: %zu values bitwise equal\n", compared);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ou_matches_builtin),
      cmocka_unit_test(test_degenerate_zero_rows),
      cmocka_unit_test(test_flags_and_strings),
      cmocka_unit_test(test_errors_name_the_entry),
      cmocka_unit_test(test_jit_bitwise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
