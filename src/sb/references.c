/* Registry of the Schrödinger bridge reference processes (fpkit/sb.h). One entry so far: the
 * Brownian reference dX = σ dW, whose transition density over a time τ is the heat kernel
 * (2πσ²τ)^{−d/2} exp(−|x − y|²/(2σ²τ)), i.e. the Gibbs kernel of the cost |x − y|² at
 * ε_τ = 2σ²τ up to its constant (docs/sb.md). OU and FP-based references come later (issue 13). */
#include <string.h>

#include "sb/sb_internal.h"

static double brownian_eps(double sigma, double tau) { return 2 * sigma * sigma * tau; }

const sb_reference_impl sb_reference_brownian = {
    {"brownian", "dX = sigma dW: heat kernels, static bridge = entropic OT at eps = 2 sigma^2 T"},
    brownian_eps};

const fpk_sb_reference_type *fpk_sb_reference_brownian = &sb_reference_brownian.pub;

const fpk_sb_reference_type *const fpk_sb_reference_types[] = {&sb_reference_brownian.pub, NULL};

const fpk_sb_reference_type *fpk_sb_reference_find(const char *name) {
  for (size_t i = 0; name && fpk_sb_reference_types[i]; i++)
    if (!strcmp(name, fpk_sb_reference_types[i]->name)) return fpk_sb_reference_types[i];
  return NULL;
}
