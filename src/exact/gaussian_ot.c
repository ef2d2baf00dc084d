/* Closed forms of optimal transport between Gaussian laws (fpkit/ot.h): entropic OT, the
 * Bures–Wasserstein distance W2² and the Sinkhorn divergence.
 *
 * Convention (closed-forms.md, "Entropic optimal transport"): cost |x − y|²,
 * OT_ε = min ⟨π, C⟩ + ε KL(π ‖ μ⊗ν), σ² = ε/2. Between N(m0, A) and N(m1, B) the optimal plan is
 * Gaussian (Janati, Muzellec, Peyré & Cuturi, "Entropic optimal transport between unbalanced
 * Gaussian measures has a closed form", NeurIPS 2020, Theorem 1 with balanced masses; Mallasto,
 * Gerolin & Minh, "Entropy-regularized 2-Wasserstein distance between Gaussian measures", Inf.
 * Geom. 2021):
 *   D = (4 A^{1/2} B A^{1/2} + σ⁴ I)^{1/2},  C = ½ A^{1/2} D A^{−1/2} − ½σ² I,
 *   OT_ε = |m0 − m1|² + Tr A + Tr B − Tr D + dσ²(1 − ln 2σ²) + σ² ln det(D + σ² I).
 *
 * How it is evaluated. Let λ_i be the eigenvalues of M = 4 A^{1/2} B A^{1/2} (eigenvectors V),
 * s = σ², r_i = √(λ_i + s²) (the eigenvalues of D) and e_i = r_i − s = λ_i / (r_i + s) (the
 * eigenvalues of D − σ²I, written without the cancellation of r_i − s at large ε). Then
 *   C = ½ A^{1/2} (D − σ² I) A^{−1/2} = ½ A^{1/2} V diag(e) Vᵀ A^{−1/2},
 * and, per eigenvalue, −r_i + s(1 − ln 2s) + s ln(r_i + s) = −e_i + s ln((e_i + 2s)/(2s)), so
 *   OT_ε = |m0 − m1|² + Tr A + Tr B + Σ_i φ_i,   φ_i = s·log1p(e_i / (2s)) − e_i.
 * The large terms dσ²(1 − ln 2σ²) and Tr D (both ~ dε/2) cancel analytically instead of in
 * floating point: σ² never multiplies a logarithm of order 1. In the brief's terms, with
 * ρ_i = e_i/s = x/(√(1 + x) + 1), x = λ_i/s², φ_i = s (log1p(ρ_i/2) − ρ_i): at large ε,
 * φ_i = −λ_i/(4s) + λ_i²/(32 s³) + …, every digit kept. Two details make this hold for every
 * representable ε: r_i = hypot(√λ_i, s) (s² overflows beyond ε ~ 1e154, and underflows below
 * 1e-154), and s·log1p(y) is written (e_i/2)·(log1p(y)/y), y = e_i/(2s), so that y underflowing
 * at huge ε still gives φ_i = −e_i/2 (not −e_i). At s = 0, φ_i = −√λ_i and the same sum is W2²
 * (Bures): Σ √λ_i = 2 Tr (A^{1/2} B A^{1/2})^{1/2}. Checked against a long-double series at
 * ε up to 1e300 (tests/test_ot_exact.c, test_large_eps_closed_form).
 * The Sinkhorn divergence S_ε = OT_ε(μ, ν) − ½OT_ε(μ, μ) − ½OT_ε(ν, ν) (Genevay, Peyré & Cuturi
 * 2018; Feydy et al. 2019) then reduces to |m0 − m1|² + Φ(A, B) − ½Φ(A, A) − ½Φ(B, B) with
 * Φ = Σ φ_i: the traces cancel exactly, and S_ε(μ, μ) is exactly 0.
 *
 * Matrix square roots of the symmetric positive definite d × d matrices (d <= 3) come from the
 * eigen-decomposition by GSL's gsl_eigen_symmv (Householder tridiagonalisation and implicit QR:
 * eigenvalues to rounding of the largest one).
 */
#include "fpkit/ot.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>

#include "core/linalg.h"

#define D FPK_MAX_DIM

/* Checks one Gaussian: finite mean, finite symmetric positive definite covariance (the
 * symmetry tolerance is that of the Gaussian cell probabilities in src/exact/gaussian.c). */
