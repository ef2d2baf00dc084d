/* fpkit/spectral.h — Fourier pseudo-spectral Fokker–Planck solver on periodic boxes (FFTW).
 *
 *   ∂p/∂t = Σ_a ∂_a [ Σ_b ∂_b(D_ab p) − b_a p ],   D = ½ σσᵀ,
 *
 * σ diagonal or a noise matrix (fpk_model_diffusion: correlated, or degenerate — the Kramers
 * equation, no diffusion in x), written in conservative form, so the mean (k = 0 mode) is
 * conserved to round-off whatever b and σ are. Split as ∂p/∂t = 𝓛p + 𝒩(p, t): the stiff
 * constant-coefficient part 𝓛 = Σ_ab D̄_ab ∂_a∂_b (D̄ the mid-range of D over the grid; all of D,
 * cross terms included, for additive noise) is diagonal in Fourier space, λ = −kᵀD̄k, and treated
 * exactly; the rest, 𝒩 = Σ_ab ∂_a∂_b((D_ab − D̄_ab) p) − Σ_a ∂_a(b_a p), is evaluated
 * pseudo-spectrally (products in physical space, derivatives in Fourier space), with the 2/3 rule
 * removing aliased modes (and, along an axis without diffusion, dropping them from the solution).
 * See docs/spectral-scheme.md.
 *
 * Steppers (GSL-style type table):
 *   etdrk4   Cox & Matthews, J. Comput. Phys. 176 (2002) 430, eq. (26)–(29); φ-functions by the
 *            contour integrals of Kassam & Trefethen, SIAM J. Sci. Comput. 26 (2005) 1214.
 *   sbdf2    IMEX BDF2 (Ascher, Ruuth & Wetton, SIAM J. Numer. Anal. 32 (1995) 797): 𝓛 implicit,
 *            𝒩 extrapolated; started (and restarted when the step changes) with IMEX Euler.
 *
 * The density is exchanged as cell averages on the fpk_grid, like every other method: the solver
 * represents the trigonometric interpolant of its point values at cell centres, whose exact cell
 * averages are the Fourier coefficients times sinc(k h / 2) — so comparisons with exact cell
 * probabilities are not polluted by an O(h²) midpoint error.
 *
 * Plans are made once at alloc (FFTW_MEASURE by default) and executed on aligned buffers at every
 * step; an optional wisdom file is read before planning and rewritten after.
 */
#ifndef FPKIT_SPECTRAL_H
#define FPKIT_SPECTRAL_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/guard.h"
#include "fpkit/model.h"
#include "fpkit/parallel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_spectral fpk_spectral;

typedef struct fpk_spectral_stepper_type {
  const char *name;
  int order; /* classical order in time */
} fpk_spectral_stepper_type;

extern const fpk_spectral_stepper_type *fpk_spectral_etdrk4;
extern const fpk_spectral_stepper_type *fpk_spectral_sbdf2;
extern const fpk_spectral_stepper_type *const fpk_spectral_steppers[]; /* NULL-terminated */
const fpk_spectral_stepper_type *fpk_spectral_stepper_lookup(const char *name);

typedef enum fpk_fft_planner {
  FPK_FFT_ESTIMATE = 0, /* heuristic plan: no timing, deterministic */
  FPK_FFT_MEASURE = 1,  /* default: times candidate plans (seconds for large grids) */
  FPK_FFT_PATIENT = 2
} fpk_fft_planner;

typedef struct fpk_spectral_options {
  fpk_fft_planner planner;
  const char *wisdom;    /* wisdom file read before planning and rewritten after; NULL: none */
  int dealias;           /* 2/3 rule on the pseudo-spectral terms (default 1) */
  int nthreads;          /* at most this many threads (default 1): 1 or nthreads, chosen at
                            alloc by timing only between variants that give bitwise the same
                            numbers (fpk_spectral_threads, docs/spectral-scheme.md) */
  size_t contour_points; /* points on each Kassam–Trefethen contour (default 32) */
  /* Ranks to distribute a 3D grid over (NULL, the default, or one process: not distributed).
   * Slabs of planes along z (grid axis 2), FFTW-MPI transposes between them; the numbers are
   * bitwise those of one process for any ranks × threads (docs/spectral-scheme.md). With more
   * than one process every rank calls every function of the solver in the same order (they are
   * collective: fpk_spectral_density and the diagnostics gather), fpk_spectral_set_density takes
   * the whole density on every rank, and fpk_spectral_density/values return the whole field on
   * every rank. Checkpoints (get_state/restore) are not available there (FPK_EUNSUP). More ranks
   * than can each get a plane: FPK_EINVAL on every rank, naming both numbers. */
  const fpk_comm *comm;
} fpk_spectral_options;

