/* Built with -ffast-math (CMakeLists.txt): glibc declares its SIMD variants of exp (libmvec,
 * _ZGVdN4v_exp for AVX2) only under __FAST_MATH__. The loop has no comparisons, so the
 * finite-math assumption cannot change its meaning; libmvec's exp handles ±∞ and NaN itself. */
#include "core/vmath.h"

#include <math.h>

void fpk_vexp(size_t n, const double *x, double *y) {
#pragma omp simd
  for (size_t i = 0; i < n; i++) y[i] = exp(x[i]);
}

/* y[i] = log(x[i]) (libmvec's vector log, <= 4 ulp; log(0) = −∞), for the propagations of
 * src/ot/propagate.c. x and y may alias. */
void fpk_vlog(size_t n, const double *x, double *y) {
#pragma omp simd
  for (size_t i = 0; i < n; i++) y[i] = log(x[i]);
}
