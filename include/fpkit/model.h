/* fpkit/model.h — SDE models dX = b(X,t) dt + σ(X,t) dW and Gaussian laws. σ is diagonal
 * (one Brownian component per coordinate) or a d × m noise matrix (issue 16; docs/noise.md).
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

/* The most Brownian components a noise matrix may have (m in σ's d × m). */
#define FPK_MAX_NOISE 6

/* Linear SDE with additive noise: b(x) = -A x + c, and σ = diag(sigma) (noise_dim = 0) or the
 * d × noise_dim matrix B (noise_dim >= 1; full, or with zero rows: degenerate noise, e.g. the
 * harmonic Kramers equation). OU with mean μ has c = A μ; Brownian motion with drift v has A = 0,
 * c = v. Closed forms (fpkit/exact.h) exist for every model that exposes this; they use BBᵀ only
 * (fpk_linear_sde_bbt). A and B are row-major, A[i*dim + j], B[i*noise_dim + k]. */
typedef struct fpk_linear_sde {
  size_t dim;
  double A[FPK_MAX_DIM * FPK_MAX_DIM];
  double c[FPK_MAX_DIM];
  double sigma[FPK_MAX_DIM];            /* diagonal noise (noise_dim == 0) */
  size_t noise_dim;                     /* 0: diagonal; else m, the columns of B */
  double B[FPK_MAX_DIM * FPK_MAX_NOISE]; /* noise matrix (noise_dim >= 1) */
} fpk_linear_sde;

/* BBᵀ (d × d, row-major) of a linear SDE: diag(sigma²) or B Bᵀ. */
void fpk_linear_sde_bbt(const fpk_linear_sde *s, double *bbt);

typedef struct fpk_model {
  const char *name;
  size_t dim;
  fpk_field_fn drift; /* b(x, t) */
  /* Diagonal of σ(x, t); the diffusion matrix is D = ½ diag(σ²). NULL for a model with a noise
   * matrix (below), so that code written for diagonal noise fails (fpk_model_noise: FPK_EUNSUP,
   * naming the model) instead of misreading a matrix. */
  fpk_field_fn noise;
  void *params;
  unsigned flags;
  const fpk_linear_sde *linear; /* non-NULL when the drift is linear and the noise additive */
  /* Optional. ∂σ_c/∂x_c, the diagonal of the noise's Jacobian, same layout as noise: all that
   * Milstein's scheme needs for diagonal noise (the σσ' term). NULL for additive models (zero) and
   * for models that cannot provide it (Milstein then refuses them). */
  fpk_field_fn noise_dx;
  fpk_solution_fn solution; /* optional, see fpk_solution_fn; NULL when unknown */
  /* Optional. Releases what the model owns besides its own allocation (the libmatheval
   * evaluators of an expression model); fpk_model_free() calls it before free(). NULL for every
   * model that is a single allocation. */
  void (*release)(struct fpk_model *m);
  /* Optional (issue 16). A general noise matrix σ(x, t), d × noise_dim, for models whose noise
   * is not diagonal (correlated, or degenerate: rows of zeros), same batch layout with the
   * entries row-major: out[(r*noise_dim + k)*n + i] = σ_rk at point i. When set, `noise` and
   * `noise_dx` are NULL, noise_dim is 1..FPK_MAX_NOISE and D = ½ σσᵀ. Read it through
   * fpk_model_noise_matrix() / fpk_model_diffusion(), which also serve diagonal models. */
  fpk_field_fn noise_matrix;
  size_t noise_dim;
} fpk_model;

/* ---- Noise of any model (src/models/noise.c) --------------------------------------------
 * m, the number of Brownian components: noise_dim for a matrix model, dim for a diagonal one. */
size_t fpk_model_noise_dim(const fpk_model *m);
/* 1 when the noise is diagonal (m->noise set, no noise matrix). */
int fpk_model_noise_is_diagonal(const fpk_model *m);
/* σ(x, t) as a d × m matrix for any model (a diagonal model's off-diagonal entries are 0):
 * out[(r*m + k)*n + i], room for d*m*n doubles. */
