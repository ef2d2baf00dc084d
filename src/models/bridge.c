/* The Brownian bridge from a (t = 0) to b (t = T) (fpkit/model.h):
 *   dX_c = (b_c − X_c)/(T − t) dt + σ_c dW_c   on [0, T),
 * whose law from X_0 = a is Gaussian with mean a + (b − a)t/T and covariance
 * σ²(min(s, t) − st/T) (../shared/reference/closed-forms.md, "Brownian motion and the Brownian
 * bridge"). The drift is singular at t = T: the callback returns a recoverable failure there and
 * beyond, so a solver that steps onto T stops with the time instead of producing ±inf. One
 * allocation starting with the fpk_model, so fpk_model_free() is a plain free(). */
#include "fpkit/model.h"

#include <math.h>
#include <stdlib.h>

typedef struct bridge_model {
  fpk_model model; /* first: fpk_model_free() frees the whole record */
  fpk_bridge_params p;
} bridge_model;

static int bridge_drift(double t, size_t n, const double *x, double *out, void *params) {
  const fpk_bridge_params *p = params;
  if (!(t < p->T)) return 1;
  const double r = 1.0 / (p->T - t);
  for (size_t c = 0; c < p->dim; c++) {
    const double b = p->b[c];
    for (size_t i = 0; i < n; i++) out[c * n + i] = (b - x[c * n + i]) * r;
  }
  return 0;
}

static int bridge_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)x;
  const fpk_bridge_params *p = params;
  for (size_t c = 0; c < p->dim; c++)
    for (size_t i = 0; i < n; i++) out[c * n + i] = p->sigma[c];
  return 0;
}

fpk_model *fpk_model_bridge_alloc(size_t dim, const double *a, const double *b, double T,
                                  const double *sigma, fpk_error *err) {
  if (dim < 1 || dim > FPK_MAX_DIM) {
    fpk_error_set(err, FPK_EINVAL, "model bridge: dimension %zu, must be 1, 2 or 3", dim);
    return NULL;
  }
  if (!a || !b || !sigma) {
    fpk_error_set(err, FPK_EINVAL, "model bridge: %s is NULL", !a ? "a" : !b ? "b" : "sigma");
    return NULL;
  }
  if (!(T > 0.0) || !isfinite(T)) {
    fpk_error_set(err, FPK_EINVAL, "model bridge: T = %g, must be positive and finite", T);
    return NULL;
  }
  for (size_t c = 0; c < dim; c++) {
    if (!isfinite(a[c]) || !isfinite(b[c])) {
      fpk_error_set(err, FPK_EINVAL, "model bridge: %s[%zu] = %g is not finite",
                    isfinite(a[c]) ? "b" : "a", c, isfinite(a[c]) ? b[c] : a[c]);
      return NULL;
    }
    if (!(sigma[c] > 0.0) || !isfinite(sigma[c])) {
      fpk_error_set(err, FPK_EINVAL,
                    "model bridge: sigma[%zu] = %g, must be positive and finite", c, sigma[c]);
      return NULL;
    }
  }
  bridge_model *bm = calloc(1, sizeof *bm);
  if (!bm) {
    fpk_error_set(err, FPK_ENOMEM, "model bridge: out of memory");
    return NULL;
  }
  bm->p.dim = dim;
  bm->p.T = T;
  for (size_t c = 0; c < dim; c++)
    bm->p.a[c] = a[c], bm->p.b[c] = b[c], bm->p.sigma[c] = sigma[c];
  bm->model = (fpk_model){.name = "bridge",
                          .dim = dim,
                          .drift = bridge_drift,
                          .noise = bridge_noise,
                          .params = &bm->p,
                          .flags = FPK_MODEL_ADDITIVE,
                          .linear = NULL};
  return &bm->model;
}

const fpk_bridge_params *fpk_model_bridge_params(const fpk_model *m) {
  if (!m || m->drift != bridge_drift) return NULL;
  return &((const bridge_model *)m)->p;
}
