/* Exact one-dimensional optimal transport (fpkit/ot.h): W_p^p for p = 1, 2 between weighted
 * atoms and between piecewise-uniform cell densities.
 *
 * On the line the monotone (quantile) coupling is optimal for every convex cost, so
 *   W_p^p(μ, ν) = ∫₀¹ |F⁻¹(u) − G⁻¹(u)|^p du
 * (Villani, "Topics in Optimal Transportation" 2003, Theorem 2.18; Peyré & Cuturi,
 * "Computational Optimal Transport" 2019, Remark 2.30). Both quantile functions change form only
 * at the cumulative masses of their atoms or cells; merging the two sorted sequences of
 * cumulative masses splits [0, 1] into O(n + m) pieces on each of which both are simple
 * (constant for atoms, affine for uniform cells), and the integral over each piece is done in
 * closed form. No ε, no iteration.
 *
 * Masses: each total must be 1 within 1e-9 (as the Sinkhorn solvers with normalize = 0); the
 * cumulative masses are divided by their total, so both quantile functions are defined on exactly
 * [0, 1] (x/x is exactly 1 in IEEE arithmetic) and a total of 1 ± 1e-9 is not a mismatch.
 */
#include "fpkit/ot.h"

#include <math.h>
#include <stdlib.h>

#define MASS_TOL 1e-9

typedef struct weighted_atom {
  double x, w;
} weighted_atom;

static int compare_atoms(const void *pa, const void *pb) {
  const double a = ((const weighted_atom *)pa)->x, b = ((const weighted_atom *)pb)->x;
  return (a > b) - (a < b);
}

/* Checks weights w[0..n-1] (finite, >= 0, Σ within MASS_TOL of 1) and returns their sum. */
static int check_weights(const char *fn, const char *name, size_t n, const double *w,
                         double *total, fpk_error *err) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(w[i]) || w[i] < 0.0)
      return fpk_error_set(err, FPK_EINVAL, "%s: %s[%zu] = %g: weights must be finite and >= 0",
                           fn, name, i, w[i]);
    s += w[i];
  }
  if (!(fabs(s - 1.0) <= MASS_TOL))
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: the weights %s sum to %.17g, not 1 (tolerance %g)", fn, name, s,
                         MASS_TOL);
  *total = s;
  return FPK_SUCCESS;
}

static int check_p(const char *fn, int p, fpk_error *err) {
  if (p != 1 && p != 2)
    return fpk_error_set(err, FPK_EINVAL, "%s: p = %d: only p = 1 and p = 2 are supported", fn,
                         p);
  return FPK_SUCCESS;
}

/* Sorted copy of the atoms with positive weight, their weights replaced by the cumulative mass
 * after each atom divided by the total (the last is exactly 1). Atoms of weight 0 carry no mass
 * and would only add empty pieces. *kept receives their number. */
static weighted_atom *sorted_cumulative(size_t n, const double *x, const double *w, double total,
                                        size_t *kept) {
  weighted_atom *t = malloc((n ? n : 1) * sizeof *t);
  if (!t) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (w[i] > 0.0) t[k++] = (weighted_atom){x[i], w[i]};
  qsort(t, k, sizeof *t, compare_atoms);
  double cum = 0.0;
  for (size_t i = 0; i < k; i++) {
    cum += t[i].w;
    t[i].w = cum / total;
  }
  *kept = k;
  return t;
}

