/* Checked calls of model callbacks, and freeing of built-in models (fpkit/model.h). */
#include "fpkit/model.h"

#include <stdlib.h>

static int call(const char *what, fpk_field_fn f, const fpk_model *m, double t, size_t n,
                const double *x, double *out, fpk_error *err) {
  int rc = f(t, n, x, out, m->params);
  if (rc == 0) return FPK_SUCCESS;
  return fpk_error_set(err, rc < 0 ? FPK_ECALLBACK : FPK_ENUMERIC,
                       "model %s: %s callback returned %d at t = %g (%s)", m->name, what, rc, t,
                       rc < 0 ? "fatal" : "recoverable");
}

int fpk_model_drift(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err) {
  return call("drift", m->drift, m, t, n, x, out, err);
}

int fpk_model_noise(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err) {
  if (!m->noise)
    return fpk_error_set(err, FPK_EUNSUP,
                         "model %s has a %zu x %zu noise matrix, not diagonal noise; this method "
                         "reads diagonal noise only",
                         m->name ? m->name : "?", m->dim, m->noise_dim);
  return call("noise", m->noise, m, t, n, x, out, err);
}

int fpk_model_noise_dx(const fpk_model *m, double t, size_t n, const double *x, double *out,
                       fpk_error *err) {
  if (!m->noise_dx) {
    for (size_t i = 0; i < m->dim * n; i++) out[i] = 0.0; /* additive: σ' = 0 */
    if (m->flags & FPK_MODEL_ADDITIVE) return FPK_SUCCESS;
    return fpk_error_set(err, FPK_EINVAL, "model %s has no noise derivative",
                         m->name ? m->name : "?");
  }
  return call("noise derivative", m->noise_dx, m, t, n, x, out, err);
}

void fpk_model_free(fpk_model *m) {
  /* Every built-in model (linear.c, langevin.c) is one allocation whose first member is the
   * fpk_model, so the pointer handed out is the pointer malloc returned. An expression model
   * (expr.c) also owns libmatheval evaluators, which its release hook destroys first. */
  if (m && m->release) m->release(m);
  free(m);
}
