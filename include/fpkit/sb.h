/* fpkit/sb.h — Schrödinger bridges on an fpkit grid (docs/sb.md).
 *
 * References: Brownian dX = σ dW (below) and OU dX = −θX dt + σ dW, whose kernel
 * K_τ(x, y) ∝ exp(−|y − e^{−θτ}x|²/(2v_τ)), v_τ = σ²(1 − e^{−2θτ})/(2θ), is separable but not a
 * convolution; it is the heat kernel of the cost |x − y|² at ε'_τ = 2v_τ e^{θτ} between two diagonal
 * scalings, so the static OU bridge is the entropic OT plan at ε' = 2σ² sinh(θT)/θ (all of the grid
 * Sinkhorn's back-ends apply) and every propagation is a heat propagation framed by the scalings.
 * With a reference drift f (f = −θx) the forward drift is b = f + σ²∇log φ_t and the backward drift
 * b̂ = −f + σ²∇log φ̂_t (below: f = 0).
 *
 * The Schrödinger bridge between two densities μ0, μT for a reference process R on [0, T] is the
 * path measure closest to R in KL with those end marginals. For the Brownian reference
 * dX = σ dW (per axis, isotropic) the static bridge is the entropic OT plan with the cost
 * |x − y|² at ε = 2σ²T (the heat kernel K_T(x, y) = (2πσ²T)^{−d/2} exp(−|x − y|²/ε) is the
 * Gibbs kernel up to its constant), and the dynamic bridge is that plan's mixture of Brownian
 * bridges. It is described by the Schrödinger system
 *   π(x, y) = φ̂_0(x) K_T(x, y) φ_T(y),
 *   φ̂_t(x) = ∫ K_t(z, x) φ̂_0(z) dz   (forward heat equation),
 *   φ_t(x)  = ∫ K_{T−t}(x, y) φ_T(y) dy (backward heat equation),
 *   p_t = φ_t φ̂_t,   forward drift b(x, t) = σ²∇log φ_t(x),
 *   backward drift b̂(x, t) = σ²∇log φ̂_t(x) (the drift of the time reversal Y_s = X_{T−s}, at
 *   physical time t).
 * (Schrödinger 1931; Léonard, "A survey of the Schrödinger problem", DCDS-A 34(4), 2014; the
 * Gaussian case: Bunne, Hsieh, Cuturi & Krause, AISTATS 2023.)
 *
 * On the grid every integral is the quadrature of the cell centres, the one the OT solver uses
 * (a trapezoidal rule, exponentially accurate once the kernel's width σ√t exceeds the cell size),
 * and every kernel application is a separable log-sum-exp, so no potential underflows.
 *
 * Use: fpk_sb_alloc (plan: grid, reference, σ, T) → fpk_sb_solve (a, b) → queries at any t in
 * [0, T] (the model reference: at its chain's levels) → fpk_sb_free. Errors: int status
 * (fpkit/error.h), message on the object (fpk_sb_errmsg). Limits: docs/sb.md, last section. The
 * command `fpkit sb` (src/app/sb.c) drives this module.
 */
#ifndef FPKIT_SB_H
#define FPKIT_SB_H

#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"
#include "fpkit/ot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reference process (type table as fpk_sde_stepper_type and fpk_ot_kernel_type). */
typedef struct fpk_sb_reference_type {
  const char *name;
  const char *description;
} fpk_sb_reference_type;

/* dX = σ dW per axis: heat kernels, static bridge = entropic OT at ε = 2σ²T. */
extern const fpk_sb_reference_type *fpk_sb_reference_brownian;
/* dX = −θX dt + σ dW per axis (θ = fpk_sb_params.theta > 0): Gaussian kernels
 * N(e^{−θτ}x, σ²(1 − e^{−2θτ})/(2θ)); static bridge = entropic OT at ε = 2σ² sinh(θT)/θ. */
extern const fpk_sb_reference_type *fpk_sb_reference_ou;
/* Any fpkit model dX = f(x, t) dt + diag(σ(x, t)) dW (fpk_sb_params.model; built-ins, Langevin,
 * expression models): the Schrödinger system of the model's implicit-Euler Scharfetter–Gummel
 * finite-volume chain, solved by Fortet/IPF with the backward Kolmogorov step the exact transpose
 * of the forward one (discrete duality), potentials stored rescaled (docs/sb.md, "FP-based IPF").
 * Queries answer at the chain's time levels only (fpk_sb_params.nt, t, dt); the Euler–Maruyama
 * sampler needs an additive isotropic noise and steps on those levels; no exact sampler. */
