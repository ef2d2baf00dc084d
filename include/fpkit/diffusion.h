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
#include <stdint.h>
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
 * β_min >= β_max, σ_min >= σ_max, T <= 0, ...), and where the variances would leave the doubles:
 * ve needs 1e-150 <= σ_min and σ_max <= 1e150, ou needs σ <= 1e150 and σ²/(2θ) in
 * [1e-300, 1e300]. Within these, no schedule function returns NaN on [0, T]. */
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
/* The time with λ_t = lambda (λ is strictly decreasing in t), in closed form for every type
 * (to ~1e-11 relative down to t = 1e-12); lambda = +∞ gives 0. FPK_EINVAL when lambda is below
 * λ_T or NaN, or −∞ (where a_t underflowed to 0, on a whole interval with a huge β). */
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
/* Accessors (owned by m, valid until fpk_gmm_free; the constructor's layout): fpk_gmm_size = K
 * (the same as fpk_gmm_components); weights[K] as stored, i.e. the given weights divided by their
 * sum (which was within 1e-12 of 1); means[K × dim], row k the mean of component k;
 * covs[K × dim × dim], component k's covariance row-major at covs + k·dim² (in 1D: the K
 * variances, the `var` argument of fpk_gmm1d_cdf / fpk_gmm1d_pf_map). So the functions that take
 * a mixture by its arrays (fpk_sample_mode_weights, fpk_gmm1d_*, fpk_posterior_*) accept an
 * fpk_gmm's: fpk_gmm_weights(g), fpk_gmm_means(g), fpk_gmm_covs(g). */
size_t fpk_gmm_size(const fpk_gmm *m);
const double *fpk_gmm_weights(const fpk_gmm *m);
const double *fpk_gmm_means(const fpk_gmm *m);
const double *fpk_gmm_covs(const fpk_gmm *m);

/* Mean (dim) and covariance (dim × dim) of the data law. */
void fpk_gmm_moments(const fpk_gmm *m, double *mean, double *cov);
/* n exact samples of the data law (component-major, dim × n): sample i uses the normals of
 * Philox path path0 + i, positions 0 .. dim (fpk_rng_normals): position 0 picks the component by
 * inverting the cumulative weights at Φ(z_0), positions 1 .. dim give μ_k + L_k z (L_k the
 * Cholesky factor of Σ_k). The same samples for any thread count. */
void fpk_gmm_sample(const fpk_gmm *m, uint64_t seed, uint64_t path0, size_t n, double *x);

/* The noised mixture at time t of schedule s (s = NULL: the data, t ignored), at n points x
 * (component-major, dim × n). Any output may be NULL:
 *   log_p[n]        log p_t(x);
 *   score[dim × n]  ∇log p_t(x);
 *   denoised[dim × n]  E[x0 | x_t = x] (Tweedie);
 *   post_cov[dim × dim × n]  Cov[x0 | x_t = x], entry (c, e) of point i at (c·dim + e)·n + i.
 * FPK_EINVAL for t outside [0, T]; FPK_ENUMERIC if a noised covariance is not positive definite
 * (t = 0 with a singular Σ_k cannot happen: the constructor checked). Points are not checked
 * (the samplers check their own paths): a non-finite point, or one so far out (|x| beyond
 * ~1e150) that its quadratic form overflows, gets NaN outputs. */
int fpk_gmm_eval(const fpk_gmm *m, const fpk_schedule *s, double t, size_t n, const double *x,
                 double *log_p, double *score, double *denoised, double *post_cov,
                 fpk_error *err);

/* The probability of every cell of grid g (dimension = the mixture's) under the noised mixture
 * p_t (s = NULL: the data law), into P[g->size] (the grid's cell order). 1D: CDF differences,
 * exact to rounding (each edge's CDF once; erfc, no refusal far out). 2D and 3D: the tensor
 * Gauss–Legendre rule with 6 nodes per axis in every cell, whose error is O((h/σ)^12) for a
 * cell of width h against a component's standard deviation σ: at h = σ it is below 1e-7 of the
 * cell's probability, where the midpoint rule (density × volume) is off by ~h²/(24σ²) ≈ 4%.
 * Σ P is the mass inside the box. FPK_EINVAL for a dimension mismatch or t outside [0, T]. */
int fpk_gmm_cell_probs(const fpk_gmm *m, const fpk_schedule *s, double t, const fpk_grid *g,
                       double *P, fpk_error *err);


