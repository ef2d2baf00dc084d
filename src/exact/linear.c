/* Exact laws of linear SDEs dX = (-A X + c) dt + diag(σ) dW and of their Euler–Maruyama chains
 * (fpkit/exact.h).
 *
 * Mean and covariance come from Van Loan's block-matrix exponentials (C. Van Loan, "Computing
 * integrals involving the matrix exponential", IEEE Trans. Automat. Control 23(3):395–404, 1978):
 *   exp([[-A, c], [0, 0]] τ)       = [[e^{-Aτ}, g_τ], [0, 1]],        g_τ = ∫_0^τ e^{-As} c ds,
 *   exp([[-A, BBᵀ], [0, Aᵀ]] τ)    = [[e^{-Aτ}, G_τ], [0, e^{Aᵀτ}]],  Q_τ = G_τ e^{-Aᵀτ}
 *                                                                       = ∫_0^τ e^{-As} BBᵀ e^{-Aᵀs} ds,
 * so A may be singular (Brownian motion), non-symmetric or anisotropic. The covariance block holds
 * e^{Aᵀτ}, which grows (and overflows for large ‖A‖t), so the exponentials are taken over
 * τ = t / 2^k with ‖A‖τ <= 1 and then doubled k times with the semigroup identities
 *   Φ_{2τ} = Φ_τ², g_{2τ} = Φ_τ g_τ + g_τ, Q_{2τ} = Φ_τ Q_τ Φ_τᵀ + Q_τ,
 * (k = 0, i.e. the plain Van Loan formula, whenever ‖A‖t <= 1). Then
 *   m_t = Φ_t m_0 + g_t,  Σ_t = Φ_t Σ_0 Φ_tᵀ + Q_t   (closed-forms.md, "Ornstein–Uhlenbeck").
 * The stationary covariance solves the Lyapunov equation AΣ + ΣAᵀ = BBᵀ, here as a d²×d²
 * Kronecker system. The Euler–Maruyama chain is linear-Gaussian, so its law follows an exact
 * moment recursion (closed-forms.md: "Euler–Maruyama on 1D OU is exactly solvable").
 */
#include "fpkit/exact.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_mode.h>
#include <gsl/gsl_permutation.h>

#define D FPK_MAX_DIM
/* Largest ‖A‖₁ τ for which a block exponential is taken directly. */
#define VANLOAN_MAX_NORM 1.0
/* Largest number of doublings (2^k substeps): enough to bring any finite ‖A‖₁ t (at most
 * DBL_MAX < 2^1024) down to 1, so a huge t (1e300) gives the law at that time — the stationary law
 * for a stable A, an overflow error for an unstable one — rather than a failed exponential. */
#define VANLOAN_MAX_DOUBLINGS 1100

/* ---- small dense helpers (row-major d×d, d <= 3) -------------------------------------------- */

static void mat_mul(size_t d, const double *X, const double *Y, double *out) {
  double r[D * D];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += X[i * d + k] * Y[k * d + j];
      r[i * d + j] = s;
    }
  memcpy(out, r, d * d * sizeof *r);
}

/* out = X S Xᵀ + Q (out may alias S or Q). */
static void congruence_add(size_t d, const double *X, const double *S, const double *Q,
                           double *out) {
  double XS[D * D], r[D * D];
  mat_mul(d, X, S, XS);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += XS[i * d + k] * X[j * d + k];
      r[i * d + j] = s + Q[i * d + j];
    }
  memcpy(out, r, d * d * sizeof *r);
}

/* out = X v + w (out may alias v or w). */
static void mat_vec_add(size_t d, const double *X, const double *v, const double *w, double *out) {
  double r[D];
  for (size_t i = 0; i < d; i++) {
    double s = w[i];
    for (size_t k = 0; k < d; k++) s += X[i * d + k] * v[k];
    r[i] = s;
  }
  memcpy(out, r, d * sizeof *r);
}

static void symmetrise(size_t d, double *S) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = i + 1; j < d; j++) {
      double s = 0.5 * (S[i * d + j] + S[j * d + i]);
      S[i * d + j] = S[j * d + i] = s;
    }
}

static double norm1(size_t d, const double *A) {
  double best = 0.0;
  for (size_t j = 0; j < d; j++) {
    double s = 0.0;
    for (size_t i = 0; i < d; i++) s += fabs(A[i * d + j]);
    if (s > best) best = s;
  }
  return best;
}

static int all_finite(size_t n, const double *x) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* ---- validation --------------------------------------------------------------------------- */