void fpk_spectral_options_default(fpk_spectral_options *o);

/* Grids of dimension 1, 2 or 3 (3D: docs/spectral-scheme.md, "Three dimensions").
 * Fails (FPK_EINVAL) unless every axis is periodic (use fv or a periodic box for other
 * boundaries), every n is even and >= 8, dt > 0, and the model's dimension is the grid's; with
 * FPK_ENUMERIC when the φ-functions of ETDRK4 cannot be evaluated accurately for h = dt (the
 * contour result is checked against an independent series/closed-form evaluation). A wisdom file
 * that cannot be read or written is not an error: planning goes on and fpk_spectral_warning says
 * so. opt may be NULL (defaults). */
fpk_spectral *fpk_spectral_alloc(const fpk_grid *grid, const fpk_model *model,
                                 const fpk_spectral_stepper_type *T, double dt,
                                 const fpk_spectral_options *opt, fpk_error *err);
void fpk_spectral_free(fpk_spectral *s); /* safe on NULL */

/* p: cell averages (grid->size values). */
int fpk_spectral_set_density(fpk_spectral *s, double t, const double *p);
/* Advances to t_target >= current time in equal steps <= dt (fpk_time_steps), then checks the
 * cell averages (the output guard, fpkit/guard.h): finite, min >= -negative_tol·max, mass of
 * fpk_spectral_set_density kept within mass_tol. Fails with FPK_ENUMERIC on a non-finite state or
 * a failed guard (the message names the time, the quantity and the likely cause: the explicit
 * drift's stable step, or under-resolution), FPK_EINVAL beyond FPK_MAX_STEPS steps, or the
 * model's callback status. */
int fpk_spectral_evolve(fpk_spectral *s, double t_target);
/* Tolerances of the output guard (spec->mass_tol, spec->negative_tol). Defaults:
 * FPK_GUARD_MASS_TOL, FPK_GUARD_NEGATIVE_TOL. */
int fpk_spectral_set_guard(fpk_spectral *s, const fpk_density_guard *spec);

/* ---- Checkpoints (docs/checkpoint.md) ------------------------------------------------------
 * As for finite volumes (fpkit/fv.h): an evolve interrupted between two steps keeps its interval
 * (the same n steps of h), and a state saved with fpk_spectral_get_state and put into a fresh
 * object (same grid, model, stepper, dt and options) by fpk_spectral_restore continues it bit
 * for bit. The state is the Fourier coefficients û themselves (cell averages would not give them
 * back to the last bit), the step position, the guard's expected mass, the step of the ETDRK4
 * coefficients in use (a step that changed with an output interval recomputes them: the restored
 * object recomputes them for the same step), and SBDF2's history — û and 𝒩̂ of the previous step
 * and that step's size, which decide whether the next step is a BDF2 step or a restart. FFT
 * plans are part of the build's arithmetic: with planner = measure FFTW may choose another
 * algorithm in another process, which changes the last bits, so a checkpoint carries FFTW's
 * wisdom (fpk_spectral_export_wisdom) and a resumed process imports it before planning. */

/* Arrays hold nc complex numbers as (re, im) pairs of doubles, 2·nc values (FFTW's layout); for
 * fpk_spectral_get_state they point into the solver (valid until the next evolve, restore or
 * set), for fpk_spectral_restore they are copied. */
typedef struct fpk_spectral_state {
  double t;
  size_t steps;
  /* the interrupted evolve when n > 0: [t0, t1] in n steps of h, i < n done, t == t0 + i h */
  double t0, t1, h;
  size_t n, i;
  double mass;        /* output guard: the expected mass */
  double hc;          /* etdrk4: the step its coefficients were computed for (0: none) */
  double hist_h;      /* sbdf2: the step of the history (0: none, the next step restarts) */
  size_t nc;          /* complex coefficients per array */
  const double *uh;   /* the state û */
  const double *uprev, *nprev; /* sbdf2 with hist_h > 0: û and 𝒩̂ of the previous step; else NULL */
} fpk_spectral_state;

/* poll (NULL: none) is called before every step of fpk_spectral_evolve; non-zero stops it with
 * FPK_EINTR at that step boundary, and a later evolve to the same target continues it. */
