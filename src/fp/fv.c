/* The finite-volume Fokker–Planck solver object and its time steppers (fpkit/fv.h).
 *
 * dp/dt = L(t) p with L from fv_operator.c. Steppers, for a step h from t:
 *   explicit Euler   p' = p + h L(t) p                        (needs h <= 1 / max|L_ii|)
 *   implicit Euler   (I - h L(t+h)) p' = p
 *   Crank–Nicolson   (I - h/2 L(t+h)) p' = p + h/2 L(t) p
 *   TR-BDF2, γ = 2 - √2 (Bank et al., IEEE Trans. Electron Devices 32, 1985; Hosea & Shampine,
 *   Appl. Numer. Math. 20, 1996):
 *     (I - γh/2 L(t+γh)) p_γ = p + γh/2 L(t) p                       (trapezoidal stage)
 *     (I - (1-γ)/(2-γ) h L(t+h)) p' = [p_γ - (1-γ)² p] / (γ(2-γ))     (BDF2 stage)
 *   and (1-γ)/(2-γ) = γ/2, so both stages use the one matrix I - (γ/2) h L when L is constant.
 * Autonomous models: L is assembled once; the factorisation of I - c h L is cached on c·h (see
 * linsolve.c), so an evolve with a constant step factors once. Non-autonomous models re-assemble
 * L at each stage time (keeping the UMFPACK symbolic analysis) and refactor numerically.
 * Checkpoints (fpkit/fv.h): an optional poll before every step can stop an evolve at a step
 * boundary; the interval's split is kept so that the continuation takes the same steps, and the
 * state (fpk_fv_get_state) includes the keys of the cached factorisations, which a restored
 * solver factors again exactly.
 */
#include "fpkit/fv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umfpack.h>

#include "fp/fv_internal.h"
#include "fpkit/guard.h"

struct fpk_fv;
typedef int (*step_fn)(struct fpk_fv *s, double t, double h);

/* Private extension of the public type table: the public part comes first, so a pointer to it
 * is a pointer to the whole (only pointers from fpk_fv_steppers[] are accepted). */
typedef struct stepper_impl {
  fpk_fv_stepper_type pub;
  step_fn step;
  double c; /* implicit coefficient: the solve is with I - c h L */
} stepper_impl;

struct fpk_fv {
  fpk_grid grid;
  const fpk_model *model;
  const stepper_impl *T;
  int autonomous;
  double dt, t;
  size_t steps;
  double *p, *w1, *w2;
  double *w3; /* split implicit Euler's correction (allocated at its first step) */
  double *c1, *c2; /* the Craig–Sneyd stage's right-hand side and predictor (cross-diffusion) */
  fpk_linsolve *exact; /* split implicit Euler's exact solve, for the steps it needs it */
  fpk_fv_op op;
  fpk_linsolve *ls;
  int split; /* ls is the split solver (2D/3D): the steppers take the split forms below */
  /* The limited transport along an axis without diffusion (op.limited): lim_y is the state the
   * current stage freezes the flux at (its predictor), set by limit_at; lim_dirty says the
   * factorisation in ls is of an older L (refactor at the next ensure_factor). */
  fpk_fv_transport transport;
  const double *lim_y;
  int lim_dirty;
  fpk_error err;
  /* Output guard: tolerances; the expected mass is that of the density set, kept without an
   * absorbing wall, non-increasing with one (mass_prev is the mass at the last output). */
  fpk_density_guard guard;
  int absorbing;
  double mass0, mass_prev;
  /* Interrupts (fpk_fv_set_interrupt) and the evolve they left pending: [iv_t0, iv_t1] in iv_n
   * steps of iv_h, iv_i done (iv_n == 0: none). */
  fpk_interrupt_fn poll;
  void *poll_user;
  fpk_progress_fn progress; /* fpk_fv_set_progress: observes only */
  void *progress_user;
  double iv_t0, iv_t1, iv_h;
  size_t iv_n, iv_i;
};

static const double TRBDF2_GAMMA = 2.0 - 1.4142135623730950488; /* 2 - √2 */

/* Makes op hold L(t). Autonomous models were assembled once at alloc. A re-assembly resets the
 * limited axes to first order: their flux is frozen again at the stage's state. */
static int ensure_L(fpk_fv *s, double t) {
  if (s->op.assembled && (s->autonomous || s->op.t == t)) return FPK_SUCCESS;
  int rc = fpk_fv_op_assemble(&s->op, s->model, t, &s->err);
  if (!rc && s->op.limited && s->lim_y) fv_op_limit(&s->op, s->lim_y);
  return rc;
}

/* The limited transport of a stage (docs/fv-scheme.md, "Zero diffusion"): its face coefficients
 * frozen at y, the state the stage starts from (every stage calls this before it forms L y or
 * factors). The operator then changes from stage to stage, so the next factorisation is new. */
static void limit_at(fpk_fv *s, const double *y) {
  if (!s->op.limited) return;
  s->lim_y = y;
  fv_op_limit(&s->op, y);
  s->lim_dirty = 1;
}

/* Factorisation of I - c L(t) current. */
static int ensure_factor(fpk_fv *s, double t, double c) {
  int rc;
  if (!s->autonomous) {
    if ((rc = ensure_L(s, t))) return rc;
    rc = fpk_linsolve_prepare(s->ls, &s->op, c, 1, &s->err);
  } else if (s->lim_dirty && s->split) {
    /* only the limited axes changed: the other axis factors are kept */
    rc = fv_linsolve_refactor_axes(s->ls, &s->op, c, s->op.limited, &s->err);
  } else {
    rc = fpk_linsolve_prepare(s->ls, &s->op, c, s->lim_dirty, &s->err);
  }
  if (!rc) s->lim_dirty = 0;
  return rc;
}

/* The largest explicit-Euler rate max|L_ii|, over every limited flux (α = 2) when an axis has
 * one: 1/this is the step that keeps I + hL >= 0 whatever state the flux is frozen at. */
static double explicit_rate(const fpk_fv *s) { return fv_op_max_diag_bound(&s->op); }

static int step_explicit_euler(fpk_fv *s, double t, double h) {
  limit_at(s, s->p);
  int rc = ensure_L(s, t);
  if (rc) return rc;
  if (!s->autonomous) {
    const double md = explicit_rate(s);
    if (md > 0.0 && h > 1.0 / md)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "fv explicit-euler: step %g at t = %g exceeds the largest stable, "
                           "positivity-preserving step 1/max|L_ii| = %.6g",
                           h, t, 1.0 / md);
  }
  fpk_fv_op_apply(&s->op, s->p, s->w1);
  const size_t n = s->op.n;
  for (size_t i = 0; i < n; i++) s->p[i] += h * s->w1[i];
  return FPK_SUCCESS;
}

