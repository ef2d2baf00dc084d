/* fpkit/km.h — Kramers–Moyal estimation of drift and diffusion from paths (docs/km.md).
 *
 * For a Markov diffusion dX = b dt + σ dW sampled at interval dt, the conditional moments of the
 * increments ΔX = X(t + τ) − X(t) over a lag τ = k dt, given X(t) = x, define the Kramers–Moyal
 * coefficients (Friedrich, Peinke, Sahimi & Tabar, "Approaching complexity by stochastic
 * methods: from biological systems to turbulence", Phys. Rep. 506, 2011, §3–4; Siegert,
 * Friedrich & Peinke, Phys. Lett. A 243, 1998):
 *
 *   D1(x) = lim M1/τ,         M1 = E[ΔX | x]               (the drift b)
 *   D2(x) = lim M2/(2τ),      M2 = E[ΔX ΔXᵀ | x]           (fpkit's D = ½σσᵀ)
 *   K4(x) = lim M4/(24τ),     M4 = E[ΔX_a⁴ | x]            (the 4th coefficient, per component)
 *
 * The estimator bins the state on an fpk_grid (1D or 2D) and accumulates, per bin, the moments of
 * increments over non-overlapping windows [t, t + 2τ] of each path (a window gives one increment
 * over τ and one over 2τ from the same origin; the next window starts at t + 2τ). Paths are added
 * in a stream (alloc → add paths / simulate → compute → free), so an ensemble never has to be
 * stored. Estimates at finite τ carry an O(τ) bias (Itô–Taylor expansion of the conditional
 * moments); FPK_KM_CORRECTION_FIRST_ORDER removes it by Richardson extrapolation over the two
 * lags, 2·(estimate at τ) − (estimate at 2τ), leaving O(τ²) (docs/km.md derives it). Each bin
 * has a 95% confidence interval from the sample variance of its per-window values (normal
 * approximation: windows do not overlap, so their residuals are martingale differences), a count,
 * and NaN when it has fewer than min_count windows. The Pawula check (Pawula, Phys. Rev. 162,
 * 186, 1967: if K4 = 0 every K_n, n ≥ 3, vanishes and the Fokker–Planck equation is exact) is the
 * ratio Q = M4/(3 M2²) = 2 K4/(τ D2²), which tends to 1 for a diffusion (Gaussian increments) and
 * grows like 1/τ for a jump process; K4/D2² = τQ/2 is O(τ) for a diffusion.
 *
 * The handle holds its own error record (fpk_km_error): functions return a status and the
 * message stays on the object. Same seed, same numbers whatever the thread count: paths are
 * accumulated in blocks of FPK_KM_BLOCK_PATHS, each block's sums added to the total in order.
 */
#ifndef FPKIT_KM_H
#define FPKIT_KM_H

#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"
#include "fpkit/sde.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Paths per accumulation block: the reduction unit (bitwise the same for any thread count). */
#define FPK_KM_BLOCK_PATHS 64
/* Two-sided 95% quantile of the standard normal. */
#define FPK_KM_Z95 1.959963984540054

typedef enum fpk_km_correction {
  FPK_KM_CORRECTION_NONE = 0,        /* M_n at lag τ, divided: O(τ) bias */
  FPK_KM_CORRECTION_FIRST_ORDER = 1  /* Richardson over τ and 2τ: O(τ²) bias */
} fpk_km_correction;

/* Parses "none" | "first-order"; FPK_EINVAL otherwise. */
int fpk_km_correction_parse(const char *s, fpk_km_correction *c);
const char *fpk_km_correction_name(fpk_km_correction c);

typedef struct fpk_km_params {
  double dt;        /* sampling interval of the paths (> 0, finite) */
  size_t lag;       /* k >= 1: τ = k dt; a window spans 2k samples */
  size_t min_count; /* bins with fewer windows get NaN estimates (0: the default 100) */
} fpk_km_params;

typedef struct fpk_km fpk_km;

/* A new estimator on the bins of g (dimension 1 or 2; FPK_EUNSUP beyond). NULL on failure with
 * err set (bad dt, lag 0, a grid of another dimension). */
fpk_km *fpk_km_alloc(const fpk_grid *g, const fpk_km_params *p, fpk_error *err);
void fpk_km_free(fpk_km *km); /* NULL is safe */
/* The last error recorded on km. */
const fpk_error *fpk_km_error(const fpk_km *km);
const fpk_grid *fpk_km_grid(const fpk_km *km);
size_t fpk_km_windows(const fpk_km *km);  /* windows accumulated so far (in the grid or not) */
size_t fpk_km_outside(const fpk_km *km);  /* windows whose origin lay outside the grid */

