/* The fused Euler–Maruyama kernels of the built-in models (src/models/model_internal.h, used by
 * src/sde/ensemble.c) against the generic path (em.c's stepper with the model's callbacks):
 *  1. kernel level: the same states, bit for bit, for every kernel, widths around the kernels'
 *     lane groups and runs of steps of every length up to a fill;
 *  2. whole runs of fpk_mc_run with the kernels on and off (sde_mc_set_fused): every result array
 *     bitwise identical, for OU in 1D, 2D and 3D, Brownian motion with drift (A = 0), GBM in 1D
 *     and 2D, several seeds, 1 and 2 threads, path counts that leave a partial block, output
 *     intervals whose step counts are not multiples of the fill, kept paths;
 *  3. failures: a run that overflows reports the same error, path, step and state either way;
 *  4. which runs take the kernels (EM and a built-in model only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/sde.h"
#include "sde/sde_internal.h"

/* ---- 1. Kernel level ---------------------------------------------------------------------- */

/* Fills v[0..n) with values of both signs and spread magnitudes from a fixed LCG. */
static void fill_values(double *v, size_t n, uint64_t *state, double scale) {
  for (size_t i = 0; i < n; i++) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = (double)(*state >> 11) * 0x1p-53; /* [0, 1) */
    v[i] = scale * (2.0 * u - 1.0) * (1.0 + 3.0 * u * u);
  }
}

/* nsteps EM steps of n points through the stepper (the generic path) and through the model's
 * kernel, z in the engine's fill layout (row (j*d + c) of ld = n); asserts the same bits. */
static void check_kernel(const fpk_model *m, size_t n, size_t nsteps, double h, uint64_t seed) {
  const size_t d = m->dim;
  const model_em_fused_fn kern = sde_mc_fused_kernel(m, fpk_sde_euler_maruyama);
  assert_non_null(kern);
  double *x0 = malloc(d * n * sizeof(double)), *xa = malloc(d * n * sizeof(double));
  double *xb = malloc(d * n * sizeof(double)), *z = malloc(nsteps * d * n * sizeof(double));
  double *work = malloc(2 * d * n * sizeof(double)), *work2 = malloc(d * n * sizeof(double));
  assert_true(x0 && xa && xb && z && work && work2);
  uint64_t st = seed;
  fill_values(x0, d * n, &st, 2.0);
  fill_values(z, nsteps * d * n, &st, 1.5);
  memcpy(xa, x0, d * n * sizeof(double));
  memcpy(xb, x0, d * n * sizeof(double));
  fpk_error err = {0};
  for (size_t j = 0; j < nsteps; j++)
    assert_int_equal(fpk_sde_euler_maruyama->step(m, 0.0, h, n, xa, z + j * d * n, work, &err),
                     FPK_SUCCESS);
  kern(m, h, nsteps, n, xb, z, n, work2);
  assert_memory_equal(xa, xb, d * n * sizeof(double));
  /* and the kernel moved the points (a kernel that does nothing would fail above anyway) */
  assert_true(memcmp(x0, xb, d * n * sizeof(double)) != 0);
  free(x0), free(xa), free(xb), free(z), free(work), free(work2);
}