int fpk_model_noise_matrix(const fpk_model *m, double t, size_t n, const double *x, double *out,
                           fpk_error *err);
/* The diffusion matrix D = ½ σσᵀ (d × d, symmetric) for any model: out[(a*d + b)*n + i], room
 * for d*d*n doubles; work: room for d*m*n doubles (may be NULL for a diagonal model). */
int fpk_model_diffusion(const fpk_model *m, double t, size_t n, const double *x, double *out,
                        double *work, fpk_error *err);
/* Rows of σ that are identically zero for every x and t (no diffusion along that axis), as a
 * bit mask: bit a set when row a is zero. Decided from the linear model's B, the Kramers model's
 * structure, an expression model's zero strings, or (other models) by sampling σ at the given
 * points (n points of x, component-major); 0 for diagonal models, whose σ_a must be positive. */
unsigned fpk_model_zero_noise_rows(const fpk_model *m, size_t n, const double *x, fpk_error *err);
/* A noise matrix for a user-given diffusion matrix D (d × d, row-major): checks that D is
 * symmetric (to 1e-12 of its largest entry) and positive semi-definite (eigenvalues >= −1e-12 of
 * the largest; the message gives the most negative one and its eigenvector), and writes the
 * d × d matrix B = V diag(√(2 λ₊)) with ½ BBᵀ = D (eigenvalues below the tolerance set to 0). */
int fpk_diffusion_factor(size_t d, const double *D, double *B, fpk_error *err);

/* Built-ins. OU: dX = -A(X - μ) dt + diag(σ) dW, A any real matrix (anisotropic, non-symmetric).
 * Brownian motion with drift: dX = v dt + diag(σ) dW. Both fail for σ_i <= 0 or non-finite input. */
fpk_model *fpk_model_ou_alloc(size_t dim, const double *A, const double *mu, const double *sigma,
                              fpk_error *err);
fpk_model *fpk_model_bm_alloc(size_t dim, const double *v, const double *sigma, fpk_error *err);
/* OU with a noise matrix: dX = -A(X - μ) dt + B dW, B d × m row-major (B[i*m + k]), m in
 * 1..FPK_MAX_NOISE; rows of zeros allowed (degenerate noise). m->name "ou", m->noise_matrix set,
 * m->linear with noise_dim = m. Fails for non-finite entries or B = 0. */
fpk_model *fpk_model_ou_matrix_alloc(size_t dim, const double *A, const double *mu, size_t m,
                                     const double *B, fpk_error *err);

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
 *                                                                   is the force F, not in U)
 *   "harmonic"       U = amplitude Σ_a x_a²/2                      (amplitude > 0; issue 16) */
typedef struct fpk_potential_type {
  const char *name;
  size_t max_dim;  /* defined for dimensions 1..max_dim */
  int separable;   /* U(x) = Σ_a u(x_a) for one 1D function u: e^{-βU} factorises over axes */
  int confining;   /* e^{-βU} has finite mass on ℝ^d for every β > 0 */
  int periodic;    /* U is periodic with the model's period along every axis */
} fpk_potential_type;

extern const fpk_potential_type *fpk_potential_double_well;
extern const fpk_potential_type *fpk_potential_tilted_cosine;
extern const fpk_potential_type *fpk_potential_harmonic;
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

/* ---- Underdamped Langevin dynamics: the Kramers equation (src/models/langevin.c) ----------
 * A particle of unit mass in phase space (x, v), 1D position:
 *
 *   dX = V dt,   dV = (−U'(X) + F − γV) dt + √(2γ/β) dW,
 *
 * a 2D model (component 0 is x, 1 is v) with the 2 × 1 noise matrix [0; √(2γ/β)]: no diffusion
 * in x (hypoelliptic). Its Fokker–Planck equation is the Kramers (Klein–Kramers) equation
 * (Risken 1989, §10.1, eq. 10.1 with m = 1)
 *
 *   ∂p/∂t = −v ∂p/∂x + ∂_v[(U'(x) − F + γv) p] + (γ/β) ∂²p/∂v²,
 *
 * whose stationary density for F = 0 (U confining, or periodic on a torus) is the Gibbs measure
 * e^{−β(U(x) + v²/2)}/Z (fpk_exact_kramers_gibbs_cells, fpkit/exact.h). As γ → ∞ the position on
 * the time scale γt follows the overdamped (Smoluchowski) dynamics dX = −U'(X) dt + √(2/β) dW
 * (Risken §10.4). Potentials from fpk_potentials (1D): "double-well", "tilted-cosine",
 * "harmonic" (U = κx²/2, κ = amplitude). The harmonic model is linear: m->linear has
 * A = [[0, −1], [κ, γ]], c = [0, F] and B = [0; √(2γ/β)], so its law is the exact Gaussian of
 * fpk_exact_linear_law (Van Loan with the degenerate BBᵀ). Flags ADDITIVE | AUTONOMOUS. */
