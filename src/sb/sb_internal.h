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

/* sb.c, for the samplers (sample.c): the plan's grid and parameters, whether a solve succeeded,
 * the object's error (messages for fpk_sb_errmsg), the normalised start marginal a and log φ_T
 * (g->size values each, valid after a solve). */
const fpk_grid *sb_grid(const fpk_sb *s);
const fpk_sb_params *sb_params(const fpk_sb *s);
int sb_is_solved(const fpk_sb *s);
fpk_error *sb_error(fpk_sb *s);
const double *sb_a(const fpk_sb *s);
const double *sb_log_phi_T(const fpk_sb *s);

#endif
