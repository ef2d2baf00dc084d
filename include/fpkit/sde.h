/* fpkit/sde.h — Monte Carlo ensembles of SDE paths.
 *
 * Random numbers come from Random123's Philox4x32-10, a counter-based generator: the key is the
 * user's 64-bit seed, the counter is (path index, position in that path's stream). Each call
 * gives three standard normals by a double-precision ziggurat (McFarland's 2016 layout, 32-bit
 * values); the rare draws it rejects (3 in 512) take their extra uniforms from a sub-stream of
 * their own position (counters the main stream never uses), and the killing tests at absorbing
 * walls from another, keyed by (path, step) (see "Killing"). So path p's normals are a pure
 * function of (seed, p), every path is the same whatever the number of threads or the order in
 * which paths are computed, and any single path can be regenerated alone.
 * Paths run in fixed blocks; per-block partial sums are reduced in block order, so histograms,
 * means and covariances are bitwise identical with 1 or N threads.
 */
#ifndef FPKIT_SDE_H
#define FPKIT_SDE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Random streams ---------------------------------------------------------------------- */
/* Writes n standard normals of path `path`, stream positions [first, first + n), into z.
 * Position k is the same number whichever (first, n) window it is requested through.
 * fpk_mc_run draws path p's X_0 from positions 0 .. dim-1 and the normals of step s (0-based,
 * over the whole run) from positions 3 + s*q*m + r*m + c (r < q = stepper normals_per_dim,
 * component c < m = fpk_model_noise_dim(model), which is dim for a diagonal model; a stepper
 * with a normals_per_step callback takes that many per step instead: 3 + s*N + j, j < N), so any
 * path can be regenerated with this function. Position k comes from
 * Philox call k/3 of the path; the bit layout is in src/sde/sde_internal.h. */
void fpk_rng_normals(uint64_t seed, uint64_t path, uint64_t first, size_t n, double *z);

/* ---- Steppers (GSL-style type table) ----------------------------------------------------- */
/* A stepper advances a batch of points by one step of size h. Its randomness comes in as
 * standard normals z, normals_per_dim rows per Brownian component, component-major in blocks
 * of n:
 *     z[(r*m + c)*n + i],   r < normals_per_dim,  c < m = fpk_model_noise_dim(model)
 * (m = dim for diagonal noise; m columns of the d × m noise matrix σ otherwise, issue 16).
 * Row 0 is ξ₁ = ΔW/√h, the Brownian increment of the step. Row 1 (normals_per_dim = 2) is ξ₂,
 * independent of ξ₁, which with it gives the iterated integral I₁₀ = ∫_t^{t+h} (W_s − W_t) ds:
 *     I₁₀ = h^{3/2} (ξ₁ + ξ₂/√3) / 2      (Kloeden & Platen 1992, §10.4, eq. (4.3)).
 * So a coarse step can be given exactly the Brownian path of several fine steps (fpk_sde_ladder
 * sums ΔW and I₁₀ over them and converts back to ξ₁, ξ₂).
 * work: fpk_sde_work_size(st, model, n) doubles = work_fixed + work_per_point*dim*n, plus
 * dim*m*n for a model with a noise matrix (the stepper keeps σ there, from
 * work + work_fixed + work_per_point*dim*n), owned by one thread, zeroed when allocated and
 * kept between calls, so a stepper may cache per-step coefficients in its first work_fixed
 * doubles (keyed by h: the exact OU stepper keeps its transition matrices there). */
typedef struct fpk_sde_stepper_type {
  const char *name;
  double strong_order, weak_order; /* for the models the stepper accepts (0: exact in law) */
  size_t normals_per_dim;          /* standard normals consumed per step and per dimension */
  int (*step)(const fpk_model *m, double t, double h, size_t n, double *x, const double *z,
              double *work, fpk_error *err);
  size_t work_per_point, work_fixed;
  /* Optional: whether the stepper can integrate m (FPK_EINVAL with the reason otherwise), e.g.
   * Milstein needs noise_dx for multiplicative noise, SRA1 additive noise. NULL: any model. */
  int (*check)(const fpk_model *m, fpk_error *err);
  /* Optional: the standard normals one step takes for model m, when that is not
   * normals_per_dim * fpk_model_noise_dim(m) (the exact OU transition takes dim, the rank of its
   * one-step covariance, whatever m). NULL: normals_per_dim * m. */
  size_t (*normals_per_step)(const fpk_model *m);
} fpk_sde_stepper_type;

