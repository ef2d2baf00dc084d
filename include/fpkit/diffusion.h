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

/* ==== Reverse-time SDE samplers and the DDPM chain (src/diffusion/reverse_sde.c) =============
 * docs/diffusion.md, "Reverse-time SDE samplers and the DDPM chain".
 *
 * Scores come through a callback in SUNDIALS style: score(t, n, x, out, user) writes ∇log p_t at
 * the n points x (component-major, dim × n) into out (same layout) and returns 0 or an fpkit
 * status. It is called from several threads at once (blocks of FPK_REVSDE_BLOCK points). */
#include <stdint.h>
typedef int (*fpk_score_fn)(double t, size_t n, const double *x, double *out, void *user);

/* The exact-mixture adapter: user is a fpk_gmm_score_ctx; calls fpk_gmm_eval(gmm, sched, t, ...). */
typedef struct fpk_gmm_score_ctx {
  const fpk_gmm *gmm;
  const fpk_schedule *sched;
} fpk_gmm_score_ctx;
int fpk_gmm_score_cb(double t, size_t n, const double *x, double *out, void *user);

/* A mixture given by its parameters (the arrays stay the caller's; same layout and conditions as
 * fpk_gmm_alloc): what the exact samplers and the DDPM bound need beyond the score. */
typedef struct fpk_ddpm_mixture {
  size_t dim, K;
  const double *weights, *means, *covs;
} fpk_ddpm_mixture;

/* n exact samples of p_t (s = NULL or t = 0: the data), x component-major (dim × n). Sample i
 * draws from Philox stream path0 + i of seed (fpk_rng_normals): the component from
 * Φ(z_0) (a uniform), then a_t μ_k + L_k z_{1..dim}, L_k the Cholesky factor of a_t²Σ_k + b_t²I.
 * Bitwise the same for any thread count. FPK_EINVAL for a bad mixture or t outside [0, T]. */
int fpk_ddpm_mixture_sample(const fpk_ddpm_mixture *m, const fpk_schedule *s, double t, size_t n,
                            uint64_t seed, uint64_t path0, double *x, fpk_error *err);

#define FPK_REVSDE_BLOCK 256

/* Stochastic samplers from t_max down to t_min on the time-uniform grid
 * t_i = t_min + (t_max − t_min) i/N, i = N … 0 (GSL-style table):
 *   "reverse-em"  Euler–Maruyama on the reverse SDE dX = [f X − g² ∇log p_t(X)] dt + g dW̄
 *                 (Anderson 1982; Song et al. 2021, eq. 6), coefficients at the step's start t_i:
 *                 x ← x − h (f(t_i) x − g²(t_i) s(t_i, x)) + √(g²(t_i) h) z. Weak order 1, 1 NFE.
 *   "pc"          predictor–corrector (Song et al. 2021, Algorithms 1–2): the reverse-em step as
 *                 predictor, then M Langevin corrector steps at t_{i−1}:
 *                 x ← x + ε s + √(2ε) z,  ε = 2 α_i (r ‖z‖/‖s‖)²,  α_i = (a(t_{i−1})/a(t_i))²
 *                 (1 − β_i of the discretised VP chain, 1 for VE), ‖z‖ and ‖s‖ the means of the
 *                 per-path Euclidean norms over the path's block of FPK_REVSDE_BLOCK paths (as
 *                 Song et al.'s code averages them over the batch); r = snr. 1 + M NFE.
 *   "ancestral"   DDPM's reverse chain for the chain discretised on that grid,
 *                 x_i = α_i x_{i−1} + √v_i z, α_i = a(t_i)/a(t_{i−1}), v_i = b²(t_i) − α_i² b²(t_{i−1})
 *                 (VP: v_i = β_i = 1 − α_i²; the chain's marginals are the SDE's p_{t_i} exactly).
 *                 With params.exact set: the exact reverse transition q(x_{i−1} | x_i) of the mixture
 *                 (a mixture of Gaussians: component k with probability ∝ w_k N(x_i; a_i μ_k, C_k^i),
 *                 then N(a_{i−1}μ_k + G_k(x_i − a_i μ_k), C_k^{i−1} − α_i G_k C_k^{i−1}),
 *                 G_k = α_i C_k^{i−1}(C_k^i)⁻¹): reproduces p_{t_i} exactly at every step. Without:
 *                 Ho et al.'s p_θ (NeurIPS 2020, eq. 11 with ε = −b s): x ← (x + v_i s)/α_i + σ_i z,
 *                 σ_i² = β̃_i = v_i b²(t_{i−1})/b²(t_i). 1 NFE (0 with exact).
 * Randomness: path p uses Philox stream p of seed; step j (0-based from t_max) uses positions
 * [j·S, (j+1)·S), S = normals_per_step(dim) (reverse-em: dim; pc: (1 + M) dim; ancestral:
 * dim + 1). Paths run in fixed blocks of FPK_REVSDE_BLOCK: bitwise the same for any thread count. */
typedef struct fpk_revsde_type {
  const char *name;
  const char *description;
  double weak_order;        /* 1 for all three (ancestral with exact transitions: exact in law) */
  size_t nfe_per_step;      /* score evaluations per step (pc: 1 + M with M = 1) */
} fpk_revsde_type;

