/* Defect (hostile test, issue 14, session 2; FIXED: the functions refuse (rc 1), tests/cli/sample_defects.sh for the CLI): 1D mixture helpers return success with garbage.
 *  - fpk_gmm1d_cdf with weights 0.5 0.9 (sum 1.4): rc 0 and F(2) = 1.218 > 1; fpk_sample_ks_gmm1d
 *    and fpk_sample_mode_weights accept the same weights (rc 0, KS against an improper CDF).
 *    fpk_gmm_alloc refuses them ("the weights sum to 1.4, off 1 by 0.4"); these take raw arrays
 *    and check only positivity.
 *  - fpk_sample_ks_gmm1d with a NaN point: rc 0, ks = 0.558 (a number, not NaN, not an error);
 *    fpk_sample_energy_distance / fpk_sample_sliced_w2 return rc 0 with NaN.
 * Expected: FPK_EINVAL naming the weight sum (off 1 by 0.4), and the first non-finite point.
 * Likely cause: src/diffusion/metrics.c (fpk_sample_ks_gmm1d, energy, sliced), src/diffusion/
 * pf_ode.c or gmm.c (fpk_gmm1d_cdf): no sum check, no finiteness check of x.
 * Build: gcc -Iinclude THIS.c -Lbuild -lfpkit_internal -lhdf5_serial -lumfpack -lfftw3 -lgsl
 *        -lgslcblas -lm -fopenmp && ./a.out    (prints rc 0 lines; expected rc 1) */
#include <math.h>
#include <stdio.h>
#include "fpkit/diffusion.h"
int main(void) {
  fpk_error e = {0};
  double wb[2] = {0.5, 0.9}, w[2] = {0.3, 0.7}, mu[2] = {-2, 1.5}, var[2] = {0.16, 0.36};
  double sd[2] = {0.4, 0.6}, x[5] = {-2, -1, 0, 1, 2}, xn[2] = {NAN, 1}, cdf[5], ks, d2, w2;
  int bad = 0, rc;
  rc = fpk_gmm1d_cdf(2, wb, mu, var, NULL, 0, 5, x, cdf, NULL, &e);
  printf("gmm1d_cdf weights sum 1.4: rc %d F(2) = %g\n", rc, cdf[4]); bad += rc == 0;
  rc = fpk_sample_ks_gmm1d(2, wb, mu, sd, 5, x, &ks, &e);
  printf("ks_gmm1d weights sum 1.4: rc %d ks = %g\n", rc, ks); bad += rc == 0;
  rc = fpk_sample_ks_gmm1d(2, w, mu, sd, 2, xn, &ks, &e);
  printf("ks_gmm1d NaN point: rc %d ks = %g\n", rc, ks); bad += rc == 0;
  rc = fpk_sample_energy_distance(1, 2, xn, 5, x, 0, &d2, &e);
  printf("energy NaN point: rc %d d2 = %g\n", rc, d2); bad += rc == 0;
  rc = fpk_sample_sliced_w2(1, 2, xn, x, 4, 1, &w2, &e);
  printf("sliced_w2 NaN point: rc %d w2 = %g\n", rc, w2); bad += rc == 0;
  return bad != 0;
}
