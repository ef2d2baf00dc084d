/* Posterior sampling for a linear inverse problem with a Gaussian-mixture prior
 * (fpkit/diffusion.h, docs/diffusion.md "Posterior sampling").
 *
 * y = H x0 + e, e ~ N(0, σ_y² I): within component k the pair (x0, y) is jointly Gaussian, so
 * the posterior component is the Gaussian conditional and its weight the component's evidence
 * (Bishop, "Pattern recognition and machine learning", 2006, §2.3.3 and §9.2):
 *   w'_k ∝ w_k N(y; Hμ_k, S_k), S_k = HΣ_kHᵀ + σ_y² I, K_k = Σ_kHᵀS_k⁻¹,
 *   μ'_k = μ_k + K_k(y − Hμ_k),  Σ'_k = Σ_k − K_k HΣ_k.
 * The DPS score (Chung et al., ICLR 2023) adds ∇_x log N(y; H x̂0(x), σ_y² I) to the prior's
 * noised score, with x̂0 the Tweedie denoiser and its exact Jacobian (a_t/b_t²) Cov[x0 | x_t]
 * (the derivative of E[x0 | x_t = x] = (x + b²∇log p_t)/a is (I + b²∇²log p_t)/a, which
 * second-order Tweedie writes as (a/b²) Cov[x0 | x_t]). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "fpkit/diffusion.h"

#define PD 3 /* the mixtures' largest dimension */

static int check_problem(size_t dim, size_t m, const double *H, const double *y, double sigma_y,
                         fpk_error *err) {
  if (dim < 1 || dim > PD)
    return fpk_error_set(err, FPK_EINVAL, "posterior: dim = %zu: 1 to %d dimensions", dim, PD);
  if (m < 1 || m > dim)
    return fpk_error_set(err, FPK_EINVAL, "posterior: m = %zu observations: 1 to dim = %zu", m,
                         dim);
  if (!(sigma_y > 0) || !isfinite(sigma_y))
    return fpk_error_set(err, FPK_EINVAL, "posterior: sigma_y = %g must be positive and finite",
                         sigma_y);
  for (size_t i = 0; i < m * dim; i++)
    if (!isfinite(H[i]))
      return fpk_error_set(err, FPK_EINVAL, "posterior: H[%zu] = %g is not finite", i, H[i]);
  for (size_t i = 0; i < m; i++)
    if (!isfinite(y[i]))
      return fpk_error_set(err, FPK_EINVAL, "posterior: y[%zu] = %g is not finite", i, y[i]);
  return 0;
}

int fpk_posterior_params(size_t dim, size_t K, const double *weights, const double *means,
                         const double *covs, size_t m, const double *H, const double *y,
                         double sigma_y, double *w_post, double *mu_post, double *cov_post,
                         fpk_error *err) {
  int rc = check_problem(dim, m, H, y, sigma_y, err);
  if (rc) return rc;
  if (K < 1) return fpk_error_set(err, FPK_EINVAL, "posterior: no components");
  const size_t d = dim;
  double lmax = -INFINITY;
  for (size_t k = 0; k < K; k++) {
    const double *mu = means + k * d, *S = covs + k * d * d;
    double HS[PD * PD], Sy[PD * PD], L[PD * PD], r[PD], v[PD], Z[PD * PD];
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < d; j++) {
        double a = 0;
        for (size_t l = 0; l < d; l++) a += H[i * d + l] * S[l * d + j];
        HS[i * d + j] = a;
      }
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < m; j++) {
        double a = 0;
        for (size_t l = 0; l < d; l++) a += HS[i * d + l] * H[j * d + l];
        Sy[i * m + j] = a + (i == j ? sigma_y * sigma_y : 0);
      }
    if (fpk_cholesky_pd(m, Sy, L) >= 0)
      return fpk_error_set(err, FPK_ENUMERIC,
                           "posterior: H Sigma H^T + sigma_y^2 I of component %zu is not "
                           "positive definite", k + 1);
    double logdet = 0, q = 0;
    for (size_t i = 0; i < m; i++) {
      double a = 0;
      for (size_t l = 0; l < d; l++) a += H[i * d + l] * mu[l];
      r[i] = y[i] - a;
      logdet += 2 * log(L[i * m + i]);
    }
    fpk_cholesky_solve(m, L, r, v);
    for (size_t i = 0; i < m; i++) q += r[i] * v[i];
    w_post[k] = log(weights[k]) - 0.5 * ((double)m * log(2 * M_PI) + logdet + q);
    if (w_post[k] > lmax) lmax = w_post[k];
    /* μ' = μ + (HΣ)ᵀ v;  Z = S⁻¹ HΣ column by column;  Σ' = Σ − (HΣ)ᵀ Z, symmetrised. */
    for (size_t j = 0; j < d; j++) {
      double a = 0;
      for (size_t i = 0; i < m; i++) a += HS[i * d + j] * v[i];
      mu_post[k * d + j] = mu[j] + a;
      double col[PD], zc[PD];
      for (size_t i = 0; i < m; i++) col[i] = HS[i * d + j];
      fpk_cholesky_solve(m, L, col, zc);
      for (size_t i = 0; i < m; i++) Z[i * d + j] = zc[i];
    }
    double *C = cov_post + k * d * d;
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double a = 0;
        for (size_t l = 0; l < m; l++) a += HS[l * d + i] * Z[l * d + j];
        C[i * d + j] = S[i * d + j] - a;
      }
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < i; j++) C[i * d + j] = C[j * d + i] = 0.5 * (C[i * d + j] + C[j * d + i]);
    double Lc[PD * PD];
    if (fpk_cholesky_pd(d, C, Lc) >= 0)
      return fpk_error_set(err, FPK_ENUMERIC,
                           "posterior: the covariance of posterior component %zu is not positive "
                           "definite (sigma_y = %g too small for this prior?)", k + 1, sigma_y);
  }
  /* Normalise by log-sum-exp: the weights sum to 1 to rounding. */
  double sw = 0;
  for (size_t k = 0; k < K; k++) sw += (w_post[k] = exp(w_post[k] - lmax));
  if (!(sw > 0) || !isfinite(sw))
    return fpk_error_set(err, FPK_ENUMERIC, "posterior: the evidence is not finite");
  for (size_t k = 0; k < K; k++) w_post[k] /= sw;
  return 0;
}