static int check_gaussian(const char *fn, const char *name, const fpk_gaussian *g,
                          fpk_error *err) {
  const size_t d = g->dim;
  for (size_t i = 0; i < d; i++) {
    if (!isfinite(g->mean[i]))
      return fpk_error_set(err, FPK_EINVAL, "%s: %s.mean[%zu] = %g is not finite", fn, name, i,
                           g->mean[i]);
    for (size_t j = 0; j < d; j++) {
      const double a = g->cov[i * d + j], b = g->cov[j * d + i];
      if (!isfinite(a))
        return fpk_error_set(err, FPK_EINVAL, "%s: %s.cov[%zu][%zu] = %g is not finite", fn,
                             name, i, j, a);
      if (fabs(a - b) > 1e-12 * (fabs(a) + fabs(b)) + DBL_MIN)
        return fpk_error_set(err, FPK_EINVAL,
                             "%s: %s covariance is not symmetric (cov[%zu][%zu] = %g, "
                             "cov[%zu][%zu] = %g)", fn, name, i, j, a, j, i, b);
    }
  }
  double L[D * D];
  const int bad = fpk_cholesky_pd(d, g->cov, L);
  if (bad >= 0)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: %s covariance is not positive definite (Cholesky pivot %d not "
                         "positive)", fn, name, bad);
  return FPK_SUCCESS;
}

static int check_pair(const char *fn, const fpk_gaussian *g0, const fpk_gaussian *g1,
                      const void *out, fpk_error *err) {
  if (!g0 || !g1 || !out) return fpk_error_set(err, FPK_EINVAL, "%s: NULL argument", fn);
  if (g0->dim < 1 || g0->dim > D || g1->dim != g0->dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: dimensions %zu and %zu: need equal dimensions in 1..%d", fn,
                         g0->dim, g1->dim, D);
  int rc = check_gaussian(fn, "g0", g0, err);
  if (rc) return rc;
  return check_gaussian(fn, "g1", g1, err);
}

/* Eigen-decomposition S = V diag(lambda) Vᵀ of a symmetric d × d matrix (the symmetric part of S
 * is used, so products such as A^{1/2} B A^{1/2} that are symmetric only up to rounding are
 * accepted). V is row-major with the eigenvectors in its columns. */
static int sym_eigen(const char *fn, size_t d, const double *S, double *lambda, double *V,
                     fpk_error *err) {
  double Ssym[D * D];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) Ssym[i * d + j] = 0.5 * (S[i * d + j] + S[j * d + i]);
  gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(d);
  if (!w) return fpk_error_set(err, FPK_ENOMEM, "%s: out of memory", fn);
  gsl_matrix_view Sv = gsl_matrix_view_array(Ssym, d, d); /* overwritten by symmv */
  gsl_vector_view ev = gsl_vector_view_array(lambda, d);
  gsl_matrix_view Vv = gsl_matrix_view_array(V, d, d);
  const int bad = gsl_eigen_symmv(&Sv.matrix, &ev.vector, &Vv.matrix, w);
  gsl_eigen_symmv_free(w);
  if (bad) return fpk_error_set(err, FPK_ENUMERIC, "%s: symmetric eigensolver failed", fn);
  for (size_t i = 0; i < d; i++)
    if (!isfinite(lambda[i]))
      return fpk_error_set(err, FPK_ENUMERIC, "%s: non-finite eigenvalue %g", fn, lambda[i]);
  return FPK_SUCCESS;
}

/* out = V diag(f) Vᵀ. */
static void spectral_matrix(size_t d, const double *V, const double *f, double *out) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += V[i * d + k] * f[k] * V[j * d + k];
      out[i * d + j] = s;
    }
}

/* out = X Y (d × d). */
static void matmul(size_t d, const double *X, const double *Y, double *out) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += X[i * d + k] * Y[k * d + j];
      out[i * d + j] = s;
    }
}

/* The ε-dependent part of OT_ε between the covariances A and B of validated Gaussians:
 * *phi = Σ_i φ_i with s = σ² = ε/2 >= 0 (s = 0: W2², φ_i = −√λ_i; see the file comment), and
 * cross (may be NULL) = C. */
