/* fpkit/compare.h — distances between densities on a grid, and moment errors.
 * All norms are integrals over the grid: L1 = Σ|p - q| h^d, L2 = (Σ(p - q)² h^d)^{1/2},
 * Linf = max|p - q|. */
#ifndef FPKIT_COMPARE_H
#define FPKIT_COMPARE_H

#include <stddef.h>
#include "fpkit/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

double fpk_dist_l1(const fpk_grid *g, const double *p, const double *q);
double fpk_dist_l2(const fpk_grid *g, const double *p, const double *q);
double fpk_dist_linf(const fpk_grid *g, const double *p, const double *q);
/* KL(p ‖ q) = Σ p log(p/q) h^d over cells with p > 0; +Inf if q <= 0 where p > 0; NaN if p or q
 * has a non-finite value anywhere. Cells where p <= 0 contribute nothing (negative values are
 * clipped: spectral solvers may produce them). */
double fpk_dist_kl(const fpk_grid *g, const double *p, const double *q);
/* Euclidean distance (Σ (a_i - b_i)²)^{1/2} of two vectors of n values: the error of a mean
 * (n = dim) or, as the Frobenius norm, of a covariance (n = dim²). */
double fpk_dist_euclid(size_t n, const double *a, const double *b);
/* The empirical p-quantile of a sample sorted increasing (n >= 1): the order statistic x_(⌈np⌉),
 * the left-continuous inverse of the empirical CDF (x_(1) for p <= 1/n, x_(n) for p >= 1). */
double fpk_sorted_quantile(const double *x, size_t n, double p);
/* Mean and covariance of a grid density (normalised by its own mass). */
void fpk_density_moments(const fpk_grid *g, const double *p, double *mean, double *cov);

#ifdef __cplusplus
}
#endif
#endif
