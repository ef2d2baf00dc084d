/* Models from expressions (fpkit/model.h, "Expression models"):
 *
 *   dX_c = b_c(X, t) dt + σ_c(X, t) dW_c,   b_c and σ_c given as strings.
 *
 * libmatheval (GNU, docs/dependencies.md) parses the strings into expression trees, simplifies
 * them, lists their variables and differentiates them symbolically (∂σ_c/∂x_c for Milstein).
 * Three of its properties shape this file:
 *
 * - It reports no error position: evaluator_create() returns NULL, nothing more. The column is
 *   found with the library itself (error_column): the first prefix of the string that no
 *   completion can turn into a valid expression ends at the offending character.
 * - Its parser (bison + flex) keeps its state in globals, so every call that parses or builds a
 *   tree (create, derivative, get_string, get_variables) runs inside one named critical section,
 *   `fpk_matheval`. Its scanner also echoes any character it has no rule for to stdout, so such
 *   characters are rejected here before the parser sees them.
 * - evaluator_evaluate() stores the variable values in the evaluator's symbol table and walks the
 *   tree, so one evaluator must not be used by two threads at once (and a derivative shares its
 *   parent's table). Each OpenMP thread number therefore gets its own set of evaluators, parsed
 *   lazily from the source strings the first time that thread calls a callback (under the
 *   critical section; never again afterwards, so the hot path allocates nothing). The callbacks
 *   are called from the Monte Carlo engine's parallel region (src/sde/ensemble.c) and serially by
 *   the FP solvers. A busy flag per set turns a forbidden concurrent use (two parallel regions
 *   evaluating one model, where omp_get_thread_num() repeats) into a fatal status instead of a
 *   silently wrong number.
 *
 * libmatheval leaks the nodes it built before a syntax error (its grammar has no %destructor):
 * tens of bytes per failed parse, only on invalid input, i.e. once per bad expression and the
 * prefixes tried for its column. Sanitizer builds therefore suppress leaks from libmatheval.so,
 * and from libgccjit.so, whose compiler keeps part of every compilation's memory (tests/lsan.supp).
 *
 * The model is one allocation starting with its fpk_model, like every built-in; the evaluators it
 * owns are destroyed by its release hook, which fpk_model_free() calls before free().
 *
 * Native code (src/models/expr_jit.c): unless fpk_expr_spec.jit or FPK_EXPR_JIT says off, the
 * expressions are compiled once, at alloc, from set 0's trees, into functions that loop over the
 * block of points; the callbacks then call them and never touch libmatheval. They are checked
 * against the interpreter at sample points before they are used (bitwise, NaN for NaN), and any
 * failure leaves the model interpreted, with the reason in fpk_model_expr_jit().
 */
#include "fpkit/model.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <matheval.h>
#include <omp.h>

#include "models/expr_jit.h"
#include "models/model_internal.h"

/* GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang 14 only answers
 * __has_feature(address_sanitizer) (the fuzz targets, fuzz/README.md). */
#if defined(__SANITIZE_ADDRESS__)
#define FPK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FPK_ASAN 1
#endif
#endif
#if defined(FPK_ASAN)
/* LeakSanitizer reads this hook at start-up (sanitizer_common's documented interface). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libmatheval.so\nleak:libgccjit.so\n"; /* libgccjit: tests/lsan.supp says why */
}
#endif

#define NVAR_MAX (FPK_MAX_DIM + 1 + FPK_EXPR_MAX_PARAMS)
#define NCOMP_MAX EXPR_JIT_NCOMP_MAX /* d × m entries of a noise matrix (3 × 6) */
#define EXPR_MAX_LEN 4096 /* far beyond any formula; bounds the column search */

static const char *const axis_names[FPK_MAX_DIM] = {"x", "y", "z"};
static const char *const comp_suffix[FPK_MAX_DIM] = {"_x", "_y", "_z"};
static const char functions[] =
    "exp log sqrt sin cos tan cot sec csc asin acos atan acot asec acsc sinh cosh tanh coth "
    "sech csch asinh acosh atanh acoth asech acsch abs step delta nandelta erf";

/* One thread's evaluators: which = 0 drift, 1 noise (σ_c, or the entries σ_rk of a noise matrix
 * at r*m + k), 2 ∂σ_c/∂x_c. */
typedef struct expr_set {
  void *ev[3][NCOMP_MAX];
  double values[NVAR_MAX]; /* x, y, z (the first dim), t, parameters: the order of names[] */
  atomic_int busy;
} expr_set;

typedef struct expr_model {
  fpk_model model; /* first: fpk_model_free() frees the whole record after release() */
  size_t nparams, nvar;
  size_t noise_dim;               /* 0: diagonal noise; m: a d × m noise matrix */
  size_t ncomp[3];                /* expressions of each kind: d, d (or d*m), d (or 0) */
  char *names[NVAR_MAX];          /* variables handed to evaluator_evaluate, into text[] */
  double param_values[FPK_EXPR_MAX_PARAMS];
  char *source[2][NCOMP_MAX];     /* the strings as given, into text[] */
  const char *canon[3][NCOMP_MAX]; /* evaluator_get_string of set 0, owned by its evaluators */
  int varies[3][NCOMP_MAX];       /* the expression contains x, y or z */
  /* The variables each expression uses, as indices into names[]: evaluator_evaluate() looks
   * every name it is given up in a hash table, which was 65% of the time when all of x, t and
   * the parameters were passed to every expression (bench/run_sde.sh). */
  int nused[3][NCOMP_MAX];
  int used[3][NCOMP_MAX][NVAR_MAX];
  char *used_names[3][NCOMP_MAX][NVAR_MAX];
  int has_dx;
  expr_jit *jit;              /* NULL: interpreted */
  expr_jit_fn jit_fn[3];      /* the compiled drift, noise, ∂σ_c/∂x_c when jit != NULL */
  char jit_info[320];         /* fpk_model_expr_jit's line */
  _Atomic(expr_set *) sets[FPK_EXPR_MAX_THREADS];
  char text[]; /* "x\0y\0z\0t\0", parameter names, sources */
} expr_model;

