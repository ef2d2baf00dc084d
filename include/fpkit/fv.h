/* fpkit/fv.h — conservative finite-volume Fokker–Planck solver.
 *
 *   ∂p/∂t = -∇·J,  J_a = b_a p - D_aa ∂_a p,  D = ½ diag(σ²)
 *
 * Face fluxes are Scharfetter–Gummel (exponential fitting, see docs/fv-scheme.md): mass is
 * conserved to round-off, the discrete Gibbs density of a gradient drift is an exact steady state,
 * and the semi-discrete operator L is a Metzler matrix (non-negative off-diagonal), so implicit
 * Euler keeps densities non-negative. Usage follows GSL's alloc → set → evolve → free:
 *
 *   fpk_fv *s = fpk_fv_alloc(grid, model, fpk_fv_tr_bdf2, dt, &err);
 *   fpk_fv_set_density(s, 0.0, p0);
 *   for (k...) { fpk_fv_evolve(s, t_out[k]); use fpk_fv_density(s); }
 *   fpk_fv_free(s);
 *
 * The operator and its factorisation are built once for autonomous models and reused across steps
 * (FFTW's plan-once discipline); non-autonomous models re-assemble L each step and reuse the
 * symbolic factorisation.
 */
#ifndef FPKIT_FV_H
#define FPKIT_FV_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/guard.h"
#include "fpkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_fv fpk_fv;

/* A time-stepping scheme for dp/dt = L p (GSL-style type table). */
typedef struct fpk_fv_stepper_type {
  const char *name;
  int order;    /* classical order in time */
  int implicit; /* 1 if it solves (I - c dt L) x = r */
  /* internals are private to src/fp/ */
} fpk_fv_stepper_type;

extern const fpk_fv_stepper_type *fpk_fv_explicit_euler;
extern const fpk_fv_stepper_type *fpk_fv_implicit_euler;
extern const fpk_fv_stepper_type *fpk_fv_crank_nicolson;
extern const fpk_fv_stepper_type *fpk_fv_tr_bdf2;
/* NULL-terminated registry of every stepper, and lookup by name (NULL if unknown). */
extern const fpk_fv_stepper_type *const fpk_fv_steppers[];
const fpk_fv_stepper_type *fpk_fv_stepper_lookup(const char *name);

/* dt is the largest step; intervals passed to evolve are split into equal steps <= dt
 * (fpk_time_steps). Fails for dt <= 0, a model whose dim differs from the grid's, or (explicit
 * Euler) a dt above the stability/positivity bound, with the largest allowed dt in the message. */
fpk_fv *fpk_fv_alloc(const fpk_grid *grid, const fpk_model *model, const fpk_fv_stepper_type *T,
                     double dt, fpk_error *err);
void fpk_fv_free(fpk_fv *s); /* safe on NULL */

/* Copies p (grid->size values, a density: integral 1 for a probability) as the state at time t. */
int fpk_fv_set_density(fpk_fv *s, double t, const double *p);
/* Advances to t_target >= current time, then checks the density (the output guard,
 * fpkit/guard.h): finite, min p >= -negative_tol·max p, and the mass of fpk_fv_set_density kept
 * within mass_tol (relative) — with an absorbing wall, the mass may only decrease. A failed check
 * returns FPK_ENUMERIC with the method, time, quantity and likely cause (the scheme's positivity
 * bound on dt) in fpk_fv_errmsg; the density is left as computed, for inspection. Fails with
 * FPK_EINVAL when the interval needs more than FPK_MAX_STEPS steps. */
int fpk_fv_evolve(fpk_fv *s, double t_target);
/* Tolerances of the output guard (spec->mass_tol, spec->negative_tol; the expected mass comes
 * from the density set). Defaults: FPK_GUARD_MASS_TOL, FPK_GUARD_NEGATIVE_TOL. */
int fpk_fv_set_guard(fpk_fv *s, const fpk_density_guard *spec);

const double *fpk_fv_density(const fpk_fv *s);
double fpk_fv_time(const fpk_fv *s);
double fpk_fv_mass(const fpk_fv *s);       /* integral of p: survival probability when absorbing */
double fpk_fv_min_density(const fpk_fv *s);
size_t fpk_fv_steps_taken(const fpk_fv *s);
/* Largest dt for which explicit Euler is stable and positivity-preserving: 1 / max_i |L_ii| at
 * the current time. */
double fpk_fv_explicit_dt_max(const fpk_fv *s);
const char *fpk_fv_errmsg(const fpk_fv *s);
const fpk_fv_stepper_type *fpk_fv_stepper(const fpk_fv *s);

/* Stationary density of an autonomous model with reflecting/periodic boundaries: the unit-mass
 * null vector of L. Writes grid->size values into p. */
int fpk_fv_stationary(const fpk_grid *grid, const fpk_model *model, double *p, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
