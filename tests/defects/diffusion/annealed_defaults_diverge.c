/* Defect (hostile test, issue 14; NOT fixed, reported): fpk_lmc_params_init's documented defaults
 * (step ε = 0.01, σ 10 → 0.01) give the annealed sampler α_1 = ε σ_1²/σ_L² = 1e4 on its first
 * level, so every path leaves the doubles at once (FPK_ENUMERIC) on any target. Song & Ermon 2019
 * use ε = 2e-5 with σ 1 → 0.01 (α_1 = 0.2).
 * Build: gcc -Iinclude THIS.c -Lbuild -lfpkit_internal -lgsl -lgslcblas -lm -fopenmp */
#include <stdio.h>
#include "fpkit/diffusion.h"
int main(void) {
  fpk_error e = {0};
  double w[2] = {0.3, 0.7}, mu[2] = {-2, 1.5}, C[2] = {0.16, 0.36}, x[100];
  fpk_gmm *m = fpk_gmm_alloc(1, 2, w, mu, C, &e);
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, 20, &e);
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  fpk_lmc_params p;
  fpk_lmc_params_init(&p);
  for (int i = 0; i < 100; i++) x[i] = 0.01 * i;
  int rc = fpk_lmc_run(fpk_lmc_annealed, &tg, &p, 100, x, NULL, &e);
  printf("annealed with the defaults: rc %d %s\n", rc, rc ? e.msg : ""); /* rc 4 */
  fpk_lmc_gmm_free(a), fpk_gmm_free(m);
  return rc != 0;
}
