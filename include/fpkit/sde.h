/* fpkit/sde.h — Monte Carlo ensembles of SDE paths.
 *
 * Random numbers come from Random123's Philox4x32-10, a counter-based generator: the key is the
 * user's 64-bit seed, the counter is (path index, position in that path's stream). Each call
 * gives three standard normals by a double-precision ziggurat (McFarland's 2016 layout, 32-bit
 * values); the rare draws it rejects (3 in 512) take their extra uniforms from a sub-stream of
 * their own position (counters the main stream never uses). So path p's normals are a pure
 * function of (seed, p), every path is the same whatever the number of threads or the order in
 * which paths are computed, and any single path can be regenerated alone.
 * Paths run in fixed blocks; per-block partial sums are reduced in block order, so histograms,
 * means and covariances are bitwise identical with 1 or N threads.
 */
#ifndef FPKIT_SDE_H
#define FPKIT_SDE_H

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
 * over the whole run) from positions 3 + s*q*dim + r*dim + c (r < q = stepper normals_per_dim,
 * component c < dim), so any path can be regenerated with this function. Position k comes from
 * Philox call k/3 of the path; the bit layout is in src/sde/sde_internal.h. */
void fpk_rng_normals(uint64_t seed, uint64_t path, uint64_t first, size_t n, double *z);

/* ---- Steppers (GSL-style type table) ----------------------------------------------------- */
typedef struct fpk_sde_stepper_type {
  const char *name;
  double strong_order, weak_order;
  size_t normals_per_dim; /* standard normals consumed per step and per dimension */
  /* Advances the n points in x (component-major) from t to t + h. z holds normals_per_dim*dim*n
   * standard normals, component-major in blocks of n. work has room for work_per_point*dim*n. */
  int (*step)(const fpk_model *m, double t, double h, size_t n, double *x, const double *z,
              double *work, fpk_error *err);
  size_t work_per_point;
} fpk_sde_stepper_type;

extern const fpk_sde_stepper_type *fpk_sde_euler_maruyama;
extern const fpk_sde_stepper_type *const fpk_sde_steppers[]; /* NULL-terminated */
const fpk_sde_stepper_type *fpk_sde_stepper_lookup(const char *name);

/* ---- Ensembles --------------------------------------------------------------------------- */
typedef struct fpk_mc_params {
  const fpk_sde_stepper_type *stepper;
  size_t npaths;
  double dt;           /* largest step; each output interval is split by fpk_time_steps */
  uint64_t seed;
  size_t keep_paths;   /* record the first K paths at every step (0: none) */
  int nthreads;        /* <= 0: OpenMP default */
} fpk_mc_params;

typedef struct fpk_mc_result {
  size_t nt, dim, cells;
  double *t;           /* [nt] output times */
  double *density;     /* [nt][cells] histogram normalised as a density on the grid */
  double *mean;        /* [nt][dim] */
  double *cov;         /* [nt][dim][dim], unbiased (divides by npaths - 1) */
  double *outside;     /* [nt] fraction of paths outside the grid (not in the histogram) */
  size_t nsteps;       /* total steps per path */
  double *path_t;      /* [nsteps+1] times of recorded path points, or NULL */
  double *paths;       /* [keep_paths][nsteps+1][dim], or NULL */
  size_t keep_paths;
} fpk_mc_result;

/* Simulates params->npaths paths from X_0 ~ init under model, from t = 0 to the increasing
 * output times t_out[0..nt-1] (t_out[0] may be 0), histogramming on grid. Periodic axes wrap
 * positions into the box for the histogram. Fails with FPK_ENUMERIC if a path becomes non-finite
 * (naming the path and time). res must be released with fpk_mc_result_free. */
int fpk_mc_run(const fpk_model *model, const fpk_gaussian *init, const fpk_grid *grid,
               const double *t_out, size_t nt, const fpk_mc_params *params, fpk_mc_result *res,
               fpk_error *err);
void fpk_mc_result_free(fpk_mc_result *res); /* safe on NULL and on a zeroed struct */

#ifdef __cplusplus
}
#endif
#endif
