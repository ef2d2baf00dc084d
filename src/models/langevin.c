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

/* ---- harmonic: U = κ Σ_a x_a²/2, κ = amplitude -------------------------------------------- */

static double harmonic_value(const fpk_langevin_params *p, size_t d, const double *x) {
  double u = 0.0;
  for (size_t a = 0; a < d; a++) u += 0.5 * p->amplitude * x[a] * x[a];
  return u;
}

static void harmonic_gradient(const fpk_langevin_params *p, size_t d, size_t n, const double *x,
                              double *g) {
  for (size_t i = 0; i < d * n; i++) g[i] = p->amplitude * x[i];
}

static const potential_impl double_well_impl = {
    {"double-well", 2, 1, 1, 0}, double_well_value, double_well_gradient};
static const potential_impl tilted_cosine_impl = {
    {"tilted-cosine", 2, 1, 0, 1}, tilted_cosine_value, tilted_cosine_gradient};

const fpk_potential_type *fpk_potential_double_well = &double_well_impl.pub;
static const potential_impl harmonic_impl = {
    {"harmonic", 2, 1, 1, 0}, harmonic_value, harmonic_gradient};
const fpk_potential_type *fpk_potential_tilted_cosine = &tilted_cosine_impl.pub;
const fpk_potential_type *fpk_potential_harmonic = &harmonic_impl.pub;
const fpk_potential_type *const fpk_potentials[] = {
    &double_well_impl.pub, &tilted_cosine_impl.pub, &harmonic_impl.pub, NULL};

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
static int check_args(const char *family, const char *potential, const fpk_potential_type *T,
                      size_t dim, const fpk_langevin_params *p, fpk_error *err) {
  if (!T) {
    char known[256] = "";
    size_t len = 0;
    for (size_t k = 0; fpk_potentials[k] && len < sizeof known; k++)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "",
                              fpk_potentials[k]->name);
    return fpk_error_set(err, FPK_EINVAL, "model %s: unknown potential '%s' (known: %s)",
                         family, potential ? potential : "(null)", known);
  }
  const char *nm = T->name;
  if (dim < 1 || dim > T->max_dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "model %s-%s: dimension %zu, must be between 1 and %zu", family, nm, dim,
                         T->max_dim);
  if (!p) return fpk_error_set(err, FPK_EINVAL, "model %s-%s: parameters are NULL", family, nm);
  if (!(p->beta > 0.0) || !isfinite(p->beta))
    return fpk_error_set(err, FPK_EINVAL,
                         "model %s-%s: beta = %g, must be positive and finite", family, nm, p->beta);
  if (!(p->period > 0.0) || !isfinite(p->period))
    return fpk_error_set(err, FPK_EINVAL,
                         "model %s-%s: period = %g, must be positive and finite", family, nm,
                         p->period);
  /* |ε| < 1 keeps σ > 0 everywhere (uniform ellipticity). */
  if (!(fabs(p->modulation) < 1.0))
    return fpk_error_set(err, FPK_EINVAL,
                         "model %s-%s: modulation = %g, must satisfy |modulation| < 1", family, nm,
                         p->modulation);
  if (!isfinite(p->amplitude))
    return fpk_error_set(err, FPK_EINVAL, "model %s-%s: amplitude = %g is not finite", family, nm,
                         p->amplitude);
  if (T == fpk_potential_harmonic && !(p->amplitude > 0.0))
    return fpk_error_set(err, FPK_EINVAL,
                         "model %s-harmonic: amplitude (the stiffness) = %g, must be "
                         "positive",
                         family, p->amplitude);
  for (size_t a = 0; a < dim; a++)
    if (!isfinite(p->tilt[a]))
      return fpk_error_set(err, FPK_EINVAL, "model %s-%s: tilt[%zu] = %g is not finite", family, nm, a, p->tilt[a]);
  return FPK_SUCCESS;
}

