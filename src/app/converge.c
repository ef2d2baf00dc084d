/* `fpkit converge`: a refinement ladder in dt on shared Brownian paths (fpk_sde_ladder), strong
 * and weak errors with their Monte Carlo standard errors, orders fitted with confidence
 * intervals (fpkit/fit.h), one HDF5 file and a table (docs/sde-schemes.md, docs/config.md).
 *
 * Errors at step h, each with its standard error s:
 *  - strong: e = √E|X^h_T − X^ref_T|² (RMS over paths), s = SE(mean of squares)/(2e) (delta
 *    method). The reference is the model's pathwise solution when it has one (GBM, Brownian
 *    motion), else a finer level on the same paths;
 *  - weak, for each functional f: e = E f(X^h_T) − E f(X_T), estimated
 *      (a) with no Monte Carlo noise at all where the law of the scheme is known exactly
 *          ("discrete reference": Euler–Maruyama on a linear model is a Gaussian chain,
 *          fpk_exact_em_law; on geometric Brownian motion E X_N and E X_N² are products), against
 *          the exact law (Gauss–Hermite quadrature of the Gaussian or log-normal law);
 *      (b) by Monte Carlo, coupled: mean of f(X^h) − f(X^ref) plus the exactly known bias of the
 *          reference (0 for the pathwise solution, the discrete-law bias for Euler–Maruyama on a
 *          linear model), whose variance is far below that of f(X^h);
 *      (c) else uncoupled, mean of f(X^h) minus the exact value when one exists;
 *      (d) else relative to the reference level only (reported as such).
 *    The weak order is fitted from (a) when available, else from the Monte Carlo estimate.
 * A series gets an order only when its errors determine one (analyse(): enough levels, errors
 * finite, non-zero and above the round-off, each beyond 3 standard errors of zero, at least 5
 * jackknife groups, a fit, a finite interval no wider than [converge] max_halfwidth and lying
 * above 0). Otherwise it is unresolved: the command writes the file with resolved = 0 and
 * unresolved_cause / unresolved_reason on the series and no order, says on stderr which order,
 * why and what to change, and exits 1 (docs/sde-schemes.md, "Resolution"). */
#include "app/app.h"
#include "app/keys.h"
#include "app/progress.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <matheval.h>
#include <omp.h>
#include <gsl/gsl_cdf.h>

#include "fpkit/config.h"
#include "fpkit/exact.h"
#include "fpkit/fit.h"
#include "fpkit/io.h"
#include "fpkit/model.h"
#include "fpkit/parallel.h"
#include "fpkit/sde.h"

#define MAXL FPK_LADDER_MAX
#define MAXF FPK_LADDER_MAX_FUN

/* ------------------------------------------------------------------------- functionals */

typedef struct functionals {
  size_t n, dim;
  void *ev[MAXF];
  char *src[MAXF];
} functionals;

static char *const var_names[FPK_MAX_DIM] = {"x", "y", "z"};

static void functionals_free(functionals *F) {
  for (size_t j = 0; j < F->n; j++) {
    if (F->ev[j]) evaluator_destroy(F->ev[j]);
    free(F->src[j]);
  }
  memset(F, 0, sizeof *F);
}

/* libmatheval evaluators keep the variable values in the evaluator itself, so evaluation is
 * serialised; it is once per path and level, a small fraction of the simulation. */
static int functional_eval(size_t n, const double *x, double *out, void *params) {
  functionals *F = params;
  int bad = 0;
#pragma omp critical(fpk_matheval)
  {
    double v[FPK_MAX_DIM];
    for (size_t i = 0; i < n; i++) {
      for (size_t c = 0; c < F->dim; c++) v[c] = x[c * n + i];
      for (size_t j = 0; j < F->n; j++)
        out[j * n + i] = evaluator_evaluate(F->ev[j], (int)F->dim, (char **)var_names, v);
    }
  }
  for (size_t k = 0; k < F->n * n; k++) bad |= !isfinite(out[k]);
  return bad ? 1 : 0;
}

/* "x, x^2, exp(-x^2)": one functional per comma-separated expression in x (y, z). */
static int read_functionals(fpk_config *c, size_t dim, functionals *F, fpk_error *err) {
  memset(F, 0, sizeof *F);
  F->dim = dim;
  const char *list = "";
  int rc;
  if ((rc = fpk_config_string(c, "converge", "weak", 0, &list, err))) return rc;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') tok++;
    size_t len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) tok[--len] = '\0';
    if (!len) continue;
    if (F->n == MAXF)
      return fpk_config_invalid(c, "converge", "weak", err, "at most %d functionals", MAXF);
    void *ev;
#pragma omp critical(fpk_matheval)
    ev = evaluator_create(tok);
    if (!ev)
      return fpk_config_invalid(c, "converge", "weak", err,
                                "cannot parse the functional \"%s\" (an expression in %s)", tok,
                                dim == 1 ? "x" : dim == 2 ? "x and y" : "x, y and z");
    F->ev[F->n] = ev;
    F->src[F->n] = strdup(tok);
    F->n++;
    char **names;
    int count;
    evaluator_get_variables(ev, &names, &count);
    for (int k = 0; k < count; k++) {
      int known = 0;
      for (size_t a = 0; a < dim; a++) known |= strcmp(names[k], var_names[a]) == 0;
      if (!known)
        return fpk_config_invalid(c, "converge", "weak", err,
                                  "functional \"%s\" uses '%s'; only %s may appear", tok, names[k],
                                  dim == 1 ? "x" : dim == 2 ? "x and y" : "x, y and z");
    }
    if (!F->src[F->n - 1]) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  }
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------------ settings */

typedef enum { REF_AUTO, REF_EXACT, REF_LEVEL, REF_FINEST } ref_choice;

typedef struct study {
  size_t dim;
  fpk_model *model;
  fpk_gaussian init;
  int point_init;
  double T;
  const fpk_sde_stepper_type *stepper, *ref_stepper;
  size_t L, steps[MAXL], ref_steps;
  fpk_ladder_ref ref;
  size_t npaths;
  uint64_t seed;
  int strong;
  functionals F;
  double level, max_halfwidth;
  int corrected; /* fit log e = a + p log h + c h (fpkit/fit.h) */
  int has_expect_strong, has_expect_weak;
  double expect_strong, expect_weak;
  const char *output;
} study;

static int read_stepper(fpk_config *c, const char *key, const fpk_sde_stepper_type **st,
                        fpk_error *err) {
  const char *names[16] = {0};
  size_t n = 0, k = 0;
  for (size_t i = 0; fpk_sde_steppers[i] && n < 15; i++) names[n++] = fpk_sde_steppers[i]->name;
  for (size_t i = 0; i < n; i++)
    if (*st == fpk_sde_steppers[i]) k = i;
  int rc = fpk_config_choice(c, "converge", key, 0, names, &k, err);
  if (!rc) *st = fpk_sde_steppers[k];
  return rc;
}

