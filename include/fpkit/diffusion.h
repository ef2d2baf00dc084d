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
#include "fpkit/grid.h"
#include "fpkit/model.h"

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

/* ---- Exactness checks on the grid (issue 14 part 5; src/diffusion/fpcheck.c) --------------
 * The reverse-time dynamics of a schedule as an fpkit model, so that fpkit's Fokker–Planck
 * solvers (fpkit/fv.h, fpkit/spectral.h) propagate a density backwards through the schedule, and
 * the Girsanov bound on KL(p_data ‖ p_model) (docs/diffusion.md, "Exactness checks on the
 * grid"). */

/* A score field: s(t, x) ≈ ∇log p_t(x) at forward time t, at n points (component-major x and
 * score, dim × n). Returns 0, or non-zero on failure (passed on as the model callback status). */
typedef int (*fpk_diffusion_score_fn)(double t, size_t n, const double *x, double *score,
                                      void *user);

/* The exact score of a mixture under a schedule, as an fpk_diffusion_score_fn: pass the address
 * of an fpk_gmm_score as user. */
typedef struct fpk_gmm_score {
  const fpk_gmm *gmm;
  const fpk_schedule *schedule;
} fpk_gmm_score;
int fpk_gmm_score_field(double t, size_t n, const double *x, double *score, void *user);

/* The reverse-time family of a schedule with score s, in reverse time τ = T − t ∈ [0, T]:
 *   dY = [−f(T−τ) Y + ½(1 + η²) g(T−τ)² s(T−τ, Y)] dτ + η g(T−τ) dW,
 * whose marginals are p_{T−τ} for every η ≥ 0 when s = ∇log p (Song et al. 2021, eq. (6) and
 * (13); the η-family of Zhang & Chen 2023). η = 1: the reverse-time SDE (Anderson 1982);
 * η = 0: the probability-flow ODE, whose Fokker–Planck equation is the continuity equation
 * ∂_τ q + ∇·(v q) = 0 with v = −f x + ½g² s (zero noise: fpkit's FV flux is then first-order
 * upwinding). The model (fpk_reverse_model_get) is additive and non-autonomous, of dimension dim
 * (1..FPK_MAX_DIM); it points at s, score and user, which must outlive it. FPK_EINVAL for
 * η < 0 or non-finite, dim out of range or a NULL score. */
typedef struct fpk_reverse_model fpk_reverse_model;
fpk_reverse_model *fpk_reverse_model_alloc(const fpk_schedule *s, size_t dim, double eta,
                                           fpk_diffusion_score_fn score, void *user,
                                           fpk_error *err);
const fpk_model *fpk_reverse_model_get(const fpk_reverse_model *r);
void fpk_reverse_model_free(fpk_reverse_model *r); /* NULL is safe */

/* The right-hand side of the Girsanov bound (Song, Durkan, Murray & Ermon, "Maximum likelihood
 * training of score-based diffusion models", NeurIPS 2021, Theorem 1):
 *   KL(p_{t_min} ‖ p_model) ≤ KL(p_T ‖ π) + ½ ∫_{t_min}^T g(t)² E_{p_t}|s(t, X) − ∇log p_t(X)|² dt,
 * p_t the exact noised mixture data, π = N(0, prior_var I), p_model the law at t_min of the
 * reverse SDE (η = 1) with score s started from π. Both terms on the grid: x by the midpoint rule
 * over grid's cells (the grid must cover the mass: its dim is the mixture's), t by nq-point
 * Gauss–Legendre on [t_min, T] (GSL). Exact up to these quadratures. FPK_EINVAL for
 * t_min outside [0, T), nq < 1, prior_var ≤ 0, a grid of another dimension; the score's status
 * as FPK_ECALLBACK. */
typedef struct fpk_girsanov_bound {
  double kl_prior;   /* KL(p_T ‖ π) */
  double score_term; /* ½ ∫ g² E|s − ∇log p_t|² dt */
  double bound;      /* their sum */
} fpk_girsanov_bound;
int fpk_girsanov_bound_eval(const fpk_gmm *data, const fpk_schedule *s, double t_min,
                            fpk_diffusion_score_fn score, void *user, const fpk_grid *grid,
                            size_t nq, double prior_var, fpk_girsanov_bound *out,
                            fpk_error *err);

