/* Denoising score matching with a linear-in-parameters model (fpkit/diffusion.h, docs/diffusion.md
 * "Score matching"). Per noise level: samples x0 from the mixture (fpk_gmm_sample), noise z from
 * the same Philox streams, x_t = a x0 + b z; the design X (n × P, P = 1 + d + M features of the
 * standardised x̃), the target y = −z/b (the DSM regression target: E[−z/b | x_t] = ∇log p_t,
 * Vincent 2011), and θ from the ridge normal equations (XᵀX + nλI)θ = Xᵀy, one right-hand side per
 * output component, by GSL's Cholesky (gsl_linalg_cholesky_decomp1/solve). The random Fourier
 * features (Rahimi & Recht, NIPS 2007) approximate a Gaussian kernel of width ℓ in x̃; the
 * constant and linear features make the Gaussian part of the score exact. Held-out samples
 * measure the fit's loss beside the exact score's (the same samples), and the explicit error
 * E|s_θ − ∇log p_t|² with the exact score from fpk_gmm_eval. */
#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/diffusion.h"
#include "fpkit/sde.h"
#include "ot/ot_internal.h" /* ot_blas_gemm: the privately loaded OpenBLAS (src/ot/kernel_blas.c) */

#define DSM_MAX_DIM 3

struct fpk_dsm {
  size_t d, L, M, P;
  double *t;              /* [L] */
  double *scale;          /* [L]: √(a² v0 + b²) */
  double *omega, *phase;  /* [M × d], [M] (shared by all levels) */
  double *theta;          /* [L][d][P] */
  fpk_dsm_level *levels;  /* [L] */
};

void fpk_dsm_params_init(fpk_dsm_params *p) {
  memset(p, 0, sizeof *p);
  p->nfeatures = 200;
  p->lengthscale = 0.25;
  p->ridge = 1e-6;
  p->nsamples = 50000;
  p->nvalid = 20000;
  p->seed = 1;
}

void fpk_dsm_free(fpk_dsm *m) {
  if (!m) return;
  free(m->t), free(m->scale), free(m->omega), free(m->phase), free(m->theta), free(m->levels);
  free(m);
}

const fpk_dsm_level *fpk_dsm_levels(const fpk_dsm *m, size_t *nlevels) {
  *nlevels = m->L;
  return m->levels;
}

/* Features of n points (component-major x, dim × n) at level l into F (n × P, row-major). */
static void features(const fpk_dsm *m, size_t l, size_t n, const double *x, double *F) {
  const size_t d = m->d, M = m->M, P = m->P;
  const double inv = 1 / m->scale[l], amp = sqrt(2.0 / (double)M);
  for (size_t i = 0; i < n; i++) {
    double xt[DSM_MAX_DIM];
    for (size_t a = 0; a < d; a++) xt[a] = x[a * n + i] * inv;
    double *row = F + i * P;
    row[0] = 1;
    for (size_t a = 0; a < d; a++) row[1 + a] = xt[a];
    for (size_t j = 0; j < M; j++) {
      double arg = m->phase[j];
      for (size_t a = 0; a < d; a++) arg += m->omega[j * d + a] * xt[a];
      row[1 + d + j] = amp * cos(arg);
    }
  }
}

/* score (dim × n) of level l's fit. */
static void level_score(const fpk_dsm *m, size_t l, size_t n, const double *x, double *F,
                        double *score) {
  const size_t d = m->d, P = m->P;
  features(m, l, n, x, F);
  for (size_t a = 0; a < d; a++) {
    const double *th = m->theta + (l * d + a) * P;
    for (size_t i = 0; i < n; i++) {
      double v = 0;
      for (size_t j = 0; j < P; j++) v += F[i * P + j] * th[j];
      score[a * n + i] = v;
    }
  }
}

/* x0 ~ data from paths [path0, path0 + n), noise z from positions 1 + d .. 2d of the same paths,
 * x_t = a x0 + b z; y = −z/b. */
static void draw(const fpk_gmm *data, uint64_t seed, uint64_t path0, size_t n, double a, double b,
                 double *xt, double *y) {
  const size_t d = fpk_gmm_dim(data);
  fpk_gmm_sample(data, seed, path0, n, xt);
  for (size_t i = 0; i < n; i++) {
    double z[DSM_MAX_DIM];
    fpk_rng_normals(seed, path0 + i, 1 + d, d, z);
    for (size_t c = 0; c < d; c++) {
      xt[c * n + i] = a * xt[c * n + i] + b * z[c];
      y[c * n + i] = -z[c] / b;
    }
  }
}

