/* Escape over a barrier (fpkit/exact.h): Kramers' rate for the underdamped Langevin model in the
 * spatial-diffusion (moderate-to-high friction) regime, and the exact mean first-passage time of
 * a 1D overdamped Langevin model by quadrature, the reference that includes every finite-β
 * correction of the high-friction limit.
 *
 * Kramers (1940), as reviewed by Hänggi, Talkner & Borkovec, Rev. Mod. Phys. 62, 251 (1990),
 * §IV.A ("spatial-diffusion-limited rate"): for a particle of unit mass,
 *
 *   k = (λ_b / ω_b) (ω_0 / 2π) e^{−βΔU},   λ_b = √(γ²/4 + ω_b²) − γ/2,
 *
 * with ω_0² = U''(x_min) at the well, ω_b² = −U''(x_b) at the barrier and ΔU = U(x_b) − U(x_min).
 * As γ → ∞, λ_b/ω_b → ω_b/γ and k → ω_0 ω_b e^{−βΔU}/(2πγ), the Smoluchowski rate; as γ → 0 it
 * tends to the transition-state rate ω_0 e^{−βΔU}/2π, which overestimates the true rate in the
 * energy-diffusion regime γ ≲ ω_b/(βΔU). The relative corrections at finite barrier height are
 * O(1/(βΔU)) (HTB 1990, §IV.A.3 and §VI). */
#include "fpkit/exact.h"

#include <math.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>

/* The well and barrier of a potential, in the parameters of the model. */
typedef struct barrier {
  double omega0, omegab, dU;
} barrier;

static int potential_barrier(const fpk_potential_type *T, double amplitude, double period,
                             barrier *b, fpk_error *err) {
  if (T == fpk_potential_double_well) {
    /* U = x⁴/4 − x²/2: minima at ±1 (U'' = 2), barrier at 0 (U'' = −1), ΔU = 1/4. */
    *b = (barrier){sqrt(2.0), 1.0, 0.25};
    return FPK_SUCCESS;
  }
  if (T == fpk_potential_tilted_cosine && amplitude > 0.0) {
    /* U = −A cos(kx): minimum at 0 and barrier at period/2, U'' = ±A k², ΔU = 2A; the rate is to
     * one neighbouring well (the total escape rate is twice it). */
    const double k = 2.0 * M_PI / period, w = sqrt(amplitude) * k;
    *b = (barrier){w, w, 2.0 * amplitude};
    return FPK_SUCCESS;
  }
  return fpk_error_set(err, FPK_EUNSUP,
                       "Kramers rate: potential %s has no barrier (double-well, or tilted-cosine "
                       "with amplitude > 0)",
                       T ? T->name : "(none)");
}

int fpk_exact_kramers_rate(const fpk_model *m, double *rate, fpk_error *err) {
  const fpk_kramers_params *p = fpk_model_kramers_params(m);
  if (!p || !rate)
    return fpk_error_set(err, FPK_EINVAL, "Kramers rate: model %s is not a Kramers model",
                         m && m->name ? m->name : "(null)");
  if (p->tilt != 0.0)
    return fpk_error_set(err, FPK_EUNSUP, "Kramers rate: model %s has a tilt %g (the formula is "
                         "for the untilted potential)", m->name, p->tilt);
  barrier b = {0.0, 0.0, 0.0};
  int rc = potential_barrier(fpk_model_kramers_potential(m), p->amplitude, p->period, &b, err);
  if (rc) return rc;
  const double g = p->gamma, lambda_b = sqrt(0.25 * g * g + b.omegab * b.omegab) - 0.5 * g;
  *rate = lambda_b / b.omegab * b.omega0 / (2.0 * M_PI) * exp(-p->beta * b.dU);
  return FPK_SUCCESS;
}

/* ---- mean first-passage time of a 1D gradient diffusion ----------------------------------
 * dX = (−U'(X) + F) dt + √(2/β) dW with a reflecting wall at lo (or none: lo = −∞) and an
 * absorbing point b > x0. The backward equation (1/β) T'' + (−U' + F) T' = −1, T(b) = 0,
 * T'(lo) = 0 integrates to (Gardiner, Handbook of Stochastic Methods, §5.2.7)
 *
 *   T(x0) = β ∫_{x0}^{b} e^{βV(y)} ∫_{lo}^{y} e^{−βV(z)} dz dy,   V = U − F x,
 *
 * computed by nested adaptive Gauss–Kronrod (QUADPACK qag/qagil) with V shifted by its value at
 * the inner integrand's peak region so that neither exponential overflows. */
