/* Small dense linear algebra shared inside the library (src/core/linalg.h). */
#include "core/linalg.h"

#include <math.h>
#include <string.h>

int fpk_cholesky_pd(size_t d, const double *S, double *L) {
  memset(L, 0, d * d * sizeof *L);
  for (size_t j = 0; j < d; j++) {
    double s = S[j * d + j];
    for (size_t k = 0; k < j; k++) s -= L[j * d + k] * L[j * d + k];
    if (!(s > 0.0) || !isfinite(s)) return (int)j;
    L[j * d + j] = sqrt(s);
    for (size_t i = j + 1; i < d; i++) {
      double t = S[i * d + j];
      for (size_t k = 0; k < j; k++) t -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = t / L[j * d + j];
    }
  }
  return -1;
}