extern const fpk_sb_reference_type *fpk_sb_reference_model;
/* NULL-terminated list of the references built so far. */
extern const fpk_sb_reference_type *const fpk_sb_reference_types[];
/* By name; NULL if unknown. */
const fpk_sb_reference_type *fpk_sb_reference_find(const char *name);

typedef struct fpk_sb_params {
  const fpk_sb_reference_type *reference; /* NULL: Brownian */
  double sigma;  /* noise level σ > 0 of the reference (default 1) */
  double T;      /* horizon T > 0 (default 1) */
  double theta;  /* OU reference only: the rate θ > 0, θT <= 100 (default 1) */
  /* The static solve: every field is used as given except eps, which is set to 2σ²T (Brownian)
   * or 2σ² sinh(θT)/θ (OU)
   * (default: fpk_ot_params_init, tol 1e-9). */
  fpk_ot_params ot;
  /* Sinkhorn's kernel back-end (NULL: automatic, fpk_ot_grid_solve). The time propagations do
   * not use it: they go through the OT module's log-domain propagation (fft where its rounding
   * bound certifies every output, else per-axis products with a shift per line, any output these
   * cannot certify by an exact log-sum-exp), every log within 1e-12 of the exact log-sum-exp at
   * every ε_t (docs/sb.md, "Log-domain propagation"). */
  const fpk_ot_kernel_type *kernel;
  /* The marginal queries fail (FPK_ENUMERIC) when Σ p_t differs from 1 by more than this
   * (default 1e-6): the grid does not resolve the heat kernel at that t (docs/sb.md). */
  double mass_tol;
  /* ---- The model reference only (fpk_sb_reference_model); sigma, theta, ot.eps, kernel and
   * mass_tol are then unused, ot.tol, ot.max_iter and ot.normalize apply to IPF. ---- */
  const fpk_model *model; /* the reference; borrowed, must outlive the bridge */
  double dt;              /* largest step of the chain (default 0.01) */
  /* The times the queries will be asked at (nondecreasing, in [0, T]; 0 and T are added): the
   * bridge answers at these and at every level of the chain between them (each interval split
   * into equal steps <= dt, as fpk_time_steps and the Euler–Maruyama sampler split it). */
  size_t nt;
  const double *t;
} fpk_sb_params;

/* Defaults as documented above (dt = 0.01, no model, no times). */
void fpk_sb_params_init(fpk_sb_params *p);

typedef struct fpk_sb fpk_sb;

/* Plans a bridge on grid g (1D–3D; boundary conditions are ignored: the reference lives on ℝ^d
 * and the grid is the quadrature of the box). FPK_EINVAL (in err) for σ <= 0, T <= 0 (or not
 * finite), an unknown reference or bad OT parameters; the message names the value. */
fpk_sb *fpk_sb_alloc(const fpk_grid *g, const fpk_sb_params *p, fpk_error *err);
void fpk_sb_free(fpk_sb *s); /* NULL is safe */

/* Solves the static problem between the end marginals a (t = 0) and b (t = T), cell
 * probabilities (g->size values each, >= 0, finite, Σ = 1 unless p->ot.normalize). r (may be
 * NULL) receives the OT result (its eps is 2σ²T). FPK_EINVAL on bad input, naming the cell and
 * value; FPK_ENUMERIC when Sinkhorn did not converge to p->ot.tol (the message says how far). */
int fpk_sb_solve(fpk_sb *s, const double *a, const double *b, fpk_ot_result *r);

/* ε of the static OT problem (cost |x − y|²): 2σ²T (Brownian), 2σ² sinh(θT)/θ (OU); NaN for the
 * model reference (no Gibbs kernel). */
double fpk_sb_eps(const fpk_sb *s);
/* The L1 marginal error err_a + err_b at each check of the last solve's Sinkhorn iterations, over
 * all its ε stages (fpk_ot_grid_history; owned by s, valid until the next solve); *n checks. The
 * model reference: after each IPF iteration. */
const double *fpk_sb_history(const fpk_sb *s, size_t *n);

