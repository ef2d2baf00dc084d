/* Tests of models written as expressions (src/models/expr.c, fpkit/model.h "Expression models"):
 * the fields equal the same formulas written in C, the symbolic derivative equals the
 * hand-computed one, the flags follow the variables used, every syntax error is located at the
 * right column, unknown symbols and clashing parameter names are refused, and evaluation from
 * several OpenMP threads gives the serial numbers (directly, and through the Monte Carlo engine
 * against the built-in OU model). Also [parameters], the section whose keys are parameter names
 * (fpk_config_section_keys). Every test runs twice: interpreted, and compiled by libgccjit. */
#include "fpk_test.h"

#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpkit/config.h"
#include "fpkit/sde.h"

static fpk_model *expr1(const char *drift, const char *noise, size_t np, const char *const *pn,
                        const double *pv) {
  fpk_expr_spec s = {.dim = 1, .drift = {drift}, .noise = {noise}, .nparams = np,
                     .param_names = pn, .param_values = pv};
  fpk_error err = {0};
  fpk_model *m = fpk_model_expr_alloc(&s, &err);
  if (!m) fail_msg("fpk_model_expr_alloc(%s, %s): %s", drift, noise, err.msg);
  return m;
}

static fpk_model *expr2(const char *bx, const char *by, const char *sx, const char *sy,
                        size_t np, const char *const *pn, const double *pv) {
  fpk_expr_spec s = {.dim = 2, .drift = {bx, by}, .noise = {sx, sy}, .nparams = np,
                     .param_names = pn, .param_values = pv};
  fpk_error err = {0};
  fpk_model *m = fpk_model_expr_alloc(&s, &err);
  if (!m) fail_msg("fpk_model_expr_alloc: %s", err.msg);
  return m;
}

/* |a − e| against 1e-15 of the largest term of the formula (scale): the expression tree and the
 * compiled C may round in different places (simplification, FMA contraction of the C). */
static double rel(double a, double e, double scale) { return fabs(a - e) / scale; }

/* ==== fields ================================================================================ */

/* 1D: b = −θ(x − μ) + a sin(2πx/L) − t x³/3, σ = s √(1 + x²) e^{−t/2}, at 201 points and 3 times,
 * in one batch (component-major). 2D: a rotation-like drift and a noise with σ_x(x), σ_y(y). */