/* Euler–Maruyama: strong ½ (1 for additive noise), weak 1.            "euler-maruyama" ("em")
 * Milstein for diagonal noise: strong 1, weak 1.                      "milstein"
 * Rößler's SRA1 for additive noise: strong 1.5, weak 2.               "sra1"
 * Tamed Euler (drifts that grow faster than linearly): strong ½.      "tamed-euler"
 * Exact transition of linear models (OU, Brownian motion): exact.     "exact-ou"
 * Kinetic Langevin (Kramers models only; Leimkuhler & Matthews 2013):
 *   BAOAB splitting, weak 2, ⟨x²⟩ exact for a harmonic potential.      "baoab"
 *   OBABO splitting, weak 2.                                           "obabo"
 * The references and the update formulas are in src/sde/<name>.c and docs/sde-schemes.md. */
extern const fpk_sde_stepper_type *fpk_sde_euler_maruyama;
extern const fpk_sde_stepper_type *fpk_sde_milstein;
extern const fpk_sde_stepper_type *fpk_sde_sra1;
extern const fpk_sde_stepper_type *fpk_sde_tamed_euler;
extern const fpk_sde_stepper_type *fpk_sde_exact_ou;
extern const fpk_sde_stepper_type *fpk_sde_baoab;
extern const fpk_sde_stepper_type *fpk_sde_obabo;
extern const fpk_sde_stepper_type *const fpk_sde_steppers[]; /* NULL-terminated */
const fpk_sde_stepper_type *fpk_sde_stepper_lookup(const char *name);
/* FPK_SUCCESS if st can integrate m, else FPK_EINVAL naming the stepper, the model and why. */
int fpk_sde_stepper_check(const fpk_sde_stepper_type *st, const fpk_model *m, fpk_error *err);
/* Linear stability of one step of size h (src/sde/stability.c). For a linear model (m->linear)
 * the step with zero normals is an affine map x ↦ M x + c, read off the stepper's own code; *rho
 * is the spectral radius of M, the factor by which one step multiplies deviations (NaN for a
 * non-linear model: unknown). fpk_sde_step_check refuses (FPK_EINVAL) a step with ρ(M) > 1 for a
 * linear SDE that is itself stable (every eigenvalue of A with a positive real part), naming the
 * stepper, dt, ρ and the largest stable dt below it; fpk_mc_run, fpk_sde_ladder and the
 * Kramers–Moyal simulation call it. Non-linear models are not checked: the engine's finiteness
 * check is all they get. */
int fpk_sde_step_radius(const fpk_sde_stepper_type *st, const fpk_model *m, double h,
                        double *rho, fpk_error *err);
int fpk_sde_step_check(const fpk_sde_stepper_type *st, const fpk_model *m, double h,
                       fpk_error *err);
/* Standard normals per step of st on model m (normals_per_step, else normals_per_dim * m). */
size_t fpk_sde_normals_per_step(const fpk_sde_stepper_type *st, const fpk_model *m);
/* Doubles of work a step of st on n points of model m needs (see the stepper type above). */
size_t fpk_sde_work_size(const fpk_sde_stepper_type *st, const fpk_model *m, size_t n);

/* ---- Ensembles --------------------------------------------------------------------------- */
struct fpk_mc_state;
struct fpk_comm; /* fpkit/parallel.h */

