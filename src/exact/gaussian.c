/* Gaussian laws on grids (fpkit/exact.h): point densities, exact cell probabilities, tail mass
 * outside the box, and the Gaussian KL divergence (formula in closed-forms.md, "Gaussians"). */
#include "fpkit/exact.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_integration.h>

#include "core/linalg.h"

#define D FPK_MAX_DIM

/* ---- small dense helpers ------------------------------------------------------------------ */

/* Solves L y = b (forward substitution, column by column: each y_i is final before it is read,
 * which also keeps GCC's AVX-512 vectoriser from seeing reads of unwritten entries). */
static void lower_solve(size_t d, const double *L, const double *b, double *y) {
  for (size_t i = 0; i < d; i++) y[i] = b[i];
  for (size_t i = 0; i < d; i++) {
    y[i] /= L[i * d + i];
    for (size_t r = i + 1; r < d; r++) y[r] -= L[r * d + i] * y[i];
  }
}

static double log_det_chol(size_t d, const double *L) {
  double s = 0.0;
  for (size_t i = 0; i < d; i++) s += log(L[i * d + i]);
  return 2.0 * s;
}

/* Validates g against grid and factors its covariance. */
static int gaussian_setup(const fpk_gaussian *g, const fpk_grid *grid, const void *out,
                          double *L, fpk_error *err) {
  if (!g || !grid || !out) return fpk_error_set(err, FPK_EINVAL, "Gaussian on grid: NULL argument");
  size_t d = g->dim;
  if (d < 1 || d > D || d != grid->dim)
    return fpk_error_set(err, FPK_EINVAL, "Gaussian of dimension %zu on a grid of dimension %zu",
                         d, grid->dim);
  for (size_t i = 0; i < d; i++) {
    if (!isfinite(g->mean[i]))
      return fpk_error_set(err, FPK_EINVAL, "Gaussian: mean[%zu] = %g is not finite", i,
                           g->mean[i]);
    for (size_t j = 0; j < d; j++) {
      double a = g->cov[i * d + j], b = g->cov[j * d + i];
      if (!isfinite(a))
        return fpk_error_set(err, FPK_EINVAL, "Gaussian: cov[%zu][%zu] = %g is not finite", i, j,
                             a);
      if (fabs(a - b) > 1e-12 * (fabs(a) + fabs(b)) + DBL_MIN)
        return fpk_error_set(err, FPK_EINVAL,
                             "Gaussian: covariance not symmetric (cov[%zu][%zu] = %g, "
                             "cov[%zu][%zu] = %g)", i, j, a, j, i, b);
    }
  }
  int bad = fpk_cholesky_pd(d, g->cov, L);
  if (bad >= 0)
    return fpk_error_set(err, FPK_EINVAL,
                         "Gaussian: covariance is not positive definite (Cholesky pivot %d "
                         "not positive)", bad);
  return FPK_SUCCESS;
}

/* log N(x; m, LLᵀ). */
static double log_density(size_t d, const double *m, const double *L, double logdet,
                          const double *x) {
  double r[D], y[D], q = 0.0;
  for (size_t i = 0; i < d; i++) r[i] = x[i] - m[i];
  lower_solve(d, L, r, y);
  for (size_t i = 0; i < d; i++) q += y[i] * y[i];
  return -0.5 * (q + logdet + (double)d * log(2.0 * M_PI));
}

/* ---- point values ------------------------------------------------------------------------- */

int fpk_gaussian_density_grid(const fpk_gaussian *g, const fpk_grid *grid, double *p,
                              fpk_error *err) {
  double L[D * D];
  int s = gaussian_setup(g, grid, p, L, err);
  if (s) return s;
  double logdet = log_det_chol(g->dim, L);
  for (size_t c = 0; c < grid->size; c++) {
    double x[D];
    fpk_grid_point(grid, c, x);
    p[c] = exp(log_density(g->dim, g->mean, L, logdet, x));
  }
  return FPK_SUCCESS;
}

/* ---- cell probabilities ------------------------------------------------------------------- */

/* P(a < X < b) for X ~ N(m, s²), without cancellation: both ends in the same tail are a
 * difference of two small tail masses (upper tails through Q), not of two numbers near 1. */
static double interval_prob(double m, double s, double a, double b) {
  double za = (a - m) / s, zb = (b - m) / s;
  if (za >= 0.0) return gsl_cdf_ugaussian_Q(za) - gsl_cdf_ugaussian_Q(zb);
  if (zb <= 0.0) return gsl_cdf_ugaussian_P(zb) - gsl_cdf_ugaussian_P(za);
  return 1.0 - gsl_cdf_ugaussian_P(za) - gsl_cdf_ugaussian_Q(zb);
}