int fpk_spectral_set_interrupt(fpk_spectral *s, fpk_interrupt_fn poll, void *user);
/* progress (NULL: none) is called after every step of fpk_spectral_evolve with the steps done and
 * the steps of that evolve (fpkit/error.h, fpk_progress_fn); it changes no number. */
int fpk_spectral_set_progress(fpk_spectral *s, fpk_progress_fn progress, void *user);
int fpk_spectral_get_state(const fpk_spectral *s, fpk_spectral_state *st);
/* Checks (FPK_EINVAL naming the field): nc, finite values, the pending interval is this solver's
 * split (fpk_time_steps with its dt), history only for sbdf2 and coefficients only for etdrk4. */
int fpk_spectral_restore(fpk_spectral *s, const fpk_spectral_state *st);
/* FFTW's wisdom (every plan made so far in this process) as a malloc'd string, NULL on failure;
 * and its import (before fpk_spectral_alloc), FPK_EINVAL when FFTW rejects the string. */
char *fpk_spectral_export_wisdom(void);
int fpk_spectral_import_wisdom(const char *wisdom);

/* Cell averages of the current density (valid until the next evolve/set). */
const double *fpk_spectral_density(fpk_spectral *s);
/* Point values at the cell centres. */
const double *fpk_spectral_values(fpk_spectral *s);
double fpk_spectral_time(const fpk_spectral *s);
size_t fpk_spectral_steps_taken(const fpk_spectral *s);
const fpk_spectral_stepper_type *fpk_spectral_stepper(const fpk_spectral *s);

/* Diagnostics of the current state (docs/hdf5-layout.md):
 *   mass        ∫ p (the k = 0 mode times the box volume);
 *   min_density the minimum point value — negative values are reported, not clipped;
 *   tail_energy Σ |p̂_k|² over the last 10% of the retained modes (|k_a| > 0.9 k_max,a on any
 *               axis; k_max is N/3 with the 2/3 rule, N/2 without) divided by Σ over all modes:
 *               a resolution indicator, ~1e-30 for a resolved smooth density;
 *   edge_density max |p| over the cells on the box faces divided by max |p|: the truncation
 *               indicator for a decaying density in a periodic box. */
double fpk_spectral_mass(const fpk_spectral *s);
double fpk_spectral_min_density(const fpk_spectral *s);
double fpk_spectral_tail_energy(const fpk_spectral *s);
double fpk_spectral_edge_density(const fpk_spectral *s);

const char *fpk_spectral_errmsg(const fpk_spectral *s);
/* The thread counts chosen at alloc for options.nthreads > 1: of the full forward (r2c) and
 * inverse (c2r) FFTW plans (1D grids, no 2/3 rule, cell-average conversions) and of the 2D row
 * pipeline with the passes between the transforms; any argument may be NULL. *timed is 1 when
 * both full plans were chosen by timing, which happens only where FFTW's threaded plan gives
 * bitwise the serial plan's transform; 0 when the serial plans were kept because they did not
 * (docs/spectral-scheme.md, threads). */
void fpk_spectral_threads(const fpk_spectral *s, int *r2c, int *c2r, int *passes, int *timed);
/* Non-fatal problems met so far (an unreadable wisdom file); "" if none. */
const char *fpk_spectral_warning(const fpk_spectral *s);

/* Stationary density of an autonomous model on a periodic grid without time stepping: the
 * unit-mass null vector of the collocation operator (no dealiasing), by a dense LU solve with the
 * mass condition in place of one equation. Writes cell averages. Dense, so limited to
 * grid->size <= FPK_SPECTRAL_DENSE_MAX unknowns. Refused (FPK_EUNSUP) for a model with an axis
 * without diffusion (degenerate noise: the Kramers equation), whose collocation operator has
 * spurious zero modes: evolve with etdrk4 to a long time instead, or use fv. */
#define FPK_SPECTRAL_DENSE_MAX 4096
int fpk_spectral_stationary(const fpk_grid *grid, const fpk_model *model, double *p,
                            fpk_error *err);
/* Spectral gap of the collocation operator: the smallest |Re λ| over its eigenvalues λ ≠ 0
 * (the zero eigenvalue, whose eigenvector is the stationary density, excluded as the one of
 * smallest modulus). Relaxation to equilibrium goes like e^{−gap·t}. Same size limit and the
 * same refusal of degenerate noise. */
int fpk_spectral_gap(const fpk_grid *grid, const fpk_model *model, double *gap, fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
