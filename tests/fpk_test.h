/* Shared helpers for fpkit's cmocka test programs. */
#ifndef FPK_TEST_H
#define FPK_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>

#include "fpkit/grid.h"
#include "fpkit/model.h"

/* cmocka's assert_float_equal casts to float; these compare doubles. */
#define assert_close_rel(actual, expected, rtol)                                               \
  do {                                                                                         \
    double a_ = (actual), e_ = (expected), r_ = (rtol);                                        \
    if (!(fabs(a_ - e_) <= r_ * fabs(e_)))                                                      \
      fail_msg("%s = %.17g, expected %.17g within relative %g (rel err %.3g)", #actual, a_, e_, \
               r_, fabs(a_ - e_) / fabs(e_));                                                  \
  } while (0)

#define assert_close_abs(actual, expected, atol)                                      \
  do {                                                                                \
    double a_ = (actual), e_ = (expected), t_ = (atol);                               \
    if (!(fabs(a_ - e_) <= t_))                                                        \
      fail_msg("%s = %.17g, expected %.17g within %g (abs err %.3g)", #actual, a_, e_, \
               t_, fabs(a_ - e_));                                                    \
  } while (0)

#define assert_in_range_d(actual, lo, hi)                                                     \
  do {                                                                                        \
    double a_ = (actual), l_ = (lo), h_ = (hi);                                               \
    if (!(a_ >= l_ && a_ <= h_)) fail_msg("%s = %.17g, expected in [%g, %g]", #actual, a_, l_, h_); \
  } while (0)

/* Least-squares slope of log(err) against log(h): the fitted convergence order. */
static inline double fpk_test_fit_order(size_t n, const double *h, const double *err) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; i++) {
    double x = log(h[i]), y = log(err[i]);
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/* A grid with default (reflecting) boundaries; fails the test if the grid is invalid. */
static inline fpk_grid fpk_test_grid(size_t d, const size_t *n, const double *lo,
                                     const double *hi) {
  fpk_grid g;
  fpk_error err = {0};
  assert_int_equal(fpk_grid_init(&g, d, n, lo, hi, NULL, &err), FPK_SUCCESS);
  return g;
}

static inline fpk_gaussian fpk_test_gaussian(size_t d, const double *m, const double *S) {
  fpk_gaussian g;
  memset(&g, 0, sizeof g);
  g.dim = d;
  memcpy(g.mean, m, d * sizeof *m);
  memcpy(g.cov, S, d * d * sizeof *S);
  return g;
}

#endif