static int read_study(fpk_config *c, const fpk_run_options *opt, study *S, char *default_out,
                      size_t len, fpk_error *err) {
  int rc;
  if ((rc = fpk_app_read_model(c, &S->dim, &S->model, err))) return rc;
  const size_t d = S->dim;

  /* [init]: a point (exact, no width: there is no grid here) or a Gaussian */
  static const char *const types[] = {"point", "gaussian", NULL};
  size_t type = 0;
  fpk_gaussian *g = &S->init;
  memset(g, 0, sizeof *g);
  g->dim = d;
  if ((rc = fpk_config_choice(c, "init", "type", 0, types, &type, err))) return rc;
  if (type == 0) {
    if ((rc = fpk_config_doubles(c, "init", "x0", 1, d, 1, g->mean, err))) return rc;
    S->point_init = 1;
  } else {
    double sd[FPK_MAX_DIM];
    if ((rc = fpk_config_doubles(c, "init", "mean", 0, d, 1, g->mean, err))) return rc;
    if ((rc = fpk_config_doubles(c, "init", "std", 1, d, 1, sd, err))) return rc;
    for (size_t a = 0; a < d; a++) {
      if (!(sd[a] > 0.0))
        return fpk_config_invalid(c, "init", "std", err, "standard deviations must be > 0");
      g->cov[a * d + a] = sd[a] * sd[a];
    }
  }
  if ((rc = fpk_config_double(c, "time", "t_end", 1, 0.0, 1, INFINITY, &S->T, err))) return rc;

  S->stepper = fpk_sde_euler_maruyama;
  if ((rc = read_stepper(c, "stepper", &S->stepper, err))) return rc;
  if (fpk_sde_stepper_check(S->stepper, S->model, err))
    return fpk_config_invalid(c, "converge", "stepper", err, "%s", err->msg);

  /* the ladder: step counts, or step sizes that must divide the horizon */
  double v[MAXL];
  size_t nv = 0;
  const int has_steps = fpk_config_has(c, "converge", "steps"),
            has_dt = fpk_config_has(c, "converge", "dt");
  if (has_steps == has_dt)
    return fpk_config_invalid(c, "converge", has_steps ? "dt" : "steps", err,
                              "give the ladder as either 'steps' (counts over [0, t_end]) or "
                              "'dt' (step sizes), exactly one of them");
  const char *key = has_steps ? "steps" : "dt";
  if ((rc = fpk_config_double_list(c, "converge", key, 1, MAXL, v, &nv, err))) return rc;
  if (nv < 2)
    return fpk_config_invalid(c, "converge", key, err, "a ladder needs at least 2 levels");
  /* Counts are formed and checked in floating point before any conversion: (size_t) of a double
   * >= 2^64 is undefined (elsewhere 2.5e19 steps became 0). Every level takes at least one step
   * and at most FPK_LADDER_MAX_STEPS (fpkit/sde.h says why). */
  for (size_t l = 0; l < nv; l++) {
    if (!(v[l] > 0.0))
      return fpk_config_invalid(c, "converge", key, err, "%s must be > 0 (%g)",
                                has_steps ? "step counts" : "step sizes", v[l]);
    const double n = has_steps ? v[l] : S->T / v[l];
    if (!(n <= FPK_LADDER_MAX_STEPS)) {
      if (has_steps)
        return fpk_config_invalid(c, "converge", key, err,
                                  "a level of %.6g steps per path is more than the limit of %.0e",
                                  n, FPK_LADDER_MAX_STEPS);
      return fpk_config_invalid(c, "converge", key, err,
                                "dt = %g gives t_end/dt = %.6g steps per path (t_end = %g), more "
                                "than the limit of %.0e: use dt >= %.3g",
                                v[l], n, S->T, FPK_LADDER_MAX_STEPS, S->T / FPK_LADDER_MAX_STEPS);
    }
    if (fabs(n - nearbyint(n)) > 1e-9 * n || nearbyint(n) < 1.0)
      return fpk_config_invalid(c, "converge", key, err,
                                has_steps ? "step counts must be positive integers (%g)"
                                          : "dt = %g does not divide the horizon t_end = %g "
                                            "(t_end/dt = %.6g is not an integer >= 1)",
                                v[l], S->T, n);
    S->steps[l] = (size_t)nearbyint(n);
    /* every step must move t */
    const double hl = S->T / (double)S->steps[l];
    if (!(hl > 0.0) || !(S->T - hl < S->T))
      return fpk_config_invalid(c, "converge", key, err,
                                "%zu steps over t_end = %g make a step of %g, below the "
                                "resolution of t_end: t would not advance",
                                S->steps[l], S->T, hl);
  }
  /* any order in the file; the ladder runs coarse to fine */
  for (size_t a = 1; a < nv; a++)
    for (size_t b = a; b > 0 && S->steps[b] < S->steps[b - 1]; b--) {
      size_t t = S->steps[b];
      S->steps[b] = S->steps[b - 1];
      S->steps[b - 1] = t;
    }
  for (size_t l = 1; l < nv; l++) {
    if (S->steps[l] == S->steps[l - 1])
      return fpk_config_invalid(c, "converge", key, err, "level %zu steps given twice",
                                S->steps[l]);
    if (S->steps[nv - 1] % S->steps[l - 1])
      return fpk_config_invalid(c, "converge", key, err,
                                "%zu steps does not divide the finest level's %zu: levels must "
                                "be nested to share Brownian paths",
                                S->steps[l - 1], S->steps[nv - 1]);
  }
  S->L = nv;

  static const char *const refs[] = {"auto", "exact", "level", "finest", NULL};
  size_t ref = REF_AUTO;
  const int ref_given = fpk_config_has(c, "converge", "reference");
  if ((rc = fpk_config_choice(c, "converge", "reference", 0, refs, &ref, err))) return rc;
  if (ref == REF_AUTO) ref = S->model->solution ? REF_EXACT : REF_LEVEL;
  if (ref == REF_EXACT && !S->model->solution)
    return fpk_config_invalid(c, "converge", "reference", err,
                              "model %s has no pathwise exact solution: use level or finest",
                              S->model->name);
  S->ref = ref == REF_EXACT ? FPK_LADDER_REF_EXACT
                            : ref == REF_LEVEL ? FPK_LADDER_REF_LEVEL : FPK_LADDER_REF_FINEST;
  /* Default reference stepper: the highest strong order that can integrate the model, so that
   * the reference's own error (correlated with the levels' errors: same path) does not bend the
   * fitted slope. With the same stepper 8x finer, Euler-Maruyama on OU fits 1.05-1.07, not 1. */
  S->ref_stepper = S->stepper;
  {
    fpk_error quiet = {0, ""};
    const fpk_sde_stepper_type *best[] = {fpk_sde_sra1, fpk_sde_milstein};
    for (size_t i = 0; i < 2; i++)
      if (best[i]->strong_order > S->ref_stepper->strong_order &&
          !fpk_sde_stepper_check(best[i], S->model, &quiet)) {
        S->ref_stepper = best[i];
        break;
      }
  }
  /* reference_steps and reference_stepper describe a reference level: with the exact solution or
   * the finest level as the reference they would be silently unused (and were once written to
   * the file as if they had been used), so they are refused there */
  if (S->ref != FPK_LADDER_REF_LEVEL) {
    static const char *const level_keys[] = {"reference_steps", "reference_stepper"};
    for (size_t i = 0; i < 2; i++)
      if (fpk_config_has(c, "converge", level_keys[i]))
        return fpk_config_invalid(
            c, "converge", level_keys[i], err,
            "applies to reference = level only; the reference here is %s%s",
            S->ref == FPK_LADDER_REF_EXACT ? "the exact solution (pathwise closed form) of the "
                                             "model"
                                           : "the finest ladder level",
            ref == REF_EXACT && !ref_given
                ? " (reference = auto picks it when the model has one); set reference = level "
                  "to use a reference level"
                : "; set reference = level to use a reference level");
  } else {
    /* default: 8x the finest level, which may itself be near the limit */
    const double dflt = 8.0 * (double)S->steps[nv - 1];
    S->ref_steps = dflt <= FPK_LADDER_MAX_STEPS ? 8 * S->steps[nv - 1] : 0;
    if (!fpk_config_has(c, "converge", "reference_steps") && !S->ref_steps) {
      if (2.0 * (double)S->steps[nv - 1] > FPK_LADDER_MAX_STEPS)
        return fpk_config_invalid(c, "converge", key, err,
                                  "the finest level's %zu steps leave no room for a reference "
                                  "level (at least 2 x finer, at most %.0e steps per path; the "
                                  "default is 8 x = %.6g): use a coarser finest level, or "
                                  "reference = finest",
                                  S->steps[nv - 1], FPK_LADDER_MAX_STEPS, dflt);
      return fpk_config_invalid(c, "converge", key, err,
                                "the default reference level, 8 x the finest level's %zu steps = "
                                "%.6g steps per path, is more than the limit of %.0e: give "
                                "reference_steps (a multiple of %zu, at most %.0e) or a coarser "
                                "finest level",
                                S->steps[nv - 1], dflt, FPK_LADDER_MAX_STEPS, S->steps[nv - 1],
                                FPK_LADDER_MAX_STEPS);
    }
    if ((rc = fpk_config_size(c, "converge", "reference_steps", 0, 2,
                              (size_t)FPK_LADDER_MAX_STEPS, &S->ref_steps, err)))
      return rc;
    if (S->ref_steps % S->steps[nv - 1] || S->ref_steps == S->steps[nv - 1])
      return fpk_config_invalid(c, "converge", "reference_steps", err,
                                "must be a multiple (> 1) of the finest level's %zu steps",
                                S->steps[nv - 1]);
    if ((rc = read_stepper(c, "reference_stepper", &S->ref_stepper, err))) return rc;
    if (fpk_sde_stepper_check(S->ref_stepper, S->model, err))
      return fpk_config_invalid(c, "converge", "reference_stepper", err, "%s", err->msg);
  }
  S->npaths = 10000;
  if ((rc = fpk_config_size(c, "converge", "paths", 0, 2, (size_t)1e10, &S->npaths, err)))
    return rc;
  S->seed = 1;
  if ((rc = fpk_config_u64(c, "converge", "seed", 0, &S->seed, err))) return rc;
  S->strong = 1;
  if ((rc = fpk_config_bool(c, "converge", "strong", 0, &S->strong, err))) return rc;
  if ((rc = read_functionals(c, d, &S->F, err))) return rc;
  if (!S->strong && !S->F.n)
    return fpk_config_invalid(c, "converge", "strong", err,
                              "nothing to measure: strong = false and no weak functionals");
  S->level = 0.95;
  if ((rc = fpk_config_double(c, "converge", "level", 0, 0.5, 0, 0.9999, &S->level, err)))
    return rc;
  static const char *const fits[] = {"plain", "corrected", NULL};
  size_t fit = 1;
  if ((rc = fpk_config_choice(c, "converge", "fit", 0, fits, &fit, err))) return rc;
  S->corrected = (int)fit;
  if (S->corrected && nv < 4)
    return fpk_config_invalid(c, "converge", key, err, "the corrected fit (3 parameters) needs at "
                              "least 4 levels; give more or set fit = plain");
  S->max_halfwidth = 0.15;
  if ((rc = fpk_config_double(c, "converge", "max_halfwidth", 0, 0.0, 1, INFINITY,
                              &S->max_halfwidth, err)))
    return rc;
  if ((S->has_expect_strong = fpk_config_has(c, "converge", "expect_strong")) &&
      (rc = fpk_config_double(c, "converge", "expect_strong", 1, 0.0, 1, 10.0, &S->expect_strong,
                              err)))
    return rc;
  if ((S->has_expect_weak = fpk_config_has(c, "converge", "expect_weak")) &&
      (rc = fpk_config_double(c, "converge", "expect_weak", 1, 0.0, 1, 10.0, &S->expect_weak,
                              err)))
    return rc;
  if (S->has_expect_strong && !S->strong)
    return fpk_config_invalid(c, "converge", "expect_strong", err, "strong errors are disabled");
  if (S->has_expect_weak && !S->F.n)
    return fpk_config_invalid(c, "converge", "expect_weak", err, "no weak functionals given");

  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(default_out, len, "results/%.*s.h5", (int)strcspn(base, "."), base);
  S->output = default_out;
  if ((rc = fpk_config_string(c, "output", "file", 0, &S->output, err))) return rc;
  if (opt->output) S->output = opt->output;
  return fpk_config_check_unused(c, err);
}