fpk_dsm *fpk_dsm_fit(const fpk_gmm *data, const fpk_schedule *s, const fpk_dsm_params *p,
                     fpk_error *err) {
  const size_t d = fpk_gmm_dim(data), L = p->nlevels, M = p->nfeatures, P = 1 + d + M;
  const double T = fpk_schedule_T(s);
  if (L == 0 || !p->t)
    return fpk_error_set(err, FPK_EINVAL, "fpk_dsm_fit: no noise levels"), NULL;
  for (size_t l = 0; l < L; l++)
    if (!(p->t[l] > 0 && p->t[l] <= T) || (l && !(p->t[l] > p->t[l - 1])))
      return fpk_error_set(err, FPK_EINVAL, "fpk_dsm_fit: level %zu at t = %g: levels must increase in "
                           "(0, T] = (0, %g]", l + 1, p->t[l], T), NULL;
  if (M == 0 || !(p->lengthscale > 0) || !(p->ridge >= 0) || !isfinite(p->ridge) ||
      p->nsamples < P || p->nvalid < 2)
    return fpk_error_set(err, FPK_EINVAL, "fpk_dsm_fit: nfeatures = %zu, lengthscale = %g, ridge = %g, "
                         "nsamples = %zu, nvalid = %zu: need features >= 1, lengthscale > 0, "
                         "ridge >= 0, nsamples >= %zu (1 + dim + nfeatures), nvalid >= 2", M,
                         p->lengthscale, p->ridge, p->nsamples, p->nvalid, P), NULL;
  fpk_dsm *m = calloc(1, sizeof *m);
  const size_t n = p->nsamples, nv = p->nvalid, nmax = n > nv ? n : nv;
  double *F = NULL, *x = NULL, *y = NULL, *sc = NULL, *ex = NULL, *Xt = NULL;
  if (!m || !(m->t = malloc(L * sizeof(double))) || !(m->scale = malloc(L * sizeof(double))) ||
      !(m->omega = malloc(M * d * sizeof(double))) || !(m->phase = malloc(M * sizeof(double))) ||
      !(m->theta = malloc(L * d * P * sizeof(double))) ||
      !(m->levels = calloc(L, sizeof(fpk_dsm_level))) || !(F = malloc(nmax * P * sizeof(double))) ||
      !(x = malloc(d * nmax * sizeof(double))) || !(y = malloc(d * nmax * sizeof(double))) ||
      !(sc = malloc(d * nmax * sizeof(double))) || !(ex = malloc(d * nmax * sizeof(double)))) {
    fpk_error_set(err, FPK_ENOMEM, "fpk_dsm_fit: out of memory (%zu samples × %zu features)", nmax, P);
    goto fail;
  }
  m->d = d, m->L = L, m->M = M, m->P = P;
  Xt = malloc(n * P * sizeof(double)); /* Xᵀ for dgemm; NULL: the GSL path */
  memcpy(m->t, p->t, L * sizeof(double));
  /* the features' frequencies and phases: Philox path 0 of seed + 1, positions 0 .. M(d + 1) */
  for (size_t j = 0; j < M; j++) {
    double z[DSM_MAX_DIM + 1];
    fpk_rng_normals(p->seed + 1, j, 0, d + 1, z);
    for (size_t a = 0; a < d; a++) m->omega[j * d + a] = z[a] / p->lengthscale;
    m->phase[j] = 2 * M_PI * 0.5 * erfc(-z[d] / sqrt(2.0)); /* U(0, 2π) by Φ */
  }
  double mean[DSM_MAX_DIM], cov[DSM_MAX_DIM * DSM_MAX_DIM], v0 = 0;
  fpk_gmm_moments(data, mean, cov);
  for (size_t a = 0; a < d; a++) v0 += cov[a * d + a] / (double)d;
  gsl_matrix *A = gsl_matrix_alloc(P, P);
  gsl_vector *rhs = gsl_vector_alloc(P), *sol = gsl_vector_alloc(P);
  if (!A || !rhs || !sol) {
    gsl_matrix_free(A), gsl_vector_free(rhs), gsl_vector_free(sol);
    fpk_error_set(err, FPK_ENOMEM, "fpk_dsm_fit: out of memory");
    goto fail;
  }
  for (size_t l = 0; l < L; l++) {
    const double t = p->t[l], a = fpk_schedule_mean_coef(s, t), b = sqrt(fpk_schedule_var(s, t));
    m->scale[l] = sqrt(a * a * v0 + b * b);
    /* training samples: paths l·(n + nv) + [0, n) */
    const uint64_t base = (uint64_t)l * (n + nv);
    draw(data, p->seed, base, n, a, b, x, y);
    features(m, l, n, x, F);
    gsl_matrix_view Xv = gsl_matrix_view_array(F, n, P);
    gsl_matrix_set_zero(A);
    /* XᵀX (and Xᵀy below): by OpenBLAS's dgemm when it loads (0.02 s at n = 2·10⁴, P = 202),
     * else GSL's reference CBLAS (about 3 s) */
    const int fast = ot_blas_available() && Xt;
    if (fast) {
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < P; j++) Xt[j * n + i] = F[i * P + j];
      ot_blas_gemm(P, P, n, Xt, F, A->data);
    } else {
      gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, &Xv.matrix, 0.0, A);
    }
    for (size_t j = 0; j < P; j++) *gsl_matrix_ptr(A, j, j) += (double)n * p->ridge;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    const int bad = gsl_linalg_cholesky_decomp1(A);
    gsl_set_error_handler(old);
    if (bad) {
      gsl_matrix_free(A), gsl_vector_free(rhs), gsl_vector_free(sol);
      fpk_error_set(err, FPK_ENUMERIC, "fpk_dsm_fit: level %zu (t = %g): the normal equations are not "
                    "positive definite (%zu features, ridge %g): raise ridge", l + 1, t, P,
                    p->ridge);
      goto fail;
    }
    double loss = 0;
    for (size_t c = 0; c < d; c++) {
      gsl_vector_view yc = gsl_vector_view_array(y + c * n, n);
      if (fast)
        ot_blas_gemm(P, 1, n, Xt, y + c * n, rhs->data);
      else
        gsl_blas_dgemv(CblasTrans, 1.0, &Xv.matrix, &yc.vector, 0.0, rhs); /* Xᵀy */
      gsl_linalg_cholesky_solve(A, rhs, sol);
      memcpy(m->theta + (l * d + c) * P, sol->data, P * sizeof(double));
    }
    level_score(m, l, n, x, F, sc);
    for (size_t k = 0; k < d * n; k++) loss += (sc[k] - y[k]) * (sc[k] - y[k]);
    fpk_dsm_level *lv = m->levels + l;
    lv->t = t;
    lv->train_loss = loss / (double)n;
    /* held-out: paths base + n + [0, nv) */
    draw(data, p->seed, base + n, nv, a, b, x, y);
    level_score(m, l, nv, x, F, sc);
    if (fpk_gmm_eval(data, s, t, nv, x, NULL, ex, NULL, NULL, err)) {
      gsl_matrix_free(A), gsl_vector_free(rhs), gsl_vector_free(sol);
      goto fail;
    }
    double lv_fit = 0, lv_ex = 0, esm = 0;
    for (size_t k = 0; k < d * nv; k++) {
      lv_fit += (sc[k] - y[k]) * (sc[k] - y[k]);
      lv_ex += (ex[k] - y[k]) * (ex[k] - y[k]);
      esm += (sc[k] - ex[k]) * (sc[k] - ex[k]);
    }
    lv->valid_loss = lv_fit / (double)nv;
    lv->exact_loss = lv_ex / (double)nv;
    lv->esm_error = esm / (double)nv;
  }
  gsl_matrix_free(A), gsl_vector_free(rhs), gsl_vector_free(sol);
  free(F), free(x), free(y), free(sc), free(ex), free(Xt);
  return m;
