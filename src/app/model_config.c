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
#include "fpkit/grid.h"
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

/* The expression entries of a noise matrix (type = expr, docs/noise.md): `noise` with one row per
 * line (or rows separated by '|'), the entries of a row separated by ','. Read when `noise` is
 * written as a matrix: in 2D always (the diagonal is noise_x, noise_y), in 1D when it has more
 * than one row or a ','. cells receives the entries (each checked, the message naming its row and
 * column); spec->noise_dim = 0 when there is no matrix. */
static int read_noise_matrix(fpk_config *c, size_t d, size_t np, const char *const *names,
                             fpk_expr_spec *spec, char cells[][512], fpk_error *err) {
  spec->noise_dim = 0;
  if (!fpk_config_has(c, "model", "noise")) return FPK_SUCCESS;
  const char *text = NULL;
  size_t nr = 0;
  int rc;
  if (d == 1) {
    /* 1D: an expression without ',' is the diagonal σ (read by read_expr; it may go on over
     * continuation lines, as before); a 1 × m matrix has its entries separated by ','. */
    if ((rc = fpk_config_string(c, "model", "noise", 1, &text, err))) return rc;
    if (!strchr(text, ',')) return FPK_SUCCESS;
  }
  if ((rc = fpk_config_matrix_text(c, "model", "noise", 1, FPK_MAX_DIM, &text, &nr, err)))
    return rc;
  char buf[4096];
  if (strlen(text) >= sizeof buf)
    return fpk_config_invalid(c, "model", "noise", err, "the noise matrix is too long");
  strcpy(buf, text);
  size_t m = 0, r = 0;
  /* split at every '|' (strtok would skip an empty row, as fpk_config_matrix does not) */
  for (char *row = buf, *next = NULL; row; row = next, r++) {
    next = strchr(row, '|');
    if (next) *next++ = '\0';
    if (!row[strspn(row, " \t")])
      return fpk_config_invalid(c, "model", "noise", err,
                                "expected an expression in every row (row %zu is empty)", r + 1);
    size_t k = 0;
    for (char *cell = row;; k++) {
      char *end = strchr(cell, ',');
      if (end) *end = '\0';
      while (*cell == ' ' || *cell == '\t') cell++;
      size_t len = strlen(cell);
      while (len && (cell[len - 1] == ' ' || cell[len - 1] == '\t')) cell[--len] = '\0';
      if (r < FPK_MAX_DIM && k < FPK_MAX_NOISE) {
        if (len >= sizeof cells[0])
          return fpk_config_invalid(c, "model", "noise", err,
                                    "entry (row %zu, column %zu) is too long", r + 1, k + 1);
        strcpy(cells[r * FPK_MAX_NOISE + k], cell);
      }
      if (!end) break;
      cell = end + 1;
    }
    k++;
    if (r == 0) m = k;
    if (k > FPK_MAX_NOISE || k != m) {
      char first[48] = "";
      if (k <= FPK_MAX_NOISE) snprintf(first, sizeof first, " where row 1 has %zu", m);
      return fpk_config_invalid(
          c, "model", "noise", err,
          "expected a %zu x m noise matrix (m = 1..%d Brownian components): %zu rows, one per "
          "line, of m expressions separated by ','; row %zu has %zu entr%s%s",
          d, FPK_MAX_NOISE, d, r + 1, k, k == 1 ? "y" : "ies", first);
    }
  }
  if (r != d)
    return fpk_config_invalid(c, "model", "noise", err,
                              "expected a %zu x m noise matrix: %zu rows (one per line, or "
                              "separated by '|'), not %zu",
                              d, d, r);
  spec->noise_dim = m;
  for (size_t i = 0; i < d; i++)
    for (size_t k = 0; k < m; k++) {
      const char *e = cells[i * FPK_MAX_NOISE + k];
      fpk_error ee = {0};
      if (fpk_expr_check(e, d, np, names, &ee))
        return fpk_config_invalid(c, "model", "noise", err, "entry (row %zu, column %zu): %s",
                                  i + 1, k + 1, ee.msg);
      spec->noise_matrix[i * m + k] = e;
    }
  return FPK_SUCCESS;
}

