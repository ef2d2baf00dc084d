/* Gaussian mixtures with exact noised densities, scores and Tweedie denoisers
 * (fpkit/diffusion.h, docs/diffusion.md). Under x_t = a x0 + b z the mixture stays a mixture,
 * p_t = Σ_k w_k N(a μ_k, C_k), C_k = a²Σ_k + b²I (closed-forms.md, "Gaussian mixtures under
 * linear forward SDEs"). Per call, each component's C_k is factored once (Cholesky), then per
 * point: v_k = C_k⁻¹(x − aμ_k), log N_k = −½(d log 2π + log det C_k + (x − aμ_k)·v_k), the
 * responsibilities by log-sum-exp, and
 *   score = −Σ r_k v_k,   m_k = μ_k + aΣ_k v_k,   E[x0 | x] = Σ r_k m_k,
 *   Cov[x0 | x] = Σ r_k (P_k + m_k m_kᵀ) − E Eᵀ,  P_k = Σ_k − a²Σ_k C_k⁻¹ Σ_k
 * (the Gaussian conditional of x0 given x_t within component k, then the law of total
 * covariance). */
#include <gsl/gsl_integration.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "fpkit/diffusion.h"
#include "fpkit/sde.h"

#define GMM_MAX_DIM 3

struct fpk_gmm {
  size_t d, K;
  double *w, *logw, *mu, *S; /* K, K, K×d, K×d×d */
  double *L;                 /* K×d×d: Cholesky factors of the Σ_k (sampling) */
  double *cw;                /* K: cumulative weights */
};

void fpk_gmm_free(fpk_gmm *m) {
  if (!m) return;
  free(m->w), free(m->logw), free(m->mu), free(m->S), free(m->L), free(m->cw);
  free(m);
}

size_t fpk_gmm_dim(const fpk_gmm *m) { return m->d; }
size_t fpk_gmm_components(const fpk_gmm *m) { return m->K; }
size_t fpk_gmm_size(const fpk_gmm *m) { return m->K; }
const double *fpk_gmm_weights(const fpk_gmm *m) { return m->w; }
const double *fpk_gmm_means(const fpk_gmm *m) { return m->mu; }
const double *fpk_gmm_covs(const fpk_gmm *m) { return m->S; }
fpk_ddpm_mixture fpk_gmm_mixture_view(const fpk_gmm *m) {
  fpk_ddpm_mixture v = {m->d, m->K, m->w, m->mu, m->S};
  return v;
}

fpk_gmm *fpk_gmm_alloc(size_t dim, size_t K, const double *weights, const double *means,
                       const double *covs, fpk_error *err) {
  if (dim < 1 || dim > GMM_MAX_DIM) {
    fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: dim = %zu: 1 to %d dimensions", dim, GMM_MAX_DIM);
    return NULL;
  }
  if (K < 1) {
    fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: no components");
    return NULL;
  }
  double sw = 0;
  for (size_t k = 0; k < K; k++) {
    if (!(weights[k] > 0) || !isfinite(weights[k])) {
      fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: weight %zu = %g must be positive and finite", k + 1,
                    weights[k]);
      return NULL;
    }
    sw += weights[k];
  }
  if (!(fabs(sw - 1) <= 1e-12)) {
    fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: the weights sum to %.17g, off 1 by %.3g (> 1e-12)", sw,
                  sw - 1);
    return NULL;
  }
  for (size_t k = 0; k < K * dim; k++)
    if (!isfinite(means[k])) {
      fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: mean %zu, component %zu = %g is not finite",
                    k / dim + 1, k % dim + 1, means[k]);
      return NULL;
    }
  for (size_t k = 0; k < K; k++) {
    const double *S = covs + k * dim * dim;
    double L[GMM_MAX_DIM * GMM_MAX_DIM];
    for (size_t i = 0; i < dim; i++)
      for (size_t j = 0; j < i; j++)
        if (!(fabs(S[i * dim + j] - S[j * dim + i]) <=
              1e-12 * (fabs(S[i * dim + j]) + fabs(S[j * dim + i])))) {
          fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: covariance %zu is not symmetric (entries (%zu, "
                        "%zu) = %g and (%zu, %zu) = %g)", k + 1, i + 1, j + 1, S[i * dim + j],
                        j + 1, i + 1, S[j * dim + i]);
          return NULL;
        }
    int bad = fpk_cholesky_pd(dim, S, L);
    /* a pivot that survives only by rounding (an exactly singular [[1, 0.6], [0.6, 0.36]] leaves
     * one of ~1e-17) is singular: relative to its diagonal entry, below 1e-12 refused (such a
     * covariance gave log p = −2e15 and scores of 1e16 with success) */
    for (size_t j = 0; bad < 0 && j < dim; j++)
      if (!(L[j * dim + j] * L[j * dim + j] > 1e-12 * S[j * dim + j])) bad = (int)j;
    if (bad >= 0) {
      fpk_error_set(err, FPK_EINVAL, "fpk_gmm_alloc: covariance %zu is not positive definite (Cholesky "
                    "pivot %d fails: singular or not positive to 1e-12 relative)", k + 1, bad + 1);
      return NULL;
    }
  }
  fpk_gmm *m = calloc(1, sizeof *m);
  if (!m || !(m->w = malloc(K * sizeof(double))) || !(m->logw = malloc(K * sizeof(double))) ||
      !(m->mu = malloc(K * dim * sizeof(double))) ||
      !(m->S = malloc(K * dim * dim * sizeof(double))) ||
      !(m->L = malloc(K * dim * dim * sizeof(double))) || !(m->cw = malloc(K * sizeof(double)))) {
    fpk_gmm_free(m);
    fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_alloc: out of memory for %zu components", K);
    return NULL;
  }
  m->d = dim, m->K = K;
  for (size_t k = 0; k < K; k++) m->w[k] = weights[k] / sw, m->logw[k] = log(m->w[k]);
  memcpy(m->mu, means, K * dim * sizeof(double));
  memcpy(m->S, covs, K * dim * dim * sizeof(double));
  double c = 0;
  for (size_t k = 0; k < K; k++) {
    fpk_cholesky_pd(dim, m->S + k * dim * dim, m->L + k * dim * dim);
    c += m->w[k];
    m->cw[k] = c;
  }
  m->cw[K - 1] = 1; /* the last component takes whatever rounding left */
  return m;
}