/* Adds npaths paths of len samples each: x[(p*len + j)*dim + c] (path, time, component: the
 * layout of an HDF5 dataset [path][time][component]). Every sample is checked first (FPK_ENUMERIC
 * naming the path and the time index for a non-finite one; nothing is added then). len must be
 * at least 2·lag + 1 (FPK_EINVAL otherwise). Windows start at samples 0, 2k, 4k, ... Origins on a
 * periodic axis are wrapped into the box for binning; increments are taken as given. Thread
 * count (nthreads <= 0: OpenMP default) does not change any number. */
int fpk_km_add_paths(fpk_km *km, size_t npaths, size_t len, const double *x, int nthreads);

/* Paths simulated by fpkit's Monte Carlo engine, accumulated as they are made (nothing stored
 * unless `record`). Path p is the path fpk_mc_run would draw with the same seed and step: X_0 ~
 * init from stream positions 0..dim-1, the normals of step s from positions 3 + s·q·m + r·m + c
 * for m noise columns (fpk_rng_normals), advanced by the stepper, sampled every `substeps` steps
 * of size dt/substeps. */
typedef struct fpk_km_sim {
  const fpk_sde_stepper_type *stepper; /* NULL: Euler–Maruyama */
  size_t npaths;
  size_t nsamples;  /* samples per path after X_0 (the path has nsamples + 1 points) */
  size_t substeps;  /* steps per sampling interval (0 is taken as 1) */
  uint64_t seed;
  int nthreads;     /* <= 0: OpenMP default */
  double *record;   /* optional: [npaths][nsamples + 1][dim], the sampled paths */
} fpk_km_sim;

/* Fails (nothing added) for a model of another dimension, a non-autonomous model (conditional
 * moments would depend on t; FPK_EUNSUP), a stepper that refuses the model, nsamples < 2·lag, a
 * covariance of init that is not positive definite; FPK_ENUMERIC naming the path and the sample
 * when a path becomes non-finite. */
int fpk_km_simulate(fpk_km *km, const fpk_model *model, const fpk_gaussian *init,
                    const fpk_km_sim *sim);

/* Per-bin estimates. Arrays over the grid's cells (flat index as fpk_grid); per component a
 * (dim of them) or per pair p of the packed upper triangle (a ≤ b: 00, 01, 11 in 2D; 1 entry in
 * 1D), stored [a or p][cell]. lo/hi are the 95% interval. NaN where count < min_count. */
typedef struct fpk_km_result {
  size_t dim, cells, npairs;
  double dt, tau;
  size_t lag, min_count;
  fpk_km_correction correction;
  uint64_t *count;    /* [cells] windows whose origin lies in the bin */
  double *x_mean;     /* [dim][cells] mean origin in the bin (where the estimate is attributed) */
  double *d1, *d1_lo, *d1_hi;    /* [dim][cells] drift */
  double *d2, *d2_lo, *d2_hi;    /* [npairs][cells] diffusion D = ½σσᵀ */
  double *k4, *k4_lo, *k4_hi;    /* [dim][cells] M4/(24τ) at lag τ (uncorrected) */
  double *pawula, *pawula_lo, *pawula_hi; /* [dim][cells] Q = M4/(3 M2²) at lag τ (→ 1) */
  size_t valid;       /* bins with count >= min_count */
  /* Filled by fpk_km_compare (NULL before): the model's drift and diffusion at x_mean, and the
   * fraction of valid bins whose interval covers them (all drift components, all pairs). */
  double *d1_true, *d2_true;
  double d1_coverage, d2_coverage;
  size_t d1_covered, d2_covered, compared; /* covered entries and entries compared */
} fpk_km_result;

/* The estimates from what was accumulated, with the given correction. res is overwritten
 * (release with fpk_km_result_free). FPK_EINVAL when no bin has min_count windows. */
int fpk_km_compute(fpk_km *km, fpk_km_correction correction, fpk_km_result *res);
/* Truth of an autonomous model at each valid bin's x_mean and the interval coverage. */
int fpk_km_compare(fpk_km_result *res, const fpk_model *model, fpk_error *err);
void fpk_km_result_free(fpk_km_result *res); /* safe on a zeroed struct */

#ifdef __cplusplus
}
#endif
#endif
