/* Uniform cell-centred tensor grids (fpkit/grid.h). */
#include "fpkit/grid.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int fpk_grid_init(fpk_grid *g, size_t dim, const size_t *n, const double *lo, const double *hi,
                  const fpk_bc *bc, fpk_error *err) {
  static const char axis_name[] = "xyz";
  if (dim < 1 || dim > FPK_MAX_DIM)
    return fpk_error_set(err, FPK_EINVAL, "grid dimension %zu: must be 1, 2 or 3", dim);
  memset(g, 0, sizeof *g);
  g->dim = dim;
  g->size = 1;
  g->cell_volume = 1.0;
  for (size_t a = 0; a < dim; a++) {
    if (n[a] < 3)
      return fpk_error_set(err, FPK_EINVAL, "grid axis %c: %zu cells, need at least 3",
                           axis_name[a], n[a]);
    if (!isfinite(lo[a]) || !isfinite(hi[a]))
      return fpk_error_set(err, FPK_EINVAL, "grid axis %c: bounds [%g, %g] are not finite",
                           axis_name[a], lo[a], hi[a]);
    if (!(lo[a] < hi[a]))
      return fpk_error_set(err, FPK_EINVAL,
                           "grid axis %c: bounds [%g, %g] reversed or empty (need lo < hi)",
                           axis_name[a], lo[a], hi[a]);
    g->n[a] = n[a];
    g->lo[a] = lo[a];
    g->hi[a] = hi[a];
    g->h[a] = (hi[a] - lo[a]) / (double)n[a];
    g->bc[a] = bc ? bc[a] : FPK_BC_REFLECTING;
    g->size *= n[a];
    g->cell_volume *= g->h[a];
  }
  return FPK_SUCCESS;
}

void fpk_grid_point(const fpk_grid *g, size_t flat, double *x) {
  for (size_t a = 0; a < g->dim; a++) {
    x[a] = fpk_grid_center(g, a, flat % g->n[a]);
    flat /= g->n[a];
  }
}

double fpk_grid_integral(const fpk_grid *g, const double *p) {
  double s = 0.0;
  for (size_t i = 0; i < g->size; i++) s += p[i];
  return s * g->cell_volume;
}

const char *fpk_bc_name(fpk_bc bc) {
  switch (bc) {
    case FPK_BC_REFLECTING: return "reflecting";
    case FPK_BC_PERIODIC: return "periodic";
    case FPK_BC_ABSORBING: return "absorbing";
  }
  return "unknown";
}

int fpk_bc_parse(const char *s, fpk_bc *bc) {
  static const fpk_bc all[] = {FPK_BC_REFLECTING, FPK_BC_PERIODIC, FPK_BC_ABSORBING};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(s, fpk_bc_name(all[i])) == 0) {
      *bc = all[i];
      return FPK_SUCCESS;
    }
  return FPK_EINVAL;
}

int fpk_time_steps(double t0, double t1, double dt, size_t *n, double *h, fpk_error *err) {
  *n = 0;
  *h = 0.0;
  const double span = t1 - t0;
  if (!isfinite(t0) || !isfinite(t1) || !isfinite(span) || span < 0.0)
    return fpk_error_set(err, FPK_EINVAL, "time steps: interval [%g, %g] is not finite or reversed",
                         t0, t1);
  if (!(dt > 0.0) || !isfinite(dt))
    return fpk_error_set(err, FPK_EINVAL, "time steps: dt = %g must be finite and > 0", dt);
  if (span == 0.0) return FPK_SUCCESS;
  /* In floating point: (size_t) of a count >= 2^64 is undefined (it gave 0 steps). */
  double k = ceil(span / dt * (1.0 - 1e-9));
  if (k < 1.0) k = 1.0;
  if (!(k <= FPK_MAX_STEPS))
    return fpk_error_set(err, FPK_EINVAL,
                         "dt = %g splits [%g, %g] into %.3g steps, more than the limit of %.0e "
                         "steps per output interval: use dt >= %.3g",
                         dt, t0, t1, k, FPK_MAX_STEPS, span / FPK_MAX_STEPS);
  const double step = span / k;
  /* Every step must move t: below the spacing of doubles near t1, t + h == t. */
  if (!(t1 - step < t1) || !(t0 + step > t0))
    return fpk_error_set(err, FPK_EINVAL,
                         "dt = %g is below the resolution of the time t = %g (the spacing of "
                         "doubles there is %.3g): t would not advance",
                         dt, t1, nextafter(fabs(t1), INFINITY) - fabs(t1));
  *h = step;
  *n = (size_t)k;
  return FPK_SUCCESS;
}

