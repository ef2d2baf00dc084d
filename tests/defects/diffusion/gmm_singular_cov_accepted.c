/* Defect (hostile test, issue 14, session 2; FIXED: the functions refuse (rc 1), tests/cli/sample_defects.sh for the CLI): fpk_gmm_alloc accepts an exactly singular covariance
 * [[1, 0.6], [0.6, 0.36]] (eigenvalues 0 and 1.36; documented "symmetric positive definite"),
 * and fpk_gmm_eval at t = 0 then returns rc 0 with log p = -2.2e15 and score (1.1e16, -1.8e16).
 * In the CLI (--set "data.covs=1 0.6 0.6 0.36 0.5 -0.2 -0.2 0.8" on a 2D config) it is not refused
 * as [data] covs: with t_min = 0.5 it runs (exit 0); with denoise = true or family = langevin the
 * refusal names "[grid] n ... conditional standard deviation 0 ... use at least inf cells".
 * Expected: FPK_EINVAL "covariance 1 is not positive definite" (a pivot test relative to the
 * diagonal, e.g. pivot <= 1e-12 * C_jj, not pivot <= 0), so the CLI names [data] covs.
 * Likely cause: src/diffusion/gmm.c fpk_gmm_alloc's Cholesky check (absolute, rounding leaves a
 * tiny positive pivot).
 * Build: gcc -Iinclude THIS.c -Lbuild -lfpkit_internal -lhdf5_serial -lumfpack -lfftw3 -lgsl
 *        -lgslcblas -lm -fopenmp && ./a.out   (prints "accepted"; exit 1) */
#include <stdio.h>
#include "fpkit/diffusion.h"
int main(void) {
  fpk_error e = {0};
  double w[1] = {1}, mu[2] = {0, 0}, C[4] = {1, 0.6, 0.6, 0.36}, x[2] = {0.1, 0.3}, lp, sc[2];
  fpk_gmm *g = fpk_gmm_alloc(2, 1, w, mu, C, &e);
  int g_ok = g != NULL;
  printf("singular cov [[1,.6],[.6,.36]]: %p %s\n", (void *)g, g ? "accepted" : e.msg);
  if (g) { int rc = fpk_gmm_eval(g, NULL, 0, 1, x, &lp, sc, NULL, NULL, &e); printf("eval t=0: rc %d log_p %g score %g %g %s\n", rc, lp, sc[0], sc[1], rc ? e.msg : ""); }
  fpk_gmm_free(g);
  return g_ok;
}
