/* Built-in linear models: Ornstein–Uhlenbeck dX = -A(X - μ) dt + diag(σ) dW and Brownian motion
 * with drift dX = v dt + diag(σ) dW. Both are stored as b(x) = -A x + c (fpk_linear_sde), which
 * is also what the closed forms in fpkit/exact.h consume. */
#include "fpkit/model.h"
#include "models/model_internal.h"

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

/* Fused Euler–Maruyama steps (models/model_internal.h): em.c's additive branch with
 * linear_drift and linear_noise, x += h b + (sqrt(h) σ) z, operation for operation.
 *
 * 1D with A != 0 (OU): b = c - a x is formed in a register, as linear_drift's "o = c; o -= a x"
 * (one statement pair: the same FNMA under contraction), and the update is em_step's statement
 * "x += h * b + k * z" (contracted to x + fma(h, b, k z) by GCC, as in em_step). Paths are taken
 * FUSED_LANES at a time through all the steps, their states in registers.
 * Other cases (d > 1, or A = 0, where b = c would be a loop invariant and h b could be hoisted
 * out of the loop and no longer contracted the same way): linear_drift itself into `work`, then
 * em_step's update loop; still no callback, noise call or finiteness pass per step. */
enum { FUSED_LANES = 32 };

static void linear_em_fused_ou1(const fpk_model *m, double h, size_t nsteps, size_t n, double *x,
                                const double *z, size_t ld, double *work) {
  (void)work;
  const fpk_linear_sde *s = m->params;
  const double cr = s->c[0], a = s->A[0], k = sqrt(h) * s->sigma[0];
  size_t i0 = 0;
  for (; i0 + FUSED_LANES <= n; i0 += FUSED_LANES) {
    double xr[FUSED_LANES];
    for (size_t l = 0; l < FUSED_LANES; l++) xr[l] = x[i0 + l];
    for (size_t j = 0; j < nsteps; j++) {
      const double *zj = z + j * ld + i0;
      for (size_t l = 0; l < FUSED_LANES; l++) {
        double b = cr;
        b -= a * xr[l];
        xr[l] += h * b + k * zj[l];
      }
    }
    for (size_t l = 0; l < FUSED_LANES; l++) x[i0 + l] = xr[l];
  }
  for (size_t j = 0; j < nsteps && i0 < n; j++) {
    const double *zj = z + j * ld;
    for (size_t i = i0; i < n; i++) {
      double b = cr;
      b -= a * x[i];
      x[i] += h * b + k * zj[i];
    }
  }
}

static void linear_em_fused_any(const fpk_model *m, double h, size_t nsteps, size_t n, double *x,
                                const double *z, size_t ld, double *work) {
  const fpk_linear_sde *s = m->params;
  const size_t d = s->dim;
  const double sqh = sqrt(h);
  for (size_t j = 0; j < nsteps; j++) {
    linear_drift(0.0, n, x, work, m->params);
    for (size_t c = 0; c < d; c++) {
      double *restrict xc = x + c * n;
      const double *restrict bc = work + c * n;
      const double *restrict zc = z + (j * d + c) * ld;
      const double k = sqh * s->sigma[c];
      for (size_t i = 0; i < n; i++) xc[i] += h * bc[i] + k * zc[i];
    }
  }
}

/* out[(r*q + k)*n + i] = B_rk: the noise matrix, the same at every point. */
static int linear_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  (void)x;
  const fpk_linear_sde *s = params;
  const size_t q = s->noise_dim;
  for (size_t rk = 0; rk < s->dim * q; rk++)
    for (size_t i = 0; i < n; i++) out[rk * n + i] = s->B[rk];
  return 0;
}

void fpk_linear_sde_bbt(const fpk_linear_sde *s, double *bbt) {
  const size_t d = s->dim, q = s->noise_dim;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double v = 0.0;
      if (q == 0) {
        if (i == j) v = s->sigma[i] * s->sigma[i];
      } else {
        for (size_t k = 0; k < q; k++) v += s->B[i * q + k] * s->B[j * q + k];
      }
      bbt[i * d + j] = v;
    }
}

model_em_fused_fn model_linear_em_fused(const fpk_model *m) {
  if (!m || m->drift != linear_drift || m->noise != linear_noise || !m->params ||
      !(m->flags & FPK_MODEL_ADDITIVE))
    return NULL;
  const fpk_linear_sde *s = m->params;
  if (s->dim != m->dim) return NULL;
  return s->dim == 1 && s->A[0] != 0.0 ? linear_em_fused_ou1 : linear_em_fused_any;
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

fpk_model *fpk_model_ou_matrix_alloc(size_t dim, const double *A, const double *mu, size_t m,
                                     const double *B, fpk_error *err) {
  if (m < 1 || m > FPK_MAX_NOISE || !B) {
    fpk_error_set(err, FPK_EINVAL, "model ou: noise matrix with %zu columns, must be 1..%d", m,
                  FPK_MAX_NOISE);
    return NULL;
  }
  int nonzero = 0;
  if (dim >= 1 && dim <= FPK_MAX_DIM)
    for (size_t i = 0; i < dim * m; i++) {
      if (!isfinite(B[i])) {
        fpk_error_set(err, FPK_EINVAL, "model ou: B[%zu][%zu] = %g is not finite", i / m, i % m,
                      B[i]);
        return NULL;
      }
      nonzero |= B[i] != 0.0;
    }
  if (dim >= 1 && dim <= FPK_MAX_DIM && !nonzero) {
    fpk_error_set(err, FPK_EINVAL, "model ou: the noise matrix B is zero (no noise)");
    return NULL;
  }
  /* linear_alloc checks the dimension, A and μ; the diagonal it is given is a placeholder. */
  const double one[FPK_MAX_DIM] = {1.0, 1.0, 1.0};
  fpk_model *md = fpk_model_ou_alloc(dim, A, mu, one, err);
  if (!md) return NULL;
  linear_model *lm = (linear_model *)md;
  for (size_t i = 0; i < dim; i++) lm->sde.sigma[i] = 0.0;
  lm->sde.noise_dim = m;
  memcpy(lm->sde.B, B, dim * m * sizeof *B);
  md->noise = NULL;
  md->noise_matrix = linear_noise_matrix;
  md->noise_dim = m;
  return md;
}