static void test_kernels_bitwise(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A1 = 1.7, mu1 = 0.3, s1 = 0.8, v1 = -0.4;
  const double A2[4] = {1.0, 0.8, -0.5, 1.5}, mu2[2] = {0.5, -0.3}, s2[2] = {1.0, 0.6};
  const double A3[9] = {2.0, 0.0, 0.3, -0.1, 1.0, 0.0, 0.0, 0.4, 0.7}, mu3[3] = {1, -1, 0.5},
               s3[3] = {0.5, 1.2, 0.9};
  const double gmu[2] = {0.05, -0.2}, gsig[2] = {0.3, 0.45};
  fpk_model *ms[] = {fpk_model_ou_alloc(1, &A1, &mu1, &s1, &err),
                     fpk_model_bm_alloc(1, &v1, &s1, &err),
                     fpk_model_ou_alloc(2, A2, mu2, s2, &err),
                     fpk_model_ou_alloc(3, A3, mu3, s3, &err),
                     fpk_model_bm_alloc(2, mu2, s2, &err),
                     fpk_model_gbm_alloc(1, gmu, gsig, &err),
                     fpk_model_gbm_alloc(2, gmu, gsig, &err)};
  const size_t widths[] = {1, 3, 8, 31, 32, 33, 64, 100, 255, 256};
  size_t checks = 0;
  for (size_t k = 0; k < sizeof ms / sizeof *ms; k++) {
    assert_non_null(ms[k]);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
      for (size_t ns = 1; ns <= FPK_MC_FILL_STEPS; ns += 7, checks++)
        check_kernel(ms[k], widths[w], ns, 0.013 * (double)(1 + k), 1000 * k + 10 * w + ns);
    fpk_model_free(ms[k]);
  }
  printf("fused EM kernels: %zu (model, width, steps) cases bitwise equal to the stepper\n",
         checks);
}

/* ---- 2. Whole runs ------------------------------------------------------------------------ */

static fpk_grid grid_for(size_t d, double lo, double hi) {
  fpk_grid g;
  fpk_error err = {0};
  const size_t n[3] = {24, 18, 10};
  const double l[3] = {lo, lo, lo}, u[3] = {hi, hi, hi};
  const fpk_bc bc[3] = {FPK_BC_REFLECTING, FPK_BC_PERIODIC, FPK_BC_REFLECTING};
  assert_int_equal(fpk_grid_init(&g, d, n, l, u, bc, &err), FPK_SUCCESS);
  return g;
}

static void run_once(const fpk_model *m, const fpk_gaussian *init, const fpk_grid *g,
                     const double *t_out, size_t nt, const fpk_mc_params *p, int fused,
                     fpk_mc_result *r) {
  fpk_error err = {0};
  sde_mc_set_fused(fused);
  *r = (fpk_mc_result){0};
  const int rc = fpk_mc_run(m, init, g, t_out, nt, p, r, &err);
  sde_mc_set_fused(1);
  if (rc) printf("  fpk_mc_run: %s\n", err.msg);
  assert_int_equal(rc, FPK_SUCCESS);
}

/* Every result array of the two runs, bit for bit. */
static void assert_results_equal(const fpk_mc_result *a, const fpk_mc_result *b, size_t cells) {
  const size_t nt = a->nt, d = a->dim;
  assert_int_equal(a->nsteps, b->nsteps);
  assert_memory_equal(a->density, b->density, nt * cells * sizeof(double));
  assert_memory_equal(a->mean, b->mean, nt * d * sizeof(double));
  assert_memory_equal(a->cov, b->cov, nt * d * d * sizeof(double));
  assert_memory_equal(a->outside, b->outside, nt * sizeof(double));
  assert_memory_equal(a->survival, b->survival, nt * sizeof(double));
  assert_int_equal(a->keep_paths, b->keep_paths);
  if (a->keep_paths) {
    assert_memory_equal(a->paths, b->paths, a->keep_paths * (a->nsteps + 1) * d * sizeof(double));
    assert_memory_equal(a->path_t, b->path_t, (a->nsteps + 1) * sizeof(double));
  }
}

static void compare_runs(const char *what, const fpk_model *m, const fpk_gaussian *init,
                         double lo, double hi) {
  const size_t d = m->dim;
  const fpk_grid g = grid_for(d, lo, hi);
  /* dt = 0.01: 23, 27 and 50 steps per interval (none a multiple of the 15-step fill, the
   * second interval starting mid-fill); 1000 paths: three full blocks and one of 232; 777
   * paths with 260 kept: the first two blocks generic (kept), the rest fused. */
  const double t_out[] = {0.23, 0.5, 1.0};
  const uint64_t seeds[] = {1, 0x9e3779b97f4a7c15ull, 20261207};
  const size_t npaths[] = {1000, 777, 2};
  const size_t keeps[] = {0, 260, 0};
  size_t runs = 0;
  double mean_last = 0.0;
  for (size_t si = 0; si < 3; si++)
    for (int th = 1; th <= 2; th++) {
      const size_t c = (si + (size_t)th) % 3;
      const fpk_mc_params p = {.npaths = npaths[c], .dt = 0.01, .seed = seeds[si],
                               .keep_paths = keeps[c], .nthreads = th};
      fpk_mc_result a, b;
      run_once(m, init, &g, t_out, 3, &p, 0, &a);
      run_once(m, init, &g, t_out, 3, &p, 1, &b);
      assert_results_equal(&a, &b, g.size);
      mean_last = b.mean[2 * d];
      fpk_mc_result_free(&a);
      fpk_mc_result_free(&b);
      runs++;
    }
  printf("%s: %zu runs fused == generic bitwise (mean[t=1][0] = %.17g)\n", what, runs,
         mean_last);
}