static int covariance_term(const char *fn, size_t d, const double *A, const double *B,
                           double s, double *phi, double *cross, fpk_error *err) {
  double alpha[D], U[D * D];
  int rc = sym_eigen(fn, d, A, alpha, U, err);
  if (rc) return rc;
  double sqrt_alpha[D], inv_sqrt_alpha[D];
  for (size_t i = 0; i < d; i++) {
    /* Cholesky accepted A; an eigenvalue <= 0 here means A is positive definite only within
     * rounding, and A^{−1/2} would not exist. */
    if (!(alpha[i] > 0.0))
      return fpk_error_set(err, FPK_EINVAL,
                           "%s: g0 covariance is not numerically positive definite "
                           "(eigenvalue %g)", fn, alpha[i]);
    sqrt_alpha[i] = sqrt(alpha[i]);
    inv_sqrt_alpha[i] = 1.0 / sqrt_alpha[i];
  }
  double Ah[D * D] = {0}, T[D * D] = {0}, M[D * D] = {0}; /* zeroed: GCC cannot see d <= D */
  spectral_matrix(d, U, sqrt_alpha, Ah);
  matmul(d, Ah, B, T);
  matmul(d, T, Ah, M);
  for (size_t i = 0; i < d * d; i++) M[i] *= 4.0;

  double lambda[D], V[D * D], e[D];
  rc = sym_eigen(fn, d, M, lambda, V, err);
  if (rc) return rc;
  double sum = 0.0;
  for (size_t i = 0; i < d; i++) {
    /* M is positive definite; a negative eigenvalue is rounding of a tiny one. */
    const double l = fmax(lambda[i], 0.0);
    const double r = hypot(sqrt(l), s);
    e[i] = l > 0.0 ? l / (r + s) : 0.0;
    if (s > 0.0) {
      const double y = e[i] / (2.0 * s); /* log1p(y)/y: 1 − y/2 + y²/3 below 1e-5 */
      const double ly = y < 1e-5 ? 1.0 - y * (0.5 - y / 3.0) : log1p(y) / y;
      sum += 0.5 * e[i] * ly - e[i];
    } else {
      sum += -e[i];
    }
  }
  *phi = sum;

  if (cross) {
    double Aih[D * D], E[D * D];
    spectral_matrix(d, U, inv_sqrt_alpha, Aih);
    spectral_matrix(d, V, e, E);
    matmul(d, Ah, E, T);
    matmul(d, T, Aih, cross);
    for (size_t i = 0; i < d * d; i++) cross[i] *= 0.5;
  }
  return FPK_SUCCESS;
}

static double mean_term(const fpk_gaussian *g0, const fpk_gaussian *g1) {
  double s = 0.0;
  for (size_t i = 0; i < g0->dim; i++) {
    const double dm = g0->mean[i] - g1->mean[i];
    s += dm * dm;
  }
  return s;
}

static double trace(size_t d, const double *S) {
  double t = 0.0;
  for (size_t i = 0; i < d; i++) t += S[i * d + i];
  return t;
}

static int check_eps(const char *fn, double eps, fpk_error *err) {
  if (!(eps > 0.0) || !isfinite(eps))
    return fpk_error_set(err, FPK_EINVAL, "%s: eps = %g: need a positive finite ε", fn, eps);
  return FPK_SUCCESS;
}

int fpk_gaussian_entropic_ot(const fpk_gaussian *g0, const fpk_gaussian *g1, double eps,
                             double *value, double *cross, fpk_error *err) {
  static const char fn[] = "fpk_gaussian_entropic_ot";
  int rc = check_pair(fn, g0, g1, value, err);
  if (!rc) rc = check_eps(fn, eps, err);
  if (rc) return rc;
  const size_t d = g0->dim;
  double phi;
  rc = covariance_term(fn, d, g0->cov, g1->cov, 0.5 * eps, &phi, cross, err);
  if (rc) return rc;
  *value = mean_term(g0, g1) + trace(d, g0->cov) + trace(d, g1->cov) + phi;
  return FPK_SUCCESS;
}

int fpk_gaussian_w2sq(const fpk_gaussian *g0, const fpk_gaussian *g1, double *w2sq,
                      fpk_error *err) {
  static const char fn[] = "fpk_gaussian_w2sq";
  int rc = check_pair(fn, g0, g1, w2sq, err);
  if (rc) return rc;
  const size_t d = g0->dim;
  double phi;
  rc = covariance_term(fn, d, g0->cov, g1->cov, 0.0, &phi, NULL, err);
  if (rc) return rc;
  /* W2² >= 0; with A = B the traces cancel to rounding, which may leave −1e-16. */
  *w2sq = fmax(0.0, mean_term(g0, g1) + trace(d, g0->cov) + trace(d, g1->cov) + phi);
  return FPK_SUCCESS;
}

int fpk_gaussian_sinkhorn_divergence(const fpk_gaussian *g0, const fpk_gaussian *g1, double eps,
                                     double *s, fpk_error *err) {
  static const char fn[] = "fpk_gaussian_sinkhorn_divergence";
  int rc = check_pair(fn, g0, g1, s, err);
  if (!rc) rc = check_eps(fn, eps, err);
  if (rc) return rc;
  const size_t d = g0->dim;
  const double sig2 = 0.5 * eps;
  double phi_ab, phi_aa, phi_bb;
  rc = covariance_term(fn, d, g0->cov, g1->cov, sig2, &phi_ab, NULL, err);
  if (!rc) rc = covariance_term(fn, d, g0->cov, g0->cov, sig2, &phi_aa, NULL, err);
  if (!rc) rc = covariance_term(fn, d, g1->cov, g1->cov, sig2, &phi_bb, NULL, err);
  if (rc) return rc;
  /* Tr A + Tr B − ½·2Tr A − ½·2Tr B = 0 and the OT(μ, μ) mean term is 0 (file comment). */
  *s = mean_term(g0, g1) + phi_ab - 0.5 * phi_aa - 0.5 * phi_bb;
  return FPK_SUCCESS;
}
