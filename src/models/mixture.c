/* Langevin dynamics with the exact score of a Gaussian mixture (fpkit/model.h):
 *
 *   dX = ∇log p(X) dt + √2 dW,   p = Σ_k w_k N(m_k, S_k),
 *
 * the Langevin equation dX = ∇log π dt + √2 dW whose stationary law is π = p
 * (../shared/reference/closed-forms.md, "Langevin dynamics"). The score is
 *   ∇log p(x) = Σ_k r_k(x) S_k⁻¹ (m_k − x),   r_k = softmax_k(log w_k + log N(x; m_k, S_k))
 * (closed-forms.md, "Gaussian mixtures under linear forward SDEs", at t = 0), with the
 * responsibilities by log-sum-exp: the largest log-term is subtracted before exponentiating, so
 * far from every mode, where each N(x; m_k, S_k) underflows to 0 and the naive ratio is 0/0,
 * the nearest component (in Mahalanobis distance) still gets weight ≈ 1. Each S_k is factored
 * once, S_k = L_k L_kᵀ (Cholesky), and S_k⁻¹δ comes from two triangular solves. One allocation
 * starting with the fpk_model, so fpk_model_free() is a plain free(). */
#include "fpkit/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "fpkit/exact.h"

#define D FPK_MAX_DIM
#define KMAX FPK_MIXTURE_MAX

typedef struct mixture_model {
  fpk_model model;  /* first: fpk_model_free() frees the whole record */
  fpk_mixture mix;  /* weights normalised */
  double L[KMAX][D * D]; /* Cholesky factors, row-major lower triangles */
  double logc[KMAX];     /* log w_k − ½ d log 2π − ½ log det S_k */
} mixture_model;


static int mixture_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const mixture_model *mm = params;
  const size_t d = mm->mix.dim, K = mm->mix.K;
  for (size_t i = 0; i < n; i++) {
    double u[KMAX][D], l[KMAX], lmax = -INFINITY;
    for (size_t k = 0; k < K; k++) {
      const double *L = mm->L[k];
      double y[D], q = 0.0;
      for (size_t a = 0; a < d; a++) { /* L y = x − m_k */
        double v = x[a * n + i] - mm->mix.mean[k][a];
        for (size_t b = 0; b < a; b++) v -= L[a * d + b] * y[b];
        y[a] = v / L[a * d + a];
        q += y[a] * y[a];
      }
      for (size_t a = d; a-- > 0;) { /* Lᵀ u = y: u = S⁻¹(x − m_k) */
        double v = y[a];
        for (size_t b = a + 1; b < d; b++) v -= L[b * d + a] * u[k][b];
        u[k][a] = v / L[a * d + a];
      }
      l[k] = mm->logc[k] - 0.5 * q;
      if (l[k] > lmax) lmax = l[k];
    }
    double s = 0.0, g[D] = {0.0};
    for (size_t k = 0; k < K; k++) {
      const double r = exp(l[k] - lmax);
      s += r;
      for (size_t a = 0; a < d; a++) g[a] -= r * u[k][a];
    }
    for (size_t a = 0; a < d; a++) out[a * n + i] = g[a] / s;
  }
  return 0;
}

static int mixture_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)x;
  const mixture_model *mm = params;
  const double s = sqrt(2.0);
  for (size_t i = 0; i < mm->mix.dim * n; i++) out[i] = s;
  return 0;
}

