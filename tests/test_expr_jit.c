/* Tests of expression models compiled by libgccjit (src/models/expr_jit.c): the compiled drift,
 * noise and symbolic ∂σ/∂x give the interpreter's (libmatheval's) numbers bit for bit — every
 * function, operator and constant libmatheval knows, literals with more digits than its string
 * form prints, 1D to 3D, at many points and times —, whole Monte Carlo runs (Euler–Maruyama and
 * Milstein) are bitwise those of the interpreted model and bitwise the same on 1 and 2 threads,
 * and the fallbacks work: jit = off and FPK_EXPR_JIT=off interpret, a failed compilation falls
 * back with its reason (AUTO) or fails the allocation (ON). In a build without libgccjit
 * (FPK_JIT=OFF) the comparisons are skipped, saying so, and the fallback tests still run. */
#include "fpk_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "app/app.h"
#include "fpkit/config.h"
#include "fpkit/sde.h"
#include "models/expr_jit.h"

static fpk_model *alloc_spec(fpk_expr_spec s, int jit) {
  s.jit = jit;
  fpk_error err = {0};
  fpk_model *m = fpk_model_expr_alloc(&s, &err);
  if (!m) fail_msg("fpk_model_expr_alloc(%s, %s, jit %d): %s", s.drift[0], s.noise[0], jit, err.msg);
  return m;
}

/* Bitwise equality, a NaN matching any NaN (both paths call the same functions, so even the NaN
 * bits agree in practice; the check at alloc makes the same allowance). */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

enum { NP = 1200 };

/* Points: a grid over [-6, 6] that hits 0, ±1, ±0.5, then special values (±0, ±inf, NaN, huge,
 * tiny). Axis a gets a rotation of the list so that 2D/3D points mix values. */
static void points(size_t dim, double *x) {
  static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e300, -1e300, 1e-300,
                                   -1e-300, 0.999999, 1.000001, 700.0, -745.0, 1e-8};
  const size_t ns = sizeof special / sizeof special[0];
  double base[NP];
  for (size_t i = 0; i < NP - ns; i++) base[i] = -6.0 + 12.0 * (double)i / (double)(NP - ns - 1);
  for (size_t i = 0; i < ns; i++) base[NP - ns + i] = special[i];
  for (size_t a = 0; a < dim; a++)
    for (size_t i = 0; i < NP; i++) x[a * NP + i] = base[(i + 37 * a) % NP];
}

/* The model from s compiled and interpreted: drift, noise and (when present) noise_dx at NP
 * points and 3 times, bitwise. Returns the number of values compared. */
static size_t compare(fpk_expr_spec s) {
  fpk_model *mj = alloc_spec(s, FPK_EXPR_JIT_ON);
  fpk_model *mi = alloc_spec(s, FPK_EXPR_JIT_OFF);
  assert_int_equal(fpk_model_expr_jit(mj, NULL), 1);
  assert_int_equal(fpk_model_expr_jit(mi, NULL), 0);
  assert_int_equal(mj->flags, mi->flags);
  assert_true((mj->noise_dx == NULL) == (mi->noise_dx == NULL));
  const size_t d = s.dim;
  double *x = malloc(d * NP * sizeof *x), *a = malloc(d * NP * sizeof *a),
         *b = malloc(d * NP * sizeof *b);
  assert_true(x && a && b);
  points(d, x);
  size_t compared = 0;
  static const double times[3] = {0.0, 0.37, 2.5};
  for (size_t k = 0; k < 3; k++)
    for (int w = 0; w < 3; w++) {
      fpk_field_fn fj = w == 0 ? mj->drift : w == 1 ? mj->noise : mj->noise_dx;
      fpk_field_fn fi = w == 0 ? mi->drift : w == 1 ? mi->noise : mi->noise_dx;
      if (!fj) continue;
      assert_int_equal(fj(times[k], NP, x, a, mj->params), 0);
      assert_int_equal(fi(times[k], NP, x, b, mi->params), 0);
      for (size_t j = 0; j < d * NP; j++) {
        if (!same(a[j], b[j]))
          fail_msg("%s: %s of component %zu at t = %g, x = %g: compiled %a, interpreted %a",
                   s.drift[0], w == 0 ? "drift" : w == 1 ? "noise" : "noise_dx", j / NP,
                   times[k], x[j], a[j], b[j]);
        compared++;
      }
    }
  free(x), free(a), free(b);
  fpk_model_free(mj);
  fpk_model_free(mi);
  return compared;
}