static void test_fields_equal_formulas(void **state) {
  (void)state;
  const char *pn[] = {"theta", "mu", "a", "L", "s"};
  const double pv[] = {1.3, -0.4, 0.7, 2.5, 0.9};
  fpk_model *m = expr1("-theta*(x - mu) + a*sin(2*pi*x/L) - t*x^3/3",
                       "s*sqrt(1 + x^2)*exp(-t/2)", 5, pn, pv);
  enum { N = 201 };
  double x[N], b[N], sg[N], worst = 0.0;
  for (size_t i = 0; i < N; i++) x[i] = -5.0 + 10.0 * (double)i / (N - 1) + 1e-3;
  const double ts[3] = {0.0, 0.37, 2.0};
  for (size_t k = 0; k < 3; k++) {
    const double t = ts[k];
    fpk_error err = {0};
    assert_int_equal(fpk_model_drift(m, t, N, x, b, &err), FPK_SUCCESS);
    assert_int_equal(fpk_model_noise(m, t, N, x, sg, &err), FPK_SUCCESS);
    for (size_t i = 0; i < N; i++) {
      const double y = x[i];
      const double t1 = -1.3 * (y - -0.4), t2 = 0.7 * sin(2 * M_PI * y / 2.5),
                   t3 = t * pow(y, 3) / 3;
      const double eb = t1 + t2 - t3, es = 0.9 * sqrt(1 + pow(y, 2)) * exp(-t / 2);
      const double scale = fabs(t1) + fabs(t2) + fabs(t3);
      assert_true(rel(b[i], eb, scale) <= 1e-15);
      assert_close_rel(sg[i], es, 1e-15);
      worst = fmax(worst, fmax(rel(b[i], eb, scale), fabs(sg[i] - es) / es));
    }
  }
  fpk_model_free(m);

  const char *pn2[] = {"k", "s1", "s2"};
  const double pv2[] = {0.6, 0.8, 1.7};
  m = expr2("-x + y*cos(t)", "-x*y - k*y", "s1*(1 + 0.5*sin(x))", "s2*exp(-y^2)", 3, pn2, pv2);
  double x2[2 * N], b2[2 * N], s2[2 * N];
  for (size_t i = 0; i < N; i++) {
    x2[i] = -3.0 + 6.0 * (double)i / (N - 1);
    x2[N + i] = 2.0 * cos(0.1 * (double)i);
  }
  fpk_error err = {0};
  assert_int_equal(fpk_model_drift(m, 0.8, N, x2, b2, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_noise(m, 0.8, N, x2, s2, &err), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) {
    const double X = x2[i], Y = x2[N + i];
    const double bx = -X + Y * cos(0.8), by = -X * Y - 0.6 * Y;
    assert_true(rel(b2[i], bx, fabs(X) + fabs(Y)) <= 1e-15);
    assert_true(rel(b2[N + i], by, fabs(X * Y) + fabs(0.6 * Y)) <= 1e-15);
    assert_close_rel(s2[i], 0.8 * (1 + 0.5 * sin(X)), 1e-15);
    assert_close_rel(s2[N + i], 1.7 * exp(-pow(Y, 2)), 1e-15);
    worst = fmax(worst, rel(b2[N + i], by, fabs(X * Y) + fabs(0.6 * Y)));
  }
  fpk_model_free(m);
  print_message("expression fields vs C formulas: max rel err %.2e\n", worst);
}

/* ∂σ_c/∂x_c by libmatheval's symbolic differentiation against the derivative by hand:
 * σ = s x²/(1 + x²) → 2 s x/(1 + x²)², and in 2D σ_x = s1(1 + ½ sin x) → ½ s1 cos x,
 * σ_y = s2 e^{−y²} → −2 s2 y e^{−y²}. */
static void test_symbolic_derivative(void **state) {
  (void)state;
  const char *pn[] = {"s"};
  const double pv[] = {0.45};
  fpk_model *m = expr1("-x", "s*x^2/(1 + x^2)", 1, pn, pv);
  assert_non_null(m->noise_dx);
  enum { N = 101 };
  double x[2 * N], g[2 * N], worst = 0.0;
  for (size_t i = 0; i < N; i++) x[i] = -4.0 + 8.0 * (double)i / (N - 1) + 0.013;
  assert_int_equal(m->noise_dx(0.0, N, x, g, m->params), 0);
  for (size_t i = 0; i < N; i++) {
    const double y = x[i], q = 1 + y * y, e = 2 * 0.45 * y / (q * q);
    assert_close_abs(g[i], e, 1e-14 * fabs(e) + 1e-300);
    worst = fmax(worst, fabs(g[i] - e) / fabs(e));
  }
  assert_non_null(fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, 0));
  fpk_model_free(m);

  const char *pn2[] = {"s1", "s2"};
  const double pv2[] = {0.8, 1.7};
  m = expr2("-x", "-y", "s1*(1 + 0.5*sin(x))", "s2*exp(-y^2)", 2, pn2, pv2);
  assert_non_null(m->noise_dx);
  for (size_t i = 0; i < N; i++) x[N + i] = 1.9 * sin(0.37 * (double)i) + 0.01;
  fpk_error err = {0};
  assert_int_equal(fpk_model_noise_dx(m, 0.0, N, x, g, &err), FPK_SUCCESS);
  for (size_t i = 0; i < N; i++) {
    const double ex = 0.5 * 0.8 * cos(x[i]), Y = x[N + i], ey = -2 * 1.7 * Y * exp(-Y * Y);
    assert_close_rel(g[i], ex, 1e-14);
    assert_close_rel(g[N + i], ey, 1e-14);
    worst = fmax(worst, fmax(fabs(g[i] - ex) / fabs(ex), fabs(g[N + i] - ey) / fabs(ey)));
  }
  fpk_model_free(m);
  print_message("symbolic dsigma/dx vs hand-computed: max rel err %.2e\n", worst);
}

/* ==== flags ================================================================================= */

