/* [model]: the configuration's model section → an fpk_model (fpkit/model.h). Shared by every
 * command (`fpkit run`, `fpkit converge`), so a model means the same thing everywhere. Every key
 * is checked here, with file:line in the message (docs/config.md, "[model]"); for type = expr
 * also the keys of [parameters]. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/progress.h"
#include "fpkit/config.h"
#include "fpkit/model.h"

/* The model's own error (from an _alloc function) with the file name in front. */
static int model_failed(fpk_config *c, fpk_error *err) {
  return fpk_error_prefix(err, "%s: [model]: ", fpk_config_name(c));
}

/* type = mixture-langevin: dX = ∇log p dt + √2 dW, p = Σ_k w_k N(m_k, S_k). K comes from the
 * number of weights; means are K·dim numbers (component after component); each component's
 * covariance is given either by its standard deviations (stds: K·dim numbers, or one for all;
 * diagonal covariance) or in full (covs: K·dim² numbers, row-major per component). */
static int read_mixture(fpk_config *c, size_t d, fpk_model **model, fpk_error *err) {
  fpk_mixture mix = {.dim = d};
  double w[FPK_MIXTURE_MAX], v[FPK_MIXTURE_MAX * FPK_MAX_DIM * FPK_MAX_DIM];
  size_t K = 0;
  int rc;
  if ((rc = fpk_config_double_list(c, "model", "weights", 1, FPK_MIXTURE_MAX, w, &K, err)))
    return rc;
  for (size_t k = 0; k < K; k++)
    if (!(w[k] > 0.0))
      return fpk_config_invalid(c, "model", "weights", err,
                                "weights must be positive (weight %zu is %g); they are "
                                "normalised to sum 1",
                                k + 1, w[k]);
  mix.K = K;
  for (size_t k = 0; k < K; k++) mix.weight[k] = w[k];
  if ((rc = fpk_config_doubles(c, "model", "means", 1, K * d, 0, v, err))) return rc;
  for (size_t k = 0; k < K; k++)
    for (size_t a = 0; a < d; a++) mix.mean[k][a] = v[k * d + a];
  const int has_stds = fpk_config_has(c, "model", "stds"), has_covs = fpk_config_has(c, "model", "covs");
  if (has_stds == has_covs)
    return has_stds ? fpk_config_invalid(c, "model", "covs", err,
                                         "give either stds (diagonal covariances) or covs, not "
                                         "both")
                    : fpk_error_set(err, FPK_EINVAL,
                                    "%s: [model] stds or covs is required for type = "
                                    "mixture-langevin (%zu component%s)",
                                    fpk_config_name(c), K, K == 1 ? "" : "s");
  if (has_stds) {
    if ((rc = fpk_config_doubles(c, "model", "stds", 1, K * d, 1, v, err))) return rc;
    for (size_t k = 0; k < K; k++)
      for (size_t a = 0; a < d; a++) {
        const double s = v[k * d + a];
        if (!(s > 0.0))
          return fpk_config_invalid(c, "model", "stds", err,
                                    "standard deviations must be positive (component %zu, axis "
                                    "%zu: %g)",
                                    k + 1, a, s);
        mix.cov[k][a * d + a] = s * s;
      }
  } else {
    if ((rc = fpk_config_doubles(c, "model", "covs", 1, K * d * d, 0, v, err))) return rc;
    for (size_t k = 0; k < K; k++)
      for (size_t q = 0; q < d * d; q++) mix.cov[k][q] = v[k * d * d + q];
  }
  fpk_error e = {0};
  if (!(*model = fpk_model_mixture_langevin_alloc(&mix, &e))) {
    /* the checks left to the model (symmetry, positive definiteness) concern covs */
    const char *msg = strncmp(e.msg, "model mixture-langevin: ", 24) == 0 ? e.msg + 24 : e.msg;
    return fpk_config_invalid(c, "model", has_covs ? "covs" : "weights", err, "%s", msg);
  }
  return FPK_SUCCESS;
}

/* type = expr: b and σ as expressions (src/models/expr.c) of x (y in 2D), t and the parameters of
 * [parameters], every key of which is a parameter name with a number. Keys: drift and noise in
 * 1D; drift_x, drift_y, noise_x, noise_y in 2D. noise is σ, the amplitude of dW (D = σ²/2). */
