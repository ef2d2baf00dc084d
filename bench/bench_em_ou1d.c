/* Benchmark: Euler–Maruyama on 1D OU through fpk_mc_run, 1e6 paths x 200 steps.
 *   bench_em_ou1d [npaths [nsteps [threads [reps]]]]
 * Each repetition runs the engine twice, alternating: with the built-in model's fused EM kernel
 * (the default, src/models/model_internal.h) and on the generic path (the stepper callback per
 * step, sde_mc_set_fused(0)). Prints path-steps per second per core (wall clock and per
 * CPU-second) of each run, the best of each, checks that both give bitwise the same mean and
 * variance (exit 1 otherwise), then times the normal generator alone.
 * Same problem as bench/em_ou1d_numpy.py: θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1), T = 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpkit/sde.h"
#include "sde/sde_internal.h"

#include "bench_timer.h"

typedef struct {
  double wall, cpu, mean, var;
} em_run;

static int run(const fpk_model *m, const fpk_gaussian *init, const fpk_grid *g, double T,
               const fpk_mc_params *p, int fused, em_run *out) {
  fpk_error err = {0};
  fpk_mc_result r = {0};
  sde_mc_set_fused(fused);
  const double t0 = now(), c0 = cpu();
  const int rc = fpk_mc_run(m, init, g, &T, 1, p, &r, &err);
  out->wall = now() - t0;
  out->cpu = cpu() - c0;
  sde_mc_set_fused(1);
  if (rc) {
    fprintf(stderr, "bench_em_ou1d: %s\n", err.msg);
    return 1;
  }
  out->mean = r.mean[0];
  out->var = r.cov[0];
  fpk_mc_result_free(&r);
  return 0;
}

static void report(const char *tag, const char *what, size_t npaths, size_t nsteps, int threads,
                   const em_run *r) {
  const double ps = (double)npaths * (double)nsteps;
  printf("fpkit  EM OU1d (%s)%s: %zu paths x %zu steps, %d thread(s): %.3f s, %.3e "
         "path-steps/s/core (per CPU-second %.3e; mean %.17g var %.17g)\n",
         tag, what, npaths, nsteps, threads, r->wall, ps / r->wall / threads, ps / r->cpu,
         r->mean, r->var);
}

int main(int argc, char **argv) {
  const size_t npaths = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  const size_t nsteps = argc > 2 ? strtoull(argv[2], NULL, 10) : 200;
  const int threads = argc > 3 ? atoi(argv[3]) : 1;
  const int reps = argc > 4 ? atoi(argv[4]) : 3;
  if (npaths < 2 || nsteps < 1 || threads < 1 || reps < 1) {
    fprintf(stderr, "usage: bench_em_ou1d [npaths >= 2 [nsteps >= 1 [threads >= 1 [reps >= 1]]]]\n");
    return 2;
  }
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
  em_run best[2] = {{1e300, 1e300, 0, 0}, {1e300, 1e300, 0, 0}};
  int same = 1;
  for (int rep = 0; rep < reps; rep++)
    for (int k = 0; k < 2; k++) { /* k = 0: fused, 1: generic */
      em_run r;
      if (run(m, &init, &g, T, &p, k == 0, &r)) return 1;
      report(k == 0 ? "fused" : "generic", " rep", npaths, nsteps, threads, &r);
      if (r.wall < best[k].wall) best[k].wall = r.wall;
      if (r.cpu < best[k].cpu) best[k].cpu = r.cpu;
      best[k].mean = r.mean, best[k].var = r.var;
      same &= memcmp(&r.mean, &best[0].mean, sizeof r.mean) == 0 &&
              memcmp(&r.var, &best[0].var, sizeof r.var) == 0;
    }
  report("fused", " best", npaths, nsteps, threads, &best[0]);
  report("generic", " best", npaths, nsteps, threads, &best[1]);
  printf("fpkit  fused vs generic: %.2fx per CPU-second; mean and variance bitwise %s\n",
         best[1].cpu / best[0].cpu, same ? "identical" : "DIFFERENT");
  if (!same) {
    fprintf(stderr, "bench_em_ou1d: the fused and generic paths disagree: a defect in the fused "
                    "EM kernel (src/models/linear.c)\n");
    return 1;
  }

  /* The normal generator alone (Philox4x32-10 + ziggurat), one thread. */
  enum { B = FPK_MC_BLOCK, ROWS = 48 }; /* a multiple of FPK_RNG_PER_CALL */
  double *z = aligned_alloc(64, (size_t)ROWS * B * sizeof(double));
  void *scratch = aligned_alloc(64, FPK_RNG_SCRATCH(B));
  const size_t blocks = 4000;
  double tn = 1e300, chk = 0;
  for (int rep = 0; rep < 3; rep++) {
    const double c0 = cpu();
    for (size_t b = 0; b < blocks; b++) {
      fpk_rng_block(7, b * B, B, 0, ROWS / FPK_RNG_PER_CALL, z, B, scratch);
      chk += z[b % (ROWS * B)];
    }
    const double el = cpu() - c0;
    if (el < tn) tn = el;
  }
  printf("fpkit  normals:  %.3e normals/s per CPU-second (%.2f ns each) [checksum %.3f]\n",
         (double)blocks * ROWS * B / tn, tn / ((double)blocks * ROWS * B) * 1e9, chk);
  free(z);
  free(scratch);
  fpk_model_free(m);
  return 0;
}