static void test_flags(void **state) {
  (void)state;
  const char *pn[] = {"s", "k"};
  const double pv[] = {0.5, 2.0};
  const struct {
    size_t dim;
    const char *b[2], *s[2];
    unsigned flags;
    int has_dx;
  } cases[] = {
      {1, {"-x"}, {"1"}, FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS, 0},
      {1, {"-k*x"}, {"s"}, FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS, 0},
      {1, {"-x"}, {"1 + t"}, FPK_MODEL_ADDITIVE, 0},
      {1, {"-x*t"}, {"s"}, FPK_MODEL_ADDITIVE, 0},
      {1, {"-x"}, {"s*x"}, FPK_MODEL_AUTONOMOUS, 1},
      {1, {"sin(t)"}, {"s*(1 + x^2)"}, 0, 1},
      {2, {"-x", "-y"}, {"s", "k"}, FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS, 0},
      {2, {"-x", "-y"}, {"s*x", "k*y"}, FPK_MODEL_AUTONOMOUS, 1},
      /* σ_x depends on y: not diagonal noise, no Milstein derivative */
      {2, {"-x", "-y"}, {"1 + y^2", "1"}, FPK_MODEL_AUTONOMOUS, 0},
      {2, {"-x", "-y*t"}, {"1", "1 + x^2"}, 0, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_expr_spec s = {.dim = cases[k].dim, .nparams = 2, .param_names = pn, .param_values = pv};
    for (size_t c = 0; c < cases[k].dim; c++) s.drift[c] = cases[k].b[c], s.noise[c] = cases[k].s[c];
    fpk_error err = {0};
    fpk_model *m = fpk_model_expr_alloc(&s, &err);
    if (!m) fail_msg("case %zu: %s", k, err.msg);
    if (m->flags != cases[k].flags)
      fail_msg("case %zu: flags %u, expected %u", k, m->flags, cases[k].flags);
    assert_int_equal(m->noise_dx != NULL, cases[k].has_dx);
    assert_int_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, 0) != NULL, cases[k].has_dx);
    assert_null(m->linear);
    assert_null(m->solution);
    assert_string_equal(m->name, "expr");
    assert_int_equal(m->dim, cases[k].dim);
    fpk_model_free(m);
  }
}

/* The sources as given, the canonical forms, NULL for other models and out-of-range requests. */
static void test_strings(void **state) {
  (void)state;
  fpk_model *m = expr2("-x + 2*3", "-y", "1", "0.5*y", 0, NULL, NULL);
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_DRIFT_SOURCE, 0), "-x + 2*3");
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_SOURCE, 1), "0.5*y");
  /* libmatheval folds constants and parenthesises every operation */
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_DRIFT, 0), "((-x)+6)");
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE, 0), "1");
  /* σ_y(y) makes the noise multiplicative and diagonal: ∂σ_x/∂x = 0, ∂σ_y/∂y = 0.5 */
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, 0), "0");
  /* libmatheval's simplifier leaves 0*y in place (it is NaN at y = ±inf, like the engine's) */
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, 1), "((0*y)+0.5)");
  assert_null(fpk_model_expr_string(m, FPK_EXPR_DRIFT, 2));
  assert_null(fpk_model_expr_string(m, 5, 0));
  assert_null(fpk_model_expr_string(m, -1, 0));
  fpk_model_free(m);
  m = expr1("-x", "0.5*x", 0, NULL, NULL);
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, 0), "((0*x)+0.5)");
  fpk_model_free(m);
  fpk_error err = {0};
  const double A = 1, mu = 0, sig = 1;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_null(fpk_model_expr_string(ou, FPK_EXPR_DRIFT, 0));
  assert_null(fpk_model_expr_string(NULL, FPK_EXPR_DRIFT, 0));
  fpk_model_free(ou);
}

/* Non-finite values are results, not failures (model.h): the engine reports them. */
static void test_nonfinite_is_not_an_error(void **state) {
  (void)state;
  fpk_model *m = expr1("log(x)", "1/x", 0, NULL, NULL);
  const double x[3] = {-1.0, 0.0, 2.0};
  double b[3], s[3];
  fpk_error err = {0};
  assert_int_equal(fpk_model_drift(m, 0.0, 3, x, b, &err), FPK_SUCCESS);
  assert_int_equal(fpk_model_noise(m, 0.0, 3, x, s, &err), FPK_SUCCESS);
  assert_true(isnan(b[0]) && isinf(b[1]) && b[2] == log(2.0));
  assert_true(isinf(s[1]) && s[2] == 0.5);
  fpk_model_free(m);
}