void fpk_gmm_moments(const fpk_gmm *m, double *mean, double *cov) {
  const size_t d = m->d;
  for (size_t a = 0; a < d; a++) {
    mean[a] = 0;
    for (size_t k = 0; k < m->K; k++) mean[a] += m->w[k] * m->mu[k * d + a];
  }
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) {
      double v = 0;
      for (size_t k = 0; k < m->K; k++)
        v += m->w[k] * (m->S[k * d * d + a * d + b] + (m->mu[k * d + a] - mean[a]) *
                                                          (m->mu[k * d + b] - mean[b]));
      cov[a * d + b] = v;
    }
}

void fpk_gmm_sample(const fpk_gmm *m, uint64_t seed, uint64_t path0, size_t n, double *x) {
  const size_t d = m->d;
#pragma omp parallel for schedule(static) if (n >= 4096)
  for (size_t i = 0; i < n; i++) {
    double z[1 + GMM_MAX_DIM];
    fpk_rng_normals(seed, path0 + i, 0, 1 + d, z);
    const double u = 0.5 * erfc(-z[0] / sqrt(2.0)); /* Φ(z_0): uniform on (0, 1) */
    size_t k = 0;
    while (k + 1 < m->K && u > m->cw[k]) k++;
    const double *L = m->L + k * d * d;
    for (size_t a = 0; a < d; a++) {
      double v = m->mu[k * d + a];
      for (size_t b = 0; b <= a; b++) v += L[a * d + b] * z[1 + b];
      x[a * n + i] = v;
    }
  }
}

/* Per component at one time: C⁻¹, log det C, the Tweedie gain G = aΣC⁻¹ and P = Σ − aΣC⁻¹aΣ. */
typedef struct comp_t {
  double Ci[GMM_MAX_DIM * GMM_MAX_DIM], G[GMM_MAX_DIM * GMM_MAX_DIM];
  double P[GMM_MAX_DIM * GMM_MAX_DIM], amu[GMM_MAX_DIM], logdet;
} comp_t;

