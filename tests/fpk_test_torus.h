/* The torus test model shared by tests/test_spectral.c and tests/test_spectral_passes.c. */
#ifndef FPK_TEST_TORUS_H
#define FPK_TEST_TORUS_H

#include <math.h>
#include <stddef.h>

#include "fpkit/model.h"

static const double TWO_PI = 6.283185307179586476925;

/* Test model on the torus [0, 2π)^d:
 *   b_a(x, t) = F_a cos(ω t) − A sin(x_a) + C cos(x_{1−a})   (C couples the axes in 2D)
 *   σ_a(x)    = s0 (1 + ε cos(x_a)).
 * With A = ε = 0 the density is transported at speed F_a cos(ωt) and diffused: exact solution. */
typedef struct torus {
  size_t dim;
  double F[2], omega, A, C, s0, eps;
} torus;

static inline int torus_drift(double t, size_t n, const double *x, double *out, void *params) {
  const torus *m = params;
  for (size_t a = 0; a < m->dim; a++)
    for (size_t i = 0; i < n; i++) {
      double v = m->F[a] * cos(m->omega * t) - m->A * sin(x[a * n + i]);
      if (m->dim == 2) v += m->C * cos(x[(1 - a) * n + i]);
      out[a * n + i] = v;
    }
  return 0;
}

static inline int torus_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const torus *m = params;
  for (size_t a = 0; a < m->dim; a++)
    for (size_t i = 0; i < n; i++) out[a * n + i] = m->s0 * (1.0 + m->eps * cos(x[a * n + i]));
  return 0;
}

static inline fpk_model torus_model(torus *p) {
  unsigned flags = (p->omega == 0.0 ? FPK_MODEL_AUTONOMOUS : 0) |
                   (p->eps == 0.0 ? FPK_MODEL_ADDITIVE : 0);
  return (fpk_model){.name = "torus", .dim = p->dim, .drift = torus_drift, .noise = torus_noise,
                     .params = p, .flags = flags, .linear = NULL};
}

#endif