/* ==== errors ================================================================================ */

/* The column of each syntax error, and the caret under it in the message. */
static void test_parse_error_column(void **state) {
  (void)state;
  const struct {
    const char *s;
    size_t col;
    const char *why;
  } cases[] = {
      {"-x + * 2", 6, ""},
      {"x y", 3, ""},
      {"2x", 2, ""},
      {"sin x", 5, ""},
      {"x)", 2, ""},
      {"(x + 1", 7, "end of expression"},
      {"x +", 4, "end of expression"},
      {"exp(-x)*", 9, "end of expression"},
      {"((x)", 5, "end of expression"},
      {"x^^2", 3, ""},
      {"x $ 2", 3, "unexpected character '$'"},
      {"x, 2", 2, "unexpected character ','"},
      {"x[1]", 2, "unexpected character '['"},
      {"foo(x)", 4, "'foo' is not a function"},
      {"-x + sinn(x)", 10, "'sinn' is not a function"},
      {"+x", 1, ""},
      {"x ** 2", 4, ""},
      {"1.2.3", 4, ""},
      {"1.2.", 4, "unexpected character '.'"},
      {"x .+ 1", 3, "unexpected character '.'"},
      {"x\r", 2, "unexpected byte 0x0d"},
      {"(x))", 4, ""},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_error err = {0};
    assert_int_equal(fpk_expr_check(cases[k].s, 1, 0, NULL, &err), FPK_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "at column %zu", cases[k].col);
    if (!strstr(err.msg, want)) fail_msg("'%s': message '%s' lacks '%s'", cases[k].s, err.msg, want);
    if (!strstr(err.msg, cases[k].why))
      fail_msg("'%s': message '%s' lacks '%s'", cases[k].s, err.msg, cases[k].why);
    /* "...:\n    <expr>\n    <caret line>" */
    const char *nl = strrchr(err.msg, '\n');
    assert_non_null(nl);
    const char *caret = strchr(nl, '^');
    assert_non_null(caret);
    assert_int_equal((size_t)(caret - (nl + 5)) + 1, cases[k].col);
    /* the model reports the same, naming the component */
    fpk_expr_spec s = {.dim = 1, .drift = {"-x"}, .noise = {cases[k].s}};
    assert_null(fpk_model_expr_alloc(&s, &err));
    assert_int_equal(err.status, FPK_EINVAL);
    if (!strstr(err.msg, "model expr: noise: cannot parse") || !strstr(err.msg, want))
      fail_msg("'%s': model message '%s'", cases[k].s, err.msg);
  }
  fpk_error err = {0};
  assert_int_equal(fpk_expr_check("", 1, 0, NULL, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "empty"));
  assert_int_equal(fpk_expr_check("  \t", 1, 0, NULL, &err), FPK_EINVAL);
  assert_int_equal(fpk_expr_check(NULL, 1, 0, NULL, &err), FPK_EINVAL);
  fpk_expr_spec s2 = {.dim = 2, .drift = {"-x", "-y"}, .noise = {"1", "1 +"}};
  assert_null(fpk_model_expr_alloc(&s2, &err));
  assert_non_null(strstr(err.msg, "model expr: noise_y: cannot parse \"1 +\" at column 4"));
  print_message("e.g. %s\n", err.msg);
}

static void test_unknown_symbol(void **state) {
  (void)state;
  const char *pn[] = {"a", "b"};
  const struct {
    size_t dim;
    const char *s, *msg;
  } cases[] = {
      {1, "-x + sigma", "unknown symbol 'sigma' in \"-x + sigma\" (known: x, t, a, b)"},
      {1, "-x*y", "unknown symbol 'y' in \"-x*y\" (the model is 1D) (known: x, t, a, b)"},
      {2, "-x*z", "unknown symbol 'z' in \"-x*z\" (the model is 2D) (known: x, y, t, a, b)"},
      {1, "T - t", "unknown symbol 'T'"},
      {1, "X", "unknown symbol 'X'"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_error err = {0};
    assert_int_equal(fpk_expr_check(cases[k].s, cases[k].dim, 2, pn, &err), FPK_EINVAL);
    if (!strstr(err.msg, cases[k].msg)) fail_msg("message '%s' lacks '%s'", err.msg, cases[k].msg);
  }
  fpk_error err = {0};
  assert_int_equal(fpk_expr_check("a*x + b*t + pi + e", 1, 2, pn, &err), FPK_SUCCESS);
  fpk_expr_spec s = {.dim = 1, .drift = {"-x"}, .noise = {"sigma"}};
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "model expr: noise: unknown symbol 'sigma'"));
}

