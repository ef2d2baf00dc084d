/* Noise of any model, diagonal or a matrix (fpkit/model.h, issue 16): the number of Brownian
 * components, σ as a d × m matrix, the diffusion matrix D = ½ σσᵀ, the rows of σ that vanish
 * identically (degenerate noise), and a noise matrix for a user-given D. Consumers read noise
 * through these, so a diagonal model and a matrix model with the same σσᵀ give the same
 * Fokker–Planck operator. */
#include "fpkit/model.h"
#include "models/model_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_eigen.h>

size_t fpk_model_noise_dim(const fpk_model *m) {
  if (!m) return 0;
  return m->noise_matrix ? m->noise_dim : m->dim;
}

int fpk_model_noise_is_diagonal(const fpk_model *m) { return m && !m->noise_matrix; }

static int call_matrix(const fpk_model *m, double t, size_t n, const double *x, double *out,
                       fpk_error *err) {
  const int rc = m->noise_matrix(t, n, x, out, m->params);
  if (rc == 0) return FPK_SUCCESS;
  return fpk_error_set(err, rc < 0 ? FPK_ECALLBACK : FPK_ENUMERIC,
                       "model %s: noise matrix callback returned %d at t = %g (%s)",
                       m->name ? m->name : "?", rc, t, rc < 0 ? "fatal" : "recoverable");
}

int fpk_model_noise_matrix(const fpk_model *m, double t, size_t n, const double *x, double *out,
                           fpk_error *err) {
  if (!m || !out) return fpk_error_set(err, FPK_EINVAL, "noise matrix: NULL argument");
  if (m->noise_matrix) {
    if (m->noise_dim < 1 || m->noise_dim > FPK_MAX_NOISE)
      return fpk_error_set(err, FPK_EINVAL, "model %s: noise matrix with %zu columns, must be 1..%d",
                           m->name ? m->name : "?", m->noise_dim, FPK_MAX_NOISE);
    return call_matrix(m, t, n, x, out, err);
  }
  const size_t d = m->dim;
  /* The diagonal goes to rows r*d + r; the diagonal callback writes d rows of n, so let it fill
   * the first d rows and spread them from the last one down (row r*(d+1) >= r: no overwrite). */
  int rc = fpk_model_noise(m, t, n, x, out, err);
  if (rc) return rc;
  for (size_t r = d; r-- > 0;) {
    double *dst = out + (r * d + r) * n;
    if (r) memmove(dst, out + r * n, n * sizeof *dst);
    for (size_t k = 0; k < d; k++)
      if (k != r) memset(out + (r * d + k) * n, 0, n * sizeof *out);
  }
  return FPK_SUCCESS;
}

int fpk_model_diffusion(const fpk_model *m, double t, size_t n, const double *x, double *out,
                        double *work, fpk_error *err) {
  if (!m || !out) return fpk_error_set(err, FPK_EINVAL, "diffusion: NULL argument");
  const size_t d = m->dim;
  if (!m->noise_matrix) {
    /* Diagonal: D_aa = σ_a²/2 (the same expression as the solvers used before issue 16). */
    int rc = fpk_model_noise(m, t, n, x, out, err);
    if (rc) return rc;
    for (size_t a = d; a-- > 0;) {
      double *dst = out + (a * d + a) * n;
      const double *src = out + a * n;
      for (size_t i = n; i-- > 0;) dst[i] = 0.5 * src[i] * src[i];
      for (size_t b = 0; b < d; b++)
        if (b != a) memset(out + (a * d + b) * n, 0, n * sizeof *out);
    }
    return FPK_SUCCESS;
  }
  if (!work) return fpk_error_set(err, FPK_EINVAL, "diffusion: NULL work for a noise matrix");
  const size_t q = m->noise_dim;
  int rc = fpk_model_noise_matrix(m, t, n, x, work, err);
  if (rc) return rc;
  for (size_t a = 0; a < d; a++)
    for (size_t b = a; b < d; b++) {
      double *o = out + (a * d + b) * n;
      for (size_t i = 0; i < n; i++) o[i] = 0.0;
      for (size_t k = 0; k < q; k++) {
        const double *sa = work + (a * q + k) * n, *sb = work + (b * q + k) * n;
        for (size_t i = 0; i < n; i++) o[i] += sa[i] * sb[i];
      }
      for (size_t i = 0; i < n; i++) o[i] *= 0.5;
      if (b != a) memcpy(out + (b * d + a) * n, o, n * sizeof *o);
    }
  return FPK_SUCCESS;
}