/* --------------------------------------------------------------------------- the analysis */

/* One error series over the ladder and its fit. */
typedef struct series {
  const char *name;           /* "strong", "weak/<j>" */
  const char *method;         /* how the errors were obtained */
  double e[MAXL], se[MAXL];   /* signed errors (weak) or RMS (strong); se = 0: deterministic */
  size_t n;                   /* points in the fit (the finest level drops out when it is the
                                 reference itself) */
  int deterministic;
  size_t ngroups;                           /* jackknife replicates (0: none) */
  double jk[FPK_LADDER_GROUPS][MAXL];       /* errors with group g left out */
  double order_plain_se;                    /* the fit's own (per-level, uncorrelated) SE */
  double scale[MAXL];         /* size of the quantity whose error e is: an |e| within
                                 ROUNDOFF_FACTOR ε of it is rounding, not a scheme error */
  const char *scale_name;     /* what scale[] measures, for the message */
  int ref_bias_unknown;       /* weak errors relative to a reference whose bias is not known */
  fpk_order_fit fit;
  int resolved;
  const char *cause;          /* a short key of why it is unresolved (the file's
                                 unresolved_cause), "" when resolved */
  double paths_needed;        /* when unresolved by Monte Carlo noise */
  char why[FPK_ERRMSG_MAX + 256];
} series;

/* An error below 10⁴ ε times the size of the quantity (2.2e-12 relative) is rounding: the exact
 * discrete laws subtract two numbers of that size, and every path's state carries a few ε of it
 * per step, so below that the "error" no longer depends on h as the scheme's does. */
#define ROUNDOFF_FACTOR 1e4
/* The jackknife interval needs this many groups of paths (FPK_LADDER_GROUPS at most). */
#define MIN_GROUPS 5

static void unresolved(series *s, const char *cause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void unresolved(series *s, const char *cause, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->why, sizeof s->why, fmt, ap);
  va_end(ap);
  s->cause = cause;
  s->resolved = 0;
}

/* What can hold the errors up as h -> 0 in this study, for a series whose errors do not
 * decrease. */
static const char *plateau_advice(const study *S, const series *s, char *buf, size_t len) {
  size_t u = 0;
#define PUT(...) u += (size_t)snprintf(buf + u, u < len ? len - u : 0, __VA_ARGS__)
  if (S->ref == FPK_LADDER_REF_LEVEL)
    PUT("the reference level's own error (%zu steps of %s: raise reference_steps, or give a "
        "reference_stepper of higher order); ", S->ref_steps, S->ref_stepper->name);
  if (s->ref_bias_unknown) PUT("the reference's unknown weak bias; ");
  if (!s->deterministic) PUT("Monte Carlo noise (raise paths); ");
  PUT("or steps too large for the asymptotic regime (refine the ladder towards smaller "
      "steps)");
#undef PUT
  return buf;
}