static void test_parameter_names(void **state) {
  (void)state;
  const struct {
    const char *name, *msg;
  } bad[] = {
      {"x", "clashes with the coordinate x"},
      {"y", "clashes with the coordinate y"},
      {"z", "clashes with the coordinate z"},
      {"t", "clashes with the time t"},
      {"sin", "clashes with the function sin()"},
      {"exp", "clashes with the function exp()"},
      {"erf", "clashes with the function erf()"},
      {"pi", "clashes with the constant pi = 3.14159"},
      {"e", "clashes with the constant e = 2.718"},
      {"ln2", "clashes with the constant ln2"},
      {"1a", "is not an identifier"},
      {"a-b", "is not an identifier"},
      {"", "empty"},
      {NULL, "empty"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    fpk_error err = {0};
    assert_int_equal(fpk_expr_check_name(bad[k].name, &err), FPK_EINVAL);
    if (!strstr(err.msg, bad[k].msg)) fail_msg("'%s': '%s' lacks '%s'", bad[k].name, err.msg, bad[k].msg);
    const char *pn[] = {"a", bad[k].name};
    const double pv[] = {1, 2};
    fpk_expr_spec s = {.dim = 1, .drift = {"-x"}, .noise = {"1"}, .nparams = 2,
                       .param_names = pn, .param_values = pv};
    assert_null(fpk_model_expr_alloc(&s, &err));
    assert_int_equal(err.status, FPK_EINVAL);
  }
  const char *good[] = {"sigma", "Pi", "X", "_a1", "sinx", "T", "theta_2"};
  for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
    fpk_error err = {0};
    if (fpk_expr_check_name(good[k], &err)) fail_msg("'%s' refused: %s", good[k], err.msg);
  }
  /* duplicates, non-finite values, too many */
  const char *pn[] = {"a", "a"};
  const double pv[] = {1, 2}, nan[] = {NAN, 1};
  fpk_error err = {0};
  fpk_expr_spec s = {.dim = 1, .drift = {"-a*x"}, .noise = {"1"}, .nparams = 2,
                     .param_names = pn, .param_values = pv};
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "parameter 'a' given twice"));
  const char *pn2[] = {"a", "b"};
  s.param_names = pn2;
  s.param_values = nan;
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "parameter a = nan is not finite"));
  s.nparams = FPK_EXPR_MAX_PARAMS + 1;
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "parameters (at most"));
  s.nparams = 0;
  s.dim = 4;
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "dimension 4"));
  assert_null(fpk_model_expr_alloc(NULL, &err));
  fpk_model_free(NULL);
}

/* ==== threads =============================================================================== */

/* Blocks of points evaluated by 4 threads at once, many times, equal the serial numbers bitwise
 * (each thread number has its own evaluators). */
