/* Distances between grid densities and their moments (fpkit/compare.h). Norms are integrals over
 * the grid: L1 = Σ|p - q| h^d, L2 = (Σ(p - q)² h^d)^{1/2}, Linf = max|p - q|,
 * KL(p ‖ q) = Σ_{p > 0} p log(p/q) h^d. */
#include "fpkit/compare.h"

#include <math.h>

double fpk_dist_l1(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += fabs(p[i] - q[i]);
  return s * g->cell_volume;
}

double fpk_dist_l2(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) {
    double e = p[i] - q[i];
    s += e * e;
  }
  return sqrt(s * g->cell_volume);
}

double fpk_dist_linf(const fpk_grid *g, const double *p, const double *q) {
  double m = 0.0;
  for (size_t i = 0; i < g->size; i++) {
    double e = fabs(p[i] - q[i]);
    if (e > m || isnan(e)) m = e; /* a NaN anywhere makes the distance NaN */
    if (isnan(m)) break;
  }
  return m;
}

double fpk_sorted_quantile(const double *x, size_t n, double p) {
  double r = ceil((double)n * p);
  size_t i = r < 1.0 ? 1 : (r > (double)n ? n : (size_t)r);
  return x[i - 1];
}

/* Plain sum of squares in order (no scaling against overflow): the values `fpkit run` compared
 * before this moved here, bit for bit. */
double fpk_dist_euclid(size_t n, const double *a, const double *b) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return sqrt(s);
}

/* Cells with p <= 0 (including negative values from spectral solvers) contribute nothing;
 * q <= 0 where p > 0 makes the divergence infinite. */
double fpk_dist_kl(const fpk_grid *g, const double *p, const double *q) {
  double s = 0.0;
  int infinite = 0;
  for (size_t i = 0; i < g->size; i++) {
    /* a non-finite value anywhere (a field kept by --keep-failed) has no divergence: NaN, never
     * the 0 that skipping its cells would give, nor the +inf of a support mismatch */
    if (!isfinite(p[i]) || !isfinite(q[i])) return NAN;
    if (!(p[i] > 0.0)) continue;
    if (!(q[i] > 0.0)) {
      infinite = 1;
      continue;
    }
    s += p[i] * log(p[i] / q[i]);
  }
  return infinite ? INFINITY : s * g->cell_volume;
}

/* Two passes (mean, then centred second moments) to avoid the cancellation of E[xx] - E[x]². The
 * cell volume cancels in the normalisation. NaN moments if the total mass is not positive. */
void fpk_density_moments(const fpk_grid *g, const double *p, double *mean, double *cov) {
  size_t d = g->dim;
  double mass = 0.0, m[FPK_MAX_DIM] = {0}, c[FPK_MAX_DIM * FPK_MAX_DIM] = {0};
  for (size_t i = 0; i < g->size; i++) {
    double x[FPK_MAX_DIM];
    fpk_grid_point(g, i, x);
    mass += p[i];
    for (size_t a = 0; a < d; a++) m[a] += p[i] * x[a];
  }
  for (size_t a = 0; a < d; a++) m[a] /= mass;
  for (size_t i = 0; i < g->size; i++) {
    double x[FPK_MAX_DIM];
    fpk_grid_point(g, i, x);
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b <= a; b++) c[a * d + b] += p[i] * (x[a] - m[a]) * (x[b] - m[b]);
  }
  for (size_t a = 0; a < d; a++) {
    if (mean) mean[a] = mass > 0.0 ? m[a] : NAN;
    for (size_t b = 0; b <= a; b++) {
      double v = mass > 0.0 ? c[a * d + b] / mass : NAN;
      if (cov) cov[a * d + b] = cov[b * d + a] = v;
    }
  }
}
