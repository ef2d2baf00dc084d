/* Schrödinger bridges for any fpkit reference model, by Fortet/IPF iterations on the
 * finite-volume Fokker–Planck discretisation (src/fp/). Internal to src/sb/; not installed.
 * docs/sb.md, "FP-based IPF (any reference)".
 *
 * The reference is the Markov chain of the implicit Euler steps of the Scharfetter–Gummel FV
 * operator L(t) of the model (src/fp/fv_operator.c) on the grid's cells:
 *   M_n = (I − h_n L(t_{n+1}))⁻¹   (column-stochastic: 1ᵀM_n = 1ᵀ, M_n >= 0 entrywise),
 * and the Schrödinger system of that chain between the cell probabilities a (t = 0), b (t = T):
 *   φ̂_{n+1} = M_n φ̂_n          (forward Fokker–Planck, a density)
 *   φ_n     = M_nᵀ φ_{n+1}      (backward Kolmogorov, a function: exactly the transpose)
 *   φ̂_0 φ_0 = a,  φ̂_N φ_N = b,  p_n = φ_n φ̂_n,
 * so Σ_i φ_n(i) φ̂_n(i) is the same at every level n (discrete duality) and Σ p_n = Σ b = 1.
 * Fortet/IPF: φ_0 = 1; repeat { φ̂_0 = a/φ_0; forward; φ_N = b/φ̂_N; backward } until
 * ‖φ_0 φ̂_0 − a‖₁ < tol (p_T = b holds exactly after each backward pass). Cells where φ̂_T (φ_0)
 * underflows are dropped from b (a) for that half-step and their mass counts in the error.
 * Every vector is stored rescaled (values with max 1 and the log of the scale), so potentials
 * spanning hundreds of orders of magnitude across time neither overflow nor underflow.
 *
 * Use: sb_ipf_params_init → set → sb_ipf_alloc → sb_ipf_solve(a, b) → queries at the output
 * times → sb_ipf_free. Errors: int status (fpkit/error.h), message on the object. */
#ifndef FPK_SB_IPF_H
#define FPK_SB_IPF_H

#include <stddef.h>
#include "fpkit/error.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

typedef struct sb_ipf_params {
  const fpk_model *model; /* the reference dX = f dt + diag(σ) dW; owned by the caller, must
                             outlive the bridge; model->dim = grid dim */
  double T;               /* horizon > 0 (default 1) */
  double dt;              /* largest time step > 0 (default 0.01); each interval between two
                             output times is split into equal steps <= dt (fpk_time_steps) */
  size_t nt;              /* output times t[0..nt-1], nondecreasing, in [0, T]; 0 and T are */
  const double *t;        /* always output times as well (added when missing) */
  double tol;             /* IPF stops when ‖p_0 − a‖₁ < tol (default 1e-9) */
  size_t max_iter;        /* IPF iterations at most (default 10000) */
  int normalize;          /* rescale a and b to mass 1 (else each must have mass 1 within 1e-9) */
} sb_ipf_params;

void sb_ipf_params_init(sb_ipf_params *p);

typedef struct sb_ipf sb_ipf;

/* Plans the bridge: checks the parameters (FPK_EINVAL naming the value: T, dt, an output time
 * outside [0, T] or out of order, a model of another dimension, an absorbing wall (the reference
 * must keep its mass: reflecting or periodic walls only), a noise that is zero or not finite at
 * some cell centre at t = 0) and builds the time levels and the operator. */
sb_ipf *sb_ipf_alloc(const fpk_grid *g, const sb_ipf_params *p, fpk_error *err);
void sb_ipf_free(sb_ipf *s); /* NULL is safe */

/* Solves for the end marginals a (t = 0) and b (t = T), cell probabilities (g->size each).
 * FPK_EINVAL for a negative, NaN or infinite entry, a zero mass, or a mass not 1 within 1e-9
 * without normalize (the cell and value named); FPK_ENUMERIC when φ̂_T underflows (< DBL_MIN
 * of its maximum) on cells holding tol/2 or more of the mass of b, or φ_0 of a (σ too small for
 * the box: the message gives the mass, σ, T, the distance between the supports, d²/(2σ²T) and
 * what to change), or when IPF does not reach tol in max_iter iterations (the error named). */
