/* Internal interfaces between the built-in models (src/models/) and the Monte Carlo engine
 * (src/sde/). Not installed.
 *
 * Fused Euler–Maruyama kernels. For a built-in model whose drift and noise are known functions
 * of x (linear.c: OU and Brownian motion with drift; gbm.c: geometric Brownian motion), the
 * engine can run several EM steps of a block of paths in one pass per step, with no callback,
 * no drift buffer, no per-step noise call and no per-step finiteness pass (src/sde/ensemble.c).
 * A kernel does exactly the floating-point operations of em.c's em_step with the model's own
 * callbacks, in the same order and with the same statements (so the compiler contracts them into
 * the same FMAs): bitwise the same states. tests/test_sde_fused.c compares whole runs of both
 * paths. The kernels are only for autonomous models (no time argument). */
#ifndef FPK_MODEL_INTERNAL_H
#define FPK_MODEL_INTERNAL_H

#include <stddef.h>

#include "fpkit/model.h"

/* nsteps EM steps of size h on the n points x (component-major, x[c*n + i]); the normals of
 * step j are z[(j*d + c)*ld + i] (the engine's fill layout: one row of ld per component and
 * step). work: room for d*n doubles. No finiteness check: the caller checks the points after
 * the last step (a non-finite component stays non-finite under every kernel's arithmetic). */
typedef void (*model_em_fused_fn)(const fpk_model *m, double h, size_t nsteps, size_t n,
                                  double *x, const double *z, size_t ld, double *work);

/* The model's fused EM kernel, or NULL (a model made elsewhere, or with callbacks replaced).
 * Each looks at m->drift and m->noise, so a user's copy of a built-in with another callback gets
 * NULL and the generic path. */
model_em_fused_fn model_linear_em_fused(const fpk_model *m); /* linear.c */
model_em_fused_fn model_gbm_em_fused(const fpk_model *m);    /* gbm.c */

/* The zero rows of an expression model's noise matrix, decided from its strings (an entry is zero
 * when it simplifies to the literal 0; expr.c): 1 with *mask set for such a model, 0 for any
 * other (fpk_model_zero_noise_rows then samples σ). */
int model_expr_zero_noise_rows(const fpk_model *m, unsigned *mask);

#endif
