/* Defect (hostile test, issue 14, session 2; FIXED: the samplers fill the score block with NaN and check it comes back finite (FPK_ECALLBACK, "another dimension"); tests/test_diffusion_defects.c): fpk_pfode_sample with params.dim = 2 and the exact
 * score of a 1D mixture (fpk_gmm_score_fn) returns rc 0 with garbage: the callback treats the
 * 2 x n block as n 1D points and leaves half of the score buffer unwritten; valgrind reports
 * "Conditional jump or move depends on uninitialised value(s)" and the result here is
 * y = (1.19084, 1.19084, -0.000124, -0.000124) in one run, (1.287, 0.982, 45.6, 152.2) in the
 * next (uninitialised memory: not reproducible), rc 0.
 * Expected: FPK_EINVAL "dim = 2 but the score's mixture is 1D". fpk_score_fn carries no dim, so
 * the sampler cannot check; fpk_gmm_score_ctx could carry the caller's dim (or the samplers could
 * poison the score buffer with NaN before each call and check it was fully written).
 * Likely cause: include/fpkit/diffusion.h fpk_score_fn / fpk_gmm_score_fn (src/diffusion/gmm.c),
 * fpk_pfode_sample (src/diffusion/pf_ode.c); fpk_revsde_sample presumably the same.
 * Build: gcc -Iinclude THIS.c -Lbuild -lfpkit_internal -lhdf5_serial -lumfpack -lfftw3 -lgsl
 *        -lgslcblas -lm -fopenmp && valgrind -q ./a.out   (exit 1 = accepted) */
#include <stdio.h>
#include "fpkit/diffusion.h"
int main(void) {
  fpk_error e = {0};
  double w[2] = {0.3, 0.7}, mu[2] = {-2, 1.5}, C[2] = {0.16, 0.36}, y[4] = {0.1, -0.2, 0.3, 1};
  fpk_gmm *g = fpk_gmm_alloc(1, 2, w, mu, C, &e);
  fpk_schedule_params sp;
  fpk_schedule_params_init(&sp);
  fpk_schedule *s = fpk_schedule_alloc(fpk_schedule_find("vp-linear"), &sp, &e);
  fpk_gmm_score_ctx ctx = {g, s};
  fpk_pfode_params p;
  fpk_pfode_params_init(&p);
  p.steps = 10, p.dim = 2; /* 2 points of dimension 2, a 1D mixture's score */
  int rc = fpk_pfode_sample(&p, s, fpk_gmm_score_fn, &ctx, 2, y, NULL, &e);
  printf("dim 2 with a 1D score: rc %d y %g %g %g %g %s\n", rc, y[0], y[1], y[2], y[3], rc ? e.msg : "");
  fpk_schedule_free(s), fpk_gmm_free(g);
  return rc == 0;
}
