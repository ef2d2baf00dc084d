/* Expression models compiled to native code with libgccjit (expr_jit.h; docs/config.md,
 * "[model] jit"; docs/performance.md, "SDE ensembles by model and scheme").
 *
 * Where the tree comes from. libmatheval's public API gives an expression back only as a string,
 * evaluator_get_string(), which prints numbers with "%g" (6 significant digits: "0.123456789*x"
 * comes back as "(0.123457*x)"), so a translation of that string would change every literal with
 * more digits, and every constant that its simplifier folds (0.3*0.7 -> 0.21). The tree itself
 * is read instead, through a mirror of libmatheval 1.1.x's private node and symbol records (the
 * last release, 1.1.11 of 2013, is the one every distribution ships), and two checks make that
 * safe to rely on before any code runs:
 *   1. the tree is printed back in libmatheval's own format (fully parenthesised, negative numbers
 *      in parentheses, "%g") and must equal evaluator_get_string() character for character — a
 *      different layout would give a different string (or stop at a node type outside "ncvfub");
 *   2. the caller (expr.c) evaluates the compiled functions and the interpreter at sample points
 *      and requires the same bits.
 * Either failing falls back to the interpreter, with the reason.
 *
 * Why the results are bitwise those of evaluator_evaluate(). The interpreter (libmatheval's
 * node_evaluate) computes numbers, constants and variables as stored, a function node as a call
 * of the function pointer in its symbol record, unary minus as negation, + - * / as the IEEE
 * operations and ^ as pow(). The generated code does the same operations in the same order:
 *   - functions are called through the very pointers of the records (libm's exp, libmatheval's
 *     own cot, step, delta, ...), never by name, so GCC cannot replace them by its built-ins or
 *     fold a call with constant arguments at compile time (GCC folds exp(c) correctly rounded,
 *     glibc's exp is not always); sqrt and fabs are the exceptions, as built-ins: IEEE sqrt is
 *     correctly rounded and fabs exact, so the instruction gives libm's bits, and they vectorise;
 *   - ^ calls pow (through a pointer too); x^2 is not turned into x*x, which is exact while pow
 *     is only within 1 ulp in glibc's documentation;
 *   - -ffp-contract=off: no a*b + c fused into one FMA (one rounding instead of two); without
 *     -ffast-math GCC neither reassociates nor drops 0*x or x+0;
 *   - parameters become constants: folding +, -, *, / of constants is correctly rounded, as at
 *     run time.
 * Vector instructions round every lane as the scalar ones do and the loops have no reductions, so
 * the vector width (-march) does not change a bit; it is chosen from the running CPU.
 *
 * Code: one function per kind of expression (drift, noise, ∂σ_c/∂x_c), all in one libgccjit
 * context (one compilation, ~50-200 ms), each
 *     void f(double t, size_t n, const double *x, double *out)
 *     { for (i = 0; i < n; i++) { v_a = x[a*n + i] for every axis a;
 *                                 out[c*n + i] = expr_c(v, t) for every component c; } }
 * the order of expr.c's evaluate(): every coordinate of a point is read before its results are
 * written. A noise matrix (issue 16) is the noise function with d*m results instead of d,
 * out[(r*m + k)*n + i] = σ_rk: the layout of fpk_model.noise_matrix, so nothing else changes. The result (machine code in a dlopen'ed object) is read-only, shared by every thread. */
#include "models/expr_jit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int expr_jit_test_fail = 0;

#if !defined(FPK_HAVE_JIT)

int expr_jit_available(void) { return 0; }

expr_jit *expr_jit_compile(size_t dim, int nwhich, const size_t ncomp[3],
                           void *const roots[3][EXPR_JIT_NCOMP_MAX], const char *const *names,
                           size_t nvar, const double *param_values, char *why, size_t why_len) {
  (void)dim, (void)nwhich, (void)ncomp, (void)roots, (void)names, (void)nvar, (void)param_values;
  snprintf(why, why_len, "this build has no libgccjit (CMake option FPK_JIT)");
  return NULL;
}

expr_jit_fn expr_jit_function(const expr_jit *j, int w) {
  (void)j, (void)w;
  return NULL;
}

void expr_jit_free(expr_jit *j) { (void)j; }

#else

#include <matheval.h>
#include <unistd.h>

#include FPK_LIBGCCJIT_H

/* ---- libmatheval 1.1.x's private records (lib/node.h, lib/symbol_table.h, lib/matheval.c) -- */