static int have_jit(void) {
  if (expr_jit_available()) return 1;
  print_message("this build has no libgccjit (FPK_JIT=OFF): comparison skipped\n");
  return 0;
}

/* Every function of libmatheval, as drift f(x) and as noise f(a*x + c) (whose symbolic
 * derivative is compiled too). */
static void test_every_function(void **state) {
  (void)state;
  if (!have_jit()) return;
  static const char *const fn[] = {
      "exp",  "log",  "sqrt", "sin",   "cos",   "tan",   "cot",   "sec",   "csc",   "asin",
      "acos", "atan", "acot", "asec",  "acsc",  "sinh",  "cosh",  "tanh",  "coth",  "sech",
      "csch", "asinh", "acosh", "atanh", "acoth", "asech", "acsch", "abs", "step", "delta",
      "nandelta", "erf"};
  const char *pn[] = {"a", "c"};
  const double pv[] = {0.7, -0.2};
  size_t total = 0;
  for (size_t k = 0; k < sizeof fn / sizeof fn[0]; k++) {
    char drift[64], noise[64];
    snprintf(drift, sizeof drift, "%s(x)", fn[k]);
    snprintf(noise, sizeof noise, "%s(a*x + c)", fn[k]);
    fpk_expr_spec s = {.dim = 1, .drift = {drift}, .noise = {noise}, .nparams = 2,
                       .param_names = pn, .param_values = pv};
    total += compare(s);
  }
  print_message("%zu functions: %zu values, compiled == interpreted bitwise\n",
                sizeof fn / sizeof fn[0], total);
}

/* Operators (+ − * / ^, unary minus, left-associative ^, negative exponents), every named
 * constant, t, parameters, literals beyond the 6 digits of libmatheval's string form, constants
 * its simplifier folds, and derivatives of products, quotients and powers. */
static void test_operators_constants(void **state) {
  (void)state;
  if (!have_jit()) return;
  static const char *const ex[][2] = {
      {"x + 1 - 2*x/3", "1 + x^2"},
      {"-x^3 + x^2 - x", "sqrt(1 + x^2)"},
      {"2^3^2*x - -x", "x^-2 + 0.5"},
      {"x^0.5 + x^t", "(1 + x^2)^(t + 0.25)"},
      {"0.123456789*x + 1.000000001e-7*x^3", "0.987654321 + 1e-13*x^2"},
      {"0.3*0.7*x + 0.1*0.2", "0.1*3*x"},
      {"e*x + pi + log2e + log10e + ln2 + ln10", "pi_2 + pi_4*x^2 + 1_pi"},
      {"2_pi*x - 2_sqrtpi + sqrt2*t - sqrt1_2", "sqrt2*x*exp(-t)"},
      {"a*x/(b + x^2) - t*c", "a*x/(b + x^2)"},
      {"(x - a)*(x + b)/(1 + t)", "b*x*sin(x)*exp(-a*x^2)"},
      {"-(x + t)*(-a)", "-(b*x)"},
      {"x/0", "0*x + log(x)"},
  };
  const char *pn[] = {"a", "b", "c"};
  const double pv[] = {1.25, 0.3, -2.0 / 3.0};
  size_t total = 0;
  for (size_t k = 0; k < sizeof ex / sizeof ex[0]; k++) {
    fpk_expr_spec s = {.dim = 1, .drift = {ex[k][0]}, .noise = {ex[k][1]}, .nparams = 3,
                       .param_names = pn, .param_values = pv};
    total += compare(s);
  }
  /* a literal the string form cannot carry: the compiled code has the full double */
  fpk_expr_spec s = {.dim = 1, .drift = {"0.123456789*x"}, .noise = {"1"}};
  fpk_model *m = alloc_spec(s, FPK_EXPR_JIT_ON);
  assert_string_equal(fpk_model_expr_string(m, FPK_EXPR_DRIFT, 0), "(0.123457*x)");
  const double x = 1.0;
  double b;
  assert_int_equal(m->drift(0.0, 1, &x, &b, m->params), 0);
  assert_true(b == 0.123456789);
  fpk_model_free(m);
  print_message("%zu expression pairs: %zu values, compiled == interpreted bitwise\n",
                sizeof ex / sizeof ex[0], total);
}