fpk_model *fpk_model_mixture_langevin_alloc(const fpk_mixture *mix, fpk_error *err) {
  if (!mix) {
    fpk_error_set(err, FPK_EINVAL, "model mixture-langevin: mixture is NULL");
    return NULL;
  }
  const size_t d = mix->dim, K = mix->K;
  if (d < 1 || d > D) {
    fpk_error_set(err, FPK_EINVAL, "model mixture-langevin: dimension %zu, must be 1, 2 or 3", d);
    return NULL;
  }
  if (K < 1 || K > KMAX) {
    fpk_error_set(err, FPK_EINVAL, "model mixture-langevin: %zu components, must be 1 to %d", K,
                  KMAX);
    return NULL;
  }
  mixture_model *mm = calloc(1, sizeof *mm);
  if (!mm) {
    fpk_error_set(err, FPK_ENOMEM, "model mixture-langevin: out of memory");
    return NULL;
  }
  double wsum = 0.0;
  for (size_t k = 0; k < K; k++) {
    const double w = mix->weight[k], *S = mix->cov[k];
    int bad = !(w > 0.0) || !isfinite(w);
    if (bad)
      fpk_error_set(err, FPK_EINVAL,
                    "model mixture-langevin: weight[%zu] = %g, must be positive and finite", k, w);
    double smax = 0.0;
    for (size_t a = 0; a < d && !bad; a++) {
      if (!isfinite(mix->mean[k][a]))
        bad = 1, fpk_error_set(err, FPK_EINVAL,
                               "model mixture-langevin: mean[%zu][%zu] = %g is not finite", k, a,
                               mix->mean[k][a]);
      for (size_t b = 0; b < d; b++) smax = fmax(smax, fabs(S[a * d + b]));
    }
    for (size_t a = 0; a < d && !bad; a++)
      for (size_t b = a + 1; b < d && !bad; b++)
        if (!(fabs(S[a * d + b] - S[b * d + a]) <= 1e-12 * smax))
          bad = 1, fpk_error_set(err, FPK_EINVAL,
                                 "model mixture-langevin: covariance %zu is not symmetric "
                                 "(cov[%zu][%zu] = %g, cov[%zu][%zu] = %g)",
                                 k, a, b, S[a * d + b], b, a, S[b * d + a]);
    if (!bad && fpk_cholesky_pd(d, S, mm->L[k]) >= 0)
      bad = 1, fpk_error_set(err, FPK_EINVAL,
                             "model mixture-langevin: covariance %zu is not positive definite", k);
    if (bad) {
      free(mm);
      return NULL;
    }
    wsum += w;
  }
  mm->mix.dim = d;
  mm->mix.K = K;
  for (size_t k = 0; k < K; k++) {
    mm->mix.weight[k] = mix->weight[k] / wsum;
    for (size_t a = 0; a < d; a++) mm->mix.mean[k][a] = mix->mean[k][a];
    /* the symmetric part, so that fpk_model_mixture() describes exactly the law simulated */
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++)
        mm->mix.cov[k][a * d + b] = 0.5 * (mix->cov[k][a * d + b] + mix->cov[k][b * d + a]);
    fpk_cholesky_pd(d, mm->mix.cov[k], mm->L[k]);
    double logdet = 0.0;
    for (size_t a = 0; a < d; a++) logdet += 2.0 * log(mm->L[k][a * d + a]);
    mm->logc[k] = log(mm->mix.weight[k]) - 0.5 * ((double)d * log(2.0 * M_PI) + logdet);
  }
  mm->model = (fpk_model){.name = "mixture-langevin",
                          .dim = d,
                          .drift = mixture_drift,
                          .noise = mixture_noise,
                          .params = mm,
                          .flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS,
                          .linear = NULL};
  return &mm->model;
}

const fpk_mixture *fpk_model_mixture(const fpk_model *m) {
  if (!m || m->drift != mixture_drift) return NULL;
  return &((const mixture_model *)m)->mix;
}

int fpk_mixture_cell_probs(const fpk_mixture *mix, const fpk_grid *g, double *q, fpk_error *err) {
  if (!mix || !g || !q)
    return fpk_error_set(err, FPK_EINVAL, "mixture cells: %s is NULL",
                         !mix ? "mixture" : !g ? "grid" : "output");
  if (mix->dim != g->dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "mixture cells: mixture of dimension %zu on a grid of dimension %zu",
                         mix->dim, g->dim);
  if (mix->K < 1 || mix->K > KMAX)
    return fpk_error_set(err, FPK_EINVAL, "mixture cells: %zu components, must be 1 to %d",
                         mix->K, KMAX);
  double wsum = 0.0;
  for (size_t k = 0; k < mix->K; k++) {
    if (!(mix->weight[k] > 0.0) || !isfinite(mix->weight[k]))
      return fpk_error_set(err, FPK_EINVAL,
                           "mixture cells: weight[%zu] = %g, must be positive and finite", k,
                           mix->weight[k]);
    wsum += mix->weight[k];
  }
  double *pk = malloc(g->size * sizeof *pk);
  if (!pk) return fpk_error_set(err, FPK_ENOMEM, "mixture cells: out of memory");
  for (size_t c = 0; c < g->size; c++) q[c] = 0.0;
  int rc = FPK_SUCCESS;
  for (size_t k = 0; k < mix->K && !rc; k++) {
    fpk_gaussian gk = {.dim = mix->dim};
    memcpy(gk.mean, mix->mean[k], sizeof gk.mean);
    memcpy(gk.cov, mix->cov[k], sizeof gk.cov);
    rc = fpk_gaussian_cell_probs(&gk, g, pk, err);
    if (rc) {
      fpk_error_prefix(err, "mixture cells, component %zu: ", k);
      break;
    }
    const double w = mix->weight[k] / wsum;
    for (size_t c = 0; c < g->size; c++) q[c] += w * pk[c];
  }
  free(pk);
  return rc;
}