fpk_gmm *fpk_posterior_gmm(size_t dim, size_t K, const double *weights, const double *means,
                           const double *covs, size_t m, const double *H, const double *y,
                           double sigma_y, fpk_error *err) {
  if (dim < 1 || dim > PD || K < 1) {
    fpk_error_set(err, FPK_EINVAL, "posterior: dim = %zu, K = %zu", dim, K);
    return NULL;
  }
  double *w = malloc(K * sizeof(double)), *mu = malloc(K * dim * sizeof(double));
  double *C = malloc(K * dim * dim * sizeof(double));
  fpk_gmm *g = NULL;
  if (!w || !mu || !C)
    fpk_error_set(err, FPK_ENOMEM, "posterior: out of memory");
  else if (!fpk_posterior_params(dim, K, weights, means, covs, m, H, y, sigma_y, w, mu, C, err)) {
    /* A posterior weight that underflowed to 0 (y far in one component's tail) is kept as the
     * smallest normal double, which fpk_gmm_alloc accepts and which changes no sum: refusing it
     * ("weight = 0 must be positive") rejected a legitimate observation. */
    for (size_t k = 0; k < K; k++)
      if (w[k] == 0) w[k] = DBL_MIN;
    g = fpk_gmm_alloc(dim, K, w, mu, C, err);
  }
  free(w), free(mu), free(C);
  return g;
}

int fpk_dps_score(const fpk_gmm *prior, const fpk_schedule *s, double t, size_t m,
                  const double *H, const double *y, double sigma_y, size_t n, const double *x,
                  double *score, fpk_error *err) {
  if (!prior || !s) return fpk_error_set(err, FPK_EINVAL, "dps: NULL prior or schedule");
  const size_t d = fpk_gmm_dim(prior);
  int rc = check_problem(d, m, H, y, sigma_y, err);
  if (rc) return rc;
  double *den = malloc(d * n * sizeof(double)), *cov = malloc(d * d * n * sizeof(double));
  if (!den || !cov) {
    free(den), free(cov);
    return fpk_error_set(err, FPK_ENOMEM, "dps: out of memory");
  }
  rc = fpk_gmm_eval(prior, s, t, n, x, NULL, score, den, cov, err);
  if (!rc) {
    const double a = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
    const double s2 = sigma_y * sigma_y;
    for (size_t i = 0; i < n; i++) {
      double u[PD] = {0}; /* Hᵀ(y − H x̂0)/σ_y² */
      for (size_t l = 0; l < m; l++) {
        double r = y[l];
        for (size_t c = 0; c < d; c++) r -= H[l * d + c] * den[c * n + i];
        for (size_t c = 0; c < d; c++) u[c] += H[l * d + c] * r / s2;
      }
      for (size_t c = 0; c < d; c++) {
        double ju;
        if (b2 > 0) {
          ju = 0;
          for (size_t e = 0; e < d; e++) ju += cov[(c * d + e) * n + i] * u[e];
          ju *= a / b2;
        } else {
          ju = u[c] / a; /* t = 0: x̂0 = x/a, J = I/a */
        }
        score[c * n + i] += ju;
      }
    }
  }
  free(den), free(cov);
  return rc;
}

int fpk_dps_score_field(double t, size_t n, const double *x, double *score, void *user) {
  const fpk_dps_problem *p = user;
  return fpk_dps_score(p->prior, p->schedule, t, p->m, p->H, p->y, p->sigma_y, n, x, score,
                       NULL);
}