/* 2D and 3D: every coordinate read before any result is written, component-major blocks. */
static void test_dimensions(void **state) {
  (void)state;
  if (!have_jit()) return;
  const char *pn[] = {"k"};
  const double pv[] = {0.6};
  fpk_expr_spec s2 = {.dim = 2, .drift = {"-x + y*cos(t)", "-x*y - k*y"},
                      .noise = {"k*(1 + 0.5*sin(x))", "exp(-y^2)"}, .nparams = 1,
                      .param_names = pn, .param_values = pv};
  fpk_expr_spec s3 = {.dim = 3, .drift = {"y - x", "x*(k - z) - y", "x*y - k*z"},
                      .noise = {"k*x", "sqrt(1 + y^2)", "1 + t*z^2"}, .nparams = 1,
                      .param_names = pn, .param_values = pv};
  fpk_expr_spec s2a = {.dim = 2, .drift = {"-x", "-y + x"}, .noise = {"k", "k*(1 + t)"},
                       .nparams = 1, .param_names = pn, .param_values = pv};
  const size_t total = compare(s2) + compare(s3) + compare(s2a);
  print_message("2D, 3D and additive 2D: %zu values, compiled == interpreted bitwise\n", total);
}

/* FPK_TEST_QUICK=1 (sanitizer builds): fewer paths; bitwise comparisons need no tolerance. */
static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && q[0] == '1';
}

static void mc(const fpk_model *m, const fpk_sde_stepper_type *st, double m0, int nthreads,
               fpk_mc_result *res) {
  const double lo = -3.0, hi = 5.0;
  const size_t n = 80;
  fpk_grid g = fpk_test_grid(1, &n, &lo, &hi);
  const double v0 = 0.25, t_out[3] = {0.0, 0.5, 1.0};
  fpk_gaussian init = fpk_test_gaussian(1, &m0, &v0);
  fpk_mc_params p = {.stepper = st, .npaths = quick() ? 2000 : 20000, .dt = 0.01,
                     .seed = 11, .nthreads = nthreads};
  fpk_error err = {0};
  if (fpk_mc_run(m, &init, &g, t_out, 3, &p, res, &err)) fail_msg("fpk_mc_run: %s", err.msg);
}

static void assert_same_result(const fpk_mc_result *a, const fpk_mc_result *b) {
  assert_memory_equal(a->mean, b->mean, 3 * sizeof(double));
  assert_memory_equal(a->cov, b->cov, 3 * sizeof(double));
  assert_memory_equal(a->density, b->density, 3 * 80 * sizeof(double));
}

/* fpk_mc_run: compiled vs interpreted, EM on an OU-like model and Milstein on a GBM-like and a
 * nonlinear-noise model; compiled on 1 and 2 threads. All bitwise. */
