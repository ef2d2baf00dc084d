/* Small dense linear algebra shared inside the library (not installed). For d <= FPK_MAX_DIM,
 * where a call into GSL's matrix views costs more than the work. */
#ifndef FPK_LINALG_H
#define FPK_LINALG_H

#include <stddef.h>

/* Lower Cholesky factor L (row-major d×d, zero above the diagonal) of the symmetric positive
 * definite S (only its lower triangle is read); returns the first index whose pivot is not
 * positive and finite, or -1. (The positive semidefinite variant with its messages, for initial
 * laws that may be point masses, is fpk_cholesky_psd in src/sde/initial.c.) */
int fpk_cholesky_pd(size_t d, const double *S, double *L);

/* x = (LLᵀ)⁻¹ b from the factor of fpk_cholesky_pd (d <= 8): L y = b, then Lᵀ x = y. x may not
 * alias b. */
void fpk_cholesky_solve(size_t d, const double *L, const double *b, double *x);

/* The inverse (row-major d×d) of LLᵀ, column by column (d <= 8). */
void fpk_cholesky_inverse(size_t d, const double *L, double *inv);

#endif
