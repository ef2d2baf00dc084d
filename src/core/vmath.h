/* Vectorised elementary functions (not installed). */
#ifndef FPK_VMATH_H
#define FPK_VMATH_H

#include <stddef.h>

/* y[i] = exp(x[i]) through glibc's libmvec (4 lanes with AVX2, ≤ 4 ulp; exp(−∞) = 0): the one
 * file built with -ffast-math, which is what lets GCC call libmvec. x and y may alias. */
void fpk_vexp(size_t n, const double *x, double *y);
/* y[i] = log(x[i]) through libmvec (<= 4 ulp; log(0) = −∞). x and y may alias. */
void fpk_vlog(size_t n, const double *x, double *y);

#endif