typedef struct mv_record {
  struct mv_record *next;
  char *name;
  char type; /* 'c' constant, 'v' variable, 'f' function */
  union {
    double value;
    double (*function)(double);
  } data;
  int flag;
} mv_record;

typedef struct mv_node {
  char type; /* 'n' number, 'c' constant, 'v' variable, 'f' function, 'u' unary, 'b' binary */
  union {
    double number;
    mv_record *constant;
    mv_record *variable;
    struct {
      mv_record *record;
      struct mv_node *child;
    } function;
    struct {
      char operation;
      struct mv_node *child;
    } un_op;
    struct {
      char operation;
      struct mv_node *left, *right;
    } bin_op;
  } data;
} mv_node;

typedef struct mv_evaluator {
  mv_node *root; /* the first member; the others are not used here */
} mv_evaluator;

#define TREE_DEPTH_MAX 10000 /* far beyond any expression of EXPR_MAX_LEN characters */

/* A growing string; len == (size_t)-1 after an allocation failure. */
typedef struct strbuf {
  char *s;
  size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (b->len == (size_t)-1) return;
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  const int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof tmp) {
    b->len = (size_t)-1;
    return;
  }
  if (b->len + (size_t)k + 1 > b->cap) {
    const size_t cap = 2 * (b->len + (size_t)k + 1) + 64;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->len = (size_t)-1;
      return;
    }
    b->s = s, b->cap = cap;
  }
  memcpy(b->s + b->len, tmp, (size_t)k + 1);
  b->len += (size_t)k;
}

/* Prints the tree as libmatheval's node_write() does; 0, or -1 on a node this mirror does not
 * know (another layout) or a tree deeper than TREE_DEPTH_MAX. */
static int tree_write(const mv_node *nd, strbuf *b, int depth) {
  if (!nd || depth > TREE_DEPTH_MAX) return -1;
  switch (nd->type) {
    case 'n':
      sb_printf(b, nd->data.number < 0 ? "(%g)" : "%g", nd->data.number);
      return 0;
    case 'c':
    case 'v':
      if (!nd->data.variable || !nd->data.variable->name) return -1;
      sb_printf(b, "%.60s", nd->data.variable->name);
      return 0;
    case 'f':
      if (!nd->data.function.record || !nd->data.function.record->name) return -1;
      sb_printf(b, "%.60s(", nd->data.function.record->name);
      if (tree_write(nd->data.function.child, b, depth + 1)) return -1;
      sb_printf(b, ")");
      return 0;
    case 'u':
      if (nd->data.un_op.operation != '-') return -1;
      sb_printf(b, "(-");
      if (tree_write(nd->data.un_op.child, b, depth + 1)) return -1;
      sb_printf(b, ")");
      return 0;
    case 'b':
      if (!strchr("+-*/^", nd->data.bin_op.operation) || !nd->data.bin_op.operation) return -1;
      sb_printf(b, "(");
      if (tree_write(nd->data.bin_op.left, b, depth + 1)) return -1;
      sb_printf(b, "%c", nd->data.bin_op.operation);
      if (tree_write(nd->data.bin_op.right, b, depth + 1)) return -1;
      sb_printf(b, ")");
      return 0;
    default:
      return -1;
  }
}

/* ---- translation to libgccjit ------------------------------------------------------------- */

typedef struct jit_build {
  gcc_jit_context *ctxt;
  gcc_jit_type *dbl;
  gcc_jit_type *unary_ptr; /* double (*)(double) */
  gcc_jit_type *binary_ptr; /* double (*)(double, double) */
  gcc_jit_function *sqrt_fn, *fabs_fn;
  size_t dim, nvar;
  const char *const *names;
  const double *param_values;
  gcc_jit_rvalue *axis[FPK_MAX_DIM]; /* this point's coordinates (locals) */
  gcc_jit_rvalue *t;
} jit_build;

/* Calls through a pointer, so that GCC neither recognises nor folds the function. */
static gcc_jit_rvalue *call_ptr(jit_build *jb, gcc_jit_type *ptr_type, void (*fn)(void), int nargs,
                                gcc_jit_rvalue **args) {
  void *address;
  memcpy(&address, &fn, sizeof address); /* function to data pointer: POSIX (dlsym) allows it */
  gcc_jit_rvalue *p = gcc_jit_context_new_rvalue_from_ptr(jb->ctxt, ptr_type, address);
  return gcc_jit_context_new_call_through_ptr(jb->ctxt, NULL, p, nargs, args);
}