typedef struct fpk_mc_params {
  const fpk_sde_stepper_type *stepper;
  size_t npaths;
  double dt;           /* largest step; each output interval is split by fpk_time_steps */
  uint64_t seed;
  size_t keep_paths;   /* record the first K paths at every step (0: none) */
  int nthreads;        /* <= 0: OpenMP default */
  /* An initial law given on the grid instead of the Gaussian `init` of fpk_mc_run (which may
   * then be NULL): the piecewise-constant density with cell masses init_cells[grid->size]
   * (finite, >= 0, a positive sum; normalised inside). Path p's X_0 comes from Philox call 0 of
   * its stream (positions 0..2): the cell by inversion of the cumulative masses at a 53-bit
   * uniform from words 0 and 1, the point uniform inside the cell from words 2 (x) and 3 (y).
   * So X_0 is exact in law, a pure function of (seed, p), and bitwise the same for any thread
   * count. 1D and 2D grids (FPK_EUNSUP beyond). NULL: the Gaussian start. */
  const double *init_cells;
  /* Absorbing axes only (see "Killing" below): FPK_MC_BRIDGE_ON (0, so the default of a zeroed
   * struct) adds the Brownian-bridge crossing test to the exit test; FPK_MC_BRIDGE_OFF (< 0)
   * kills on exits seen at the step ends only, whose survival error is O(sqrt(h)) (kept for
   * comparison). No effect without an absorbing axis. */
  int bridge_correction;
  /* Checkpoints (see "Checkpoints" below; all NULL: none, and the engine does nothing extra).
   * poll(user) is called once after every round of paths but the last; when it returns non-zero
   * the state after that round is assembled and passed to checkpoint(state, user), which returns
   * 0 to go on, FPK_EINTR to stop the run there (fpk_mc_run returns FPK_EINTR and no result), or
   * another status to fail with it. Both run in one thread while the others wait. */
  fpk_interrupt_fn poll;
  int (*checkpoint)(const struct fpk_mc_state *state, void *user);
  void *user;
  /* Continue from a state handed to checkpoint by a run with the same model, initial law, grid,
   * output times and parameters (NULL: from the start); the result is bitwise the one of the
   * uninterrupted run, for any thread count before and after. */
  const struct fpk_mc_state *resume;
  /* Progress (NULL: none; fpkit/error.h): progress(progress_user, paths done, npaths), called by
   * OpenMP's thread 0 after each block of paths it ran and once at the end; it changes no
   * number (the reduction order does not depend on it). */
  fpk_progress_fn progress;
  void *progress_user;
  /* The processes computing this ensemble together (fpkit/parallel.h; NULL or a communicator of
   * one process: this process alone, exactly as before). Every process of comm calls fpk_mc_run
   * with the same arguments; each round's blocks are split over the ranks in contiguous ranges
   * (fpk_comm_range, threads inside a rank), the block partials are gathered and merged in block
   * order on every rank and the integer counts summed, so every rank returns the same result,
   * bitwise the one of a single process with any thread count (docs/parallel.md "Distributed
   * ensembles"). A failure in any block makes every rank fail with the message of the lowest
   * failing rank ("rank R: ..."). More ranks than blocks of FPK_MC_BLOCK_PATHS paths: FPK_EINVAL
   * on every rank before any work. Checkpoints (poll, checkpoint, resume) with more than one
   * process: FPK_EUNSUP. Progress is reported by rank 0 only, after each round. */
  const struct fpk_comm *comm;
} fpk_mc_params;

enum { FPK_MC_BRIDGE_ON = 0, FPK_MC_BRIDGE_OFF = -1 };

/* ---- Checkpoints (docs/checkpoint.md) ------------------------------------------------------ */
/* Paths are simulated in blocks of FPK_MC_BLOCK_PATHS and reduced round by round, in block order
 * (histogram and survivor counts are integers; the moments are merged pairwise, block after
 * block). The state after a round is therefore the next block to run and what the blocks before
 * it added up to, which no later block changes: a run resumed from it takes every remaining
 * floating-point operation of the uninterrupted one. Arrays are owned by the engine during the
 * checkpoint call (copy them), by the caller for `resume`. */
#define FPK_MC_BLOCK_PATHS 256
/* Statistics per output time in `moments`: survivor count, mean (dim), co-moment (packed upper
 * triangle, dim (dim + 1) / 2). */
#define FPK_MC_NSTAT(dim) (1 + (dim) + (dim) * ((dim) + 1) / 2)

typedef struct fpk_mc_state {
  /* the run it belongs to, checked on resume */
  size_t npaths, nt, cells, dim, nsteps, keep_paths;
  uint64_t seed;
  size_t next_block;       /* blocks [0, next_block) are done */
  size_t paths_done;       /* min(npaths, next_block * FPK_MC_BLOCK_PATHS) */
  const uint64_t *counts;  /* [nt][cells] histogram counts of the paths done */
  const uint64_t *outside; /* [nt] survivors outside the grid */
  const uint64_t *alive;   /* [nt] survivors */
  const double *moments;   /* [nt][FPK_MC_NSTAT(dim)] merged block moments of the survivors */
  size_t kept_rows;        /* min(keep_paths, paths_done) */
  const double *paths;     /* [kept_rows][nsteps + 1][dim]: the recorded paths done so far */
} fpk_mc_state;

