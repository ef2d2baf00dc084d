/* Defect (hostile test, issue 14): fpk_lmc_params_init's documented defaults (step ε = 0.01,
 * σ 10 → 0.01) gave the annealed sampler α_1 = ε σ_1²/σ_L² = 1e4 on its first level, so every
 * path left the doubles at once (FPK_ENUMERIC) on any target. Song & Ermon 2019 use ε = 2e-5 with
 * σ_L = 0.01 (α_i/σ_i² = 0.2). Fixed: the step defaults to NaN, the type's default (α = 0.01 for
 * ula and mala, ε = 2e-5 for annealed: α_i/σ_i² = 0.2 on every level); this program exits 0.
 * Test: tests/test_diffusion_langevin.c, test_defaults_and_empty.
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
  printf("annealed with the defaults: rc %d %s\n", rc, rc ? e.msg : ""); /* was rc 4; now 0 */
  fpk_lmc_gmm_free(a), fpk_gmm_free(m);
  return rc != 0;
}