/* The rvalue of the tree (checked by tree_write beforehand), or NULL for a variable this model
 * does not know (which check_spec in expr.c excludes). */
static gcc_jit_rvalue *translate(jit_build *jb, const mv_node *nd) {
  switch (nd->type) {
    case 'n':
      return gcc_jit_context_new_rvalue_from_double(jb->ctxt, jb->dbl, nd->data.number);
    case 'c':
      return gcc_jit_context_new_rvalue_from_double(jb->ctxt, jb->dbl,
                                                    nd->data.constant->data.value);
    case 'v': {
      const char *name = nd->data.variable->name;
      for (size_t k = 0; k < jb->nvar; k++) {
        if (strcmp(name, jb->names[k]) != 0) continue;
        if (k < jb->dim) return jb->axis[k];
        if (k == jb->dim) return jb->t;
        return gcc_jit_context_new_rvalue_from_double(jb->ctxt, jb->dbl,
                                                      jb->param_values[k - jb->dim - 1]);
      }
      return NULL;
    }
    case 'f': {
      gcc_jit_rvalue *arg = translate(jb, nd->data.function.child);
      if (!arg) return NULL;
      double (*fn)(double) = nd->data.function.record->data.function;
      if (fn == sqrt) return gcc_jit_context_new_call(jb->ctxt, NULL, jb->sqrt_fn, 1, &arg);
      if (fn == fabs) return gcc_jit_context_new_call(jb->ctxt, NULL, jb->fabs_fn, 1, &arg);
      return call_ptr(jb, jb->unary_ptr, (void (*)(void))fn, 1, &arg);
    }
    case 'u': {
      gcc_jit_rvalue *arg = translate(jb, nd->data.un_op.child);
      return arg ? gcc_jit_context_new_unary_op(jb->ctxt, NULL, GCC_JIT_UNARY_OP_MINUS, jb->dbl,
                                                arg)
                 : NULL;
    }
    default: { /* 'b' */
      gcc_jit_rvalue *args[2] = {translate(jb, nd->data.bin_op.left),
                                 translate(jb, nd->data.bin_op.right)};
      if (!args[0] || !args[1]) return NULL;
      enum gcc_jit_binary_op op;
      switch (nd->data.bin_op.operation) {
        case '+': op = GCC_JIT_BINARY_OP_PLUS; break;
        case '-': op = GCC_JIT_BINARY_OP_MINUS; break;
        case '*': op = GCC_JIT_BINARY_OP_MULT; break;
        case '/': op = GCC_JIT_BINARY_OP_DIVIDE; break;
        default: return call_ptr(jb, jb->binary_ptr, (void (*)(void))pow, 2, args); /* '^' */
      }
      return gcc_jit_context_new_binary_op(jb->ctxt, NULL, op, jb->dbl, args[0], args[1]);
    }
  }
}

/* Whether an executable `name` lies in a directory of PATH (execvp's default "/bin:/usr/bin" when
 * PATH is unset; an empty entry is the current directory). libgccjit 12 runs GCC's driver inside
 * the process, and the driver calls exit() when it cannot execute the assembler: the model would
 * take the whole program down instead of falling back. So `as` and `ld` (binutils, which the
 * driver and collect2 look up in PATH) are looked for first. */
static int on_path(const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  char file[4096];
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    const size_t len = end ? (size_t)(end - p) : strlen(p);
    const int k = len ? snprintf(file, sizeof file, "%.*s/%s", (int)len, p, name)
                      : snprintf(file, sizeof file, "%s", name);
    if (k > 0 && (size_t)k < sizeof file && access(file, X_OK) == 0) return 1;
    if (!end) return 0;
    p = end;
  }
}

struct expr_jit {
  gcc_jit_result *result;
  expr_jit_fn fn[3];
};

int expr_jit_available(void) { return 1; }

expr_jit_fn expr_jit_function(const expr_jit *j, int w) {
  return j && w >= 0 && w < 3 ? j->fn[w] : NULL;
}

void expr_jit_free(expr_jit *j) {
  if (!j) return;
  if (j->result) gcc_jit_result_release(j->result);
  free(j);
}

static const char *const fn_names[3] = {"fpk_expr_drift", "fpk_expr_noise", "fpk_expr_noise_dx"};

/* Builds the function of kind w (nc expressions) into jb->ctxt; 0, or -1 (why set) for an
 * unknown variable. */