/* type = expr: b and σ as expressions (src/models/expr.c) of x (y in 2D), t and the parameters of
 * [parameters], every key of which is a parameter name with a number. Keys: drift and noise in
 * 1D; drift_x, drift_y, noise_x, noise_y in 2D. noise is σ, the amplitude of dW (D = σ²/2); or
 * noise as a d × m matrix (read_noise_matrix). */
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
  char cells[FPK_MAX_DIM * FPK_MAX_NOISE][512];
  for (int w = 0; w < 2; w++)
    for (size_t a = 0; a < d; a++) {
      if (w == 1 && a == 0) { /* the drift is read: now the noise, a matrix or the diagonal */
        if ((rc = read_noise_matrix(c, d, np, names, &spec, cells, err))) return rc;
        if (spec.noise_dim && d > 1 &&
            (fpk_config_has(c, "model", "noise_x") || fpk_config_has(c, "model", "noise_y")))
          return fpk_config_invalid(c, "model", "noise", err,
                                    "give either the noise matrix noise or the diagonal "
                                    "noise_x, noise_y, not both");
      }
      if (w && spec.noise_dim) break;
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

/* The potentials' names (fpk_potentials), NULL-terminated, for a choice. */
static void potential_names(const char **pots, size_t max) {
  size_t np = 0;
  for (size_t i = 0; fpk_potentials[i] && np + 1 < max; i++) pots[np++] = fpk_potentials[i]->name;
  pots[np] = NULL;
}

/* type = kramers: underdamped Langevin dynamics in phase space (x, v), dim 2 (docs/noise.md). */
static int read_kramers(fpk_config *c, fpk_model **model, fpk_error *err) {
  const char *pots[16];
  potential_names(pots, 16);
  size_t pot = 0;
  int rc;
  if ((rc = fpk_config_choice(c, "model", "potential", 1, pots, &pot, err))) return rc;
  fpk_kramers_params kp = {.amplitude = 1.0, .period = 1.0};
  double tilt[1] = {0.0};
  /* amplitude exists for the tilted cosine (depth) and the harmonic potential (stiffness), period
   * for the tilted cosine only: the double well x^4/4 - x^2/2 has neither, and a key that is read
   * but not used would change nothing while the user believes the barrier moved (as for type =
   * langevin, an unread key is refused as unknown). */
  const int tilted = fpk_potentials[pot] == fpk_potential_tilted_cosine;
  const int harmonic = fpk_potentials[pot] == fpk_potential_harmonic;
  if ((rc = fpk_config_double(c, "model", "beta", 1, 0.0, 1, INFINITY, &kp.beta, err)) ||
      (rc = fpk_config_double(c, "model", "gamma", 1, 0.0, 1, INFINITY, &kp.gamma, err)) ||
      ((tilted || harmonic) &&
       (rc = fpk_config_double(c, "model", "amplitude", 0, -INFINITY, 0, INFINITY, &kp.amplitude,
                               err))) ||
      (tilted &&
       (rc = fpk_config_double(c, "model", "period", 0, 0.0, 1, INFINITY, &kp.period, err))) ||
      (rc = fpk_config_doubles(c, "model", "tilt", 0, 1, 0, tilt, err)))
    return rc;
  kp.tilt = tilt[0];
  if (harmonic && !(kp.amplitude > 0.0))
    return fpk_config_invalid(c, "model", "amplitude", err,
                              "the harmonic potential U = amplitude x^2/2 needs a stiffness "
                              "amplitude > 0");
  *model = fpk_model_kramers_alloc(pots[pot], &kp, err);
  return *model ? FPK_SUCCESS : model_failed(c, err);
}

/* [model] sigma as dim positive numbers on one line (or one for every axis): diagonal noise.
 * matrix_hint (ou): a zero beside positive entries is degenerate noise, which the matrix form
 * takes, so the message shows that form. */
static int read_diagonal_sigma(fpk_config *c, size_t d, double *sigma, int matrix_hint,
                               fpk_error *err) {
  int rc = fpk_config_doubles(c, "model", "sigma", 1, d, 1, sigma, err);
  if (rc) return rc;
  for (size_t i = 0; i < d; i++) {
    if (sigma[i] > 0.0) continue;
    int nonnegative = 1, positive = 0;
    for (size_t a = 0; a < d; a++) {
      nonnegative &= sigma[a] >= 0.0;
      positive |= sigma[a] > 0.0;
    }
    const int hint = matrix_hint && d > 1 && nonnegative && positive;
    char rows[256] = "";
    for (size_t a = 0, len = 0; a < d && len < sizeof rows; a++)
      for (size_t b = 0; b < d && len < sizeof rows; b++)
        len += (size_t)snprintf(rows + len, sizeof rows - len, "%s%g",
                                b ? " " : (a ? " | " : ""), a == b ? sigma[a] : 0.0);
    return fpk_config_invalid(c, "model", "sigma", err,
                              "diffusion must be positive (component %zu is %g)%s%s%s", i,
                              sigma[i],
                              hint ? "; for no noise along an axis (degenerate noise) give the "
                                     "noise matrix, one row per line (or rows separated by "
                                     "'|'): sigma = "
                                   : "",
                              hint ? rows : "", hint ? " (docs/noise.md)" : "");
  }
  return FPK_SUCCESS;
}

/* type = ou: σ from `sigma` — dim numbers on one line (diagonal, as before issue 16), or a
 * dim × m noise matrix B, one row per line — or from `diffusion`, a dim × dim matrix D that
 * fpk_diffusion_factor checks (symmetric, positive semi-definite) and factors. *m = 0 for the
 * diagonal (then sigma holds it), else B (row-major, d × m). */
static int read_ou_noise(fpk_config *c, size_t d, double *sigma, size_t *m, double *B,
                         fpk_error *err) {
  int rc;
  *m = 0;
  const int has_sigma = fpk_config_has(c, "model", "sigma");
  if (fpk_config_has(c, "model", "diffusion")) {
    if (has_sigma)
      return fpk_config_invalid(c, "model", "diffusion", err,
                                "give either sigma (the noise matrix) or diffusion (D = sigma "
                                "sigma^T / 2), not both");
    double D[FPK_MAX_DIM * FPK_MAX_DIM];
    size_t r = 0, k = 0;
    if ((rc = fpk_config_matrix(c, "model", "diffusion", 1, FPK_MAX_DIM, FPK_MAX_DIM, D, &r, &k,
                                err)))
      return rc;
    if (r != d || k != d)
      return fpk_config_invalid(c, "model", "diffusion", err,
                                "expected the %zu x %zu diffusion matrix D (%zu row%s of %zu "
                                "numbers, one row per line), got %zu row%s of %zu",
                                d, d, d, d == 1 ? "" : "s", d, r, r == 1 ? "" : "s", k);
    fpk_error e = {0};
    if (fpk_diffusion_factor(d, D, B, &e))
      return fpk_config_invalid(c, "model", "diffusion", err, "%s", e.msg);
    *m = d;
    return FPK_SUCCESS;
  }
  size_t r = 0, k = 0;
  if (has_sigma &&
      (rc = fpk_config_matrix(c, "model", "sigma", 1, FPK_MAX_DIM, FPK_MAX_NOISE, B, &r, &k, err)))
    return rc;
  /* one line of 1 or dim numbers (and every 1D value of one number): the diagonal, read as before */
  if (!has_sigma || (r == 1 && (k == 1 || (k == d && d > 1))))
    return read_diagonal_sigma(c, d, sigma, 1, err);
  if (r != d)
    return fpk_config_invalid(
        c, "model", "sigma", err,
        "expected %zu numbers on one line (diagonal noise) or the %zu x m noise matrix B (m = "
        "1..%d), %zu rows of m numbers, one row per line; got %zu row%s of %zu",
        d, d, FPK_MAX_NOISE, d, r, r == 1 ? "" : "s", k);
  int nonzero = 0;
  for (size_t i = 0; i < d * k; i++) nonzero |= B[i] != 0.0;
  if (!nonzero)
    return fpk_config_invalid(c, "model", "sigma", err, "the noise matrix is zero (no noise)");
  *m = k;
  /* a column written one number per line is a d × 1 matrix, not the diagonal: say which it is */
  fpk_app_log(FPK_LOG_INFO, "model ou: the noise matrix B is %zu x %zu (%zu Brownian component%s)",
              d, k, k, k == 1 ? "" : "s");
  return FPK_SUCCESS;
}

int fpk_app_read_model(fpk_config *c, size_t *dim, fpk_model **model, fpk_error *err) {
  static const char *const types[] = {"ou",     "bm",   "langevin", "gbm", "bridge",
                                      "mixture-langevin", "expr", "kramers", NULL};
  size_t type = 0, d = 1;
  int rc;
  *model = NULL;
  if ((rc = fpk_config_choice(c, "model", "type", 1, types, &type, err))) return rc;
  if (type == 7) {
    /* the phase space (x, v) of a particle on a line: 2D, so dim may be left out */
    d = 2;
    if ((rc = fpk_config_size(c, "model", "dim", 0, 1, FPK_MAX_DIM, &d, err))) return rc;
    if (d != 2)
      return fpk_config_invalid(c, "model", "dim", err,
                                "type = kramers is the phase space (x, v) of a particle on a "
                                "line: dim must be 2 (x, then the velocity v)");
    *dim = 2;
    return read_kramers(c, model, err);
  }
  if ((rc = fpk_config_size(c, "model", "dim", 1, 1, 3, &d, err))) return rc;
  *dim = d;
  if (type == 2) {
    /* Overdamped Langevin dX = (-∇U + F) dt + √(2/β)(1 + ε cos(2πx/period)) dW: the noise comes
     * from beta, so there is no 'sigma' key; 'amplitude' exists for the tilted cosine only. */
    const char *pots[16];
    potential_names(pots, 16);
    size_t pot = 0;
    if ((rc = fpk_config_choice(c, "model", "potential", 1, pots, &pot, err))) return rc;
    fpk_langevin_params lp = {.amplitude = 1.0, .period = 1.0};
    if ((rc = fpk_config_double(c, "model", "beta", 1, 0.0, 1, INFINITY, &lp.beta, err)))
      return rc;
    if ((fpk_potentials[pot] == fpk_potential_tilted_cosine ||
         fpk_potentials[pot] == fpk_potential_harmonic) &&
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
  /* ou: diagonal σ, a noise matrix or a diffusion matrix; bm, gbm, bridge: diagonal σ */
  double sigma[FPK_MAX_DIM], B[FPK_MAX_DIM * FPK_MAX_NOISE];
  size_t m = 0;
  if (type == 0) {
    if ((rc = read_ou_noise(c, d, sigma, &m, B, err))) return rc;
  } else {
    /* bm, gbm, bridge take diagonal noise: a matrix (rows) is refused by name, not as "expected
     * 1 or d numbers" */
    size_t rows = 0, cols = 0;
    if (fpk_config_has(c, "model", "sigma") &&
        !fpk_config_matrix(c, "model", "sigma", 1, FPK_MAX_DIM, FPK_MAX_NOISE, B, &rows, &cols,
                           NULL) &&
        rows > 1)
      return fpk_config_invalid(c, "model", "sigma", err,
                                "a noise matrix (%zu rows) is for type = ou, or type = expr with "
                                "noise as a matrix (docs/noise.md); this model takes diagonal "
                                "noise: %zu numbers on one line (or one for every axis)",
                                rows, d);
    if ((rc = read_diagonal_sigma(c, d, sigma, 0, err))) return rc;
  }
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
    *model = m ? fpk_model_ou_matrix_alloc(d, A, mu, m, B, err)
               : fpk_model_ou_alloc(d, A, mu, sigma, err);
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


/* The velocity scale of a Kramers model on the grid (docs/noise.md, "Resolving the velocity"):
 * the stationary velocity law is N(0, 1/β) whatever the potential, so the v axis (axis 1) must
 * hold it and resolve it. Error when the box does not contain ±4/√β (a Maxwellian mass of 6e-5
 * beyond); warning (stderr) when its half-width is below 6/√β or the cell width h_v above
 * (1/√β)/4. */
int fpk_app_check_kramers_grid(fpk_config *c, const fpk_model *m, const fpk_grid *g,
                               fpk_error *err) {
  const fpk_kramers_params *kp = fpk_model_kramers_params(m);
  if (!kp || !g || g->dim != 2) return FPK_SUCCESS;
  const double s = 1.0 / sqrt(kp->beta), lo = g->lo[1], hi = g->hi[1], h = g->h[1];
  if (lo > -4.0 * s || hi < 4.0 * s)
    return fpk_config_invalid(c, "grid", lo > -4.0 * s ? "lo" : "hi", err,
                              "the velocity axis [%g, %g] of the Kramers model does not contain "
                              "+-4/sqrt(beta) = +-%g (the velocity law is N(0, 1/beta), "
                              "1/sqrt(beta) = %g): widen the v range of the grid to at least "
                              "+-%g",
                              lo, hi, 4.0 * s, s, 6.0 * s);
  const double half = fmin(-lo, hi);
  const int coarse = h > 0.25 * s, narrow = half < 6.0 * s;
  if (coarse || narrow) {
    /* name only the criteria that fail: a listed number that is fine reads as the cause */
    char msg[512], why_h[160] = "", why_box[160] = "";
    if (coarse)
      snprintf(why_h, sizeof why_h,
               "the cell width h_v = %g is above (1/sqrt(beta))/4 = %g (4 cells per thermal "
               "velocity)",
               h, 0.25 * s);
    if (narrow)
      snprintf(why_box, sizeof why_box,
               "the box [%g, %g] is narrower than +-6/sqrt(beta) = +-%g", lo, hi, 6.0 * s);
    snprintf(msg, sizeof msg,
             "%s: [grid]: the velocity axis does not resolve the velocity scale 1/sqrt(beta) = "
             "%g of the Kramers model: %s%s%s; densities on this grid may be inaccurate",
             fpk_config_name(c), s, why_h, coarse && narrow ? ", and " : "", why_box);
    fprintf(stderr, "fpkit: warning: %s\n", msg);
    fpk_app_log(FPK_LOG_WARN, "%s", msg);
  }
  return FPK_SUCCESS;
}
