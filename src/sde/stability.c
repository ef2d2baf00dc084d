/* Linear stability of a step (fpkit/sde.h). The Monte Carlo engine checks that paths stay finite;
 * an unstable step makes them grow geometrically, and while they stay below the overflow the run
 * would end normally with absurd moments (tests/defects/noise/13). For a linear model the step of
 * every stepper, with its normals set to zero, is an affine map x ↦ M x + c (EM: M = I − hA;
 * exact OU: e^{−Ah}; BAOAB, OBABO: products of the splitting's substeps; tamed Euler: linearised
 * at 0), so the amplification of deviations is the spectral radius ρ(M), known before the run.
 * M is read off the stepper's own code — the step applied to 0 and to the unit vectors — so the
 * check needs no per-stepper formula and covers any stepper registered later. A linear SDE whose
 * drift matrix −A is stable (every eigenvalue of A has a positive real part) is stable in law; a
 * step with ρ(M) > 1 then diverges for no reason of the model's, and is refused. */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_eigen.h>

#include "sde/sde_internal.h"

/* Largest modulus (or, with real_min, smallest real part) of the eigenvalues of the d × d
 * row-major matrix a; NaN when the QR iteration fails. */
static double eigen_extreme(size_t d, const double *a, int real_min) {
  double copy[FPK_MAX_DIM * FPK_MAX_DIM], ev[2 * FPK_MAX_DIM];
  for (size_t i = 0; i < d * d; i++) copy[i] = a[i];
  gsl_matrix_view av = gsl_matrix_view_array(copy, d, d);
  gsl_vector_complex_view evv = gsl_vector_complex_view_array(ev, d);
  gsl_eigen_nonsymm_workspace *w = gsl_eigen_nonsymm_alloc(d);
  if (!w) return NAN;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  const int s = gsl_eigen_nonsymm(&av.matrix, &evv.vector, w);
  gsl_set_error_handler(old);
  gsl_eigen_nonsymm_free(w);
  if (s) return NAN;
  double r = real_min ? INFINITY : 0.0;
  for (size_t k = 0; k < d; k++)
    r = real_min ? fmin(r, ev[2 * k]) : fmax(r, hypot(ev[2 * k], ev[2 * k + 1]));
  return r;
}

int fpk_sde_step_radius(const fpk_sde_stepper_type *st, const fpk_model *m, double h,
                        double *rho, fpk_error *err) {
  if (!st || !m || !rho) return fpk_error_set(err, FPK_EINVAL, "step radius: NULL argument");
  *rho = NAN;
  if (!m->linear) return FPK_SUCCESS; /* not affine: unknown */
  const size_t d = m->dim, n = d + 1, q = fpk_sde_normals_per_step(st, m);
  double x[FPK_MAX_DIM * (FPK_MAX_DIM + 1)] = {0};
  /* unit deviations, small enough for tamed Euler's linearisation at 0, exact for the others */
  const double eps = 1e-3;
  for (size_t k = 0; k < d; k++) x[k * n + k + 1] = eps;
  double *z = calloc(q * n, sizeof *z), *work = calloc(fpk_sde_work_size(st, m, n), sizeof *work);
  int rc = !z || !work ? fpk_error_set(err, FPK_ENOMEM, "step radius: out of memory")
                       : st->step(m, 0.0, h, n, x, z, work, err);
  free(z);
  free(work);
  if (rc) return rc;
  double M[FPK_MAX_DIM * FPK_MAX_DIM];
  for (size_t r = 0; r < d; r++)
    for (size_t k = 0; k < d; k++) M[r * d + k] = (x[r * n + k + 1] - x[r * n]) / eps;
  *rho = eigen_extreme(d, M, 0);
  return FPK_SUCCESS;
}

int fpk_sde_step_check(const fpk_sde_stepper_type *st, const fpk_model *m, double h,
                       fpk_error *err) {
  double rho;
  int rc = fpk_sde_step_radius(st, m, h, &rho, err);
  if (rc || !(rho > 1.0 + 1e-9)) return rc; /* stable, or unknown (NaN: a non-linear model) */
  /* only a step that destabilises a stable SDE is an error: Re λ(A) > 0 for every eigenvalue */
  if (!(eigen_extreme(m->dim, m->linear->A, 1) > 0.0)) return FPK_SUCCESS;
  /* the largest stable step below h, by bisection (ρ < 1 for small steps of a consistent
   * scheme); reported to three digits */
  double lo = 0.0, hi = h;
  for (int it = 0; it < 60 && hi - lo > 1e-4 * hi; it++) {
    const double mid = 0.5 * (lo + hi);
    double r = NAN;
    if (fpk_sde_step_radius(st, m, mid, &r, err)) return FPK_ENUMERIC;
    if (r > 1.0 + 1e-9) hi = mid;
    else lo = mid;
  }
  return fpk_error_set(err, FPK_EINVAL,
                       "stepper %s with dt = %g is unstable for the linear model %s: one step "
                       "multiplies deviations by up to %.4g (the spectral radius of its linear "
                       "map), so paths grow like %.4g^(t/dt) while the SDE itself is stable; use "
                       "dt < %.3g",
                       st->name, h, m->name ? m->name : "?", rho, rho, lo);
}
