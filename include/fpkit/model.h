/* fpkit/model.h — SDE models dX = b(X,t) dt + diag(σ(X,t)) dW and Gaussian laws.
 *
 * A model is a set of callbacks with user data (SUNDIALS style): the FP solvers and the Monte
 * Carlo engine consume the same object and know nothing else about the problem. Callbacks work on
 * batches of points stored component-major (structure of arrays), so one indirect call is
 * amortised over many points and the loops inside vectorise:
 *     x[c*n + i] is component c of point i;  out[c*n + i] is component c of b or σ at point i.
 * A callback returns 0 on success, > 0 for a recoverable failure (e.g. the point left the domain
 * of the model), < 0 for a fatal one.
 */
#ifndef FPKIT_MODEL_H
#define FPKIT_MODEL_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*fpk_field_fn)(double t, size_t n, const double *x, double *out, void *params);

/* A pathwise strong solution: X_t at n points from X_{t0} = x0 and the Brownian increments
 * dw = W_t − W_{t0} (both component-major, like the fields). Exists for models whose solution is
 * a function of the increment alone (Brownian motion with drift, geometric Brownian motion); it is
 * the exact reference of strong-error studies (fpkit/sde.h, fpk_sde_ladder). */
typedef int (*fpk_solution_fn)(double t0, double t, size_t n, const double *x0, const double *dw,
                               double *out, void *params);

enum {
  FPK_MODEL_ADDITIVE = 1u << 0,   /* σ does not depend on x */
  FPK_MODEL_AUTONOMOUS = 1u << 1  /* b and σ do not depend on t (FP operators are built once) */
};

/* Linear SDE with diagonal additive noise: b(x) = -A x + c, σ = diag(sigma). OU with mean μ has
 * c = A μ; Brownian motion with drift v has A = 0, c = v. Closed forms (fpkit/exact.h) exist for
 * every model that exposes this. A is row-major, A[i*dim + j]. */
typedef struct fpk_linear_sde {
  size_t dim;
  double A[FPK_MAX_DIM * FPK_MAX_DIM];
  double c[FPK_MAX_DIM];
  double sigma[FPK_MAX_DIM];
} fpk_linear_sde;

typedef struct fpk_model {
  const char *name;
  size_t dim;
  fpk_field_fn drift; /* b(x, t) */
  fpk_field_fn noise; /* diagonal of σ(x, t); the diffusion matrix is D = ½ diag(σ²) */
  void *params;
  unsigned flags;
  const fpk_linear_sde *linear; /* non-NULL when the drift is linear and the noise additive */
  /* Optional. ∂σ_c/∂x_c, the diagonal of the noise's Jacobian, same layout as noise: all that
   * Milstein's scheme needs for diagonal noise (the σσ' term). NULL for additive models (zero) and
   * for models that cannot provide it (Milstein then refuses them). */
  fpk_field_fn noise_dx;
  fpk_solution_fn solution; /* optional, see fpk_solution_fn; NULL when unknown */
} fpk_model;

/* Built-ins. OU: dX = -A(X - μ) dt + diag(σ) dW, A any real matrix (anisotropic, non-symmetric).
 * Brownian motion with drift: dX = v dt + diag(σ) dW. Both fail for σ_i <= 0 or non-finite input. */
fpk_model *fpk_model_ou_alloc(size_t dim, const double *A, const double *mu, const double *sigma,
                              fpk_error *err);
fpk_model *fpk_model_bm_alloc(size_t dim, const double *v, const double *sigma, fpk_error *err);

