/* Fuzz target: the strict INI reader (src/core/config.c) with --set overrides, read through the
 * real [model] reader (src/app/model_config.c, which reaches the expression models of
 * src/models/expr.c) and the typed getters over the keys of docs/config.md, then
 * fpk_config_check_unused and fpk_config_resolved.
 *
 * Input: INI text, then optionally --set lines. The first line that starts with "--set " and
 * every line after it are assignments (the "--set " prefix is optional on the lines after the
 * first; at most 8 are applied, each cut at its first NUL byte as a command-line word would be;
 * a backslash at the end of a line puts a newline into the word and continues it).
 *
 * Checked, besides the sanitizers (no crash, leak or undefined behaviour):
 * - every failure returns a status that is also in err, with a non-empty message;
 * - when everything was read and no key is left unused, the resolved configuration (the text
 *   fpkit stores in every output file) parses again and resolves to the same text, i.e. it says
 *   the same thing as the input it came from.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "fpkit/config.h"
#include "fpkit/model.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum kind { STRING, BOOL, DOUBLE, SIZE, U64, DOUBLES, LIST, CHOICE };

typedef struct key {
  const char *section, *key;
  enum kind kind;
  double min, max; /* DOUBLE: range (open at min when open), SIZE: range */
  int open;
  size_t n;        /* DOUBLES: count (0: the model's dimension), LIST: the most values */
  const char *const *choices;
} key;

static const char *const init_types[] = {"gaussian", "point", NULL};
static const char *const fv_schemes[] = {"explicit-euler", "implicit-euler", "crank-nicolson",
                                         "tr-bdf2", NULL};
static const char *const sp_schemes[] = {"etdrk4", "sbdf2", NULL};
static const char *const planners[] = {"estimate", "measure", "patient", NULL};
static const char *const steppers[] = {"euler-maruyama", "milstein", "sra1", "tamed-euler",
                                       "exact-ou", "baoab", "obabo", NULL};
static const char *const references[] = {"auto", "exact", "level", "finest", NULL};
static const char *const fits[] = {"plain", "corrected", NULL};
static const char *const kernels[] = {"auto", "fft", "blas", "lse", NULL};
static const char *const costs[] = {"sqeuclid", "half", NULL};
static const char *const potentials[] = {"none", "last", "all", NULL};
static const char *const marginals[] = {"gaussian", "mixture", "hdf5", NULL};
static const char *const discretize[] = {"points", "cells", NULL};
static const char *const values[] = {"density", "probability", NULL};

#define D(s, k, lo, op, hi) {s, k, DOUBLE, lo, hi, op, 0, NULL}
#define Z(s, k, lo, hi) {s, k, SIZE, lo, hi, 0, 0, NULL}
#define V(s, k, n) {s, k, DOUBLES, 0, 0, 0, n, NULL}
#define L(s, k, n) {s, k, LIST, 0, 0, 0, n, NULL}
#define C(s, k, c) {s, k, CHOICE, 0, 0, 0, 0, c}
#define B(s, k) {s, k, BOOL, 0, 0, 0, 0, NULL}
#define S(s, k) {s, k, STRING, 0, 0, 0, 0, NULL}
#define U(s, k) {s, k, U64, 0, 0, 0, 0, NULL}

/* The keys of every command (docs/config.md) other than [model] and [parameters], with the
 * getter each is read with; n = 0 in a DOUBLES entry is the model's dimension, SQ its square. */