fail:
  free(F), free(x), free(y), free(sc), free(ex), free(Xt);
  fpk_dsm_free(m);
  return NULL;
}

int fpk_dsm_score(const fpk_dsm *m, double t, size_t n, const double *x, double *score,
                  fpk_error *err) {
  const size_t d = m->d;
  size_t hi = 0;
  while (hi < m->L && m->t[hi] < t) hi++;
  double *F = malloc(n * m->P * sizeof(double)), *tmp = malloc(d * n * sizeof(double));
  if (!F || !tmp) {
    free(F), free(tmp);
    return fpk_error_set(err, FPK_ENOMEM, "fpk_dsm_score: out of memory for %zu points", n);
  }
  if (hi == 0 || hi == m->L) { /* outside [t_1, t_L]: the end level's fit */
    level_score(m, hi == 0 ? 0 : m->L - 1, n, x, F, score);
  } else {
    const double w = (t - m->t[hi - 1]) / (m->t[hi] - m->t[hi - 1]);
    level_score(m, hi - 1, n, x, F, score);
    level_score(m, hi, n, x, F, tmp);
    for (size_t k = 0; k < d * n; k++) score[k] = (1 - w) * score[k] + w * tmp[k];
  }
  free(F), free(tmp);
  return FPK_SUCCESS;
}

int fpk_dsm_score_fn(double t, size_t n, const double *x, double *out, void *user) {
  return fpk_dsm_score((const fpk_dsm *)user, t, n, x, out, NULL) ? -1 : 0;
}
