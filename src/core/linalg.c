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

#define LINALG_MAX_D 8 /* the small systems of the mixtures and observations (d <= 3 today) */

void fpk_cholesky_solve(size_t d, const double *L, const double *b, double *x) {
  double y[LINALG_MAX_D];
  for (size_t i = 0; i < d; i++) { /* L y = b */
    double s = b[i];
    for (size_t j = 0; j < i; j++) s -= L[i * d + j] * y[j];
    y[i] = s / L[i * d + i];
  }
  for (size_t i = d; i-- > 0;) { /* Lᵀ x = y */
    double s = y[i];
    for (size_t j = i + 1; j < d; j++) s -= L[j * d + i] * x[j];
    x[i] = s / L[i * d + i];
  }
}

void fpk_cholesky_inverse(size_t d, const double *L, double *inv) {
  for (size_t c = 0; c < d; c++) {
    double e[LINALG_MAX_D] = {0}, x[LINALG_MAX_D];
    e[c] = 1;
    fpk_cholesky_solve(d, L, e, x);
    for (size_t i = 0; i < d; i++) inv[i * d + c] = x[i];
  }
}