/* ---- The split solver's steppers: Douglas delta form ------------------------------------------
 * Crank–Nicolson and TR-BDF2 solve each implicit stage (I - κ L) x = r for the increment over a
 * predictor y,
 *   (I - κ L_1) ... (I - κ L_d) (x - y) = r - y + κ L y         (exact: I - κL on the left),
 * with y the latest known state (Douglas & Rachford 1956; Hundsdorfer & Verwer 2003, §IV.3).
 * The right-hand side vanishes at a state with L y = 0 and r = y, so the discrete Gibbs density
 * stays an exact fixed point; every factor has 1ᵀ(I - κ L_a) = 1ᵀ (zero column sums of L_a), so
 * 1ᵀx = 1ᵀr as with the exact solve; the splitting error is κ² (Σ_{a<b} L_a L_b + ...)(x - y) =
 * O(h³) per step since x - y = O(h): CN and TR-BDF2 stay second order (docs/fv-scheme.md). L y
 * is formed from the face coefficients inside the solver's parallel region
 * (fv_linsolve_split_stage). Implicit Euler takes the plain factorised step instead
 * (step_implicit_euler says why). */

/* One delta-form stage of the split solver: w = M⁻¹ (α L x + β z), p += w, with κ the implicit
 * weight of the current factorisation M = Π_a (I − κ L_a). Without cross-diffusion it is
 * fv_linsolve_split_stage. The mixed-derivative part L_x of L has no line structure, so it stays
 * explicit (it is in L x but not in M), and one Craig–Sneyd correction restores second order
 * (Craig & Sneyd 1988; in 't Hout & Welfert, Appl. Numer. Math. 57 (2007) 19–35, scheme CS with
 * θ = ½): with r = α L x + β z,
 *   w₁ = M⁻¹ r,   w = M⁻¹ (r + κ L_x w₁).
 * The exact stage solves (I − κL) w = r, i.e. M w = r + κ L_x w + O(κ²) w; the correction makes
 * the error M⁻¹κL_x (w₁ − w) = O(κ² w) = O(h³) per step, so CN and TR-BDF2 stay second order
 * (measured in tests/test_fv_noise.c). 1ᵀL_x = 0 and 1ᵀM = 1ᵀ keep the mass; L y = 0 with r = 0
 * gives w = 0, so stationary states stay fixed points. */
/* The split solver's stability limit for the explicit second-order upwind correction along a
 * zero-diffusion axis: κ max|v|/h <= FPK_FV_UPWIND2_KAPPA_NU (fv_internal.h; measured on the
 * harmonic Kramers equation, docs/fv-scheme.md). c: the stepper's implicit coefficient (κ = c dt). */
static int upwind2_split_check(const fpk_fv *s, int split, double c, double dt, fpk_error *err) {
  if (!split || !s->op.upwind2 || c * dt * s->op.upwind2_rate <= FPK_FV_UPWIND2_KAPPA_NU)
    return FPK_SUCCESS;
  const double limit = FPK_FV_UPWIND2_KAPPA_NU / (c * s->op.upwind2_rate);
  return fpk_error_set(err, FPK_EINVAL,
                       "fv %s with the split solver: dt = %g exceeds the stability limit %.6g of "
                       "the explicit second-order upwind transport along the axis without "
                       "diffusion (dt max|v|/h <= %g, max|v|/h = %.6g); use dt <= %.6g, the "
                       "direct solver, or implicit-euler",
                       s->T->pub.name, dt, limit, FPK_FV_UPWIND2_KAPPA_NU / c,
                       s->op.upwind2_rate, limit);
}

static int split_stage(fpk_fv *s, double kappa, double alpha, const double *x, double beta,
                       const double *z, double *w, double *p) {
  if (s->op.upwind2 && kappa * s->op.upwind2_rate > FPK_FV_UPWIND2_KAPPA_NU * (1.0 + 1e-12))
    return upwind2_split_check(s, 1, s->T->c, kappa / s->T->c, &s->err); /* a re-assembly */
  if (!s->op.cross)
    return fv_linsolve_split_stage(s->ls, &s->op, alpha, x, beta, z, w, p, &s->err);
  const size_t n = s->op.n;
  if (!s->c1 && !(s->c1 = malloc(n * sizeof *s->c1)))
    return fpk_error_set(&s->err, FPK_ENOMEM, "fv: out of memory for %zu cells", n);
  if (!s->c2 && !(s->c2 = malloc(n * sizeof *s->c2)))
    return fpk_error_set(&s->err, FPK_ENOMEM, "fv: out of memory for %zu cells", n);
  double *r = s->c1, *w1 = s->c2;
  fv_op_apply_lines(&s->op, alpha, x, beta, z, r); /* r = α L x + β z (L with its cross part) */
  int rc = fpk_linsolve_solve(s->ls, r, w1, &s->err);
  if (rc) return rc;
  fv_op_apply_cross(&s->op, kappa, w1, r); /* r += κ L_x w₁ */
  if ((rc = fpk_linsolve_solve(s->ls, r, w, &s->err))) return rc;
  for (size_t i = 0; i < n; i++) p[i] += w[i];
  return FPK_SUCCESS;
}

/* A trapezoidal stage r = p + κ L(t0) p, (I - κ L(t1)) x = r in delta form with the predictor p:
 * w = M⁻¹ (κ L(t0) p + κ L(t1) p), p += w (tmp: scratch, not w). An autonomous model takes one product times 2κ
 * (exactly κ Lp + κ Lp), formed inside the solver's parallel region. */
static int split_trapezoid_stage(fpk_fv *s, double t0, double t1, double kappa, double *w,
                                 double *tmp) {
  limit_at(s, s->p);
  int rc = ensure_L(s, t0);
  if (rc) return rc;
  if (s->autonomous) {
    if ((rc = ensure_factor(s, t1, kappa))) return rc;
    return split_stage(s, kappa, 2.0 * kappa, s->p, 0.0, NULL, w, s->p);
  }
  fv_op_apply_lines(&s->op, kappa, s->p, 0.0, NULL, tmp); /* κ L(t0) p */
  if ((rc = ensure_factor(s, t1, kappa))) return rc;      /* L(t1) */
  return split_stage(s, kappa, kappa, s->p, 1.0, tmp, w, s->p);
}