static void test_runs_bitwise(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A1 = 1.0, mu1 = 0.0, s1 = 1.0, v1 = 0.7;
  const double A2[4] = {1.0, 0.8, -0.5, 1.5}, mu2[2] = {0.5, -0.3}, s2[2] = {1.0, 0.6};
  const double A3[9] = {2.0, 0.0, 0.3, -0.1, 1.0, 0.0, 0.0, 0.4, 0.7}, mu3[3] = {1, -1, 0.5},
               s3[3] = {0.5, 1.2, 0.9};
  const double gmu[2] = {0.05, -0.2}, gsig[2] = {0.3, 0.45};
  const fpk_gaussian n1 = {.dim = 1, .mean = {0.2}, .cov = {1.0}};
  const fpk_gaussian n2 = {.dim = 2, .mean = {1.5, 1.0}, .cov = {0.2, 0.05, 0.05, 0.1}};
  const fpk_gaussian n3 = {.dim = 3, .mean = {0.5, 0, -0.5}, .cov = {1, 0, 0, 0, 1, 0, 0, 0, 1}};
  const fpk_gaussian g1 = {.dim = 1, .mean = {1.0}, .cov = {0.01}};
  const fpk_gaussian g2 = {.dim = 2, .mean = {1.0, 2.0}, .cov = {0.01, 0, 0, 0.02}};
  fpk_model *m;
  m = fpk_model_ou_alloc(1, &A1, &mu1, &s1, &err);
  compare_runs("OU 1D", m, &n1, -4, 4);
  fpk_model_free(m);
  m = fpk_model_bm_alloc(1, &v1, &s1, &err);
  compare_runs("BM 1D (A = 0)", m, &n1, -4, 4);
  fpk_model_free(m);
  m = fpk_model_ou_alloc(2, A2, mu2, s2, &err);
  compare_runs("OU 2D", m, &n2, -3, 3);
  fpk_model_free(m);
  m = fpk_model_ou_alloc(3, A3, mu3, s3, &err);
  compare_runs("OU 3D", m, &n3, -4, 4);
  fpk_model_free(m);
  m = fpk_model_gbm_alloc(1, gmu, gsig, &err);
  compare_runs("GBM 1D", m, &g1, 0, 3);
  fpk_model_free(m);
  m = fpk_model_gbm_alloc(2, gmu, gsig, &err);
  compare_runs("GBM 2D", m, &g2, 0, 4);
  fpk_model_free(m);
}

/* ---- 3. Failures -------------------------------------------------------------------------- */

static void compare_failure(const char *what, const fpk_model *m, const fpk_gaussian *init,
                            double T, double dt, size_t npaths) {
  const fpk_grid g = grid_for(m->dim, -3, 3);
  char msg[2][sizeof(((fpk_error *)0)->msg)];
  for (int fused = 0; fused <= 1; fused++)
    for (int th = 1; th <= 2; th++) {
      const fpk_mc_params p = {.npaths = npaths, .dt = dt, .seed = 5, .nthreads = th};
      fpk_error err = {0};
      fpk_mc_result r = {0};
      sde_mc_set_fused(fused);
      const int rc = fpk_mc_run(m, init, &g, &T, 1, &p, &r, &err);
      sde_mc_set_fused(1);
      assert_int_equal(rc, FPK_ENUMERIC);
      assert_null(r.mean);
      assert_non_null(strstr(err.msg, "non-finite at t = "));
      if (th == 1) memcpy(msg[fused], err.msg, sizeof msg[fused]);
      else assert_string_equal(msg[fused], err.msg);
    }
  printf("%s: the same failure either way: %s\n", what, msg[1]);
  assert_string_equal(msg[0], msg[1]);
}

