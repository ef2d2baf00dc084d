/* Fuzz target: expression models (src/models/expr.c): libmatheval's parser behind fpkit's checks
 * (stray characters, the error column, known symbols, parameter names), the symbolic derivative
 * ∂σ/∂x, the canonical strings and the evaluation callbacks.
 *
 * Input: lines. A line "name = number" (an identifier, '=', a number strtod reads whole) is a
 * parameter (at most FPK_EXPR_MAX_PARAMS); every other line is an expression, in the order drift,
 * noise (1D) or drift_x, noise_x, drift_y, noise_y (2D, when four or more are given); a missing
 * noise is "1", a missing drift "0". A NUL byte ends its line's text.
 *
 * Checked, besides the sanitizers: every failure returns a status that is also in err, with a
 * non-empty message; fpk_expr_check accepts exactly the expressions that fpk_model_expr_alloc
 * accepts (with the same parameters); a model's strings exist for every component; the
 * callbacks return 0.
 */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/model.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 8

/* "name = number": the name and the value; 0 when the line is not of that form. */
static int parameter_line(char *line, char **name, double *value) {
  char *eq = strchr(line, '=');
  if (!eq) return 0;
  char *a = line, *b = eq;
  while (*a == ' ' || *a == '\t') a++;
  while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
  if (b == a || !(isalpha((unsigned char)*a) || *a == '_')) return 0;
  for (char *p = a; p < b; p++)
    if (!isalnum((unsigned char)*p) && *p != '_') return 0;
  char *end;
  double v = strtod(eq + 1, &end);
  if (end == eq + 1) return 0;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return 0;
  *b = '\0';
  *name = a;
  *value = v;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  FUZZ_CHECK(text != NULL, "out of memory");
  memcpy(text, data, size);
  text[size] = '\0';

  const char *names[FPK_EXPR_MAX_PARAMS];
  double values[FPK_EXPR_MAX_PARAMS];
  const char *exprs[MAX_LINES];
  size_t np = 0, ne = 0;
  for (size_t i = 0; i < size;) {
    char *line = text + i;
    char *nl = memchr(line, '\n', size - i);
    size_t end = nl ? (size_t)(nl - text) : size;
    text[end] = '\0'; /* the line (or less: a NUL inside it ends it) */
    i = end + 1;
    char *name;
    double v;
    if (parameter_line(line, &name, &v)) {
      if (np < FPK_EXPR_MAX_PARAMS) names[np] = name, values[np++] = v;
    } else if (ne < MAX_LINES) {
      exprs[ne++] = line;
    }
  }
  const size_t dim = ne >= 4 ? 2 : 1;
  fpk_expr_spec spec = {.dim = dim, .nparams = np, .param_names = names, .param_values = values};
  for (size_t c = 0; c < dim; c++) {
    spec.drift[c] = 2 * c < ne ? exprs[2 * c] : "0";
    spec.noise[c] = 2 * c + 1 < ne ? exprs[2 * c + 1] : "1";
  }

  /* What the configuration reader checks first, one by one. */
  fpk_error err = {0};
  int names_ok = 1, exprs_ok = 1;
  for (size_t i = 0; i < np; i++) {
    int rc = fpk_expr_check_name(names[i], &err);
    fuzz_check_status(rc, &err, "fpk_expr_check_name");
    names_ok &= !rc && isfinite(values[i]);
    for (size_t j = 0; j < i; j++) names_ok &= strcmp(names[i], names[j]) != 0;
  }
  for (size_t c = 0; c < dim; c++)
    for (int w = 0; w < 2; w++) {
      int rc = fpk_expr_check(w ? spec.noise[c] : spec.drift[c], dim, np, names, &err);
      fuzz_check_status(rc, &err, "fpk_expr_check");
      exprs_ok &= !rc;
    }

  fpk_model *m = fpk_model_expr_alloc(&spec, &err);
  fuzz_check_null(m, &err, "fpk_model_expr_alloc");
  if (!m) {
    FUZZ_CHECK(err.status == FPK_ENOMEM || !(names_ok && exprs_ok),
               "every check passed but the model failed: %s", err.msg);
  } else {
    FUZZ_CHECK(names_ok && exprs_ok, "a check failed but the model was made");
    FUZZ_CHECK(m->dim == dim, "model dim %zu", m->dim);
    for (size_t c = 0; c < dim; c++) {
      FUZZ_CHECK(fpk_model_expr_string(m, FPK_EXPR_DRIFT, c) != NULL, "no drift string");
      FUZZ_CHECK(fpk_model_expr_string(m, FPK_EXPR_NOISE, c) != NULL, "no noise string");
      FUZZ_CHECK((fpk_model_expr_string(m, FPK_EXPR_NOISE_DX, c) != NULL) == (m->noise_dx != NULL),
                 "noise_dx string and callback disagree");
      FUZZ_CHECK(strcmp(fpk_model_expr_string(m, FPK_EXPR_DRIFT_SOURCE, c), spec.drift[c]) == 0,
                 "drift source changed");
      FUZZ_CHECK(strcmp(fpk_model_expr_string(m, FPK_EXPR_NOISE_SOURCE, c), spec.noise[c]) == 0,
                 "noise source changed");
    }
    FUZZ_CHECK(fpk_model_expr_string(m, 99, 0) == NULL, "unknown string");
    /* A few points, component-major, at two times; extreme values included. */
    static const double pts[] = {0.0, -1.5, 0.5, 3.0, -1e300, 1e-310, 7.0};
    enum { N = sizeof pts / sizeof pts[0] };
    double x[FPK_MAX_DIM * N], out[FPK_MAX_DIM * N];
    for (size_t c = 0; c < dim; c++)
      for (size_t i = 0; i < N; i++) x[c * N + i] = pts[(i + 3 * c) % N];
    for (int k = 0; k < 2; k++) {
      const double t = k ? 1.0 : 0.0;
      FUZZ_CHECK(m->drift(t, N, x, out, m->params) == 0, "drift callback failed");
      FUZZ_CHECK(m->noise(t, N, x, out, m->params) == 0, "noise callback failed");
      if (m->noise_dx)
        FUZZ_CHECK(m->noise_dx(t, N, x, out, m->params) == 0, "noise_dx callback failed");
    }
    fpk_model_free(m);
  }
  free(text);
  return 0;
}
