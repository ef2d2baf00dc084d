/* Benchmark: path-steps per second per core of fpk_mc_run for built-in and expression models
 * (issue 4), the peer of bench/sde_numpy.py (run both with bench/run_sde.sh).
 *   bench_sde [npaths [nsteps [nsteps_expr [threads]]]]
 * Cases, each 1D through fpk_mc_run with one output time (a 64-cell histogram at T, so the
 * histogram costs one binning per path), X_0 ~ N(mean, var), T = 1, dt = T/nsteps:
 *   em-ou             Euler–Maruyama, built-in OU: θ = 1, μ = 0, σ = 1, X_0 ~ N(0, 1)
 *   em-ou-expr        Euler–Maruyama, the same OU as an expression model interpreted by
 *                     libmatheval (jit = off): drift "-theta*(x-mu)", noise "sigma"
 *                                                                        (nsteps_expr steps)
 *   em-ou-jit         the same expression model compiled by libgccjit (jit = on)
 *   milstein-gbm      Milstein, built-in GBM: μ = 0.05, σ = 0.2, X_0 ~ N(1, 0.1²)
 *   em-gbm            Euler–Maruyama, built-in GBM (reference)
 *   milstein-gbm-expr Milstein, the same GBM as an expression model, interpreted: drift "m*x",
 *                     noise "s*x" (three callbacks per step: b, σ and ∂σ/∂x) (nsteps_expr steps)
 *   milstein-gbm-jit  the same expression model compiled by libgccjit (∂σ/∂x compiled too)
 * The interpreted cases take fewer steps (default 10 against 200) so that every case runs for
 * about 0.5–2 s; rates per path-step do not depend on the number of steps. The compiled cases
 * are skipped, saying so, in a build without libgccjit. The compiled and interpreted models give
 * the same paths bit for bit (tests/test_expr_jit.c), so their means agree at equal steps.
 * Each case prints the best of 3 runs, wall clock and CPU time. */
#include <stdio.h>
#include <stdlib.h>

#include "fpkit/sde.h"

#include "bench_timer.h"

#define REPS 3

static void die(const char *what, const fpk_error *err) {
  fprintf(stderr, "bench_sde: %s: %s\n", what, err->msg);
  exit(1);
}

