/* OBABO, the symmetric splitting of kinetic Langevin dynamics with the Ornstein–Uhlenbeck part
 * outside (fpkit/sde.h; the model and the pieces as in baoab.c):
 *
 *   O(h/2): v = e^{−γh/2} v + √((1 − e^{−γh})/β) ζ₁,   B(h/2), A(h), B(h/2),   O(h/2) with ζ₂,
 *
 * (Leimkuhler & Matthews 2013, "Rational construction of stochastic numerical methods for
 * molecular sampling", Appl. Math. Res. Express, §2; Bussi & Parrinello's Langevin thermostat,
 * Phys. Rev. E 75, 056707, 2007, is this scheme). Weak order 2, invariant-measure error O(h²) in
 * ⟨x²⟩ (for the harmonic potential the velocity marginal is exact instead); two normals per step
 * (normals_per_dim = 2 with the model's one Brownian component).
 * The two half-step normals are ζ₁ = (ξ₁ + ξ₂)/√2, ζ₂ = (ξ₁ − ξ₂)/√2 of the step's pair (ξ₁, ξ₂):
 * an orthogonal rotation, so ζ₁, ζ₂ are independent standard normals, and ζ₁ + ζ₂ = √2 ξ₁ makes
 * the two half-step increments √(h/2) ζ sum to ΔW = √h ξ₁ exactly, so a coarse step of
 * fpk_sde_ladder (which passes ξ₁ = ΔW/√H and ξ₂ from I₁₀) sees the Brownian increment of the
 * fine steps it spans. */
#include <math.h>

#include "sde/sde_internal.h"

static int obabo_check(const fpk_model *m, fpk_error *err) {
  return sde_kinetic_check("OBABO", m, err);
}

static int obabo_step(const fpk_model *m, double t, double h, size_t n, double *x,
                      const double *z, double *work, fpk_error *err) {
  (void)t; /* Kramers models are autonomous */
  const fpk_kramers_params *p = fpk_model_kramers_params(m);
  double *restrict q = x, *restrict v = x + n, *restrict f = work;
  const double *restrict z1 = z, *restrict z2 = z + n;
  const double hh = 0.5 * h, c1 = exp(-0.5 * p->gamma * h);
  const double c2 = sqrt(-expm1(-p->gamma * h) / p->beta); /* √((1 − e^{−γh})/β) */
  const double r2 = M_SQRT1_2;
  int rc = fpk_model_kramers_force(m, n, q, f, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    v[i] = c1 * v[i] + c2 * (r2 * (z1[i] + z2[i])); /* O(h/2) */
    v[i] += hh * f[i];                              /* B(h/2) */
    q[i] += h * v[i];                               /* A(h) */
  }
  if ((rc = fpk_model_kramers_force(m, n, q, f, err))) return rc;
  for (size_t i = 0; i < n; i++) {
    v[i] += hh * f[i];                              /* B(h/2) */
    v[i] = c1 * v[i] + c2 * (r2 * (z1[i] - z2[i])); /* O(h/2) */
  }
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_obabo_type = {
    .name = "obabo",
    .strong_order = 1.0,
    .weak_order = 2.0,
    .normals_per_dim = 2,
    .step = obabo_step,
    .work_per_point = 1,
    .work_fixed = 0,
    .check = obabo_check,
};