static int is_diagonal(size_t d, const double *S) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      if (i != j && S[i * d + j] != 0.0) return 0;
  return 1;
}

/* Exact: a product of 1D interval probabilities (1D, or independent coordinates). */
static int cell_probs_product(const fpk_gaussian *g, const fpk_grid *grid, double *q,
                              fpk_error *err) {
  size_t d = g->dim, nmax = 0;
  for (size_t a = 0; a < d; a++) nmax = grid->n[a] > nmax ? grid->n[a] : nmax;
  double *pa[D];
  double *buf = malloc(d * nmax * sizeof *buf);
  if (!buf) return fpk_error_set(err, FPK_ENOMEM, "Gaussian cell probabilities: axis tables");
  for (size_t a = 0; a < d; a++) {
    pa[a] = buf + a * nmax;
    double m = g->mean[a], s = sqrt(g->cov[a * d + a]);
    for (size_t i = 0; i < grid->n[a]; i++) {
      double lo = grid->lo[a] + (double)i * grid->h[a];
      double hi = (i + 1 == grid->n[a]) ? grid->hi[a] : lo + grid->h[a];
      pa[a][i] = interval_prob(m, s, lo, hi);
    }
  }
  for (size_t c = 0; c < grid->size; c++) {
    size_t r = c;
    double v = 1.0;
    for (size_t a = 0; a < d; a++) {
      v *= pa[a][r % grid->n[a]];
      r /= grid->n[a];
    }
    q[c] = v;
  }
  free(buf);
  return FPK_SUCCESS;
}

/* Composite Gauss–Legendre rule on the unit interval: `panels` equal panels of n nodes. */
typedef struct unit_rule {
  size_t len;
  double x[256], w[256];
} unit_rule;

/* log of the classical error bound of n-point Gauss–Legendre over an interval of width r for the
 * standard normal density: r^{2n+1} (n!)^4 / ((2n+1) ((2n)!)^3) · max|φ^{(2n)}|, with
 * max|φ^{(2n)}| <= 1.09 √((2n)!) / √(2π) (Cramér's bound on Hermite functions). */
static double log_gl_error(double r, size_t n) {
  double nn = (double)n;
  return (2 * nn + 1) * log(r) + 4 * lgamma(nn + 1) - log(2 * nn + 1) - 2.5 * lgamma(2 * nn + 1) +
         log(1.09 / sqrt(2 * M_PI));
}

/* Picks a rule for a cell r conditional standard deviations wide: the fewest nodes whose bound is
 * below 1e-15; cells wider than 2 standard deviations are split into panels of 16 nodes. */
static int make_rule(double r, unit_rule *u) {
  static const size_t choices[] = {4, 6, 8, 10, 12, 16};
  const double target = log(1e-15);
  size_t n = 16, panels = 1;
  if (r > 2.0) {
    panels = (size_t)ceil(r / 2.0);
    if (panels * 16 > sizeof u->x / sizeof u->x[0]) return -1;
  } else {
    for (size_t k = 0; k < sizeof choices / sizeof choices[0]; k++)
      if (log_gl_error(r, choices[k]) < target) {
        n = choices[k];
        break;
      }
  }
  gsl_integration_glfixed_table *t = gsl_integration_glfixed_table_alloc(n);
  if (!t) return -2;
  u->len = 0;
  double width = 1.0 / (double)panels;
  for (size_t p = 0; p < panels; p++)
    for (size_t i = 0; i < n; i++) {
      double xi, wi;
      gsl_integration_glfixed_point(p * width, (p + 1) * width, i, &xi, &wi, t);
      u->x[u->len] = xi;
      u->w[u->len] = wi;
      u->len++;
    }
  gsl_integration_glfixed_table_free(t);
  return 0;
}

/* Correlated coordinates: tensor Gauss–Legendre in every cell. The rule along axis a is sized by
 * the cell width in conditional standard deviations, h_a √(Σ⁻¹)_aa, which bounds how fast the
 * density varies along that axis. */