static int check_sde(const fpk_linear_sde *sde, fpk_error *err) {
  if (!sde) return fpk_error_set(err, FPK_EINVAL, "linear SDE: NULL model");
  size_t d = sde->dim;
  if (d < 1 || d > D)
    return fpk_error_set(err, FPK_EINVAL, "linear SDE: dimension %zu, must be 1..%d", d, D);
  if (sde->noise_dim > FPK_MAX_NOISE)
    return fpk_error_set(err, FPK_EINVAL, "linear SDE: noise matrix with %zu columns, must be "
                         "0 (diagonal) .. %d", sde->noise_dim, FPK_MAX_NOISE);
  if (!all_finite(d * d, sde->A) || !all_finite(d, sde->c) || !all_finite(d, sde->sigma) ||
      !all_finite(d * sde->noise_dim, sde->B))
    return fpk_error_set(err, FPK_EINVAL, "linear SDE: A, c, sigma or B has a non-finite entry");
  return FPK_SUCCESS;
}

static int check_init(const fpk_linear_sde *sde, const fpk_gaussian *init, const void *out,
                      fpk_error *err) {
  int s = check_sde(sde, err);
  if (s) return s;
  if (!init || !out) return fpk_error_set(err, FPK_EINVAL, "linear SDE law: NULL init or out");
  size_t d = sde->dim;
  if (init->dim != d)
    return fpk_error_set(err, FPK_EINVAL,
                         "linear SDE law: initial Gaussian has dimension %zu, model has %zu",
                         init->dim, d);
  if (!all_finite(d, init->mean) || !all_finite(d * d, init->cov))
    return fpk_error_set(err, FPK_EINVAL, "linear SDE law: initial mean or covariance not finite");
  return FPK_SUCCESS;
}

/* ---- Van Loan block exponentials ------------------------------------------------------------ */

static double max_abs(size_t n, const double *v) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

/* exp(M) for an n×n row-major M (n <= 2D), via GSL's scaling and squaring. */
static int expm(size_t n, const double *M, double *E, fpk_error *err) {
  gsl_matrix_const_view Mv = gsl_matrix_const_view_array(M, n, n);
  gsl_matrix_view Ev = gsl_matrix_view_array(E, n, n);
  int s = gsl_linalg_exponential_ss(&Mv.matrix, &Ev.matrix, GSL_PREC_DOUBLE);
  if (s || !all_finite(n * n, E))
    return fpk_error_set(err, FPK_ENUMERIC,
                         "the %zux%zu Van Loan matrix exponential failed (GSL status %d, %s; "
                         "largest entry %g)",
                         n, n, s, s ? gsl_strerror(s) : "non-finite result", max_abs(n * n, M));
  return FPK_SUCCESS;
}

/* Φ_τ = e^{-Aτ} and g_τ = ∫_0^τ e^{-As} c ds from exp([[-A, c], [0, 0]] τ). */
static int vanloan_mean(const fpk_linear_sde *sde, double tau, double *Phi, double *g,
                        fpk_error *err) {
  size_t d = sde->dim, n = d + 1;
  double M[(D + 1) * (D + 1)] = {0}, E[(D + 1) * (D + 1)];
  for (size_t i = 0; i < d; i++) {
    for (size_t j = 0; j < d; j++) M[i * n + j] = -sde->A[i * d + j] * tau;
    M[i * n + d] = sde->c[i] * tau;
  }
  int s = expm(n, M, E, err);
  if (s) return s;
  for (size_t i = 0; i < d; i++) {
    for (size_t j = 0; j < d; j++) Phi[i * d + j] = E[i * n + j];
    g[i] = E[i * n + d];
  }
  return FPK_SUCCESS;
}

/* Q_τ = G_τ e^{-Aᵀτ} from exp([[-A, BBᵀ], [0, Aᵀ]] τ) = [[e^{-Aτ}, G_τ], [0, e^{Aᵀτ}]]. */
static int vanloan_cov(const fpk_linear_sde *sde, double tau, const double *Phi, double *Q,
                       fpk_error *err) {
  size_t d = sde->dim, n = 2 * d;
  double M[4 * D * D] = {0}, E[4 * D * D], G[D * D], PhiT[D * D], BBt[D * D];
  fpk_linear_sde_bbt(sde, BBt);
  for (size_t i = 0; i < d; i++) {
    for (size_t j = 0; j < d; j++) {
      M[i * n + j] = -sde->A[i * d + j] * tau;
      M[(d + i) * n + d + j] = sde->A[j * d + i] * tau;
    }
    for (size_t j = 0; j < d; j++) M[i * n + d + j] = BBt[i * d + j] * tau;
  }
  int s = expm(n, M, E, err);
  if (s) return s;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      G[i * d + j] = E[i * n + d + j];
      PhiT[i * d + j] = Phi[j * d + i]; /* e^{-Aᵀτ} = (e^{-Aτ})ᵀ */
    }
  mat_mul(d, G, PhiT, Q);
  symmetrise(d, Q);
  return FPK_SUCCESS;
}

