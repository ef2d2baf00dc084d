/* fpkit/fit.h — convergence orders fitted by regression on log-log data, with confidence
 * intervals that account for the Monte Carlo error of each point.
 *
 * Model: log e_i = a + p log h_i + ε_i, or, corrected, log e_i = a + p log h_i + c h_i + ε_i
 * (and + c₂ h_i² with two correction terms).
 * The corrected model absorbs the leading relative correction of an error expansion
 * e(h) = C h^p (1 + c h + O(h²)) (for weak errors the Talay–Tubaro expansion e = C₁h + C₂h² + …,
 * Stoch. Anal. Appl. 8(4), 1990), which otherwise biases p on a pre-asymptotic ladder by about
 * c h̄ — far more than the width of an interval computed from points that have no noise.
 * The order p and its interval come from
 *  - weighted least squares when standard errors s_i of the e_i are given (Monte Carlo points):
 *    Var(log e_i) ≈ (s_i/e_i)² by the delta method, weights w_i = (e_i/s_i)². If the scatter
 *    exceeds what those errors explain (Birge ratio R² = χ²/(n−k) > 1: the points are not on a
 *    line within their noise, e.g. pre-asymptotic terms; applied when χ² exceeds its 95% quantile,
 *    so that right weights keep their nominal coverage), the covariance is inflated by R² and
 *    the interval uses Student's t with n−k degrees of freedom; otherwise the weights are taken
 *    as known and the interval is normal (R. T. Birge, Phys. Rev. 40, 1932; the practice of the
 *    Particle Data Group, Rev. Part. Phys., "Introduction: averaging and fitting");
 *  - ordinary least squares when there are no standard errors (deterministic errors, e.g. exact
 *    discrete references): the residual variance gives the covariance, Student's t with n−k
 *    degrees of freedom the interval (needs n >= 3).
 * with n − k degrees of freedom (k = 2 or 3 parameters). GSL's gsl_multifit_wlinear /
 * gsl_multifit_linear do the fits, gsl_cdf_tdist_Pinv the quantiles. */
#ifndef FPKIT_FIT_H
#define FPKIT_FIT_H

#include <stddef.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_order_fit {
  double order, intercept; /* log e = intercept + order log h (+ correction h) */
  double correction;       /* c of the corrected model; 0 for the plain one */
  double correction2;      /* c₂ of the second correction term h² (corrected = 2) */
  int corrected;           /* number of correction terms: 0, 1 (c h) or 2 (c h + c₂ h²) */
  double se;               /* standard error of the order (after any Birge inflation) */
  double ci_lo, ci_hi;     /* confidence interval of the order at the requested level */
  double birge;            /* R = √(χ²/(n−k)) of the weighted fit; NaN when unweighted or n = 2 */
  size_t npoints;
  int weighted;            /* 1: weights from the standard errors */
} fpk_order_fit;

/* Fits n >= k points (k = 2 + corrected parameters; one more without standard errors, so that
 * the residuals measure the uncertainty). corrected: 0, 1 or 2 correction terms. se may be NULL
 * (deterministic errors);
 * otherwise every se[i] must be positive. level in (0, 1), e.g. 0.95. Fails (FPK_EINVAL) for
 * non-positive or non-finite h or e (an error that is zero or negative has no logarithm: the
 * message names the point). */
int fpk_fit_order(size_t n, const double *h, const double *e, const double *se, int corrected,
                  double level, fpk_order_fit *fit, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
