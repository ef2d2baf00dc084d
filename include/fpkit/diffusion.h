/* fpkit/diffusion.h — diffusion-model dynamics with exact scores (docs/diffusion.md).
 *
 * Noising schedules: the forward SDE dX = f(t) X dt + g(t) dW on [0, T] (per axis), whose
 * transition from x0 is Gaussian, x_t = a_t x0 + b_t z, z ~ N(0, I) (Song et al., "Score-based
 * generative modeling through SDEs", ICLR 2021; ../shared/reference/closed-forms.md, "Gaussian
 * mixtures under linear forward SDEs"). The log signal-to-noise ratio is λ_t = log(a_t/b_t),
 * decreasing in t. Types (a GSL-style table):
 *   "ou"         dX = −θX dt + σ dW:          a = e^{−θt}, b² = σ²(1 − e^{−2θt})/(2θ);
 *   "vp-linear"  β(t) = β_min + (t/T)(β_max − β_min), dX = −½β X dt + √β dW (Ho et al. 2020 in the
 *                continuous limit): a = exp(−½∫β), b² = 1 − a²;
 *   "vp-cosine"  ᾱ(t) = cos²(((t/T) + s)/(1 + s)·π/2)/cos²(s/(1 + s)·π/2) (Nichol & Dhariwal
 *                2021), a = √ᾱ, b² = 1 − ᾱ, β = −d log ᾱ/dt (infinite at t = T: use t < T);
 *   "subvp"      dX = −½β X dt + √(β(1 − e^{−2∫β})) dW (Song et al. 2021): a = exp(−½∫β),
 *                b² = (1 − a²)²;
 *   "ve"         σ(t) = σ_min (σ_max/σ_min)^{t/T}, dX = √(dσ²/dt) dW: a = 1, b² = σ(t)² − σ_min².
 *
 * Targets with exact scores: Gaussian mixtures p_0 = Σ_k w_k N(μ_k, Σ_k) in 1–3 dimensions (any
 * weights, means, full covariances). Under a schedule, p_t = Σ_k w_k N(a_t μ_k, C_k),
 * C_k = a_t² Σ_k + b_t² I, and
 *   ∇log p_t(x) = Σ_k r_k(x) C_k⁻¹(a_t μ_k − x),  r_k = softmax_k(log w_k + log N(x; a_t μ_k, C_k)),
 *   E[x0 | x_t = x] = Σ_k r_k m_k,  m_k = μ_k + a_t Σ_k C_k⁻¹(x − a_t μ_k)   (Tweedie),
 *   Cov[x0 | x_t = x] = Σ_k r_k (P_k + m_k m_kᵀ) − E Eᵀ,  P_k = Σ_k − a_t² Σ_k C_k⁻¹ Σ_k,
 * the responsibilities by log-sum-exp (no underflow far from every component).
 *
 * Points are stored component-major, as fpkit's model callbacks: x[c·n + i] is component c of
 * point i. Errors: int status (fpkit/error.h), message in err. */
#ifndef FPKIT_DIFFUSION_H
#define FPKIT_DIFFUSION_H

#include <stddef.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Noising schedules ------------------------------------------------------------------- */

typedef struct fpk_schedule_type {
  const char *name;
  const char *description;
} fpk_schedule_type;

extern const fpk_schedule_type *fpk_schedule_ou;
extern const fpk_schedule_type *fpk_schedule_vp_linear;
extern const fpk_schedule_type *fpk_schedule_vp_cosine;
extern const fpk_schedule_type *fpk_schedule_subvp;
extern const fpk_schedule_type *fpk_schedule_ve;
/* NULL-terminated list, and lookup by name (NULL if unknown). */
extern const fpk_schedule_type *const fpk_schedule_types[];
const fpk_schedule_type *fpk_schedule_find(const char *name);

typedef struct fpk_schedule_params {
  double T;                  /* horizon > 0 (default 1) */
  double theta, sigma;       /* ou: θ > 0, σ > 0 (defaults 1, √2: stationary N(0, 1)) */
  double beta_min, beta_max; /* vp-linear, subvp: 0 < β_min < β_max (defaults 0.1, 20) */
  double s;                  /* vp-cosine: offset s > 0 (default 0.008) */
  double sigma_min, sigma_max; /* ve: 0 < σ_min < σ_max (defaults 0.01, 50) */
} fpk_schedule_params;

/* The defaults above. */
void fpk_schedule_params_init(fpk_schedule_params *p);

typedef struct fpk_schedule fpk_schedule;

/* FPK_EINVAL (in err, naming the parameter and value) for a parameter out of range (β ≤ 0,
 * β_min >= β_max, σ_min >= σ_max, T <= 0, ...). */
fpk_schedule *fpk_schedule_alloc(const fpk_schedule_type *type, const fpk_schedule_params *p,
                                 fpk_error *err);
void fpk_schedule_free(fpk_schedule *s); /* NULL is safe */
const fpk_schedule_type *fpk_schedule_type_of(const fpk_schedule *s);
double fpk_schedule_T(const fpk_schedule *s);

/* At t in [0, T] (values outside are extrapolated by the formulas, NaN where undefined):
 * a_t, b_t² (b2: written without cancellation near t = 0), the drift coefficient f(t), the
 * squared diffusion g(t)², and λ_t = log(a_t/b_t) (+∞ at t = 0 where b = 0). */
double fpk_schedule_mean_coef(const fpk_schedule *s, double t);
double fpk_schedule_var(const fpk_schedule *s, double t);
double fpk_schedule_f(const fpk_schedule *s, double t);
double fpk_schedule_g2(const fpk_schedule *s, double t);
double fpk_schedule_lambda(const fpk_schedule *s, double t);
/* The time with λ_t = lambda (λ is strictly decreasing in t), in closed form for every type;
 * lambda = +∞ gives 0. FPK_EINVAL when lambda is below λ_T or NaN. */
int fpk_schedule_t_of_lambda(const fpk_schedule *s, double lambda, double *t, fpk_error *err);

/* ---- Gaussian mixtures with exact noised scores ------------------------------------------- */

typedef struct fpk_gmm fpk_gmm;

/* K components in dim = 1..3: weights (K, > 0, summing to 1 within 1e-12: the message says by
 * how much), means (K × dim, row k the mean of component k), covs (K × dim × dim row-major,
 * symmetric positive definite: the message names the component and the failing pivot).
 * FPK_EINVAL otherwise. */
fpk_gmm *fpk_gmm_alloc(size_t dim, size_t K, const double *weights, const double *means,
                       const double *covs, fpk_error *err);
void fpk_gmm_free(fpk_gmm *m); /* NULL is safe */
size_t fpk_gmm_dim(const fpk_gmm *m);
size_t fpk_gmm_components(const fpk_gmm *m);

/* The noised mixture at time t of schedule s (s = NULL: the data, t ignored), at n points x
 * (component-major, dim × n). Any output may be NULL:
 *   log_p[n]        log p_t(x);
 *   score[dim × n]  ∇log p_t(x);
 *   denoised[dim × n]  E[x0 | x_t = x] (Tweedie);
 *   post_cov[dim × dim × n]  Cov[x0 | x_t = x], entry (c, e) of point i at (c·dim + e)·n + i.
 * FPK_EINVAL for t outside [0, T]; FPK_ENUMERIC if a noised covariance is not positive definite
 * (t = 0 with a singular Σ_k cannot happen: the constructor checked). */
int fpk_gmm_eval(const fpk_gmm *m, const fpk_schedule *s, double t, size_t n, const double *x,
                 double *log_p, double *score, double *denoised, double *post_cov,
                 fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