extern const fpk_revsde_type *fpk_revsde_em;
extern const fpk_revsde_type *fpk_revsde_pc;
extern const fpk_revsde_type *fpk_revsde_ancestral;
extern const fpk_revsde_type *const fpk_revsde_types[]; /* NULL-terminated */
const fpk_revsde_type *fpk_revsde_find(const char *name);

typedef struct fpk_revsde_params {
  size_t nsteps;          /* N >= 1 */
  double t_min, t_max;    /* 0 < t_min < t_max <= T (t_max = 0: T) */
  int denoise;            /* non-zero: a final Tweedie step x̂0 = (x + b² s(t_min, x))/a at t_min
                           * (exact mixture: E[x0 | x_{t_min}]); costs 1 NFE */
  double snr;             /* pc: r > 0 (default 0.16) */
  size_t corrector_steps; /* pc: M >= 1 (default 1) */
  uint64_t seed;
  int nthreads;           /* <= 0: OpenMP default */
  const struct fpk_ddpm_mixture *exact; /* ancestral: the exact transitions of this mixture
                                          * (NULL: Ho et al.'s Gaussian p_θ from the score) */
} fpk_revsde_params;

void fpk_revsde_params_init(fpk_revsde_params *p); /* defaults above, N = 100, t_min = 1e-3 */

/* Runs n paths from x (component-major dim × n, the states at t_max; overwritten by the states at
 * t_min, or x̂0 with denoise). FPK_EINVAL naming the key and value for N < 1, t_min <= 0 or
 * >= t_max, t_max > T, snr <= 0, M < 1; the status of a failing score call; FPK_ENUMERIC (path,
 * time) when a path becomes non-finite. Returns the total score evaluations per path in *nfe
 * (may be NULL). */
int fpk_revsde_sample(const fpk_revsde_type *type, const fpk_schedule *s, fpk_score_fn score,
                      void *user, const fpk_revsde_params *p, size_t dim, size_t n, double *x,
                      size_t *nfe, fpk_error *err);

/* The DDPM chain's negative ELBO for a mixture (Ho et al. 2020, eq. 5; Kingma et al. 2021 for
 * the SNR form), the chain of "ancestral" on the grid t_1 = t_min < … < t_N = t_max with data
 * x0 ~ p_0 and q(x_1 | x0) = N(a_1 x0, b_1² I); the model is p_θ(x_{i−1} | x_i) = N(μ_θ, β̃_i I)
 * with the exact denoiser (μ_θ = E[x_{i−1} | x_i], exact for a mixture), p_θ(x_N) = N(0, I) and the
 * decoder p_θ(x0 | x_1) = N(E[x0 | x_1], σ_0² I), σ_0² = mmse(t_1)/dim (its optimal variance):
 *   L_T = E KL(q(x_N|x0) ‖ N(0, I)) = ½ Σ_c (a_N² E[x0_c²] + b_N² − 1 − log b_N²)   (closed form),
 *   L_{i−1} = E KL(q(x_{i−1}|x_i, x0) ‖ p_θ) = ½ (SNR(t_{i−1}) − SNR(t_i)) mmse(t_i),  i = 2..N,
 *   L_0 = −E log p_θ(x0 | x_1) = (dim/2)(1 + log(2π mmse(t_1)/dim)),
 * SNR = a²/b², mmse(t) = E tr Cov[x0 | x_t], by Monte Carlo over exact x_t ~ p_t (nsamples per
 * time, fpk_gmm_eval's posterior covariance: no inner sampling). The continuous-time bound on the
 * same (t_min, t_max) replaces the sum by ½∫ (−dSNR/dt) mmse dt = I(x0; x_{t_min}) − I(x0; x_{t_max})
 * (I-MMSE, Guo, Shamai & Verdú 2005), I(x0; x_t) = h(p_t) − dim log b_t − (dim/2) log(2πe), the
 * entropies h(p_t) = −E log p_t by Monte Carlo as well; the data entropy h(p_0) bounds both from
 * below. Standard errors of every Monte Carlo term come with it. */
typedef struct fpk_ddpm_elbo_result {
  size_t N;
  double L_T, L_0, L_mid;         /* L_mid = Σ_{i=2..N} L_{i−1} */
  double L_mid_se, L_0_se;
  double nelbo, nelbo_se;         /* L_T + L_mid + L_0 (nats) */
  double cont_mid, cont_mid_se;   /* I(x0; x_{t_min}) − I(x0; x_{t_max}) */
  double cont_nelbo, cont_nelbo_se; /* L_T + cont_mid + L_0 */
  double entropy0, entropy0_se;   /* h(p_0) */
} fpk_ddpm_elbo_result;

int fpk_ddpm_elbo(const fpk_ddpm_mixture *mix, const fpk_schedule *s,
                  size_t N, double t_min, double t_max, size_t nsamples, uint64_t seed,
                  fpk_ddpm_elbo_result *res, fpk_error *err);
/* ==== end of reverse-time SDE samplers ===================================================== */

#ifdef __cplusplus
}
#endif
#endif
