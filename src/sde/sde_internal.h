/* Internal interfaces of the Monte Carlo engine (src/sde/). Not installed.
 *
 * Stream layout (see fpkit/sde.h): path p's normals form one sequence indexed by a 64-bit
 * position k = 3j + e, e = 0, 1, 2. Normals come from a ziggurat (ziggurat.c) fed by
 * Philox4x32-10 with key = (seed lo, seed hi):
 *  - main stream: call j has counter (j lo, j hi, p lo, p hi) (j < 2^62, so bits 31 and 30 of
 *    counter word 1 are 0: positions stay below 3 2^62, which no run approaches) and words
 *    (w0, w1, w2, w3). Position 3j + e takes the 32-bit value w_e and the 10-bit field
 *    b = (w3 >> 10e) & 0x3ff (w3's top two bits are unused): slot s = b & 0x1ff,
 *    sign = b >> 9 (1: negative). Index and sign bits are never reused for the value
 *    (Doornik 2005).
 *  - fast path, s < FPK_ZIG_RECTS (509 of 512 slots, 99.41%): |z| = (w_e + 1/2) 2^-32 X_s;
 *  - slow path, s >= FPK_ZIG_RECTS: the selector V = (s - FPK_ZIG_RECTS) 2^32 + w_e picks the
 *    tail, an overhang or the cap, sampled by rejection with uniforms from the rejection
 *    sub-stream of position k: calls with counter
 *        (k lo, (k hi & 0xffffff) | a << 24 | 2^31, p lo, p hi),   attempt a = 0 .. 127,
 *    which the main stream never produces (bit 31); each attempt gives two tries, (w0, w1) and
 *    (w2, w3). (Sub-streams of positions k and k + 2^56 coincide; no run reaches 2^56.)
 * So the normal at position k is a pure function of (seed, p, k), whichever block, window or
 * thread computes it.
 *  - killing sub-stream (absorbing axes only, ensemble.c): the uniforms u = (w + 1/2) 2^-32 of
 *    the Brownian-bridge crossing tests of step s come from calls with counter
 *        (j lo, j hi | 2^30, p lo, p hi),   j = 2s + (2a + w)/4, word (2a + w) mod 4,
 *    for axis a and wall w (0 lower, 1 upper): bit 30 set and bit 31 clear, so neither the main
 *    stream (bit 30 clear) nor the rejection sub-stream (bit 31 set) produces these counters
 *    (j < 2^62 for s < 2^61). They are drawn only for paths near a wall and never shift the
 *    normals, so runs with and without absorbing walls, with and without the correction, move
 *    every path with the same Brownian increments; and the decisions are a pure function of
 *    (seed, p, s, a, w), like the normals.
 * Positions [0, FPK_RNG_STEP0) are reserved for the initial condition (X_0 uses the first dim
 * of them); step s (0-based, counted over the whole run) uses positions
 *     FPK_RNG_STEP0 + s*q*m + r*m + c,   r < q = stepper->normals_per_dim, c < m,
 * m = fpk_model_noise_dim(model): the number of Brownian components, i.e. the columns of the
 * d × m noise matrix σ, and m = dim for a diagonal model, so that diagonal models keep the
 * layout (and the bits) they had before noise matrices (issue 16). This is exactly the
 * component-major layout the steppers expect, z[(r*m + c)*n + i]. A stepper that sets
 * normals_per_step takes N = normals_per_step(model) normals per step instead, at positions
 * FPK_RNG_STEP0 + s*N + j (the exact OU transition: N = dim, the factor of its one-step
 * covariance; for a diagonal model that is q*m again). fpk_sde_normals_per_step gives the count.
 */
#ifndef FPK_SDE_INTERNAL_H
#define FPK_SDE_INTERNAL_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fpkit/sde.h"
#include "models/model_internal.h"

/* Normals per Philox call, and the first position used by the increments. */
#define FPK_RNG_PER_CALL 3
#define FPK_RNG_STEP0 3
/* Paths per block: the unit of work, of RNG generation and of the deterministic reduction. */
#define FPK_MC_BLOCK 256
/* Steps whose normals are generated together (30 KiB in 1D). */
#define FPK_MC_FILL_STEPS 15
/* Blocks per reduction round: per-block partial moments of one round are stored, then combined
 * serially in block order. Bounds memory at ROUND * nt * (dim + dim(dim+1)/2) doubles. */
