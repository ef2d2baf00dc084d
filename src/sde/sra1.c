/* Rößler's SRA1 for additive noise (fpkit/sde.h): a two-stage stochastic Runge–Kutta method of
 * strong order 1.5 and weak order 2 for dX = b(X, t) dt + σ(t) dW with diagonal σ
 * (A. Rößler, "Runge–Kutta methods for the strong approximation of solutions of stochastic
 * differential equations", SIAM J. Numer. Anal. 48(3), 2010, Table 5.1 and eq. (5.1)); with a
 * d × m noise matrix (issue 16) for any additive σ(t) (sra1_step_matrix).
 * Tableau: c₀ = (0, ¾), c₁ = (1, 0), A₀ = [0 0; ¾ 0], B₀ = [0 0; 3/2 0], α = (⅓, ⅔),
 * β₁ = (1, 0), β₂ = (−1, 1). With ΔW = √h ξ₁ and χ = I₁₀/h = √h (ξ₁ + ξ₂/√3)/2 per component:
 *
 *   H₂      = X + ¾ h b(X, t) + (3/2) σ(t + h) χ
 *   X_{k+1} = X + h (⅓ b(X, t) + ⅔ b(H₂, t + ¾h)) + σ(t + h)(ΔW − χ) + σ(t) χ.
 *
 * For constant σ the noise term is σ ΔW; for σ(t) it is the Itô–Taylor σ(t)ΔW + σ'(t)(hΔW − I₁₀)
 * up to O(h^{5/2}). Two drift evaluations per step, one extra normal per component. */
#include <math.h>

#include "sde/sde_internal.h"

static int sra1_check(const fpk_model *m, fpk_error *err) {
  if (!(m->flags & FPK_MODEL_ADDITIVE))
    return fpk_error_set(err, FPK_EINVAL,
                         "SRA1 needs additive noise (σ independent of x); use milstein (diagonal "
                         "noise) or euler-maruyama for multiplicative noise");
  return FPK_SUCCESS;
}

/* SRA1 with a d × m additive noise matrix (issue 16): the scheme above with σ ΔW and σ χ as
 * matrix–vector products over the m components, ξ₁ in rows z + k*n and ξ₂ in z + (m + k)*n;
 * Rößler's order conditions for additive noise hold for any number of Wiener processes (SRA1 is
 * derived for m-dimensional W, Rößler 2010, §5). */
static int sra1_step_matrix(const fpk_model *m, double t, double h, size_t n, double *x,
                            const double *z, double *work, fpk_error *err) {
  const size_t d = m->dim, nm = m->noise_dim;
  double *restrict f1 = work, *restrict H = work + d * n, *restrict f2 = work + 2 * d * n;
  double x0[FPK_MAX_DIM], s0[FPK_MAX_DIM * FPK_MAX_NOISE], s1[FPK_MAX_DIM * FPK_MAX_NOISE];
  for (size_t c = 0; c < d; c++) x0[c] = x[c * n];
  int rc = fpk_model_noise_matrix(m, t, 1, x0, s0, err);
  if (!rc) rc = fpk_model_noise_matrix(m, t + h, 1, x0, s1, err);
  if (!rc) rc = fpk_model_drift(m, t, n, x, f1, err);
  if (rc) return rc;
  const double sqh = sqrt(h), k3 = 1.0 / sqrt(3.0), hs = 0.5 * sqh;
  for (size_t c = 0; c < d; c++) {
    const double *restrict xc = x + c * n, *restrict f1c = f1 + c * n;
    double *restrict Hc = H + c * n;
    const double a = 0.75 * h;
    for (size_t i = 0; i < n; i++) Hc[i] = xc[i] + a * f1c[i];
    for (size_t k = 0; k < nm; k++) {
      const double g = 1.5 * s1[c * nm + k] * hs;
      if (g == 0.0) continue;
      const double *restrict z1 = z + k * n, *restrict z2 = z + (nm + k) * n;
      for (size_t i = 0; i < n; i++) Hc[i] += g * (z1[i] + k3 * z2[i]);
    }
  }
  if ((rc = fpk_model_drift(m, t + 0.75 * h, n, H, f2, err))) return rc;
  for (size_t c = 0; c < d; c++) {
    double *restrict xc = x + c * n;
    const double *restrict f1c = f1 + c * n, *restrict f2c = f2 + c * n;
    const double h1 = h / 3.0, h2 = 2.0 * h / 3.0;
    for (size_t i = 0; i < n; i++) xc[i] += h1 * f1c[i] + h2 * f2c[i];
    for (size_t k = 0; k < nm; k++) {
      const double sa = s1[c * nm + k], sb = s0[c * nm + k];
      if (sa == 0.0 && sb == 0.0) continue;
      const double *restrict z1 = z + k * n, *restrict z2 = z + (nm + k) * n;
      for (size_t i = 0; i < n; i++) {
        const double dw = sqh * z1[i], chi = hs * (z1[i] + k3 * z2[i]);
        xc[i] += sa * (dw - chi) + sb * chi;
      }
    }
  }
  return FPK_SUCCESS;
}

static int sra1_step(const fpk_model *m, double t, double h, size_t n, double *x, const double *z,
                     double *work, fpk_error *err) {
  if (!fpk_model_noise_is_diagonal(m)) return sra1_step_matrix(m, t, h, n, x, z, work, err);
  const size_t d = m->dim;
  double *restrict f1 = work, *restrict H = work + d * n, *restrict f2 = work + 2 * d * n;
  double x0[FPK_MAX_DIM], s0[FPK_MAX_DIM], s1[FPK_MAX_DIM];
  for (size_t c = 0; c < d; c++) x0[c] = x[c * n];
  int rc = fpk_model_noise(m, t, 1, x0, s0, err);
  if (!rc) rc = fpk_model_noise(m, t + h, 1, x0, s1, err);
  if (!rc) rc = fpk_model_drift(m, t, n, x, f1, err);
  if (rc) return rc;
  const double sqh = sqrt(h), k3 = 1.0 / sqrt(3.0);
  for (size_t c = 0; c < d; c++) {
    const double *restrict xc = x + c * n, *restrict f1c = f1 + c * n;
    const double *restrict z1 = z + c * n, *restrict z2 = z + (d + c) * n;
    double *restrict Hc = H + c * n;
    const double a = 0.75 * h, g = 1.5 * s1[c] * 0.5 * sqh;
    for (size_t i = 0; i < n; i++) Hc[i] = xc[i] + a * f1c[i] + g * (z1[i] + k3 * z2[i]);
  }
  if ((rc = fpk_model_drift(m, t + 0.75 * h, n, H, f2, err))) return rc;
  for (size_t c = 0; c < d; c++) {
    double *restrict xc = x + c * n;
    const double *restrict f1c = f1 + c * n, *restrict f2c = f2 + c * n;
    const double *restrict z1 = z + c * n, *restrict z2 = z + (d + c) * n;
    const double h1 = h / 3.0, h2 = 2.0 * h / 3.0, sa = s1[c], sb = s0[c], hs = 0.5 * sqh;
    for (size_t i = 0; i < n; i++) {
      const double dw = sqh * z1[i], chi = hs * (z1[i] + k3 * z2[i]);
      xc[i] += h1 * f1c[i] + h2 * f2c[i] + sa * (dw - chi) + sb * chi;
    }
  }
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_sra1_type = {
    .name = "sra1",
    .strong_order = 1.5,
    .weak_order = 2.0,
    .normals_per_dim = 2,
    .step = sra1_step,
    .work_per_point = 3,
    .work_fixed = 0,
    .check = sra1_check,
};