/* Φ_t, g_t and Q_t over [0, t]: Van Loan on t / 2^k, then k doublings. */
static int propagators(const fpk_linear_sde *sde, double t, double *Phi, double *g, double *Q,
                       fpk_error *err) {
  size_t d = sde->dim;
  double a = norm1(d, sde->A) * t;
  int k = 0;
  while (a > VANLOAN_MAX_NORM && k < VANLOAN_MAX_DOUBLINGS) {
    a *= 0.5;
    k++;
  }
  double tau = ldexp(t, -k);
  int s = vanloan_mean(sde, tau, Phi, g, err);
  if (!s) s = vanloan_cov(sde, tau, Phi, Q, err);
  if (s) return s;
  for (int j = 0; j < k; j++) {
    mat_vec_add(d, Phi, g, g, g);
    congruence_add(d, Phi, Q, Q, Q);
    mat_mul(d, Phi, Phi, Phi);
  }
  symmetrise(d, Q);
  if (!all_finite(d * d, Phi) || !all_finite(d, g) || !all_finite(d * d, Q))
    return fpk_error_set(err, FPK_ENUMERIC,
                         "linear SDE law at t = %g: moments overflow (A has eigenvalues with "
                         "large negative real part?)", t);
  return FPK_SUCCESS;
}

int fpk_exact_linear_law(const fpk_linear_sde *sde, const fpk_gaussian *init, double t,
                         fpk_gaussian *out, fpk_error *err) {
  int s = check_init(sde, init, out, err);
  if (s) return s;
  if (!isfinite(t) || t < 0.0)
    return fpk_error_set(err, FPK_EINVAL, "linear SDE law: time t = %g, need finite t >= 0", t);
  size_t d = sde->dim;
  fpk_gaussian r = *init;
  if (t > 0.0) {
    double Phi[D * D], g[D], Q[D * D];
    s = propagators(sde, t, Phi, g, Q, err);
    if (s) return s;
    mat_vec_add(d, Phi, init->mean, g, r.mean);
    congruence_add(d, Phi, init->cov, Q, r.cov);
    symmetrise(d, r.cov);
  }
  *out = r;
  return FPK_SUCCESS;
}

/* ---- Lyapunov equation ------------------------------------------------------------------- */

/* FPK_EINVAL unless every eigenvalue of A has a positive real part. */
static int check_stable(const fpk_linear_sde *sde, fpk_error *err) {
  size_t d = sde->dim;
  double Acopy[D * D], ev[2 * D];
  memcpy(Acopy, sde->A, d * d * sizeof *Acopy);
  gsl_matrix_view Av = gsl_matrix_view_array(Acopy, d, d);
  gsl_vector_complex_view evv = gsl_vector_complex_view_array(ev, d);
  gsl_eigen_nonsymm_workspace *w = gsl_eigen_nonsymm_alloc(d);
  if (!w) return fpk_error_set(err, FPK_ENOMEM, "Lyapunov: eigenvalue workspace");
  int s = gsl_eigen_nonsymm(&Av.matrix, &evv.vector, w);
  gsl_eigen_nonsymm_free(w);
  if (s) return fpk_error_set(err, FPK_ENUMERIC, "Lyapunov: eigenvalues of A did not converge");
  /* Round-off in the eigenvalues of A is about eps ‖A‖; a real part within that of 0 is 0. */
  double tol = 64.0 * DBL_EPSILON * norm1(d, sde->A);
  for (size_t i = 0; i < d; i++)
    if (!(ev[2 * i] > tol))
      return fpk_error_set(err, FPK_EINVAL,
                           "Lyapunov: A has eigenvalue %g%+gi with non-positive real part; "
                           "no stationary covariance",
                           ev[2 * i], ev[2 * i + 1]);
  return FPK_SUCCESS;
}

