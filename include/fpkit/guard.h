/* fpkit/guard.h — output guards: the checks every solver runs on what it is about to report.
 *
 * fpkit's numbers are meant to be ground truth, so a solver must never hand back a density that
 * is not finite, has lost or gained mass, or has gone negative beyond its scheme's rounding, as if
 * it were an answer. Every solver (finite volumes, spectral, Monte Carlo, OT, and those to come)
 * checks its output at every output time with these functions; a failed check is an error
 * (FPK_ENUMERIC) whose message names the method, the time, the quantity, its value, the bound it
 * broke and the likely cause, e.g.
 *
 *   fv crank-nicolson at t = 0.25: mass = -2.46, expected 1 within 1e-06 relative; likely cause:
 *   crank-nicolson keeps densities non-negative only for dt <= 2/max|L_ii| = 1.2e-20 (dt = 0.01)
 *
 * The command-line program turns such an error into exit status 3 and writes no file (docs/
 * testing.md lists every guard).
 */
#ifndef FPKIT_GUARD_H
#define FPKIT_GUARD_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a density on a grid must satisfy. */
typedef struct fpk_density_guard {
  /* Expected mass ∫p (1 for a probability density). NAN when it is not known in advance (an
   * absorbing wall removes mass): the mass must then lie in [0, mass_max], both within the
   * tolerance. */
  double mass;
  double mass_max;
  double mass_tol;     /* relative tolerance on the mass */
  /* Negative values are allowed down to -negative_tol · max p: rounding in a positive scheme,
   * or the small oscillations of a spectral one. */
  double negative_tol;
} fpk_density_guard;

/* Defaults: mass 1 within 1e-6 relative, negative values down to -1e-6 · max p. */
#define FPK_GUARD_MASS_TOL 1e-6
#define FPK_GUARD_NEGATIVE_TOL 1e-6
void fpk_density_guard_init(fpk_density_guard *spec);

/* Checks the density p on g at time t: every value finite, min p >= -negative_tol · max p, and
 * the mass. On failure returns FPK_ENUMERIC with err set to "<method> at t = <t>: <what>". */
int fpk_guard_density(const fpk_grid *g, const double *p, const fpk_density_guard *spec,
                      const char *method, double t, fpk_error *err);

/* Checks that n values (a quantity derived from the output: moments, a value, a bound) are
 * finite; same failure, naming `quantity` and the first bad index. */
int fpk_guard_finite(const double *v, size_t n, const char *method, const char *quantity,
                     double t, fpk_error *err);

/* The failure itself, for a check made elsewhere (an OT bound, a survival that grew):
 * "<method> at t = <t>: <printf message>". t may be NAN (no time). Returns FPK_ENUMERIC. */
int fpk_guard_fail(fpk_error *err, const char *method, double t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends "; likely cause: <printf message>" to a failed guard's message (the solver knows its
 * stable step or the scheme to suggest). Returns err->status. */
int fpk_guard_cause(fpk_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