static void test_failures_same(void **state) {
  (void)state;
  fpk_error err = {0};
  /* a repelling OU, x' = 400 x: |x| grows by 1 + 400 h = 5 per step of 0.01 and overflows
   * after ~440 steps, in the middle of a fill */
  const double A = -400.0, mu = 0.0, s = 1.0;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &s, &err);
  const fpk_gaussian n1 = {.dim = 1, .mean = {0.0}, .cov = {1.0}};
  compare_failure("repelling OU 1D", m, &n1, 6.0, 0.01, 600);
  fpk_model_free(m);
  const double A2[4] = {-300.0, 1.0, 0.0, 1.0}, mu2[2] = {0, 0}, s2[2] = {1, 1};
  m = fpk_model_ou_alloc(2, A2, mu2, s2, &err);
  const fpk_gaussian n2 = {.dim = 2, .mean = {0.0, 0.0}, .cov = {1, 0, 0, 1}};
  compare_failure("repelling OU 2D", m, &n2, 6.0, 0.01, 300);
  fpk_model_free(m);
  const double gmu = 500.0, gsig = 0.5;
  m = fpk_model_gbm_alloc(1, &gmu, &gsig, &err);
  const fpk_gaussian g1 = {.dim = 1, .mean = {1.0}, .cov = {0.01}};
  compare_failure("exploding GBM 1D", m, &g1, 6.0, 0.01, 520);
  fpk_model_free(m);
}

/* ---- 4. Which runs take the kernels ------------------------------------------------------- */

static int copy_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) out[i] = -x[i];
  return 0;
}

static void test_kernel_selection(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1.0, mu = 0.0, s = 1.0;
  fpk_model *ou = fpk_model_ou_alloc(1, &A, &mu, &s, &err);
  fpk_model *gbm = fpk_model_gbm_alloc(1, &A, &s, &err);
  assert_non_null(sde_mc_fused_kernel(ou, fpk_sde_euler_maruyama));
  assert_non_null(sde_mc_fused_kernel(gbm, fpk_sde_euler_maruyama));
  /* other steppers, and the switch off: the generic path */
  assert_null(sde_mc_fused_kernel(ou, fpk_sde_milstein));
  assert_null(sde_mc_fused_kernel(ou, fpk_sde_sra1));
  assert_null(sde_mc_fused_kernel(gbm, fpk_sde_milstein));
  sde_mc_set_fused(0);
  assert_null(sde_mc_fused_kernel(ou, fpk_sde_euler_maruyama));
  sde_mc_set_fused(1);
  /* a user's copy of the built-in with its own drift: not the kernel's arithmetic */
  fpk_model mine = *ou;
  mine.drift = copy_drift;
  assert_null(sde_mc_fused_kernel(&mine, fpk_sde_euler_maruyama));
  /* a user model declaring itself linear (closed forms) keeps its own callbacks */
  fpk_model lin = {.name = "user", .dim = 1, .drift = copy_drift, .noise = ou->noise,
                   .flags = FPK_MODEL_ADDITIVE, .linear = ou->linear};
  assert_null(sde_mc_fused_kernel(&lin, fpk_sde_euler_maruyama));
  fpk_langevin_params lp = {.beta = 1.0, .amplitude = 1.0, .period = 1.0};
  fpk_model *lv = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
  assert_non_null(lv);
  assert_null(sde_mc_fused_kernel(lv, fpk_sde_euler_maruyama));
  fpk_model_free(lv);
  fpk_model_free(ou);
  fpk_model_free(gbm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels_bitwise),
      cmocka_unit_test(test_runs_bitwise),
      cmocka_unit_test(test_failures_same),
      cmocka_unit_test(test_kernel_selection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
