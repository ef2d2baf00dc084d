/* Convergence orders with confidence intervals (fpkit/fit.h). */
#include "fpkit/fit.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>

#define FIT_MAX 64

int fpk_fit_order(size_t n, const double *h, const double *e, const double *se, int corrected,
                  double level, fpk_order_fit *fit, fpk_error *err) {
  if (!fit || !h || !e) return fpk_error_set(err, FPK_EINVAL, "fit: NULL argument");
  memset(fit, 0, sizeof *fit);
  if (corrected < 0 || corrected > 2)
    return fpk_error_set(err, FPK_EINVAL, "fit: %d correction terms (0, 1 or 2)", corrected);
  const size_t k = 2 + (size_t)corrected, nmin = se ? k : k + 1;
  if (n < nmin || n > FIT_MAX)
    return fpk_error_set(err, FPK_EINVAL,
                         "fit: %zu points; the fit with %d correction terms needs %zu..%d%s", n,
                         corrected, nmin, FIT_MAX,
                         se ? "" : " (one more than its parameters without standard errors, so "
                                   "that the residuals give the uncertainty)");
  if (!(level > 0.0 && level < 1.0))
    return fpk_error_set(err, FPK_EINVAL, "fit: confidence level %g, must be in (0, 1)", level);
  double xd[FIT_MAX * 4], yd[FIT_MAX], wd[FIT_MAX], cd[16], cc[4];
  for (size_t i = 0; i < n; i++) {
    if (!(h[i] > 0.0) || !isfinite(h[i]))
      return fpk_error_set(err, FPK_EINVAL, "fit: point %zu has step %g", i, h[i]);
    if (!(e[i] > 0.0) || !isfinite(e[i]))
      return fpk_error_set(err, FPK_EINVAL, "fit: point %zu (h = %g) has error %g, which has no "
                           "logarithm", i, h[i], e[i]);
    if (se && (!(se[i] > 0.0) || !isfinite(se[i])))
      return fpk_error_set(err, FPK_EINVAL, "fit: point %zu (h = %g) has standard error %g",
                           i, h[i], se[i]);
    xd[i * k] = 1.0;
    xd[i * k + 1] = log(h[i]);
    if (corrected >= 1) xd[i * k + 2] = h[i];
    if (corrected >= 2) xd[i * k + 3] = h[i] * h[i];
    yd[i] = log(e[i]);
    if (se) {
      const double s = se[i] / e[i]; /* delta method: sd of log e */
      wd[i] = 1.0 / (s * s);
    }
  }
  gsl_matrix_view X = gsl_matrix_view_array(xd, n, k);
  gsl_vector_view y = gsl_vector_view_array(yd, n), w = gsl_vector_view_array(wd, n);
  gsl_vector_view c = gsl_vector_view_array(cc, k);
  gsl_matrix_view cov = gsl_matrix_view_array(cd, k, k);
  gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(n, k);
  if (!ws) return fpk_error_set(err, FPK_ENOMEM, "fit: out of memory");
  double chisq;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int st = se ? gsl_multifit_wlinear(&X.matrix, &w.vector, &y.vector, &c.vector, &cov.matrix,
                                     &chisq, ws)
              : gsl_multifit_linear(&X.matrix, &y.vector, &c.vector, &cov.matrix, &chisq, ws);
  gsl_set_error_handler(old);
  gsl_multifit_linear_free(ws);
  if (st)
    return fpk_error_set(err, FPK_ENUMERIC, "fit: least squares failed (%s)", gsl_strerror(st));
  const double tail = 0.5 * (1.0 + level), dof = (double)(n - k);
  double var = cd[1 * k + 1], q;
  fit->birge = NAN;
  if (se) {
    /* weights from the standard errors; inflate by the Birge ratio when the scatter exceeds them */
    q = gsl_cdf_ugaussian_Pinv(tail);
    if (n > k) {
      const double r2 = chisq / dof;
      fit->birge = sqrt(r2);
      /* inflate only on significant lack of fit (χ² above its 95% quantile): inflating whenever
       * χ²/dof > 1 would widen intervals that are right, and over-cover (97.4% measured for a
       * 95% interval on six points, tests/test_fit.c) */
      if (chisq > gsl_cdf_chisq_Pinv(0.95, dof)) {
        var *= r2;
        q = gsl_cdf_tdist_Pinv(tail, dof);
      }
    }
  } else {
    /* gsl_multifit_linear's covariance already carries the residual variance χ²/(n − k) */
    q = gsl_cdf_tdist_Pinv(tail, dof);
  }
  fit->npoints = n;
  fit->weighted = se != NULL;
  fit->corrected = corrected;
  fit->intercept = cc[0];
  fit->order = cc[1];
  fit->correction = corrected ? cc[2] : 0.0;
  fit->correction2 = corrected >= 2 ? cc[3] : 0.0;
  fit->se = sqrt(var);
  fit->ci_lo = fit->order - q * fit->se;
  fit->ci_hi = fit->order + q * fit->se;
  return FPK_SUCCESS;
}