typedef struct mfpt_ctx {
  const fpk_model *m;
  double beta, tilt, lo, vref;
  gsl_integration_workspace *inner;
  int failed;
} mfpt_ctx;

static double veff(const mfpt_ctx *c, double x) {
  return fpk_model_potential(c->m, &x) - c->tilt * x;
}

static double inner_fn(double z, void *params) {
  const mfpt_ctx *c = params;
  return exp(-c->beta * (veff(c, z) - c->vref));
}

static double outer_fn(double y, void *params) {
  mfpt_ctx *c = params;
  gsl_function F = {inner_fn, c};
  double in = 0.0, e = 0.0;
  int s = isinf(c->lo) ? gsl_integration_qagil(&F, y, 0.0, 1e-12, 1000, c->inner, &in, &e)
                       : gsl_integration_qag(&F, c->lo, y, 0.0, 1e-12, 1000, GSL_INTEG_GAUSS41,
                                             c->inner, &in, &e);
  if (s && e > 1e-9 * in) c->failed = 1;
  return exp(c->beta * (veff(c, y) - c->vref)) * in;
}

int fpk_exact_mfpt_1d(const fpk_model *m, double lo, double x0, double b, double *T,
                      fpk_error *err) {
  const fpk_langevin_params *p = fpk_model_langevin_params(m);
  if (!p || !T || m->dim != 1)
    return fpk_error_set(err, FPK_EINVAL, "MFPT: model %s is not a 1D Langevin model",
                         m && m->name ? m->name : "(null)");
  if (p->modulation != 0.0)
    return fpk_error_set(err, FPK_EUNSUP, "MFPT: model %s has a noise modulation (constant "
                         "temperature only)", m->name);
  if (!(lo < x0 && x0 < b) || !isfinite(x0) || !isfinite(b) || isnan(lo) || lo == INFINITY)
    return fpk_error_set(err, FPK_EINVAL, "MFPT: need lo < x0 < b (lo = %g, x0 = %g, b = %g)", lo,
                         x0, b);
  if (isinf(lo) && !fpk_model_potential_type(m)->confining)
    return fpk_error_set(err, FPK_EINVAL, "MFPT: lo = -inf needs a confining potential");
  mfpt_ctx c = {.m = m, .beta = p->beta, .tilt = p->tilt[0], .lo = lo, .vref = INFINITY};
  /* The reference: the smallest V on a coarse scan of [max(lo, x0 − 4), b]. */
  const double a = isinf(lo) ? x0 - 4.0 : lo;
  for (int i = 0; i <= 400; i++) c.vref = fmin(c.vref, veff(&c, a + (b - a) * i / 400.0));
  c.inner = gsl_integration_workspace_alloc(1000);
  gsl_integration_workspace *outer = gsl_integration_workspace_alloc(1000);
  if (!c.inner || !outer) {
    gsl_integration_workspace_free(c.inner);
    gsl_integration_workspace_free(outer);
    return fpk_error_set(err, FPK_ENOMEM, "MFPT: out of memory");
  }
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  gsl_function F = {outer_fn, &c};
  double out = 0.0, e = 0.0;
  int s = gsl_integration_qag(&F, x0, b, 0.0, 1e-10, 1000, GSL_INTEG_GAUSS41, outer, &out, &e);
  gsl_set_error_handler(old);
  gsl_integration_workspace_free(c.inner);
  gsl_integration_workspace_free(outer);
  if ((s && e > 1e-8 * out) || c.failed || !(out > 0.0) || !isfinite(out))
    return fpk_error_set(err, FPK_ENUMERIC, "MFPT: the quadrature did not converge (%s)",
                         gsl_strerror(s ? s : GSL_EFAILED));
  /* e^{−βV_ref} e^{+βV_ref} cancel between the two integrals. */
  *T = p->beta * out;
  return FPK_SUCCESS;
}