int fpk_gmm_eval(const fpk_gmm *m, const fpk_schedule *s, double t, size_t n, const double *x,
                 double *log_p, double *score, double *denoised, double *post_cov,
                 fpk_error *err) {
  const size_t d = m->d, K = m->K;
  double a = 1, b2 = 0;
  if (s) {
    const double T = fpk_schedule_T(s);
    if (!(t >= 0 && t <= T))
      return fpk_error_set(err, FPK_EINVAL, "fpk_gmm_eval: t = %g is outside [0, T] = [0, %g]", t, T);
    a = fpk_schedule_mean_coef(s, t);
    b2 = t == 0 ? 0 : fpk_schedule_var(s, t);
    if (!isfinite(a) || !isfinite(b2) || b2 < 0)
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_gmm_eval: the schedule gives a = %g, b^2 = %g at t = %g",
                           a, b2, t);
  }
  comp_t *cp = malloc(K * sizeof *cp);
  if (!cp) return fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_eval: out of memory");
  for (size_t k = 0; k < K; k++) {
    const double *S = m->S + k * d * d;
    double C[GMM_MAX_DIM * GMM_MAX_DIM], L[GMM_MAX_DIM * GMM_MAX_DIM];
    for (size_t i = 0; i < d * d; i++) C[i] = a * a * S[i];
    for (size_t i = 0; i < d; i++) C[i * d + i] += b2;
    const int bad = fpk_cholesky_pd(d, C, L);
    if (bad >= 0) {
      free(cp);
      return fpk_error_set(err, FPK_ENUMERIC, "fpk_gmm_eval: the noised covariance of component %zu is "
                           "not positive definite at t = %g (a = %g, b^2 = %g)", k + 1, t, a, b2);
    }
    comp_t *c = cp + k;
    c->logdet = 0;
    for (size_t i = 0; i < d; i++) c->logdet += 2 * log(L[i * d + i]);
    fpk_cholesky_inverse(d, L, c->Ci);
    for (size_t i = 0; i < d; i++) c->amu[i] = a * m->mu[k * d + i];
    for (size_t i = 0; i < d; i++) /* G = aΣC⁻¹ */
      for (size_t j = 0; j < d; j++) {
        double g = 0;
        for (size_t l = 0; l < d; l++) g += S[i * d + l] * c->Ci[l * d + j];
        c->G[i * d + j] = a * g;
      }
    for (size_t i = 0; i < d; i++) /* P = Σ − GaΣ */
      for (size_t j = 0; j < d; j++) {
        double g = 0;
        for (size_t l = 0; l < d; l++) g += c->G[i * d + l] * a * S[l * d + j];
        c->P[i * d + j] = S[i * d + j] - g;
      }
  }
  const double log2pi = log(2 * M_PI);
  const int nth = n >= 4096 ? omp_get_max_threads() : 1;
  double *lwbuf = malloc((size_t)nth * K * (1 + GMM_MAX_DIM) * sizeof(double));
  if (!lwbuf) {
    free(cp);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_eval: out of memory");
  }
#pragma omp parallel for num_threads(nth) schedule(static)
  for (size_t i = 0; i < n; i++) {
    double *lw = lwbuf + (size_t)omp_get_thread_num() * K * (1 + GMM_MAX_DIM);
    double *vk = lw + K; /* K × d: C_k⁻¹(x − aμ_k) */
    double xi[GMM_MAX_DIM];
    for (size_t c = 0; c < d; c++) xi[c] = x[c * n + i];
    double mx = -INFINITY;
    for (size_t k = 0; k < K; k++) {
      const comp_t *c = cp + k;
      double df[GMM_MAX_DIM], q = 0;
      for (size_t u = 0; u < d; u++) df[u] = xi[u] - c->amu[u];
      for (size_t u = 0; u < d; u++) {
        double v = 0;
        for (size_t w = 0; w < d; w++) v += c->Ci[u * d + w] * df[w];
        vk[k * d + u] = v;
        q += df[u] * v;
      }
      lw[k] = m->logw[k] - 0.5 * ((double)d * log2pi + c->logdet + q);
      if (lw[k] > mx) mx = lw[k];
    }
    double sum = 0;
    for (size_t k = 0; k < K; k++) sum += exp(lw[k] - mx);
    const double lse = mx + log(sum);
    if (log_p) log_p[i] = lse;
    double sc[GMM_MAX_DIM] = {0}, E[GMM_MAX_DIM] = {0}, M2[GMM_MAX_DIM * GMM_MAX_DIM] = {0};
    const int tweedie = denoised || post_cov;
    for (size_t k = 0; k < K; k++) {
      const double r = exp(lw[k] - lse);
      const comp_t *c = cp + k;
      double mk[GMM_MAX_DIM];
      for (size_t u = 0; u < d; u++) sc[u] -= r * vk[k * d + u];
      if (!tweedie) continue;
      for (size_t u = 0; u < d; u++) {
        double g = m->mu[k * d + u];
        for (size_t w = 0; w < d; w++) g += c->G[u * d + w] * (xi[w] - c->amu[w]);
        mk[u] = g;
        E[u] += r * g;
      }
      if (post_cov)
        for (size_t u = 0; u < d; u++)
          for (size_t w = 0; w < d; w++) M2[u * d + w] += r * (c->P[u * d + w] + mk[u] * mk[w]);
    }
    for (size_t u = 0; u < d; u++) {
      if (score) score[u * n + i] = sc[u];
      if (denoised) denoised[u * n + i] = E[u];
    }
    if (post_cov)
      for (size_t u = 0; u < d; u++)
        for (size_t w = 0; w < d; w++) post_cov[(u * d + w) * n + i] = M2[u * d + w] - E[u] * E[w];
  }
  free(lwbuf);
  free(cp);
  return FPK_SUCCESS;
}