/* ---- Denoising score matching with a linear-in-parameters model (src/diffusion/dsm.c) ------
 * At each noise level t_l the score is fitted by least squares (Vincent 2011; Song & Ermon 2019,
 * eq. 2): minimise over θ the empirical loss
 *   J(θ) = (1/n) Σ_i |s_θ(x_t,i) + z_i/b_t|²,   x_t,i = a_t x0_i + b_t z_i,  x0_i ~ the mixture,
 * with s_θ(x)_c = Σ_j θ_cj φ_j(x̃), x̃ = x/√(a_t² v0 + b_t²) (v0 the data's mean variance per
 * axis), features φ = (1, x̃, √(2/M) cos(ω_m·x̃ + β_m)), m < M, random Fourier features
 * (Rahimi & Recht 2007) with ω_m ~ N(0, I/ℓ²), β_m ~ U(0, 2π), and a ridge λ. The normal
 * equations (XᵀX + nλI)θ = Xᵀy are solved by GSL's Cholesky. The DSM loss differs from the
 * explicit score-matching loss E|s − ∇log p_t|² by a constant, its minimum over all functions,
 *   J* = d/b_t² − E_{p_t}|∇log p_t|²,
 * reached by the exact score: the fit's loss on held-out samples is compared with the exact
 * score's loss on the same samples (both estimate J* + E|s − ∇log p_t|²). */
typedef struct fpk_dsm_params {
  size_t nlevels;     /* >= 1 noise levels */
  const double *t;    /* [nlevels] increasing, in (0, T] */
  size_t nfeatures;   /* M random Fourier features (default 200) */
  double lengthscale; /* ℓ in the standardised variable (default 0.25) */
  double ridge;       /* λ >= 0 (default 1e-6) */
  size_t nsamples;    /* training samples per level (default 50000) */
  size_t nvalid;      /* held-out samples per level (default 20000) */
  uint64_t seed;      /* Philox seed (default 1) */
} fpk_dsm_params;

void fpk_dsm_params_init(fpk_dsm_params *p);

typedef struct fpk_dsm fpk_dsm;

/* Per level: the training loss, the held-out loss of the fit, the held-out loss of the exact
 * score (same samples), and the held-out explicit score-matching error E|s_θ − ∇log p_t|². */
typedef struct fpk_dsm_level {
  double t, train_loss, valid_loss, exact_loss, esm_error;
} fpk_dsm_level;

/* Fits the score of `data` noised by `s` at the levels. FPK_EINVAL for bad parameters (no
 * levels, a level outside (0, T] or out of order, no features, negative ridge), FPK_ENUMERIC
 * when the normal equations are singular (raise ridge). */
fpk_dsm *fpk_dsm_fit(const fpk_gmm *data, const fpk_schedule *s, const fpk_dsm_params *p,
                     fpk_error *err);
void fpk_dsm_free(fpk_dsm *m); /* NULL is safe */
const fpk_dsm_level *fpk_dsm_levels(const fpk_dsm *m, size_t *nlevels);
/* The fitted score at t (component-major, dim × n): the fit of the nearest level below and above
 * t interpolated linearly in t (the first/last level's fit outside [t_1, t_L]). */
int fpk_dsm_score(const fpk_dsm *m, double t, size_t n, const double *x, double *score,
                  fpk_error *err);