static int build_function(jit_build *jb, int w, size_t nc,
                          void *const roots[3][EXPR_JIT_NCOMP_MAX], char *why, size_t why_len) {
  gcc_jit_context *ctxt = jb->ctxt;
  gcc_jit_type *size = gcc_jit_context_get_type(ctxt, GCC_JIT_TYPE_SIZE_T);
  gcc_jit_type *cptr = gcc_jit_type_get_pointer(gcc_jit_type_get_const(jb->dbl));
  gcc_jit_type *ptr = gcc_jit_type_get_pointer(jb->dbl);
  gcc_jit_param *par[4] = {gcc_jit_context_new_param(ctxt, NULL, jb->dbl, "t"),
                           gcc_jit_context_new_param(ctxt, NULL, size, "n"),
                           gcc_jit_context_new_param(ctxt, NULL, cptr, "x"),
                           gcc_jit_context_new_param(ctxt, NULL, ptr, "out")};
  gcc_jit_function *f =
      gcc_jit_context_new_function(ctxt, NULL, GCC_JIT_FUNCTION_EXPORTED,
                                   gcc_jit_context_get_type(ctxt, GCC_JIT_TYPE_VOID),
                                   fn_names[w], 4, par, 0);
  gcc_jit_rvalue *n = gcc_jit_param_as_rvalue(par[1]);
  gcc_jit_rvalue *x = gcc_jit_param_as_rvalue(par[2]);
  gcc_jit_rvalue *out = gcc_jit_param_as_rvalue(par[3]);
  jb->t = gcc_jit_param_as_rvalue(par[0]);
  gcc_jit_lvalue *i = gcc_jit_function_new_local(f, NULL, size, "i");
  gcc_jit_block *entry = gcc_jit_function_new_block(f, "entry");
  gcc_jit_block *cond = gcc_jit_function_new_block(f, "cond");
  gcc_jit_block *body = gcc_jit_function_new_block(f, "body");
  gcc_jit_block *done = gcc_jit_function_new_block(f, "done");
  gcc_jit_block_add_assignment(entry, NULL, i, gcc_jit_context_zero(ctxt, size));
  gcc_jit_block_end_with_jump(entry, NULL, cond);
  gcc_jit_block_end_with_conditional(
      cond, NULL,
      gcc_jit_context_new_comparison(ctxt, NULL, GCC_JIT_COMPARISON_LT,
                                     gcc_jit_lvalue_as_rvalue(i), n),
      body, done);
  /* index c*n + i of component c (of the coordinates: c < dim; of the results: c < nc) */
  gcc_jit_rvalue *index[EXPR_JIT_NCOMP_MAX];
  const size_t nindex = nc > jb->dim ? nc : jb->dim;
  for (size_t c = 0; c < nindex; c++)
    index[c] = gcc_jit_context_new_binary_op(
        ctxt, NULL, GCC_JIT_BINARY_OP_PLUS, size,
        gcc_jit_context_new_binary_op(ctxt, NULL, GCC_JIT_BINARY_OP_MULT, size,
                                      gcc_jit_context_new_rvalue_from_long(ctxt, size, (long)c), n),
        gcc_jit_lvalue_as_rvalue(i));
  for (size_t a = 0; a < jb->dim; a++) {
    static const char *const local_names[FPK_MAX_DIM] = {"v0", "v1", "v2"};
    gcc_jit_lvalue *v = gcc_jit_function_new_local(f, NULL, jb->dbl, local_names[a]);
    gcc_jit_block_add_assignment(
        body, NULL, v,
        gcc_jit_lvalue_as_rvalue(gcc_jit_context_new_array_access(ctxt, NULL, x, index[a])));
    jb->axis[a] = gcc_jit_lvalue_as_rvalue(v);
  }
  for (size_t c = 0; c < nc; c++) {
    gcc_jit_rvalue *value = translate(jb, ((const mv_evaluator *)roots[w][c])->root);
    if (!value) {
      snprintf(why, why_len, "%s of component %zu uses a variable the model does not know",
               fn_names[w] + 9, c);
      return -1;
    }
    gcc_jit_block_add_assignment(body, NULL,
                                 gcc_jit_context_new_array_access(ctxt, NULL, out, index[c]),
                                 value);
  }
  gcc_jit_block_add_assignment_op(body, NULL, i, GCC_JIT_BINARY_OP_PLUS,
                                  gcc_jit_context_one(ctxt, size));
  gcc_jit_block_end_with_jump(body, NULL, cond);
  gcc_jit_block_end_with_void_return(done, NULL);
  return 0;
}