/* Split implicit Euler. The Lie-split step x = M⁻¹ p (M = Π_a (I - h L_a)) has the fixed point
 * L x = h Σ_{a<b} L_a L_b x + ..., not L x = 0: with a non-symmetric drift (a circulating
 * stationary current) its stationary state is wrong by O(h ‖L_a L_b‖ / ‖L‖), which is O(1) at
 * the large steps implicit Euler is taken for (tests/defects/perf/01: FV vs exact L1 1.6 against
 * the exact step's 0.03 on a rotating OU at h = 1, exit 0). So the split step is corrected to the
 * exact implicit-Euler step (I - h L) x = p by defect correction with M as the preconditioner
 * (approximate factorisation as an iteration, Hundsdorfer & Verwer 2003, §IV.3):
 *   x ← x + M⁻¹ (p - (I - h L) x) = x + M⁻¹ (h L x + (p - x)),
 * one delta-form stage per sweep (fv_linsolve_split_stage); the iteration matrix is
 * M⁻¹ h² Σ L_a L_b (+ higher products in 3D), small for small h (flagship OU, h = 5e-3: 3 sweeps
 * to 1e-13). The sweeps stop when the correction is below FV_SPLIT_IE_TOL of the density (L1).
 * When the observed contraction cannot reach it within FV_SPLIT_IE_SWEEPS (large h: the
 * iteration matrix tends to I as h → ∞; strong rotation), the step is taken with the exact solver
 * instead (UMFPACK, s->exact, factored once per step size like the split one). Either way the
 * result is the exact implicit-Euler step to FV_SPLIT_IE_TOL: its stationary states, positivity
 * for any h and first order. The choice is made per step from the step's own data, so an
 * interrupted and restored run takes the same path (bitwise), and so does any thread count. */
enum { FV_SPLIT_IE_SWEEPS = 40 };
static const double FV_SPLIT_IE_TOL = 1e-13;

static double l1_norm(const double *x, size_t n) {
  double a = 0.0;
  for (size_t i = 0; i < n; i++) a += fabs(x[i]);
  return a;
}

/* x = (I - h L)⁻¹ b (L = L(t + h), assembled by the caller) with the direct solver kept beside
 * the split one. */
static int exact_implicit_euler(fpk_fv *s, double h, const double *b, double *x) {
  int rc;
  if (!s->exact) {
    if (fv_op_add_csc(&s->op, &s->err) || !(s->exact = fpk_linsolve_alloc(&s->op, &s->err)))
      return fpk_error_prefix(&s->err, "fv implicit-euler: the exact solve for a step the split "
                                       "solver cannot correct: ");
  }
  /* a limited transport changed L since the last step: refactor */
  if ((rc = fpk_linsolve_prepare(s->exact, &s->op, h, !s->autonomous || s->op.limited, &s->err)))
    return rc;
  return fpk_linsolve_solve(s->exact, b, x, &s->err);
}

static int split_implicit_euler(fpk_fv *s, double h) {
  const size_t n = s->op.n;
  double *p_old = s->w1, *z = s->w2;
  if (!s->w3 && !(s->w3 = malloc(n * sizeof *s->w3)))
    return fpk_error_set(&s->err, FPK_ENOMEM, "fv implicit-euler: out of memory for %zu cells", n);
  memcpy(p_old, s->p, n * sizeof *p_old);
  int rc = fpk_linsolve_solve(s->ls, s->p, s->p, &s->err); /* x = M⁻¹ p, the Lie-split step */
  if (rc) return rc;
  double prev = INFINITY;
  for (int k = 0; k < FV_SPLIT_IE_SWEEPS; k++) {
    for (size_t i = 0; i < n; i++) z[i] = p_old[i] - s->p[i];
    if ((rc = fv_linsolve_split_stage(s->ls, &s->op, h, s->p, 1.0, z, s->w3, s->p, &s->err)))
      return rc;
    const double corr = l1_norm(s->w3, n), goal = FV_SPLIT_IE_TOL * l1_norm(s->p, n);
    if (corr <= goal) return FPK_SUCCESS;
    /* the sweeps still needed at the contraction just seen */
    const double ratio = corr / prev;
    if (!isfinite(corr) || (k > 0 && (!(ratio < 0.9) ||
                                      log(goal / corr) / log(ratio) > FV_SPLIT_IE_SWEEPS - 1 - k)))
      break;
    prev = corr;
  }
  return exact_implicit_euler(s, h, p_old, s->p);
}

static int step_implicit_euler(fpk_fv *s, double t, double h) {
  limit_at(s, s->p);
  int rc = ensure_factor(s, t + h, h);
  if (rc) return rc;
  if (s->split) {
    /* The Lie-split step p' = (I - h L_d)^{-1} ... (I - h L_1)^{-1} p (a product of inverses
     * of M-matrices, non-negative for every h), corrected to the exact implicit-Euler step
     * (split_implicit_euler says why and how). */
    return split_implicit_euler(s, h);
  }
  memcpy(s->w1, s->p, s->op.n * sizeof *s->w1);
  return fpk_linsolve_solve(s->ls, s->w1, s->p, &s->err);
}

static int step_crank_nicolson(fpk_fv *s, double t, double h) {
  const size_t n = s->op.n;
  int rc;
  if (s->split) {
    /* Douglas θ = ½ (Hundsdorfer & Verwer §IV.3.2): (Π_a (I - h/2 L_a)) (p' - p) =
     * h/2 L(t) p + h/2 L(t+h) p */
    return split_trapezoid_stage(s, t, t + h, 0.5 * h, s->w1, s->w2);
  }
  limit_at(s, s->p);
  if ((rc = ensure_L(s, t))) return rc;
  fpk_fv_op_apply(&s->op, s->p, s->w1);
  for (size_t i = 0; i < n; i++) s->w1[i] = s->p[i] + 0.5 * h * s->w1[i];
  if ((rc = ensure_factor(s, t + h, 0.5 * h))) return rc;
  return fpk_linsolve_solve(s->ls, s->w1, s->p, &s->err);
}

