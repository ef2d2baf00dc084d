/* fpkit/fv.h — conservative finite-volume Fokker–Planck solver.
 *
 *   ∂p/∂t = -∇·J,  J_a = b_a p - Σ_b ∂_b(D_ab p),  D = ½ σσᵀ
 *
 * σ is the model's noise, diagonal or a d × m matrix (fpk_model_diffusion). Off-diagonal D_ab
 * (cross-diffusion) are discretised with the 7-point stencil oriented by the sign of D_ab:
 * second order, exact in the direct solver's matrix, explicit with a Craig–Sneyd correction in
 * the split solver, and positivity-preserving (an M-matrix) only where |D_ab| <=
 * min(D_aa h_b/h_a, D_bb h_a/h_b) (the output guard names the cross-diffusion). An axis with
 * D_aa = 0 on every face (the Kramers equation's x) is pure transport; by default
 * (fpk_fv_set_transport) it gets the van Leer-limited MUSCL flux, written as upwind face
 * coefficients α|v|/h with α ∈ [0, 2] frozen at each stage's predictor: L stays a Metzler matrix
 * (implicit Euler positive for every dt, explicit Euler under its bound), second order away from
 * extrema. The linear second-order upwind (Beam–Warming) flux is kept for comparison: not
 * positivity-preserving (the guard names it), and with the split solver Crank–Nicolson and
 * TR-BDF2 need dt max|v|/h <= 8 and 13.7 (refused above, naming dt and the limit). Without
 * cross-diffusion beyond that bound and the linear flux, L is a Metzler matrix and
 * implicit Euler keeps densities non-negative for every dt.
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

/* ---- Linear solver of the implicit steppers (docs/fv-scheme.md) ----------------------------
 * DIRECT: the exact solve of (I - c h L) x = r: Thomas in 1D, UMFPACK (sparse LU; memory and time
 *   grow faster than the number of cells, serial) in 2D/3D.
 * SPLIT (the default): in 2D/3D the Douglas / approximate-factorisation splitting along the
 *   axes, L = Σ_a L_a, each stage solved in delta form with one tridiagonal solve per grid line
 *   and axis: O(N) time and memory, threaded over lines (OpenMP; results bitwise the same for any
 *   number of threads). It keeps the steppers' orders (implicit Euler 1, Crank–Nicolson and
 *   TR-BDF2 2), mass to round-off, the discrete Gibbs density of a gradient drift as an exact
 *   steady state, and implicit Euler's positivity for any dt; it adds a splitting error (O(h²)
 *   per unit time for CN and TR-BDF2). Implicit Euler corrects each split step to the exact
 *   implicit-Euler step (defect correction with the split factors, to 1e-13 relative; steps
 *   where that does not contract fast enough, e.g. large dt with a rotating drift, take the
 *   exact UMFPACK solve instead): its result is the direct solver's to round-off. docs/fv-scheme.md gives the errors and the positivity
 *   bounds of CN. In 1D it is the exact solve.
 * Set before the first evolve (refused while an interrupted evolve is pending); a restored
 * checkpoint needs the solver of the saved run. Ignored by explicit Euler. */
typedef enum fpk_fv_solver { FPK_FV_SOLVER_DIRECT = 0, FPK_FV_SOLVER_SPLIT = 1 } fpk_fv_solver;
int fpk_fv_set_solver(fpk_fv *s, fpk_fv_solver solver);
/* The solver in use: "split", "direct" (1D grids: always; the exact Thomas solve), or "none"
 * (explicit Euler). For provenance. */
const char *fpk_fv_solver_name(const fpk_fv *s);

/* ---- Transport along axes without diffusion (docs/fv-scheme.md, "Zero diffusion") ----------
 * An axis a of a 2D/3D grid with n_a >= 3 whose D_aa is 0 on every face (a noise matrix with a
 * zero row: the Kramers equation's x) carries pure transport v p. Its face flux:
 * LIMITED (the default): first-order upwind plus the van Leer-limited MUSCL slope correction
 *   (LeVeque 2002, ch. 6; van Leer 1974; Sweby 1984), written as an upwind coefficient
 *   α_f ∈ [0, 2] of the upwind cell and frozen at the state a stage starts from (its predictor):
 *   every stage solves with a Metzler L, so implicit Euler keeps densities non-negative for any
 *   dt, Crank–Nicolson for dt <= 2/max|L_ii| (the bound it has without the axis), explicit Euler
 *   for dt <= 1/max|L_ii| with α = 2 (ν = dt|v|/h <= 1/2 on a pure-transport grid). The matrix
 *   changes with the density, so each stage refactors (the split solver: O(N); the direct
 *   solver: one UMFPACK numeric factorisation per stage). Order ≈ 2 in h away from extrema.
 * LINEAR: the linear second-order upwind (Beam–Warming) flux: second order, not positive; the
 *   split solver's explicit correction needs dt max|v|/h <= 8 (CN), 13.7 (TR-BDF2).
 * UPWIND: first-order upwind (the Scharfetter–Gummel limit alone): positive, first order.
 * fpk_fv_stationary always uses LINEAR (a linear null-vector problem).
 * Set before the first evolve (refused while an interrupted evolve is pending); no effect on
 * models without such an axis. */