int fpk_exact_lyapunov(const fpk_linear_sde *sde, double *cov, fpk_error *err) {
  int s = check_sde(sde, err);
  if (s) return s;
  if (!cov) return fpk_error_set(err, FPK_EINVAL, "Lyapunov: NULL output");
  s = check_stable(sde, err);
  if (s) return s;
  /* Row-major vec: (AΣ + ΣAᵀ)_{ij} = Σ_{kl} (A_ik δ_jl + δ_ik A_jl) Σ_kl. */
  size_t d = sde->dim, n = d * d;
  double K[D * D * D * D] = {0}, rhs[D * D] = {0}, x[D * D];
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      for (size_t k = 0; k < d; k++) {
        K[(i * d + j) * n + k * d + j] += sde->A[i * d + k];
        K[(i * d + j) * n + i * d + k] += sde->A[j * d + k];
      }
  fpk_linear_sde_bbt(sde, rhs);
  gsl_matrix_view Kv = gsl_matrix_view_array(K, n, n);
  gsl_vector_view bv = gsl_vector_view_array(rhs, n), xv = gsl_vector_view_array(x, n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  if (!perm) return fpk_error_set(err, FPK_ENOMEM, "Lyapunov: permutation");
  int sign;
  gsl_linalg_LU_decomp(&Kv.matrix, perm, &sign);
  /* Stable A makes I⊗A + A⊗I non-singular (its eigenvalues are λ_i + λ_j); check anyway, since
   * gsl_linalg_LU_solve would call the GSL error handler on a zero pivot. */
  int singular = 0;
  for (size_t i = 0; i < n; i++)
    if (gsl_matrix_get(&Kv.matrix, i, i) == 0.0) singular = 1;
  if (!singular) gsl_linalg_LU_solve(&Kv.matrix, perm, &bv.vector, &xv.vector);
  gsl_permutation_free(perm);
  if (singular || !all_finite(n, x))
    return fpk_error_set(err, FPK_ENUMERIC, "Lyapunov: Kronecker system is singular");
  symmetrise(d, x);
  memcpy(cov, x, n * sizeof *x);
  return FPK_SUCCESS;
}

/* ---- Euler–Maruyama chain --------------------------------------------------------------- */

/* nsteps steps of m <- (I - hA) m + h c, S <- (I - hA) S (I - hA)ᵀ + h BBᵀ. */
static void em_interval(const fpk_linear_sde *sde, size_t nsteps, double h, double *m, double *S) {
  size_t d = sde->dim;
  double M[D * D], hc[D], hBB[D * D];
  fpk_linear_sde_bbt(sde, hBB);
  for (size_t i = 0; i < d * d; i++) hBB[i] *= h;
  if (sde->noise_dim == 0) /* h σ² in the order used before noise matrices: same bits */
    for (size_t i = 0; i < d; i++) hBB[i * d + i] = h * sde->sigma[i] * sde->sigma[i];
  for (size_t i = 0; i < d; i++) {
    for (size_t j = 0; j < d; j++) M[i * d + j] = (i == j) - h * sde->A[i * d + j];
    hc[i] = h * sde->c[i];
  }
  for (size_t k = 0; k < nsteps; k++) {
    mat_vec_add(d, M, m, hc, m);
    congruence_add(d, M, S, hBB, S);
  }
}

int fpk_exact_em_law(const fpk_linear_sde *sde, const fpk_gaussian *init, size_t nint,
                     const size_t *nsteps, const double *h, fpk_gaussian *out, fpk_error *err) {
  int s = check_init(sde, init, out, err);
  if (s) return s;
  if (nint > 0 && (!nsteps || !h))
    return fpk_error_set(err, FPK_EINVAL, "Euler-Maruyama law: NULL nsteps or h");
  for (size_t j = 0; j < nint; j++)
    if (!isfinite(h[j]) || h[j] < 0.0 || (nsteps[j] > 0 && h[j] == 0.0))
      return fpk_error_set(err, FPK_EINVAL,
                           "Euler-Maruyama law: interval %zu has step h = %g, need finite h > 0",
                           j, h[j]);
  fpk_gaussian r = *init;
  for (size_t j = 0; j < nint; j++) em_interval(sde, nsteps[j], h[j], r.mean, r.cov);
  symmetrise(sde->dim, r.cov);
  if (!all_finite(sde->dim, r.mean) || !all_finite(sde->dim * sde->dim, r.cov))
    return fpk_error_set(err, FPK_ENUMERIC,
                         "Euler-Maruyama law: moments overflow (unstable step size?)");
  *out = r;
  return FPK_SUCCESS;
}