typedef struct fpk_kramers_params {
  double beta;      /* inverse temperature > 0 */
  double gamma;     /* friction > 0 */
  double amplitude; /* of the potential (harmonic: the stiffness κ > 0) */
  double period;    /* > 0; tilted-cosine's period */
  double tilt;      /* constant force F (default 0) */
} fpk_kramers_params;

/* m->name "kramers-<potential>". Fails (FPK_EINVAL, nothing allocated) for an unknown potential
 * (the message lists the known ones), β or γ not positive and finite, period not positive and
 * finite, a non-finite amplitude or tilt, or a harmonic potential with κ <= 0. */
fpk_model *fpk_model_kramers_alloc(const char *potential, const fpk_kramers_params *p,
                                   fpk_error *err);
/* The parameters and potential of a Kramers model; NULL for any other model. */
const fpk_kramers_params *fpk_model_kramers_params(const fpk_model *m);
const fpk_potential_type *fpk_model_kramers_potential(const fpk_model *m);
/* The force −U'(x) + F at n positions x (the velocity update of splitting schemes such as
 * BAOAB); FPK_EINVAL for a model that is not a Kramers model. */
int fpk_model_kramers_force(const fpk_model *m, size_t n, const double *x, double *f,
                            fpk_error *err);

/* Safe on NULL; only for models made by the *_alloc functions of this header (each is one
 * allocation that starts with the fpk_model, so a plain free() releases it, after m->release for
 * an expression model's evaluators). */
void fpk_model_free(fpk_model *m);

/* Calls m->drift / m->noise and turns a non-zero return into an error message. */
int fpk_model_drift(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);
int fpk_model_noise(const fpk_model *m, double t, size_t n, const double *x, double *out,
                    fpk_error *err);
/* m->noise_dx, or zeros for an additive model without one (FPK_EINVAL for any other model). */
int fpk_model_noise_dx(const fpk_model *m, double t, size_t n, const double *x, double *out,
                       fpk_error *err);

/* A Gaussian law N(mean, cov) in dim dimensions; cov row-major. A point mass x0 is represented by
 * N(x0, w² I) with a small width w (see docs/config.md), the same law for every method. */
typedef struct fpk_gaussian {
  size_t dim;
  double mean[FPK_MAX_DIM];
  double cov[FPK_MAX_DIM * FPK_MAX_DIM];
} fpk_gaussian;

/* ==== Models from expressions, GBM, Brownian bridge, mixture Langevin (issue 4) ============== */

/* ---- Expression models (src/models/expr.c) ------------------------------------------------
 * dX_c = b_c(X, t) dt + σ_c(X, t) dW_c with b and σ written as strings, parsed and
 * differentiated symbolically by libmatheval. Variables: x (and y, z in 2D/3D), t, and the named
 * parameters. libmatheval's syntax: + - * / ^ (left-associative: 2^3^2 = 64), unary minus (no
 * unary plus), parentheses, numbers such as 1, 2.5, 1e-3; functions exp log sqrt sin cos tan cot
 * sec csc asin acos atan acot asec acsc sinh cosh tanh coth sech csch asinh acosh atanh acoth
 * asech acsch abs step delta nandelta erf; constants e pi and the others of its manual (log2e
 * log10e ln2 ln10 pi_2 pi_4 1_pi 2_pi 2_sqrtpi sqrt2 sqrt1_2). */