/* ---- checking expressions (callers hold the fpk_matheval critical section) --------------- */

/* 1 + the index of the first character that libmatheval's scanner has no rule for, or 0. Its
 * rules (scanner.l): blanks [ \t]; numbers (d+ | d+.d* | d*.d+)([Ee][+-]?d+)?; identifiers
 * [_a-zA-Z][_a-zA-Z0-9[]* (the '[' is a typo of the original, refused here); + - * / ^ ( ).
 * Anything else — including a '.' that no number takes, as in "x." — would be echoed to stdout
 * by flex's default rule and skipped, so "x .+ 1" would silently parse as x + 1. */
static size_t stray_char(const char *s) {
  size_t k = 0;
  while (s[k]) {
    const unsigned char ch = (unsigned char)s[k];
    if (ch == ' ' || ch == '\t' || strchr("+-*/^()", ch)) {
      k++;
    } else if (isalpha(ch) || ch == '_') {
      while (isalnum((unsigned char)s[k]) || s[k] == '_') k++;
    } else if (isdigit(ch) || (ch == '.' && isdigit((unsigned char)s[k + 1]))) {
      while (isdigit((unsigned char)s[k])) k++;
      if (s[k] == '.')
        for (k++; isdigit((unsigned char)s[k]);) k++;
      if (s[k] == 'e' || s[k] == 'E') {
        size_t j = k + 1;
        if (s[j] == '+' || s[j] == '-') j++;
        if (isdigit((unsigned char)s[j]))
          for (k = j; isdigit((unsigned char)s[k]);) k++;
      }
    } else {
      return k + 1;
    }
  }
  return 0;
}

/* evaluator_create(s) (which copies s, though it takes a char *), or NULL without calling it
 * when s has a stray character. */
static void *create(char *s) { return stray_char(s) ? NULL : evaluator_create(s); }

/* 1-based column of the first character at which s stops being the beginning of a valid
 * expression: the least k such that no completion of s[0..k) parses, trying "", "1" and "(1)"
 * (an operand, or the argument of a function name) followed by as many ")" as there are open
 * parentheses. An unmatched ")" is the error itself. len + 1 when every prefix can be completed
 * (the expression just stops too early: "x +", "(x"). buf has room for 2 len + 8 bytes. */
static size_t error_column(const char *s, char *buf) {
  static const char *const completion[] = {"", "1", "(1)"};
  const size_t len = strlen(s);
  long depth = 0;
  for (size_t k = 1; k <= len; k++) {
    depth += s[k - 1] == '(' ? 1 : s[k - 1] == ')' ? -1 : 0;
    if (depth < 0) return k;
    int ok = 0;
    for (size_t j = 0; j < 3 && !ok; j++) {
      /* a prefix may end in a '.' that only the next digit makes part of a number: create()
       * refuses such a candidate rather than letting the scanner echo and skip the '.' */
      memcpy(buf, s, k);
      size_t m = k + (size_t)sprintf(buf + k, "%s", completion[j]);
      for (long p = 0; p < depth; p++) buf[m++] = ')';
      buf[m] = '\0';
      void *e = create(buf);
      if (e) ok = 1, evaluator_destroy(e);
    }
    if (!ok) return k;
  }
  return len + 1;
}

/* "cannot parse "s" at column col<why>:" then s and a caret under the column. */
static int syntax_error(fpk_error *err, const char *s, size_t col, const char *why) {
  char caret[EXPR_MAX_LEN + 2];
  size_t k = 0;
  for (; k + 1 < col && s[k]; k++) caret[k] = s[k] == '\t' ? '\t' : ' '; /* keep tabs aligned */
  caret[k++] = '^';
  caret[k] = '\0';
  return fpk_error_set(err, FPK_EINVAL, "cannot parse \"%s\" at column %zu%s:\n    %s\n    %s", s,
                       col, why, s, caret);
}

/* Appends to out (len bytes), truncating. */
static void append(char *out, size_t len, const char *s) {
  const size_t k = strlen(out);
  if (k + 1 < len) snprintf(out + k, len - k, "%s", s);
}

/* The name list "x, y, t, a, b" of a model ("x, y, a, b" of a density: with_t = 0). */
static void known_names(size_t dim, size_t np, const char *const *pn, int with_t, char *out,
                        size_t len) {
  out[0] = '\0';
  for (size_t a = 0; a < dim; a++) append(out, len, a ? ", " : ""), append(out, len, axis_names[a]);
  if (with_t) append(out, len, ", t");
  for (size_t i = 0; i < np; i++) append(out, len, ", "), append(out, len, pn[i]);
}