static int step_tr_bdf2(fpk_fv *s, double t, double h) {
  const double g = TRBDF2_GAMMA, c = 0.5 * g * h;
  const double a = 1.0 / (g * (2.0 - g)), b = (1.0 - g) * (1.0 - g) / (g * (2.0 - g));
  const size_t n = s->op.n;
  int rc;
  if (s->split) {
    /* trapezoidal stage, predictor p: δ = M⁻¹ (c L(t) p + c L(t+γh) p), p_γ = p + δ */
    double *w1 = s->w1, *d = s->w2, *p = s->p;
    if ((rc = split_trapezoid_stage(s, t, t + g * h, c, d, w1))) return rc; /* d = δ, p = p_γ */
    /* BDF2 stage, predictor p_γ: r - p_γ + c L p_γ with r = a p_γ - b p_old and a - 1 = b
     * (a - b = 1) is b (p_γ - p_old) + c L p_γ = b δ + c L(t+h) p_γ */
    limit_at(s, p); /* the limited transport frozen at p_γ */
    if ((rc = ensure_factor(s, t + h, c))) return rc;
    return split_stage(s, c, c, p, b, d, w1, p);
  }
  limit_at(s, s->p);
  if ((rc = ensure_L(s, t))) return rc;
  /* trapezoidal stage to t + γh */
  fpk_fv_op_apply(&s->op, s->p, s->w1);
  for (size_t i = 0; i < n; i++) s->w1[i] = s->p[i] + c * s->w1[i];
  if ((rc = ensure_factor(s, t + g * h, c))) return rc;
  if ((rc = fpk_linsolve_solve(s->ls, s->w1, s->w2, &s->err))) return rc;
  /* BDF2 stage to t + h; (1-γ)/(2-γ) h = c */
  for (size_t i = 0; i < n; i++) s->w1[i] = a * s->w2[i] - b * s->p[i];
  limit_at(s, s->w2); /* the limited transport frozen at p_γ */
  if ((rc = ensure_factor(s, t + h, c))) return rc;
  return fpk_linsolve_solve(s->ls, s->w1, s->p, &s->err);
}

static const stepper_impl explicit_euler_impl = {{"explicit-euler", 1, 0}, step_explicit_euler, 0};
static const stepper_impl implicit_euler_impl = {{"implicit-euler", 1, 1}, step_implicit_euler, 1};
static const stepper_impl crank_nicolson_impl = {{"crank-nicolson", 2, 1}, step_crank_nicolson,
                                                 0.5};
static const stepper_impl tr_bdf2_impl = {{"tr-bdf2", 2, 1}, step_tr_bdf2,
                                          0.29289321881345247560 /* γ/2 */};

const fpk_fv_stepper_type *fpk_fv_explicit_euler = &explicit_euler_impl.pub;
const fpk_fv_stepper_type *fpk_fv_implicit_euler = &implicit_euler_impl.pub;
const fpk_fv_stepper_type *fpk_fv_crank_nicolson = &crank_nicolson_impl.pub;
const fpk_fv_stepper_type *fpk_fv_tr_bdf2 = &tr_bdf2_impl.pub;

const fpk_fv_stepper_type *const fpk_fv_steppers[] = {
    &explicit_euler_impl.pub, &implicit_euler_impl.pub, &crank_nicolson_impl.pub,
    &tr_bdf2_impl.pub, NULL};

const fpk_fv_stepper_type *fpk_fv_stepper_lookup(const char *name) {
  if (!name) return NULL;
  for (size_t k = 0; fpk_fv_steppers[k]; k++)
    if (strcmp(fpk_fv_steppers[k]->name, name) == 0) return fpk_fv_steppers[k];
  return NULL;
}

static const stepper_impl *impl_of(const fpk_fv_stepper_type *T) {
  for (size_t k = 0; fpk_fv_steppers[k]; k++)
    if (fpk_fv_steppers[k] == T) return (const stepper_impl *)T;
  return NULL;
}

static int check_grid_model(const fpk_grid *grid, const fpk_model *model, fpk_error *err) {
  if (!grid) return fpk_error_set(err, FPK_EINVAL, "fv: grid is NULL");
  if (!model) return fpk_error_set(err, FPK_EINVAL, "fv: model is NULL");
  if (!model->drift || (!model->noise && !model->noise_matrix))
    return fpk_error_set(err, FPK_EINVAL, "fv: model %s lacks a drift or noise callback",
                         model->name ? model->name : "(unnamed)");
  if (grid->dim < 1 || grid->dim > FPK_MAX_DIM || grid->size == 0)
    return fpk_error_set(err, FPK_EINVAL, "fv: grid is not initialised (dim %zu)", grid->dim);
  if (model->dim != grid->dim)
    return fpk_error_set(err, FPK_EINVAL,
                         "fv: model %s has dimension %zu but the grid has dimension %zu",
                         model->name ? model->name : "(unnamed)", model->dim, grid->dim);
  return FPK_SUCCESS;
}

/* The operator of a solver: the face arrays, the first assembly (at t; it decides the
 * cross-diffusion and zero-diffusion axes, with the given transport), and the matrix (CSC) for
 * explicit Euler and 1D (Thomas on its entries; the direct solver adds it when chosen; the split
 * solver works on the face arrays alone). Autonomous models release the batch buffers. */
static int build_op(fpk_fv_op *op, const fpk_grid *grid, const fpk_model *model,
                    const stepper_impl *impl, fpk_fv_transport transport, double t,
                    fpk_error *err) {
  int rc = fv_op_init_faces(op, grid, err);
  if (rc) return rc;
  op->transport = (int)transport;
  if ((rc = fpk_fv_op_assemble(op, model, t, err))) {
    fpk_error_prefix(err, "fv: assembling the operator at t = %g: ", t);
  } else if (!impl->pub.implicit || grid->dim == 1) {
    rc = fv_op_add_csc(op, err);
  }
  if (rc) {
    fpk_fv_op_free(op);
    return rc;
  }
  if (model->flags & FPK_MODEL_AUTONOMOUS) fv_op_release_scratch(op); /* assembled once */
  return FPK_SUCCESS;
}

/* Explicit Euler's bound dt <= 1/max|L_ii| (with α = 2 on a limited axis: explicit_rate). */
static int explicit_dt_check(fpk_fv *s, fpk_error *err) {
  const double md = explicit_rate(s);
  if (md > 0.0 && s->dt > 1.0 / md)
    return fpk_error_set(err, FPK_EINVAL,
                         "fv explicit-euler: dt = %g exceeds the largest stable, "
                         "positivity-preserving step 1/max|L_ii| = %.6g (largest allowed dt "
                         "%.6g%s); use a smaller dt or an implicit stepper",
                         s->dt, 1.0 / md, 1.0 / md,
                         s->op.limited ? ", with the limited transport's rate doubled" : "");
  return FPK_SUCCESS;
}