/* Potentials at time t in [0, T] after a solve (g->size values, −∞ where zero), as densities per
 * unit volume with the gauge of docs/sb.md (log φ̂_0 = log(a/V) + f/ε, log φ_T = log(b/V) + g/ε +
 * (d/2) log(πε), V the cell volume, f, g the OT potentials):
 *   log φ̂_t = log Σ_z V K_t(z, ·) φ̂_0(z),   log φ_t = log Σ_y V K_{T−t}(·, y) φ_T(y),
 * by separable log-sum-exps at ε_t = 2σ²t and 2σ²(T − t); t = 0 (resp. T) returns φ̂_0 (φ_T).
 * OU: the same with K_t(z, x) ∝ exp(−|x − e^{−θt}z|²/(2v_t)), the gauge's f/ε taking the OU
 * scalings (docs/sb.md, "The OU reference"). */
int fpk_sb_log_phi_hat(fpk_sb *s, double t, double *log_phi_hat);
int fpk_sb_log_phi(fpk_sb *s, double t, double *log_phi);

/* The marginal at t as cell probabilities p_i = V exp(log φ_t + log φ̂_t) (p may be NULL), its
 * log (log_p may be NULL; −∞ where zero, never formed from underflowed factors) and mass Σ p
 * (may be NULL). At t = 0 and T these are the row and column sums of the plan (a and b to the
 * Sinkhorn tolerance). FPK_ENUMERIC when |Σ p − 1| > mass_tol, the message naming the likely
 * cause: the grid does not resolve the kernels this close to an end (the reference bridge's
 * variance, σ²t(T − t)/T for the Brownian reference, < 1.2 h²), or
 * the bridge reaches the walls of the box. The arrays are written also then. */
int fpk_sb_marginal(fpk_sb *s, double t, double *p, double *log_p, double *mass);

/* Forward drift b(x, t) = f(x) + σ²∇log φ_t at every cell centre (f = −θx for OU, 0 for Brownian;
 * drift: dim × g->size, component-major drift[a·size + i]), from the kernel's own gradient,
 * without differences:
 *   σ²∇log φ_t(x) = (E_w[y] − x)/(T − t),   w(y) ∝ K_{T−t}(x, y) φ_T(y)
 * (OU: σ²κ(E_w[y] − κx)/v_τ, κ = e^{−θτ}, τ = T − t),
 * E_w[y_a] a ratio of two log-domain kernel applications (to φ_T and (y_a − lo_a)φ_T). At t = T
 * the limit σ²∇log φ_T = σ²∇log p_T − σ²∇log φ̂_T is used, with σ²∇log φ̂_T(x) =
 * (E[X_0 | X_T = x] − x)/T from the kernel at ε and ∇log p_T the centred difference of log b
 * (one-sided at the walls; 0 where b or a neighbour is 0): the only difference taken, of the input
 * data. mask (g->size, may be NULL): 1 where p_t underflows (log p_t < log DBL_MIN), 0 elsewhere;
 * the drift is finite there too (the formula needs only φ_T > 0 somewhere).
 * Accuracy: exact to the quadrature while T − t >= fpk_sb_resolved_tau (the kernel variance
 * v_{T−t} >= 1.2 max_a h_a², docs/sb.md). Closer to T the grid cannot resolve K_{T−t} (the weights
 * would collapse onto the cell and the formula tend to 0): σ²∇log φ_t there is the linear
 * interpolation in t between
 * the last resolved time and the limit at T, error O(τ_r²) = O(h⁴/σ⁴). If τ_r >= T no interior
 * time is resolved and the call fails with FPK_ENUMERIC (the ends still work). */
int fpk_sb_drift(fpk_sb *s, double t, double *drift, unsigned char *mask);
/* Backward drift b̂(x, t) = −f(x) + σ²∇log φ̂_t, σ²∇log φ̂_t = (E_ŵ[z] − x)/t (OU:
 * σ²(κE_ŵ[z] − x)/v_t), ŵ(z) ∝ K_t(z, x) φ̂_0(z), the drift of the reversed process Y_s = X_{T−s}
 * at physical time t (b + b̂ = σ²∇log p_t); at t = 0 the limit σ²∇log p_0 − σ²∇log φ_0. Resolved for t >=
 * fpk_sb_resolved_tau, interpolated to the limit below, as the forward drift. */
int fpk_sb_backward_drift(fpk_sb *s, double t, double *drift, unsigned char *mask);
/* τ_r: the shortest propagation time whose kernel the grid resolves, v_τ = 1.2 max_a h_a² (the
 * trapezoidal rule on a Gaussian of variance v errs by about 2 exp(−2π²v/h²) <= 1e-10): 1.2h²/σ²
 * for the Brownian reference, −log(1 − 2.4θh²/σ²)/(2θ) for OU (∞ when σ²/(2θ) <= 1.2h²). */