#define SQ ((size_t)-1)
static const key schema[] = {
    V("grid", "lo", 0), V("grid", "hi", 0), V("grid", "n", 0), S("grid", "bc"),
    Z("grid", "dim", 1, 2),
    C("init", "type", init_types), V("init", "mean", 0), V("init", "std", 0),
    V("init", "x0", 0), V("init", "cov", SQ), D("init", "width", 0, 1, INFINITY),
    L("time", "times", 1024), D("time", "t_end", 0, 1, INFINITY), Z("time", "n_out", 2, 1024),
    B("fp", "enabled"), S("fp", "method"), C("fp", "scheme", fv_schemes),
    D("fp", "dt", 0, 1, INFINITY),
    C("spectral", "scheme", sp_schemes), D("spectral", "dt", 0, 1, INFINITY),
    B("spectral", "dealias"), C("spectral", "planner", planners), S("spectral", "wisdom"),
    Z("spectral", "contour_points", 1, 4096),
    B("stationary", "enabled"), B("stationary", "gap"),
    B("mc", "enabled"), C("mc", "stepper", steppers), Z("mc", "paths", 2, (double)(1ull << 40)),
    D("mc", "dt", 0, 1, INFINITY), U("mc", "seed"), Z("mc", "keep_paths", 0, 1e6),
    B("mc", "bridge_correction"),
    B("exact", "enabled"),
    D("guard", "mass_tol", 0, 0, 1), D("guard", "negative_tol", 0, 0, 1),
    S("output", "file"),
    L("converge", "steps", 64), L("converge", "dt", 64), C("converge", "stepper", steppers),
    C("converge", "reference", references), Z("converge", "reference_steps", 1, 1e12),
    C("converge", "reference_stepper", steppers), Z("converge", "paths", 2, 1e9),
    U("converge", "seed"), B("converge", "strong"), S("converge", "weak"),
    C("converge", "fit", fits), D("converge", "level", 0.5, 0, 0.9999),
    D("converge", "max_halfwidth", 0, 1, INFINITY), D("converge", "expect_strong", -INFINITY, 0,
                                                       INFINITY),
    D("converge", "expect_weak", -INFINITY, 0, INFINITY),
    U("random", "seed"),
    B("bridge", "enabled"), D("bridge", "a", -INFINITY, 0, INFINITY),
    D("bridge", "b", -INFINITY, 0, INFINITY), D("bridge", "T", 0, 1, INFINITY),
    D("bridge", "sigma", 0, 1, INFINITY), Z("bridge", "steps", 2, 1000),
    Z("bridge", "paths", 2, 1e9), Z("bridge", "keep_paths", 0, 100), B("bridge", "em"),
    B("kolmogorov", "enabled"), Z("kolmogorov", "paths", 2, 1e9),
    Z("kolmogorov", "steps", 2, 131072), L("kolmogorov", "ladder", 15),
    L("kolmogorov", "quantiles", 16),
    B("ks_band", "enabled"), Z("ks_band", "n", 1, 1e6), L("ks_band", "ladder", 15),
    Z("ks_band", "repetitions", 2, 1e9), D("ks_band", "alpha", 0, 1, 1),
    Z("ks_band", "keep_paths", 0, 20),
    L("ot", "eps", 64), D("ot", "tol", 0, 1, 1), Z("ot", "max_iter", 1, 1e12),
    Z("ot", "check_every", 1, 1e12), D("ot", "eps_start", 0, 0, INFINITY),
    D("ot", "eps_factor", 0, 1, 1), D("ot", "stage_tol", 0, 0, 1), D("ot", "omega", 0, 0, 2),
    C("ot", "kernel", kernels), B("ot", "normalize"), C("ot", "cost", costs),
    B("ot", "divergence"), B("ot", "plan"), C("ot", "potentials", potentials), B("ot", "exact"),
    C("source", "type", marginals), V("source", "mean", 0), V("source", "std", 0),
    V("source", "cov", SQ),
    L("source", "weights", 16), L("source", "means", 32), L("source", "stds", 32),
    L("source", "covs", 64), C("source", "discretize", discretize), S("source", "file"),
    S("source", "dataset"), S("source", "time"), C("source", "values", values),
    B("source", "clip_negative"),
    C("target", "type", marginals), V("target", "mean", 0), V("target", "std", 0),
    L("target", "weights", 16), L("target", "means", 32), L("target", "stds", 32),
    L("target", "covs", 64), V("target", "cov", SQ), C("target", "discretize", discretize),
    C("target", "values", values), S("target", "file"), S("target", "dataset"),
    S("target", "time"), B("target", "clip_negative"),
};