static void analyse(const study *S, const double *h, series *s, fpk_error *err) {
  (void)err;
  s->resolved = 0;
  s->cause = "";
  s->paths_needed = 0.0;
  const int strong = s->name && strcmp(s->name, "strong") == 0;
  const char *what = s->deterministic ? "exact discrete" : strong ? "strong" : "Monte Carlo";
  /* Deterministic errors have no noise to hide the next term of the expansion: with enough
   * levels they get a second correction term (h²), else the interval, which measures only the
   * scatter about the fitted curve, is narrower than the bias of the truncated model. */
  const int terms = S->corrected ? (s->deterministic && s->n >= 5 ? 2 : 1) : 0;
  /* 1. enough levels for the fit (fpk_fit_order: k parameters, one more without SEs) */
  const size_t k = 2 + (size_t)terms, nmin = s->deterministic ? k + 1 : k;
  if (s->n < nmin) {
    unresolved(s, "too_few_levels",
               "only %zu level%s enter%s the fit%s, and the %s fit (%zu parameters%s) needs %zu: "
               "add levels to the ladder%s",
               s->n, s->n == 1 ? "" : "s", s->n == 1 ? "s" : "",
               S->ref == FPK_LADDER_REF_FINEST && !s->deterministic
                   ? " (the finest level is the reference itself and leaves it)" : "",
               S->corrected ? "corrected" : "plain", k,
               s->deterministic ? ", and one more since exact errors have no standard errors"
                                : "",
               nmin, S->corrected ? ", or set fit = plain" : "");
    return;
  }
  /* 2. errors that are exactly 0 or at the round-off level of the quantity: no order */
  double ae[MAXL];
  size_t nzero = 0, small = MAXL;
  for (size_t l = 0; l < s->n; l++) {
    if (!isfinite(s->e[l]) || !(s->se[l] >= 0.0) || !isfinite(s->se[l])) {
      unresolved(s, "not_finite",
                 "the %s error at h = %.4g is %g with standard error %g, not a finite number: "
                 "the levels overflow (use smaller steps, or tamed-euler) or a functional grows "
                 "too fast for its mean to exist",
                 what, h[l], s->e[l], s->se[l]);
      return;
    }
    ae[l] = fabs(s->e[l]);
    nzero += ae[l] == 0.0;
    if (small == MAXL && !(ae[l] > ROUNDOFF_FACTOR * DBL_EPSILON * s->scale[l])) small = l;
  }
  if (nzero == s->n) {
    unresolved(s, "zero_error",
               "the %s error is exactly 0 at every level: %s, so there is no order to "
               "measure; %s",
               what,
               strong ? "the scheme reproduces the reference exactly"
                      : "the scheme is exact for this functional (or it does not depend on the "
                        "state)",
               strong ? "set strong = false" : "drop the functional from weak");
    return;
  }
  if (small < MAXL) {
    unresolved(s, "round_off",
               "the %s error at h = %.4g, %.3g, is at the round-off level of %s (%.3g; it must "
               "exceed %.0e times that): rounding, not the scheme, sets it, so the slope means "
               "nothing; use a coarser ladder (larger steps, or a longer t_end), or leave this "
               "order out if the scheme is exact for this model",
               what, h[small], s->e[small], s->scale_name, s->scale[small],
               ROUNDOFF_FACTOR * DBL_EPSILON);
    return;
  }
  /* 3. every point resolved above its Monte Carlo noise */
  double worst = 0.0; /* largest (3 SE / |e|)² over the points */
  size_t bad = MAXL;
  if (!s->deterministic)
    for (size_t l = 0; l < s->n; l++) {
      const double r = 3.0 * s->se[l] / ae[l];
      if (!(r < 1.0) && bad == MAXL) bad = l;
      if (!(r * r <= worst)) worst = r * r;
    }
  if (bad < MAXL) {
    s->paths_needed = ceil((double)S->npaths * worst * 1.5);
    unresolved(s, "monte_carlo_noise",
               "Monte Carlo error too large to resolve the order: at h = %.4g the error %.3g has "
               "standard error %.3g (needs |error| > 3 SE); about %.3g paths would resolve it "
               "(raise paths, or drop the finer levels, where the error is smaller)",
               h[bad], s->e[bad], s->se[bad], s->paths_needed);
    return;
  }
  /* 4. the interval of a Monte Carlo series comes from the jackknife over path groups */
  if (!s->deterministic && s->ngroups < MIN_GROUPS) {
    const double need = (double)((MIN_GROUPS - 1) * FPK_MC_BLOCK_PATHS + 1);
    s->paths_needed = need;
    unresolved(s, "too_few_groups",
               "%zu paths make only %zu group%s of up to %d paths, and the confidence interval "
               "needs at least %d (a jackknife over groups: the levels share paths, so their "
               "errors are correlated and per-level standard errors alone misstate the "
               "interval); use paths >= %.0f",
               S->npaths, s->ngroups, s->ngroups == 1 ? "" : "s", FPK_MC_BLOCK_PATHS, MIN_GROUPS,
               need);
    return;
  }
  /* 5. the fit */
  fpk_error ferr = {0, ""};
  if (fpk_fit_order(s->n, h, ae, s->deterministic ? NULL : s->se, terms, S->level, &s->fit,
                    &ferr)) {
    unresolved(s, "no_fit", "no fit: %s", ferr.msg);
    return;
  }
  s->order_plain_se = s->fit.se;
  if (!s->deterministic) {
    /* Delete-a-group jackknife over the path groups (Efron & Tibshirani, "An Introduction to the
     * Bootstrap", 1993, §11.5): the levels share paths, so their errors are correlated, which
     * the per-level standard errors of the weighted fit ignore (on SRA1, 30 seeds: the fit's own
     * 95% interval covered 80%). The jackknife refits with group g left out and takes the spread
     * of the orders; the interval is Student's t with G − 1 degrees of freedom. */
    const size_t G = s->ngroups;
    double pg[FPK_LADDER_GROUPS], mean = 0.0;
    for (size_t g = 0; g < G; g++) {
      double a[MAXL];
      fpk_order_fit fg;
      for (size_t l = 0; l < s->n; l++) a[l] = fabs(s->jk[g][l]);
      if (fpk_fit_order(s->n, h, a, s->se, terms, S->level, &fg, &ferr)) {
        unresolved(s, "no_fit",
                   "no jackknife fit without path group %zu: %s (that group carries the error "
                   "at this level: raise paths)",
                   g, ferr.msg);
        return;
      }
      pg[g] = fg.order;
      mean += fg.order / (double)G;
    }
    double ss = 0.0;
    for (size_t g = 0; g < G; g++) ss += (pg[g] - mean) * (pg[g] - mean);
    const double se = sqrt(ss * (double)(G - 1) / (double)G);
    const double q = gsl_cdf_tdist_Pinv(0.5 * (1.0 + S->level), (double)(G - 1));
    s->fit.se = se;
    s->fit.ci_lo = s->fit.order - q * se;
    s->fit.ci_hi = s->fit.order + q * se;
  }
  /* 6. a finite order and interval */
  if (!isfinite(s->fit.order) || !isfinite(s->fit.se) || !isfinite(s->fit.ci_lo) ||
      !isfinite(s->fit.ci_hi)) {
    unresolved(s, "interval_not_finite",
               "the fit gives order %g with a %g%% interval [%g, %g], which is not finite: the "
               "levels do not determine the slope; give more levels over a wider range of "
               "steps%s",
               s->fit.order, 100 * S->level, s->fit.ci_lo, s->fit.ci_hi,
               s->deterministic ? "" : ", or more paths");
    return;
  }
  /* 7. an interval no wider than max_halfwidth */
  const double hw = 0.5 * (s->fit.ci_hi - s->fit.ci_lo);
  if (!(hw <= S->max_halfwidth)) {
    if (!s->deterministic) {
      /* the Monte Carlo part of the width shrinks like 1/√N */
      const double f = hw / S->max_halfwidth;
      s->paths_needed = ceil((double)S->npaths * f * f * 1.2);
      unresolved(s, "interval_too_wide",
                 "order %.3f has a %g%% interval ±%.3f, wider than max_halfwidth = %g; about %.3g "
                 "paths would narrow it (if the scatter is Monte Carlo noise; otherwise refine "
                 "the ladder towards smaller steps)",
                 s->fit.order, 100 * S->level, hw, S->max_halfwidth, s->paths_needed);
    } else {
      unresolved(s, "interval_too_wide",
                 "order %.3f has a %g%% interval ±%.3f, wider than max_halfwidth = %g: the "
                 "errors are not yet asymptotic; refine the ladder towards smaller steps",
                 s->fit.order, 100 * S->level, hw, S->max_halfwidth);
    }
    return;
  }
  /* 8. errors that decrease with h: an order whose interval reaches 0 or below is no order */
  if (!(s->fit.ci_lo > 0.0)) {
    char advice[512];
    unresolved(s, "not_decreasing",
               "the errors do not decrease with h: the fitted order %.3f has a %g%% interval "
               "[%.3f, %.3f], which is not above 0, so it is no convergence order; something "
               "that does not vanish as h -> 0 dominates the errors: %s",
               s->fit.order, 100 * S->level, s->fit.ci_lo, s->fit.ci_hi,
               plateau_advice(S, s, advice, sizeof advice));
    return;
  }
  s->resolved = 1;
}