static int check_locked(const char *s, size_t dim, size_t np, const char *const *pn, int with_t,
                        fpk_error *err) {
  if (!s) return fpk_error_set(err, FPK_EINVAL, "expression is NULL");
  const size_t len = strlen(s);
  size_t blank = 0;
  while (blank < len && isspace((unsigned char)s[blank])) blank++;
  if (blank == len) return fpk_error_set(err, FPK_EINVAL, "empty expression");
  if (len > EXPR_MAX_LEN)
    return fpk_error_set(err, FPK_EINVAL, "expression of %zu characters (at most %d)", len,
                         EXPR_MAX_LEN);
  const size_t stray = stray_char(s);
  if (stray) {
    const unsigned char ch = (unsigned char)s[stray - 1];
    char why[64];
    if (isprint(ch))
      snprintf(why, sizeof why, " (unexpected character '%c')", ch);
    else
      snprintf(why, sizeof why, " (unexpected byte 0x%02x)", (unsigned)ch);
    return syntax_error(err, s, stray, why);
  }
  char *buf = malloc(2 * len + 8);
  if (!buf) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  strcpy(buf, s);
  void *e = create(buf);
  if (!e) {
    const size_t col = error_column(s, buf);
    char why[sizeof functions + 96] = "";
    if (col == len + 1) {
      snprintf(why, sizeof why, " (end of expression: an operand or ')' is missing)");
    } else if (s[col - 1] == '(' && col >= 2 && (isalnum((unsigned char)s[col - 2]) ||
                                                  s[col - 2] == '_')) {
      /* a name before '(' that the grammar does not take as a function */
      size_t b = col - 1;
      while (b > 0 && (isalnum((unsigned char)s[b - 1]) || s[b - 1] == '_')) b--;
      snprintf(why, sizeof why, " ('%.*s' is not a function; functions: %s)",
               (int)(col - 1 - b), s + b, functions);
    }
    int rc = syntax_error(err, s, col, why);
    free(buf);
    return rc;
  }
  free(buf);
  char **vars;
  int nv;
  evaluator_get_variables(e, &vars, &nv);
  int rc = FPK_SUCCESS;
  for (int v = 0; v < nv && !rc; v++) {
    int known = with_t && strcmp(vars[v], "t") == 0;
    for (size_t a = 0; a < dim; a++) known |= strcmp(vars[v], axis_names[a]) == 0;
    for (size_t i = 0; i < np; i++) known |= strcmp(vars[v], pn[i]) == 0;
    if (known) continue;
    char names[512];
    known_names(dim, np, pn, with_t, names, sizeof names);
    int axis = 0;
    for (size_t a = dim; a < FPK_MAX_DIM; a++) axis |= strcmp(vars[v], axis_names[a]) == 0;
    rc = fpk_error_set(err, FPK_EINVAL, "unknown symbol '%s' in \"%s\"%s (known: %s)", vars[v], s,
                       axis ? dim == 1 ? " (the model is 1D)" : " (the model is 2D)"
                       : !with_t && !strcmp(vars[v], "t") ? " (an initial density has no time)"
                                                          : "",
                       names);
  }
  evaluator_destroy(e);
  return rc;
}

static int name_locked(const char *name, fpk_error *err) {
  if (!name || !name[0]) return fpk_error_set(err, FPK_EINVAL, "parameter name is empty");
  int ident = isalpha((unsigned char)name[0]) || name[0] == '_';
  for (size_t k = 1; name[k]; k++) ident &= isalnum((unsigned char)name[k]) || name[k] == '_';
  if (!ident || strlen(name) > 64)
    return fpk_error_set(err, FPK_EINVAL,
                         "parameter name '%s' is not an identifier (a letter or '_', then "
                         "letters, digits or '_', at most 64)",
                         name);
  for (size_t a = 0; a < FPK_MAX_DIM; a++)
    if (strcmp(name, axis_names[a]) == 0)
      return fpk_error_set(err, FPK_EINVAL,
                           "parameter name '%s' clashes with the coordinate %s", name, name);
  if (strcmp(name, "t") == 0)
    return fpk_error_set(err, FPK_EINVAL, "parameter name 't' clashes with the time t");
  /* The grammar decides what a name is: alone, a function name does not parse, a constant
   * parses without variables, anything else is one variable of that name. */
  char buf[72];
  strcpy(buf, name);
  void *e = evaluator_create(buf);
  if (!e)
    return fpk_error_set(err, FPK_EINVAL,
                         "parameter name '%s' clashes with the function %s() (functions: %s)",
                         name, name, functions);
  char **vars;
  int nv;
  evaluator_get_variables(e, &vars, &nv);
  int rc = FPK_SUCCESS;
  if (!(nv == 1 && strcmp(vars[0], name) == 0)) {
    char *nm[1] = {buf};
    double v[1] = {0.0};
    rc = fpk_error_set(err, FPK_EINVAL,
                       "parameter name '%s' clashes with the constant %s = %.17g", name, name,
                       evaluator_evaluate(e, 0, nm, v));
  }
  evaluator_destroy(e);
  return rc;
}

int fpk_expr_check(const char *expr, size_t dim, size_t nparams, const char *const *param_names,
                   fpk_error *err) {
  if (dim < 1 || dim > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "dimension %zu, must be 1, 2 or 3", dim);
  if (nparams && !param_names) return fpk_error_set(err, FPK_EINVAL, "parameter names are NULL");
  int rc;
#pragma omp critical(fpk_matheval)
  rc = check_locked(expr, dim, nparams, param_names, 1, err);
  return rc;
}

