/* The Euler–Maruyama stepper (fpkit/sde.h).
 *
 * Euler–Maruyama: X_{k+1} = X_k + h b(X_k, t_k) + sqrt(h) σ(X_k, t_k) ∘ Z_k (Kloeden & Platen,
 * "Numerical Solution of SDEs", 1992, §10.2): strong order ½ (1 for additive noise), weak
 * order 1. For FPK_MODEL_ADDITIVE models σ does not depend on x, so the noise callback is asked
 * for one point only (n = 1) and the update uses a per-component constant. A model with a d × m
 * noise matrix takes m normals per step, σ ∘ Z becoming the product σ Z (em_step_matrix). */
#include <math.h>
#include <string.h>

#include "sde/sde_internal.h"

/* Euler–Maruyama with a d × m noise matrix (issue 16): X_{k+1} = X_k + h b + √h σ ξ, ξ the m
 * normals of the step (rows z + k*n), b and σ at (X_k, t_k). Additive noise: σ at one point. */
static int em_step_matrix(const fpk_model *m, double t, double h, size_t n, double *x,
                          const double *z, double *work, fpk_error *err) {
  const size_t d = m->dim, nm = m->noise_dim;
  double *restrict b = work;
  int rc = fpk_model_drift(m, t, n, x, b, err);
  if (rc) return rc;
  const double sqh = sqrt(h);
  if (m->flags & FPK_MODEL_ADDITIVE) {
    double x0[FPK_MAX_DIM], s[FPK_MAX_DIM * FPK_MAX_NOISE];
    for (size_t c = 0; c < d; c++) x0[c] = x[c * n];
    if ((rc = fpk_model_noise_matrix(m, t, 1, x0, s, err))) return rc;
    for (size_t i = 0; i < d * n; i++) x[i] += h * b[i];
    sde_add_matrix_noise_const(d, nm, n, sqh, s, z, x);
    return FPK_SUCCESS;
  }
  double *restrict s = sde_sigma_work(&fpk_sde_em_type, m, n, work);
  if ((rc = fpk_model_noise_matrix(m, t, n, x, s, err))) return rc;
  for (size_t c = 0; c < d; c++) {
    double *restrict xc = x + c * n;
    const double *restrict bc = b + c * n;
    for (size_t i = 0; i < n; i++) xc[i] += h * bc[i];
    for (size_t k = 0; k < nm; k++) {
      const double *restrict sck = s + (c * nm + k) * n, *restrict zk = z + k * n;
      for (size_t i = 0; i < n; i++) xc[i] += sqh * sck[i] * zk[i];
    }
  }
  return FPK_SUCCESS;
}

static int em_step(const fpk_model *m, double t, double h, size_t n, double *x, const double *z,
                   double *work, fpk_error *err) {
  if (!fpk_model_noise_is_diagonal(m)) return em_step_matrix(m, t, h, n, x, z, work, err);
  const size_t d = m->dim;
  double *restrict b = work;
  int rc = fpk_model_drift(m, t, n, x, b, err);
  if (rc) return rc;
  const double sqh = sqrt(h);
  if (m->flags & FPK_MODEL_ADDITIVE) {
    double x0[FPK_MAX_DIM], sig[FPK_MAX_DIM];
    for (size_t c = 0; c < d; c++) x0[c] = x[c * n];
    rc = fpk_model_noise(m, t, 1, x0, sig, err);
    if (rc) return rc;
    for (size_t c = 0; c < d; c++) {
      double *restrict xc = x + c * n;
      const double *restrict bc = b + c * n;
      const double *restrict zc = z + c * n;
      const double k = sqh * sig[c];
      for (size_t i = 0; i < n; i++) xc[i] += h * bc[i] + k * zc[i];
    }
  } else {
    double *restrict s = work + d * n;
    rc = fpk_model_noise(m, t, n, x, s, err);
    if (rc) return rc;
    double *restrict xx = x;
    const double *restrict zz = z;
    for (size_t i = 0; i < d * n; i++) xx[i] += h * b[i] + sqh * s[i] * zz[i];
  }
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_em_type = {
    .name = "euler-maruyama",
    .strong_order = 0.5,
    .weak_order = 1.0,
    .normals_per_dim = 1,
    .step = em_step,
    .work_per_point = 2,
    .work_fixed = 0,
    .check = NULL,
};

