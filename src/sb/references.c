/* Registry of the Schrödinger bridge reference processes (fpkit/sb.h, docs/sb.md). The exact-kernel
 * references are linear, dX = −θX dt + σ dW per axis, with Gaussian transition densities
 *   K_τ(x, y) = (2π v_τ)^{−d/2} exp(−|y − κ_τ x|²/(2 v_τ)),  κ_τ = e^{−θτ},
 *   v_τ = σ²(1 − e^{−2θτ})/(2θ)
 * (Brownian: θ = 0, κ = 1, v = σ²τ, the heat kernel). */
#include <math.h>
#include <string.h>

#include "sb/sb_internal.h"

void sb_reference_law(double sigma, double theta, double tau, double *kappa, double *var) {
  const double x = 2 * theta * tau;
  *kappa = exp(-theta * tau);
  /* (1 − e^{−x})/x → 1 as x → 0: −expm1(−x)/x keeps full precision down to x = 0 */
  *var = sigma * sigma * tau * (x == 0 ? 1 : -expm1(-x) / x);
}

static double brownian_rate(const fpk_sb_params *p) {
  (void)p;
  return 0;
}

static double ou_rate(const fpk_sb_params *p) { return p->theta; }

static int ou_check(const fpk_sb_params *p, fpk_error *err) {
  if (!(p->theta > 0) || !isfinite(p->theta))
    return fpk_error_set(err, FPK_EINVAL,
                         "sb: theta = %g: the OU reference needs a positive finite rate (theta = 0 "
                         "is the brownian reference)",
                         p->theta);
  /* The static plan's ε = 2σ² sinh(θT)/θ grows like e^{θT}: beyond θT = 100 (e^{−θT} < 4e-44)
   * the ends are independent to any precision and the solve would only lose digits */
  if (!(p->theta * p->T <= 100))
    return fpk_error_set(err, FPK_EINVAL,
                         "sb: theta T = %g: the OU reference has forgotten its start (e^{-theta "
                         "T} < 4e-44, the plan is the product of the ends) beyond theta T = 100; "
                         "shorten T or lower theta",
                         p->theta * p->T);
  return FPK_SUCCESS;
}

const sb_reference_impl sb_reference_brownian = {
    {"brownian", "dX = sigma dW: heat kernels, static bridge = entropic OT at eps = 2 sigma^2 T"},
    SB_REF_KERNEL, NULL, brownian_rate};

const sb_reference_impl sb_reference_ou = {
    {"ou", "dX = -theta X dt + sigma dW: Gaussian kernels N(e^{-theta t} x, v_t), static bridge = "
           "entropic OT at eps = 2 sigma^2 sinh(theta T)/theta"},
    SB_REF_KERNEL, ou_check, ou_rate};

static int model_check(const fpk_sb_params *p, fpk_error *err) {
  if (!p->model)
    return fpk_error_set(err, FPK_EINVAL, "sb: the model reference needs fpk_sb_params.model");
  if (!(p->dt > 0) || !isfinite(p->dt))
    return fpk_error_set(err, FPK_EINVAL,
                         "sb: dt = %g: the model reference's time step must be positive and finite",
                         p->dt);
  return FPK_SUCCESS;
}

const sb_reference_impl sb_reference_model = {
    {"model", "any fpkit model dX = f dt + diag(sigma(x, t)) dW: Fortet/IPF on the finite-volume "
              "chain and its exact transpose (docs/sb.md, FP-based IPF)"},
    SB_REF_MODEL, model_check, brownian_rate};

const fpk_sb_reference_type *fpk_sb_reference_brownian = &sb_reference_brownian.pub;
const fpk_sb_reference_type *fpk_sb_reference_ou = &sb_reference_ou.pub;
const fpk_sb_reference_type *fpk_sb_reference_model = &sb_reference_model.pub;

const fpk_sb_reference_type *const fpk_sb_reference_types[] = {
    &sb_reference_brownian.pub, &sb_reference_ou.pub, &sb_reference_model.pub, NULL};

const fpk_sb_reference_type *fpk_sb_reference_find(const char *name) {
  for (size_t i = 0; name && fpk_sb_reference_types[i]; i++)
    if (!strcmp(name, fpk_sb_reference_types[i]->name)) return fpk_sb_reference_types[i];
  return NULL;
}