/* Overdamped Langevin dynamics with a tilt and a modulated temperature (src/models/langevin.c):
 *
 *   dX = (-∇U(X) + F) dt + diag(σ(X)) dW,   σ_a(x) = √(2/β) (1 + ε cos(2π x_a / period)).
 *
 * With F = 0 and ε = 0 this is the usual Langevin equation, whose stationary density on ℝ^d (or
 * on a box with reflecting walls, or on a torus U is periodic on) is the Gibbs density e^{-βU}/Z
 * (closed-forms.md, "Langevin dynamics"). A tilt F on a torus gives a non-equilibrium steady
 * state with a constant current, and ε ≠ 0 gives multiplicative noise (Itô convention, as for
 * every model: the Fokker–Planck flux is J = b p − ∂(D p), D = σ²/2); the 1D closed form of
 * both is fpk_exact_stationary_periodic_1d(). */
typedef struct fpk_langevin_params {
  double beta;               /* inverse temperature > 0 */
  double amplitude;          /* tilted-cosine: U = -amplitude Σ_a cos(2π x_a / period) */
  double period;             /* > 0; used by tilted-cosine and by the noise modulation */
  double tilt[FPK_MAX_DIM];  /* constant force F added to the drift (default 0) */
  double modulation;         /* ε in σ above, |ε| < 1 (default 0) */
} fpk_langevin_params;

/* A potential U (GSL-style type table; the functions are private to src/models/):
 *   "double-well"    U = Σ_a (x_a⁴/4 − x_a²/2)                    (amplitude unused)
 *   "tilted-cosine"  U = −amplitude Σ_a cos(2π x_a / period)       (the periodic part; the tilt
 *                                                                   is the force F, not in U) */
typedef struct fpk_potential_type {
  const char *name;
  size_t max_dim;  /* defined for dimensions 1..max_dim */
  int separable;   /* U(x) = Σ_a u(x_a) for one 1D function u: e^{-βU} factorises over axes */
  int confining;   /* e^{-βU} has finite mass on ℝ^d for every β > 0 */
  int periodic;    /* U is periodic with the model's period along every axis */
} fpk_potential_type;

extern const fpk_potential_type *fpk_potential_double_well;
extern const fpk_potential_type *fpk_potential_tilted_cosine;
/* NULL-terminated registry of every potential, and lookup by name (NULL if unknown). */
extern const fpk_potential_type *const fpk_potentials[];
const fpk_potential_type *fpk_potential_lookup(const char *name);

/* The Langevin model with the named potential; m->name is "langevin-<potential>", m->linear is
 * NULL, flags are AUTONOMOUS, plus ADDITIVE when ε = 0. Fails (FPK_EINVAL, nothing allocated) for
 * an unknown potential (the message lists the known ones), dim outside 1..2, β not positive and
 * finite, period not positive and finite, |ε| >= 1, or a non-finite amplitude or tilt. */
fpk_model *fpk_model_langevin_alloc(const char *potential, size_t dim,
                                    const fpk_langevin_params *p, fpk_error *err);
/* U(x) (the tilt is not part of U); NaN for a model without a potential (not made by
 * fpk_model_langevin_alloc) or a NULL argument. */
double fpk_model_potential(const fpk_model *m, const double *x);
/* The potential of a Langevin model and its parameters; NULL for any other model. */
const fpk_potential_type *fpk_model_potential_type(const fpk_model *m);
const fpk_langevin_params *fpk_model_langevin_params(const fpk_model *m);

/* Safe on NULL; only for models made by the *_alloc functions above (each is one allocation that
 * starts with the fpk_model, so a plain free() releases it). */
void fpk_model_free(fpk_model *m);

/* Calls m->drift / m->noise and turns a non-zero return into an error message. */
int fpk_model_drift(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);
int fpk_model_noise(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);

/* A Gaussian law N(mean, cov) in dim dimensions; cov row-major. A point mass x0 is represented by
 * N(x0, w² I) with a small width w (see docs/config.md), the same law for every method. */
typedef struct fpk_gaussian {
  size_t dim;
  double mean[FPK_MAX_DIM];
  double cov[FPK_MAX_DIM * FPK_MAX_DIM];
} fpk_gaussian;

#ifdef __cplusplus
}
#endif
#endif
