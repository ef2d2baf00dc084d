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

/* ---- Stationary laws of non-linear models (src/exact/stationary.c) ----------------------- */

/* Gibbs density e^{-βU}/Z of the potential of m (fpk_model_potential: Langevin models, and
 * Kramers models with U(x) + v²/2 in phase space; FPK_EINVAL otherwise) on the box of g, as cell averages p[c] (so Σ p·cell_volume = 1) with
 * Z = ∫_box e^{-βU}. β is an argument, not read from m: this is the stationary law of m on ℝ^d,
 * on a reflecting box, or on a torus U is periodic on, only when β is m's β and m has no tilt
 * and no noise modulation. Each cell integral uses composite Gauss–Legendre quadrature (tensor
 * in 2D): 12- and 16-point rules on 1, 2, 4, … panels per cell until they agree to 1e-14
 * relative (or to the rounding noise of e^{-βU}, ≈ 2e-15·β(|U| + 1)). One panel suffices while
 * e^{-βU} changes by less than about e^{13} across a cell (β|U'|h ≲ 13: for the double well with
 * h = 0.1 and β = 10, every cell with |x| <= 2.5); steeper cells are split. Checked against
 * QUADPACK in tests/test_models.c (1e-12) and against 40-digit quadrature (cells holding more
 * than 1e-6 of the peak within 1.4e-14 relative for β <= 30, all cells within 1e-15 of the
 * peak).
 * mass_outside (may be NULL): the Gibbs mass outside the box relative to ℝ^d, by QUADPACK
 * qagil/qagiu tails of the 1D marginals (2D: separable potentials only, 1 − Π(1 − o_a)); NaN for
 * a non-separable potential in 2D; 1 for a potential with infinite Gibbs mass on ℝ^d
 * (tilted-cosine: every bounded box holds a vanishing fraction of it). */
int fpk_exact_gibbs_cells(const fpk_model *m, double beta, const fpk_grid *g, double *p,
                          double *mass_outside, fpk_error *err);

/* Stationary density of any autonomous 1D model on the periodic grid g (period L = hi − lo; b and
 * σ must be L-periodic, checked), in the Itô convention J = b p − ∂_x(D p), D = σ²/2:
 *   Φ(x) = ∫_lo^x b/D dy,   p(x) = (N / D(x)) ∫_x^{x+L} e^{Φ(x) − Φ(y)} dy,
 *   J = N (1 − e^{−ΔΦ}),    ΔΦ = Φ(lo + L)
 * (Risken 1989, Chap. 11; derivation in the source). Returns the cell averages in p (g->n[0]
 * values, Σ p h = 1) and the constant probability current J in *flux (may be NULL; J > 0 flows
 * towards +x). Accuracy about 1e-13 relative to the peak of p (a-posteriori check with 12- and
 * 16-point rules; measured ≲ 1e-14 up to 10⁵ cells), with any size of ΔΦ or of the potential
 * barriers: e^{±Φ} is never formed, only in-panel differences and scaled floats. Fails
 * (FPK_EINVAL) unless g->dim == 1 with a periodic boundary and m is a 1D autonomous, L-periodic
 * model with σ ≠ 0. */
int fpk_exact_stationary_periodic_1d(const fpk_model *m, const fpk_grid *g, double *p,
                                     double *flux, fpk_error *err);

/* The exact stationary density of m on the box of g, as cell averages (Σ p·cell_volume = 1),
 * when fpkit knows a closed form for it, tried in this order: a stable linear model (Gaussian
 * N(A⁻¹c, Σ∞), Σ∞ from the Lyapunov equation; dim <= 2), a mixture-Langevin model on a box with
 * reflecting walls (the mixture), each as cell probabilities renormalised to the box; any 1D model
 * on a periodic grid (fpk_exact_stationary_periodic_1d); a Langevin model without tilt and
 * without noise modulation (fpk_exact_gibbs_cells with m's β); a Kramers model without tilt (the
 * phase-space Gibbs density, likewise). *what (may be NULL) is set to a
 * one-line description of the closed form used. FPK_EUNSUP (err saying so) when there is none:
 * an unstable linear model, a mixture on a non-reflecting box, a tilted or modulated Langevin
 * model off the periodic 1D case, any other model; other failures as the functions above. */
int fpk_exact_stationary_cells(const fpk_model *m, const fpk_grid *g, double *p,
                               const char **what, fpk_error *err);

/* ---- Escape over a barrier (src/exact/escape.c) --------------------------------------------- */

/* Kramers' rate (1940) for a Kramers model (fpk_model_kramers_alloc) in the spatial-diffusion,
 * moderate-to-high friction regime (Hänggi, Talkner & Borkovec 1990, §IV.A):
 *   k = (λ_b/ω_b)(ω_0/2π) e^{−βΔU},  λ_b = √(γ²/4 + ω_b²) − γ/2,
 * the rate from one well over one barrier: double-well (ω_0 = √2, ω_b = 1, ΔU = 1/4) or the
 * untilted tilted-cosine with amplitude > 0 (to one neighbour). Relative error O(1/(βΔU)), and
 * too large in the energy-diffusion regime γ ≲ ω_b/(βΔU). FPK_EINVAL for another model,
 * FPK_EUNSUP for a tilt or a potential without a barrier. */