void fpk_fv_free(fpk_fv *s) {
  if (!s) return;
  fpk_linsolve_free(s->ls);
  fpk_linsolve_free(s->exact);
  fpk_fv_op_free(&s->op);
  free(s->p);
  free(s->w1);
  free(s->w2);
  free(s->w3);
  free(s->c1);
  free(s->c2);
  free(s);
}

fpk_fv *fpk_fv_alloc(const fpk_grid *grid, const fpk_model *model, const fpk_fv_stepper_type *T,
                     double dt, fpk_error *err) {
  if (check_grid_model(grid, model, err)) return NULL;
  if (!T) {
    fpk_error_set(err, FPK_EINVAL, "fv: stepper is NULL");
    return NULL;
  }
  const stepper_impl *impl = impl_of(T);
  if (!impl) {
    fpk_error_set(err, FPK_EINVAL, "fv: unknown stepper %s (not one of fpk_fv_steppers)",
                  T->name ? T->name : "(unnamed)");
    return NULL;
  }
  if (!(dt > 0.0) || !isfinite(dt)) {
    fpk_error_set(err, FPK_EINVAL, "fv: time step dt = %g, must be positive and finite", dt);
    return NULL;
  }
  fpk_fv *s = calloc(1, sizeof *s);
  if (!s) {
    fpk_error_set(err, FPK_ENOMEM, "fv: out of memory");
    return NULL;
  }
  s->grid = *grid;
  s->model = model;
  s->T = impl;
  s->autonomous = (model->flags & FPK_MODEL_AUTONOMOUS) != 0;
  s->dt = dt;
  fpk_density_guard_init(&s->guard);
  for (size_t a = 0; a < grid->dim; a++) s->absorbing |= grid->bc[a] == FPK_BC_ABSORBING;
  const size_t n = grid->size;
  int rc = build_op(&s->op, grid, model, impl, FPK_FV_TRANSPORT_LIMITED, 0.0, err);
  if (rc) {
    free(s);
    return NULL;
  }
  s->p = calloc(n, sizeof *s->p);
  s->w1 = malloc(n * sizeof *s->w1);
  s->w2 = malloc(n * sizeof *s->w2);
  if (!s->p || !s->w1 || !s->w2) {
    fpk_fv_free(s);
    fpk_error_set(err, FPK_ENOMEM, "fv: out of memory for %zu cells", n);
    return NULL;
  }
  if (!impl->pub.implicit) {
    if (explicit_dt_check(s, err)) {
      fpk_fv_free(s);
      return NULL;
    }
  } else {
    /* the default solver is split (fpkit/fv.h); 1D grids get the exact Thomas solve */
    s->ls = fv_linsolve_alloc_split(&s->op, err);
    if (!s->ls) {
      fpk_fv_free(s);
      return NULL;
    }
    s->split = fv_linsolve_is_split(s->ls);
    /* the split solver's limit on dt for a zero-diffusion axis is checked by each stage
     * (split_stage), not here: a caller may still pick the direct solver, which has none */
  }
  return s;
}

int fpk_fv_set_solver(fpk_fv *s, fpk_fv_solver solver) {
  if (!s) return FPK_EINVAL;
  if (solver != FPK_FV_SOLVER_DIRECT && solver != FPK_FV_SOLVER_SPLIT)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "fv: unknown solver %d (FPK_FV_SOLVER_DIRECT or FPK_FV_SOLVER_SPLIT)",
                         (int)solver);
  if (s->iv_n)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "fv: cannot change the solver while an interrupted evolve to t = %g is "
                         "pending",
                         s->iv_t1);
  if (!s->ls || s->grid.dim == 1 ||
      solver == (s->split ? FPK_FV_SOLVER_SPLIT : FPK_FV_SOLVER_DIRECT))
    return FPK_SUCCESS; /* explicit stepper (no solver), 1D (exact either way), or unchanged */
  /* implicit Euler corrects every split step to the exact one (or takes it with UMFPACK) */
  if (s->T != &implicit_euler_impl &&
      upwind2_split_check(s, solver == FPK_FV_SOLVER_SPLIT, s->T->c, s->dt, &s->err))
    return s->err.status;
  if (solver == FPK_FV_SOLVER_DIRECT && fv_op_add_csc(&s->op, &s->err))
    return fpk_error_prefix(&s->err, "fv: switching to the direct solver: ");
  fpk_linsolve *ls = solver == FPK_FV_SOLVER_SPLIT ? fv_linsolve_alloc_split(&s->op, &s->err)
                                                   : fpk_linsolve_alloc(&s->op, &s->err);
  if (!ls) return fpk_error_prefix(&s->err, "fv: switching the solver: ");
  fpk_linsolve_free(s->ls);
  s->ls = ls;
  s->split = fv_linsolve_is_split(ls);
  return FPK_SUCCESS;
}

static const char *const transport_names[] = {"limited", "linear", "upwind"}; /* enum order */

const char *fpk_fv_transport_name(fpk_fv_transport transport) {
  return (unsigned)transport < 3 ? transport_names[transport] : NULL;
}

int fpk_fv_transport_lookup(const char *name, fpk_fv_transport *transport) {
  for (int k = 0; name && k < 3; k++)
    if (strcmp(name, transport_names[k]) == 0) {
      if (transport) *transport = (fpk_fv_transport)k;
      return FPK_SUCCESS;
    }
  return FPK_EINVAL;
}

fpk_fv_transport fpk_fv_get_transport(const fpk_fv *s) {
  return s ? s->transport : FPK_FV_TRANSPORT_LIMITED;
}

/* Rebuilds the operator with the new transport (the first assembly decides the pattern) and the
 * solver on it. */
int fpk_fv_set_transport(fpk_fv *s, fpk_fv_transport transport) {
  if (!s) return FPK_EINVAL;
  if (!fpk_fv_transport_name(transport))
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "fv: unknown transport %d (FPK_FV_TRANSPORT_LIMITED, _LINEAR or _UPWIND)",
                         (int)transport);
  if (s->iv_n)
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "fv: cannot change the transport while an interrupted evolve to t = %g "
                         "is pending",
                         s->iv_t1);
  if (transport == s->transport) return FPK_SUCCESS;
  fpk_fv_op op;
  int rc = build_op(&op, &s->grid, s->model, s->T, transport, s->t, &s->err);
  if (rc) return fpk_error_prefix(&s->err, "fv: transport %s: ", transport_names[transport]);
  if (s->ls && !s->split && (rc = fv_op_add_csc(&op, &s->err))) {
    fpk_fv_op_free(&op);
    return rc;
  }
  fpk_linsolve *ls = NULL;
  if (s->ls && !(ls = s->split ? fv_linsolve_alloc_split(&op, &s->err)
                               : fpk_linsolve_alloc(&op, &s->err))) {
    fpk_fv_op_free(&op);
    return fpk_error_prefix(&s->err, "fv: transport %s: ", transport_names[transport]);
  }
  fpk_fv_op old = s->op;
  s->op = op;
  if (!s->T->pub.implicit && (rc = explicit_dt_check(s, &s->err))) {
    fpk_linsolve_free(ls);
    fpk_fv_op_free(&s->op);
    s->op = old;
    return rc;
  }
  fpk_fv_op_free(&old);
  fpk_linsolve_free(s->ls);
  fpk_linsolve_free(s->exact);
  s->ls = ls;
  s->exact = NULL;
  s->transport = transport;
  s->lim_y = NULL;
  s->lim_dirty = 0;
  return FPK_SUCCESS;
}

