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

/* ==== Langevin samplers and sample metrics (issue 14 part 2; docs/diffusion.md, "Langevin and
 * annealed Langevin") ========================================================================
 *
 * Step convention (Song & Ermon 2019, "Generative modeling by estimating gradients of the data
 * distribution", NeurIPS, Algorithm 1): one Langevin step of size α is
 *     x ← x + (α/2) ∇log p(x) + √α z,   z ~ N(0, I),
 * i.e. Euler–Maruyama with time step α/2 on dX = ∇log p dt + √2 dW. Types (GSL-style table):
 *   "ula"       unadjusted Langevin, α = params.step, params.n_iter steps;
 *   "mala"      Metropolis-adjusted Langevin (Roberts & Tweedie 1996, Bernoulli 2:341): the step
 *               above is a proposal y, accepted with probability
 *               min(1, p(y) q(x|y) / (p(x) q(y|x))), q(y|x) = N(y; x + (α/2)∇log p(x), α I);
 *               needs log p as well as the score;
 *   "annealed"  annealed Langevin: noise levels σ_1 > … > σ_L geometric from params.sigma_max to
 *               params.sigma_min (L = params.n_levels), params.n_iter steps per level with
 *               α_i = ε σ_i²/σ_L² (ε = params.step), each step with the score of the target
 *               convolved with N(0, σ_i² I) (target.noise_score). Total steps L · n_iter.
 *
 * Randomness: path i's draws come from fpkit's Philox stream (fpk_rng_normals, fpkit/sde.h) for
 * path i under params.seed: global iteration s (0-based, across levels) uses positions
 * s·R .. s·R + dim (R = 3⌈(dim + 1)/3⌉: each iteration starts a fresh Philox call): dim normals
 * for the step and, for mala, one more normal u turned into the uniform Φ(u) of the accept test.
 * So the result is a pure function of (seed, initial points), bitwise the same for any number
 * of threads (the callbacks must be pointwise: point i's output a function of point i alone).
 *
 * Callbacks (SUNDIALS style, component-major points x[c·n + i]): a return < 0 is fatal
 * (FPK_ECALLBACK), anything else is success. */

#include <stdint.h>     /* uint64_t seeds (kept in this section: the sections merge apart) */
#include "fpkit/grid.h" /* the metrics' grids */

/* ∇log p at n points (out: dim × n, component-major) or log p (out: n values). */
typedef int (*fpk_lmc_fn)(size_t n, const double *x, double *out, void *user);
/* The score of p convolved with N(0, σ² I) at n points (out: dim × n). */
typedef int (*fpk_lmc_noise_fn)(size_t n, double sigma, const double *x, double *out,
                                     void *user);

typedef struct fpk_lmc_target {
  size_t dim;                        /* 1..3 */
  fpk_lmc_fn score;             /* ula, mala */
  fpk_lmc_fn log_p;             /* mala (up to an additive constant) */
  fpk_lmc_noise_fn noise_score; /* annealed */
  void *user;
} fpk_lmc_target;

/* The exact-score adapter for a Gaussian mixture: score and log_p of the data mixture (through
 * fpk_gmm_eval with s = NULL) and the noise-conditional score of the mixture with covariances
 * Σ_k + σ² I, through fpk_gmm_eval under an internal "ve" schedule (σ_min = 1, T = 1) at the time
 * t = log1p(σ²)/(2 log σ_max) where b_t² = expm1(log1p(σ²)) = σ² to a few ulps. Levels up to
 * sigma_cap (> 0) are accepted; a larger σ gives a fatal callback status. The mixture must
 * outlive the adapter. */
typedef struct fpk_lmc_gmm fpk_lmc_gmm;
fpk_lmc_gmm *fpk_lmc_gmm_alloc(const fpk_gmm *m, double sigma_cap, fpk_error *err);
void fpk_lmc_gmm_free(fpk_lmc_gmm *a); /* NULL is safe */
/* The target with the adapter's callbacks (user = a). */
fpk_lmc_target fpk_lmc_gmm_target(fpk_lmc_gmm *a);

typedef struct fpk_lmc_type {
  const char *name;
  const char *description;
  int needs_log_p;   /* mala */
  int annealed;      /* annealed: needs noise_score and the σ levels */
} fpk_lmc_type;

extern const fpk_lmc_type *fpk_lmc_ula;
extern const fpk_lmc_type *fpk_lmc_mala;
extern const fpk_lmc_type *fpk_lmc_annealed;
extern const fpk_lmc_type *const fpk_lmc_types[]; /* NULL-terminated */
const fpk_lmc_type *fpk_lmc_find(const char *name); /* NULL if unknown */

/* A metric of the current points (dim × n, component-major) for the trace. */
typedef int (*fpk_lmc_metric_fn)(size_t dim, size_t n, const double *x, double *value,
                                      void *user);

