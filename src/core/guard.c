/* Output guards (fpkit/guard.h): one set of checks and one message format for every solver. */
#include "fpkit/guard.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fpk_density_guard_init(fpk_density_guard *spec) {
  spec->mass = 1.0;
  spec->mass_max = 1.0;
  spec->mass_tol = FPK_GUARD_MASS_TOL;
  spec->negative_tol = FPK_GUARD_NEGATIVE_TOL;
}

int fpk_guard_fail(fpk_error *err, const char *method, double t, const char *fmt, ...) {
  char what[FPK_ERRMSG_MAX / 2], when[64] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (!isnan(t)) snprintf(when, sizeof when, " at t = %g", t);
  return fpk_error_set(err, FPK_ENUMERIC, "%s%s: %s", method ? method : "solver", when, what);
}

int fpk_guard_cause(fpk_error *err, const char *fmt, ...) {
  if (!err) return FPK_ENUMERIC;
  size_t k = strlen(err->msg);
  if (k + 1 < sizeof err->msg) {
    int m = snprintf(err->msg + k, sizeof err->msg - k, "; likely cause: ");
    if (m > 0 && k + (size_t)m + 1 < sizeof err->msg) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err->msg + k + (size_t)m, sizeof err->msg - k - (size_t)m, fmt, ap);
      va_end(ap);
    }
  }
  return err->status;
}

/* "cell 17 (x = 0.35)" or "cell (3, 17) (x = 0.35, y = -1.2)": where a bad value sits. */
static void where(const fpk_grid *g, size_t flat, char *buf, size_t len) {
  double x[FPK_MAX_DIM];
  fpk_grid_point(g, flat, x);
  static const char *const axis[] = {"x", "y", "z"};
  int k = snprintf(buf, len, "cell %zu (", flat);
  for (size_t a = 0; a < g->dim && k > 0 && (size_t)k < len; a++)
    k += snprintf(buf + k, len - (size_t)k, "%s%s = %.6g", a ? ", " : "", axis[a], x[a]);
  if (k > 0 && (size_t)k < len) snprintf(buf + k, len - (size_t)k, ")");
}

int fpk_guard_density(const fpk_grid *g, const double *p, const fpk_density_guard *spec,
                      const char *method, double t, fpk_error *err) {
  fpk_density_guard def;
  if (!spec) {
    fpk_density_guard_init(&def);
    spec = &def;
  }
  char at[160];
  double pmax = -INFINITY, pmin = INFINITY, sum = 0.0;
  size_t imin = 0;
  for (size_t i = 0; i < g->size; i++) {
    const double v = p[i];
    if (!isfinite(v)) {
      where(g, i, at, sizeof at);
      return fpk_guard_fail(err, method, t, "density = %g at %s: not finite", v, at);
    }
    if (v > pmax) pmax = v;
    if (v < pmin) pmin = v, imin = i;
    sum += v;
  }
  const double mass = sum * g->cell_volume;
  if (pmin < 0.0 && pmin < -spec->negative_tol * fmax(pmax, 0.0)) {
    where(g, imin, at, sizeof at);
    return fpk_guard_fail(err, method, t,
                          "density = %.6g at %s, below -%g x max density (%.6g): negative beyond "
                          "rounding",
                          pmin, at, spec->negative_tol, pmax);
  }
  if (!isfinite(mass))
    return fpk_guard_fail(err, method, t, "mass = %g: not finite", mass);
  if (!isnan(spec->mass)) {
    if (!(fabs(mass - spec->mass) <= spec->mass_tol * fabs(spec->mass)))
      return fpk_guard_fail(err, method, t,
                            "mass = %.10g, expected %.10g within %g relative (error %.3g)", mass,
                            spec->mass, spec->mass_tol, fabs(mass - spec->mass));
  } else {
    const double slack = spec->mass_tol * fmax(spec->mass_max, 1.0);
    if (!(mass >= -slack && mass <= spec->mass_max + slack))
      return fpk_guard_fail(err, method, t,
                            "mass = %.10g outside [0, %.10g] (survival cannot grow or go "
                            "negative; tolerance %g)",
                            mass, spec->mass_max, slack);
  }
  return FPK_SUCCESS;
}

int fpk_guard_finite(const double *v, size_t n, const char *method, const char *quantity,
                     double t, fpk_error *err) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) {
      char index[32] = "";
      if (n > 1) snprintf(index, sizeof index, "[%zu]", i);
      return fpk_guard_fail(err, method, t, "%s%s = %g: not finite", quantity, index,
                            v[i]);
    }
  return FPK_SUCCESS;
}
