/* Defect (hostile test, issue 14): fpk_posterior_gmm refused y = 60 (far in one component's tail):
 * "gmm: weight 2 = 0 must be positive and finite". Expected: the posterior mixture (component 2
 * with weight ~0). Build: gcc -Iinclude THIS.c -Lbuild -lfpkit_internal -lgsl -lgslcblas -lm
 * -fopenmp. Fixed; test: tests/test_diffusion_defects.c. */
#include <stdio.h>
#include "fpkit/diffusion.h"
int main(void) {
  fpk_error e = {0};
  double w[2] = {0.4, 0.6}, mu[4] = {1, -1, -2, 0.5}, C[8] = {1, 0.3, 0.3, 0.5, 0.4, -0.1, -0.1, 0.9};
  double H[2] = {1, 0}, y[1] = {60};
  fpk_gmm *g = fpk_posterior_gmm(2, 2, w, mu, C, 1, H, y, 0.1, &e);
  printf("posterior gmm far y: %p %s\n", (void *)g, g ? "" : e.msg);
  fpk_gmm_free(g);
  double w1[2] = {1e-300, 1 - 1e-300};
  g = fpk_gmm_alloc(2, 2, w1, mu, C, &e); printf("w 1e-300: %p %s\n", (void*)g, g ? "" : e.msg);
  double x[2] = {1, -1}, lp, sc[2];
  if (g) { int rc = fpk_gmm_eval(g, NULL, 0, 1, x, &lp, sc, NULL, NULL, &e); printf("rc %d lp %.17g sc %g %g\n", rc, lp, sc[0], sc[1]); }
  fpk_gmm_free(g);
  return 0;
}