/* ==== Probability-flow ODE samplers (issue 14 part 4, PF-ODE; docs/diffusion.md,
 * "Probability-flow ODE samplers") =================================================
 *
 * The probability-flow ODE of a schedule (Song et al. 2021, eq. 13), integrated backward from
 * t_max to t_min > 0:  dx/dt = f(t) x − ½ g(t)² ∇log p_t(x).  Equivalently, with σ = b/a and
 * x̂ = x/a, dx̂/dσ = ε̂(x, t) where ε̂ = −b_t ∇log p_t(x) is the noise prediction (Karras et al.
 * 2022, eq. 4 with s = 1 after scaling), and x̂0 = (x + b² ∇log p_t)/a is the data prediction
 * (Tweedie). Samplers (a GSL-style table; name, order, score evaluations per step):
 *   "euler"           Euler in t on the ODE above (order 1, 1 NFE/step);
 *   "heun"            Heun in σ on x̂ (Karras et al. 2022, Algorithm 1 without churn): the
 *                     trapezoidal correction on every step, as Algorithm 1 does for every
 *                     σ_{i+1} ≠ 0 (here all: t_min > 0); its final Euler step to σ = 0 gives
 *                     x̂ − σ ε̂ = x̂0, which is the Tweedie step of `denoise` (order 2, 2 NFE/step);
 *   "ddim"            DDIM (Song, Meng & Ermon 2021) = DPM-Solver-1 (Lu et al. 2022, eq. 3.7):
 *                     x_t = (a_t/a_s) x_s − b_t (e^h − 1) ε̂(x_s, s), h = λ_t − λ_s (order 1,
 *                     1 NFE/step); "dpm-solver-1" is accepted as its alias;
 *   "dpm-solver-2"    singlestep DPM-Solver-2, r1 = 1/2 (Lu et al. 2022, Algorithm 1) (order 2,
 *                     2 NFE/step);
 *   "dpm-solver-3"    singlestep DPM-Solver-3, r1 = 1/3, r2 = 2/3 (Lu et al. 2022, Algorithm 2)
 *                     (order 3, 3 NFE/step);
 *   "dpm-solver++2m"  multistep DPM-Solver++(2M) in the data prediction (Lu et al. 2023,
 *                     Algorithm 2; first step first order) (order 2, 1 NFE/step).
 * Time grids t_0 = t_max > t_1 > ... > t_N = t_min: "time-uniform" (uniform in t),
 * "logsnr-uniform" (uniform in λ = log(a/b)), "edm" (Karras et al. 2022, eq. 5:
 * σ_i = (σ_max^{1/ρ} + (i/N)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ on σ = b/a, mapped back to t through
 * fpk_schedule_t_of_lambda(−log σ)). */

/* A score callback, SUNDIALS style: out (dim × n, component-major like x) = ∇log p_t at the n
 * points x; non-zero return is a failure (reported as FPK_ECALLBACK). The samplers call it on
 * blocks of points from several OpenMP threads at once: it must be reentrant. The dimension is
 * the caller's (fpk_pfode_params.dim): the callback is not told it, so a score of another
 * dimension (a 1D mixture's score under dim = 2) reads and writes the wrong entries unchecked
 * (tests/defects/diffusion/pfode_dim_mismatch_uninitialised.c); `fpkit sample` builds both from
 * the one [data] dim. */
typedef int (*fpk_score_fn)(double t, size_t n, const double *x, double *out, void *user);

/* The exact score of a Gaussian mixture under a schedule: pass fpk_gmm_score_fn with a pointer
 * to this as user (it calls fpk_gmm_eval; reentrant). */
typedef struct fpk_gmm_score_ctx {
  const fpk_gmm *gmm;
  const fpk_schedule *schedule;
} fpk_gmm_score_ctx;
int fpk_gmm_score_fn(double t, size_t n, const double *x, double *out, void *user);

typedef struct fpk_pfode_type {
  const char *name;
  const char *description;
  int order;        /* global order in the step size */
  int nfe_per_step; /* score evaluations per step */
} fpk_pfode_type;

extern const fpk_pfode_type *fpk_pfode_euler;
extern const fpk_pfode_type *fpk_pfode_heun;
extern const fpk_pfode_type *fpk_pfode_ddim;
extern const fpk_pfode_type *fpk_pfode_dpm_solver_2;
extern const fpk_pfode_type *fpk_pfode_dpm_solver_3;
extern const fpk_pfode_type *fpk_pfode_dpm_solver_pp2m;
/* NULL-terminated list; lookup by name ("dpm-solver-1" finds ddim), NULL if unknown. */
extern const fpk_pfode_type *const fpk_pfode_types[];
const fpk_pfode_type *fpk_pfode_find(const char *name);

typedef struct fpk_time_grid_type {
  const char *name;
  const char *description;
} fpk_time_grid_type;
extern const fpk_time_grid_type *const fpk_time_grid_types[]; /* NULL-terminated */
const fpk_time_grid_type *fpk_time_grid_find(const char *name);

/* The N + 1 times t[0] = t_max > ... > t[N] = t_min of a grid (rho: the EDM exponent, used by
 * "edm" only, > 0). FPK_EINVAL (naming the value) for t_min <= 0, t_min >= t_max, t_max > T,
 * N < 1, rho <= 0. */