static int cell_probs_quadrature(const fpk_gaussian *g, const fpk_grid *grid, const double *L,
                                 double *q, fpk_error *err) {
  size_t d = g->dim;
  double logdet = log_det_chol(d, L);
  unit_rule *rule = malloc(d * sizeof *rule);
  if (!rule) return fpk_error_set(err, FPK_ENOMEM, "Gaussian cell probabilities: rule tables");
  for (size_t a = 0; a < d; a++) {
    /* (Σ⁻¹)_aa = ‖L⁻¹ e_a‖². */
    double e[D] = {0}, y[D], prec = 0.0;
    e[a] = 1.0;
    lower_solve(d, L, e, y);
    for (size_t i = 0; i < d; i++) prec += y[i] * y[i];
    double r = grid->h[a] * sqrt(prec);
    if (make_rule(r, &rule[a])) {
      free(rule);
      return fpk_error_set(err, FPK_EUNSUP,
                           "Gaussian cell probabilities: cells are %g conditional standard "
                           "deviations wide along axis %zu; at most 32 supported", r, a);
    }
  }
  size_t len[D] = {1, 1, 1};
  for (size_t a = 0; a < d; a++) len[a] = rule[a].len;
  for (size_t c = 0; c < grid->size; c++) {
    double lo[D], x[D];
    size_t r = c;
    for (size_t a = 0; a < d; a++) {
      lo[a] = grid->lo[a] + (double)(r % grid->n[a]) * grid->h[a];
      r /= grid->n[a];
    }
    double sum = 0.0;
    for (size_t k = 0; k < len[2]; k++)
      for (size_t j = 0; j < len[1]; j++)
        for (size_t i = 0; i < len[0]; i++) {
          size_t idx[3] = {i, j, k};
          double w = 1.0;
          for (size_t a = 0; a < d; a++) {
            x[a] = lo[a] + rule[a].x[idx[a]] * grid->h[a];
            w *= rule[a].w[idx[a]];
          }
          sum += w * exp(log_density(d, g->mean, L, logdet, x));
        }
    q[c] = sum * grid->cell_volume;
  }
  free(rule);
  return FPK_SUCCESS;
}

int fpk_gaussian_cell_probs(const fpk_gaussian *g, const fpk_grid *grid, double *q,
                            fpk_error *err) {
  double L[D * D];
  int s = gaussian_setup(g, grid, q, L, err);
  if (s) return s;
  if (is_diagonal(g->dim, g->cov)) return cell_probs_product(g, grid, q, err);
  return cell_probs_quadrature(g, grid, L, q, err);
}

/* ---- tail mass and KL --------------------------------------------------------------------- */

double fpk_gaussian_mass_outside(const fpk_gaussian *g, const fpk_grid *grid) {
  if (!g || !grid || g->dim != grid->dim || g->dim < 1 || g->dim > D) return NAN;
  size_t d = g->dim;
  double total = 0.0;
  for (size_t a = 0; a < d; a++) {
    double s = sqrt(g->cov[a * d + a]);
    if (!(s > 0.0) || !isfinite(s) || !isfinite(g->mean[a])) return NAN;
    total += gsl_cdf_ugaussian_P((grid->lo[a] - g->mean[a]) / s) +
             gsl_cdf_ugaussian_Q((grid->hi[a] - g->mean[a]) / s);
  }
  return total < 1.0 ? total : 1.0;
}

/* KL(N0 ‖ N1) = ½[tr(S1⁻¹S0) + δᵀS1⁻¹δ − d + ln det S1 − ln det S0] (closed-forms.md), with
 * tr(S1⁻¹S0) = ‖L1⁻¹L0‖_F² and δᵀS1⁻¹δ = ‖L1⁻¹δ‖². NaN for invalid input. */
double fpk_gaussian_kl(const fpk_gaussian *g0, const fpk_gaussian *g1) {
  if (!g0 || !g1 || g0->dim != g1->dim || g0->dim < 1 || g0->dim > D) return NAN;
  size_t d = g0->dim;
  double L0[D * D], L1[D * D];
  if (fpk_cholesky_pd(d, g0->cov, L0) >= 0 || fpk_cholesky_pd(d, g1->cov, L1) >= 0) return NAN;
  double tr = 0.0, maha = 0.0, delta[D], y[D];
  for (size_t j = 0; j < d; j++) {
    double col[D];
    for (size_t i = 0; i < d; i++) col[i] = L0[i * d + j];
    lower_solve(d, L1, col, y);
    for (size_t i = 0; i < d; i++) tr += y[i] * y[i];
  }
  for (size_t i = 0; i < d; i++) delta[i] = g1->mean[i] - g0->mean[i];
  lower_solve(d, L1, delta, y);
  for (size_t i = 0; i < d; i++) maha += y[i] * y[i];
  return 0.5 * (tr + maha - (double)d + log_det_chol(d, L1) - log_det_chol(d, L0));
}