static int read_expr(fpk_config *c, size_t d, fpk_model **model, fpk_error *err) {
  static const char *const keys1[2][1] = {{"drift"}, {"noise"}};
  static const char *const keys2[2][2] = {{"drift_x", "drift_y"}, {"noise_x", "noise_y"}};
  const char *names[2 * FPK_EXPR_MAX_PARAMS];
  double values[FPK_EXPR_MAX_PARAMS];
  int rc;
  const size_t np = fpk_config_section_keys(c, "parameters", names, 2 * FPK_EXPR_MAX_PARAMS);
  if (np > FPK_EXPR_MAX_PARAMS)
    return fpk_config_invalid(c, "parameters", names[FPK_EXPR_MAX_PARAMS], err,
                              "too many parameters (%zu, at most %d)", np, FPK_EXPR_MAX_PARAMS);
  for (size_t i = 0; i < np; i++) {
    fpk_error e = {0};
    if (fpk_expr_check_name(names[i], &e))
      return fpk_config_invalid(c, "parameters", names[i], err, "%s", e.msg);
    if ((rc = fpk_config_double(c, "parameters", names[i], 1, -INFINITY, 0, INFINITY, &values[i],
                                err)))
      return rc;
  }
  /* [model] jit (docs/config.md): the order of the choices is FPK_EXPR_JIT_AUTO, _ON, _OFF */
  static const char *const jit_modes[] = {"auto", "on", "off", NULL};
  static const int jit_values[] = {FPK_EXPR_JIT_AUTO, FPK_EXPR_JIT_ON, FPK_EXPR_JIT_OFF};
  size_t jit = 0;
  if ((rc = fpk_config_choice(c, "model", "jit", 0, jit_modes, &jit, err))) return rc;
  fpk_expr_spec spec = {.dim = d, .nparams = np, .param_names = names, .param_values = values,
                        .jit = jit_values[jit]};
  for (int w = 0; w < 2; w++)
    for (size_t a = 0; a < d; a++) {
      const char *key = d == 1 ? keys1[w][0] : keys2[w][a], *s = NULL;
      if ((rc = fpk_config_string(c, "model", key, 1, &s, err))) return rc;
      fpk_error e = {0};
      if (fpk_expr_check(s, d, np, names, &e))
        return fpk_config_invalid(c, "model", key, err, "%s", e.msg);
      if (w)
        spec.noise[a] = s;
      else
        spec.drift[a] = s;
    }
  *model = fpk_model_expr_alloc(&spec, err);
  if (!*model) return model_failed(c, err);
  const char *how = NULL;
  fpk_model_expr_jit(*model, &how);
  fpk_app_log(FPK_LOG_INFO, "model expr: %s", how);
  return FPK_SUCCESS;
}

/* type = bridge: the drift (b − X)/(T − t) is singular at T, so the run must end before T. Checked
 * here, against [time], with file:line, rather than by a solver failing at T. */
static int check_bridge_times(fpk_config *c, double T, fpk_error *err) {
  double t_end = 0.0, times[1024];
  size_t nt = 0;
  /* A malformed [time] is left to the reader of [time] (src/app/run.c), which reports it. */
  fpk_error ignored = {0};
  if (fpk_config_has(c, "time", "times")) {
    if (fpk_config_double_list(c, "time", "times", 1, 1024, times, &nt, &ignored))
      return FPK_SUCCESS;
    for (size_t k = 0; k < nt; k++) t_end = fmax(t_end, times[k]);
  } else if (fpk_config_has(c, "time", "t_end")) {
    if (fpk_config_double(c, "time", "t_end", 1, 0.0, 1, INFINITY, &t_end, &ignored))
      return FPK_SUCCESS;
  } else {
    return FPK_SUCCESS;
  }
  if (!(t_end < T))
    return fpk_config_invalid(c, "model", "T", err,
                              "the bridge ends at T = %g but the run goes to t = %g: the drift "
                              "(b - X)/(T - t) is singular at T, so [time] must end before T",
                              T, t_end);
  return FPK_SUCCESS;
}

int fpk_app_read_model(fpk_config *c, size_t *dim, fpk_model **model, fpk_error *err) {
  static const char *const types[] = {"ou",     "bm",   "langevin", "gbm", "bridge",
                                      "mixture-langevin", "expr", NULL};
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
    /* the potentials of [model] type = langevin (keys.c lists them): "harmonic" (issue 16, for
     * the Kramers model) has no configuration keys here yet, so it stays out of the choice */
    const fpk_potential_type *types_of[16] = {0};
    for (size_t i = 0; fpk_potentials[i] && np < 15; i++)
      if (fpk_potentials[i] != fpk_potential_harmonic) {
        types_of[np] = fpk_potentials[i];
        pots[np++] = fpk_potentials[i]->name;
      }
    if ((rc = fpk_config_choice(c, "model", "potential", 1, pots, &pot, err))) return rc;
    fpk_langevin_params lp = {.amplitude = 1.0, .period = 1.0};
    if ((rc = fpk_config_double(c, "model", "beta", 1, 0.0, 1, INFINITY, &lp.beta, err)))
      return rc;
    if (types_of[pot] == fpk_potential_tilted_cosine &&
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
    return *model ? FPK_SUCCESS : model_failed(c, err);
  }
  if (type == 5) return read_mixture(c, d, model, err);
  if (type == 6) return read_expr(c, d, model, err);
  /* ou, bm, gbm, bridge: diagonal σ */
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
  } else if (type == 1) {
    double v[FPK_MAX_DIM] = {0};
    if ((rc = fpk_config_doubles(c, "model", "drift", 0, d, 1, v, err))) return rc;
    *model = fpk_model_bm_alloc(d, v, sigma, err);
  } else if (type == 3) {
    /* geometric Brownian motion dX = mu X dt + sigma X dW per axis */
    double mu[FPK_MAX_DIM] = {0};
    if ((rc = fpk_config_doubles(c, "model", "mu", 0, d, 1, mu, err))) return rc;
    *model = fpk_model_gbm_alloc(d, mu, sigma, err);
  } else {
    /* Brownian bridge from a (the natural [init] point) to b at time T */
    double a[FPK_MAX_DIM] = {0}, b[FPK_MAX_DIM] = {0}, T = 1.0;
    if ((rc = fpk_config_doubles(c, "model", "a", 0, d, 1, a, err)) ||
        (rc = fpk_config_doubles(c, "model", "b", 0, d, 1, b, err)) ||
        (rc = fpk_config_double(c, "model", "T", 1, 0.0, 1, INFINITY, &T, err)) ||
        (rc = check_bridge_times(c, T, err)))
      return rc;
    *model = fpk_model_bridge_alloc(d, a, b, T, sigma, err);
  }
  return *model ? FPK_SUCCESS : model_failed(c, err);
}