/* ---- Cell probabilities ------------------------------------------------------------------- */

/* Σ_k w_k Φ((x − a μ_k)/√(a² Σ_k + b²)) in 1D, by erfc (accurate in both tails). */
static double cdf_1d(const fpk_gmm *m, double a, double b2, double x) {
  double F = 0;
  for (size_t k = 0; k < m->K; k++)
    F += m->w[k] * 0.5 * erfc(-(x - a * m->mu[k]) / sqrt(2 * (a * a * m->S[k] + b2)));
  return F;
}

#define CELL_GL_NODES 6   /* Gauss–Legendre nodes per axis and cell */
#define CELL_CHUNK 4096   /* cells per call of fpk_gmm_eval */

int fpk_gmm_cell_probs(const fpk_gmm *m, const fpk_schedule *s, double t, const fpk_grid *g,
                       double *P, fpk_error *err) {
  if (!m || !g || !P) return fpk_error_set(err, FPK_EINVAL, "fpk_gmm_cell_probs: NULL argument");
  const size_t d = m->d, N = g->size;
  if (g->dim != d)
    return fpk_error_set(err, FPK_EINVAL, "fpk_gmm_cell_probs: the grid is %zuD and the mixture "
                         "%zuD", g->dim, d);
  double a = 1, b2 = 0;
  if (s) {
    if (!(t >= 0 && t <= fpk_schedule_T(s)))
      return fpk_error_set(err, FPK_EINVAL, "fpk_gmm_cell_probs: t = %g outside [0, T = %g]", t,
                           fpk_schedule_T(s));
    if (t > 0) a = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
  }
  if (d == 1) {
    double Flo = cdf_1d(m, a, b2, g->lo[0]);
    for (size_t i = 0; i < N; i++) {
      const double Fhi = cdf_1d(m, a, b2, g->lo[0] + (double)(i + 1) * g->h[0]);
      P[i] = Fhi - Flo;
      Flo = Fhi;
    }
    return FPK_SUCCESS;
  }
  /* nodes u_q and weights v_q of the rule on [−½, ½] (times h per axis) */
  const size_t Q = CELL_GL_NODES;
  size_t nq = 1;
  for (size_t c = 0; c < d; c++) nq *= Q;
  double u[CELL_GL_NODES], v[CELL_GL_NODES];
  gsl_integration_glfixed_table *tab = gsl_integration_glfixed_table_alloc(Q);
  if (!tab) return fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_cell_probs: out of memory");
  for (size_t q = 0; q < Q; q++) gsl_integration_glfixed_point(-0.5, 0.5, q, &u[q], &v[q], tab);
  gsl_integration_glfixed_table_free(tab);
  const size_t chunk = CELL_CHUNK < N ? CELL_CHUNK : N;
  double *x = malloc(d * chunk * nq * sizeof(double)), *lp = malloc(chunk * nq * sizeof(double));
  int rc = x && lp ? FPK_SUCCESS : fpk_error_set(err, FPK_ENOMEM, "fpk_gmm_cell_probs: out of "
                                                 "memory for %zu nodes", chunk * nq);
  for (size_t i0 = 0; !rc && i0 < N; i0 += chunk) {
    const size_t nc = N - i0 < chunk ? N - i0 : chunk, np = nc * nq;
    for (size_t j = 0; j < nc; j++) {
      double ctr[GMM_MAX_DIM] = {0};
      fpk_grid_point(g, i0 + j, ctr);
      for (size_t q = 0; q < nq; q++) /* node q: digit c of q in base Q picks axis c's node */
        for (size_t c = 0, r = q; c < d; c++, r /= Q)
          x[c * np + j * nq + q] = ctr[c] + u[r % Q] * g->h[c];
    }
    if ((rc = fpk_gmm_eval(m, s, t, np, x, lp, NULL, NULL, NULL, err))) break;
    for (size_t j = 0; j < nc; j++) {
      double sum = 0;
      for (size_t q = 0; q < nq; q++) {
        double wq = 1;
        for (size_t c = 0, r = q; c < d; c++, r /= Q) wq *= v[r % Q];
        sum += wq * exp(lp[j * nq + q]);
      }
      P[i0 + j] = sum * g->cell_volume;
    }
  }
  free(x), free(lp);
  return rc;
}
