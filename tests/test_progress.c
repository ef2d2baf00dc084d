/* Progress callbacks (fpk_progress_fn, fpkit/error.h): the finite-volume and spectral steppers,
 * the Monte Carlo engine and the ladder report work done, one caller at a time, up to the total,
 * and change no number: results are bitwise the same with a callback and without (2 threads). */
#include "fpk_test.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "fpkit/fv.h"
#include "fpkit/sde.h"
#include "fpkit/spectral.h"

typedef struct record {
  size_t calls, last, total, decreases;
  int inside; /* a call running: detects two at once */
  size_t overlaps;
} record;

static void on_progress(void *user, size_t done, size_t total) {
  record *r = user;
  int was;
#pragma omp atomic capture
  was = r->inside++;
  if (was) r->overlaps++;
  if (r->calls && done < r->last) r->decreases++;
  r->calls++;
  r->last = done;
  r->total = total;
#pragma omp atomic
  r->inside--;
}

static fpk_grid grid1(double lo, double hi, size_t n, fpk_bc bc) {
  fpk_grid g;
  fpk_error err = {0};
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, &bc, &err), FPK_SUCCESS);
  return g;
}

static int same(const double *a, const double *b, size_t n) {
  return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_mc_progress(void **state) {
  (void)state;
  const double theta = 1.0, mu = 0.0, sigma = 0.7;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  assert_non_null(m);
  fpk_gaussian init = {.dim = 1, .mean = {1.0}, .cov = {0.1}};
  fpk_grid g = grid1(-4, 4, 64, FPK_BC_REFLECTING);
  const double t_out[] = {0.5, 1.0};
  const size_t N = 50000; /* 196 blocks: several per thread */
  fpk_mc_params p = {.stepper = fpk_sde_euler_maruyama, .npaths = N, .dt = 0.01, .seed = 9,
                     .nthreads = 2};
  fpk_mc_result a = {0}, b = {0};
  assert_int_equal(fpk_mc_run(m, &init, &g, t_out, 2, &p, &a, &err), FPK_SUCCESS);
  record r = {0};
  p.progress = on_progress;
  p.progress_user = &r;
  assert_int_equal(fpk_mc_run(m, &init, &g, t_out, 2, &p, &b, &err), FPK_SUCCESS);
  assert_true(same(a.density, b.density, 2 * g.size));
  assert_true(same(a.mean, b.mean, 2));
  assert_true(same(a.cov, b.cov, 2));
  assert_true(r.calls >= 2);
  assert_int_equal(r.last, N);
  assert_int_equal(r.total, N);
  assert_int_equal(r.decreases, 0);
  assert_int_equal(r.overlaps, 0);
  fpk_mc_result_free(&a);
  fpk_mc_result_free(&b);
  fpk_model_free(m);
}

static void test_ladder_progress(void **state) {
  (void)state;
  const double theta = 1.0, mu = 0.0, sigma = 0.5, x0 = 1.0;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  assert_non_null(m);
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = 1;
  init.mean[0] = x0;
  const size_t steps[] = {4, 8, 16};
  fpk_ladder_params p = {.stepper = fpk_sde_euler_maruyama, .nlevels = 3, .steps = steps,
                         .reference = FPK_LADDER_REF_FINEST, .T = 1.0, .npaths = 20000,
                         .seed = 3, .nthreads = 2};
  fpk_ladder_result a, b;
  assert_int_equal(fpk_sde_ladder(m, &init, &p, &a, &err), FPK_SUCCESS);
  record r = {0};
  p.progress = on_progress;
  p.progress_user = &r;
  assert_int_equal(fpk_sde_ladder(m, &init, &p, &b, &err), FPK_SUCCESS);
  assert_true(memcmp(&a, &b, sizeof a) == 0);
  assert_int_equal(r.last, 20000);
  assert_int_equal(r.total, 20000);
  assert_int_equal(r.decreases, 0);
  assert_int_equal(r.overlaps, 0);
  fpk_model_free(m);
}

static void test_fv_spectral_progress(void **state) {
  (void)state;
  const double theta = 1.0, mu = 0.0, sigma = 0.8;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  assert_non_null(m);
  fpk_grid g = grid1(-5, 5, 64, FPK_BC_PERIODIC);
  double *p0 = malloc(g.size * sizeof *p0), *pa = malloc(g.size * sizeof *pa);
  assert_non_null(p0);
  assert_non_null(pa);
  double mass = 0.0;
  for (size_t i = 0; i < g.size; i++) {
    const double x = g.lo[0] + (i + 0.5) * g.h[0];
    mass += (p0[i] = exp(-2.0 * (x - 1.0) * (x - 1.0))) * g.h[0];
  }
  for (size_t i = 0; i < g.size; i++) p0[i] /= mass;
  /* finite volumes: 0.3 / 0.01 = 30 steps, reported 1..30 */
  for (int with = 0; with < 2; with++) {
    fpk_fv *s = fpk_fv_alloc(&g, m, fpk_fv_tr_bdf2, 0.01, &err);
    assert_non_null(s);
    assert_int_equal(fpk_fv_set_density(s, 0.0, p0), FPK_SUCCESS);
    record r = {0};
    if (with) assert_int_equal(fpk_fv_set_progress(s, on_progress, &r), FPK_SUCCESS);
    assert_int_equal(fpk_fv_evolve(s, 0.3), FPK_SUCCESS);
    if (with) {
      assert_int_equal(r.calls, 30);
      assert_int_equal(r.last, 30);
      assert_int_equal(r.total, 30);
      assert_true(same(pa, fpk_fv_density(s), g.size));
    } else {
      memcpy(pa, fpk_fv_density(s), g.size * sizeof *pa);
    }
    fpk_fv_free(s);
  }
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  for (int with = 0; with < 2; with++) {
    fpk_spectral *s = fpk_spectral_alloc(&g, m, fpk_spectral_etdrk4, 0.02, &o, &err);
    assert_non_null(s);
    assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
    record r = {0};
    if (with) assert_int_equal(fpk_spectral_set_progress(s, on_progress, &r), FPK_SUCCESS);
    assert_int_equal(fpk_spectral_evolve(s, 0.2), FPK_SUCCESS);
    if (with) {
      assert_int_equal(r.calls, 10);
      assert_int_equal(r.last, 10);
      assert_int_equal(r.total, 10);
      assert_true(same(pa, fpk_spectral_density(s), g.size));
    } else {
      memcpy(pa, fpk_spectral_density(s), g.size * sizeof *pa);
    }
    fpk_spectral_free(s);
  }
  free(p0);
  free(pa);
  fpk_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mc_progress),
      cmocka_unit_test(test_ladder_progress),
      cmocka_unit_test(test_fv_spectral_progress),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
