/* The exact transition of linear models, dX = (−A X + c) dt + σ dW with σ = diag(σ) or a d × m
 * noise matrix B (OU, Brownian motion with drift, OU with a full or degenerate B, the harmonic
 * Kramers model; fpkit/sde.h):
 *
 *   X_{k+1} = e^{−Ah} X_k + ∫_0^h e^{−As} c ds + L ξ,   L Lᵀ = Σ_h = ∫_0^h e^{−As} σσᵀ e^{−Aᵀs} ds,
 *
 * (closed-forms.md, "Ornstein–Uhlenbeck"; Gillespie, Phys. Rev. E 54, 1996, for the scalar case).
 * Exact in law for any h: no time-step error, so a single step reaches any horizon. It is not a
 * pathwise scheme driven by ΔW (its noise is ∫ e^{−A(h−s)} dW, not ΔW), so strong errors against
 * other schemes on a shared Brownian path are not defined for it.
 * The coefficients come from fpk_exact_linear_law (Van Loan's block exponential) and are cached
 * in the workspace, keyed by h: one evaluation per distinct step size and thread. */
#include <math.h>
#include <string.h>

#include <gsl/gsl_eigen.h>

#include "fpkit/exact.h"
#include "sde/sde_internal.h"

enum { D2 = FPK_MAX_DIM * FPK_MAX_DIM };
/* Cache layout in work[0 .. CACHE): h (0 = empty), e^{−Ah}, offset, Cholesky factor. */
enum { C_H = 0, C_M = 1, C_OFF = C_M + D2, C_L = C_OFF + FPK_MAX_DIM, CACHE = C_L + D2 };

static int exact_ou_check(const fpk_model *m, fpk_error *err) {
  if (!m->linear)
    return fpk_error_set(err, FPK_EINVAL,
                         "the exact transition needs a linear model with additive noise (ou, bm, "
                         "ou with a noise matrix, kramers with the harmonic potential); use "
                         "euler-maruyama, sra1 (additive noise) or, for a Kramers model, baoab");
  return FPK_SUCCESS;
}

/* The factor is d × d whatever the noise, so a step takes dim normals (ξ of L ξ, not Brownian
 * increments): for a diagonal model that is the layout of every stepper with one normal per
 * component, so its bits are unchanged. */
static size_t exact_ou_normals(const fpk_model *m) { return m->dim; }

/* A factor L with L Lᵀ = Σ_h for a model with a noise matrix. Σ_h may be singular (B with fewer
 * columns than d whose range no drift mixes out of: a direction with no noise at all) or nearly
 * so (degenerate but hypoelliptic noise, e.g. the Kramers model: for small h Σ_h's eigenvalues are
 * O(h) and O(h³), and round-off can make the smaller one slightly negative), where a plain Cholesky
 * fails or amplifies round-off. The symmetric eigendecomposition Σ_h = V Λ Vᵀ is backward stable
 * for any such Σ_h: L = V diag(√λ₊), eigenvalues below 1e-14 of the largest (round-off) set to 0;
 * a clearly negative one (a defect upstream) is an error. */
