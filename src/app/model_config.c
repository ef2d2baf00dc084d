/* [model]: the configuration's model section → an fpk_model (fpkit/model.h). Shared by every
 * command (`fpkit run`, `fpkit converge`), so a model means the same thing everywhere. Every key
 * is checked here, with file:line in the message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "fpkit/config.h"
#include "fpkit/model.h"

int fpk_app_read_model(fpk_config *c, size_t *dim, fpk_model **model, fpk_error *err) {
  static const char *const types[] = {"ou", "bm", "langevin", NULL};
  size_t type = 0, d = 1;
  int rc;
  if ((rc = fpk_config_choice(c, "model", "type", 1, types, &type, err))) return rc;
  if ((rc = fpk_config_size(c, "model", "dim", 1, 1, 2, &d, err))) return rc;
  *dim = d;
  *model = NULL;
  if (type == 2) {
    /* Overdamped Langevin dX = (-∇U + F) dt + √(2/β)(1 + ε cos(2πx/period)) dW: the noise comes
     * from beta, so there is no 'sigma' key; 'amplitude' exists for the tilted cosine only. */
    const char *pots[16] = {0};
    size_t np = 0, pot = 0;
    for (size_t i = 0; fpk_potentials[i] && np < 15; i++) pots[np++] = fpk_potentials[i]->name;
    if ((rc = fpk_config_choice(c, "model", "potential", 1, pots, &pot, err))) return rc;
    fpk_langevin_params lp = {.amplitude = 1.0, .period = 1.0};
    if ((rc = fpk_config_double(c, "model", "beta", 1, 0.0, 1, INFINITY, &lp.beta, err)))
      return rc;
    if (fpk_potentials[pot] == fpk_potential_tilted_cosine &&
        (rc = fpk_config_double(c, "model", "amplitude", 0, -INFINITY, 0, INFINITY,
                                &lp.amplitude, err)))
      return rc;
    if ((rc = fpk_config_double(c, "model", "period", 0, 0.0, 1, INFINITY, &lp.period, err)))
      return rc;
    if ((rc = fpk_config_doubles(c, "model", "tilt", 0, d, 1, lp.tilt, err))) return rc;
    if ((rc = fpk_config_double(c, "model", "modulation", 0, -INFINITY, 0, INFINITY,
                                &lp.modulation, err)))
      return rc;
    if (!(fabs(lp.modulation) < 1.0))
      return fpk_config_invalid(c, "model", "modulation", err,
                                "must satisfy |modulation| < 1 (the noise must stay positive)");
    *model = fpk_model_langevin_alloc(pots[pot], d, &lp, err);
    return *model ? FPK_SUCCESS : fpk_error_prefix(err, "%s: [model]: ", fpk_config_name(c));
  }
  double sigma[FPK_MAX_DIM];
  if ((rc = fpk_config_doubles(c, "model", "sigma", 1, d, 1, sigma, err))) return rc;
  for (size_t i = 0; i < d; i++)
    if (!(sigma[i] > 0.0))
      return fpk_config_invalid(c, "model", "sigma", err,
                                "diffusion must be positive (component %zu is %g)", i, sigma[i]);
  if (type == 0) {
    double A[FPK_MAX_DIM * FPK_MAX_DIM] = {0}, mu[FPK_MAX_DIM] = {0}, theta = 1.0;
    int has_A = fpk_config_has(c, "model", "A"), has_theta = fpk_config_has(c, "model", "theta");
    if (has_A && has_theta)
      return fpk_config_invalid(c, "model", "theta", err,
                                "give either theta (A = theta I) or the matrix A, not both");
    if (has_A) {
      if ((rc = fpk_config_doubles(c, "model", "A", 1, d * d, 0, A, err))) return rc;
    } else {
      if ((rc = fpk_config_double(c, "model", "theta", 1, -INFINITY, 0, INFINITY, &theta, err)))
        return rc;
      for (size_t i = 0; i < d; i++) A[i * d + i] = theta;
    }
    if ((rc = fpk_config_doubles(c, "model", "mu", 0, d, 1, mu, err))) return rc;
    *model = fpk_model_ou_alloc(d, A, mu, sigma, err);
  } else {
    double v[FPK_MAX_DIM] = {0};
    if ((rc = fpk_config_doubles(c, "model", "drift", 0, d, 1, v, err))) return rc;
    *model = fpk_model_bm_alloc(d, v, sigma, err);
  }
  return *model ? FPK_SUCCESS : fpk_error_prefix(err, "%s: [model]: ", fpk_config_name(c));
}

