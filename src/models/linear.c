/* Built-in linear models: Ornstein–Uhlenbeck dX = -A(X - μ) dt + diag(σ) dW and Brownian motion
 * with drift dX = v dt + diag(σ) dW. Both are stored as b(x) = -A x + c (fpk_linear_sde), which
 * is also what the closed forms in fpkit/exact.h consume. */
#include "fpkit/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  fpk_model model;
  fpk_linear_sde sde;
} linear_model;

static int linear_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const fpk_linear_sde *s = params;
  const size_t d = s->dim;
  for (size_t r = 0; r < d; r++) {
    double *o = out + r * n;
    const double cr = s->c[r];
    for (size_t i = 0; i < n; i++) o[i] = cr;
    for (size_t k = 0; k < d; k++) {
      const double a = s->A[r * d + k];
      if (a == 0.0) continue;
      const double *xk = x + k * n;
      for (size_t i = 0; i < n; i++) o[i] -= a * xk[i];
    }
  }
  return 0;
}

static int linear_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  (void)x;
  const fpk_linear_sde *s = params;
  for (size_t r = 0; r < s->dim; r++)
    for (size_t i = 0; i < n; i++) out[r * n + i] = s->sigma[r];
  return 0;
}

static fpk_model *linear_alloc(const char *name, size_t dim, const double *A, const double *c,
                               const double *sigma, fpk_error *err) {
  if (dim < 1 || dim > FPK_MAX_DIM) {
    fpk_error_set(err, FPK_EINVAL, "model %s: dimension %zu, must be 1, 2 or 3", name, dim);
    return NULL;
  }
  for (size_t i = 0; i < dim; i++) {
    if (!(sigma[i] > 0.0) || !isfinite(sigma[i])) {
      fpk_error_set(err, FPK_EINVAL, "model %s: sigma[%zu] = %g, must be positive and finite",
                    name, i, sigma[i]);
      return NULL;
    }
    if (!isfinite(c[i])) {
      fpk_error_set(err, FPK_EINVAL, "model %s: drift constant %zu is not finite", name, i);
      return NULL;
    }
    for (size_t j = 0; j < dim; j++)
      if (A && !isfinite(A[i * dim + j])) {
        fpk_error_set(err, FPK_EINVAL, "model %s: A[%zu][%zu] is not finite", name, i, j);
        return NULL;
      }
  }
  linear_model *lm = calloc(1, sizeof *lm);
  if (!lm) {
    fpk_error_set(err, FPK_ENOMEM, "model %s: out of memory", name);
    return NULL;
  }
  lm->sde.dim = dim;
  for (size_t i = 0; i < dim; i++) {
    lm->sde.c[i] = c[i];
    lm->sde.sigma[i] = sigma[i];
    for (size_t j = 0; j < dim; j++) lm->sde.A[i * dim + j] = A ? A[i * dim + j] : 0.0;
  }
  lm->model = (fpk_model){.name = name,
                          .dim = dim,
                          .drift = linear_drift,
                          .noise = linear_noise,
                          .params = &lm->sde,
                          .flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS,
                          .linear = &lm->sde};
  return &lm->model;
}

fpk_model *fpk_model_ou_alloc(size_t dim, const double *A, const double *mu, const double *sigma,
                              fpk_error *err) {
  double c[FPK_MAX_DIM] = {0};
  if (dim >= 1 && dim <= FPK_MAX_DIM)
    for (size_t i = 0; i < dim; i++)
      for (size_t j = 0; j < dim; j++) c[i] += A[i * dim + j] * mu[j];
  return linear_alloc("ou", dim, A, c, sigma, err);
}

fpk_model *fpk_model_bm_alloc(size_t dim, const double *v, const double *sigma, fpk_error *err) {
  return linear_alloc("bm", dim, NULL, v, sigma, err);
}
