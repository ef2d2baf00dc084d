/* Geometric Brownian motion (fpkit/model.h): dX_c = μ_c X_c dt + σ_c X_c dW_c, independent
 * components. Its pathwise solution is a function of the Brownian increment alone,
 *   X_t = X_{t0} exp((μ − σ²/2)(t − t0) + σ (W_t − W_{t0})),
 * i.e. ln X_t ~ N(ln x0 + (μ − σ²/2)t, σ²t) (../shared/reference/closed-forms.md, "Geometric
 * Brownian motion"), which makes it the reference of strong-error studies with multiplicative
 * noise; ∂σ_c/∂x_c = σ_c is Milstein's σ'. One allocation starting with the fpk_model, so
 * fpk_model_free() is a plain free(). */
#include "fpkit/model.h"
#include "models/model_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct gbm_model {
  fpk_model model; /* first: fpk_model_free() frees the whole record */
  fpk_gbm_params p;
} gbm_model;

static int gbm_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const fpk_gbm_params *p = params;
  for (size_t c = 0; c < p->dim; c++) {
    const double mu = p->mu[c];
    for (size_t i = 0; i < n; i++) out[c * n + i] = mu * x[c * n + i];
  }
  return 0;
}

static int gbm_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const fpk_gbm_params *p = params;
  for (size_t c = 0; c < p->dim; c++) {
    const double s = p->sigma[c];
    for (size_t i = 0; i < n; i++) out[c * n + i] = s * x[c * n + i];
  }
  return 0;
}

static int gbm_noise_dx(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)x;
  const fpk_gbm_params *p = params;
  for (size_t c = 0; c < p->dim; c++)
    for (size_t i = 0; i < n; i++) out[c * n + i] = p->sigma[c];
  return 0;
}

/* Itô's formula for ln X gives the drift μ − σ²/2 of the exponent (closed-forms.md). */
static int gbm_solution(double t0, double t, size_t n, const double *x0, const double *dw,
                        double *out, void *params) {
  const fpk_gbm_params *p = params;
  for (size_t c = 0; c < p->dim; c++) {
    const double s = p->sigma[c], a = (p->mu[c] - 0.5 * s * s) * (t - t0);
    for (size_t i = 0; i < n; i++) out[c * n + i] = x0[c * n + i] * exp(a + s * dw[c * n + i]);
  }
  return 0;
}

/* Fused Euler–Maruyama steps (models/model_internal.h): em.c's multiplicative branch with
 * gbm_drift and gbm_noise, operation for operation: b = μ x and s = σ x rounded as the callbacks
 * store them, then em_step's statement "x += h * b + sqh * s * z". Components are independent,
 * so each is taken through all the steps in turn, FUSED_LANES paths at a time in registers. */
enum { FUSED_LANES = 32 };

static void gbm_em_fused(const fpk_model *m, double h, size_t nsteps, size_t n, double *x,
                         const double *z, size_t ld, double *work) {
  (void)work;
  const fpk_gbm_params *p = m->params;
  const size_t d = p->dim;
  const double sqh = sqrt(h);
  for (size_t c = 0; c < d; c++) {
    const double mu = p->mu[c], sg = p->sigma[c];
    double *xc = x + c * n;
    const double *zc = z + c * ld;
    size_t i0 = 0;
    for (; i0 + FUSED_LANES <= n; i0 += FUSED_LANES) {
      double xr[FUSED_LANES];
      for (size_t l = 0; l < FUSED_LANES; l++) xr[l] = xc[i0 + l];
      for (size_t j = 0; j < nsteps; j++) {
        const double *zj = zc + j * d * ld + i0;
        for (size_t l = 0; l < FUSED_LANES; l++) {
          const double b = mu * xr[l], s = sg * xr[l];
          xr[l] += h * b + sqh * s * zj[l];
        }
      }
      for (size_t l = 0; l < FUSED_LANES; l++) xc[i0 + l] = xr[l];
    }
    for (size_t j = 0; j < nsteps && i0 < n; j++) {
      const double *zj = zc + j * d * ld;
      for (size_t i = i0; i < n; i++) {
        const double b = mu * xc[i], s = sg * xc[i];
        xc[i] += h * b + sqh * s * zj[i];
      }
    }
  }
}

model_em_fused_fn model_gbm_em_fused(const fpk_model *m) {
  if (!m || m->drift != gbm_drift || m->noise != gbm_noise || !m->params ||
      (m->flags & FPK_MODEL_ADDITIVE))
    return NULL;
  const fpk_gbm_params *p = m->params;
  return p->dim == m->dim ? gbm_em_fused : NULL;
}

fpk_model *fpk_model_gbm_alloc(size_t dim, const double *mu, const double *sigma,
                               fpk_error *err) {
  if (dim < 1 || dim > FPK_MAX_DIM) {
    fpk_error_set(err, FPK_EINVAL, "model gbm: dimension %zu, must be 1, 2 or 3", dim);
    return NULL;
  }
  if (!mu || !sigma) {
    fpk_error_set(err, FPK_EINVAL, "model gbm: %s is NULL", !mu ? "mu" : "sigma");
    return NULL;
  }
  for (size_t c = 0; c < dim; c++) {
    if (!isfinite(mu[c])) {
      fpk_error_set(err, FPK_EINVAL, "model gbm: mu[%zu] = %g is not finite", c, mu[c]);
      return NULL;
    }
    if (!(sigma[c] > 0.0) || !isfinite(sigma[c])) {
      fpk_error_set(err, FPK_EINVAL, "model gbm: sigma[%zu] = %g, must be positive and finite",
                    c, sigma[c]);
      return NULL;
    }
  }
  gbm_model *gm = calloc(1, sizeof *gm);
  if (!gm) {
    fpk_error_set(err, FPK_ENOMEM, "model gbm: out of memory");
    return NULL;
  }
  gm->p.dim = dim;
  for (size_t c = 0; c < dim; c++) gm->p.mu[c] = mu[c], gm->p.sigma[c] = sigma[c];
  gm->model = (fpk_model){.name = "gbm",
                          .dim = dim,
                          .drift = gbm_drift,
                          .noise = gbm_noise,
                          .noise_dx = gbm_noise_dx,
                          .solution = gbm_solution,
                          .params = &gm->p,
                          .flags = FPK_MODEL_AUTONOMOUS,
                          .linear = NULL};
  return &gm->model;
}

const fpk_gbm_params *fpk_model_gbm_params(const fpk_model *m) {
  if (!m || m->drift != gbm_drift) return NULL;
  return &((const gbm_model *)m)->p;
}
