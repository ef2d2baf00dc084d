/* Tamed Euler (fpkit/sde.h) for drifts that grow faster than linearly (double well, b = x − x³):
 *
 *   X_{k+1} = X_k + h b / (1 + h |b|) + σ ΔW,   |b| the Euclidean norm of b(X_k, t_k),
 *
 * (M. Hutzenthaler, A. Jentzen & P. E. Kloeden, "Strong convergence of an explicit numerical
 * method for SDEs with nonglobally Lipschitz continuous coefficients", Ann. Appl. Probab. 22(4),
 * 2012, eq. (4)). Euler–Maruyama's moments diverge for such drifts (Hutzenthaler, Jentzen &
 * Kloeden, Proc. R. Soc. A 467, 2011): a rare large excursion is thrown further out at every step.
 * Taming bounds the drift increment by 1, keeps the moments bounded and costs O(h) per step, so
 * the strong order stays ½ (1 in practice for additive noise and smooth drifts) and the weak
 * order 1. With a d × m noise matrix the noise term is σ ΔW with m components (issue 16). */
#include <math.h>

#include "sde/sde_internal.h"

static int tamed_step(const fpk_model *m, double t, double h, size_t n, double *x,
                      const double *z, double *work, fpk_error *err) {
  const size_t d = m->dim;
  const int diag = fpk_model_noise_is_diagonal(m);
  double *restrict b = work, *restrict s = work + d * n, *restrict scale = work + 2 * d * n;
  /* a matrix model's σ (d × m per point) goes to the matrix area after the work */
  double *restrict sm = diag ? NULL : sde_sigma_work(&fpk_sde_tamed_euler_type, m, n, work);
  int rc = fpk_model_drift(m, t, n, x, b, err);
  if (!rc) rc = diag ? fpk_model_noise(m, t, n, x, s, err)
                     : fpk_model_noise_matrix(m, t, n, x, sm, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) scale[i] = 0.0;
  for (size_t c = 0; c < d; c++)
    for (size_t i = 0; i < n; i++) scale[i] += b[c * n + i] * b[c * n + i];
  for (size_t i = 0; i < n; i++) scale[i] = h / (1.0 + h * sqrt(scale[i]));
  const double sqh = sqrt(h);
  if (!diag) { /* σ Z with the m normals of the step (rows z + k*n) */
    const size_t nm = m->noise_dim;
    for (size_t c = 0; c < d; c++) {
      double *restrict xc = x + c * n;
      const double *restrict bc = b + c * n;
      for (size_t i = 0; i < n; i++) xc[i] += scale[i] * bc[i];
      for (size_t k = 0; k < nm; k++) {
        const double *restrict sck = sm + (c * nm + k) * n, *restrict zk = z + k * n;
        for (size_t i = 0; i < n; i++) xc[i] += sqh * sck[i] * zk[i];
      }
    }
    return FPK_SUCCESS;
  }
  for (size_t c = 0; c < d; c++) {
    double *restrict xc = x + c * n;
    const double *restrict bc = b + c * n, *restrict sc = s + c * n, *restrict zc = z + c * n;
    for (size_t i = 0; i < n; i++) xc[i] += scale[i] * bc[i] + sqh * sc[i] * zc[i];
  }
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_tamed_euler_type = {
    .name = "tamed-euler",
    .strong_order = 0.5,
    .weak_order = 1.0,
    .normals_per_dim = 1,
    .step = tamed_step,
    .work_per_point = 3,
    .work_fixed = 0,
    .check = NULL,
};
