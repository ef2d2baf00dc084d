/* fpkit/exact.h — closed forms to verify against (see ../shared/reference/closed-forms.md).
 *
 * Linear SDEs dX = (-A X + c) dt + diag(σ) dW started from a Gaussian stay Gaussian:
 *   m_t = e^{-At} m_0 + ∫_0^t e^{-As} c ds,
 *   Σ_t = e^{-At} Σ_0 e^{-Aᵀt} + ∫_0^t e^{-As} BBᵀ e^{-Aᵀs} ds,
 * both computed with Van Loan's block-matrix exponential (C. Van Loan, "Computing integrals
 * involving the matrix exponential", IEEE TAC 23(3), 1978), so A may be singular (Brownian motion),
 * non-symmetric, or anisotropic.
 */
#ifndef FPKIT_EXACT_H
#define FPKIT_EXACT_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Law at time t of the linear SDE started from init. */
int fpk_exact_linear_law(const fpk_linear_sde *sde, const fpk_gaussian *init, double t,
                         fpk_gaussian *out, fpk_error *err);
/* Stationary covariance Σ∞ solving AΣ + ΣAᵀ = BBᵀ (requires every eigenvalue of A to have a
 * positive real part; FPK_EINVAL otherwise). */
int fpk_exact_lyapunov(const fpk_linear_sde *sde, double *cov, fpk_error *err);
/* Exact law of the Euler–Maruyama chain X_{k+1} = X_k + h(-A X_k + c) + √h B Z_k after the
 * steps given: nint intervals, interval j made of nsteps[j] steps of size h[j]. */
int fpk_exact_em_law(const fpk_linear_sde *sde, const fpk_gaussian *init, size_t nint,
                     const size_t *nsteps, const double *h, fpk_gaussian *out, fpk_error *err);

/* Gaussian density N(x; g) at the centre of every cell (grid->size values). */
int fpk_gaussian_density_grid(const fpk_gaussian *g, const fpk_grid *grid, double *p,
                              fpk_error *err);
/* Probability of every cell under g, exact (erf) for 1D and for diagonal covariance, and by
 * Gauss–Legendre quadrature within each cell otherwise (error well below 1e-12 per cell for
 * cells narrower than the standard deviation). */
int fpk_gaussian_cell_probs(const fpk_gaussian *g, const fpk_grid *grid, double *q,
                            fpk_error *err);
/* Upper bound on the mass of g outside the box of grid: the sum over axes of the exact marginal
 * mass outside [lo, hi] (union bound; exact in 1D). */
double fpk_gaussian_mass_outside(const fpk_gaussian *g, const fpk_grid *grid);
/* KL(N0 ‖ N1). */
double fpk_gaussian_kl(const fpk_gaussian *g0, const fpk_gaussian *g1);

#ifdef __cplusplus
}
#endif
#endif