typedef struct fpk_lmc_params {
  double step;              /* α (ula, mala) or ε (annealed): > 0 */
  size_t n_iter;            /* steps (ula, mala) or steps per level (annealed): >= 1 */
  size_t n_levels;          /* annealed: L >= 1 (L = 1 uses sigma_min only) */
  double sigma_max, sigma_min; /* annealed: σ_1 >= σ_L > 0 (σ_1 > σ_L when L > 1) */
  uint64_t seed;
  size_t trace_every;       /* k: record the metric at iteration 0, every k and at the end; 0: none */
  fpk_lmc_metric_fn metric;
  void *metric_user;
} fpk_lmc_params;

/* step 0.01, n_iter 1000, n_levels 10, σ 10 → 0.01, seed 1, no trace. */
void fpk_lmc_params_init(fpk_lmc_params *p);

typedef struct fpk_lmc_result {
  size_t n_steps;        /* steps taken per path (L · n_iter for annealed) */
  double acceptance;     /* mala: accepted proposals / proposals; 1 otherwise */
  size_t n_trace;
  size_t *trace_iter;    /* iterations done when the metric was taken (0 .. n_steps) */
  double *trace_value;
} fpk_lmc_result;

void fpk_lmc_result_free(fpk_lmc_result *r); /* frees the arrays; NULL is safe */

/* Runs n paths from the initial points x (dim × n, component-major), overwritten by the final
 * points. FPK_EINVAL (naming the key and value) for bad parameters or a missing callback,
 * FPK_ECALLBACK for a fatal callback, FPK_ENUMERIC for a non-finite point. res may be NULL. */
int fpk_lmc_run(const fpk_lmc_type *type, const fpk_lmc_target *target,
                     const fpk_lmc_params *p, size_t n, double *x, fpk_lmc_result *res,
                     fpk_error *err);

/* ---- Sample metrics (src/diffusion/metrics.c) --------------------------------------------- */

/* The cell probabilities of a density on grid g from its log-density at the cell centres:
 * q_j ∝ exp(log_p(centre_j)) · volume, normalised to sum 1 over the grid (log-sum-exp). log_p
 * is called once with all centres (component-major, g->dim × g->size). */
int fpk_grid_cell_probs(const fpk_grid *g, fpk_lmc_fn log_p, void *user, double *probs,
                        fpk_error *err);

/* Histogram of n points (dim = g->dim) on g against cell probabilities probs (summing to 1):
 * tv = ½(Σ_j |h_j − q_j| + h_out) with h_j = count_j / n and h_out the fraction of points
 * outside the box (counted as mass where the target has none); kl = KL(h̃ ‖ q) = Σ h̃_j log(h̃_j/q_j)
 * of the in-box histogram h̃ normalised to 1 (+∞ if a filled cell has q_j = 0); out = h_out.
 * Any output may be NULL. */
int fpk_sample_hist_tv_kl(const fpk_grid *g, const double *probs, size_t n, const double *x,
                          double *tv, double *kl, double *out, fpk_error *err);

/* Mode weights: each point is assigned to the component k with the largest responsibility
 * log w_k + log N(x; μ_k, Σ_k) of the mixture (weights, means, covs as for fpk_gmm_alloc);
 * weights[k] = fraction assigned, se[k] = √(weights[k](1 − weights[k])/n) (binomial). */
int fpk_sample_mode_weights(size_t dim, size_t K, const double *weights, const double *means,
                            const double *covs, size_t n, const double *x, double *mode_w,
                            double *se, fpk_error *err);

/* Energy distance D² = 2E|X − Y| − E|X − X'| − E|Y − Y'| (Székely & Rizzo 2013) between a sample
 * x (n points) and y (m points) of dimension dim, by the U-statistics (pairs i ≠ j within a
 * sample). max_pairs > 0 caps the cost: each sample is cut to its first ⌊√max_pairs⌋ points. */
int fpk_sample_energy_distance(size_t dim, size_t n, const double *x, size_t m, const double *y,
                               size_t max_pairs, double *d2, fpk_error *err);

/* Sliced W2: √(mean over n_dir random unit directions θ of W2²(θ·x, θ·y)), the 1D W2 by sorting
 * (equal sizes n: the sorted samples matched in order). Directions from the Philox stream of
 * seed (path 0); in 1D the exact W2. */
int fpk_sample_sliced_w2(size_t dim, size_t n, const double *x, const double *y, size_t n_dir,
                         uint64_t seed, double *w2, fpk_error *err);

/* KS distance sup_x |F_n(x) − F(x)| of n 1D points against the CDF of a 1D Gaussian mixture
 * (K weights, means, standard deviations): F(x) = Σ w_k Φ((x − μ_k)/s_k) by erfc. */
int fpk_sample_ks_gmm1d(size_t K, const double *weights, const double *means, const double *sds,
                        size_t n, const double *x, double *ks, fpk_error *err);

/* ==== end of Langevin section ============================================================== */

#ifdef __cplusplus
}
#endif
#endif