int fpk_expr_check_name(const char *name, fpk_error *err) {
  int rc;
#pragma omp critical(fpk_matheval)
  rc = name_locked(name, err);
  return rc;
}

/* ---- evaluator sets ------------------------------------------------------------------------ */

static void set_destroy(expr_set *s) {
  if (!s) return;
  /* derivatives first: each holds a reference to its parent's symbol table */
  for (int w = 2; w >= 0; w--)
    for (size_t c = 0; c < NCOMP_MAX; c++)
      if (s->ev[w][c]) evaluator_destroy(s->ev[w][c]);
  free(s);
}

/* A fresh set parsed from the sources, with derivatives when with_dx; NULL when out of memory.
 * The caller holds the critical section. */
static expr_set *set_create(const expr_model *em, int with_dx) {
  expr_set *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  atomic_init(&s->busy, 0);
  const size_t d = em->model.dim;
  for (int w = 0; w < 2; w++)
    for (size_t c = 0; c < em->ncomp[w]; c++)
      if (!(s->ev[w][c] = evaluator_create(em->source[w][c]))) {
        set_destroy(s);
        return NULL;
      }
  if (with_dx)
    for (size_t c = 0; c < d; c++)
      if (!(s->ev[2][c] = evaluator_derivative(s->ev[1][c], em->names[c]))) {
        set_destroy(s);
        return NULL;
      }
  for (size_t i = 0; i < em->nparams; i++) s->values[d + 1 + i] = em->param_values[i];
  return s;
}

/* The calling thread's set, marked busy; NULL (a fatal status for the callback) for a thread
 * number beyond FPK_EXPR_MAX_THREADS, when out of memory, or when the set is in use by a thread
 * of another parallel region with the same number. */
static expr_set *acquire(expr_model *em) {
  const int tid = omp_get_thread_num();
  if (tid < 0 || tid >= FPK_EXPR_MAX_THREADS) return NULL;
  expr_set *s = atomic_load_explicit(&em->sets[tid], memory_order_acquire);
  if (!s) {
#pragma omp critical(fpk_matheval)
    {
      s = atomic_load_explicit(&em->sets[tid], memory_order_acquire);
      if (!s && (s = set_create(em, em->has_dx)))
        atomic_store_explicit(&em->sets[tid], s, memory_order_release);
    }
    if (!s) return NULL;
  }
  if (atomic_exchange_explicit(&s->busy, 1, memory_order_acquire)) return NULL;
  return s;
}

/* out[c*n + i] = expression `which` of component c at point i (c < ncomp[which]: for a noise
 * matrix c = r*m + k, the layout of fpk_model.noise_matrix). An expression without x, y, z is
 * evaluated once per call. Non-finite results are returned as they are (see model.h). */
static int evaluate(void *params, int which, double t, size_t n, const double *x, double *out) {
  expr_model *em = params;
  expr_set *s = acquire(em);
  if (!s) return -1;
  const size_t d = em->model.dim, nc = em->ncomp[which];
  double *v = s->values, u[NVAR_MAX];
  v[d] = t;
  for (size_t c = 0; c < nc; c++) {
    if (em->varies[which][c]) continue;
    const int k = em->nused[which][c];
    for (int j = 0; j < k; j++) u[j] = v[em->used[which][c][j]];
    const double y = evaluator_evaluate(s->ev[which][c], k, em->used_names[which][c], u);
    for (size_t i = 0; i < n; i++) out[c * n + i] = y;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t c = 0; c < d; c++) v[c] = x[c * n + i];
    for (size_t c = 0; c < nc; c++) {
      if (!em->varies[which][c]) continue;
      const int k = em->nused[which][c];
      for (int j = 0; j < k; j++) u[j] = v[em->used[which][c][j]];
      out[c * n + i] = evaluator_evaluate(s->ev[which][c], k, em->used_names[which][c], u);
    }
  }
  atomic_store_explicit(&s->busy, 0, memory_order_release);
  return 0;
}

/* The compiled function of kind `which` when there is one, else the interpreter. */
static inline int dispatch(void *params, int which, double t, size_t n, const double *x,
                           double *out) {
  const expr_model *em = params;
  if (em->jit) {
    em->jit_fn[which](t, n, x, out);
    return 0;
  }
  return evaluate(params, which, t, n, x, out);
}

static int expr_drift(double t, size_t n, const double *x, double *out, void *params) {
  return dispatch(params, 0, t, n, x, out);
}

static int expr_noise(double t, size_t n, const double *x, double *out, void *params) {
  return dispatch(params, 1, t, n, x, out);
}

static int expr_noise_dx(double t, size_t n, const double *x, double *out, void *params) {
  return dispatch(params, 2, t, n, x, out);
}

/* The noise matrix: the same kind as expr_noise, d*m expressions instead of d. A function of its
 * own, so that m->noise stays NULL (fpkit/model.h) and cannot be mistaken for this. */
static int expr_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  return dispatch(params, 1, t, n, x, out);
}

static void expr_release(fpk_model *m) {
  expr_model *em = (expr_model *)m;
  expr_jit_free(em->jit);
  em->jit = NULL;
  for (size_t k = 0; k < FPK_EXPR_MAX_THREADS; k++) {
    expr_set *s = atomic_load_explicit(&em->sets[k], memory_order_acquire);
    if (!s) continue;
    /* evaluator_destroy releases a symbol table shared by reference count: serialised too */
#pragma omp critical(fpk_matheval)
    set_destroy(s);
    atomic_store_explicit(&em->sets[k], NULL, memory_order_relaxed);
  }
}