double fpk_sb_resolved_tau(const fpk_sb *s);

const char *fpk_sb_errmsg(const fpk_sb *s);

/* ---- Path-measure diagnostics (src/sb/diagnostics.c, docs/sb.md "Path-measure diagnostics") --
 * Convention: the reference path measure R starts from R_0 = μ0 (the bridge's own initial law),
 * so KL(μ0 ‖ R_0) = 0 and KL(P* ‖ R) = KL(π* ‖ μ0 ⊗ K_T) = ∫ KL(π*(·|x) ‖ K_T(x, ·)) dμ0(x).
 * (For another R_0 add KL(μ0 ‖ R_0): the rest of P*'s path law given X_0 is unchanged.) */

/* The static KL on the grid, KL(π* ‖ R_0T) = Σ_ij π_ij log(π_ij / (a_i V K_T(x_i, y_j))), in
 * closed form from the potentials (π_ij = V² φ̂_0(x_i) K_T(x_i, y_j) φ_T(y_j)):
 *   KL = Σ_i p0_i log(V φ̂_0(x_i)/a_i) + Σ_j pT_j log φ_T(y_j),
 * p0, pT the plan's exact row and column sums (a, b to the Sinkhorn tolerance). No time
 * propagation is needed beyond one kernel application each way. FPK_EINVAL before a solve. */
int fpk_sb_kl_static(fpk_sb *s, double *kl);

typedef struct fpk_sb_path_diag {
  double kl_static;   /* fpk_sb_kl_static */
  /* Girsanov: KL(μ0 ‖ R_0) + ½∫_0^T Σ_i p_t(i) |(b − f)(x_i, t)/σ|² dt, first term 0 (convention). */
  double kl_girsanov;
  /* ∫_0^T Σ_i p_t(i) |v(x_i, t)|² dt, v = b − ½σ²∇log p_t = ½(b − b̂) the probability-flow
   * velocity (no differences: both drifts come from the kernels); → W2²(μ0, μT)/T as σ → 0. */
  double kinetic;
  /* The parts of kl_girsanov and kinetic from the two end strips [0, τ_r] and [T − τ_r, T]
   * (docs/sb.md): a scale for the error of the end treatment. */
  double kl_strips, kinetic_strips;
  size_t strip_points; /* points of each strip's rule: 6 (quintic), 4 (cubic) or 2 */
  double tau_r;       /* the strip width fpk_sb_resolved_tau (0 if the strips are empty) */
  size_t n_nodes;     /* time nodes evaluated (each: 2 + 2(1 + d) kernel applications) */
} fpk_sb_path_diag;

/* Static KL, Girsanov KL and kinetic energy after a solve. The time integrals: composite 5-point
 * Gauss–Legendre (exact for degree 9) on n_intervals equal subintervals of [τ_r, T − τ_r] (where
 * the grid resolves every kernel), plus on each end strip of width τ_r = fpk_sb_resolved_tau the
 * integral of the quintic through the integrand at the end (the plan's row or column sums and
 * the drifts' end limits) and at τ_r, …, 5τ_r from it (Adams–Moulton weights; the cubic through
 * 4 points when 6τ_r > T, the trapezoid of the strip's ends when 4τ_r > T). FPK_EINVAL before a solve or for n_intervals = 0;
 * FPK_ENUMERIC when 2τ_r >= T (no interior time resolved: refine the grid). */
int fpk_sb_path_diagnostics(fpk_sb *s, size_t n_intervals, fpk_sb_path_diag *out);