static void test_monte_carlo(void **state) {
  (void)state;
  if (!have_jit()) return;
  const char *pn[] = {"theta", "mu", "sigma", "m", "s"};
  const double pv[] = {1.5, 1.2, 0.8, 0.05, 0.2};
  static const struct {
    const char *drift, *noise;
    int milstein;
    double m0;
  } cases[] = {{"-theta*(x - mu)", "sigma", 0, 0.2},
               {"m*x", "s*x", 1, 1.0},
               {"theta*(mu - x) + sin(x)", "s*sqrt(1 + x^2)", 1, 0.2},
               {"-x^3 + x", "0.5*exp(-x^2/8)", 0, 0.2}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    fpk_expr_spec s = {.dim = 1, .drift = {cases[k].drift}, .noise = {cases[k].noise},
                       .nparams = 5, .param_names = pn, .param_values = pv};
    fpk_model *mj = alloc_spec(s, FPK_EXPR_JIT_ON), *mi = alloc_spec(s, FPK_EXPR_JIT_OFF);
    const fpk_sde_stepper_type *st =
        cases[k].milstein ? fpk_sde_milstein : fpk_sde_euler_maruyama;
    fpk_mc_result rj1 = {0}, rj2 = {0}, ri = {0};
    mc(mj, st, cases[k].m0, 1, &rj1);
    mc(mj, st, cases[k].m0, 2, &rj2);
    mc(mi, st, cases[k].m0, 2, &ri);
    assert_same_result(&rj1, &ri);
    assert_same_result(&rj1, &rj2);
    print_message("%s %s / %s: compiled == interpreted, 1 == 2 threads, bitwise (mean %.6f)\n",
                  cases[k].milstein ? "Milstein" : "EM", cases[k].drift, cases[k].noise,
                  rj1.mean[2]);
    fpk_mc_result_free(&rj1), fpk_mc_result_free(&rj2), fpk_mc_result_free(&ri);
    fpk_model_free(mj), fpk_model_free(mi);
  }
}

/* jit = off, FPK_EXPR_JIT, an injected compilation failure, and a model that is no expression. */
static void test_fallback(void **state) {
  (void)state;
  fpk_expr_spec s = {.dim = 1, .drift = {"-x"}, .noise = {"1 + x^2"}};
  const char *info = NULL;
  fpk_model *m = alloc_spec(s, FPK_EXPR_JIT_OFF);
  assert_int_equal(fpk_model_expr_jit(m, &info), 0);
  assert_string_equal(info, "interpreted (libmatheval): jit = off");
  fpk_model_free(m);

  /* AUTO: compiled when the build can; the environment variable overrides AUTO only */
  m = alloc_spec(s, FPK_EXPR_JIT_AUTO);
  assert_int_equal(fpk_model_expr_jit(m, &info), expr_jit_available());
  print_message("auto: %s\n", info);
  fpk_model_free(m);
  setenv("FPK_EXPR_JIT", "off", 1);
  m = alloc_spec(s, FPK_EXPR_JIT_AUTO);
  assert_int_equal(fpk_model_expr_jit(m, NULL), 0);
  fpk_model_free(m);
  fpk_error err = {0};
  s.jit = FPK_EXPR_JIT_ON;
  m = fpk_model_expr_alloc(&s, &err); /* ON is not overridden */
  if (expr_jit_available()) {
    assert_non_null(m);
    assert_int_equal(fpk_model_expr_jit(m, NULL), 1);
  } else {
    assert_null(m);
  }
  fpk_model_free(m);
  s.jit = FPK_EXPR_JIT_AUTO;
  setenv("FPK_EXPR_JIT", "fast", 1);
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_non_null(strstr(err.msg, "FPK_EXPR_JIT = \"fast\" (auto, on or off)"));
  unsetenv("FPK_EXPR_JIT");
  s.jit = 7;
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_int_equal(err.status, FPK_EINVAL);
  s.jit = FPK_EXPR_JIT_AUTO;

  /* a compilation that fails: AUTO interprets and says why, ON fails with the reason */
  expr_jit_test_fail = 1;
  m = alloc_spec(s, FPK_EXPR_JIT_AUTO);
  assert_int_equal(fpk_model_expr_jit(m, &info), 0);
  assert_non_null(strstr(info, expr_jit_available() ? "interpreted (libmatheval): libgccjit failed"
                                                    : "interpreted (libmatheval): this build"));
  print_message("failed compilation: %s\n", info);
  const double x = 2.0;
  double out;
  assert_int_equal(m->noise(0.0, 1, &x, &out, m->params), 0);
  assert_true(out == 5.0);
  assert_int_equal(m->noise_dx(0.0, 1, &x, &out, m->params), 0);
  assert_true(out == 4.0);
  fpk_model_free(m);
  s.jit = FPK_EXPR_JIT_ON;
  assert_null(fpk_model_expr_alloc(&s, &err));
  assert_int_equal(err.status, FPK_EUNSUP);
  assert_non_null(strstr(err.msg, "model expr: jit = on, but cannot compile: "));
  print_message("jit = on: %s\n", err.msg);
  expr_jit_test_fail = 0;

  /* no assembler in PATH: libgccjit's driver would exit() the process; the model falls back */
  if (expr_jit_available()) {
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;
    setenv("PATH", "/nonexistent-fpkit-test", 1);
    m = alloc_spec(s, FPK_EXPR_JIT_AUTO);
    if (saved) setenv("PATH", saved, 1);
    else unsetenv("PATH");
    free(saved);
    assert_int_equal(fpk_model_expr_jit(m, &info), 0);
    assert_non_null(strstr(info, "assembler 'as' (binutils) in PATH"));
    print_message("no assembler: %s\n", info);
    fpk_model_free(m);
  }

  const double A = 1.0, mu = 0.0, sig = 1.0;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_int_equal(fpk_model_expr_jit(ou, &info), -1);
  assert_int_equal(fpk_model_expr_jit(NULL, NULL), -1);
  fpk_model_free(ou);
}