/* ---- the model ----------------------------------------------------------------------------- */

/* Whether the evaluator's variables include one of names[0..k). */
static int uses(void *e, const char *const *names, size_t k) {
  char **vars;
  int nv;
  evaluator_get_variables(e, &vars, &nv);
  for (int v = 0; v < nv; v++)
    for (size_t j = 0; j < k; j++)
      if (strcmp(vars[v], names[j]) == 0) return 1;
  return 0;
}

static void component_name(char *out, size_t len, const char *what, size_t dim, size_t c) {
  snprintf(out, len, "%s%s", what, dim == 1 ? "" : comp_suffix[c]);
}

static int check_spec(const fpk_expr_spec *spec, fpk_error *err) {
  if (!spec) return fpk_error_set(err, FPK_EINVAL, "model expr: spec is NULL");
  const size_t d = spec->dim, np = spec->nparams;
  if (d < 1 || d > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "model expr: dimension %zu, must be 1, 2 or 3", d);
  if (np > FPK_EXPR_MAX_PARAMS)
    return fpk_error_set(err, FPK_EINVAL, "model expr: %zu parameters (at most %d)", np,
                         FPK_EXPR_MAX_PARAMS);
  if (np && (!spec->param_names || !spec->param_values))
    return fpk_error_set(err, FPK_EINVAL, "model expr: parameter names or values are NULL");
  for (size_t i = 0; i < np; i++) {
    if (fpk_expr_check_name(spec->param_names[i], err))
      return fpk_error_prefix(err, "model expr: ");
    for (size_t j = 0; j < i; j++)
      if (strcmp(spec->param_names[i], spec->param_names[j]) == 0)
        return fpk_error_set(err, FPK_EINVAL, "model expr: parameter '%s' given twice",
                             spec->param_names[i]);
    if (!isfinite(spec->param_values[i]))
      return fpk_error_set(err, FPK_EINVAL, "model expr: parameter %s = %g is not finite",
                           spec->param_names[i], spec->param_values[i]);
  }
  const size_t m = spec->noise_dim;
  if (m > FPK_MAX_NOISE)
    return fpk_error_set(err, FPK_EINVAL,
                         "model expr: a noise matrix with %zu columns (Brownian components), "
                         "must be 1..%d (or 0: diagonal noise)",
                         m, FPK_MAX_NOISE);
  for (int w = 0; w < 2; w++)
    for (size_t c = 0; c < (w && m ? d * m : d); c++) {
      const char *s = !w ? spec->drift[c] : m ? spec->noise_matrix[c] : spec->noise[c];
      if (fpk_expr_check(s, d, np, spec->param_names, err)) {
        char what[32];
        if (w && m)
          snprintf(what, sizeof what, "noise[%zu][%zu]", c / m, c % m);
        else
          component_name(what, sizeof what, w ? "noise" : "drift", d, c);
        return fpk_error_prefix(err, "model expr: %s: ", what);
      }
    }
  return FPK_SUCCESS;
}

/* The effective jit mode: spec->jit, or FPK_EXPR_JIT for AUTO. */
static int jit_mode(const fpk_expr_spec *spec, int *mode, fpk_error *err) {
  if (spec->jit < FPK_EXPR_JIT_AUTO || spec->jit > FPK_EXPR_JIT_ON)
    return fpk_error_set(err, FPK_EINVAL,
                         "model expr: jit = %d (FPK_EXPR_JIT_AUTO, _OFF or _ON)", spec->jit);
  *mode = spec->jit;
  const char *env = getenv("FPK_EXPR_JIT");
  if (*mode != FPK_EXPR_JIT_AUTO || !env || !env[0]) return FPK_SUCCESS;
  if (!strcmp(env, "off")) *mode = FPK_EXPR_JIT_OFF;
  else if (!strcmp(env, "on")) *mode = FPK_EXPR_JIT_ON;
  else if (strcmp(env, "auto"))
    return fpk_error_set(err, FPK_EINVAL,
                         "model expr: environment variable FPK_EXPR_JIT = \"%.40s\" (auto, on or "
                         "off)",
                         env);
  return FPK_SUCCESS;
}

/* Compares the compiled functions with the interpreter at sample points (bitwise; a NaN matches
 * any NaN): 0, or -1 with the first difference in em->jit_info. */
static int jit_agrees(expr_model *em, int nwhich) {
  static const double sample[] = {0.0,  1.0,  -1.0, 0.5,   -0.5,  2.0,   -2.0, 0.1,
                                  -0.1, 3.7,  -3.7, 10.0,  -10.0, 1e-3,  0.999, 1.001,
                                  100., -0.25, 0.75, 1e-8, 5.0,   -7.5,  0.3,   -1e3};
  enum { NS = sizeof sample / sizeof sample[0] };
  static const double times[] = {0.0, 0.3, 1.7};
  const size_t d = em->model.dim;
  double x[FPK_MAX_DIM * NS], ref[NCOMP_MAX * NS], got[NCOMP_MAX * NS];
  for (size_t a = 0; a < d; a++)
    for (size_t i = 0; i < NS; i++) x[a * NS + i] = sample[(i + 7 * a) % NS];
  for (int w = 0; w < nwhich; w++)
    for (size_t k = 0; k < sizeof times / sizeof times[0]; k++) {
      if (evaluate(em, w, times[k], NS, x, ref)) {
        snprintf(em->jit_info, sizeof em->jit_info, "the interpreter failed in the check");
        return -1;
      }
      em->jit_fn[w](times[k], NS, x, got);
      for (size_t j = 0; j < em->ncomp[w] * NS; j++)
        if (!(isnan(ref[j]) && isnan(got[j])) && memcmp(&ref[j], &got[j], sizeof(double))) {
          snprintf(em->jit_info, sizeof em->jit_info,
                   "the compiled %s of component %zu gives %a where the interpreter gives %a "
                   "(t = %g, x = %g)",
                   w == 0 ? "drift" : w == 1 ? "noise" : "noise derivative", j / NS, got[j],
                   ref[j], times[k], x[j % NS]);
          return -1;
        }
    }
  return 0;
}

