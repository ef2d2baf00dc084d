/* Built-in overdamped Langevin models (fpkit/model.h):
 *
 *   dX = (-∇U(X) + F) dt + diag(σ(X)) dW,   σ_a(x) = √(2/β) (1 + ε cos(2π x_a / period)).
 *
 * With F = 0, ε = 0 the diffusion D = σ²/2 = 1/β is the temperature and e^{-βU} is stationary
 * (closed-forms.md, "Langevin dynamics": dX = −∇U dt + √(2/β) dW). The potentials form a small
 * GSL-style type table: the public part (fpk_potential_type) comes first in each private record,
 * so a pointer from fpk_potentials[] is a pointer to the whole. Every model is one allocation
 * that starts with its fpk_model, like the linear models, so fpk_model_free() is a plain free().
 */
#include "fpkit/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* U at one point x[0..d-1], and ∂U on a batch stored component-major like the model callbacks:
 * g[a*n + i] = ∂_a U at point i. */
typedef double (*potential_fn)(const fpk_langevin_params *p, size_t d, const double *x);
typedef void (*gradient_fn)(const fpk_langevin_params *p, size_t d, size_t n, const double *x,
                            double *g);

typedef struct potential_impl {
  fpk_potential_type pub;
  potential_fn value;
  gradient_fn gradient;
} potential_impl;

/* ---- double well: U = Σ_a (x_a⁴/4 − x_a²/2), minima at x_a = ±1, barrier 1/4 per axis ---- */

static double double_well_value(const fpk_langevin_params *p, size_t d, const double *x) {
  (void)p;
  double u = 0.0;
  for (size_t a = 0; a < d; a++) {
    const double s = x[a] * x[a];
    u += s * (0.25 * s - 0.5);
  }
  return u;
}

static void double_well_gradient(const fpk_langevin_params *p, size_t d, size_t n,
                                 const double *x, double *g) {
  (void)p;
  for (size_t k = 0; k < d * n; k++) g[k] = x[k] * (x[k] * x[k] - 1.0);
}

/* ---- tilted cosine: U = −A Σ_a cos(k x_a), k = 2π/period (the tilt is the force F) ------- */

static double tilted_cosine_value(const fpk_langevin_params *p, size_t d, const double *x) {
  const double k = 2.0 * M_PI / p->period;
  double u = 0.0;
  for (size_t a = 0; a < d; a++) u -= p->amplitude * cos(k * x[a]);
  return u;
}

static void tilted_cosine_gradient(const fpk_langevin_params *p, size_t d, size_t n,
                                   const double *x, double *g) {
  const double k = 2.0 * M_PI / p->period, ak = p->amplitude * k;
  for (size_t i = 0; i < d * n; i++) g[i] = ak * sin(k * x[i]);
}

static const potential_impl double_well_impl = {
    {"double-well", 2, 1, 1, 0}, double_well_value, double_well_gradient};
static const potential_impl tilted_cosine_impl = {
    {"tilted-cosine", 2, 1, 0, 1}, tilted_cosine_value, tilted_cosine_gradient};

const fpk_potential_type *fpk_potential_double_well = &double_well_impl.pub;
const fpk_potential_type *fpk_potential_tilted_cosine = &tilted_cosine_impl.pub;
const fpk_potential_type *const fpk_potentials[] = {&double_well_impl.pub,
                                                    &tilted_cosine_impl.pub, NULL};

const fpk_potential_type *fpk_potential_lookup(const char *name) {
  if (!name) return NULL;
  for (size_t k = 0; fpk_potentials[k]; k++)
    if (strcmp(fpk_potentials[k]->name, name) == 0) return fpk_potentials[k];
  return NULL;
}

/* ---- the model ----------------------------------------------------------------------------- */

typedef struct langevin_model {
  fpk_model model; /* first: fpk_model_free() frees the whole record */
  fpk_langevin_params p;
  const potential_impl *pot;
  double noise_scale; /* √(2/β) */
  char name[48];
} langevin_model;

static int langevin_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const langevin_model *lm = params;
  const size_t d = lm->model.dim;
  lm->pot->gradient(&lm->p, d, n, x, out);
  for (size_t a = 0; a < d; a++) {
    const double f = lm->p.tilt[a];
    double *o = out + a * n;
    for (size_t i = 0; i < n; i++) o[i] = f - o[i];
  }
  return 0;
}

static int langevin_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const langevin_model *lm = params;
  const size_t d = lm->model.dim;
  const double s = lm->noise_scale, eps = lm->p.modulation, k = 2.0 * M_PI / lm->p.period;
  if (eps == 0.0) {
    for (size_t i = 0; i < d * n; i++) out[i] = s;
  } else {
    for (size_t i = 0; i < d * n; i++) out[i] = s * (1.0 + eps * cos(k * x[i]));
  }
  return 0;
}