/* [model] jit through the configuration reader (src/app/model_config.c): off interprets, on
 * compiles (or fails without libgccjit), anything else is refused with the choices. */
static void test_config_key(void **state) {
  (void)state;
  static const char *const value[] = {"off", "on", "auto", "maybe"};
  for (int k = 0; k < 4; k++) {
    char path[64], text[256];
    snprintf(path, sizeof path, "/tmp/fpk_expr_jit_XXXXXX");
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    const int len = snprintf(text, sizeof text,
                             "[model]\ntype = expr\ndim = 1\ndrift = -theta*x\nnoise = s*x\n"
                             "jit = %s\n[parameters]\ntheta = 1.5\ns = 0.3\n",
                             value[k]);
    assert_int_equal(write(fd, text, (size_t)len), len);
    close(fd);
    fpk_error err = {0};
    fpk_config *c = fpk_config_load(path, &err);
    unlink(path);
    assert_non_null(c);
    size_t dim = 0;
    fpk_model *m = NULL;
    const int rc = fpk_app_read_model(c, &dim, &m, &err);
    if (k == 3) {
      assert_int_equal(rc, FPK_EINVAL);
      assert_non_null(strstr(err.msg, "[model] jit = 'maybe': expected one of auto, on, off"));
    } else if (k == 1 && !expr_jit_available()) {
      assert_int_equal(rc, FPK_EUNSUP);
    } else {
      assert_int_equal(rc, FPK_SUCCESS);
      assert_int_equal(fpk_model_expr_jit(m, NULL), k == 0 ? 0 : expr_jit_available());
    }
    fpk_model_free(m);
    fpk_config_free(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_function),
      cmocka_unit_test(test_operators_constants),
      cmocka_unit_test(test_dimensions),
      cmocka_unit_test(test_monte_carlo),
      cmocka_unit_test(test_fallback),
      cmocka_unit_test(test_config_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