/* Compiles the model's expressions from set 0 (mode AUTO or ON) and checks them; on failure the
 * model stays interpreted, and for ON the error is returned. */
static int setup_jit(expr_model *em, const expr_set *s0, int mode, fpk_error *err) {
  if (mode == FPK_EXPR_JIT_OFF) {
    snprintf(em->jit_info, sizeof em->jit_info, "interpreted (libmatheval): jit = off");
    return FPK_SUCCESS;
  }
  const int nwhich = em->has_dx ? 3 : 2;
  char why[256] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  expr_jit *j = expr_jit_compile(em->model.dim, nwhich, em->ncomp, s0->ev,
                                 (const char *const *)em->names, em->nvar, em->param_values, why,
                                 sizeof why);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (j) {
    for (int w = 0; w < nwhich; w++) em->jit_fn[w] = expr_jit_function(j, w);
    if (jit_agrees(em, nwhich)) {
      snprintf(why, sizeof why, "%.250s", em->jit_info);
      expr_jit_free(j);
      j = NULL;
    }
  }
  if (!j) {
    snprintf(em->jit_info, sizeof em->jit_info, "interpreted (libmatheval): %s", why);
    if (mode == FPK_EXPR_JIT_ON)
      return fpk_error_set(err, FPK_EUNSUP, "model expr: jit = on, but cannot compile: %s", why);
    return FPK_SUCCESS;
  }
  em->jit = j;
  snprintf(em->jit_info, sizeof em->jit_info, "compiled by libgccjit (%d functions, %.0f ms)",
           nwhich, 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec));
  return FPK_SUCCESS;
}