int fpk_time_grid(const fpk_time_grid_type *grid, const fpk_schedule *s, double t_max,
                  double t_min, size_t N, double rho, double *t, fpk_error *err);

typedef struct fpk_pfode_params {
  const char *sampler; /* a name of fpk_pfode_types (default "dpm-solver-2"), or "dpm-solver"
                          with order 1, 2 or 3 */
  int order;           /* 0 (default): the sampler's; else it must be the sampler's order */
  const char *grid;    /* a name of fpk_time_grid_types (default "logsnr-uniform") */
  double t_max;        /* start, 0 < t_max <= T (default NaN, meaning T; vp-cosine: < T) */
  double t_min;        /* end, 0 < t_min < t_max (default 1e-3) */
  size_t steps;        /* N >= 1 steps (default 0: must be set) */
  double rho;          /* EDM ρ (default 7) */
  int denoise;         /* 1: after reaching t_min, return x̂0 = E[x0 | x_tmin] = (x + b²∇log p)/a
                          (Tweedie; one more score evaluation); 0 (default): return x_tmin */
  size_t dim;          /* dimension of the points (default 1) */
} fpk_pfode_params;

void fpk_pfode_params_init(fpk_pfode_params *p);

/* Integrates the PF-ODE of schedule s from t_max to t_min for n points x (dim × n,
 * component-major; in: the points at t_max, drawn by the caller from the prior or mapped from
 * given points; out: the points at t_min, or x̂0 with denoise). Points are independent: they are
 * integrated in fixed blocks spread over OpenMP threads, so the result is bitwise the same for
 * any thread count (when score is pointwise). nfe (may be NULL): score evaluations per point.
 * FPK_EINVAL (naming the value) for an unknown sampler or grid, an order the sampler (or the
 * dpm-solver family) does not have, t_min <= 0, t_min >= t_max,
 * t_max > T or where a_t < 1e-8 (vp-cosine at T), steps < 1, dim < 1; FPK_ECALLBACK when score
 * fails; FPK_ENUMERIC for a non-finite result (after a failure some blocks of x may hold their
 * results and others their inputs). */
int fpk_pfode_sample(const fpk_pfode_params *p, const fpk_schedule *s, fpk_score_fn score,
                     void *user, size_t n, double *x, size_t *nfe, fpk_error *err);
/* ==== end of the probability-flow ODE section ============================================ */

/* The fitted DSM score as a score callback (user: the fpk_dsm *), for the samplers above. */
int fpk_dsm_score_fn(double t, size_t n, const double *x, double *out, void *user);

/* ---- Exactness checks on the grid (issue 14 part 5; src/diffusion/fpcheck.c) --------------
 * The reverse-time dynamics of a schedule as an fpkit model, so that fpkit's Fokker–Planck
 * solvers (fpkit/fv.h, fpkit/spectral.h) propagate a density backwards through the schedule, and
 * the Girsanov bound on KL(p_data ‖ p_model) (docs/diffusion.md, "Exactness checks on the
 * grid"). */

/* Score fields are fpk_score_fn (above); the exact mixture score is fpk_gmm_score_fn with an
 * fpk_gmm_score_ctx. */

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
                                           fpk_score_fn score, void *user,
                                           fpk_error *err);
/* The same with reverse time measured from t_start ∈ (0, T] instead of T: τ = t_start − t. A
 * solver started at τ = 0 then samples the model at t_start, not at T: fpkit's spectral solver
 * fixes its stabilising diffusion D̄ at its first sample, and vp-cosine's g² is infinite at T
 * (from τ = T − t_max it froze the solution: L1 1.21 to the target with exit 0). */
fpk_reverse_model *fpk_reverse_model_alloc_from(const fpk_schedule *s, double t_start,
                                                size_t dim, double eta, fpk_score_fn score,
                                                void *user, fpk_error *err);
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
                            fpk_score_fn score, void *user, const fpk_grid *grid,
                            size_t nq, double prior_var, fpk_girsanov_bound *out,
                            fpk_error *err);

/* The 1D probability-flow map. In 1D the PF-ODE dx/dt = f x − ½g²∇log p_t transports p_{t0} to
 * p_{t1} monotonically, so its flow map is the monotone rearrangement F_{t1}⁻¹ ∘ F_{t0} (F_t the
 * CDF of p_t): every ODE sampler's endpoint error is measurable path by path. The 1D mixture is
 * given by its parameters (K weights, means, variances: for an fpk_gmm g, fpk_gmm_weights(g),
 * fpk_gmm_means(g), fpk_gmm_covs(g)), noised by s
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
/* The same as an fpk_score_fn (for fpk_reverse_model_alloc and the samplers): pass
 * the address of an fpk_dps_problem as user. */