static int factor_eigen(const double *S, size_t d, double *L, fpk_error *err) {
  double a[FPK_MAX_DIM * FPK_MAX_DIM], lam[FPK_MAX_DIM], V[FPK_MAX_DIM * FPK_MAX_DIM];
  memcpy(a, S, d * d * sizeof(double));
  gsl_matrix_view A = gsl_matrix_view_array(a, d, d), Vv = gsl_matrix_view_array(V, d, d);
  gsl_vector_view lv = gsl_vector_view_array(lam, d);
  gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(d);
  if (!w) return fpk_error_set(err, FPK_ENOMEM, "exact-ou: out of memory (eigensolver)");
  const int grc = gsl_eigen_symmv(&A.matrix, &lv.vector, &Vv.matrix, w);
  gsl_eigen_symmv_free(w);
  if (grc) return fpk_error_set(err, FPK_ENUMERIC, "exact-ou: eigensolver failed on Σ_h");
  double big = 0.0;
  for (size_t k = 0; k < d; k++) big = fmax(big, fabs(lam[k]));
  if (!(big > 0.0) || !isfinite(big))
    return fpk_error_set(err, FPK_ENUMERIC,
                         "exact-ou: the one-step covariance Σ_h is zero or not finite");
  memset(L, 0, sizeof(double) * D2);
  for (size_t k = 0; k < d; k++) {
    if (lam[k] < -1e-10 * big)
      return fpk_error_set(err, FPK_ENUMERIC,
                           "exact-ou: the one-step covariance Σ_h has the negative eigenvalue %g "
                           "(largest %g): not a covariance",
                           lam[k], big);
    const double r = lam[k] > 1e-14 * big ? sqrt(lam[k]) : 0.0;
    for (size_t i = 0; i < d; i++) L[i * d + k] = V[i * d + k] * r;
  }
  return FPK_SUCCESS;
}

static int coefficients(const fpk_model *m, double h, double *cache, fpk_error *err) {
  const fpk_linear_sde *s = m->linear;
  const size_t d = s->dim;
  fpk_gaussian start = {.dim = d}, law;
  int rc = fpk_exact_linear_law(s, &start, h, &law, err); /* from x = 0: offset and Σ_h */
  if (rc) return rc;
  memcpy(cache + C_OFF, law.mean, d * sizeof(double));
  /* diagonal σ > 0: Σ_h is positive definite and its Cholesky factor is what this stepper always
   * used (same bits); a noise matrix: the eigen factor (factor_eigen) */
  rc = s->noise_dim ? factor_eigen(law.cov, d, cache + C_L, err)
                    : fpk_cholesky_psd(law.cov, d, cache + C_L, err);
  if (rc) return rc;
  for (size_t j = 0; j < d; j++) { /* column j of e^{−Ah}: the mean from x = e_j, less the offset */
    memset(&start, 0, sizeof start);
    start.dim = d;
    start.mean[j] = 1.0;
    if ((rc = fpk_exact_linear_law(s, &start, h, &law, err))) return rc;
    for (size_t i = 0; i < d; i++) cache[C_M + i * d + j] = law.mean[i] - cache[C_OFF + i];
  }
  cache[C_H] = h;
  return FPK_SUCCESS;
}

static int exact_ou_step(const fpk_model *m, double t, double h, size_t n, double *x,
                         const double *z, double *work, fpk_error *err) {
  (void)t; /* linear models are autonomous */
  const size_t d = m->dim;
  double *cache = work;
  if (cache[C_H] != h) {
    int rc = coefficients(m, h, cache, err);
    if (rc) {
      cache[C_H] = 0.0;
      return rc;
    }
  }
  const double *M = cache + C_M, *off = cache + C_OFF, *L = cache + C_L;
  double *restrict y = work + CACHE; /* the new state, d*n */
  for (size_t r = 0; r < d; r++) {
    double *restrict yr = y + r * n;
    for (size_t i = 0; i < n; i++) yr[i] = off[r];
    for (size_t k = 0; k < d; k++) {
      const double a = M[r * d + k], l = L[r * d + k];
      const double *restrict xk = x + k * n, *restrict zk = z + k * n;
      if (a != 0.0)
        for (size_t i = 0; i < n; i++) yr[i] += a * xk[i];
      if (l != 0.0)
        for (size_t i = 0; i < n; i++) yr[i] += l * zk[i];
    }
  }
  memcpy(x, y, d * n * sizeof(double));
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_exact_ou_type = {
    .name = "exact-ou",
    .strong_order = 0.0,
    .weak_order = 0.0,
    .normals_per_dim = 1,
    .step = exact_ou_step,
    .work_per_point = 1,
    .work_fixed = CACHE,
    .check = exact_ou_check,
    .normals_per_step = exact_ou_normals,
};