/* ---- Sampling (docs/sb.md, "Sampling") ----------------------------------------------------- */
/* Monte Carlo paths of the bridge, 1D and 2D grids (FPK_EUNSUP in 3D), two ways:
 *  - fpk_sb_sample_exact: (X_0, X_T) from the static plan π_ij = V²φ̂_0(x_i)K_T(x_i, y_j)φ_T(y_j)
 *    (X_0's cell from a, X_T's cell from the row π(i, ·)/a_i ∝ K_T(x_i, ·)φ_T, each point uniform
 *    in its cell: exactly the law of the discrete plan made piecewise constant on cells × cells),
 *    then bridges of the reference (Brownian bridges of σW; OU bridges) pinned at (0, X_0) and
 *    (T, X_T) at the output times, sampled in time order (X_t given X_{t'} and X_T), so stored
 *    paths have the right joint law.
 *  - fpk_sb_sample_em: Euler–Maruyama on dX = b(X, t) dt + σ dW from X_0 ~ a (the same X_0 as
 *    the exact sampler for the same seed), b the forward drift fpk_sb_drift at each step's left
 *    time, multilinear between cell centres (constant beyond the outer centres); each output
 *    interval is split into equal steps <= dt (fpk_time_steps), and [t_last, T] too when the last
 *    output time is before T (the paths run on to T for kl_mc, a KL over [0, T]).
 * Streams (Philox, fpkit/sde.h): path p's X_0 comes from call 0 exactly as fpk_mc_run's
 * init_cells; the exact sampler's X_T from call 1 (words 0, 1: the cell by inversion at a 53-bit
 * uniform; 2, 3: the point) and its bridge normals from positions 6 + k·dim + c (output k, in
 * time order); EM's increments of step s from positions 3 + s·dim + c, as fpk_mc_run with the
 * "em" stepper. Results are bitwise identical for any thread count (per-path streams, fixed
 * blocks of FPK_MC_BLOCK_PATHS paths reduced in block order). */
typedef struct fpk_sb_sample_params {
  size_t npaths;      /* >= 1 */
  uint64_t seed;
  size_t nt;          /* >= 1 output times */
  const double *t;    /* [nt] nondecreasing, in [0, T] */
  size_t keep_paths;  /* store the first K paths at the output times (0: none) */
  int nthreads;       /* <= 0: OpenMP default */
  double dt;          /* EM only: largest step (> 0) */
} fpk_sb_sample_params;

/* Zeroes p (no times, no paths), then dt = 0.01. */
void fpk_sb_sample_params_init(fpk_sb_sample_params *p);

typedef struct fpk_sb_sample_result {
  size_t nt, dim, cells, npaths, kept;
  double *t;        /* [nt] */
  double *mass;     /* [nt][cells] fraction of the paths in each cell (the histogram) */
  double *outside;  /* [nt] fraction of the paths outside the box */
  double *mean;     /* [nt][dim] */
  double *cov;      /* [nt][dim][dim] sample covariance (divisor npaths − 1; 0 if npaths = 1) */
  double *paths;    /* [kept][nt][dim] */
  size_t nsteps;    /* EM: steps taken (0 for the exact sampler) */
  /* EM only (NaN from the exact sampler): Monte Carlo KL(P* ‖ R) along the simulated paths
   * (docs/sb.md "Path-measure diagnostics"). With u = (b − f)/σ at each step's left point (b the
   * interpolated forward drift, f the reference's drift, 0 for the Brownian reference) and ΔW =
   * √h Z the step's own Brownian increment, per path
   *   L = Σ_steps (u·ΔW + ½|u|² h)   (log dP/dR of the EM chain against the reference walk with
   *                                   the same steps: exact, not an approximation of it),
   *   E = Σ_steps ½|u|² h            (the Girsanov integrand along the path; E[L] = E[E]),
   * plus KL(μ0 ‖ R_0) = 0 (the convention above). kl_mc = mean L, kl_mc_energy = mean E, each
   * with its standard error sqrt(var/npaths) (var with divisor npaths − 1; NaN for 1 path). Both
   * estimate the KL of the EM chain, which differs from KL(P* ‖ R) by O(dt) (plus the drift's
   * interpolation error, O(h²)). */
  double kl_mc, kl_mc_se, kl_mc_energy, kl_mc_energy_se;
} fpk_sb_sample_result;

/* After fpk_sb_solve. FPK_EINVAL (message on s) for no solve yet, npaths = 0, nt = 0, an output
 * time outside [0, T] or out of order, dt <= 0 (EM), naming the value; FPK_EUNSUP in 3D;
 * FPK_ENUMERIC (EM) when fpk_sb_drift fails (no interior time resolved, docs/sb.md). r is
 * written only on success; free it with fpk_sb_sample_result_free. */
int fpk_sb_sample_exact(fpk_sb *s, const fpk_sb_sample_params *p, fpk_sb_sample_result *r);
int fpk_sb_sample_em(fpk_sb *s, const fpk_sb_sample_params *p, fpk_sb_sample_result *r);
void fpk_sb_sample_result_free(fpk_sb_sample_result *r); /* NULL and zeroed structs are safe */

#ifdef __cplusplus
}
#endif
#endif
