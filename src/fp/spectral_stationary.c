/* Stationary density and spectral gap of the Fourier collocation operator (fpkit/spectral.h).
 *
 * The collocation operator A maps point values at the cell centres to the point values of
 * Σ_a ∂_a²(D_a u) − ∂_a(b_a u), derivatives taken on the trigonometric interpolant (no
 * dealiasing). It is built column by column by applying the pseudo-spectral operator to unit
 * vectors (M applications of O(M log M) each), then:
 *   stationary: 1ᵀA = 0 (the k = 0 mode of a derivative vanishes), so the rows of A are
 *     dependent; replacing one by the mass condition h^d 1ᵀu = 1 gives a non-singular system
 *     whenever the null space of A is one-dimensional (an ergodic model), solved by LU;
 *   gap: the eigenvalues of A (GSL's Francis QR for non-symmetric matrices); the one of
 *     smallest modulus is the zero eigenvalue of the stationary state, and the gap is the
 *     smallest |Re λ| among the others.
 * Dense O(M³) work: limited to FPK_SPECTRAL_DENSE_MAX unknowns. Refused for degenerate noise
 * (an axis without diffusion), whose collocation operator has spurious zero modes (below).
 */
#include "fpkit/spectral.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_complex_math.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "fp/spectral_internal.h"

/* Builds the M×M collocation matrix of an autonomous model into *out (allocated here). */
static int build_matrix(fpk_spectral_op *op, const fpk_grid *grid, const fpk_model *model,
                        const char *what, gsl_matrix **out, fpk_error *err) {
  *out = NULL;
  int rc = fpk_spectral_op_init(op, grid, model, FFTW_ESTIMATE, 1, 0, err);
  if (rc) return rc;
  if (!(model->flags & FPK_MODEL_AUTONOMOUS))
    return fpk_error_set(err, FPK_EINVAL, "spectral %s: model %s depends on time", what,
                         model->name ? model->name : "(unnamed)");
  const size_t M = op->M;
  if (M > FPK_SPECTRAL_DENSE_MAX)
    return fpk_error_set(err, FPK_EUNSUP,
                         "spectral %s: %zu unknowns; the dense solve is limited to %d (use fewer "
                         "points, or fv's sparse stationary solver)",
                         what, M, FPK_SPECTRAL_DENSE_MAX);
  if ((rc = fpk_spectral_op_sample(op, model, 0.0, err))) return rc;
  /* Degenerate noise (an axis without diffusion: the position of the Kramers equation): the
   * collocation operator has a second, spurious null vector (measured for the double-well
   * Kramers model on 16² and 32²: a second eigenvalue of modulus ~1e-14, and the "stationary"
   * solution off the Gibbs density by 0.3–1.2 in L1). Pure transport leaves the modes it
   * cannot resolve undamped (the first derivative's Nyquist mode is 0), and no diffusion damps
   * them; the time steppers drop them (the 2/3 rule's truncation), the dense solve cannot. */
  for (size_t a = 0; a < op->dim; a++)
    if (op->Dbar[a] == 0.0 && !op->vary[a])
      return fpk_error_set(err, FPK_EUNSUP,
                           "spectral %s: model %s has no diffusion along axis %zu (degenerate "
                           "noise): the dense collocation operator then has spurious zero modes; "
                           "evolve with etdrk4 (2/3 rule on) to a long time, or use fv's "
                           "stationary solver",
                           what, model->name ? model->name : "(unnamed)", a);
  /* apply_full adds the D̄ part back: the columns are those of the whole operator. */
  gsl_matrix *A = gsl_matrix_alloc(M, M);
  double *e = fftw_alloc_real(M), *col = fftw_alloc_real(M);
  fftw_complex *eh = fftw_alloc_complex(op->nc), *ah = fftw_alloc_complex(op->nc);
  if (!A || !e || !col || !eh || !ah) {
    gsl_matrix_free(A), fftw_free(e), fftw_free(col), fftw_free(eh), fftw_free(ah);
    return fpk_error_set(err, FPK_ENOMEM, "spectral %s: out of memory", what);
  }
  memset(e, 0, M * sizeof *e);
  for (size_t j = 0; j < M; j++) {
    e[j] = 1.0;
    fpk_spectral_op_r2c(op, e, eh);
    e[j] = 0.0;
    fpk_spectral_op_apply_full(op, eh, ah);
    fpk_spectral_op_to_values(op, ah, col);
    for (size_t i = 0; i < M; i++) gsl_matrix_set(A, i, j, col[i]);
  }
  fftw_free(e), fftw_free(col), fftw_free(eh), fftw_free(ah);
  *out = A;
  return FPK_SUCCESS;
}