unsigned fpk_model_zero_noise_rows(const fpk_model *m, size_t n, const double *x, fpk_error *err) {
  if (!m || !m->noise_matrix) return 0u;
  const size_t d = m->dim, q = m->noise_dim;
  unsigned mask = 0u;
  if (m->linear && m->linear->noise_dim == q) {
    for (size_t r = 0; r < d; r++) {
      int zero = 1;
      for (size_t k = 0; k < q; k++) zero &= m->linear->B[r * q + k] == 0.0;
      if (zero) mask |= 1u << r;
    }
    return mask;
  }
  if (model_expr_zero_noise_rows(m, &mask)) return mask;
  /* Sample σ at the given points (and t = 0): a row zero at every one is taken as zero. */
  if (!x || n == 0) return 0u;
  enum { CHUNK = 64 };
  double S[FPK_MAX_DIM * FPK_MAX_NOISE * CHUNK], X[FPK_MAX_DIM * CHUNK];
  mask = (1u << d) - 1u;
  for (size_t i0 = 0; i0 < n && mask; i0 += CHUNK) {
    const size_t nb = n - i0 < CHUNK ? n - i0 : CHUNK;
    for (size_t c = 0; c < d; c++) memcpy(X + c * nb, x + c * n + i0, nb * sizeof *X);
    if (fpk_model_noise_matrix(m, 0.0, nb, X, S, err)) return 0u;
    for (size_t r = 0; r < d; r++)
      for (size_t k = 0; k < q; k++)
        for (size_t i = 0; i < nb; i++)
          if (S[(r * q + k) * nb + i] != 0.0) mask &= ~(1u << r);
  }
  return mask;
}

/* The fewest significant digits (6 to 17) that print a and b differently: an asymmetry of
 * 1e-7 must not read "D[0][1] = 0.16 but D[1][0] = 0.16". */
static int distinct_digits(double a, double b) {
  char x[40], y[40];
  for (int p = 6; p < 17; p++) {
    snprintf(x, sizeof x, "%.*g", p, a);
    snprintf(y, sizeof y, "%.*g", p, b);
    if (strcmp(x, y)) return p;
  }
  return 17;
}

int fpk_diffusion_factor(size_t d, const double *D, double *B, fpk_error *err) {
  if (!D || !B) return fpk_error_set(err, FPK_EINVAL, "diffusion matrix: NULL argument");
  if (d < 1 || d > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "diffusion matrix: dimension %zu, must be 1..%d", d,
                         FPK_MAX_DIM);
  double big = 0.0;
  for (size_t i = 0; i < d * d; i++) {
    if (!isfinite(D[i]))
      return fpk_error_set(err, FPK_EINVAL, "diffusion matrix: D[%zu][%zu] = %g is not finite",
                           i / d, i % d, D[i]);
    big = fmax(big, fabs(D[i]));
  }
  if (big == 0.0) return fpk_error_set(err, FPK_EINVAL, "diffusion matrix: D = 0 (no noise)");
  for (size_t i = 0; i < d; i++)
    for (size_t j = i + 1; j < d; j++)
      if (fabs(D[i * d + j] - D[j * d + i]) > 1e-12 * big)
        return fpk_error_set(err, FPK_EINVAL,
                             "diffusion matrix: not symmetric, D[%zu][%zu] = %.*g but "
                             "D[%zu][%zu] = %.*g",
                             i, j, distinct_digits(D[i * d + j], D[j * d + i]), D[i * d + j],
                             j, i, distinct_digits(D[i * d + j], D[j * d + i]), D[j * d + i]);
  double a[FPK_MAX_DIM * FPK_MAX_DIM], lam[FPK_MAX_DIM], V[FPK_MAX_DIM * FPK_MAX_DIM];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) a[i * d + j] = 0.5 * (D[i * d + j] + D[j * d + i]);
  gsl_matrix_view av = gsl_matrix_view_array(a, d, d), vv = gsl_matrix_view_array(V, d, d);
  gsl_vector_view lv = gsl_vector_view_array(lam, d);
  gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(d);
  if (!w) return fpk_error_set(err, FPK_ENOMEM, "diffusion matrix: out of memory");
  const int s = gsl_eigen_symmv(&av.matrix, &lv.vector, &vv.matrix, w);
  gsl_eigen_symmv_free(w);
  if (s) return fpk_error_set(err, FPK_ENUMERIC, "diffusion matrix: eigenvalues did not converge");
  double lmax = 0.0;
  size_t kmin = 0;
  for (size_t k = 0; k < d; k++) {
    lmax = fmax(lmax, fabs(lam[k]));
    if (lam[k] < lam[kmin]) kmin = k;
  }
  if (lam[kmin] < -1e-12 * lmax) {
    char vec[96] = "";
    size_t len = 0;
    for (size_t i = 0; i < d && len < sizeof vec; i++)
      len += (size_t)snprintf(vec + len, sizeof vec - len, "%s%.4g", i ? ", " : "",
                              V[i * d + kmin]);
    return fpk_error_set(err, FPK_EINVAL,
                         "diffusion matrix is not positive semi-definite: eigenvalue %.6g along "
                         "(%s) (a diffusion matrix D = sigma sigma^T / 2 has none below 0)",
                         lam[kmin], vec);
  }
  for (size_t i = 0; i < d; i++)
    for (size_t k = 0; k < d; k++) {
      const double l = lam[k] > 1e-12 * lmax ? lam[k] : 0.0;
      B[i * d + k] = V[i * d + k] * sqrt(2.0 * l);
    }
  return FPK_SUCCESS;
}