/* Runs one case REPS times and prints its line (parsed by run_sde.sh: keep the format). */
static void run_case(const char *name, const fpk_model *m, const fpk_sde_stepper_type *st,
                     double mean0, double var0, double lo, double hi, size_t npaths,
                     size_t nsteps, int threads) {
  fpk_error err = {0};
  const double T = 1.0;
  const size_t ncell = 64;
  fpk_grid g;
  if (fpk_grid_init(&g, 1, &ncell, &lo, &hi, NULL, &err)) die(name, &err);
  fpk_gaussian init = {.dim = 1, .mean = {mean0}, .cov = {var0}};
  fpk_mc_params p = {.stepper = st, .npaths = npaths, .dt = T / (double)nsteps, .seed = 1,
                     .nthreads = threads};
  double best = 1e300, best_cpu = 1e300, mean = 0, var = 0;
  for (int rep = 0; rep < REPS; rep++) {
    fpk_mc_result r = {0};
    const double t0 = now(), c0 = cpu();
    if (fpk_mc_run(m, &init, &g, &T, 1, &p, &r, &err)) die(name, &err);
    const double el = now() - t0, cl = cpu() - c0;
    if (el < best) best = el;
    if (cl < best_cpu) best_cpu = cl;
    mean = r.mean[0];
    var = r.cov[0];
    fpk_mc_result_free(&r);
  }
  const double ps = (double)npaths * (double)nsteps;
  printf("fpkit  %-17s: %zu paths x %zu steps, %d thread(s): %.3f s, %.3e path-steps/s/core "
         "(per CPU-second %.3e; %.2f ns/path-step; mean %.4f var %.4f)\n",
         name, npaths, nsteps, threads, best, ps / best / threads, ps / best_cpu,
         best_cpu / ps * 1e9, mean, var);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const size_t npaths = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  const size_t nsteps = argc > 2 ? strtoull(argv[2], NULL, 10) : 200;
  const size_t nsteps_expr = argc > 3 ? strtoull(argv[3], NULL, 10) : 10;
  const int threads = argc > 4 ? atoi(argv[4]) : 1;
  if (!npaths || !nsteps || !nsteps_expr || threads < 1) {
    fprintf(stderr, "usage: bench_sde [npaths [nsteps [nsteps_expr [threads]]]]\n");
    return 1;
  }
  fpk_error err = {0};

  /* OU, θ = 1, μ = 0, σ = 1: the problem of bench_em_ou1d. */
  const double theta = 1.0, mu = 0.0, sigma = 1.0;
  fpk_model *ou = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  if (!ou) die("ou", &err);
  const char *ou_names[] = {"theta", "mu", "sigma"};
  const double ou_values[] = {theta, mu, sigma};
  fpk_expr_spec ou_spec = {.dim = 1, .drift = {"-theta*(x-mu)"}, .noise = {"sigma"},
                           .nparams = 3, .param_names = ou_names, .param_values = ou_values,
                           .jit = FPK_EXPR_JIT_OFF};
  fpk_model *ou_expr = fpk_model_expr_alloc(&ou_spec, &err);
  if (!ou_expr) die("ou expression", &err);
  ou_spec.jit = FPK_EXPR_JIT_ON;
  fpk_model *ou_jit = fpk_model_expr_alloc(&ou_spec, &err); /* NULL without libgccjit */
  const char *why_no_jit = ou_jit ? NULL : err.msg;

  /* GBM, μ = 0.05, σ = 0.2. */
  const double gmu = 0.05, gsig = 0.2;
  fpk_model *gbm = fpk_model_gbm_alloc(1, &gmu, &gsig, &err);
  if (!gbm) die("gbm", &err);
  const char *gbm_names[] = {"m", "s"};
  const double gbm_values[] = {gmu, gsig};
  fpk_expr_spec gbm_spec = {.dim = 1, .drift = {"m*x"}, .noise = {"s*x"}, .nparams = 2,
                            .param_names = gbm_names, .param_values = gbm_values,
                            .jit = FPK_EXPR_JIT_OFF};
  fpk_model *gbm_expr = fpk_model_expr_alloc(&gbm_spec, &err);
  if (!gbm_expr) die("gbm expression", &err);
  gbm_spec.jit = FPK_EXPR_JIT_ON;
  fpk_error err_gbm = {0};
  fpk_model *gbm_jit = fpk_model_expr_alloc(&gbm_spec, &err_gbm);
  const char *how = NULL;
  if (ou_jit) {
    fpk_model_expr_jit(ou_jit, &how);
    printf("fpkit  jit: OU %s\n", how);
  } else {
    printf("fpkit  jit: skipped: %s\n", why_no_jit);
  }
  if (gbm_jit) {
    fpk_model_expr_jit(gbm_jit, &how);
    printf("fpkit  jit: GBM %s\n", how);
  }

  printf("fpkit  expressions: OU drift %s, noise %s (flags %u); GBM drift %s, noise %s, "
         "noise_dx %s (flags %u)\n",
         fpk_model_expr_string(ou_expr, FPK_EXPR_DRIFT, 0),
         fpk_model_expr_string(ou_expr, FPK_EXPR_NOISE, 0), ou_expr->flags,
         fpk_model_expr_string(gbm_expr, FPK_EXPR_DRIFT, 0),
         fpk_model_expr_string(gbm_expr, FPK_EXPR_NOISE, 0),
         fpk_model_expr_string(gbm_expr, FPK_EXPR_NOISE_DX, 0), gbm_expr->flags);

  run_case("em-ou", ou, fpk_sde_euler_maruyama, 0.0, 1.0, -5.0, 5.0, npaths, nsteps, threads);
  run_case("em-ou-expr", ou_expr, fpk_sde_euler_maruyama, 0.0, 1.0, -5.0, 5.0, npaths,
           nsteps_expr, threads);
  if (ou_jit)
    run_case("em-ou-jit", ou_jit, fpk_sde_euler_maruyama, 0.0, 1.0, -5.0, 5.0, npaths, nsteps,
             threads);
  run_case("milstein-gbm", gbm, fpk_sde_milstein, 1.0, 0.01, 0.0, 3.0, npaths, nsteps, threads);
  run_case("em-gbm", gbm, fpk_sde_euler_maruyama, 1.0, 0.01, 0.0, 3.0, npaths, nsteps, threads);
  run_case("milstein-gbm-expr", gbm_expr, fpk_sde_milstein, 1.0, 0.01, 0.0, 3.0, npaths,
           nsteps_expr, threads);
  if (gbm_jit)
    run_case("milstein-gbm-jit", gbm_jit, fpk_sde_milstein, 1.0, 0.01, 0.0, 3.0, npaths, nsteps,
             threads);

  fpk_model_free(gbm_jit);
  fpk_model_free(ou_jit);
  fpk_model_free(gbm_expr);
  fpk_model_free(gbm);
  fpk_model_free(ou_expr);
  fpk_model_free(ou);
  return 0;
}