int fpk_spectral_stationary(const fpk_grid *grid, const fpk_model *model, double *p,
                            fpk_error *err) {
  fpk_spectral_op op;
  gsl_matrix *A = NULL;
  int rc = build_matrix(&op, grid, model, "stationary", &A, err);
  if (rc) {
    fpk_spectral_op_free(&op);
    return rc;
  }
  const size_t M = op.M;
  /* Any row may give way to the mass condition (the rows sum to zero); row 0 is used. */
  for (size_t j = 0; j < M; j++) gsl_matrix_set(A, 0, j, grid->cell_volume);
  gsl_permutation *perm = gsl_permutation_alloc(M);
  gsl_vector *rhs = gsl_vector_calloc(M), *u = gsl_vector_alloc(M);
  int sign = 0;
  if (!perm || !rhs || !u) {
    rc = fpk_error_set(err, FPK_ENOMEM, "spectral stationary: out of memory");
  } else {
    gsl_vector_set(rhs, 0, 1.0);
    /* GSL's default handler aborts; errors come back as status codes here, and the caller's
     * handler is restored after (no global state left changed). */
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    const int bad = gsl_linalg_LU_decomp(A, perm, &sign) || gsl_linalg_LU_solve(A, perm, rhs, u);
    gsl_set_error_handler(old);
    if (bad)
      rc = fpk_error_set(err, FPK_ENUMERIC,
                         "spectral stationary: the operator of model %s is singular even with "
                         "the mass condition (several stationary states?)",
                         model->name ? model->name : "(unnamed)");
  }
  if (!rc) {
    for (size_t m = 0; m < M; m++)
      if (!isfinite(gsl_vector_get(u, m))) {
        rc = fpk_error_set(err, FPK_ENUMERIC, "spectral stationary: non-finite solution");
        break;
      }
  }
  if (!rc) {
    /* point values → cell averages of the interpolant */
    fftw_complex *uh = fftw_alloc_complex(op.nc);
    if (!uh) {
      rc = fpk_error_set(err, FPK_ENOMEM, "spectral stationary: out of memory");
    } else {
      for (size_t m = 0; m < M; m++) op.r[m] = gsl_vector_get(u, m);
      fftw_execute_dft_r2c(op.r2c, op.r, uh);
      fpk_spectral_op_to_cells(&op, uh, op.r);
      memcpy(p, op.r, M * sizeof *p);
      fftw_free(uh);
    }
  }
  gsl_permutation_free(perm), gsl_vector_free(rhs), gsl_vector_free(u);
  gsl_matrix_free(A);
  fpk_spectral_op_free(&op);
  return rc;
}

int fpk_spectral_gap(const fpk_grid *grid, const fpk_model *model, double *gap, fpk_error *err) {
  fpk_spectral_op op;
  gsl_matrix *A = NULL;
  int rc = build_matrix(&op, grid, model, "gap", &A, err);
  const size_t M = op.M;
  fpk_spectral_op_free(&op);
  if (rc) return rc;
  gsl_vector_complex *ev = gsl_vector_complex_alloc(M);
  gsl_eigen_nonsymm_workspace *w = gsl_eigen_nonsymm_alloc(M);
  if (!ev || !w) {
    rc = fpk_error_set(err, FPK_ENOMEM, "spectral gap: out of memory");
  } else {
    gsl_error_handler_t *old = gsl_set_error_handler_off(); /* as in the stationary solve */
    const int bad = gsl_eigen_nonsymm(A, ev, w);
    gsl_set_error_handler(old);
    if (bad)
      rc = fpk_error_set(err, FPK_ENUMERIC, "spectral gap: the QR iteration did not converge");
  }
  if (!rc) {
    size_t i0 = 0;
    for (size_t i = 1; i < M; i++)
      if (gsl_complex_abs(gsl_vector_complex_get(ev, i)) <
          gsl_complex_abs(gsl_vector_complex_get(ev, i0)))
        i0 = i;
    double g = INFINITY;
    for (size_t i = 0; i < M; i++)
      if (i != i0) g = fmin(g, fabs(GSL_REAL(gsl_vector_complex_get(ev, i))));
    *gap = g;
  }
  gsl_vector_complex_free(ev);
  gsl_eigen_nonsymm_free(w);
  gsl_matrix_free(A);
  return rc;
}