typedef struct fpk_expr_spec {
  size_t dim;                     /* 1, 2 or 3 */
  const char *drift[FPK_MAX_DIM]; /* b_c(x, y, z, t, params...) */
  const char *noise[FPK_MAX_DIM]; /* σ_c(...): the diagonal noise amplitude, NOT D = σ²/2;
                                     used when noise_dim == 0 */
  /* A noise matrix instead of the diagonal (issue 16; docs/noise.md): noise_dim = m in
   * 1..FPK_MAX_NOISE Brownian components and the d × m entries σ_rk as strings, row-major
   * (noise_matrix[r*m + k]); the literal 0 for an entry that vanishes (a zero row: no diffusion
   * along that axis, recognised exactly by fpk_model_zero_noise_rows). noise_dim = 0: diagonal
   * noise from noise[] as above, and noise_matrix is not read. */
  size_t noise_dim;
  const char *noise_matrix[FPK_MAX_DIM * FPK_MAX_NOISE];
  size_t nparams;                 /* at most FPK_EXPR_MAX_PARAMS */
  const char *const *param_names; /* named constants usable in the expressions */
  const double *param_values;     /* finite */
  int jit;                        /* FPK_EXPR_JIT_AUTO (0, the default), _OFF or _ON: below */
} fpk_expr_spec;

/* How an expression model evaluates (fpk_expr_spec.jit; docs/config.md, "[model] jit"):
 * AUTO compiles the expressions to native code with libgccjit when this build has it and falls
 * back to libmatheval's interpreter, saying why (fpk_model_expr_jit), when it has not or the
 * compilation fails; the environment variable FPK_EXPR_JIT = auto | on | off overrides AUTO.
 * OFF interprets. ON compiles or fails (FPK_EUNSUP, with the reason). Compiled code gives the
 * interpreter's results bit for bit (src/models/expr_jit.c says why; tests/test_expr_jit.c). */
enum { FPK_EXPR_JIT_AUTO = 0, FPK_EXPR_JIT_OFF = 1, FPK_EXPR_JIT_ON = 2 };

#define FPK_EXPR_MAX_PARAMS 32
/* Interpreted models keep their evaluators per OpenMP thread number (libmatheval's evaluator is
 * not re-entrant); a callback run by a thread numbered >= this returns a fatal status. Compiled
 * models (fpk_model_expr_jit) share one read-only code and have no such limit. */
#define FPK_EXPR_MAX_THREADS 256

/* The model (m->name "expr"). Fails (FPK_EINVAL, nothing allocated) when an expression does not
 * parse — the message gives the column, the expression and a caret, and names the component
 * ("drift_x", "noise", or "noise[r][k]" (0-based row r, column k) of a noise matrix) —, uses a
 * symbol that is
 * neither a variable nor a parameter (the message names it and the known names), or when a
 * parameter name is not an identifier, is x, y, z or t, or is a libmatheval function or constant.
 * Flags: ADDITIVE when no noise expression contains x, y or z; AUTONOMOUS when no expression
 * contains t (both after libmatheval's simplification). m->noise_dx is ∂σ_c/∂x_c by symbolic
 * differentiation, set when the noise is not additive and each σ_c depends on x_c alone (diagonal
 * noise in the sense of Kloeden & Platen 1992, §10.3, which is all that Milstein's scheme uses);
 * NULL otherwise. With a noise matrix (spec->noise_dim >= 1) the model sets m->noise_matrix and
 * m->noise_dim, leaves m->noise and m->noise_dx NULL (fpk_model_noise refuses it; read σ through
 * fpk_model_noise_matrix), and ADDITIVE / AUTONOMOUS look at every entry σ_rk; a noise_dim
 * outside 0..FPK_MAX_NOISE or a NULL entry is FPK_EINVAL. m->linear and m->solution are NULL
 * (an expression OU is not recognised as linear: build it with fpk_model_ou_matrix_alloc for the
 * closed forms). With spec->jit = FPK_EXPR_JIT_ON (or
 * FPK_EXPR_JIT=on), fails with FPK_EUNSUP when the expressions cannot be compiled; an invalid
 * spec->jit or FPK_EXPR_JIT value is FPK_EINVAL.
 * A callback never fails on a non-finite value (log of a negative number, division by zero):
 * it returns NaN or ±inf in out, which the FP solvers and the Monte Carlo engine detect and report
 * with the time and the path. The callbacks may run on up to FPK_EXPR_MAX_THREADS OpenMP threads
 * at once, but one model must not be evaluated from two parallel regions at the same time (nested
 * parallelism, or two user threads with their own teams): such a clash is detected and the
 * callback returns a fatal status rather than a wrong number. */