typedef struct fpk_dps_problem {
  const fpk_gmm *prior;
  const fpk_schedule *schedule;
  size_t m;
  const double *H, *y;
  double sigma_y;
} fpk_dps_problem;
int fpk_dps_score_field(double t, size_t n, const double *x, double *score, void *user);

/* ==== Reverse-time SDE samplers and the DDPM chain (src/diffusion/reverse_sde.c) =============
 * docs/diffusion.md, "Reverse-time SDE samplers and the DDPM chain".
 *
 * Scores come through a callback in SUNDIALS style: score(t, n, x, out, user) writes ∇log p_t at
 * the n points x (component-major, dim × n) into out (same layout) and returns 0 or an fpkit
 * status (fpk_score_fn, above). It is called from several threads at once (blocks of
 * FPK_REVSDE_BLOCK points). The exact mixture score: fpk_gmm_score_fn with fpk_gmm_score_ctx. */

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
/* The mixture m as an fpk_ddpm_mixture viewing m's arrays (valid while m lives): e.g.
 * fpk_revsde_params.exact for a mixture held as an fpk_gmm. */
fpk_ddpm_mixture fpk_gmm_mixture_view(const fpk_gmm *m);

#define FPK_REVSDE_BLOCK 256

/* Stochastic samplers from t_max down to t_min on a time grid t_max = t_N > … > t_0 = t_min:
 * params.grid names one of fpk_time_grid_types (the grids of the probability-flow samplers,
 * fpk_time_grid; EDM with params.rho), by default "time-uniform",
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
  const char *grid;       /* a name of fpk_time_grid_types: "time-uniform" (default; NULL means
                           * it too), "logsnr-uniform" or "edm" */
  double rho;             /* EDM ρ > 0 for grid "edm" (default 7) */
} fpk_revsde_params;

void fpk_revsde_params_init(fpk_revsde_params *p); /* defaults above, N = 100, t_min = 1e-3 */

/* Runs n paths from x (component-major dim × n, the states at t_max; overwritten by the states at
 * t_min, or x̂0 with denoise). FPK_EINVAL naming the key and value for N < 1, t_min <= 0 or
 * >= t_max, t_max > T, snr <= 0, M < 1, an unknown grid, rho <= 0 with "edm" (and what
 * fpk_time_grid refuses); for the score-driven samplers (all but ancestral with exact) a t_max
 * where a_t < 1e-8 or g² >= 1e12 (a huge β, vp-cosine at T: the steps would overflow); for the
 * exact chain a grid time where a_t underflowed to 0; the status of a failing score call; FPK_ENUMERIC (path,
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

/* FPK_EINVAL naming the argument for N < 2 (the latents t_1 = t_min and t_N = t_max are two),
 * t_min, t_max out of order or range, nsamples < 2; FPK_ENUMERIC when a term is not finite (a
 * t_min so small that SNR = a²/b² overflows). */
int fpk_ddpm_elbo(const fpk_ddpm_mixture *mix, const fpk_schedule *s,
                  size_t N, double t_min, double t_max, size_t nsamples, uint64_t seed,
                  fpk_ddpm_elbo_result *res, fpk_error *err);
/* ==== end of reverse-time SDE samplers ===================================================== */

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
  double step;              /* α (ula, mala) or ε (annealed): > 0; NaN (the default): the
                             type's, α = 0.01 (ula, mala), ε = 2e-5 (annealed) */
  size_t n_iter;            /* steps (ula, mala) or steps per level (annealed): >= 1 */
  size_t n_levels;          /* annealed: L >= 1 (L = 1 uses sigma_min only) */
  double sigma_max, sigma_min; /* annealed: σ_1 >= σ_L > 0 (σ_1 > σ_L when L > 1) */
  uint64_t seed;
  size_t trace_every;       /* k: record the metric at iteration 0, every k and at the end; 0: none */
  fpk_lmc_metric_fn metric;
  void *metric_user;
} fpk_lmc_params;