/* The 1D probability-flow map. In 1D the PF-ODE dx/dt = f x − ½g²∇log p_t transports p_{t0} to
 * p_{t1} monotonically, so its flow map is the monotone rearrangement F_{t1}⁻¹ ∘ F_{t0} (F_t the
 * CDF of p_t): every ODE sampler's endpoint error is measurable path by path. The 1D mixture is
 * given by its parameters (K weights, means, variances; fpk_gmm has no accessors), noised by s
 * (NULL: the data). cdf[n] and sf[n] (either may be NULL) get F_t(x) and 1 − F_t(x), each from
 * erfc, so each keeps full relative accuracy in its own tail; map[n] gets F_{t1}⁻¹(F_{t0}(x)), by
 * safeguarded Newton on the logarithm of whichever of F and 1 − F is below ½. FPK_EINVAL for
 * K = 0, a weight or variance that is not positive, t outside [0, T]; FPK_ENUMERIC for a point so
 * far out that the smaller of F and 1 − F underflows (~38 sd), or an inversion that does not
 * converge. */
int fpk_gmm1d_cdf(size_t K, const double *w, const double *mu, const double *var,
                  const fpk_schedule *s, double t, size_t n, const double *x, double *cdf,
                  double *sf, fpk_error *err);
int fpk_gmm1d_pf_map(size_t K, const double *w, const double *mu, const double *var,
                     const fpk_schedule *s, double t0, double t1, size_t n, const double *x,
                     double *map, fpk_error *err);

/* ---- Posterior sampling (issue 14 part 7; src/diffusion/posterior.c) ----------------------
 * The linear inverse problem y = H x0 + e, e ~ N(0, σ_y² I_m), H an m × d matrix (row-major,
 * 1 ≤ m ≤ d ≤ 3), with the Gaussian-mixture prior x0 ~ Σ w_k N(μ_k, Σ_k). The posterior is the
 * Gaussian mixture (Bishop 2006, §2.3.3, per component)
 *   w'_k ∝ w_k N(y; Hμ_k, S_k),  S_k = HΣ_kHᵀ + σ_y² I,
 *   μ'_k = μ_k + Σ_kHᵀS_k⁻¹(y − Hμ_k),  Σ'_k = Σ_k − Σ_kHᵀS_k⁻¹HΣ_k,
 * the weights by log-sum-exp. Noising is independent of y, so the noised posterior is this
 * mixture noised by the schedule: its exact score is fpk_gmm_eval of the posterior mixture. */

/* The posterior's parameters (w'[K], μ'[K × d], Σ'[K × d × d], the prior's layout). FPK_EINVAL
 * for m or d out of range, σ_y ≤ 0 or non-finite, a non-finite y or H; FPK_ENUMERIC when an S_k
 * or a Σ'_k is not positive definite. */
int fpk_posterior_params(size_t dim, size_t K, const double *weights, const double *means,
                         const double *covs, size_t m, const double *H, const double *y,
                         double sigma_y, double *w_post, double *mu_post, double *cov_post,
                         fpk_error *err);
/* The same as a mixture (fpk_gmm_free it). */
fpk_gmm *fpk_posterior_gmm(size_t dim, size_t K, const double *weights, const double *means,
                           const double *covs, size_t m, const double *H, const double *y,
                           double sigma_y, fpk_error *err);

/* The DPS approximation of the noised posterior score (Chung, Kim, Mccann, Klasky & Ye,
 * "Diffusion posterior sampling for general noisy inverse problems", ICLR 2023, eq. (10)–(11),
 * with the plain likelihood gradient, no step-size rescaling):
 *   ∇log p_t(x) + J(x)ᵀ Hᵀ (y − H x̂0(x)) / σ_y²,   x̂0 = E[x0 | x_t = x] (Tweedie),
 * with the exact Jacobian J = ∂x̂0/∂x = (a_t/b_t²) Cov[x0 | x_t = x] (symmetric; J = I/a_t at
 * b_t = 0), from fpk_gmm_eval's denoiser and posterior covariance of the prior. Exact at t = 0
 * (it is then ∇log of the posterior); an approximation for t > 0 (it replaces p(y | x_t) by
 * N(y; H x̂0, σ_y² I)). score[dim × n], component-major. Errors as fpk_gmm_eval, and FPK_EINVAL
 * for m out of range or σ_y ≤ 0. */
int fpk_dps_score(const fpk_gmm *prior, const fpk_schedule *s, double t, size_t m,
                  const double *H, const double *y, double sigma_y, size_t n, const double *x,
                  double *score, fpk_error *err);
/* The same as an fpk_diffusion_score_fn (for fpk_reverse_model_alloc and the samplers): pass
 * the address of an fpk_dps_problem as user. */
typedef struct fpk_dps_problem {
  const fpk_gmm *prior;
  const fpk_schedule *schedule;
  size_t m;
  const double *H, *y;
  double sigma_y;
} fpk_dps_problem;
int fpk_dps_score_field(double t, size_t n, const double *x, double *score, void *user);

#ifdef __cplusplus
}
#endif
#endif