fpk_model *fpk_model_expr_alloc(const fpk_expr_spec *spec, fpk_error *err);

/* Checks one expression as fpk_model_expr_alloc() does (syntax, then known symbols) for a model
 * of dimension dim with the given parameters; on failure err holds the same message without the
 * component's name, so a configuration reader can put its own file:line in front. */
int fpk_expr_check(const char *expr, size_t dim, size_t nparams, const char *const *param_names,
                   fpk_error *err);
/* Checks a parameter name: an identifier that is not x, y, z, t or a libmatheval function or
 * constant. */
int fpk_expr_check_name(const char *name, fpk_error *err);

enum {
  FPK_EXPR_DRIFT = 0,        /* canonical form of b_c (libmatheval's simplified string) */
  FPK_EXPR_NOISE = 1,        /* canonical form of σ_c */
  FPK_EXPR_NOISE_DX = 2,     /* canonical form of ∂σ_c/∂x_c (NULL when m->noise_dx is NULL) */
  FPK_EXPR_DRIFT_SOURCE = 3, /* b_c as given */
  FPK_EXPR_NOISE_SOURCE = 4, /* σ_c as given */
  FPK_EXPR_NOISE_MATRIX = 5,        /* canonical form of the matrix entry σ_rk, c = r*m + k */
  FPK_EXPR_NOISE_MATRIX_SOURCE = 6  /* σ_rk as given, c = r*m + k */
};
/* The expression `which` of component c, owned by m; NULL for a model not made by
 * fpk_model_expr_alloc, c >= dim (c >= dim*m for the matrix kinds) or an unknown `which`; the
 * diagonal kinds (NOISE, NOISE_DX, NOISE_SOURCE) are NULL for a noise-matrix model and the matrix
 * kinds NULL for a diagonal one. Canonical forms print numbers with 6
 * significant digits (libmatheval's "%g"); evaluation uses the full doubles. */
const char *fpk_model_expr_string(const fpk_model *m, int which, size_t c);

/* 1 when the expression model m runs native code compiled by libgccjit, 0 when libmatheval
 * interprets it, -1 when m is not an expression model. *info (optional; owned by m) is one line
 * for logs: "compiled by libgccjit (N functions, T ms)" or "interpreted (libmatheval): REASON". */
int fpk_model_expr_jit(const fpk_model *m, const char **info);

/* Cell averages of a density given as an expression of x (y, z in 2D/3D) and the named
 * parameters (no t) on g: avg[cell] = the 3-point Gauss-Legendre rule per axis on each cell, so
 * O(h^6) for a smooth density. Not normalised. Fails (FPK_EINVAL) on a syntax error (column and
 * caret, as fpk_model_expr_alloc), an unknown symbol (named, with the known ones), or a negative
 * or non-finite value at some quadrature node (the message gives the value and the point), or a
 * largest cell average below DBL_MIN/DBL_EPSILON (~1e-292: precision lost to subnormals). */
int fpk_expr_cell_averages(const char *expr, const fpk_grid *g, size_t nparams,
                           const char *const *param_names, const double *param_values,
                           double *avg, fpk_error *err);

/* ---- Geometric Brownian motion (src/models/gbm.c) ----------------------------------------
 * dX_c = μ_c X_c dt + σ_c X_c dW_c, independent components. m->noise_dx = σ_c, m->solution is
 * X_t = X_{t0} exp((μ − σ²/2)(t − t0) + σ (W_t − W_{t0})) (closed-forms.md, "Geometric Brownian
 * motion"). Flags: AUTONOMOUS. Fails for dim outside 1..FPK_MAX_DIM, non-finite μ, σ not positive
 * and finite. */
