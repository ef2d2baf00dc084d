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

/* ---- initial laws given on the grid ----------------------------------------------------------
 * A piecewise-constant density on the cells: the cell by inversion of the cumulative masses with
 * a 53-bit uniform (32-bit in 3D), the point uniform inside the cell. All from Philox call 0 of
 * the path's main stream (positions 0..2, reserved for X_0: sde_internal.h), so X_0 is a pure
 * function of (seed, path) as for the Gaussian start, and the increments are the same in both. */

int fpk_mc_cell_cdf(const fpk_grid *g, const double *mass, double *cdf, size_t *last,
                    fpk_error *err) {
  if (g->dim > 3)
    return fpk_error_set(err, FPK_EUNSUP,
                         "an initial law on a %zuD grid: implemented in 1D, 2D and 3D (the 4 "
                         "words of Philox call 0 place one point in at most 3 dimensions)",
                         g->dim);
  double s = 0.0;
  *last = g->size;
  for (size_t i = 0; i < g->size; i++) {
    if (!isfinite(mass[i]) || mass[i] < 0.0)
      return fpk_error_set(err, FPK_EINVAL, "initial cell mass [%zu] = %g: must be finite and >= 0",
                           i, mass[i]);
    s += mass[i];
    cdf[i] = s;
    if (mass[i] > 0.0) *last = i;
  }
  if (!(s > 0.0) || !isfinite(s))
    return fpk_error_set(err, FPK_EINVAL, "initial cell masses sum to %g: need a positive mass", s);
  return FPK_SUCCESS;
}

void fpk_mc_initial_cells(uint64_t seed, uint64_t p0, size_t nb, const fpk_grid *g,
                          const double *cdf, size_t last, double *x, uint32_t *w) {
  fpk_philox_soa(seed, p0, nb, 0, w, nb);
  const size_t N = g->size, d = g->dim;
  const double total = cdf[N - 1];
  for (size_t i = 0; i < nb; i++) {
    /* u in (0, 1) from the top 53 bits of (w0, w1); in 3D from w0 alone (32 bits), since the
     * point needs w1, w2, w3: a cell's probability is then resolved to 2^-32 of the total,
     * far below the sampling error of any feasible ensemble (and 1D/2D keep their bits) */
    const uint64_t bits = d == 3 ? (uint64_t)w[i] : ((uint64_t)w[i] << 21) | (w[nb + i] >> 11);
    const double target = ((double)bits + 0.5) * (d == 3 ? 0x1p-32 : 0x1p-53) * total;
    size_t lo = 0, hi = N - 1;
    while (lo < hi) { /* the first cell whose cumulative mass exceeds target */
      const size_t mid = lo + (hi - lo) / 2;
      if (cdf[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    if (lo > last) lo = last; /* target rounded up to the total: the last cell with mass */
    size_t rest = lo;
    for (size_t a = 0; a < d; a++) {
      const size_t ia = rest % g->n[a];
      rest /= g->n[a];
      const double v = ((double)w[((d == 3 ? 1 : 2) + a) * nb + i] + 0.5) * 0x1p-32;
      x[a * nb + i] = g->lo[a] + ((double)ia + v) * g->h[a];
    }
  }
}
