/* Internal interfaces of the Monte Carlo engine (src/sde/). Not installed.
 *
 * Stream layout (see fpkit/sde.h): path p's normals form one sequence indexed by a 64-bit
 * position k = 3j + e, e = 0, 1, 2. Normals come from a ziggurat (ziggurat.c) fed by
 * Philox4x32-10 with key = (seed lo, seed hi):
 *  - main stream: call j has counter (j lo, j hi, p lo, p hi) (j < 2^63, so bit 31 of counter
 *    word 1 is 0) and words (w0, w1, w2, w3). Position 3j + e takes the 32-bit value w_e and
 *    the 10-bit field b = (w3 >> 10e) & 0x3ff (w3's top two bits are unused): slot
 *    s = b & 0x1ff, sign = b >> 9 (1: negative). Index and sign bits are never reused for the
 *    value (Doornik 2005).
 *  - fast path, s < FPK_ZIG_RECTS (509 of 512 slots, 99.41%): |z| = (w_e + 1/2) 2^-32 X_s;
 *  - slow path, s >= FPK_ZIG_RECTS: the selector V = (s - FPK_ZIG_RECTS) 2^32 + w_e picks the
 *    tail, an overhang or the cap, sampled by rejection with uniforms from the rejection
 *    sub-stream of position k: calls with counter
 *        (k lo, (k hi & 0xffffff) | a << 24 | 2^31, p lo, p hi),   attempt a = 0 .. 127,
 *    which the main stream never produces (bit 31); each attempt gives two tries, (w0, w1) and
 *    (w2, w3). (Sub-streams of positions k and k + 2^56 coincide; no run reaches 2^56.)
 * So the normal at position k is a pure function of (seed, p, k), whichever block, window or
 * thread computes it.
 * Positions [0, FPK_RNG_STEP0) are reserved for the initial condition (X_0 uses the first dim
 * of them); step s (0-based, counted over the whole run) uses positions
 *     FPK_RNG_STEP0 + s*q*dim + r*dim + c,   r < q = stepper->normals_per_dim, c < dim,
 * i.e. exactly the component-major layout the steppers expect.
 */
#ifndef FPK_SDE_INTERNAL_H
#define FPK_SDE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fpkit/sde.h"

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

#endif