typedef enum fpk_fv_transport {
  FPK_FV_TRANSPORT_LIMITED = 0,
  FPK_FV_TRANSPORT_LINEAR = 1,
  FPK_FV_TRANSPORT_UPWIND = 2
} fpk_fv_transport;
int fpk_fv_set_transport(fpk_fv *s, fpk_fv_transport transport);
/* "limited", "linear", "upwind" (NULL for another value), and back (FPK_EINVAL if unknown). */
const char *fpk_fv_transport_name(fpk_fv_transport transport);
int fpk_fv_transport_lookup(const char *name, fpk_fv_transport *transport);
/* The transport of s (FPK_FV_TRANSPORT_LIMITED unless set). */
fpk_fv_transport fpk_fv_get_transport(const fpk_fv *s);

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

/* ---- Checkpoints (docs/checkpoint.md) ------------------------------------------------------
 * An evolve can be interrupted between two time steps and continued later, in this object or in
 * a fresh one, with results bitwise identical to an uninterrupted evolve (same build):
 *
 *   fpk_fv_set_interrupt(s, poll, user);     // poll(user) is called before every step
 *   rc = fpk_fv_evolve(s, t1);               // FPK_EINTR: stopped at a step boundary
 *   fpk_fv_state st; fpk_fv_get_state(s, &st);   // save st (and st.p[0 .. grid->size-1])
 *   ...
 *   fpk_fv *r = fpk_fv_alloc(same grid, model, stepper, dt);  fpk_fv_set_guard(r, same);
 *   fpk_fv_restore(r, &st);                  // then fpk_fv_evolve(r, t1) finishes the interval
 *
 * An interrupted evolve keeps its interval: [t0, t1] split into n steps of h by fpk_time_steps,
 * i of them done, so the continuation takes the same steps at the same times t0 + j h (a fresh
 * split of [t0 + i h, t1] would change h and every bit after it). One-step schemes need nothing
 * else of the past: the density, the step position and the output guard's masses are the state,
 * with one cache — an implicit stepper keeps the factorisations of I − c h L and reuses one for a
 * step that differs from its own in the last bits (steps of different output intervals do), so
 * the restored solver must factor for exactly the steps the uninterrupted one holds (`cache`).
 * The operator itself is a function of the model, grid and time, rebuilt identically. */

#define FPK_FV_STATE_CACHE 8

/* The complete state at a step boundary. p points into the solver (valid until the next evolve,
 * restore or set) for fpk_fv_get_state, and is copied by fpk_fv_restore. */
typedef struct fpk_fv_state {
  double t;       /* current time */
  size_t steps;   /* steps taken since alloc (fpk_fv_steps_taken) */
  /* The interrupted evolve, when n > 0: interval [t0, t1] in n steps of h, i < n done, and
   * t == t0 + i h. n == 0: none is pending (the state is at an output time). */
  double t0, t1, h;
  size_t n, i;
  double mass0, mass_prev; /* output guard: the expected mass, the mass at the last output */
  const double *p;         /* grid->size values */
  /* The cached factorisations (their steps and order of use); opaque: save and give back. */
  double cache[FPK_FV_STATE_CACHE];
} fpk_fv_state;

/* poll (NULL: none) is called before every time step of fpk_fv_evolve; when it returns non-zero
 * the evolve returns FPK_EINTR at that step boundary, with the message naming the time, and a
 * later fpk_fv_evolve to the same target continues it (another target is FPK_EINVAL while an
 * interrupted evolve is pending). */
int fpk_fv_set_interrupt(fpk_fv *s, fpk_interrupt_fn poll, void *user);
/* progress (NULL: none) is called after every time step of fpk_fv_evolve with the steps done and
 * the steps of that evolve (fpkit/error.h, fpk_progress_fn); it changes no number. */
int fpk_fv_set_progress(fpk_fv *s, fpk_progress_fn progress, void *user);
int fpk_fv_get_state(const fpk_fv *s, fpk_fv_state *st);
/* Puts a state saved by fpk_fv_get_state (from an object with the same grid, model, stepper and
 * dt) into s. Checks it (FPK_EINVAL naming the field): finite values, a pending interval whose
 * split by fpk_time_steps with this solver's dt gives the same n and h, t == t0 + i h. */
int fpk_fv_restore(fpk_fv *s, const fpk_fv_state *st);

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