/* ∂σ_a/∂x_a = −s ε k sin(k x_a), for Milstein's σσ' term. */
static int langevin_noise_dx(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const langevin_model *lm = params;
  const size_t d = lm->model.dim;
  const double k = 2.0 * M_PI / lm->p.period, c = -lm->noise_scale * lm->p.modulation * k;
  for (size_t i = 0; i < d * n; i++) out[i] = c * sin(k * x[i]);
  return 0;
}

/* The record behind m, or NULL when m is not a Langevin model (recognised by its drift). */
static const langevin_model *langevin_of(const fpk_model *m) {
  if (!m || m->drift != langevin_drift) return NULL;
  return (const langevin_model *)m;
}

/* Validates the arguments of fpk_model_langevin_alloc (T is the looked-up potential or NULL). */
static int check_args(const char *potential, const fpk_potential_type *T, size_t dim,
                      const fpk_langevin_params *p, fpk_error *err) {
  if (!T) {
    char known[256] = "";
    size_t len = 0;
    for (size_t k = 0; fpk_potentials[k] && len < sizeof known; k++)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "",
                              fpk_potentials[k]->name);
    return fpk_error_set(err, FPK_EINVAL, "model langevin: unknown potential '%s' (known: %s)",
                         potential ? potential : "(null)", known);
  }
  const char *nm = T->name;
  if (dim < 1 || dim > T->max_dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "model langevin-%s: dimension %zu, must be between 1 and %zu", nm, dim,
                         T->max_dim);
  if (!p) return fpk_error_set(err, FPK_EINVAL, "model langevin-%s: parameters are NULL", nm);
  if (!(p->beta > 0.0) || !isfinite(p->beta))
    return fpk_error_set(err, FPK_EINVAL,
                         "model langevin-%s: beta = %g, must be positive and finite", nm, p->beta);
  if (!(p->period > 0.0) || !isfinite(p->period))
    return fpk_error_set(err, FPK_EINVAL,
                         "model langevin-%s: period = %g, must be positive and finite", nm,
                         p->period);
  /* |ε| < 1 keeps σ > 0 everywhere (uniform ellipticity). */
  if (!(fabs(p->modulation) < 1.0))
    return fpk_error_set(err, FPK_EINVAL,
                         "model langevin-%s: modulation = %g, must satisfy |modulation| < 1", nm,
                         p->modulation);
  if (!isfinite(p->amplitude))
    return fpk_error_set(err, FPK_EINVAL, "model langevin-%s: amplitude = %g is not finite", nm,
                         p->amplitude);
  for (size_t a = 0; a < dim; a++)
    if (!isfinite(p->tilt[a]))
      return fpk_error_set(err, FPK_EINVAL, "model langevin-%s: tilt[%zu] = %g is not finite",
                           nm, a, p->tilt[a]);
  return FPK_SUCCESS;
}

fpk_model *fpk_model_langevin_alloc(const char *potential, size_t dim,
                                    const fpk_langevin_params *p, fpk_error *err) {
  const fpk_potential_type *T = fpk_potential_lookup(potential);
  if (check_args(potential, T, dim, p, err)) return NULL;
  langevin_model *lm = calloc(1, sizeof *lm);
  if (!lm) {
    fpk_error_set(err, FPK_ENOMEM, "model langevin-%s: out of memory", T->name);
    return NULL;
  }
  lm->p = *p;
  for (size_t a = dim; a < FPK_MAX_DIM; a++) lm->p.tilt[a] = 0.0;
  lm->pot = (const potential_impl *)T;
  lm->noise_scale = sqrt(2.0 / p->beta);
  snprintf(lm->name, sizeof lm->name, "langevin-%s", T->name);
  unsigned flags = FPK_MODEL_AUTONOMOUS;
  if (p->modulation == 0.0) flags |= FPK_MODEL_ADDITIVE;
  lm->model = (fpk_model){.name = lm->name,
                          .dim = dim,
                          .drift = langevin_drift,
                          .noise = langevin_noise,
                          .noise_dx = langevin_noise_dx,
                          .params = lm,
                          .flags = flags,
                          .linear = NULL};
  return &lm->model;
}

double fpk_model_potential(const fpk_model *m, const double *x) {
  const langevin_model *lm = langevin_of(m);
  if (!lm || !x) return NAN;
  return lm->pot->value(&lm->p, lm->model.dim, x);
}

const fpk_potential_type *fpk_model_potential_type(const fpk_model *m) {
  const langevin_model *lm = langevin_of(m);
  return lm ? &lm->pot->pub : NULL;
}

const fpk_langevin_params *fpk_model_langevin_params(const fpk_model *m) {
  const langevin_model *lm = langevin_of(m);
  return lm ? &lm->p : NULL;
}