typedef struct fpk_gbm_params {
  size_t dim;
  double mu[FPK_MAX_DIM], sigma[FPK_MAX_DIM];
} fpk_gbm_params;
fpk_model *fpk_model_gbm_alloc(size_t dim, const double *mu, const double *sigma, fpk_error *err);
const fpk_gbm_params *fpk_model_gbm_params(const fpk_model *m); /* NULL for other models */

/* ---- Brownian bridge (src/models/bridge.c) ------------------------------------------------
 * From a at t = 0 to b at t = T: dX_c = (b_c − X_c)/(T − t) dt + σ_c dW_c on [0, T)
 * (closed-forms.md, "Brownian motion and the Brownian bridge"). a is stored as documentation and
 * the natural initial point; the SDE does not use it. The drift callback returns 1 (recoverable)
 * for t >= T, where the drift is singular. Flags: ADDITIVE (not AUTONOMOUS). Fails for dim
 * outside 1..FPK_MAX_DIM, non-finite a or b, T not positive and finite, σ not positive and
 * finite. */
typedef struct fpk_bridge_params {
  size_t dim;
  double a[FPK_MAX_DIM], b[FPK_MAX_DIM], T, sigma[FPK_MAX_DIM];
} fpk_bridge_params;
fpk_model *fpk_model_bridge_alloc(size_t dim, const double *a, const double *b, double T,
                                  const double *sigma, fpk_error *err);
const fpk_bridge_params *fpk_model_bridge_params(const fpk_model *m); /* NULL for others */

/* ---- Langevin dynamics with the exact score of a Gaussian mixture (src/models/mixture.c) --
 * dX = ∇log p(X) dt + √2 dW with p = Σ_k w_k N(m_k, S_k): p is stationary (closed-forms.md,
 * "Langevin dynamics": dX = ∇log π dt + √2 dW), and the dynamics is reversible, so p restricted
 * to a box with reflecting walls is the stationary law there. The score is
 * Σ_k r_k S_k⁻¹(m_k − x) with responsibilities r_k = softmax_k(log w_k + log N(x; m_k, S_k)) by
 * log-sum-exp (closed-forms.md, "Gaussian mixtures"), finite far from every mode. */
#define FPK_MIXTURE_MAX 16
typedef struct fpk_mixture {
  size_t dim, K;
  double weight[FPK_MIXTURE_MAX];                    /* > 0; normalised to sum 1 by the model */
  double mean[FPK_MIXTURE_MAX][FPK_MAX_DIM];
  double cov[FPK_MIXTURE_MAX][FPK_MAX_DIM * FPK_MAX_DIM]; /* row-major, symmetric positive definite */
} fpk_mixture;
/* m->name "mixture-langevin"; flags ADDITIVE | AUTONOMOUS. Fails for dim outside 1..FPK_MAX_DIM,
 * K outside 1..FPK_MIXTURE_MAX, a weight not positive and finite, a non-finite mean, a covariance
 * that is not symmetric (to 1e-12 of its largest entry) or not positive definite. */
fpk_model *fpk_model_mixture_langevin_alloc(const fpk_mixture *mix, fpk_error *err);
/* The mixture of a model made by fpk_model_mixture_langevin_alloc (weights normalised); NULL for
 * any other model. */
const fpk_mixture *fpk_model_mixture(const fpk_model *m);
/* q[c] = probability of cell c under the mixture, Σ_k w_k P_k(cell) with the exact Gaussian cell
 * probabilities of fpk_gaussian_cell_probs() (fpkit/exact.h): erf products for 1D and diagonal
 * covariances, Gauss–Legendre quadrature otherwise. Σ q = 1 − the mass outside the box. */
int fpk_mixture_cell_probs(const fpk_mixture *mix, const fpk_grid *g, double *q, fpk_error *err);

/* ==== end of the issue 4 models section ===================================================== */

#ifdef __cplusplus
}
#endif
#endif
