/* BAOAB, a splitting integrator for kinetic (underdamped) Langevin dynamics (fpkit/sde.h):
 *
 *   dX = V dt,   dV = F(X) dt − γ V dt + √(2γ/β) dW,   F = −U' + tilt,
 *
 * (the Kramers model, fpk_model_kramers_alloc), split into B: v += (h/2) F(x), A: x += (h/2) v and
 * the exactly solved Ornstein–Uhlenbeck part O: v = e^{−γh} v + √((1 − e^{−2γh})/β) ξ, composed
 * as B A O A B (B. Leimkuhler & C. Matthews, "Rational construction of stochastic numerical
 * methods for molecular sampling", Appl. Math. Res. Express 2013(1), 34–56, §2 and eq. (2.11)–
 * (2.14)). Weak order 2; its invariant measure has an O(h²) error in configurational averages
 * (Leimkuhler & Matthews 2013, §4), and for a harmonic potential the position marginal is exact
 * for every stable h (⟨x²⟩ = 1/(βκ), their §3; tests/test_sde_noise.c checks both). One normal
 * per step (the model's one Brownian component), two force evaluations.
 * As a pathwise scheme on a shared Brownian path (fpk_sde_ladder) ξ = ΔW/√h: the O step's noise
 * √((1 − e^{−2γh})/β) ξ = √(2γ/β) ΔW (1 + O(h)), so BAOAB converges strongly with order 1 for
 * this additive noise. */
#include <math.h>

#include "sde/sde_internal.h"

int sde_kinetic_check(const char *scheme, const fpk_model *m, fpk_error *err) {
  if (!fpk_model_kramers_params(m))
    return fpk_error_set(err, FPK_EINVAL,
                         "%s is a splitting scheme for kinetic Langevin dynamics: it needs a "
                         "Kramers model in phase space (x, v) (model kramers, "
                         "fpk_model_kramers_alloc), whose force −U'(x) + F and friction it uses; "
                         "use euler-maruyama (or sra1 for additive noise) for this model",
                         scheme);
  return FPK_SUCCESS;
}

static int baoab_check(const fpk_model *m, fpk_error *err) {
  return sde_kinetic_check("BAOAB", m, err);
}

/* x: rows 0 (position) and 1 (velocity) of n points; z: one normal per point; work: n doubles */
static int baoab_step(const fpk_model *m, double t, double h, size_t n, double *x,
                      const double *z, double *work, fpk_error *err) {
  (void)t; /* Kramers models are autonomous */
  const fpk_kramers_params *p = fpk_model_kramers_params(m);
  double *restrict q = x, *restrict v = x + n, *restrict f = work;
  const double hh = 0.5 * h, c1 = exp(-p->gamma * h);
  const double c2 = sqrt(-expm1(-2.0 * p->gamma * h) / p->beta); /* √((1 − e^{−2γh})/β) */
  int rc = fpk_model_kramers_force(m, n, q, f, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    v[i] += hh * f[i];             /* B */
    q[i] += hh * v[i];             /* A */
    v[i] = c1 * v[i] + c2 * z[i];  /* O */
    q[i] += hh * v[i];             /* A */
  }
  if ((rc = fpk_model_kramers_force(m, n, q, f, err))) return rc;
  for (size_t i = 0; i < n; i++) v[i] += hh * f[i]; /* B */
  return FPK_SUCCESS;
}

const fpk_sde_stepper_type fpk_sde_baoab_type = {
    .name = "baoab",
    .strong_order = 1.0,
    .weak_order = 2.0,
    .normals_per_dim = 1,
    .step = baoab_step,
    .work_per_point = 1,
    .work_fixed = 0,
    .check = baoab_check,
};