typedef struct result {
  fpk_ladder_result lr;
  double h[MAXL];
  series strong;
  series weak_mc[MAXF], weak_det[MAXF];
  int has_det[MAXF], has_exact[MAXF];
  double exact_value[MAXF];
  double wall;
} result;

/* The discrete (no Monte Carlo) weak errors and the exact values, where known. */
static int exact_references(const study *S, result *R, double *ref_bias, int *ref_bias_known,
                            fpk_error *err) {
  const size_t nf = S->F.n, d = S->dim;
  const fpk_model *m = S->model;
  const fpk_gbm_params *gbm = fpk_model_gbm_params(m);
  int rc;
  for (size_t j = 0; j < nf; j++) R->has_exact[j] = 0, ref_bias_known[j] = 0;
  if (!nf) return FPK_SUCCESS;
  double Ef[MAXF];
  if (m->linear) {
    fpk_gaussian law;
    if ((rc = fpk_exact_linear_law(m->linear, &S->init, S->T, &law, err)) ||
        (rc = fpk_gaussian_expect(&law, S->F.n, functional_eval, (void *)&S->F, Ef, err)))
      return rc;
  } else if (gbm && S->point_init) {
    double mu[FPK_MAX_DIM], L[FPK_MAX_DIM * FPK_MAX_DIM] = {0};
    for (size_t c = 0; c < d; c++) {
      mu[c] = (gbm->mu[c] - 0.5 * gbm->sigma[c] * gbm->sigma[c]) * S->T;
      L[c * d + c] = gbm->sigma[c] * sqrt(S->T);
    }
    if ((rc = fpk_gauss_hermite_expect(d, mu, L, S->init.mean, S->F.n, functional_eval,
                                        (void *)&S->F, Ef, err))) return rc;
  } else {
    return FPK_SUCCESS;
  }
  for (size_t j = 0; j < nf; j++) {
    R->has_exact[j] = 1;
    R->exact_value[j] = Ef[j];
    if (S->ref == FPK_LADDER_REF_EXACT) ref_bias_known[j] = 1, ref_bias[j] = 0.0;
  }
  /* Euler–Maruyama on a linear model: the chain is Gaussian with known moments */
  const int em = S->stepper == fpk_sde_euler_maruyama;
  if (m->linear && (em || (S->ref == FPK_LADDER_REF_LEVEL && S->ref_stepper == fpk_sde_euler_maruyama))) {
    for (size_t l = 0; l <= S->L; l++) {
      const int is_ref = l == S->L;
      if (is_ref && !(S->ref == FPK_LADDER_REF_LEVEL && S->ref_stepper == fpk_sde_euler_maruyama))
        continue;
      if (!is_ref && !em) continue;
      const size_t N = is_ref ? S->ref_steps : S->steps[l];
      const double h = S->T / (double)N;
      fpk_gaussian law;
      double Eh[MAXF];
      if ((rc = fpk_exact_em_law(m->linear, &S->init, 1, &N, &h, &law, err)) ||
          (rc = fpk_gaussian_expect(&law, S->F.n, functional_eval, (void *)&S->F, Eh, err)))
        return rc;
      for (size_t j = 0; j < nf; j++) {
        if (is_ref) {
          ref_bias_known[j] = 1;
          ref_bias[j] = Eh[j] - Ef[j];
        } else {
          R->has_det[j] = 1;
          R->weak_det[j].e[l] = Eh[j] - Ef[j];
        }
      }
    }
  }
  /* Euler–Maruyama on GBM from a point, functionals x and x^2 (1D): E X_N = x0 (1 + μh)^N and
   * E X_N² = x0² ((1 + μh)² + σ²h)^N, since the factors 1 + μh + σ√h Z are independent. */
  if (gbm && em && d == 1 && S->point_init) {
    const double x0 = S->init.mean[0], mu = gbm->mu[0], s2 = gbm->sigma[0] * gbm->sigma[0];
    for (size_t j = 0; j < nf; j++) {
      const char *canon = evaluator_get_string(S->F.ev[j]);
      const int k = strcmp(canon, "x") == 0 ? 1 : strcmp(canon, "(x^2)") == 0 ? 2 : 0;
      if (!k) continue;
      R->has_det[j] = 1;
      for (size_t l = 0; l < S->L; l++) {
        const double h = S->T / (double)S->steps[l], N = (double)S->steps[l];
        const double f = k == 1 ? 1.0 + mu * h : (1.0 + mu * h) * (1.0 + mu * h) + s2 * h;
        /* x0^k (f^N − e^{cT}) without cancellation: expm1 of the log difference */
        const double c = k == 1 ? mu : 2.0 * mu + s2;
        R->weak_det[j].e[l] = pow(x0, k) * exp(c * S->T) * expm1(N * log1p(f - 1.0) - c * S->T);
      }
    }
  }
  return FPK_SUCCESS;
}

/* What the reference really was, in words (the table and /converge reference_description). */
static void reference_description(const study *S, char *buf, size_t len) {
  if (S->ref == FPK_LADDER_REF_EXACT)
    snprintf(buf, len, "exact solution (pathwise closed form) of %s from W_T", S->model->name);
  else if (S->ref == FPK_LADDER_REF_LEVEL)
    snprintf(buf, len, "reference level: %zu steps of %s on the same paths", S->ref_steps,
             S->ref_stepper->name);
  else
    snprintf(buf, len, "finest ladder level: %zu steps of %s", S->steps[S->L - 1],
             S->stepper->name);
}