typedef struct fpk_mc_result {
  size_t nt, dim, cells;
  double *t;           /* [nt] output times */
  double *density;     /* [nt][cells] histogram normalised as a density on the grid */
  double *mean;        /* [nt][dim] of the surviving paths (NaN if none survives) */
  double *cov;         /* [nt][dim][dim], unbiased over the survivors (divides by survivors - 1;
                        * NaN with fewer than 2) */
  double *outside;     /* [nt] fraction of all paths that survive but lie outside the grid
                        * (not in the histogram; only possible across non-absorbing axes) */
  double *survival;    /* [nt] fraction of paths not killed (1 without absorbing axes) */
  size_t nsteps;       /* total steps per path */
  double *path_t;      /* [nsteps+1] times of recorded path points, or NULL */
  double *paths;       /* [keep_paths][nsteps+1][dim], or NULL */
  size_t keep_paths;
} fpk_mc_result;

/* Simulates params->npaths paths from X_0 ~ init under model, from t = 0 to the increasing
 * output times t_out[0..nt-1] (t_out[0] may be 0), histogramming on grid. Periodic axes wrap
 * positions into the box for the histogram; reflecting axes do not reflect paths (a path beyond
 * them is counted in `outside` and may come back); absorbing axes kill paths (below). Fails with
 * FPK_ENUMERIC if a path becomes non-finite, naming the path, the time, the step and the last
 * finite state (regenerated alone from the streams). res must be released with
 * fpk_mc_result_free. */
int fpk_mc_run(const fpk_model *model, const fpk_gaussian *init, const fpk_grid *grid,
               const double *t_out, size_t nt, const fpk_mc_params *params, fpk_mc_result *res,
               fpk_error *err);
void fpk_mc_result_free(fpk_mc_result *res); /* safe on NULL and on a zeroed struct */
/* Whether the processes of comm can share an ensemble of npaths paths: FPK_EINVAL ("N paths make
 * B blocks of 256 paths: at most B ranks (P given)") when comm has more processes than there are
 * blocks of FPK_MC_BLOCK_PATHS paths, which fpk_mc_run and fpk_sde_ladder refuse; a command
 * checks it before any work. Pure arithmetic: every rank gives the same answer. */
int fpk_mc_check_ranks(size_t npaths, const struct fpk_comm *comm, fpk_error *err);

/* ---- Killing at absorbing walls (docs/killed-diffusions.md) -------------------------------- */
/* On an axis with FPK_BC_ABSORBING, fpk_mc_run kills a path
 *  - when it starts outside [lo, hi] on that axis, or is outside after a step (exit test), and
 *  - with the bridge correction, also when it stays inside at both ends of a step but the
 *    Brownian bridge between them would have touched a wall: for each wall a with both X_k and
 *    X_{k+1} on the inside, with probability fpk_bridge_hit_prob(X_k, X_{k+1}, a, σ²h), σ the
 *    noise of that component at (X_k, t_k); the test of step s, axis c, wall w (0 lower, 1 upper)
 *    kills when fpk_rng_kill_uniform(seed, path, s, c, w) < that probability.
 * The exit test alone misses the excursions between step ends and overestimates the survival by
 * O(sqrt(h)) (Gobet, "Weak approximation of killed diffusion using Euler schemes", Stoch. Proc.
 * Appl. 87, 2000); the crossing test restores O(h) (Gobet 2000; Baldi, "Exact asymptotics for the
 * probability of exit from a domain and applications to simulation", Ann. Probab. 23, 1995;
 * Mannella, "Absorbing boundaries and optimal stopping in a stochastic differential equation",
 * Phys. Lett. A 254, 1999), and is exact in law for Brownian motion with constant drift and one
 * wall. A killed path is frozen at its last state inside the domain (the model is not evaluated
 * beyond an absorbing wall; a path that starts outside stays at X_0); it leaves the histogram,
 * `outside` and the moments, while the histogram is still divided by all paths: the density
 * integrates to survival - outside, as the FV density with absorbing walls to its mass. */

