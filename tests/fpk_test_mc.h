/* Shared check of the Monte Carlo engine's reproducibility, for the test programs that run it. */
#ifndef FPK_TEST_MC_H
#define FPK_TEST_MC_H

#include "fpk_test.h"
#include "fpkit/sde.h"

/* Runs the same ensemble with 1 and 2 threads (seed 42, dt 0.1, 3 kept paths) into r[0], r[1]
 * and asserts that every result array is bitwise identical: density, moments, outside, survival,
 * recorded paths and their times. The caller frees r[0] and r[1]. */
static inline void fpk_test_mc_threads_bitwise(const fpk_model *m, const fpk_gaussian *init,
                                               const fpk_grid *g, const double *t_out, size_t nt,
                                               size_t npaths, fpk_mc_result r[2]) {
  fpk_error err = {0};
  const size_t d = m->dim;
  for (int k = 0; k < 2; k++) {
    fpk_mc_params p = {.npaths = npaths, .dt = 0.1, .seed = 42, .keep_paths = 3,
                       .nthreads = k + 1};
    r[k] = (fpk_mc_result){0};
    assert_int_equal(fpk_mc_run(m, init, g, t_out, nt, &p, &r[k], &err), FPK_SUCCESS);
  }
  assert_memory_equal(r[0].density, r[1].density, nt * g->size * sizeof(double));
  assert_memory_equal(r[0].mean, r[1].mean, nt * d * sizeof(double));
  assert_memory_equal(r[0].cov, r[1].cov, nt * d * d * sizeof(double));
  assert_memory_equal(r[0].outside, r[1].outside, nt * sizeof(double));
  assert_memory_equal(r[0].survival, r[1].survival, nt * sizeof(double));
  assert_memory_equal(r[0].paths, r[1].paths, 3 * (r[0].nsteps + 1) * d * sizeof(double));
  assert_memory_equal(r[0].path_t, r[1].path_t, (r[0].nsteps + 1) * sizeof(double));
}

#endif