/* step NaN (the type's: α = 0.01, annealed ε = 2e-5, so that α_i/σ_i² = ε/σ_L² = 0.2 on every
 * level, Song & Ermon 2019's ratio), n_iter 1000, n_levels 10, σ 10 → 0.01, seed 1, no trace. */
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
 * points. n = 0 (x may then be NULL) is a no-op once the parameters are checked (nothing called,
 * no trace), as for fpk_pfode_sample and fpk_revsde_sample. FPK_EINVAL (naming the key and value) for bad parameters or a missing callback,
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


/* ==== Log-Sobolev decay of KL under Langevin (issue 14 part 5, last bullet;
 * src/diffusion/fpcheck.c; docs/diffusion.md "Log-Sobolev decay check") ======================
 *
 * Overdamped Langevin with stationary law π, dX = ∇log π(X) dt + √2 dW (π a mixture: its exact
 * score), relaxes in relative entropy: d/dt KL(p_t ‖ π) = −I(p_t ‖ π) (the relative Fisher
 * information), so a log-Sobolev inequality KL(p ‖ π) ≤ I(p ‖ π)/(2ρ) gives
 * KL(p_t ‖ π) ≤ e^{−2ρt} KL(p_0 ‖ π) (Bakry & Émery 1985 for ρ-convex −log π: ρ = 1/s² for
 * N(0, s²I); Holley & Stroock 1987 for bounded perturbations; Otto & Villani 2000,
 * Markowich & Villani 2000). Near π, KL ≈ ½χ², which decays at twice the spectral gap λ
 * (fpk_spectral_gap of the same model), and ρ ≤ λ. */

/* The model dX = ∇log π(X) dt + √2 dW (name "langevin-gmm", dimension that of π, additive and
 * autonomous, drift by fpk_gmm_eval with no schedule): for fpkit's FP solvers and
 * fpk_spectral_gap. One allocation that starts with the fpk_model: release it with
 * fpk_model_free. π must outlive it. FPK_EINVAL for π NULL. */
fpk_model *fpk_gmm_langevin_model_alloc(const fpk_gmm *pi, fpk_error *err);

/* KL(p ‖ q) = Σ_j vol [p_j log(p_j/q_j) − p_j + q_j] of two densities on g (each term ≥ 0; the
 * −p + q terms cancel for equal masses and remove the rounding of the masses, and each term is
 * evaluated without cancellation, so values down to ~1e-30 are meaningful). p_j ≤ 0 counts as 0;
 * +∞ where q_j ≤ 0 < p_j. */
double fpk_grid_relative_entropy(const fpk_grid *g, const double *p, const double *q);

typedef struct fpk_kl_decay_params {
  double dt;           /* TR-BDF2 step of the FV solver (default 1e-2) */
  int exact_reference; /* 0 (default): KL to the FV operator's own equilibrium (the discrete
                        * Gibbs density: in 1D with reflecting walls by its zero-flux product
                        * formula, accurate in the tails; else fpk_fv_stationary's null vector,
                        * floored at 1e-300), so the decay is that of the discrete
                        * operator down to rounding, its rate the discrete gap (O(h²) from the
                        * continuous one); 1: to π at the cell centres normalised on the grid
                        * (KL then levels off at the O(h²)-small KL of the two equilibria) */
} fpk_kl_decay_params;
void fpk_kl_decay_params_init(fpk_kl_decay_params *p);

/* KL(p_t ‖ π) at the nt non-decreasing times t (from t = 0) for the Langevin dynamics above,
 * solved by the finite-volume solver (fpkit/fv.h, TR-BDF2, Scharfetter–Gummel fluxes) on g
 * (reflecting or periodic walls; the mixture's dimension) from the density p0 (g->size
 * values ≥ 0, normalised to mass 1 on the grid). par NULL: the defaults. FPK_EINVAL (naming the
 * function, the argument and its value) for a grid of another dimension or with an absorbing
 * wall, dt ≤ 0, decreasing or negative times, a negative or non-finite p0 or one without mass;
 * the solver's status and message (prefixed) when it fails. */
int fpk_langevin_kl_decay(const fpk_gmm *pi, const fpk_grid *g, const double *p0,
                          const fpk_kl_decay_params *par, size_t nt, const double *t, double *kl,
                          fpk_error *err);
/* ==== end of the log-Sobolev section ======================================================== */

#ifdef __cplusplus
}
#endif
#endif