int fpk_ot_1d_points(size_t n, const double *x, const double *a, size_t m, const double *y,
                     const double *b, int p, double *wpp, fpk_error *err) {
  static const char fn[] = "fpk_ot_1d_points";
  if (!x || !a || !y || !b || !wpp) return fpk_error_set(err, FPK_EINVAL, "%s: NULL argument", fn);
  if (n == 0 || m == 0)
    return fpk_error_set(err, FPK_EINVAL, "%s: n = %zu, m = %zu: need at least one atom each",
                         fn, n, m);
  int rc = check_p(fn, p, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return fpk_error_set(err, FPK_EINVAL, "%s: x[%zu] = %g is not finite", fn, i, x[i]);
  for (size_t j = 0; j < m; j++)
    if (!isfinite(y[j]))
      return fpk_error_set(err, FPK_EINVAL, "%s: y[%zu] = %g is not finite", fn, j, y[j]);
  double ta = 1.0, tb = 1.0; /* set by check_weights; GCC cannot see that on success */
  if ((rc = check_weights(fn, "a", n, a, &ta, err))) return rc;
  if ((rc = check_weights(fn, "b", m, b, &tb, err))) return rc;

  size_t na, nb;
  weighted_atom *sa = sorted_cumulative(n, x, a, ta, &na);
  weighted_atom *sb = sorted_cumulative(m, y, b, tb, &nb);
  if (!sa || !sb) {
    free(sa);
    free(sb);
    return fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
  }
  /* On the piece (u, hi] the quantile functions are the constants sa[i].x and sb[j].x. */
  double u = 0.0, sum = 0.0;
  size_t i = 0, j = 0;
  while (i < na && j < nb) {
    const double hi = fmin(sa[i].w, sb[j].w);
    const double delta = fabs(sa[i].x - sb[j].x);
    sum += (hi - u) * (p == 1 ? delta : delta * delta);
    u = hi;
    if (sa[i].w <= hi) i++;
    if (sb[j].w <= hi) j++;
  }
  free(sa);
  free(sb);
  *wpp = sum;
  return FPK_SUCCESS;
}

/* ---- cell densities ------------------------------------------------------------------------ */

/* The quantile function of a piecewise-uniform density on a 1D grid: on [cum[k], cum[k+1]] it
 * runs linearly from the left edge lo + k h of cell k to its right edge. */
typedef struct cell_quantile {
  size_t n;
  double lo, h;
  double *cum; /* n + 1 cumulative masses / total: cum[0] = 0, cum[n] = 1 */
} cell_quantile;

/* F⁻¹(u) for u in [cum[k], cum[k+1]] (a cell of positive mass). The fraction is taken from the
 * rounded cumulative masses, not from the cell's own mass: near u = 1, where cum[k+1] − cum[k]
 * is a rounding of a tiny cell mass (1 ulp for a mass of 1e-20), dividing by the mass would send
 * the quantile many cells outside its cell. With the rounded widths t lies in [0, 1] because
 * u does (floating-point subtraction is monotone); the clamp only makes that explicit. */
static double cell_quantile_at(const cell_quantile *q, size_t k, double u) {
  const double c0 = q->cum[k], c1 = q->cum[k + 1];
  const double t = fmin(1.0, fmax(0.0, (u - c0) / (c1 - c0)));
  return q->lo + ((double)k + t) * q->h;
}

/* ∫ over a piece of length len of |Δ|^p for Δ affine from d0 to d1. */
static double affine_power_integral(double len, double d0, double d1, int p) {
  if (p == 2) return len * (d0 * d0 + d0 * d1 + d1 * d1) / 3.0;
  if ((d0 >= 0.0) == (d1 >= 0.0) || d0 == 0.0 || d1 == 0.0)
    return 0.5 * len * (fabs(d0) + fabs(d1));
  /* Sign change at the fraction |d0|/(|d0| + |d1|): two triangles. */
  return 0.5 * len * (d0 * d0 + d1 * d1) / (fabs(d0) + fabs(d1));
}

static int check_grid(const char *fn, const char *name, const fpk_grid *g, fpk_error *err) {
  if (g->dim != 1)
    return fpk_error_set(err, FPK_EINVAL, "%s: grid %s has dimension %zu: need a 1D grid", fn,
                         name, g->dim);
  if (g->n[0] == 0 || !isfinite(g->lo[0]) || !(g->h[0] > 0.0) || !isfinite(g->h[0]))
    return fpk_error_set(err, FPK_EINVAL, "%s: grid %s is not initialised (n = %zu, h = %g)", fn,
                         name, g->n[0], g->h[0]);
  return FPK_SUCCESS;
}

int fpk_ot_1d_cells(const fpk_grid *ga, const double *a, const fpk_grid *gb, const double *b,
                    int p, double *wpp, fpk_error *err) {
  static const char fn[] = "fpk_ot_1d_cells";
  if (!ga || !a || !gb || !b || !wpp) return fpk_error_set(err, FPK_EINVAL, "%s: NULL argument", fn);
  int rc = check_p(fn, p, err);
  if (!rc) rc = check_grid(fn, "a", ga, err);
  if (!rc) rc = check_grid(fn, "b", gb, err);
  if (rc) return rc;
  const size_t n = ga->n[0], m = gb->n[0];
  double ta = 1.0, tb = 1.0; /* set by check_weights; GCC cannot see that on success */
  if ((rc = check_weights(fn, "a", n, a, &ta, err))) return rc;
  if ((rc = check_weights(fn, "b", m, b, &tb, err))) return rc;

  double *cum = malloc((n + m + 2) * sizeof *cum);
  if (!cum) return fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
  cell_quantile qa = {n, ga->lo[0], ga->h[0], cum}, qb = {m, gb->lo[0], gb->h[0], cum + n + 1};
  double s = 0.0;
  qa.cum[0] = 0.0;
  for (size_t k = 0; k < n; k++) qa.cum[k + 1] = (s += a[k]) / ta;
  s = 0.0;
  qb.cum[0] = 0.0;
  for (size_t k = 0; k < m; k++) qb.cum[k + 1] = (s += b[k]) / tb;

  /* Walk the merged cumulative masses; cells of zero (or, after rounding, empty) cumulative
   * width carry no mass and are skipped. On the piece [u, hi] both quantiles are affine, so
   * Δ(u) = F⁻¹ − G⁻¹ is affine and its integral is exact. */
  double u = 0.0, sum = 0.0;
  size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (!(qa.cum[i + 1] > qa.cum[i])) { i++; continue; }
    if (!(qb.cum[j + 1] > qb.cum[j])) { j++; continue; }
    const double hi = fmin(qa.cum[i + 1], qb.cum[j + 1]);
    if (hi > u) {
      const double d0 = cell_quantile_at(&qa, i, u) - cell_quantile_at(&qb, j, u);
      const double d1 = cell_quantile_at(&qa, i, hi) - cell_quantile_at(&qb, j, hi);
      sum += affine_power_integral(hi - u, d0, d1, p);
      u = hi;
    }
    if (qa.cum[i + 1] <= hi) i++;
    if (qb.cum[j + 1] <= hi) j++;
  }
  free(cum);
  *wpp = sum;
  return FPK_SUCCESS;
}
