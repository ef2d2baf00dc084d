/* The exact transition of linear models, dX = (−A X + c) dt + diag(σ) dW (OU, Brownian motion
 * with drift; fpkit/sde.h):
 *
 *   X_{k+1} = e^{−Ah} X_k + ∫_0^h e^{−As} c ds + L ξ,   L Lᵀ = Σ_h = ∫_0^h e^{−As} σσᵀ e^{−Aᵀs} ds,
 *
 * (closed-forms.md, "Ornstein–Uhlenbeck"; Gillespie, Phys. Rev. E 54, 1996, for the scalar case).
 * Exact in law for any h: no time-step error, so a single step reaches any horizon. It is not a
 * pathwise scheme driven by ΔW (its noise is ∫ e^{−A(h−s)} dW, not ΔW), so strong errors against
 * other schemes on a shared Brownian path are not defined for it.
 * The coefficients come from fpk_exact_linear_law (Van Loan's block exponential) and are cached
 * in the workspace, keyed by h: one evaluation per distinct step size and thread. */
#include <math.h>
#include <string.h>

#include "fpkit/exact.h"
#include "sde/sde_internal.h"

enum { D2 = FPK_MAX_DIM * FPK_MAX_DIM };
/* Cache layout in work[0 .. CACHE): h (0 = empty), e^{−Ah}, offset, Cholesky factor. */
enum { C_H = 0, C_M = 1, C_OFF = C_M + D2, C_L = C_OFF + FPK_MAX_DIM, CACHE = C_L + D2 };

static int exact_ou_check(const fpk_model *m, fpk_error *err) {
  if (!m->linear)
    return fpk_error_set(err, FPK_EINVAL,
                         "the exact transition needs a linear model with additive noise (ou, bm)");
  return FPK_SUCCESS;
}

static int coefficients(const fpk_model *m, double h, double *cache, fpk_error *err) {
  const fpk_linear_sde *s = m->linear;
  const size_t d = s->dim;
  fpk_gaussian start = {.dim = d}, law;
  int rc = fpk_exact_linear_law(s, &start, h, &law, err); /* from x = 0: offset and Σ_h */
  if (rc) return rc;
  memcpy(cache + C_OFF, law.mean, d * sizeof(double));
  if ((rc = fpk_cholesky_psd(law.cov, d, cache + C_L, err))) return rc;
  for (size_t j = 0; j < d; j++) { /* column j of e^{−Ah}: the mean from x = e_j, less the offset */
    memset(&start, 0, sizeof start);
    start.dim = d;
    start.mean[j] = 1.0;
    if ((rc = fpk_exact_linear_law(s, &start, h, &law, err))) return rc;
    for (size_t i = 0; i < d; i++) cache[C_M + i * d + j] = law.mean[i] - cache[C_OFF + i];
  }
  cache[C_H] = h;
  return FPK_SUCCESS;
}

static int exact_ou_step(const fpk_model *m, double t, double h, size_t n, double *x,
                         const double *z, double *work, fpk_error *err) {
  (void)t; /* linear models are autonomous */
  const size_t d = m->dim;
  double *cache = work;
  if (cache[C_H] != h) {
    int rc = coefficients(m, h, cache, err);
    if (rc) {
      cache[C_H] = 0.0;
      return rc;
    }
  }
  const double *M = cache + C_M, *off = cache + C_OFF, *L = cache + C_L;
  double *restrict y = work + CACHE; /* the new state, d*n */
  for (size_t r = 0; r < d; r++) {
    double *restrict yr = y + r * n;
    for (size_t i = 0; i < n; i++) yr[i] = off[r];
    for (size_t k = 0; k < d; k++) {
      const double a = M[r * d + k], l = L[r * d + k];
      const double *restrict xk = x + k * n, *restrict zk = z + k * n;
      if (a != 0.0)
        for (size_t i = 0; i < n; i++) yr[i] += a * xk[i];
      if (l != 0.0)
        for (size_t i = 0; i < n; i++) yr[i] += l * zk[i];
    }
  }
  memcpy(x, y, d * n * sizeof(double));
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_exact_ou_type = {
    .name = "exact-ou",
    .strong_order = 0.0,
    .weak_order = 0.0,
    .normals_per_dim = 1,
    .step = exact_ou_step,
    .work_per_point = 1,
    .work_fixed = CACHE,
    .check = exact_ou_check,
};