fpk_model *fpk_model_langevin_alloc(const char *potential, size_t dim,
                                    const fpk_langevin_params *p, fpk_error *err) {
  const fpk_potential_type *T = fpk_potential_lookup(potential);
  if (check_args("langevin", potential, T, dim, p, err)) return NULL;
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

static const struct kramers_model *kramers_of(const fpk_model *m);
static double kramers_energy(const struct kramers_model *km, const double *xv);
static const potential_impl *kramers_pot(const struct kramers_model *km);

double fpk_model_potential(const fpk_model *m, const double *x) {
  if (!x) return NAN;
  const struct kramers_model *km = kramers_of(m);
  if (km) return kramers_energy(km, x);
  const langevin_model *lm = langevin_of(m);
  if (!lm) return NAN;
  return lm->pot->value(&lm->p, lm->model.dim, x);
}

const fpk_potential_type *fpk_model_potential_type(const fpk_model *m) {
  const struct kramers_model *km = kramers_of(m);
  if (km) return &kramers_pot(km)->pub;
  const langevin_model *lm = langevin_of(m);
  return lm ? &lm->pot->pub : NULL;
}

const fpk_langevin_params *fpk_model_langevin_params(const fpk_model *m) {
  const langevin_model *lm = langevin_of(m);
  return lm ? &lm->p : NULL;
}

/* ==== Underdamped Langevin: the Kramers equation (fpkit/model.h) ===========================
 *
 * Phase space (x, v) with unit mass: dX = V dt, dV = (−U'(X) + F − γV) dt + √(2γ/β) dW
 * (Risken 1989, §10.1). The noise is a 2 × 1 matrix [0; √(2γ/β)]: one Brownian motion, acting
 * on the velocity only. The potential is evaluated through the overdamped model's table with a
 * 1D parameter record, so both dynamics share one definition of U. */

typedef struct kramers_model {
  fpk_model model; /* first: fpk_model_free() frees the whole record */
  fpk_kramers_params p;
  fpk_langevin_params lp; /* U's parameters in the overdamped layout (1D) */
  const potential_impl *pot;
  double noise_scale; /* √(2γ/β) */
  fpk_linear_sde sde; /* harmonic only */
  char name[48];
} kramers_model;

static const potential_impl *kramers_pot(const struct kramers_model *km) { return km->pot; }

/* H(x, v) = U(x) + v²/2: the "potential" of the phase-space Gibbs density e^{−βH}, which is what
 * fpk_exact_gibbs_cells integrates for a Kramers model. */
static double kramers_energy(const struct kramers_model *km, const double *xv) {
  return km->pot->value(&km->lp, 1, xv) + 0.5 * xv[1] * xv[1];
}

/* b = (v, −U'(x) + F − γv), batch layout: out[0..n) = b_x, out[n..2n) = b_v. */
static int kramers_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  const kramers_model *km = params;
  const double *pos = x, *vel = x + n;
  double *bx = out, *bv = out + n;
  km->pot->gradient(&km->lp, 1, n, pos, bv); /* U'(x) */
  const double F = km->p.tilt, g = km->p.gamma;
  for (size_t i = 0; i < n; i++) {
    bx[i] = vel[i];
    bv[i] = F - bv[i] - g * vel[i];
  }
  return 0;
}

static int kramers_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  (void)t;
  (void)x;
  const kramers_model *km = params;
  for (size_t i = 0; i < n; i++) out[i] = 0.0, out[n + i] = km->noise_scale;
  return 0;
}

static const struct kramers_model *kramers_of(const fpk_model *m) {
  if (!m || m->drift != kramers_drift) return NULL;
  return (const kramers_model *)m;
}

fpk_model *fpk_model_kramers_alloc(const char *potential, const fpk_kramers_params *p,
                                   fpk_error *err) {
  const fpk_potential_type *T = fpk_potential_lookup(potential);
  if (p && T) {
    if (!(p->gamma > 0.0) || !isfinite(p->gamma)) {
      fpk_error_set(err, FPK_EINVAL, "model kramers-%s: gamma = %g, must be positive and finite",
                    T->name, p->gamma);
      return NULL;
    }
    if (!isfinite(p->tilt)) {
      fpk_error_set(err, FPK_EINVAL, "model kramers-%s: tilt = %g is not finite", T->name, p->tilt);
      return NULL;
    }
  }
  fpk_langevin_params lp = {0};
  if (p) lp = (fpk_langevin_params){.beta = p->beta, .amplitude = p->amplitude, .period = p->period};
  if (check_args("kramers", potential, T, 1, p ? &lp : NULL, err)) return NULL;
  kramers_model *km = calloc(1, sizeof *km);
  if (!km) {
    fpk_error_set(err, FPK_ENOMEM, "model kramers-%s: out of memory", T->name);
    return NULL;
  }
  km->p = *p;
  km->lp = lp;
  km->pot = (const potential_impl *)T;
  km->noise_scale = sqrt(2.0 * p->gamma / p->beta);
  snprintf(km->name, sizeof km->name, "kramers-%s", T->name);
  km->model = (fpk_model){.name = km->name,
                          .dim = 2,
                          .drift = kramers_drift,
                          .noise = NULL,
                          .noise_matrix = kramers_noise_matrix,
                          .noise_dim = 1,
                          .params = km,
                          .flags = FPK_MODEL_ADDITIVE | FPK_MODEL_AUTONOMOUS};
  if (T == fpk_potential_harmonic) {
    /* b = −A (x, v) + c with A = [[0, −1], [κ, γ]], c = (0, F); B = (0, √(2γ/β)). */
    km->sde = (fpk_linear_sde){.dim = 2,
                               .A = {0.0, -1.0, p->amplitude, p->gamma},
                               .c = {0.0, p->tilt},
                               .noise_dim = 1,
                               .B = {0.0, km->noise_scale}};
    km->model.linear = &km->sde;
  }
  return &km->model;
}

const fpk_kramers_params *fpk_model_kramers_params(const fpk_model *m) {
  const kramers_model *km = kramers_of(m);
  return km ? &km->p : NULL;
}

const fpk_potential_type *fpk_model_kramers_potential(const fpk_model *m) {
  const kramers_model *km = kramers_of(m);
  return km ? &km->pot->pub : NULL;
}

int fpk_model_kramers_force(const fpk_model *m, size_t n, const double *x, double *f,
                            fpk_error *err) {
  const kramers_model *km = kramers_of(m);
  if (!km)
    return fpk_error_set(err, FPK_EINVAL, "model %s is not a Kramers model",
                         m && m->name ? m->name : "?");
  km->pot->gradient(&km->lp, 1, n, x, f);
  for (size_t i = 0; i < n; i++) f[i] = km->p.tilt - f[i];
  return FPK_SUCCESS;
}