const char *fpk_fv_solver_name(const fpk_fv *s) {
  if (!s) return NULL;
  if (!s->ls) return "none";
  return s->split ? "split" : "direct";
}

int fpk_fv_set_density(fpk_fv *s, double t, const double *p) {
  if (!s) return FPK_EINVAL;
  if (!p) return fpk_error_set(&s->err, FPK_EINVAL, "fv: density is NULL");
  if (!isfinite(t)) return fpk_error_set(&s->err, FPK_EINVAL, "fv: time %g is not finite", t);
  for (size_t i = 0; i < s->op.n; i++)
    if (!isfinite(p[i]))
      return fpk_error_set(&s->err, FPK_EINVAL, "fv: initial density is not finite at cell %zu",
                           i);
  memcpy(s->p, p, s->op.n * sizeof *s->p);
  s->t = t;
  s->iv_n = 0; /* a new start: no interrupted evolve */
  s->mass0 = s->mass_prev = fpk_grid_integral(&s->grid, s->p);
  return FPK_SUCCESS;
}

int fpk_fv_set_guard(fpk_fv *s, const fpk_density_guard *spec) {
  if (!s) return FPK_EINVAL;
  if (!spec || !(spec->mass_tol >= 0.0) || !(spec->negative_tol >= 0.0))
    return fpk_error_set(&s->err, FPK_EINVAL, "fv: guard tolerances must be >= 0");
  s->guard.mass_tol = spec->mass_tol;
  s->guard.negative_tol = spec->negative_tol;
  return FPK_SUCCESS;
}

/* Why a density may have failed its guard, for the message: the scheme's positivity bound. */
static void guard_cause(fpk_fv *s) {
  if (s->op.upwind2 && !s->op.mixed) {
    /* the second-order upwind transport along a zero-diffusion axis (docs/fv-scheme.md) */
    fpk_guard_cause(&s->err,
                    "the second-order upwind flux along the axis without diffusion (axis "
                    "%d): %s transports with a linear second-order (Beam–Warming) flux, which "
                    "is not positivity-preserving; the undershoot is a spatial error where the "
                    "density is steep along that axis: refine the grid there, start from a "
                    "smoother density, or loosen the guard's negative_tol (dt = %g)",
                    __builtin_ctz(s->op.upwind2), s->T->pub.name, s->dt);
    return;
  }
  if (s->op.mixed) {
    /* The mixed-derivative stencil is monotone only under a bound on |D_ab| (docs/fv-scheme.md,
     * "Positivity"): the cause named is the cross-diffusion. */
    const size_t d = s->grid.dim, np = d * (d - 1) / 2;
    double dmax = 0.0;
    for (size_t k = 0; k < np * s->op.n; k++) dmax = fmax(dmax, fabs(s->op.Dx[k]));
    fpk_guard_cause(&s->err,
                    "the cross-diffusion of the noise matrix (off-diagonal D = ½σσᵀ, max |D_ab| "
                    "= %.3g): %s discretises the mixed derivatives with the 7-point stencil "
                    "oriented by the sign of D_ab, which keeps densities non-negative only where "
                    "|D_ab|/(h_a h_b) stays below the axis coefficients (without drift: |D_ab| <= "
                    "min(D_aa h_b/h_a, D_bb h_a/h_b); a drift lowers the downstream ones); noise "
                    "more strongly correlated than the cells allow breaks it; the undershoot is a spatial "
                    "error where the density is steep (a point-like start, a narrow ridge): "
                    "refine the grid, choose h_b/h_a between |D_ab|/D_aa and D_bb/|D_ab|, start "
                    "from a smoother density, or loosen the guard's negative_tol (dt = %g)",
                    dmax, s->T->pub.name, s->dt);
    return;
  }
  const double md = fpk_fv_op_max_diag(&s->op);
  const double limit = md > 0.0 ? 1.0 / md : INFINITY;
  if (s->T == &crank_nicolson_impl || s->T == &tr_bdf2_impl) {
    /* The explicit half of a trapezoidal step, I + c h L, is non-negative only for
     * c h max|L_ii| <= 1: h <= 2/max|L_ii| (CN), h <= 2/(γ max|L_ii|) (the TR stage of TR-BDF2,
     * whose BDF2 stage has a negative weight and guarantees nothing). */
    const double c = s->T == &crank_nicolson_impl ? 0.5 : 0.5 * TRBDF2_GAMMA;
    if (s->split && s->grid.dim == 2) {
      /* split, 2D: the step is M⁻¹ Π_a (I + c h L_a), non-negative for c h max|(L_a)_ii| <= 1 */
      const double ma = fv_op_max_axis_diag(&s->op), la = ma > 0.0 ? 1.0 / ma : INFINITY;
      fpk_guard_cause(&s->err,
               "%s with the split solver keeps densities non-negative only for dt <= %.3g here "
               "(1/max_a max|(L_a)_ii| = %.3g; dt = %g): a very stiff drift or a large step; use "
               "implicit-euler, which is positivity-preserving for any dt, or a smaller dt",
               s->T->pub.name, la / c, la, s->dt);
      return;
    }
    fpk_guard_cause(&s->err,
             "%s keeps densities non-negative only for dt <= %.3g here (1/max|L_ii| = %.3g; dt = "
             "%g): a very stiff drift or a large step; use implicit-euler, which is "
             "positivity-preserving for any dt, or a smaller dt",
             s->T->pub.name, limit / c, limit, s->dt);
  } else if (s->T == &explicit_euler_impl) {
    const double mb = explicit_rate(s);
    fpk_guard_cause(&s->err, "explicit-euler needs dt <= 1/max|L_ii| = %.3g (dt = %g)",
                    mb > 0.0 ? 1.0 / mb : INFINITY, s->dt);
  } else {
    fpk_guard_cause(&s->err,
             "implicit-euler is positivity-preserving for any dt, so the model's coefficients "
             "are extreme on this grid (1/max|L_ii| = %.3g): check drift and noise",
             limit);
  }
}

