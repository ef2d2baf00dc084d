/* Internals of the Schrödinger bridge module (fpkit/sb.h). Not installed. */
#ifndef FPK_SB_INTERNAL_H
#define FPK_SB_INTERNAL_H

#include "fpkit/sb.h"

/* A reference process: the public type first, then what the solver needs of it. For a reference
 * whose transition kernel is Gaussian in |x − y|² (Brownian), eps gives the Gibbs ε of the static
 * plan over [0, T] and of the propagation over a time τ (ε_τ = 2σ²τ). */
typedef struct sb_reference_impl {
  fpk_sb_reference_type pub;
  double (*eps)(double sigma, double tau);
} sb_reference_impl;

#define SB_REFERENCE_IMPL(type) ((const sb_reference_impl *)(const void *)(type))

extern const sb_reference_impl sb_reference_brownian;

/* ---- for src/sb/diagnostics.c: a read-only view of a bridge's solved state ---- */
typedef struct sb_view {
  const fpk_grid *g;
  double sigma, T, eps, logV;
  const double *a, *b;          /* normalised end marginals (cell masses) */
  const double *lphat0, *lphiT; /* log φ̂_0, log φ_T (gauge of fpkit/sb.h) */
  int solved;
  fpk_error *err; /* the bridge's error slot (fpk_sb_errmsg) */
} sb_view;
void sb_get_view(fpk_sb *s, sb_view *v);

#endif
