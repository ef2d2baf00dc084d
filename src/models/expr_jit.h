/* Native code for expression models (src/models/expr_jit.c), internal to src/models/expr.c.
 *
 * The libmatheval trees of a model's expressions (drift, noise, ∂σ_c/∂x_c per component) are
 * translated into one libgccjit context, one function per kind of expression, each looping over
 * a block of points with the interpreter's exact operation order, so the results are bitwise
 * those of evaluator_evaluate() (see expr_jit.c for why). */
#ifndef FPK_MODELS_EXPR_JIT_H
#define FPK_MODELS_EXPR_JIT_H

#include <stddef.h>

#include "fpkit/model.h"

/* The most expressions of one kind: the d × m entries of a noise matrix. */
#define EXPR_JIT_NCOMP_MAX (FPK_MAX_DIM * FPK_MAX_NOISE)

/* out[c*n + i] = expression c at the point (x[0*n + i], ..., x[(dim-1)*n + i]) and time t, for
 * c < ncomp (dim, or d*m for a noise matrix): the layout of fpk_field_fn and of
 * fpk_model.noise_matrix. */
typedef void (*expr_jit_fn)(double t, size_t n, const double *x, double *out);

typedef struct expr_jit expr_jit;

/* Whether this build has libgccjit (CMake option FPK_JIT). */
int expr_jit_available(void);

/* Compiles the expressions roots[w][c] (libmatheval evaluators, w < nwhich, c < ncomp[w]) of the
 * variables names[0..nvar): the dim axes, then t, then the parameters, whose values
 * param_values[k] (k = index − dim − 1) become constants of the code. NULL on failure, with
 * the reason in why (a full sentence, why_len bytes). The evaluators are only read; the caller
 * makes sure no other thread changes them meanwhile. */
expr_jit *expr_jit_compile(size_t dim, int nwhich, const size_t ncomp[3],
                           void *const roots[3][EXPR_JIT_NCOMP_MAX],
                           const char *const *names, size_t nvar, const double *param_values,
                           char *why, size_t why_len);

/* The function of kind w (as given to expr_jit_compile). */
expr_jit_fn expr_jit_function(const expr_jit *j, int w);

/* Safe on NULL. */
void expr_jit_free(expr_jit *j);

/* Test hook (tests/test_expr_jit.c): when non-zero, the next compilations fail as libgccjit
 * would, with a message, so the fallback to the interpreter can be tested. */
extern int expr_jit_test_fail;

#endif