fpk_model *fpk_model_expr_alloc(const fpk_expr_spec *spec, fpk_error *err) {
  if (check_spec(spec, err)) return NULL;
  int mode;
  if (jit_mode(spec, &mode, err)) return NULL;
  const size_t d = spec->dim, np = spec->nparams, nm = spec->noise_dim;
  const size_t nnoise = nm ? d * nm : d;
  const char *const *noise_src = nm ? spec->noise_matrix : spec->noise;
  size_t text = 8; /* "x\0y\0z\0t\0" */
  for (size_t i = 0; i < np; i++) text += strlen(spec->param_names[i]) + 1;
  for (size_t c = 0; c < d; c++) text += strlen(spec->drift[c]) + 1;
  for (size_t c = 0; c < nnoise; c++) text += strlen(noise_src[c]) + 1;
  expr_model *em = calloc(1, sizeof *em + text);
  if (!em) {
    fpk_error_set(err, FPK_ENOMEM, "model expr: out of memory");
    return NULL;
  }
  for (size_t k = 0; k < FPK_EXPR_MAX_THREADS; k++) atomic_init(&em->sets[k], NULL);
  char *p = em->text;
  for (size_t a = 0; a < d; a++) em->names[a] = strcpy(p, axis_names[a]), p += 2;
  em->names[d] = strcpy(p, "t"), p += 2;
  for (size_t i = 0; i < np; i++) {
    em->names[d + 1 + i] = strcpy(p, spec->param_names[i]);
    p += strlen(p) + 1;
    em->param_values[i] = spec->param_values[i];
  }
  for (int w = 0; w < 2; w++)
    for (size_t c = 0; c < (w ? nnoise : d); c++) {
      em->source[w][c] = strcpy(p, w ? noise_src[c] : spec->drift[c]);
      p += strlen(p) + 1;
    }
  em->noise_dim = nm;
  em->ncomp[0] = d, em->ncomp[1] = nnoise, em->ncomp[2] = nm ? 0 : d;
  em->nparams = np;
  em->nvar = d + 1 + np;
  em->model = (fpk_model){.name = "expr",
                          .dim = d,
                          .drift = expr_drift,
                          .noise = nm ? NULL : expr_noise,
                          .params = em,
                          .linear = NULL,
                          .solution = NULL,
                          .release = expr_release};

  /* Set 0 (the thread that is alone, or the master of a team) is parsed now, and its evaluators
   * answer every question about the expressions. */
  expr_set *s0;
  int oom = 0;
  unsigned flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS;
  const char *const tname[1] = {"t"};
  const char *axes[FPK_MAX_DIM];
  for (size_t a = 0; a < d; a++) axes[a] = em->names[a];
#pragma omp critical(fpk_matheval)
  {
    if ((s0 = set_create(em, 0))) {
      /* a noise matrix has no σ_c ∂σ_c/∂x_c (Milstein for general noise needs the Lévy areas) */
      int diagonal = nm == 0;
      for (int w = 0; w < 2; w++)
        for (size_t c = 0; c < em->ncomp[w]; c++) {
          em->varies[w][c] = uses(s0->ev[w][c], axes, d);
          if (uses(s0->ev[w][c], tname, 1)) flags &= ~(unsigned)FPK_MODEL_AUTONOMOUS;
          em->canon[w][c] = evaluator_get_string(s0->ev[w][c]);
          if (w == 1 && em->varies[1][c]) flags &= ~(unsigned)FPK_MODEL_ADDITIVE;
        }
      /* σ_c must depend on x_c alone for the diagonal Milstein term σ_c ∂σ_c/∂x_c */
      for (size_t c = 0; c < d && diagonal; c++)
        for (size_t a = 0; a < d; a++)
          if (a != c && uses(s0->ev[1][c], axes + a, 1)) diagonal = 0;
      /* libmatheval 1.1.11 differentiates two functions wrongly: d asinh(u) = u'/sqrt(1 - u^2)
       * (it is u'/sqrt(1 + u^2)) and d acoth(u) = u'/(u^2 - 1) (it is u'/(1 - u^2)); Milstein
       * would take that σ' without a sign of trouble (tests/defects/perf/03), so a noise using
       * them gets no derivative and Milstein refuses the model. */
      for (size_t c = 0; c < d && diagonal; c++)
        if (strstr(em->canon[1][c], "asinh(") || strstr(em->canon[1][c], "acoth("))
          diagonal = 0;
      em->has_dx = !(flags & FPK_MODEL_ADDITIVE) && diagonal;
      for (size_t c = 0; c < d && em->has_dx; c++) {
        if (!(s0->ev[2][c] = evaluator_derivative(s0->ev[1][c], em->names[c]))) {
          oom = 1;
          break;
        }
        em->varies[2][c] = uses(s0->ev[2][c], axes, d);
        em->canon[2][c] = evaluator_get_string(s0->ev[2][c]);
      }
      for (int w = 0; w < 3; w++)
        for (size_t c = 0; c < em->ncomp[w]; c++) {
          if (!s0->ev[w][c]) continue;
          char **vars;
          int nv;
          evaluator_get_variables(s0->ev[w][c], &vars, &nv);
          int k = 0;
          for (int j = 0; j < nv; j++)
            for (size_t q = 0; q < em->nvar; q++)
              if (strcmp(vars[j], em->names[q]) == 0) {
                em->used[w][c][k] = (int)q;
                em->used_names[w][c][k++] = em->names[q];
                break;
              }
          em->nused[w][c] = k;
        }
      atomic_store_explicit(&em->sets[0], s0, memory_order_release);
    }
  }
  if (!s0 || oom) {
    fpk_model_free(&em->model);
    fpk_error_set(err, FPK_ENOMEM, "model expr: out of memory (libmatheval)");
    return NULL;
  }
  em->model.flags = flags;
  em->model.noise_dx = em->has_dx ? expr_noise_dx : NULL;
  if (!em->has_dx) em->ncomp[2] = 0;
  if (nm) {
    em->model.noise_matrix = expr_noise_matrix;
    em->model.noise_dim = nm;
  }
  if (setup_jit(em, s0, mode, err)) {
    fpk_model_free(&em->model);
    return NULL;
  }
  return &em->model;
}

int fpk_model_expr_jit(const fpk_model *m, const char **info) {
  if (!m || m->drift != expr_drift) return -1;
  const expr_model *em = (const expr_model *)m;
  if (info) *info = em->jit_info;
  return em->jit != NULL;
}

const char *fpk_model_expr_string(const fpk_model *m, int which, size_t c) {
  if (!m || m->drift != expr_drift) return NULL;
  const expr_model *em = (const expr_model *)m;
  if (which == FPK_EXPR_NOISE_MATRIX || which == FPK_EXPR_NOISE_MATRIX_SOURCE) {
    if (!em->noise_dim || c >= em->ncomp[1]) return NULL;
    return which == FPK_EXPR_NOISE_MATRIX ? em->canon[1][c] : em->source[1][c];
  }
  if (c >= m->dim) return NULL;
  switch (which) {
    case FPK_EXPR_DRIFT:
      return em->canon[0][c];
    case FPK_EXPR_NOISE:
      return em->noise_dim ? NULL : em->canon[1][c];
    case FPK_EXPR_NOISE_DX:
      return em->has_dx ? em->canon[2][c] : NULL;
    case FPK_EXPR_DRIFT_SOURCE:
      return em->source[0][c];
    case FPK_EXPR_NOISE_SOURCE:
      return em->noise_dim ? NULL : em->source[1][c];
    default:
      return NULL;
  }
}

/* fpk_model_zero_noise_rows' exact answer for an expression model with a noise matrix
 * (models/model_internal.h): a row is zero when every entry's simplified form is the literal
 * "0" (libmatheval prints the number +0.0 as "0" and nothing else so: "%g"). */
int model_expr_zero_noise_rows(const fpk_model *m, unsigned *mask) {
  if (!m || m->drift != expr_drift || !m->noise_matrix) return 0;
  const expr_model *em = (const expr_model *)m;
  const size_t d = m->dim, q = em->noise_dim;
  unsigned z = 0u;
  for (size_t r = 0; r < d; r++) {
    int zero = 1;
    for (size_t k = 0; k < q; k++) zero &= strcmp(em->canon[1][r * q + k], "0") == 0;
    if (zero) z |= 1u << r;
  }
  *mask = z;
  return 1;
}