int fpk_exact_kramers_rate(const fpk_model *m, double *rate, fpk_error *err);

/* Mean first-passage time from x0 to b > x0 of a 1D Langevin model (fpk_model_langevin_alloc,
 * no noise modulation; a tilt is included) with a reflecting wall at lo (lo = −INFINITY: none,
 * for a confining potential): T = β ∫_{x0}^{b} e^{βV(y)} ∫_{lo}^{y} e^{−βV(z)} dz dy, V = U − Fx
 * (Gardiner, Handbook of Stochastic Methods, §5.2.7), by nested QUADPACK to 1e-10. Exact at any
 * β: the reference for the high-friction limit of the Kramers model, whose escape time over the
 * same barrier is γ T (1 + O(1/γ²)). */
int fpk_exact_mfpt_1d(const fpk_model *m, double lo, double x0, double b, double *T,
                      fpk_error *err);

/* ---- The Kolmogorov distribution (src/exact/kolmogorov.c) ------------------------------------ */

/* K(x) = P(sup_{0<=t<=1} |B⁰_t| <= x) for the standard Brownian bridge B⁰ on [0, 1]: the limit
 * law of √n sup|F_n − F| for n i.i.d. samples of a continuous F (Kolmogorov 1933; Donsker 1952),
 *   K(x) = 1 − 2 Σ_{k>=1} (−1)^{k−1} e^{−2k²x²} = (√(2π)/x) Σ_{k>=1} e^{−(2k−1)²π²/(8x²)}.
 * The theta form is used below FPK_KOLMOGOROV_SWITCH and the alternating form above; both are
 * accurate to about 2e-16 absolute there. fpk_kolmogorov_sf is 1 − K, with relative accuracy
 * (a few 1e-16) in the upper tail x >= FPK_KOLMOGOROV_SWITCH; fpk_kolmogorov_pdf is K'.
 * Out of range: x <= 0 gives K = 0, sf = 1, pdf = 0; NaN gives NaN. */
#define FPK_KOLMOGOROV_SWITCH 1.0
double fpk_kolmogorov_cdf(double x);
double fpk_kolmogorov_sf(double x);
double fpk_kolmogorov_pdf(double x);
/* The two series alone, each on its whole domain (for tests: they agree where both converge; the
 * alternating one loses accuracy as x -> 0, the theta one needs many terms as x grows). */
double fpk_kolmogorov_cdf_alternating(double x);
double fpk_kolmogorov_cdf_theta(double x);
/* Quantile x with K(x) = p, and inverse survival x with 1 − K(x) = q (full relative accuracy in
 * the upper tail; tested for p, q down to 1e-300), by safeguarded Newton/bisection to within a
 * few ulps of x. p <= 0 gives 0 and p >= 1 +Inf (q: the reverse); NaN gives NaN. */
double fpk_kolmogorov_quantile(double p);
double fpk_kolmogorov_isf(double q);
/* Kolmogorov–Smirnov distance sup_y |F_n(y) − K(y)| between the empirical law of the n values
 * y_i = scale·x_i + shift (x sorted increasing, scale > 0, n >= 1) and the Kolmogorov law K: a
 * goodness-of-fit check of a sample of √n sup|F_n − F| statistics (or of Brownian-bridge maxima).
 * The supremum is attained at a sample point, from one side or the other:
 * max_i max(i/n − K(y_i), K(y_i) − (i−1)/n). */
double fpk_kolmogorov_ks_distance(const double *x, size_t n, double scale, double shift);

/* E sup|B⁰| = √(π/2) ln 2 (closed-forms.md): also the asymptotic mean of √n sup|F_n − F|, so an
 * exact sample of size N lies at an expected Kolmogorov–Smirnov distance ≈ FPK_KOLMOGOROV_MEAN/√N
 * from its own law (the sampling floor of a KS distance). */
#define FPK_KOLMOGOROV_MEAN 0.86873116063615914183
/* β = −ζ(1/2)/√(2π): the maximum of a Brownian motion (or bridge) with variance σ² per unit time,
 * monitored only at grid times h apart, is smaller than the continuous maximum by about β σ √h;
 * shifting the discrete maximum up by β σ √h corrects it to o(√h) (Broadie, Glasserman & Kou,
 * "A continuity correction for discrete barrier options", Math. Finance 7(4), 1997; Asmussen,
 * Glynn & Pitman, "Discretization error in simulation of one-dimensional reflecting Brownian
 * motion", Ann. Appl. Probab. 5(4), 1995). */
#define FPK_BGK_BETA 0.58259715793901067021

#ifdef __cplusplus
}
#endif
#endif