#define FPK_MC_ROUND 256

/* Every fill starts on a Philox call boundary whatever the dimension, and X_0 fits before the
 * increments. */
_Static_assert(FPK_RNG_STEP0 % FPK_RNG_PER_CALL == 0 && FPK_RNG_STEP0 >= FPK_MAX_DIM,
               "FPK_RNG_STEP0");
_Static_assert(FPK_MC_FILL_STEPS % FPK_RNG_PER_CALL == 0, "FPK_MC_FILL_STEPS");

/* rng.c: Philox4x32-10 for paths path0 .. path0+n-1 at call index `call`, words stored
 * structure-of-arrays: w[e*ld + i] is word e of path path0 + i. */
void fpk_philox_soa(uint64_t seed, uint64_t path0, size_t n, uint64_t call, uint32_t *w,
                    size_t ld);

/* rng.c: the four words of the killing sub-stream's call j of path `path` (layout above). */
void fpk_philox_kill(uint64_t seed, uint64_t path, uint64_t j, uint32_t w[4]);

/* rng.c: normals of paths path0 .. path0+n-1 at calls [call0, call0 + ncalls), i.e. positions
 * [3 call0, 3 (call0 + ncalls)), written row-major z[(k - 3 call0)*ld + i] with ld >= n.
 * scratch: FPK_RNG_SCRATCH(n) bytes, 64-byte aligned (the slow-path draws waiting for
 * fpk_zig_slow, and the AVX2 kernel's records of where they are). */
#define FPK_RNG_SCRATCH(n) ((size_t)8192)
void fpk_rng_block(uint64_t seed, uint64_t path0, size_t n, uint64_t call0, size_t ncalls,
                   double *z, size_t ld, void *scratch);

/* ziggurat.c: slot and rectangle counts (checked against ziggurat_tables.h); the rectangle
 * edges X_s (s >= FPK_ZIG_RECTS: 0); the fast path's factors by 10-bit field
 * b = sign << 9 | s: xs[b] = (b >> 9 ? -1 : 1) X_s 2^-32. */
#define FPK_ZIG_SLOTS 512
#define FPK_ZIG_RECTS 509
extern const double fpk_zig_x[FPK_ZIG_SLOTS];
extern const double fpk_zig_xs[2 * FPK_ZIG_SLOTS];

/* The fast path for value word w and field b (slot b & 0x1ff < FPK_ZIG_RECTS, bits above 9
 * ignored): z = (w + 1/2) xs[b], w + 1/2 exact, one rounding: the correctly rounded
 * ±(w + 1/2) 2^-32 X_s. rng.c's AVX2 kernel gets w + 1/2 as (2^52 + w) - (2^52 - 1/2), also
 * exact, so both give the same bits. */
static inline double fpk_zig_fast(uint32_t w, uint32_t b) {
  return ((double)w + 0.5) * fpk_zig_xs[b & 0x3ffu];
}

/* ziggurat.c: the slow path for n draws. Draw i is position k[i] of path path[i], with
 * sel[i] = V | neg << 63 (V the selector above); out[i] receives its normal, which depends on
 * (seed, path[i], k[i], sel[i]) only, however many draws are passed together. */
void fpk_zig_slow(uint64_t seed, size_t n, const uint64_t *k, const uint64_t *path,
                  const uint64_t *sel, double *out);

/* initial.c: lower Cholesky factor L (row-major, FPK_MAX_DIM² entries, zero above the
 * diagonal) of the symmetric positive semidefinite d×d matrix S; zero columns for degenerate
 * directions. FPK_EINVAL for a non-finite, non-symmetric or indefinite S. */
int fpk_cholesky_psd(const double *S, size_t d, double *L, fpk_error *err);
/* initial.c: X_0 = mean + L Z for paths p0 .. p0+nb-1 (component-major x, d*nb), Z the normals at
 * stream positions 0..d-1 of each path. z: room for FPK_RNG_PER_CALL*nb doubles; scratch as for
 * fpk_rng_block. Every engine starts its paths here, so path p has the same X_0 in all of them. */
void fpk_mc_initial_state(uint64_t seed, uint64_t p0, size_t nb, size_t d, const double *mean,
                          const double *chol, double *x, double *z, void *scratch);

