/* Initial states of Monte Carlo paths, and the Cholesky factor they (and the exact transitions)
 * use: positive semidefinite allowed, since a point mass or a degenerate direction has zero
 * variance. */
#include <math.h>
#include <string.h>

#include "sde/sde_internal.h"

/* Lower Cholesky factor of a symmetric positive semidefinite matrix (zero columns allowed). */
int fpk_cholesky_psd(const double *S, size_t d, double *L, fpk_error *err) {
  double scale = 0.0;
  for (size_t i = 0; i < d; i++) scale = fmax(scale, fabs(S[i * d + i]));
  const double tol = 1e-13 * (scale > 0.0 ? scale : 1.0);
  memset(L, 0, sizeof(double) * FPK_MAX_DIM * FPK_MAX_DIM);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      if (!isfinite(S[i * d + j]))
        return fpk_error_set(err, FPK_EINVAL, "initial covariance [%zu][%zu] is not finite", i, j);
      if (fabs(S[i * d + j] - S[j * d + i]) > 1e-12 * (scale > 0.0 ? scale : 1.0))
        return fpk_error_set(err, FPK_EINVAL,
                             "initial covariance is not symmetric: [%zu][%zu] = %g, [%zu][%zu] = %g",
                             i, j, S[i * d + j], j, i, S[j * d + i]);
    }
  for (size_t j = 0; j < d; j++) {
    double p = S[j * d + j];
    for (size_t k = 0; k < j; k++) p -= L[j * d + k] * L[j * d + k];
    if (p < -tol)
      return fpk_error_set(err, FPK_EINVAL,
                           "initial covariance is not positive semidefinite (pivot %zu = %g)", j, p);
    if (p <= tol) { /* degenerate direction: the rest of the column must vanish */
      for (size_t i = j + 1; i < d; i++) {
        double v = S[i * d + j];
        for (size_t k = 0; k < j; k++) v -= L[i * d + k] * L[j * d + k];
        if (fabs(v) > sqrt(tol) * sqrt(scale > 0.0 ? scale : 1.0))
          return fpk_error_set(err, FPK_EINVAL,
                               "initial covariance is not positive semidefinite (column %zu)", j);
      }
      continue;
    }
    const double ljj = sqrt(p);
    L[j * d + j] = ljj;
    for (size_t i = j + 1; i < d; i++) {
      double v = S[i * d + j];
      for (size_t k = 0; k < j; k++) v -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = v / ljj;
    }
  }
  return FPK_SUCCESS;
}

void fpk_mc_initial_state(uint64_t seed, uint64_t p0, size_t nb, size_t d, const double *mean,
                          const double *chol, double *x, double *z, void *scratch) {
  /* X_0 = mean + L Z with Z at stream positions 0..d-1 (Philox call 0) */
  fpk_rng_block(seed, p0, nb, 0, 1, z, nb, scratch);
  for (size_t c = 0; c < d; c++) {
    double *xc = x + c * nb;
    for (size_t i = 0; i < nb; i++) xc[i] = mean[c];
    for (size_t j = 0; j <= c; j++) {
      const double l = chol[c * d + j];
      if (l == 0.0) continue;
      const double *zj = z + j * nb;
      for (size_t i = 0; i < nb; i++) xc[i] += l * zj[i];
    }
  }
}
