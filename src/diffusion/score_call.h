/* A score callback called through a check (src/diffusion, internal): the output block is filled
 * with NaN first and must come back finite. fpk_score_fn carries no dimension, so a callback of
 * another dimension than the sampler's (a 1D mixture's score under dim = 2) used to leave half of
 * the block unwritten and return success: the sampler then read uninitialised memory and wrote a
 * different garbage result on every run (tests/defects/diffusion/
 * pfode_dim_mismatch_uninitialised.c). Now such a call fails, as does a score that is not finite
 * at some point. Returns the callback's non-zero code, FPK_SCORE_NONFINITE for an unwritten or
 * non-finite entry, or 0. */
#ifndef FPK_DIFFUSION_SCORE_CALL_H
#define FPK_DIFFUSION_SCORE_CALL_H

#include <math.h>
#include <stddef.h>

#include "fpkit/diffusion.h"

#define FPK_SCORE_NONFINITE (-1000) /* not a callback's code: theirs are fpk_status values */

static inline int fpk_score_call_checked(fpk_score_fn score, void *user, double t, size_t n,
                                         size_t dim, const double *x, double *out) {
  const size_t m = n * dim;
  for (size_t j = 0; j < m; j++) out[j] = NAN;
  const int rc = score(t, n, x, out, user);
  if (rc) return rc;
  for (size_t j = 0; j < m; j++)
    if (!isfinite(out[j])) return FPK_SCORE_NONFINITE;
  return 0;
}

#endif