/* Reads one key of the schema; returns the getter's status (checked). */
static int read_key(fpk_config *c, const key *k, size_t dim, fpk_error *err) {
  int rc = 0;
  switch (k->kind) {
    case STRING: {
      const char *s = "default";
      rc = fpk_config_string(c, k->section, k->key, 0, &s, err);
      FUZZ_CHECK(s != NULL, "[%s] %s: NULL string", k->section, k->key);
      break;
    }
    case BOOL: {
      int b = 1;
      rc = fpk_config_bool(c, k->section, k->key, 0, &b, err);
      break;
    }
    case DOUBLE: {
      double v = k->min > 0 && isfinite(k->min) ? 2 * k->min : 0.5;
      rc = fpk_config_double(c, k->section, k->key, 0, k->min, k->open, k->max, &v, err);
      if (!rc) FUZZ_CHECK(isfinite(v), "[%s] %s = %g", k->section, k->key, v);
      break;
    }
    case SIZE: {
      size_t v = (size_t)k->min;
      rc = fpk_config_size(c, k->section, k->key, 0, (size_t)k->min, (size_t)k->max, &v, err);
      if (!rc)
        FUZZ_CHECK(v >= (size_t)k->min && v <= (size_t)k->max, "[%s] %s = %zu", k->section,
                   k->key, v);
      break;
    }
    case U64: {
      uint64_t v = 1;
      rc = fpk_config_u64(c, k->section, k->key, 0, &v, err);
      break;
    }
    case DOUBLES: {
      const size_t n = k->n == SQ ? dim * dim : k->n ? k->n : dim;
      double v[FPK_MAX_DIM * FPK_MAX_DIM] = {0};
      rc = fpk_config_doubles(c, k->section, k->key, 0, n, 1, v, err);
      for (size_t i = 0; !rc && i < n; i++)
        FUZZ_CHECK(isfinite(v[i]), "[%s] %s[%zu] = %g", k->section, k->key, i, v[i]);
      break;
    }
    case LIST: {
      double v[1024];
      size_t n = 1;
      v[0] = 1.0;
      rc = fpk_config_double_list(c, k->section, k->key, 0, k->n, v, &n, err);
      if (!rc) FUZZ_CHECK(n >= 1 && n <= k->n, "[%s] %s: %zu values", k->section, k->key, n);
      break;
    }
    case CHOICE: {
      size_t i = 0;
      rc = fpk_config_choice(c, k->section, k->key, 0, k->choices, &i, err);
      if (!rc) FUZZ_CHECK(k->choices[i] != NULL, "[%s] %s: index %zu", k->section, k->key, i);
      break;
    }
  }
  fuzz_check_status(rc, err, k->key);
  return rc;
}

/* Evaluates the model's callbacks at a few points (n = 3, component-major): the drift, the
 * noise as a matrix (any model: a diagonal model's noise, or a noise matrix, whose `noise` is
 * NULL), D = ½σσᵀ, and σ' when there is one. */
static void touch_model(const fpk_model *m) {
  double x[3 * FPK_MAX_DIM], out[3 * FPK_MAX_DIM * FPK_MAX_NOISE];
  double D[3 * FPK_MAX_DIM * FPK_MAX_DIM], work[3 * FPK_MAX_DIM * FPK_MAX_NOISE];
  fpk_error err = {0};
  static const double pts[3] = {-1.5, 0.25, 2.0};
  for (size_t c = 0; c < m->dim; c++)
    for (size_t i = 0; i < 3; i++) x[c * 3 + i] = pts[(i + c) % 3];
  (void)m->drift(0.5, 3, x, out, m->params);
  (void)fpk_model_noise_matrix(m, 0.5, 3, x, out, &err);
  (void)fpk_model_diffusion(m, 0.5, 3, x, D, work, &err);
  if (m->noise_dx) (void)m->noise_dx(0.5, 3, x, out, m->params);
}

/* The sections of an INI text, in order of first appearance (for re-reading a resolved text). */
static size_t sections_of(const char *text, char names[][64], size_t max) {
  size_t k = 0;
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (*p != '[') continue;
    const char *close = strchr(p, ']');
    const char *nl = strchr(p, '\n');
    if (!close || (nl && close > nl) || close - p - 1 >= 64) continue;
    char name[64];
    memcpy(name, p + 1, (size_t)(close - p - 1));
    name[close - p - 1] = '\0';
    size_t j = 0;
    while (j < k && strcmp(names[j], name) != 0) j++;
    if (j == k && k < max) strcpy(names[k++], name);
  }
  return k;
}

/* The resolved text parses again, and every key of it read in file order resolves to the same
 * text: what fpkit stores in its output files says what the run used. */
