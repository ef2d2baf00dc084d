/* Internals of the Schrödinger bridge module (fpkit/sb.h). Not installed. */
#ifndef FPK_SB_INTERNAL_H
#define FPK_SB_INTERNAL_H

#include "fpkit/sb.h"

/* A reference process: the public type first, then what the solver needs of it. The references
 * built on exact kernels are linear, dX = −θX dt + σ dW per axis (θ = 0: Brownian), with the
 * Gaussian transition law X_τ | X_0 = x ~ N(κ_τ x, v_τ I) (sb_reference_law). check validates the
 * reference's own parameters (NULL: none); rate returns θ. */
typedef struct sb_reference_impl {
  fpk_sb_reference_type pub;
  int (*check)(const fpk_sb_params *p, fpk_error *err);
  double (*rate)(const fpk_sb_params *p);
} sb_reference_impl;

#define SB_REFERENCE_IMPL(type) ((const sb_reference_impl *)(const void *)(type))

extern const sb_reference_impl sb_reference_brownian, sb_reference_ou;

/* κ_τ = e^{−θτ} and v_τ = σ²(1 − e^{−2θτ})/(2θ) (σ²τ at θ = 0), to relative rounding for every
 * θτ (expm1). ../shared/reference/closed-forms.md, "Ornstein–Uhlenbeck". */
void sb_reference_law(double sigma, double theta, double tau, double *kappa, double *var);

/* ---- for src/sb/diagnostics.c and sample.c: a read-only view of a bridge's solved state ---- */
typedef struct sb_view {
  const fpk_grid *g;
  double sigma, T, theta; /* the reference: dX = −θX dt + σ dW */
  double logV;
  /* The static plan in the form of the grid OT solve, π_ij ∝ exp(lrow_i + lcol_j − |x_i − y_j|²/eps)
   * (eps = 2σ²T for the Brownian reference, 2 v_T/κ_T for OU: the same plan, docs/sb.md). */
  double eps;
  const double *lrow, *lcol;
  const double *a, *b;          /* normalised end marginals (cell masses) */
  const double *lphat0, *lphiT; /* log φ̂_0, log φ_T (gauge of fpkit/sb.h) */
  int solved;
  fpk_error *err; /* the bridge's error slot (fpk_sb_errmsg) */
} sb_view;
void sb_get_view(fpk_sb *s, sb_view *v);

#endif