static void print_table(const study *S, const result *R) {
  char refdesc[256];
  reference_description(S, refdesc, sizeof refdesc);
  printf("%s on %s, T = %g, %zu paths, seed %llu; reference: %s", S->stepper->name,
         S->model->name, S->T, S->npaths, (unsigned long long)S->seed, refdesc);
  printf("\n%8s %12s", "steps", "h");
  if (S->strong) printf(" %12s %10s", "strong", "+-SE");
  for (size_t j = 0; j < S->F.n; j++) {
    printf(" %12s %10s", "weak", "+-SE");
    if (R->has_det[j]) printf(" %12s", "weak exact");
  }
  printf("\n%21s", "");
  if (S->strong) printf(" %23s", "(RMS)");
  for (size_t j = 0; j < S->F.n; j++) {
    printf(" %23.23s", S->F.src[j]);
    if (R->has_det[j]) printf(" %12s", "(discrete)");
  }
  printf("\n");
  for (size_t l = 0; l < S->L; l++) {
    printf("%8zu %12.5g", S->steps[l], R->h[l]);
    if (S->strong) printf(" %12.4e %10.2e", R->strong.e[l], R->strong.se[l]);
    for (size_t j = 0; j < S->F.n; j++) {
      printf(" %12.4e %10.2e", R->weak_mc[j].e[l], R->weak_mc[j].se[l]);
      if (R->has_det[j]) printf(" %12.4e", R->weak_det[j].e[l]);
    }
    printf("\n");
  }
  const double pct = 100.0 * S->level;
  if (S->strong) {
    const series *s = &R->strong;
    if (s->resolved)
      printf("strong order %.3f, %g%% CI [%.3f, %.3f] (%zu levels)\n", s->fit.order, pct,
             s->fit.ci_lo, s->fit.ci_hi, s->n);
    else
      printf("strong order: unresolved: %s\n", s->why);
  }
  for (size_t j = 0; j < S->F.n; j++) {
    const series *s = R->has_det[j] ? &R->weak_det[j] : &R->weak_mc[j];
    if (s->resolved)
      printf("weak order [%s] %.3f, %g%% CI [%.3f, %.3f] (%s)\n", S->F.src[j], s->fit.order, pct,
             s->fit.ci_lo, s->fit.ci_hi, s->method);
    else
      printf("weak order [%s]: unresolved: %s\n", S->F.src[j], s->why);
    if (R->has_det[j]) {
      const series *mc = &R->weak_mc[j];
      if (mc->resolved)
        printf("  Monte Carlo estimate: %.3f, CI [%.3f, %.3f] (%s)\n", mc->fit.order,
               mc->fit.ci_lo, mc->fit.ci_hi, mc->method);
      else
        printf("  Monte Carlo estimate: %s\n", mc->why);
    }
  }
}

/* A number that is defined: written; one that is not (the order of an unresolved series, the
 * Birge ratio of a fit without residual degrees of freedom, an unknown exact value): left out,
 * so that no reader takes a placeholder for a result (and the writer refuses non-finite
 * values). */
static int attr_defined(fpk_h5 *f, const char *object, const char *name, int defined, double v) {
  return defined && isfinite(v) ? fpk_h5_attr_double(f, object, name, v) : 0;
}

static int write_series(fpk_h5 *f, const char *group, const series *s, size_t L, double level) {
  char name[256];
  const size_t n = L;
  snprintf(name, sizeof name, "%s/error", group);
  if (fpk_h5_write(f, name, 1, &n, s->e, NULL, "error at each level (signed for weak errors)") ||
      fpk_h5_attach_scales(f, name, "level"))
    return -1;
  snprintf(name, sizeof name, "%s/standard_error", group);
  if (fpk_h5_write(f, name, 1, &n, s->se, NULL,
                   "Monte Carlo standard error of each error (0: deterministic)") ||
      fpk_h5_attach_scales(f, name, "level"))
    return -1;
  const int r = s->resolved;
  if (fpk_h5_attr_string(f, group, "method", s->method) ||
      fpk_h5_attr_u64(f, group, "fitted_levels", s->n) ||
      fpk_h5_attr_u64(f, group, "resolved", (uint64_t)r) ||
      attr_defined(f, group, "order", r, s->fit.order) ||
      attr_defined(f, group, "order_se", r, s->fit.se) ||
      attr_defined(f, group, "ci_lo", r, s->fit.ci_lo) ||
      attr_defined(f, group, "ci_hi", r, s->fit.ci_hi) ||
      fpk_h5_attr_double(f, group, "ci_level", level) ||
      attr_defined(f, group, "intercept", r, s->fit.intercept) ||
      attr_defined(f, group, "birge_ratio", r, s->fit.birge) ||
      attr_defined(f, group, "correction", r, s->fit.correction) ||
      fpk_h5_attr_u64(f, group, "jackknife_groups",
                      s->deterministic || s->ngroups < MIN_GROUPS ? 0 : s->ngroups) ||
      attr_defined(f, group, "order_se_uncorrelated", r, s->order_plain_se) ||
      fpk_h5_attr_string(f, group, "unresolved_reason", r ? "" : s->why) ||
      fpk_h5_attr_string(f, group, "unresolved_cause", r ? "" : s->cause))
    return -1;
  return 0;
}

/* The mean over all paths but group g's: (N m − n_g m_g)/(N − n_g). */
static double loo(double N, double mean, double ng, double mean_g) {
  return (N * mean - ng * mean_g) / (N - ng);
}