/* ---- densities from expressions -------------------------------------------------------------
 * Cell averages by the 3-point Gauss–Legendre rule per axis (nodes ±sqrt(3/5), 0; weights 5/9,
 * 8/9, 5/9 on [-1, 1]): exact for polynomials of degree 5, so the cell average of a smooth
 * density is accurate to O(h^6) (the error constant is f^(6) h^6 / 2016000 per axis). One private
 * evaluator, evaluated serially: evaluator_evaluate() touches only the evaluator's own symbol
 * table, so only create, get_variables and destroy need the critical section. */

int fpk_expr_cell_averages(const char *expr, const fpk_grid *g, size_t nparams,
                           const char *const *param_names, const double *param_values,
                           double *avg, fpk_error *err) {
  static const double node[3] = {-0.7745966692414833770, 0.0, 0.7745966692414833770};
  static const double weight[3] = {5.0 / 18.0, 8.0 / 18.0, 5.0 / 18.0}; /* sum 1 */
  const size_t d = g->dim;
  if (nparams > FPK_EXPR_MAX_PARAMS)
    return fpk_error_set(err, FPK_EINVAL, "%zu parameters, at most %d", nparams,
                         FPK_EXPR_MAX_PARAMS);
  if (nparams && !param_names) return fpk_error_set(err, FPK_EINVAL, "parameter names are NULL");
  int rc;
#pragma omp critical(fpk_matheval)
  rc = check_locked(expr, d, nparams, param_names, 0, err); /* no t: a density has no time */
  if (rc) return rc;
  void *e = NULL;
  char **vars = NULL;
  int nv = 0;
  char *copy = malloc(strlen(expr) + 1);
  if (!copy) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  strcpy(copy, expr);
#pragma omp critical(fpk_matheval)
  {
    e = create(copy);
    if (e) evaluator_get_variables(e, &vars, &nv);
  }
  free(copy);
  if (!e) return fpk_error_set(err, FPK_ENOMEM, "cannot build the evaluator of \"%s\"", expr);
  /* where each variable's value comes from: an axis (0..d-1) or parameter d + i */
  int src[NVAR_MAX];
  double val[NVAR_MAX];
  for (int v = 0; v < nv && !rc; v++) {
    src[v] = -1;
    for (size_t a = 0; a < d; a++)
      if (!strcmp(vars[v], axis_names[a])) src[v] = (int)a;
    for (size_t i = 0; i < nparams && src[v] < 0; i++)
      if (!strcmp(vars[v], param_names[i])) {
        src[v] = (int)(d + i);
        val[v] = param_values[i];
      }
    if (src[v] < 0) /* check_locked refused every other name: a second parse disagrees */
      rc = fpk_error_set(err, FPK_EINVAL, "unknown symbol '%s' in \"%s\"", vars[v], expr);
  }
  const size_t nq = d == 1 ? 3 : d == 2 ? 9 : 27;
  for (size_t cell = 0; cell < g->size && !rc; cell++) {
    size_t idx[FPK_MAX_DIM], rest = cell;
    for (size_t a = 0; a < d; a++) idx[a] = rest % g->n[a], rest /= g->n[a];
    double sum = 0.0;
    for (size_t q = 0; q < nq && !rc; q++) {
      double x[FPK_MAX_DIM], w = 1.0;
      size_t qq = q;
      for (size_t a = 0; a < d; a++, qq /= 3) {
        x[a] = fpk_grid_center(g, a, idx[a]) + 0.5 * g->h[a] * node[qq % 3];
        w *= weight[qq % 3];
      }
      for (int v = 0; v < nv; v++)
        if (src[v] < (int)d) val[v] = x[src[v]];
      const double f = evaluator_evaluate(e, nv, vars, val);
      if (!(f >= 0.0) || !isfinite(f)) {
        char at[160];
        if (d == 1) snprintf(at, sizeof at, "x = %.9g", x[0]);
        else if (d == 2) snprintf(at, sizeof at, "x = %.9g, y = %.9g", x[0], x[1]);
        else snprintf(at, sizeof at, "x = %.9g, y = %.9g, z = %.9g", x[0], x[1], x[2]);
        rc = fpk_error_set(err, FPK_EINVAL,
                           "\"%s\" is %.9g at %s (a quadrature node of cell %zu): a density "
                           "must be finite and >= 0 on the grid",
                           expr, f, at, cell);
      }
      sum += w * f;
    }
    avg[cell] = sum;
  }
  /* A density whose values all lie near the subnormal range has lost its relative precision
   * before any normalisation can restore it (exp(-x^2)*1e-320 normalised to a mass 1.0001 with
   * half its tail cells 0): refused, with the remedy. The bound keeps the largest value 2^53
   * above the smallest normal double, so every value within 1e-16 of it is exact to rounding. */
  double largest = 0.0;
  for (size_t cell = 0; cell < g->size && !rc; cell++) largest = fmax(largest, avg[cell]);
  if (!rc && largest > 0.0 && largest < DBL_MIN / DBL_EPSILON)
    rc = fpk_error_set(err, FPK_EINVAL,
                       "\"%s\" is at most %.3g on the grid: below %.3g, where doubles lose "
                       "their precision; multiply it by a constant (the normalisation removes "
                       "it)",
                       expr, largest, DBL_MIN / DBL_EPSILON);
#pragma omp critical(fpk_matheval)
  evaluator_destroy(e);
  return rc;
}