static void test_parallel_evaluation(void **state) {
  (void)state;
  const char *pn[] = {"k", "s"};
  const double pv[] = {0.7, 0.3};
  fpk_model *m = expr2("-k*x + sin(y)", "-y^3 + cos(x*t)", "s*(1 + x^2)", "s*exp(-y^2/2)", 2, pn,
                       pv);
  enum { NB = 64, N = 97 };
  double *x = malloc(NB * 2 * N * sizeof *x), *ser = malloc(3 * NB * 2 * N * sizeof *ser),
         *par = malloc(3 * NB * 2 * N * sizeof *par);
  assert_non_null(x), assert_non_null(ser), assert_non_null(par);
  for (size_t i = 0; i < NB * 2 * N; i++) x[i] = 3.0 * sin(0.7 * (double)i + 0.1);
  for (size_t b = 0; b < NB; b++) {
    const double t = 0.01 * (double)b;
    double *o = ser + 3 * b * 2 * N;
    assert_int_equal(m->drift(t, N, x + b * 2 * N, o, m->params), 0);
    assert_int_equal(m->noise(t, N, x + b * 2 * N, o + 2 * N, m->params), 0);
    assert_int_equal(m->noise_dx(t, N, x + b * 2 * N, o + 4 * N, m->params), 0);
  }
  int bad = 0, nthreads = 0;
  for (int rep = 0; rep < 20; rep++) {
    memset(par, 0, 3 * NB * 2 * N * sizeof *par);
#pragma omp parallel num_threads(4) reduction(| : bad)
    {
#pragma omp single
      nthreads = omp_get_num_threads();
#pragma omp for schedule(dynamic, 1)
      for (size_t b = 0; b < NB; b++) {
        const double t = 0.01 * (double)b;
        double *o = par + 3 * b * 2 * N;
        bad |= m->drift(t, N, x + b * 2 * N, o, m->params) != 0;
        bad |= m->noise(t, N, x + b * 2 * N, o + 2 * N, m->params) != 0;
        bad |= m->noise_dx(t, N, x + b * 2 * N, o + 4 * N, m->params) != 0;
      }
    }
    assert_false(bad);
    assert_memory_equal(par, ser, 3 * NB * 2 * N * sizeof *par);
  }
  print_message("%d threads x 20 rounds: bitwise equal to serial\n", nthreads);
  free(x), free(ser), free(par);
  fpk_model_free(m);
}

/* Interpreted (the per-thread evaluators; compiled code has no such limit): a thread numbered
 * FPK_EXPR_MAX_THREADS or more gets a fatal status, the others succeed. */
static void test_thread_limit(void **state) {
  (void)state;
  fpk_expr_spec s = {.dim = 1, .drift = {"-x"}, .noise = {"1"}, .jit = FPK_EXPR_JIT_OFF};
  fpk_error err = {0};
  fpk_model *m = fpk_model_expr_alloc(&s, &err);
  assert_non_null(m);
  assert_int_equal(fpk_model_expr_jit(m, NULL), 0);
  const int nth = FPK_EXPR_MAX_THREADS + 2;
  int *rc = calloc((size_t)nth, sizeof *rc), got = 0;
  assert_non_null(rc);
#pragma omp parallel num_threads(nth)
  {
    const double x = 0.5;
    double b;
    const int tid = omp_get_thread_num();
    rc[tid] = m->drift(0.0, 1, &x, &b, m->params) == 0 && b == -0.5 ? 1 : -1;
#pragma omp single
    got = omp_get_num_threads();
  }
  for (int k = 0; k < got; k++) assert_int_equal(rc[k], k < FPK_EXPR_MAX_THREADS ? 1 : -1);
  print_message("%d threads: %d beyond the limit refused\n", got,
                got > FPK_EXPR_MAX_THREADS ? got - FPK_EXPR_MAX_THREADS : 0);
  free(rc);
  fpk_model_free(m);
}

static int mc(const fpk_model *m, int nthreads, fpk_mc_result *res) {
  const double lo = -3.0, hi = 5.0;
  const size_t n = 80;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double m0 = 0.2, v0 = 0.25, t_out[3] = {0.0, 0.5, 1.0};
  fpk_gaussian init = fpk_test_gaussian(1, &m0, &v0);
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = 20000, .dt = 0.01, .seed = 7,
                     .nthreads = nthreads};
  fpk_error err = {0};
  int rc = fpk_mc_run(m, &init, &g, t_out, 3, &p, res, &err);
  if (rc) fail_msg("fpk_mc_run: %s", err.msg);
  return rc;
}

/* The Monte Carlo engine with an expression OU model and the built-in OU, same seed: the same
 * paths up to rounding (means to 1e-12 relative), and 1 vs 2 threads bitwise identical. Also a
 * multiplicative-noise expression model, whose noise is evaluated at every path. */
