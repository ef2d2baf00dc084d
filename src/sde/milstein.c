/* Milstein's scheme for diagonal noise (fpkit/sde.h):
 *
 *   X_{k+1} = X_k + h b + σ ΔW + ½ σ σ' (ΔW² − h),   σ' = ∂σ_c/∂x_c,  ΔW = √h ξ₁,
 *
 * per component, with b, σ, σ' at (X_k, t_k) (Kloeden & Platen, "Numerical Solution of SDEs",
 * 1992, §10.3, eq. (3.3); Milstein 1974). With diagonal noise each component is driven by its own
 * Wiener process, the noise is commutative and no Lévy areas are needed: strong order 1, weak
 * order 1. For additive noise σ' = 0 and the scheme is Euler–Maruyama, also for a d × m noise
 * matrix (issue 16); multiplicative matrix noise is refused (milstein_check). */
#include <math.h>

#include "sde/sde_internal.h"

static int milstein_check(const fpk_model *m, fpk_error *err) {
  /* A noise matrix: additive noise makes Milstein Euler–Maruyama (σ' = 0, no Lévy areas), which
   * takes the matrix; multiplicative matrix noise needs the σ_j' σ_k terms and, unless the noise
   * is commutative, the Lévy areas (Kloeden & Platen §10.3), which this scheme does not have. */
  if (!fpk_model_noise_is_diagonal(m) && !(m->flags & FPK_MODEL_ADDITIVE))
    return fpk_error_set(err, FPK_EINVAL,
                         "Milstein needs diagonal noise (commutative noise), and this noise "
                         "matrix (%zu × %zu) depends on x; use euler-maruyama, tamed-euler, or "
                         "sra1 for additive noise%s",
                         m->dim, m->noise_dim,
                         m->dim == m->noise_dim
                             ? " (a diagonal σ written as a matrix is taken as a matrix: write "
                               "it as diagonal noise, noise_x/noise_y of an expression model, "
                               "for milstein)"
                             : "");
  if (!(m->flags & FPK_MODEL_ADDITIVE) && !m->noise_dx)
    return fpk_error_set(err, FPK_EINVAL,
                         "the noise depends on x and the model gives no derivative dσ/dx "
                         "(noise_dx); use euler-maruyama (an expression model has it when each "
                         "noise component depends on its own axis alone and uses neither asinh "
                         "nor acoth, which libmatheval differentiates wrongly)");
  return FPK_SUCCESS;
}

static int milstein_step(const fpk_model *m, double t, double h, size_t n, double *x,
                         const double *z, double *work, fpk_error *err) {
  if (m->flags & FPK_MODEL_ADDITIVE) return fpk_sde_em_type.step(m, t, h, n, x, z, work, err);
  const size_t d = m->dim;
  double *restrict b = work, *restrict s = work + d * n, *restrict ds = work + 2 * d * n;
  int rc = fpk_model_drift(m, t, n, x, b, err);
  if (!rc) rc = fpk_model_noise(m, t, n, x, s, err);
  if (!rc) rc = fpk_model_noise_dx(m, t, n, x, ds, err);
  if (rc) return rc;
  const double sqh = sqrt(h), hh = 0.5 * h;
  double *restrict xx = x;
  const double *restrict zz = z;
  for (size_t i = 0; i < d * n; i++) {
    const double zi = zz[i], si = s[i];
    xx[i] += h * b[i] + sqh * si * zi + hh * si * ds[i] * (zi * zi - 1.0);
  }
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_milstein_type = {
    .name = "milstein",
    .strong_order = 1.0,
    .weak_order = 1.0,
    .normals_per_dim = 1,
    .step = milstein_step,
    .work_per_point = 3,
    .work_fixed = 0,
    .check = milstein_check,
};
