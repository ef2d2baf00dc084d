/* Benchmark: Euler–Maruyama on 1D OU through fpk_mc_run, 1e6 paths x 200 steps.
 *   bench_em_ou1d [npaths [nsteps [threads]]]
 * Prints path-steps per second per core (best of 3 runs), and the normal generator alone.
 * Same problem as bench/em_ou1d_numpy.py: θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1), T = 1. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fpkit/sde.h"
#include "sde/sde_internal.h"

#include "bench_timer.h"


int main(int argc, char **argv) {
  const size_t npaths = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  const size_t nsteps = argc > 2 ? strtoull(argv[2], NULL, 10) : 200;
  const int threads = argc > 3 ? atoi(argv[3]) : 1;
  const double theta = 1.0, mu = 0.0, sigma = 1.0, T = 1.0;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  fpk_grid g;
  const size_t n = 64;
  const double lo = -5, hi = 5;
  if (!m || fpk_grid_init(&g, 1, &n, &lo, &hi, NULL, &err)) {
    fprintf(stderr, "bench_em_ou1d: %s\n", err.msg);
    return 1;
  }
  fpk_gaussian init = {.dim = 1, .mean = {0.0}, .cov = {1.0}};
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = npaths, .dt = T / nsteps,
                     .seed = 1, .nthreads = threads};
  double best = 1e300, best_cpu = 1e300, mean = 0, var = 0;
  for (int rep = 0; rep < 3; rep++) {
    fpk_mc_result r = {0};
    const double t0 = now(), c0 = cpu();
    if (fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err)) {
      fprintf(stderr, "bench_em_ou1d: %s\n", err.msg);
      return 1;
    }
    const double el = now() - t0, cl = cpu() - c0;
    if (el < best) best = el;
    if (cl < best_cpu) best_cpu = cl;
    mean = r.mean[0];
    var = r.cov[0];
    fpk_mc_result_free(&r);
  }
  const double ps = (double)npaths * (double)nsteps;
  /* Wall-clock rate per thread, and the rate per CPU-second (robust on a shared machine). */
  printf("fpkit  EM OU1d: %zu paths x %zu steps, %d thread(s): %.3f s, %.3e path-steps/s/core "
         "(per CPU-second %.3e; mean %.4f var %.4f)\n",
         npaths, nsteps, threads, best, ps / best / threads, ps / best_cpu, mean, var);

  /* The normal generator alone (Philox4x32-10 + ziggurat), one thread. */
  enum { B = FPK_MC_BLOCK, ROWS = 48 }; /* a multiple of FPK_RNG_PER_CALL */
  double *z = aligned_alloc(64, (size_t)ROWS * B * sizeof(double));
  void *scratch = aligned_alloc(64, FPK_RNG_SCRATCH(B));
  const size_t blocks = 4000;
  double tn = 1e300, chk = 0;
  for (int rep = 0; rep < 3; rep++) {
    const double t0 = now();
    for (size_t b = 0; b < blocks; b++) {
      fpk_rng_block(7, b * B, B, 0, ROWS / FPK_RNG_PER_CALL, z, B, scratch);
      chk += z[b % (ROWS * B)];
    }
    const double el = now() - t0;
    if (el < tn) tn = el;
  }
  printf("fpkit  normals:  %.3e normals/s (%.2f ns each) [checksum %.3f]\n",
         (double)blocks * ROWS * B / tn, tn / ((double)blocks * ROWS * B) * 1e9, chk);
  free(z);
  free(scratch);
  fpk_model_free(m);
  return 0;
}