expr_jit *expr_jit_compile(size_t dim, int nwhich, const size_t ncomp[3],
                           void *const roots[3][EXPR_JIT_NCOMP_MAX], const char *const *names,
                           size_t nvar, const double *param_values, char *why, size_t why_len) {
  if (expr_jit_test_fail) {
    snprintf(why, why_len, "libgccjit failed: compilation failure injected by a test");
    return NULL;
  }
  /* check 1 of the header comment: the mirrored layout prints libmatheval's own strings */
  for (int w = 0; w < nwhich; w++)
    for (size_t c = 0; c < ncomp[w]; c++) {
      strbuf b = {0};
      int bad = tree_write(((const mv_evaluator *)roots[w][c])->root, &b, 0);
      const char *expected;
#pragma omp critical(fpk_matheval)
      expected = evaluator_get_string(roots[w][c]);
      if (b.len == (size_t)-1) {
        free(b.s);
        snprintf(why, why_len, "out of memory");
        return NULL;
      }
      bad = bad || !b.s || !expected || strcmp(b.s, expected) != 0;
      free(b.s);
      if (bad) {
        snprintf(why, why_len,
                 "this libmatheval's expression tree is not the layout of libmatheval 1.1.x "
                 "that the compiler reads");
        return NULL;
      }
    }
  static const char *const tools[2] = {"as", "ld"};
  for (int k = 0; k < 2; k++)
    if (!on_path(tools[k])) {
      snprintf(why, why_len,
               "libgccjit needs the %s '%s' (binutils) in PATH, and there is none",
               k ? "linker" : "assembler", tools[k]);
      return NULL;
    }
  expr_jit *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  gcc_jit_context *ctxt = gcc_jit_context_acquire();
  if (!ctxt) {
    free(j);
    snprintf(why, why_len, "libgccjit failed: no context (out of memory?)");
    return NULL;
  }
  gcc_jit_context_set_int_option(ctxt, GCC_JIT_INT_OPTION_OPTIMIZATION_LEVEL, 3);
  /* the reasons are in the header comment: no FMA contraction; sqrt as an instruction */
  gcc_jit_context_add_command_line_option(ctxt, "-ffp-contract=off");
  gcc_jit_context_add_command_line_option(ctxt, "-fno-math-errno");
#if defined(__x86_64__)
  /* x86-64-v3 where the CPU has it (AVX2, FMA, BMI2; F16C comes with them on every such CPU, and
   * clang 14 cannot test it); FMA instructions stay unused under -ffp-contract=off */
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    gcc_jit_context_add_command_line_option(ctxt, "-march=x86-64-v3");
#endif
  jit_build jb = {.ctxt = ctxt, .dim = dim, .nvar = nvar, .names = names,
                  .param_values = param_values};
  jb.dbl = gcc_jit_context_get_type(ctxt, GCC_JIT_TYPE_DOUBLE);
  gcc_jit_type *two[2] = {jb.dbl, jb.dbl};
  jb.unary_ptr = gcc_jit_context_new_function_ptr_type(ctxt, NULL, jb.dbl, 1, two, 0);
  jb.binary_ptr = gcc_jit_context_new_function_ptr_type(ctxt, NULL, jb.dbl, 2, two, 0);
  jb.sqrt_fn = gcc_jit_context_get_builtin_function(ctxt, "__builtin_sqrt");
  jb.fabs_fn = gcc_jit_context_get_builtin_function(ctxt, "__builtin_fabs");
  int rc = 0;
  for (int w = 0; w < nwhich && !rc; w++)
    rc = build_function(&jb, w, ncomp[w], roots, why, why_len);
  if (!rc) {
    j->result = gcc_jit_context_compile(ctxt);
    for (int w = 0; w < nwhich && j->result; w++)
      j->fn[w] = (expr_jit_fn)gcc_jit_result_get_code(j->result, fn_names[w]);
    if (!j->result) {
      const char *msg = gcc_jit_context_get_first_error(ctxt);
      snprintf(why, why_len, "libgccjit failed: %s", msg ? msg : "no message");
      rc = -1;
    }
    for (int w = 0; w < nwhich && !rc; w++)
      if (!j->fn[w]) {
        snprintf(why, why_len, "libgccjit failed: no code for %s", fn_names[w]);
        rc = -1;
      }
  }
  gcc_jit_context_release(ctxt);
  if (rc) {
    expr_jit_free(j);
    return NULL;
  }
  return j;
}

#endif