/* exp(-2 (x0 - a)(x1 - a) / s2h): the probability that a Brownian bridge of variance s2h = σ²h
 * from x0 to x1, both on the same side of the wall a, touches it (1 on the wall). */
static inline double fpk_bridge_hit_prob(double x0, double x1, double a, double s2h) {
  return exp(-(2.0 * (x0 - a) * (x1 - a) / s2h));
}

/* The uniform in (0, 1) ((w + 1/2) 2^-32 of a Philox word of its own sub-stream) of the crossing
 * test of path `path`, step `step` (0-based, over the whole run), axis `axis`, wall `wall`
 * (0 lower, 1 upper): a pure function of its arguments, independent of the normals. */
double fpk_rng_kill_uniform(uint64_t seed, uint64_t path, uint64_t step, size_t axis, int wall);

/* ---- Refinement ladders on shared Brownian paths (src/sde/ladder.c) ----------------------- */
/* Convergence studies need every resolution driven by the same Brownian path: the strong error
 * E|X^h_T − X_T|² is a pathwise quantity, and coupled differences f(X^h_T) − f(X_T) have a far
 * smaller variance than f(X^h_T) alone. A ladder simulates each path once on the finest time grid
 * (the reference level, or the finest ladder level) with the normals of fpk_mc_run at that step
 * (so the fine path of path p is the one fpk_mc_run would draw, and any path can be regenerated
 * alone), and every coarser level takes, on each of its steps, the sums of the fine increments it
 * spans: ΔW = Σ ΔW_k and I₁₀ = Σ (h (W_{t_k} − W_{t_0}) + I₁₀,k), handed to the stepper as ξ₁, ξ₂
 * (see the stepper type). All levels advance together, one block of paths at a time; per-block
 * statistics are merged in block order, so results are bitwise the same for any thread count. */
typedef enum fpk_ladder_ref {
  FPK_LADDER_REF_FINEST = 0, /* the finest ladder level (its own errors are 0) */
  FPK_LADDER_REF_LEVEL = 1,  /* an extra level of ref_steps steps, with ref_stepper */
  FPK_LADDER_REF_EXACT = 2   /* the model's pathwise solution (model->solution) from W_T */
} fpk_ladder_ref;

/* Functionals of the final state: out[j*n + i] = f_j(x_i) for the n points x (component-major).
 * Called from several threads at once (give thread-safe code); returns 0 or an error status. */
typedef int (*fpk_functional_fn)(size_t n, const double *x, double *out, void *params);

typedef struct fpk_ladder_params {
  const fpk_sde_stepper_type *stepper; /* every ladder level (NULL: Euler–Maruyama) */
  size_t nlevels;                      /* 1 .. FPK_LADDER_MAX */
  const size_t *steps;                 /* [nlevels] steps over [0, T], strictly increasing */
  fpk_ladder_ref reference;
  size_t ref_steps;                    /* FPK_LADDER_REF_LEVEL: a multiple of every steps[l] */
  const fpk_sde_stepper_type *ref_stepper; /* NULL: stepper */
  double T;
  size_t npaths;
  uint64_t seed;
  int nthreads;                        /* <= 0: OpenMP default */
  size_t nfun;                         /* 0 .. FPK_LADDER_MAX_FUN functionals */
  fpk_functional_fn functional;
  void *functional_params;
  /* Progress (NULL: none; fpkit/error.h): progress(progress_user, paths done, npaths), called by
   * OpenMP's thread 0 after each block of paths it ran and once at the end; changes no number. */
  fpk_progress_fn progress;
  void *progress_user;
  /* The processes computing this ladder together (fpkit/parallel.h; NULL or one process: as
   * before): the blocks are split over the ranks in contiguous ranges, the per-block sums gathered
   * and merged in block order on every rank, so the result is bitwise the one-process result on
   * every rank. Failures, too many ranks and progress: as fpk_mc_params.comm. */
  const struct fpk_comm *comm;
} fpk_ladder_params;

#define FPK_LADDER_MAX 16
#define FPK_LADDER_MAX_FUN 8
#define FPK_LADDER_GROUPS 20
/* Most steps per path of any level, the reference level included (the same limit as
 * FPK_MAX_STEPS for time stepping elsewhere). A ladder that fine cannot finish: 10¹² steps of one
 * path take hours, and a study needs thousands of paths. The limit also keeps every count far
 * from where the arithmetic would fail silently: times t = k h are exact while k < 2⁵³ ≈ 9e15,
 * stream positions 3 + s q d (≤ 6e12 here) stay far below 2⁵⁶, where rejection sub-streams
 * repeat, and a count never reaches a size_t conversion of a double ≥ 2⁶⁴ (undefined; it gave
 * 0 steps). */
