/* fpkit/model.h — SDE models dX = b(X,t) dt + diag(σ(X,t)) dW and Gaussian laws.
 *
 * A model is a set of callbacks with user data (SUNDIALS style): the FP solvers and the Monte
 * Carlo engine consume the same object and know nothing else about the problem. Callbacks work on
 * batches of points stored component-major (structure of arrays), so one indirect call is
 * amortised over many points and the loops inside vectorise:
 *     x[c*n + i] is component c of point i;  out[c*n + i] is component c of b or σ at point i.
 * A callback returns 0 on success, > 0 for a recoverable failure (e.g. the point left the domain
 * of the model), < 0 for a fatal one.
 */
#ifndef FPKIT_MODEL_H
#define FPKIT_MODEL_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*fpk_field_fn)(double t, size_t n, const double *x, double *out, void *params);

enum {
  FPK_MODEL_ADDITIVE = 1u << 0,   /* σ does not depend on x */
  FPK_MODEL_AUTONOMOUS = 1u << 1  /* b and σ do not depend on t (FP operators are built once) */
};

/* Linear SDE with diagonal additive noise: b(x) = -A x + c, σ = diag(sigma). OU with mean μ has
 * c = A μ; Brownian motion with drift v has A = 0, c = v. Closed forms (fpkit/exact.h) exist for
 * every model that exposes this. A is row-major, A[i*dim + j]. */
typedef struct fpk_linear_sde {
  size_t dim;
  double A[FPK_MAX_DIM * FPK_MAX_DIM];
  double c[FPK_MAX_DIM];
  double sigma[FPK_MAX_DIM];
} fpk_linear_sde;

typedef struct fpk_model {
  const char *name;
  size_t dim;
  fpk_field_fn drift; /* b(x, t) */
  fpk_field_fn noise; /* diagonal of σ(x, t); the diffusion matrix is D = ½ diag(σ²) */
  void *params;
  unsigned flags;
  const fpk_linear_sde *linear; /* non-NULL when the drift is linear and the noise additive */
} fpk_model;

/* Built-ins. OU: dX = -A(X - μ) dt + diag(σ) dW, A any real matrix (anisotropic, non-symmetric).
 * Brownian motion with drift: dX = v dt + diag(σ) dW. Both fail for σ_i <= 0 or non-finite input. */
fpk_model *fpk_model_ou_alloc(size_t dim, const double *A, const double *mu, const double *sigma,
                              fpk_error *err);
fpk_model *fpk_model_bm_alloc(size_t dim, const double *v, const double *sigma, fpk_error *err);
void fpk_model_free(fpk_model *m); /* safe on NULL; only for models made by *_alloc above */

/* Calls m->drift / m->noise and turns a non-zero return into an error message. */
int fpk_model_drift(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);
int fpk_model_noise(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);

/* A Gaussian law N(mean, cov) in dim dimensions; cov row-major. A point mass x0 is represented by
 * N(x0, w² I) with a small width w (see docs/config.md), the same law for every method. */
typedef struct fpk_gaussian {
  size_t dim;
  double mean[FPK_MAX_DIM];
  double cov[FPK_MAX_DIM * FPK_MAX_DIM];
} fpk_gaussian;

#ifdef __cplusplus
}
#endif
#endif