int fpk_fv_evolve(fpk_fv *s, double t_target) {
  if (!s) return FPK_EINVAL;
  if (s->iv_n) {
    /* an interrupted evolve: continue its interval, with its steps */
    if (t_target != s->iv_t1)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "fv: an interrupted evolve to t = %.17g is pending (at t = %g): "
                           "evolve to that time first (asked for %.17g)",
                           s->iv_t1, s->t, t_target);
  } else {
    if (!isfinite(t_target) || t_target < s->t)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "fv: evolve to t = %g, before the current time %g (or not finite)",
                           t_target, s->t);
    int rc = fpk_time_steps(s->t, t_target, s->dt, &s->iv_n, &s->iv_h, &s->err);
    if (rc) return fpk_error_prefix(&s->err, "fv %s: ", s->T->pub.name);
    s->iv_t0 = s->t;
    s->iv_t1 = t_target;
    s->iv_i = 0;
  }
  const double t0 = s->iv_t0, h = s->iv_h;
  const size_t k = s->iv_n;
  int rc;
  for (size_t i = s->iv_i; i < k; i++) {
    const double t = t0 + (double)i * h;
    if (s->poll && s->poll(s->poll_user)) {
      /* a safe point: the state is p at t, i steps of the interval done */
      s->iv_i = i;
      s->t = t;
      return fpk_error_set(&s->err, FPK_EINTR,
                           "fv %s: interrupted at t = %g (step %zu of %zu to t = %g)",
                           s->T->pub.name, t, i, k, s->iv_t1);
    }
    rc = s->T->step(s, t, h);
    if (rc) {
      s->t = t;
      s->iv_n = 0;
      fpk_error_prefix(&s->err, "fv %s, step %zu at t = %g: ", s->T->pub.name, s->steps, t);
      return rc;
    }
    s->steps++;
    if (s->progress) s->progress(s->progress_user, i + 1, k);
  }
  s->iv_n = 0;
  s->t = t_target;
  /* The output guard (fpkit/guard.h): finite, non-negative to rounding, mass kept (or, with an
   * absorbing wall, not grown). */
  fpk_density_guard spec = s->guard;
  const double mass = fpk_grid_integral(&s->grid, s->p);
  if (s->absorbing) {
    spec.mass = NAN;
    spec.mass_max = s->mass_prev;
  } else {
    spec.mass = s->mass0;
  }
  char method[96];
  snprintf(method, sizeof method, "fv %s (%zu steps of %g)", s->T->pub.name, k, h);
  if ((rc = fpk_guard_density(&s->grid, s->p, &spec, method, s->t, &s->err))) {
    guard_cause(s);
    return rc;
  }
  s->mass_prev = mass;
  return FPK_SUCCESS;
}

int fpk_fv_set_progress(fpk_fv *s, fpk_progress_fn progress, void *user) {
  if (!s) return FPK_EINVAL;
  s->progress = progress;
  s->progress_user = user;
  return FPK_SUCCESS;
}

int fpk_fv_set_interrupt(fpk_fv *s, fpk_interrupt_fn poll, void *user) {
  if (!s) return FPK_EINVAL;
  s->poll = poll;
  s->poll_user = user;
  return FPK_SUCCESS;
}

_Static_assert(2 * FPK_LINSOLVE_SLOTS <= FPK_FV_STATE_CACHE, "FPK_FV_STATE_CACHE");

/* The factorisation cache matters only where it is reused: implicit steppers of autonomous
 * models (the others refactor at every stage). */
static int cache_kept(const fpk_fv *s) { return s->ls && s->autonomous && !s->op.limited; }

int fpk_fv_get_state(const fpk_fv *s, fpk_fv_state *st) {
  if (!s || !st) return FPK_EINVAL;
  *st = (fpk_fv_state){.t = s->t, .steps = s->steps, .mass0 = s->mass0,
                       .mass_prev = s->mass_prev, .p = s->p};
  if (s->iv_n) {
    st->t0 = s->iv_t0, st->t1 = s->iv_t1, st->h = s->iv_h;
    st->n = s->iv_n, st->i = s->iv_i;
  }
  /* cache[k] = step key of slot k (0: empty), cache[SLOTS + k] = its recency */
  if (cache_kept(s)) fpk_linsolve_cache_get(s->ls, st->cache, st->cache + FPK_LINSOLVE_SLOTS);
  return FPK_SUCCESS;
}

int fpk_fv_restore(fpk_fv *s, const fpk_fv_state *st) {
  if (!s) return FPK_EINVAL;
  if (!st || !st->p) return fpk_error_set(&s->err, FPK_EINVAL, "fv restore: no state or density");
  if (!isfinite(st->t) || !isfinite(st->mass0) || !isfinite(st->mass_prev))
    return fpk_error_set(&s->err, FPK_EINVAL,
                         "fv restore: time %g or guard masses %g, %g not finite", st->t,
                         st->mass0, st->mass_prev);
  if ((double)st->steps > 1e18)
    return fpk_error_set(&s->err, FPK_EINVAL, "fv restore: step count %zu out of range",
                         st->steps);
  if (st->n && fpk_time_steps_position(st->t0, st->t1, s->dt, st->n, st->h, st->i, st->t,
                                        &s->err))
    return fpk_error_prefix(&s->err, "fv restore: ");
  for (size_t i = 0; i < s->op.n; i++)
    if (!isfinite(st->p[i]))
      return fpk_error_set(&s->err, FPK_EINVAL, "fv restore: density not finite at cell %zu", i);
  for (size_t k = cache_kept(s) ? 2 * FPK_LINSOLVE_SLOTS : 0; k < FPK_FV_STATE_CACHE; k++)
    if (st->cache[k] != 0.0)
      return fpk_error_set(&s->err, FPK_EINVAL,
                           "fv restore: a factorisation cache this solver does not keep (%s)",
                           s->ls ? "the model depends on time" : "explicit stepper");
  if (cache_kept(s)) {
    int rc = fpk_linsolve_cache_set(s->ls, &s->op, st->cache, st->cache + FPK_LINSOLVE_SLOTS,
                                    &s->err);
    if (rc) return fpk_error_prefix(&s->err, "fv restore: ");
  }
  memmove(s->p, st->p, s->op.n * sizeof *s->p);
  s->t = st->t;
  s->steps = st->steps;
  s->mass0 = st->mass0;
  s->mass_prev = st->mass_prev;
  s->iv_n = st->n;
  s->iv_i = st->i;
  s->iv_t0 = st->n ? st->t0 : 0.0;
  s->iv_t1 = st->n ? st->t1 : 0.0;
  s->iv_h = st->n ? st->h : 0.0;
  return FPK_SUCCESS;
}

