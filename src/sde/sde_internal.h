/* Internal interfaces of the Monte Carlo engine (src/sde/). Not installed.
 *
 * Stream layout (see fpkit/sde.h): path p's normals form one sequence indexed by a 64-bit
 * position k. Philox4x32-10 is called with key = (seed lo, seed hi) and counter
 * (k/4 lo, k/4 hi, p lo, p hi); its four 32-bit words (w0, w1, w2, w3) give positions 4j..4j+3
 * by Box–Muller on the pairs (w0, w1) -> (4j: r cos, 4j+1: r sin) and (w2, w3) -> (4j+2, 4j+3).
 * Positions [0, 4) are reserved for the initial condition (X_0 uses the first dim of them);
 * step s (0-based, counted over the whole run) uses positions
 *     FPK_RNG_STEP0 + s*q*dim + r*dim + c,   r < q = stepper->normals_per_dim, c < dim,
 * i.e. exactly the component-major layout the steppers expect.
 */
#ifndef FPK_SDE_INTERNAL_H
#define FPK_SDE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fpkit/sde.h"

/* Normals per Philox call, and the first position used by the increments. */
#define FPK_RNG_PER_CALL 4
#define FPK_RNG_STEP0 4
/* The Box–Muller kernel works on chunks of this many (u1, u2) pairs; arrays passed to
 * fpk_bm_pairs have lengths that are multiples of it. */
#define FPK_BM_CHUNK 16
/* Paths per block (a multiple of FPK_BM_CHUNK): the unit of work, of RNG generation and of the
 * deterministic reduction. */
#define FPK_MC_BLOCK 256
/* Steps whose normals are generated together (a multiple of 4 so that every fill starts on a
 * Philox call boundary whatever the dimension). */
#define FPK_MC_FILL_STEPS 16
/* Blocks per reduction round: per-block partial moments of one round are stored, then combined
 * serially in block order. Bounds memory at ROUND * nt * (dim + dim(dim+1)/2) doubles. */
#define FPK_MC_ROUND 256

/* rng.c: Philox4x32-10 for paths path0 .. path0+n-1 at call index `call` (positions 4*call ..
 * 4*call+3), words stored structure-of-arrays: w[e*ld + i] is word e of path path0 + i. */
void fpk_philox_soa(uint64_t seed, uint64_t path0, size_t n, uint64_t call, uint32_t *w,
                    size_t ld);

/* normal.c: Box–Muller on n pairs (n a multiple of FPK_BM_CHUNK):
 *   u = (a + ½) 2^-32 in (0, 1),  φ = 2π (b + ½) 2^-32 in (0, 2π),
 *   zc = sqrt(-2 ln u) cos φ,  zs = sqrt(-2 ln u) sin φ.
 * Every pair goes through the same vector code, so a pair's result does not depend on where it
 * sits in the arrays (the block generator and fpk_rng_normals give identical bits). */
void fpk_bm_pairs(size_t n, const uint32_t *restrict a, const uint32_t *restrict b,
                  double *restrict zc, double *restrict zs);

/* rng.c: normals of paths path0 .. path0+n-1 at calls [call0, call0 + ncalls), i.e. positions
 * [4 call0, 4 (call0 + ncalls)), written row-major z[(k - 4 call0)*ld + i] with ld >= n.
 * scratch: FPK_RNG_SCRATCH(n) bytes, 64-byte aligned. */
#define FPK_RNG_PAD(n) (((n) + FPK_BM_CHUNK - 1) / FPK_BM_CHUNK * FPK_BM_CHUNK)
#define FPK_RNG_SCRATCH(n) (FPK_RNG_PAD(n) * 4 * (sizeof(uint32_t) + sizeof(double)))
void fpk_rng_block(uint64_t seed, uint64_t path0, size_t n, uint64_t call0, size_t ncalls,
                   double *z, size_t ld, void *scratch);

#endif
