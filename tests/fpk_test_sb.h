/* Shared by the Schrödinger-bridge tests (test_sb.c, test_sb_kl.c, test_sb_sample.c). */
#ifndef FPK_TEST_SB_H
#define FPK_TEST_SB_H

#include "fpk_test.h"
#include "fpkit/exact.h"

/* The cell masses of a Gaussian on g: its density at the cell centres, normalised to sum 1 (the
 * end marginals of every bridge test). */
static inline void density_weights(const fpk_grid *g, const fpk_gaussian *G, double *p) {
  fpk_error err = {0};
  assert_int_equal(fpk_gaussian_density_grid(G, g, p, &err), FPK_SUCCESS);
  double s = 0;
  for (size_t i = 0; i < g->size; i++) s += p[i];
  for (size_t i = 0; i < g->size; i++) p[i] /= s;
}

#endif