int sb_ipf_solve(sb_ipf *s, const double *a, const double *b);

/* ‖p_0 − a‖₁ + ‖p_T − b‖₁ after each IPF iteration of the last solve (owned by s); the second
 * term is the mass of b on cells dropped for underflow, 0 unless σ is near the reliable limit;
 * *n iterations. */
const double *sb_ipf_history(const sb_ipf *s, size_t *n);
/* The output times (0 and T included, sorted, duplicates merged); *n of them. */
const double *sb_ipf_times(const sb_ipf *s, size_t *n);
/* Number of time steps N from 0 to T. */
size_t sb_ipf_nsteps(const sb_ipf *s);

/* Queries at an output time t (within 1e-12 T of one; FPK_EINVAL otherwise, and before a
 * solve). Gauge as fpk_sb: log φ̂_t a log density per unit volume (the cell probability minus
 * log V), log φ_t dimensionless, p_t = V φ_t φ̂_t; −∞ where zero. */
int sb_ipf_log_phi_hat(sb_ipf *s, double t, double *log_phi_hat);
int sb_ipf_log_phi(sb_ipf *s, double t, double *log_phi);
/* Cell probabilities p (may be NULL), their log (may be NULL; the sum of the two logs, never a
 * product of underflowed numbers) and the mass Σ p (may be NULL; 1 to rounding by duality;
 * FPK_ENUMERIC when it differs from 1 by more than 1e-8, the arrays written all the same). */
int sb_ipf_marginal(sb_ipf *s, double t, double *p, double *log_p, double *mass);
/* Forward drift b_a = f_a(x, t) + σ_a(x, t)² ∂_a log φ_t at the cell centres (dim × size,
 * component-major), ∂_a by centred differences of log φ_t (the second-order one-sided formula
 * at a reflecting wall, wrapped at a periodic one). Where a difference would use a cell with
 * φ_t = 0 (t = T outside the support of b) a one-sided difference of the finite neighbours is
 * used, and where none exists the value of the nearest cell along the axis that has one
 * (constant extrapolation; 0 when the whole line has none): finite everywhere. mask (size, may be
 * NULL): 1 where p_t < DBL_MIN (underflow), 0 elsewhere. */
int sb_ipf_drift(sb_ipf *s, double t, double *drift, unsigned char *mask);
/* Backward drift: the drift of the time reversal Y_s = X_{T−s} at physical time t,
 * b̂_a = −f_a + σ_a² ∂_a log φ̂_t + ∂_a(σ_a²) (the last term by a centred difference of σ_a² over
 * the cell, only for non-additive noise); differences and mask as sb_ipf_drift. */
int sb_ipf_backward_drift(sb_ipf *s, double t, double *drift, unsigned char *mask);

/* KL(π* ‖ R_0T) of the discrete plan π_ij = φ̂_0(i) K_ij φ_T(j) against R_ij = a_i K_ij, K = the
 * chain's N-step transition matrix (R_0 = a, the convention of fpk_sb_kl_static), in closed form
 * from the potentials: Σ_i p_0(i) log(φ̂_0(i)/a_i) + Σ_j p_T(j) log φ_T(j) (φ̂ in cell masses);
 * no propagation. FPK_EINVAL before a solve. */
int sb_ipf_kl_static(sb_ipf *s, double *kl);

/* Discrete duality check (tests): propagates p0 forward and uT backward through every level
 * with the solver's two steps (no rescaling) and writes sums[n] = Σ_i u_n(i) p_n(i), n = 0..N. */
int sb_ipf_duality_sums(sb_ipf *s, const double *p0, const double *uT, double *sums);

const char *sb_ipf_errmsg(const sb_ipf *s);

#endif