int fpk_time_steps_position(double t0, double t1, double dt, size_t n, double h, size_t i,
                            double t, fpk_error *err) {
  size_t nn;
  double hh;
  fpk_error e = {0};
  if (fpk_time_steps(t0, t1, dt, &nn, &hh, &e) || nn != n || hh != h)
    return fpk_error_set(err, FPK_EINVAL,
                         "the pending interval [%.17g, %.17g] in %zu steps of %.17g is not the "
                         "split of dt = %g",
                         t0, t1, n, h, dt);
  if (i >= n || t != t0 + (double)i * h)
    return fpk_error_set(err, FPK_EINVAL, "t = %.17g is not step %zu of the pending interval", t,
                         i);
  return FPK_SUCCESS;
}

int fpk_grid_equal(const fpk_grid *a, const fpk_grid *b) {
  if (a->dim != b->dim) return 0;
  for (size_t k = 0; k < a->dim; k++) {
    const double L = a->hi[k] - a->lo[k];
    if (a->n[k] != b->n[k] || a->bc[k] != b->bc[k] || fabs(a->lo[k] - b->lo[k]) > 1e-12 * L ||
        fabs(a->hi[k] - b->hi[k]) > 1e-12 * L)
      return 0;
  }
  return 1;
}

void fpk_grid_describe(const fpk_grid *g, int with_bc, char *buf, size_t len) {
  if (!len) return;
  buf[0] = '\0';
  size_t k = 0;
#define FPK_PUT(...)                                                         \
  do {                                                                       \
    if (k < len) {                                                           \
      const int w = snprintf(buf + k, len - k, __VA_ARGS__);                 \
      if (w > 0) k += (size_t)w;                                             \
    }                                                                        \
  } while (0)
  for (size_t a = 0; a < g->dim; a++) FPK_PUT("%s%zu", a ? " x " : "", g->n[a]);
  FPK_PUT(" cells on ");
  for (size_t a = 0; a < g->dim; a++) FPK_PUT("%s[%g, %g]", a ? " x " : "", g->lo[a], g->hi[a]);
  if (with_bc) {
    int same = 1;
    for (size_t a = 1; a < g->dim; a++) same &= g->bc[a] == g->bc[0];
    for (size_t a = 0; a < (same ? 1 : g->dim); a++)
      FPK_PUT("%s%s", a ? " x " : ", ", fpk_bc_name(g->bc[a]));
  }
#undef FPK_PUT
}

double fpk_grid_wall_mass(const fpk_grid *g, const double *p, size_t *axis, int *side) {
  double total = 0.0, worst = 0.0;
  for (size_t i = 0; i < g->size; i++) total += p[i];
  if (axis) *axis = 0;
  if (side) *side = 0;
  if (!(total > 0.0)) return 0.0;
  for (size_t a = 0; a < g->dim; a++) {
    if (g->bc[a] == FPK_BC_PERIODIC) continue;
    size_t stride = 1;
    for (size_t b = 0; b < a; b++) stride *= g->n[b];
    for (int s = 0; s < 2; s++) {
      const size_t layer = s ? g->n[a] - 1 : 0;
      double m = 0.0;
      for (size_t i = 0; i < g->size; i++)
        if ((i / stride) % g->n[a] == layer) m += p[i];
      if (m / total > worst) {
        worst = m / total;
        if (axis) *axis = a;
        if (side) *side = s;
      }
    }
  }
  return worst;
}
