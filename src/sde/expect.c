/* Exact expectations E f(X) of functionals under a Gaussian or lognormal law (fpkit/sde.h): the
 * references of convergence studies (`fpkit converge`, docs/sde-schemes.md), where the law of X_T
 * is known in closed form (linear models, the Euler–Maruyama chain of one, GBM from a point). */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_integration.h>

#include "fpkit/sde.h"
#include "sde/sde_internal.h"

int fpk_gauss_hermite_expect(size_t d, const double *m, const double *L, const double *x0,
                             size_t nfun, fpk_functional_fn f, void *params, double *Ef,
                             fpk_error *err) {
  gsl_integration_fixed_workspace *q =
      gsl_integration_fixed_alloc(gsl_integration_fixed_hermite, FPK_GH_NODES, 0.0, 1.0, 0.0, 0.0);
  if (!q) return fpk_error_set(err, FPK_ENOMEM, "out of memory (quadrature)");
  const double *u = gsl_integration_fixed_nodes(q), *w = gsl_integration_fixed_weights(q);
  size_t npts = 1;
  for (size_t a = 0; a < d; a++) npts *= FPK_GH_NODES;
  double *x = malloc(npts * d * sizeof(double)), *wt = malloc(npts * sizeof(double));
  double *fx = malloc(npts * (nfun ? nfun : 1) * sizeof(double));
  int rc = FPK_SUCCESS;
  if (!x || !wt || !fx) {
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory (quadrature)");
    goto done;
  }
  /* E g(Z) = π^{-d/2} Σ w g(√2 u) for the weight e^{-|u|²} of GSL's Hermite rule */
  const double norm = pow(M_PI, -0.5 * (double)d);
  for (size_t p = 0; p < npts; p++) {
    size_t idx[FPK_MAX_DIM], r = p;
    double v[FPK_MAX_DIM];
    wt[p] = norm;
    for (size_t a = 0; a < d; a++) {
      idx[a] = r % FPK_GH_NODES;
      r /= FPK_GH_NODES;
      v[a] = M_SQRT2 * u[idx[a]];
      wt[p] *= w[idx[a]];
    }
    for (size_t c = 0; c < d; c++) {
      double s = m[c];
      for (size_t k = 0; k <= c; k++) s += L[c * d + k] * v[k];
      x[c * npts + p] = x0 ? x0[c] * exp(s) : s;
    }
  }
  int bad = f(npts, x, fx, params) != 0;
  for (size_t k = 0; k < nfun * npts && !bad; k++) bad = !isfinite(fx[k]);
  if (bad) {
    /* a functional that overflows at a far quadrature node: report, do not guess */
    rc = fpk_error_set(err, FPK_ENUMERIC, "a functional is not finite at a Gauss-Hermite node "
                       "of the exact law (it grows too fast for E f to exist or be computed)");
    goto done;
  }
  for (size_t j = 0; j < nfun; j++) {
    double s = 0.0;
    for (size_t p = 0; p < npts; p++) s += wt[p] * fx[j * npts + p];
    Ef[j] = s;
  }
done:
  free(x), free(wt), free(fx);
  gsl_integration_fixed_free(q);
  return rc;
}

int fpk_gaussian_expect(const fpk_gaussian *g, size_t nfun, fpk_functional_fn f, void *params,
                        double *Ef, fpk_error *err) {
  double L[FPK_MAX_DIM * FPK_MAX_DIM];
  int rc = fpk_cholesky_psd(g->cov, g->dim, L, err);
  return rc ? rc : fpk_gauss_hermite_expect(g->dim, g->mean, L, NULL, nfun, f, params, Ef, err);
}