static void test_monte_carlo_threads(void **state) {
  (void)state;
  const char *pn[] = {"theta", "mu", "sigma"};
  const double pv[] = {1.5, 1.2, 0.8};
  fpk_model *em = expr1("theta*mu - theta*x", "sigma", 3, pn, pv);
  const double A = 1.5, mu = 1.2, sig = 0.8;
  fpk_error err = {0};
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(ou);
  fpk_mc_result r1 = {0}, r2 = {0}, rou = {0};
  mc(em, 1, &r1);
  mc(em, 2, &r2);
  mc(ou, 2, &rou);
  double worst = 0.0;
  for (size_t k = 0; k < 3; k++) {
    assert_close_rel(r2.mean[k], rou.mean[k], 1e-12);
    assert_close_rel(r2.cov[k], rou.cov[k], 1e-12);
    worst = fmax(worst, fabs(r2.mean[k] - rou.mean[k]) / fabs(rou.mean[k]));
  }
  assert_memory_equal(r1.mean, r2.mean, 3 * sizeof(double));
  assert_memory_equal(r1.cov, r2.cov, 3 * sizeof(double));
  assert_memory_equal(r1.density, r2.density, 3 * 80 * sizeof(double));
  print_message("MC expression OU vs built-in OU: max rel mean diff %.2e; 1 vs 2 threads "
                "bitwise equal\n",
                worst);
  fpk_mc_result_free(&r1), fpk_mc_result_free(&r2), fpk_mc_result_free(&rou);
  fpk_model_free(em);
  fpk_model_free(ou);

  fpk_model *mult = expr1("1 - x", "0.3*(1 + 0.5*sin(x))", 0, NULL, NULL);
  assert_false(mult->flags & FPK_MODEL_ADDITIVE);
  mc(mult, 1, &r1);
  mc(mult, 2, &r2);
  assert_memory_equal(r1.mean, r2.mean, 3 * sizeof(double));
  assert_memory_equal(r1.density, r2.density, 3 * 80 * sizeof(double));
  fpk_mc_result_free(&r1), fpk_mc_result_free(&r2);
  fpk_model_free(mult);
}

/* ==== [parameters] ========================================================================== */

static void test_section_keys(void **state) {
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/fpk_expr_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text = "[model]\ntype = expr\n[parameters]\ntheta = 1.5\nmu = -2\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  fpk_error err = {0};
  fpk_config *c = fpk_config_load(path, &err);
  unlink(path);
  assert_non_null(c);
  assert_int_equal(fpk_config_set(c, "parameters.sigma=0.5", &err), FPK_SUCCESS);
  const char *keys[2];
  assert_int_equal(fpk_config_section_keys(c, "parameters", keys, 2), 3);
  assert_string_equal(keys[0], "theta");
  assert_string_equal(keys[1], "mu");
  assert_int_equal(fpk_config_section_keys(c, "nothing", keys, 2), 0);
  const char *type = NULL;
  assert_int_equal(fpk_config_string(c, "model", "type", 1, &type, &err), FPK_SUCCESS);
  assert_int_equal(fpk_config_check_unused(c, &err), FPK_SUCCESS);
  const char *res = fpk_config_resolved(c);
  assert_non_null(strstr(res, "[parameters]\ntheta = 1.5\nmu = -2\nsigma = 0.5\n"));
  fpk_config_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields_equal_formulas),
      cmocka_unit_test(test_symbolic_derivative),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_nonfinite_is_not_an_error),
      cmocka_unit_test(test_parse_error_column),
      cmocka_unit_test(test_unknown_symbol),
      cmocka_unit_test(test_parameter_names),
      cmocka_unit_test(test_parallel_evaluation),
      cmocka_unit_test(test_thread_limit),
      cmocka_unit_test(test_monte_carlo_threads),
      cmocka_unit_test(test_section_keys),
  };
  /* Twice: interpreted by libmatheval (FPK_EXPR_JIT=off, which the models' default jit = auto
   * obeys), then as the models are made by default (compiled by libgccjit when the build has it;
   * tests/test_expr_jit.c compares the two bitwise). */
  setenv("FPK_EXPR_JIT", "off", 1);
  int rc = cmocka_run_group_tests_name("expression models, interpreted", tests, NULL, NULL);
  unsetenv("FPK_EXPR_JIT");
  rc |= cmocka_run_group_tests_name("expression models, default (compiled when available)", tests,
                                    NULL, NULL);
  return rc;
}