const double *fpk_fv_density(const fpk_fv *s) { return s ? s->p : NULL; }
double fpk_fv_time(const fpk_fv *s) { return s ? s->t : NAN; }
double fpk_fv_mass(const fpk_fv *s) { return s ? fpk_grid_integral(&s->grid, s->p) : NAN; }
size_t fpk_fv_steps_taken(const fpk_fv *s) { return s ? s->steps : 0; }
const char *fpk_fv_errmsg(const fpk_fv *s) { return s ? s->err.msg : "fv: NULL solver"; }
const fpk_fv_stepper_type *fpk_fv_stepper(const fpk_fv *s) { return s ? &s->T->pub : NULL; }
size_t fpk_fv_factorizations(const fpk_fv *s) { return s ? fpk_linsolve_factorizations(s->ls) : 0; }

double fpk_fv_min_density(const fpk_fv *s) {
  if (!s) return NAN;
  double m = INFINITY;
  for (size_t i = 0; i < s->op.n; i++)
    if (s->p[i] < m) m = s->p[i];
  return m;
}

double fpk_fv_explicit_dt_max(const fpk_fv *s) {
  if (!s) return NAN;
  /* The solver owns its operator; re-assembling it at the current time (non-autonomous models
   * only) changes a cache, not the observable state, so the const is cast away here. */
  fpk_fv *m = (fpk_fv *)s;
  if (ensure_L(m, m->t)) return NAN;
  const double md = explicit_rate(m);
  return md > 0.0 ? 1.0 / md : INFINITY;
}

/* Stationary density: solve L p = 0 with the first equation replaced by the mass constraint
 * Σ p_i |cell| = 1. Since 1ᵀL = 0 the replaced row is a combination of the others, and the ones
 * row is not in the row space of L when the null space is spanned by a positive vector (L
 * irreducible), so the bordered matrix is non-singular. Solved once with UMFPACK. */
int fpk_fv_stationary(const fpk_grid *grid, const fpk_model *model, double *p, fpk_error *err) {
  int rc = check_grid_model(grid, model, err);
  if (rc) return rc;
  if (!p) return fpk_error_set(err, FPK_EINVAL, "fv stationary: output array is NULL");
  for (size_t a = 0; a < grid->dim; a++)
    if (grid->bc[a] == FPK_BC_ABSORBING)
      return fpk_error_set(err, FPK_EINVAL,
                           "fv stationary: axis %zu is absorbing; a stationary density needs "
                           "reflecting or periodic boundaries (with absorption the only steady "
                           "state is p = 0)",
                           a);
  if (!(model->flags & FPK_MODEL_AUTONOMOUS))
    return fpk_error_set(err, FPK_EINVAL,
                         "fv stationary: model %s is not autonomous (time-dependent coefficients "
                         "have no stationary density in general)",
                         model->name ? model->name : "(unnamed)");
  fpk_fv_op op;
  if ((rc = fv_op_init_faces(&op, grid, err))) return rc;
  /* L p = 0 is a linear problem: an axis without diffusion takes the linear second-order upwind
   * flux here (the limited one is non-linear; docs/fv-scheme.md, "Zero diffusion") */
  op.transport = FPK_FV_TRANSPORT_LINEAR;
  if ((rc = fpk_fv_op_assemble(&op, model, 0.0, err)) || (rc = fv_op_add_csc(&op, err))) {
    fpk_fv_op_free(&op);
    return rc;
  }
  const size_t n = op.n;
  /* Bordered matrix: every column gets row 0 (= cell volume) first, then its other entries. */
  const size_t nnz = op.nnz + n;
  int *Bp = malloc((n + 1) * sizeof *Bp), *Bi = malloc(nnz * sizeof *Bi);
  double *Bx = malloc(nnz * sizeof *Bx), *rhs = calloc(n, sizeof *rhs);
  void *sym = NULL, *num = NULL;
  double control[UMFPACK_CONTROL], info[UMFPACK_INFO];
  if (!Bp || !Bi || !Bx || !rhs) {
    rc = fpk_error_set(err, FPK_ENOMEM, "fv stationary: out of memory for %zu cells", n);
    goto done;
  }
  size_t k = 0;
  for (size_t j = 0; j < n; j++) {
    Bp[j] = (int)k;
    Bi[k] = 0;
    Bx[k++] = grid->cell_volume;
    for (int q = op.Ap[j]; q < op.Ap[j + 1]; q++) {
      if (op.Ai[q] == 0) continue;
      Bi[k] = op.Ai[q];
      Bx[k++] = op.Ax[q];
    }
  }
  Bp[n] = (int)k;
  rhs[0] = 1.0;
  umfpack_di_defaults(control);
  int st = umfpack_di_symbolic((int)n, (int)n, Bp, Bi, Bx, &sym, control, info);
  if (st == UMFPACK_OK) st = umfpack_di_numeric(Bp, Bi, Bx, sym, &num, control, info);
  if (st == UMFPACK_OK) st = umfpack_di_solve(UMFPACK_A, Bp, Bi, Bx, p, rhs, num, control, info);
  if (st != UMFPACK_OK) {
    rc = fpk_error_set(err, FPK_ENUMERIC,
                       "fv stationary: UMFPACK failed on the bordered system (status %d%s)", st,
                       st == UMFPACK_WARNING_singular_matrix
                           ? ": singular, the operator is reducible (e.g. zero noise)"
                           : "");
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    if (!isfinite(p[i])) {
      rc = fpk_error_set(err, FPK_ENUMERIC, "fv stationary: non-finite density at cell %zu", i);
      goto done;
    }
  /* One more normalisation removes the round-off of the solve from the mass. */
  {
    const double mass = fpk_grid_integral(grid, p);
    for (size_t i = 0; i < n; i++) p[i] /= mass;
  }
  rc = FPK_SUCCESS;
done:
  if (num) umfpack_di_free_numeric(&num);
  if (sym) umfpack_di_free_symbolic(&sym);
  free(Bp);
  free(Bi);
  free(Bx);
  free(rhs);
  fpk_fv_op_free(&op);
  return rc;
}