static void check_resolved(const char *resolved) {
  fpk_error err = {0};
  fpk_config *c = fpk_config_parse("resolved", resolved, strlen(resolved), &err);
  FUZZ_CHECK(c != NULL, "the resolved configuration does not parse: %s\n--- resolved:\n%s---",
             err.msg, resolved);
  char names[64][64];
  const size_t ns = sections_of(resolved, names, 64);
  for (size_t s = 0; s < ns; s++) fpk_config_section_keys(c, names[s], NULL, 0);
  const char *again = fpk_config_resolved(c);
  FUZZ_CHECK(strcmp(again, resolved) == 0,
             "the resolved configuration reads back differently\n--- resolved:\n%s--- read "
             "back:\n%s---",
             resolved, again);
  fpk_config_free(c);
  fuzz_note("resolved", "read back the same");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  /* The INI part ends where the first line starting with "--set " begins. */
  size_t ini = size;
  for (size_t i = 0; i + 6 <= size; i++)
    if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "--set ", 6) == 0) {
      ini = i;
      break;
    }
  fpk_error err = {0};
  fpk_config *c = fpk_config_parse("fuzz.ini", text, ini, &err);
  fuzz_check_null(c, &err, "fpk_config_parse");
  if (!c) return 0;
  FUZZ_CHECK(err.status == 0, "parse succeeded with status %d", err.status);

  int failed = 0;
  size_t nsets = 0;
  for (size_t i = ini; i < size && nsets < 8;) {
    /* the line, continued past a '\n' that follows a backslash (a newline inside the word) */
    size_t end = i;
    while (end < size && !(text[end] == '\n' && (end == i || text[end - 1] != '\\'))) end++;
    size_t start = i;
    if (end - start >= 6 && memcmp(text + start, "--set ", 6) == 0) start += 6;
    char *word = malloc(end - start + 1);
    FUZZ_CHECK(word != NULL, "out of memory");
    size_t k = 0;
    for (size_t j = start; j < end; j++) {
      if (text[j] == '\\' && j + 1 < end && text[j + 1] == '\n') continue;
      word[k++] = text[j];
    }
    word[k] = '\0'; /* a command-line word ends at its first NUL */
    int rc = fpk_config_set(c, word, &err);
    fuzz_check_status(rc, &err, "fpk_config_set");
    free(word);
    nsets++;
    i = end + 1;
    if (rc) {
      failed = 1; /* the command line stops at the first bad --set */
      break;
    }
  }

  if (!failed) {
    size_t dim = 1;
    fpk_model *model = NULL;
    int rc = 0;
    if (fpk_config_has(c, "model", "type") || fpk_config_has(c, "model", "dim")) {
      /* fpkit run, converge */
      rc = fpk_app_read_model(c, &dim, &model, &err);
      fuzz_check_status(rc, &err, "fpk_app_read_model");
      FUZZ_CHECK(!rc == !!model, "fpk_app_read_model returned %d with model %p", rc,
                 (void *)model);
    } else if (fpk_config_has(c, "grid", "dim")) {
      /* fpkit ot: no model; [grid] dim */
      rc = fpk_config_size(c, "grid", "dim", 1, 1, 2, &dim, &err);
      fuzz_check_status(rc, &err, "[grid] dim");
    } /* else fpkit bridge: neither */
    if (model) {
      FUZZ_CHECK(model->dim == dim && dim >= 1 && dim <= 2, "dim %zu, model dim %zu", dim,
                 model->dim);
      touch_model(model);
      fpk_model_free(model);
    }
    if (rc) {
      failed = 1;
      dim = 1;
    }
    /* The other sections are read even after a failure, for the getters' sake. */
    for (size_t k = 0; k < sizeof schema / sizeof schema[0]; k++)
      if (read_key(c, &schema[k], dim, &err)) failed = 1;
    const char *keys[8];
    (void)fpk_config_section_keys(c, "no-such-section", keys, 8);
    if (!failed) {
      rc = fpk_config_check_unused(c, &err);
      fuzz_check_status(rc, &err, "fpk_config_check_unused");
      const char *resolved = fpk_config_resolved(c);
      FUZZ_CHECK(resolved != NULL, "NULL resolved configuration");
      if (!rc) check_resolved(resolved);
    } else {
      rc = fpk_config_check_unused(c, &err);
      fuzz_check_status(rc, &err, "fpk_config_check_unused");
      (void)fpk_config_resolved(c);
    }
  }
  fpk_config_free(c);
  return 0;
}
