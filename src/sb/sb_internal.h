/* Internals of the Schrödinger bridge module (fpkit/sb.h). Not installed. */
#ifndef FPK_SB_INTERNAL_H
#define FPK_SB_INTERNAL_H

#include "fpkit/model.h"
#include "fpkit/sb.h"
#include "sb/sb_ipf.h"

/* A reference process: the public type first, then what the solver needs of it. kind
 * SB_REF_KERNEL: a linear reference with an exact kernel, dX = −θX dt + σ dW per axis (θ = 0:
 * Brownian), X_τ | X_0 = x ~ N(κ_τ x, v_τ I) (sb_reference_law), solved by the grid Sinkhorn;
 * SB_REF_MODEL: any fpkit model, solved by FP-based IPF (src/sb/ipf.c). check validates the
 * reference's own parameters (NULL: none); rate returns θ (kernel references). */
enum { SB_REF_KERNEL = 0, SB_REF_MODEL = 1 };
typedef struct sb_reference_impl {
  fpk_sb_reference_type pub;
  int kind;
  int (*check)(const fpk_sb_params *p, fpk_error *err);
  double (*rate)(const fpk_sb_params *p);
} sb_reference_impl;

#define SB_REFERENCE_IMPL(type) ((const sb_reference_impl *)(const void *)(type))

extern const sb_reference_impl sb_reference_brownian, sb_reference_ou, sb_reference_model;

/* κ_τ = e^{−θτ} and v_τ = σ²(1 − e^{−2θτ})/(2θ) (σ²τ at θ = 0), to relative rounding for every
 * θτ (expm1). ../shared/reference/closed-forms.md, "Ornstein–Uhlenbeck". */
void sb_reference_law(double sigma, double theta, double tau, double *kappa, double *var);

/* ---- for src/sb/diagnostics.c and sample.c: a read-only view of a bridge's solved state ---- */
typedef struct sb_view {
  const fpk_grid *g;
  double sigma, T, theta; /* the reference: dX = −θX dt + σ dW (model: σ of an additive isotropic
                             model, NaN otherwise; θ = 0) */
  /* model reference: the IPF bridge, the model, and the reason sampling is refused (NULL: it is
   * not) */
  sb_ipf *ipf;
  const fpk_model *model;
  const char *no_sampling;
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