#define FPK_LADDER_MAX_STEPS FPK_MAX_STEPS

/* Sample statistics over the paths, each a mean and an unbiased variance (divide the variance by
 * npaths for the squared standard error of the mean). Level l = 0..nlevels-1; row nlevels of
 * fun_* is the reference (the extra level, the exact solution, or the finest level again). */
typedef struct fpk_ladder_result {
  size_t nlevels, nfun, npaths, fine_steps;
  double sq_err_mean[FPK_LADDER_MAX], sq_err_var[FPK_LADDER_MAX]; /* |X^l_T − X^ref_T|² */
  double ref_sq_mean; /* mean of |X^ref_T|²: the scale of the state, for round-off tests */
  double fun_mean[FPK_LADDER_MAX + 1][FPK_LADDER_MAX_FUN];        /* f_j(X^l_T) */
  double fun_var[FPK_LADDER_MAX + 1][FPK_LADDER_MAX_FUN];
  double diff_mean[FPK_LADDER_MAX][FPK_LADDER_MAX_FUN];           /* f_j(X^l_T) − f_j(X^ref_T) */
  double diff_var[FPK_LADDER_MAX][FPK_LADDER_MAX_FUN];
  /* The same means over ngroups disjoint groups of paths (contiguous blocks), for jackknife
   * errors of anything computed from them — such as a fitted order, whose levels share paths and
   * so have correlated errors that per-level standard errors do not describe. */
  size_t ngroups;
  double group_paths[FPK_LADDER_GROUPS];
  double group_sq_err[FPK_LADDER_GROUPS][FPK_LADDER_MAX];
  double group_fun[FPK_LADDER_GROUPS][FPK_LADDER_MAX + 1][FPK_LADDER_MAX_FUN];
  double group_diff[FPK_LADDER_GROUPS][FPK_LADDER_MAX][FPK_LADDER_MAX_FUN];
} fpk_ladder_result;

/* Runs the ladder from X_0 ~ init to time T. Fails (FPK_EINVAL) before any work when steps are
 * not increasing from 1, a level (or the reference level) has more than FPK_LADDER_MAX_STEPS
 * steps or a step too small to move t, a level does not divide the fine grid, the stepper cannot
 * integrate the model or is not a pathwise scheme (exact-ou), or the reference is EXACT and
 * model->solution is NULL; with FPK_ENUMERIC naming level, path, step and time when a path
 * becomes non-finite. */
int fpk_sde_ladder(const fpk_model *model, const fpk_gaussian *init, const fpk_ladder_params *p,
                   fpk_ladder_result *res, fpk_error *err);

/* ---- Exact expectations of functionals (src/sde/expect.c) --------------------------------- */

/* Gauss–Hermite nodes per axis of fpk_gaussian_expect: exact for polynomials of degree < 128 in
 * the underlying normal variables. */
#define FPK_GH_NODES 64

/* Ef[j] = E f_j(X), j < nfun (at most FPK_LADDER_MAX_FUN), by tensor Gauss–Hermite quadrature
 * (FPK_GH_NODES^d nodes, one call of f with all of them): X = m + L Z with Z standard normal in
 * ℝ^d (L lower triangular, row-major d×d: the law N(m, L Lᵀ)), or, when x0 is not NULL, the
 * lognormal X_c = x0[c] exp((m + L Z)_c) (geometric Brownian motion at a time). FPK_ENUMERIC when
 * f fails or gives a non-finite value at a node (a functional that grows too fast for E f to
 * exist or be computed there), FPK_ENOMEM. */
int fpk_gauss_hermite_expect(size_t d, const double *m, const double *L, const double *x0,
                             size_t nfun, fpk_functional_fn f, void *params, double *Ef,
                             fpk_error *err);
/* The same for a Gaussian law g (its covariance may be singular: a PSD Cholesky factor). */
int fpk_gaussian_expect(const fpk_gaussian *g, size_t nfun, fpk_functional_fn f, void *params,
                        double *Ef, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