/* initial.c: an initial law on the grid (fpk_mc_params.init_cells): cdf[i] = cumulative cell
 * masses (not normalised), *last = the last cell with positive mass. FPK_EINVAL for a negative or
 * non-finite mass or no mass; FPK_EUNSUP beyond 3D. */
int fpk_mc_cell_cdf(const fpk_grid *g, const double *mass, double *cdf, size_t *last,
                    fpk_error *err);
/* initial.c: X_0 of paths p0 .. p0+nb-1 from that law (component-major x, g->dim*nb), from the
 * four words of Philox call 0 of each path: (w0, w1) the cell (inverse of cdf at a 53-bit
 * uniform), w2 (and w3 in 2D) the point in it; in 3D w0 the cell (a 32-bit uniform), w1, w2, w3
 * the point. w: room for 4*nb words. */
void fpk_mc_initial_cells(uint64_t seed, uint64_t p0, size_t nb, const fpk_grid *g,
                          const double *cdf, size_t last, double *x, uint32_t *w);

/* The stepper type tables (one file each: em.c, milstein.c, sra1.c, tamed_euler.c,
 * exact_ou.c); the public pointers and the registry are in steppers.c. */
extern const fpk_sde_stepper_type fpk_sde_em_type, fpk_sde_milstein_type, fpk_sde_sra1_type,
    fpk_sde_tamed_euler_type, fpk_sde_exact_ou_type, fpk_sde_baoab_type, fpk_sde_obabo_type;

/* baoab.c: FPK_SUCCESS for a Kramers model (fpk_model_kramers_params), else FPK_EINVAL saying
 * what the kinetic-Langevin splitting `scheme` (BAOAB, OBABO) needs and what to use instead. */
int sde_kinetic_check(const char *scheme, const fpk_model *m, fpk_error *err);

/* Where a stepper keeps the d × m noise matrix of n points of a matrix-noise model: after its
 * own work (fpk_sde_work_size), room for d*m*n doubles, σ_rk of point i at [(r*m + k)*n + i]. */
static inline double *sde_sigma_work(const fpk_sde_stepper_type *st, const fpk_model *m,
                                     size_t n, double *work) {
  return work + st->work_fixed + (st->work_per_point ? st->work_per_point : 1) * m->dim * n;
}

/* x_c += Σ_k s_ck z_k for c < d, k < nm, on n points: the noise of one step with σ given at one
 * point (s[c*nm + k], additive noise) scaled by `scale`. Rows of z: z + k*n. */
static inline void sde_add_matrix_noise_const(size_t d, size_t nm, size_t n, double scale,
                                              const double *s, const double *z, double *x) {
  for (size_t c = 0; c < d; c++) {
    double *restrict xc = x + c * n;
    for (size_t k = 0; k < nm; k++) {
      const double a = scale * s[c * nm + k];
      if (a == 0.0) continue; /* a zero entry (degenerate noise) adds nothing */
      const double *restrict zk = z + k * n;
      for (size_t i = 0; i < n; i++) xc[i] += a * zk[i];
    }
  }
}

/* ensemble.c: whether fpk_mc_run may use the fused Euler–Maruyama kernels of the built-in models
 * (models/model_internal.h; on by default). Off, every model takes the generic path: the stepper
 * callback per step. Both give the same bits; tests and benchmarks switch it to compare them.
 * Process-wide; takes effect at the next fpk_mc_run. */
void sde_mc_set_fused(int enable);
/* ensemble.c: the fused kernel fpk_mc_run uses for model m with stepper st (Euler–Maruyama and a
 * built-in model that has one, while enabled; without absorbing axes), or NULL. */
model_em_fused_fn sde_mc_fused_kernel(const fpk_model *m, const fpk_sde_stepper_type *st);

/* Index of the first of the nb points (component-major, d components) with a non-finite
 * component, or nb if none. The fast check ORs a flag over all components (vectorises); the slow
 * scan runs only on failure. */
static inline size_t fpk_first_nonfinite(const double *x, size_t d, size_t nb) {
  unsigned bad = 0;
  for (size_t k = 0; k < d * nb; k++) {
    uint64_t u;
    memcpy(&u, &x[k], sizeof u);
    bad |= (unsigned)((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  if (!bad) return nb;
  for (size_t i = 0; i < nb; i++)
    for (size_t c = 0; c < d; c++)
      if (!isfinite(x[c * nb + i])) return i;
  return nb;
}

#endif