static int run_study(study *S, fpk_config *cfg, const fpk_run_options *opt, fpk_error *err) {
  const size_t L = S->L, nf = S->F.n;
  result *R = calloc(1, sizeof *R);
  if (!R) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  char created[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  int rc;
  fpk_h5 *f = fpk_app_create_output(opt, S->output, NULL, 0, err);
  if (!f) {
    free(R);
    return err->status;
  }

  fpk_ladder_params lp = {.stepper = S->stepper, .nlevels = L, .steps = S->steps,
                          .reference = S->ref, .ref_steps = S->ref_steps,
                          .ref_stepper = S->ref_stepper, .T = S->T, .npaths = S->npaths,
                          .seed = S->seed, .nthreads = opt->threads, .nfun = nf,
                          .functional = functional_eval, .functional_params = &S->F,
                          .comm = opt->comm}; /* several processes split the blocks */
  fpk_app_progress bar;
  fpk_app_progress_start(&bar, opt->progress, "converge", "paths", S->npaths, 0);
  if (fpk_app_progress_on(&bar)) lp.progress = fpk_app_progress_cb, lp.progress_user = &bar;
  const double t0 = omp_get_wtime();
  rc = fpk_sde_ladder(S->model, &S->init, &lp, &R->lr, err);
  fpk_app_progress_end(&bar);
  if (rc) {
    fpk_error_prefix(err, "converge: ");
    goto fail;
  }
  R->wall = omp_get_wtime() - t0;
  for (size_t l = 0; l < L; l++) R->h[l] = S->T / (double)S->steps[l];

  double ref_bias[MAXF] = {0};
  int ref_bias_known[MAXF] = {0};
  if ((rc = exact_references(S, R, ref_bias, ref_bias_known, err))) goto fail;

  /* the finest level is the reference itself: its errors are 0 and leave the fit */
  const size_t nfit = S->ref == FPK_LADDER_REF_FINEST ? L - 1 : L;
  const double N = (double)R->lr.npaths;
  const size_t G = R->lr.ngroups;
  if (S->strong) {
    series *s = &R->strong;
    s->name = "strong";
    s->method = S->ref == FPK_LADDER_REF_EXACT ? "RMS error against the pathwise exact solution"
                : S->ref == FPK_LADDER_REF_LEVEL ? "RMS error against the reference level"
                                                 : "RMS error against the finest level";
    s->n = nfit;
    for (size_t l = 0; l < L; l++) {
      const double ms = R->lr.sq_err_mean[l];
      s->e[l] = sqrt(ms);
      s->se[l] = ms > 0.0 ? sqrt(R->lr.sq_err_var[l] / N) / (2.0 * s->e[l]) : 0.0;
      for (size_t g = 0; g < G; g++)
        s->jk[g][l] = sqrt(loo(N, ms, R->lr.group_paths[g], R->lr.group_sq_err[g][l]));
    }
    s->ngroups = G;
    for (size_t l = 0; l < L; l++) s->scale[l] = sqrt(R->lr.ref_sq_mean);
    s->scale_name = "the reference state, RMS |X_T|";
    analyse(S, R->h, s, err);
  }
  /* a reference level of higher weak order than the ladder's scheme has a bias that is
   * negligible against the levels' errors: the coupled difference alone is then the estimate */
  const int ref_better = S->ref == FPK_LADDER_REF_LEVEL &&
                         S->ref_stepper->weak_order > S->stepper->weak_order;
  for (size_t j = 0; j < nf; j++) {
    series *s = &R->weak_mc[j];
    s->n = nfit;
    const int coupled_only = !ref_bias_known[j] && (ref_better || !R->has_exact[j]);
    for (size_t l = 0; l < L; l++) {
      for (size_t g = 0; g < G; g++) {
        const double ng = R->lr.group_paths[g];
        s->jk[g][l] = coupled_only || ref_bias_known[j]
                          ? loo(N, R->lr.diff_mean[l][j], ng, R->lr.group_diff[g][l][j])
                          : loo(N, R->lr.fun_mean[l][j], ng, R->lr.group_fun[g][l][j]);
      }
      if (coupled_only) {
        s->e[l] = R->lr.diff_mean[l][j];
        s->se[l] = sqrt(R->lr.diff_var[l][j] / N);
      } else if (ref_bias_known[j]) {
        s->e[l] = R->lr.diff_mean[l][j] + ref_bias[j];
        s->se[l] = sqrt(R->lr.diff_var[l][j] / N);
        for (size_t g = 0; g < G; g++) s->jk[g][l] += ref_bias[j];
      } else if (R->has_exact[j]) {
        s->e[l] = R->lr.fun_mean[l][j] - R->exact_value[j];
        s->se[l] = sqrt(R->lr.fun_var[l][j] / N);
        for (size_t g = 0; g < G; g++) s->jk[g][l] -= R->exact_value[j];
      }
    }
    s->ngroups = G;
    /* the size of f itself, RMS over the paths at the reference */
    const double fm = R->lr.fun_mean[L][j], fsc = sqrt(R->lr.fun_var[L][j] + fm * fm);
    for (size_t l = 0; l < L; l++) s->scale[l] = fsc;
    s->scale_name = "f, RMS over the paths";
    s->ref_bias_unknown = coupled_only && !ref_better;
    if (coupled_only) {
      s->method = ref_better ? "Monte Carlo, coupled with a reference level of higher weak order "
                               "(its bias neglected)"
                             : "Monte Carlo, relative to the reference (its own bias unknown)";
    } else if (ref_bias_known[j]) {
      s->method = S->ref == FPK_LADDER_REF_EXACT
                      ? "Monte Carlo, coupled with the pathwise exact solution"
                      : "Monte Carlo, coupled with the reference level plus its exact bias";
      if (S->ref != FPK_LADDER_REF_EXACT) s->n = L;
    } else if (R->has_exact[j]) {
      s->method = "Monte Carlo mean minus the exact expectation (uncoupled)";
      s->n = L;
    }
    analyse(S, R->h, s, err);
    if (R->has_det[j]) {
      series *t = &R->weak_det[j];
      t->deterministic = 1;
      t->n = L;
      t->method = "exact law of the discrete scheme against the exact law (no Monte Carlo)";
      for (size_t l = 0; l < L; l++)
        t->scale[l] = fmax(fabs(R->exact_value[j]), fabs(R->exact_value[j] + t->e[l]));
      t->scale_name = "E f";
      analyse(S, R->h, t, err);
    }
  }
  if (!opt->quiet) print_table(S, R);

  /* ---- HDF5 */
  {
    const size_t n = L;
    char refdesc[256];
    reference_description(S, refdesc, sizeof refdesc);
    double steps_d[MAXL];
    for (size_t l = 0; l < L; l++) steps_d[l] = (double)S->steps[l];
    if (fpk_app_write_root(f, opt, fpk_config_resolved(cfg), "converge", created) ||
        fpk_h5_attr_u64(f, "/", "seed", S->seed) ||
        fpk_h5_attr_string(f, "/", "model", S->model->name) ||
        fpk_h5_group(f, "/converge", "refinement ladder on shared Brownian paths") ||
        fpk_h5_write(f, "/converge/steps", 1, &n, steps_d, NULL, "steps over [0, T] per level") ||
        fpk_h5_write(f, "/converge/h", 1, &n, R->h, "time", "step size per level") ||
        /* index axes of every series below (netCDF-4 dimensions seen by the subgroups) */
        fpk_h5_index_dim(f, "/converge/level", n) ||
        fpk_h5_index_dim(f, "/converge/level_and_reference", n + 1) ||
        fpk_h5_attach_scales(f, "/converge/steps", "level") ||
        fpk_h5_attach_scales(f, "/converge/h", "level") ||
        fpk_h5_attr_string(f, "/converge", "stepper", S->stepper->name) ||
        fpk_h5_attr_double(f, "/converge", "strong_order_theory", S->stepper->strong_order) ||
        fpk_h5_attr_double(f, "/converge", "weak_order_theory", S->stepper->weak_order) ||
        fpk_h5_attr_string(f, "/converge", "reference",
                           S->ref == FPK_LADDER_REF_EXACT ? "exact"
                           : S->ref == FPK_LADDER_REF_LEVEL ? "level" : "finest") ||
        fpk_h5_attr_string(f, "/converge", "reference_description", refdesc) ||
        fpk_h5_attr_double(f, "/converge", "T", S->T) ||
        fpk_h5_attr_u64(f, "/converge", "paths", R->lr.npaths) ||
        fpk_h5_attr_u64(f, "/converge", "fine_steps", R->lr.fine_steps) ||
        fpk_h5_attr_double(f, "/converge", "wall_seconds", R->wall) ||
        fpk_h5_attr_string(f, "/converge", "fit", S->corrected ? "corrected" : "plain"))
      goto h5fail;
    /* the stepper and steps of the reference only where it is a simulated level: the exact
     * solution has neither (no attribute rather than a placeholder that reads as a value) */
    if (S->ref != FPK_LADDER_REF_EXACT) {
      const int lev = S->ref == FPK_LADDER_REF_LEVEL;
      if (fpk_h5_attr_u64(f, "/converge", "reference_steps",
                          lev ? S->ref_steps : S->steps[L - 1]) ||
          fpk_h5_attr_string(f, "/converge", "reference_stepper",
                             (lev ? S->ref_stepper : S->stepper)->name))
        goto h5fail;
    }
    if (S->strong) {
      double ms[MAXL], msv[MAXL];
      for (size_t l = 0; l < L; l++) ms[l] = R->lr.sq_err_mean[l], msv[l] = R->lr.sq_err_var[l];
      if (fpk_h5_group(f, "/converge/strong", "strong error sqrt(E|X^h_T - X^ref_T|^2)") ||
          write_series(f, "/converge/strong", &R->strong, L, S->level) ||
          fpk_h5_write(f, "/converge/strong/mean_square", 1, &n, ms, NULL,
                       "mean over paths of |X^h_T - X^ref_T|^2") ||
          fpk_h5_write(f, "/converge/strong/variance_square", 1, &n, msv, NULL,
                       "sample variance over paths of |X^h_T - X^ref_T|^2") ||
          fpk_h5_attach_scales(f, "/converge/strong/mean_square", "level") ||
          fpk_h5_attach_scales(f, "/converge/strong/variance_square", "level"))
        goto h5fail;
    }
    if (nf && fpk_h5_group(f, "/converge/weak", "weak errors E f(X^h_T) - E f(X_T)"))
      goto h5fail;
    for (size_t j = 0; j < nf; j++) {
      char g[128], g2[160];
      snprintf(g, sizeof g, "/converge/weak/%zu", j);
      double fm[MAXL + 1], fv[MAXL + 1];
      const size_t n1 = L + 1;
      for (size_t l = 0; l <= L; l++) fm[l] = R->lr.fun_mean[l][j], fv[l] = R->lr.fun_var[l][j];
      if (fpk_h5_group(f, g, "one functional") ||
          fpk_h5_attr_string(f, g, "functional", S->F.src[j]) ||
          attr_defined(f, g, "exact_value", R->has_exact[j], R->exact_value[j]) ||
          fpk_h5_write(f, (snprintf(g2, sizeof g2, "%s/mean", g), g2), 1, &n1, fm, NULL,
                       "mean of f over paths at each level, then at the reference") ||
          fpk_h5_attach_scales(f, g2, "level_and_reference") ||
          fpk_h5_write(f, (snprintf(g2, sizeof g2, "%s/variance", g), g2), 1, &n1, fv, NULL,
                       "sample variance of f at each level, then at the reference") ||
          fpk_h5_attach_scales(f, g2, "level_and_reference"))
        goto h5fail;
      snprintf(g2, sizeof g2, "%s/monte_carlo", g);
      if (fpk_h5_group(f, g2, "weak error by Monte Carlo") ||
          write_series(f, g2, &R->weak_mc[j], L, S->level))
        goto h5fail;
      if (R->has_det[j]) {
        snprintf(g2, sizeof g2, "%s/discrete", g);
        if (fpk_h5_group(f, g2, "weak error of the exact law of the scheme (no Monte Carlo)") ||
            write_series(f, g2, &R->weak_det[j], L, S->level))
          goto h5fail;
      }
    }
  }
  if (fpk_app_commit_output(f, opt)) goto h5fail;
  fpk_h5_close(f);
  f = NULL;
  if (!opt->quiet) printf("wrote %s (%.2f s)\n", S->output, R->wall);

  /* ---- verdict: unresolved series and missed expectations fail the command. Each failing
   * order gets its own line on stderr (the reasons are long and several may fail); the error
   * names them all. */
  rc = FPK_SUCCESS;
  {
    char names[FPK_ERRMSG_MAX / 2] = "";
    size_t used = 0, nbad = 0, nunres = 0;
#define NAME(...) used += (size_t)snprintf(names + used, used < sizeof names ? sizeof names - used : 0, __VA_ARGS__)
    if (S->strong) {
      const series *s = &R->strong;
      if (!s->resolved) {
        fprintf(stderr, "fpkit: converge: strong order unresolved (%s): %s\n", s->cause, s->why);
        NAME("%sstrong (unresolved: %s)", nbad ? ", " : "", s->cause);
        nbad++, nunres++;
      } else if (S->has_expect_strong && !(s->fit.ci_lo <= S->expect_strong &&
                                           S->expect_strong <= s->fit.ci_hi)) {
        fprintf(stderr, "fpkit: converge: strong order %.3f, CI [%.3f, %.3f], misses the "
                "expected %g\n", s->fit.order, s->fit.ci_lo, s->fit.ci_hi, S->expect_strong);
        NAME("%sstrong (misses %g)", nbad ? ", " : "", S->expect_strong);
        nbad++;
      }
    }
    for (size_t j = 0; j < nf; j++) {
      const series *s = R->has_det[j] ? &R->weak_det[j] : &R->weak_mc[j];
      if (!s->resolved) {
        fprintf(stderr, "fpkit: converge: weak order [%s] unresolved (%s): %s\n", S->F.src[j],
                s->cause, s->why);
        NAME("%sweak [%s] (unresolved: %s)", nbad ? ", " : "", S->F.src[j], s->cause);
        nbad++, nunres++;
      } else if (S->has_expect_weak &&
                 !(s->fit.ci_lo <= S->expect_weak && S->expect_weak <= s->fit.ci_hi)) {
        fprintf(stderr, "fpkit: converge: weak order [%s] %.3f, CI [%.3f, %.3f], misses the "
                "expected %g\n", S->F.src[j], s->fit.order, s->fit.ci_lo, s->fit.ci_hi,
                S->expect_weak);
        NAME("%sweak [%s] (misses %g)", nbad ? ", " : "", S->F.src[j], S->expect_weak);
        nbad++;
      }
    }
#undef NAME
    /* FPK_EINVAL, not FPK_ENUMERIC: every number was computed and written correctly; the study
     * as configured does not determine an order (more paths, another ladder or reference), or
     * its order is not the one the configuration expects. `fpkit --help` promises exit 1 for
     * both, the status the CLI gives FPK_EINVAL (FPK_ENUMERIC is a numerical failure). */
    if (nbad)
      rc = fpk_error_set(err, FPK_EINVAL,
                         "converge: %zu order%s failed: %s; %s is written%s", nbad,
                         nbad == 1 ? "" : "s", names, S->output,
                         nunres ? ", with resolved = 0 and the reason on each unresolved order"
                                : "");
  }
  free(R);
  return rc;

h5fail:
  rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
fail:
  fpk_h5_close(f);
  free(R);
  return rc;
}

int fpk_app_converge(const fpk_run_options *opt, fpk_error *err) {
  study S;
  memset(&S, 0, sizeof S);
  char default_out[1024];
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  fpk_config *cfg = fpk_app_load_config(opt, "converge", err);
  int rc = cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = read_study(cfg, opt, &S, default_out, sizeof default_out, err);
  /* several processes: the ladder's blocks must go round (before the output is created) */
  if (!rc && fpk_mc_check_ranks(S.npaths, opt->comm, err))
    rc = fpk_error_prefix(err, "[converge] paths: ");
  if (!rc) fpk_app_log_text(FPK_LOG_DEBUG, "config", fpk_config_resolved(cfg));
  if (!rc) rc = run_study(&S, cfg, opt, err);
  functionals_free(&S.F);
  fpk_model_free(S.model);
  fpk_config_free(cfg);
  return rc;
}
