/* `fpkit sample CONFIG`: diffusion-model samplers with the exact score of a Gaussian mixture
 * (fpkit/diffusion.h, docs/diffusion.md "The command"; keys: `fpkit keys sample`).
 *
 * [data] a mixture (weights, means, stds or covs) in 1D or 2D; [schedule] a noising schedule;
 * [sampler] a probability-flow ODE sampler (family = pf-ode: euler, heun, ddim, dpm-solver-1/2/3,
 * dpm-solver++2m on a time grid) with its steps, t_min, t_max and the final denoising step;
 * [sample] the number of points, where they start (exact: x_tmax = a x0 + b z from the data law,
 * so that only the sampler's error remains; prior: N(0, b_{t_max}² I)) and the seed; [grid] the box of
 * the histograms. Writes the target's exact cell probabilities (p_{t_min}, or the data law with
 * denoise) and density at the cell centres, the sample's histogram, moments and first points,
 * and the distance to the target: the histogram's L1 beside the sampling floor, and in 1D the KS
 * distance to the exact CDF.
 *
 * Exit status: 1 on bad input (file:line, key and value named; no output file); 3 when the
 * sampler fails numerically. */
#include "app/app.h"
#include "app/keys.h"
#include "app/marginal.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpkit/config.h"
#include "fpkit/diffusion.h"
#include "fpkit/fit.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/guard.h"
#include "fpkit/io.h"
#include "fpkit/sde.h"
#include "fpkit/spectral.h"

#define MAX_K 16
#define MAX_KEEP 1000

static const char *const families[] = {"pf-ode", "reverse-sde", "langevin", NULL};
enum { FAMILY_PFODE, FAMILY_REVSDE, FAMILY_LANGEVIN };
/* The reverse-SDE noise comes from Philox seed + this (the start points use seed's paths). */
#define SDE_SEED_OFFSET 0x9E3779B97F4A7C15ULL
static const char *const starts[] = {"exact", "prior", "uniform", NULL};

/* ---- h14-ode: the exact 1D map error, the steps ladder (/convergence), the reverse-time FP check
 * (/fp) and the DSM score (/dsm); definitions at the end of the file ---------------------------- */
#define MAX_RUNGS 32
static const char *const ladder_metrics[] = {"map_error", "l1_error", "ks", NULL};
enum { LADDER_MAP, LADDER_L1, LADDER_KS };
/* E[√n D_n] → √(π/2) ln 2 for an exact sample (Kolmogorov's limit law): the KS sampling floor */
#define KS_FLOOR_CONST 0.86873
typedef struct ode_ext {
  /* [sampler] steps as a list: a ladder of rungs from the same start points */
  size_t nrungs, steps[MAX_RUNGS];
  double target_error;
  size_t metric, fit_min_steps; /* LADDER_MAP/L1/KS; rungs below fit_min_steps are not fitted */
  /* the exact map error (1D, pf-ode, no denoise): e_i = |X_i − F_{t_min}⁻¹(F_{t_max}(x_{t_max,i}))| */
  int has_map;
  double *x0; /* the start points x_{t_max} */
  double map_err, map_se, map_max;
  /* per rung */
  size_t rung_nfe[MAX_RUNGS];
  double rung_err[MAX_RUNGS], rung_se[MAX_RUNGS], rung_ks[MAX_RUNGS];
  int rung_used[MAX_RUNGS];
  fpk_order_fit fit;
  int fit_ok;
  char fit_note[256];
  double nfe_target;
  char target_note[256];
  /* [fp]: the reverse-time Fokker–Planck check */
  size_t fp_solver;
  double fp_eta, fp_dt, fp_l1, fp_kl, fp_mass, fp_out_tmax, fp_out_tmin, fp_edge;
  double *fp_density;
  /* [score] model = dsm */
  size_t score_model, dsm_levels;
  fpk_dsm_params dsm_p;
  fpk_dsm *dsm;
  double *dsm_jstar;
  fpk_girsanov_bound girsanov;
  int girsanov_ok;
  char girsanov_note[256];
} ode_ext;
struct sample_run;
static int ode_read_steps(fpk_config *c, struct sample_run *r, size_t *steps, fpk_error *err);
static int ode_read_config(fpk_config *c, struct sample_run *r, fpk_error *err);
static int ode_read_fp(fpk_config *c, struct sample_run *r, fpk_error *err);
static int ode_read_score(fpk_config *c, struct sample_run *r, fpk_error *err);
static void ode_score(const struct sample_run *r, fpk_score_fn *fn, void **user);
static int ode_keep_start(struct sample_run *r, fpk_error *err);
static int ode_after_sampling(struct sample_run *r, const fpk_schedule *s, fpk_error *err);
static int ode_compute(struct sample_run *r, fpk_error *err);
static int ode_write(fpk_h5 *f, const struct sample_run *r);
static void ode_print(const struct sample_run *r);
static void ode_release(struct sample_run *r);

typedef struct sample_run {
  fpk_config *cfg;
  fpk_grid grid;
  size_t d, K;
  double w[MAX_K], mu[MAX_K * 2], S[MAX_K * 4];
  const fpk_schedule_type *stype;
  fpk_schedule_params sp;
  fpk_pfode_params pp;
  size_t family;
  const fpk_revsde_type *sde;
  double snr;
  size_t correctors;
  int exact_transitions;
  const char *sampler, *tgrid;
  size_t start, npaths, keep;
  uint64_t seed;
  const char *output;
  ode_ext ode; /* h14-ode */
  /* results */
  double *x;               /* [d][n] final points */
  double *target, *hist;   /* [N] cell probabilities */
  double *density;         /* [N] target density at the cell centres */
  double mean[2], cov[4], tmean[2], tcov[4];
  double l1, floor_l1, outside, ks, t_target;
  size_t nfe;
  double wall;
  /* ---- family = langevin (read_langevin, run_langevin) ---- */
  const fpk_lmc_type *lmc;
  fpk_lmc_params lp;
  size_t record;           /* trace snapshots */
  double acceptance;       /* mala */
  size_t ntrace;
  double *tr_iter, *tr_tv; /* [ntrace] */
  double *tr_mw, *tr_se;   /* [ntrace][K] mode weights and their binomial standard errors */
  double mw[MAX_K], mw_se[MAX_K]; /* the final points' mode weights */
  double tmw[MAX_K];       /* the target's, by the same rule, on the grid */
  /* ---- [observation] (read_observation): the target becomes the posterior ---- */
  int has_obs, obs_dps;
  size_t obs_m;
  double obs_H[9], obs_y[3], obs_noise;
  double prior_w[MAX_K], prior_mu[MAX_K * 2], prior_S[MAX_K * 4]; /* the data law (the prior) */
  fpk_gmm *prior_gmm;      /* dps: the prior, for fpk_dps_score_field */
  fpk_dps_problem dps;
} sample_run;

/* family = langevin and [observation] (the block before release()) */
static int read_extras(fpk_config *c, sample_run *r, fpk_error *err);
static int read_langevin(fpk_config *c, sample_run *r, fpk_error *err);
static int read_observation(fpk_config *c, sample_run *r, fpk_error *err);
static int run_langevin(sample_run *r, const fpk_gmm *m, fpk_error *err);
static int pick_score(sample_run *r, const fpk_schedule *s, fpk_score_fn *fn, void **user,
                      fpk_error *err);
static int write_extras(fpk_h5 *f, const sample_run *r);
static void print_langevin(const sample_run *r);

static int read_data(fpk_config *c, sample_run *r, fpk_error *err) {
  int rc;
  size_t d = 1, nw = 0, nm = 0, ns = 0;
  if ((rc = fpk_config_size(c, "data", "dim", 1, 1, 2, &d, err))) return rc;
  if ((rc = fpk_config_double_list(c, "data", "weights", 1, MAX_K, r->w, &nw, err))) return rc;
  double means[MAX_K * 2], sd[MAX_K * 4];
  if ((rc = fpk_config_double_list(c, "data", "means", 1, MAX_K * 2, means, &nm, err))) return rc;
  if (nm != nw * d)
    return fpk_config_invalid(c, "data", "means", err, "%zu numbers for %zu components in %zuD: "
                              "need K x dim = %zu", nm, nw, d, nw * d);
  const int has_covs = fpk_config_has(c, "data", "covs");
  if (has_covs) {
    if ((rc = fpk_config_double_list(c, "data", "covs", 1, MAX_K * 4, sd, &ns, err))) return rc;
    if (ns != nw * d * d)
      return fpk_config_invalid(c, "data", "covs", err, "%zu numbers: need K x dim x dim = %zu",
                                ns, nw * d * d);
    memcpy(r->S, sd, ns * sizeof(double));
  } else {
    if ((rc = fpk_config_double_list(c, "data", "stds", 1, MAX_K * 2, sd, &ns, err))) return rc;
    if (ns != nw * d && ns != 1)
      return fpk_config_invalid(c, "data", "stds", err, "%zu numbers: need K x dim = %zu (or "
                                "one for all)", ns, nw * d);
    for (size_t q = 0; q < ns; q++) /* squared below: a negative one would pass as |sd| */
      if (!(sd[q] > 0 && isfinite(sd[q])))
        return fpk_config_invalid(c, "data", "stds", err, "standard deviation %zu = %g must be "
                                  "positive and finite", q + 1, sd[q]);
    for (size_t k = 0; k < nw; k++)
      for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
          const double s = ns == 1 ? sd[0] : sd[k * d + a];
          r->S[k * d * d + a * d + b] = a == b ? s * s : 0;
        }
  }
  r->d = d, r->K = nw;
  memcpy(r->mu, means, nm * sizeof(double));
  /* the constructor's checks (weights summing to 1, positive definite), at the keys */
  fpk_error e = {0};
  fpk_gmm *m = fpk_gmm_alloc(d, nw, r->w, r->mu, r->S, &e);
  if (!m)
    return fpk_config_invalid(c, "data", strstr(e.msg, "weight") ? "weights"
                                         : has_covs                ? "covs"
                                                                   : "stds",
                              err, "%s", e.msg);
  fpk_gmm_free(m);
  return FPK_SUCCESS;
}

static int read_schedule(fpk_config *c, sample_run *r, fpk_error *err) {
  static const char *names[8];
  size_t k = 0, idx = 0;
  for (; fpk_schedule_types[k] && k < 7; k++) names[k] = fpk_schedule_types[k]->name;
  names[k] = NULL;
  int rc;
  for (size_t i = 0; names[i]; i++)
    if (!strcmp(names[i], "vp-linear")) idx = i;
  if ((rc = fpk_config_choice(c, "schedule", "type", 0, names, &idx, err))) return rc;
  r->stype = fpk_schedule_types[idx];
  fpk_schedule_params *p = &r->sp;
  fpk_schedule_params_init(p);
  const char *t = r->stype->name;
  if ((rc = fpk_config_double(c, "schedule", "T", 0, 0.0, 1, INFINITY, &p->T, err))) return rc;
  if (!strcmp(t, "ou") &&
      ((rc = fpk_config_double(c, "schedule", "theta", 0, 0.0, 1, INFINITY, &p->theta, err)) ||
       (rc = fpk_config_double(c, "schedule", "sigma", 0, 0.0, 1, INFINITY, &p->sigma, err))))
    return rc;
  if ((!strcmp(t, "vp-linear") || !strcmp(t, "subvp")) &&
      ((rc = fpk_config_double(c, "schedule", "beta_min", 0, -INFINITY, 0, INFINITY, &p->beta_min,
                               err)) ||
       (rc = fpk_config_double(c, "schedule", "beta_max", 0, -INFINITY, 0, INFINITY, &p->beta_max,
                               err))))
    return rc;
  if (!strcmp(t, "vp-cosine") &&
      (rc = fpk_config_double(c, "schedule", "s", 0, 0.0, 1, INFINITY, &p->s, err)))
    return rc;
  if (!strcmp(t, "ve") &&
      ((rc = fpk_config_double(c, "schedule", "sigma_min", 0, -INFINITY, 0, INFINITY,
                               &p->sigma_min, err)) ||
       (rc = fpk_config_double(c, "schedule", "sigma_max", 0, -INFINITY, 0, INFINITY,
                               &p->sigma_max, err))))
    return rc;
  fpk_error e = {0};
  fpk_schedule *s = fpk_schedule_alloc(r->stype, p, &e);
  if (!s) {
    /* the key the refusal is about: the one out of order or out of the doubles' range */
    const int ve = !strcmp(t, "ve"), ou = !strcmp(t, "ou");
    const char *key = strstr(e.msg, "beta_max") && !(p->beta_max > p->beta_min) ? "beta_max"
                      : strstr(e.msg, "beta")                                  ? "beta_min"
                      : ve && (!(p->sigma_max > p->sigma_min) || p->sigma_max > 1e150)
                          ? "sigma_max"
                      : ve ? "sigma_min"
                      : ou && (p->sigma > 1e150 || p->sigma < 1e-150) ? "sigma"
                      : ou                                            ? "theta"
                                                                      : "type";
    return fpk_config_invalid(c, "schedule", key, err, "%s", e.msg);
  }
  fpk_schedule_free(s);
  return FPK_SUCCESS;
}

static int read_sampler(fpk_config *c, sample_run *r, fpk_error *err) {
  int rc;
  size_t fam = 0;
  if ((rc = fpk_config_choice(c, "sampler", "family", 0, families, &fam, err))) return rc;
  r->family = fam;
  if (fam == FAMILY_LANGEVIN) return read_langevin(c, r, err);
  static const char *methods[24], *grids[8];
  size_t k = 0, m = 0, g = 0, np = 0;
  for (; fpk_pfode_types[k] && k < 15; k++) methods[k] = fpk_pfode_types[k]->name;
  np = k;
  for (size_t q = 0; fpk_revsde_types[q] && k < 23; q++, k++) methods[k] = fpk_revsde_types[q]->name;
  methods[k] = NULL;
  for (k = 0; methods[k]; k++)
    if (!strcmp(methods[k], "dpm-solver-2")) m = k;
  for (k = 0; fpk_time_grid_types[k] && k < 7; k++) grids[k] = fpk_time_grid_types[k]->name;
  grids[k] = NULL;
  for (k = 0; grids[k]; k++)
    if (!strcmp(grids[k], "logsnr-uniform")) g = k;
  if (fam == FAMILY_REVSDE) { /* reverse-em on the time-uniform grid (Song et al. 2021) */
    m = np;
    for (k = 0; grids[k]; k++)
      if (!strcmp(grids[k], "time-uniform")) g = k;
  }
  if ((rc = fpk_config_choice(c, "sampler", "method", 0, methods, &m, err))) return rc;
  if ((fam == FAMILY_PFODE) != (m < np))
    return fpk_config_invalid(c, "sampler", "method", err, "%s is not a sampler of family = %s "
                              "(pf-ode: euler, heun, ddim, dpm-solver-2/3, dpm-solver++2m; "
                              "reverse-sde: reverse-em, pc, ancestral)", methods[m], families[fam]);
  if ((rc = fpk_config_choice(c, "sampler", "grid", 0, grids, &g, err)))
    return rc;
  r->sde = fam == FAMILY_REVSDE ? fpk_revsde_find(methods[m]) : NULL;
  r->snr = 0.16, r->correctors = 1, r->exact_transitions = 1;
  if (r->sde && !strcmp(methods[m], "pc") &&
      ((rc = fpk_config_double(c, "sampler", "snr", 0, 0.0, 1, INFINITY, &r->snr, err)) ||
       (rc = fpk_config_size(c, "sampler", "corrector_steps", 0, 1, 1000, &r->correctors, err))))
    return rc;
  if (r->sde && !strcmp(methods[m], "ancestral") &&
      (rc = fpk_config_bool(c, "sampler", "exact_transitions", 0, &r->exact_transitions, err)))
    return rc;
  fpk_pfode_params *p = &r->pp;
  fpk_pfode_params_init(p);
  p->sampler = methods[m];
  p->grid = grids[g];
  p->dim = r->d;
  size_t steps = 20;
  int denoise = 0;
  const double T = r->sp.T;
  /* vp-cosine's β is infinite at T: start just below it */
  p->t_max = !strcmp(r->stype->name, "vp-cosine") ? T * (1 - 1e-3) : T;
  if ((rc = ode_read_steps(c, r, &steps, err)) ||
      (rc = fpk_config_double(c, "sampler", "t_min", 0, -INFINITY, 0, INFINITY, &p->t_min, err)) ||
      (rc = fpk_config_double(c, "sampler", "t_max", 0, -INFINITY, 0, INFINITY, &p->t_max, err)) ||
      (rc = fpk_config_bool(c, "sampler", "denoise", 0, &denoise, err)))
    return rc;
  /* ρ shapes the EDM grid only: elsewhere it is an unknown key (strict config) */
  if (!strcmp(grids[g], "edm") &&
      (rc = fpk_config_double(c, "sampler", "rho", 0, 0.0, 1, INFINITY, &p->rho, err)))
    return rc;
  p->steps = steps;
  p->denoise = denoise;
  if (!(p->t_min > 0 && p->t_min < p->t_max))
    return fpk_config_invalid(c, "sampler", "t_min", err, "t_min = %g must be in (0, t_max = %g)",
                              p->t_min, p->t_max);
  if (!(p->t_max <= T))
    return fpk_config_invalid(c, "sampler", "t_max", err, "t_max = %g must be <= T = %g",
                              p->t_max, T);
  /* The score-driven reverse-SDE steps need a finite g² and a signal at t_max (pf-ode refuses
   * a_t < 1e-8 itself): vp-cosine at t_max = T (β infinite) or a vanished a_t made reverse-em and
   * pc diverge to |x| ~ 1e86 with exit 0. The exact ancestral transitions need neither. */
  if (!r->sde || r->sde != fpk_revsde_ancestral) { /* pf-ode too: name the key, not the library */
    fpk_error e = {0};
    fpk_schedule *s = fpk_schedule_alloc(r->stype, &r->sp, &e);
    const double at = s ? fpk_schedule_mean_coef(s, p->t_max) : 1;
    const double g2 = s ? fpk_schedule_g2(s, p->t_max) : 1;
    fpk_schedule_free(s);
    if (!(at >= 1e-8) || !(g2 < 1e12))
      return fpk_config_invalid(c, "sampler", "t_max", err, "t_max = %g: the signal a_t = %g "
                                "vanishes or g^2 = %g blows up there (%s; need a_t >= 1e-8 and "
                                "g^2 < 1e12 for %s): use a smaller t_max", p->t_max, at, g2,
                                r->stype->name, r->sde ? r->sde->name : p->sampler);
  }
  return FPK_SUCCESS;
}

static int read_config(fpk_config *c, const fpk_run_options *opt, sample_run *r, char *dflt,
                       size_t len, fpk_error *err) {
  int rc;
  if ((rc = read_data(c, r, err)) || (rc = read_extras(c, r, err)) ||
      (r->family != FAMILY_LANGEVIN && (rc = read_schedule(c, r, err))) ||
      (rc = read_sampler(c, r, err)) || (rc = read_observation(c, r, err)))
    return rc;
  r->npaths = 100000, r->seed = 1, r->keep = 10, r->start = 0;
  if ((rc = fpk_config_size(c, "sample", "paths", 0, 100, (size_t)1e9, &r->npaths, err)) ||
      (rc = fpk_config_u64(c, "sample", "seed", 0, &r->seed, err)) ||
      (rc = fpk_config_size(c, "sample", "keep", 0, 0, MAX_KEEP, &r->keep, err)) ||
      (rc = fpk_config_choice(c, "sample", "start", 0, starts, &r->start, err)))
    return rc;
  if (r->keep > r->npaths) r->keep = r->npaths;
  if ((rc = fpk_app_read_box_grid(c, &r->grid, err))) return rc;
  if (r->grid.dim != r->d)
    return fpk_config_invalid(c, "grid", "dim", err, "the grid is %zuD and the data %zuD",
                              r->grid.dim, r->d);
  /* In 2D the target's cell probabilities are a 6 × 6 Gauss–Legendre rule per cell
   * (fpk_gmm_cell_probs), accurate to O((h/σ)^12): below 1e-7 of the cell's probability while
   * the cell is no wider than a component's conditional standard deviation σ, O(1) once a
   * component is much thinner than a cell. Refuse a cell wider than the smallest conditional
   * standard deviation 1/√(C⁻¹)_cc of a target component, C = a²Σ_k + b²I at the target time. */
  if (r->d == 2) {
    fpk_error e = {0};
    fpk_schedule *s = fpk_schedule_alloc(r->stype, &r->sp, &e);
    const double tt = r->pp.denoise ? 0 : r->pp.t_min;
    const double at = tt > 0 && s ? fpk_schedule_mean_coef(s, tt) : 1;
    const double bt2 = tt > 0 && s ? fpk_schedule_var(s, tt) : 0;
    fpk_schedule_free(s);
    for (size_t k = 0; k < r->K; k++) {
      const double *S = r->S + 4 * k;
      const double c00 = at * at * S[0] + bt2, c11 = at * at * S[3] + bt2, c01 = at * at * S[1];
      const double det = c00 * c11 - c01 * c01;
      for (size_t ax = 0; ax < 2; ax++) {
        const double sd = sqrt(det / (ax == 0 ? c11 : c00)); /* 1/√(C⁻¹)_cc */
        if (!(r->grid.h[ax] <= sd))
          return fpk_config_invalid(c, "grid", "n", err, "cells of width %g along axis %zu are "
                                    "wider than the conditional standard deviation %g of "
                                    "component %zu of the target at t = %g: the cell "
                                    "probabilities (quadrature per cell) would be wrong; use "
                                    "at least %.0f cells%s", r->grid.h[ax], ax, sd, k + 1, tt,
                                    ceil((r->grid.hi[ax] - r->grid.lo[ax]) / sd),
                                    tt > 0 ? " or a larger t_min" : "");
      }
    }
  }
  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(dflt, len, "results/%.*s.h5", (int)strcspn(base, "."), base);
  r->output = dflt;
  if ((rc = fpk_config_string(c, "output", "file", 0, &r->output, err))) return rc;
  if (opt->output) r->output = opt->output;
  if ((rc = ode_read_config(c, r, err))) return rc;
  return fpk_config_check_unused(c, err);
}

/* The exact CDF of the 1D target (the data noised to t; t = 0: the data). */
static double cdf1(const sample_run *r, const fpk_schedule *s, double t, double x) {
  const double a = t > 0 ? fpk_schedule_mean_coef(s, t) : 1, b2 = t > 0 ? fpk_schedule_var(s, t) : 0;
  double F = 0;
  for (size_t k = 0; k < r->K; k++)
    F += r->w[k] * 0.5 * erfc(-(x - a * r->mu[k]) / sqrt(2 * (a * a * r->S[k] + b2)));
  return F;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A sampler that blew up is not a sample: a point farther than DIVERGED_SD standard deviations
 * (√tr Cov of the target) from the target's mean cannot come from a convergent sampler (a
 * Gaussian tail there is e^{−5·10⁵}), and its moments and map errors would be written as if
 * measured (DPM-Solver-2 with a one-level DSM score ended at ±1e10 with exit 0; explicit
 * samplers just inside vp-cosine's t_max guard at ±4000). Exit 3, naming the sampler. */
#define DIVERGED_SD 1000.0
static int check_divergence(const sample_run *r, fpk_error *err) {
  const size_t n = r->npaths, d = r->d;
  double tr = 0;
  for (size_t c = 0; c < d; c++) tr += r->tcov[c * d + c];
  const double lim = DIVERGED_SD * sqrt(tr);
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double q = 0;
    for (size_t c = 0; c < d; c++) {
      const double dx = r->x[c * n + i] - r->tmean[c];
      q += dx * dx;
    }
    const double dist = sqrt(q);
    if (!(dist <= lim)) bad++, worst = isfinite(dist) ? fmax(worst, dist) : INFINITY;
  }
  if (!bad) return FPK_SUCCESS;
  const char *name = r->family == FAMILY_LANGEVIN ? r->lmc->name
                     : r->sde                     ? r->sde->name
                                                  : r->pp.sampler;
  return fpk_error_set(err, FPK_ENUMERIC, "sample: the %s sampler diverged: %zu of %zu points "
                       "end more than %g standard deviations of the target from its mean (the "
                       "farthest at %g, the target's sd %g); likely cause: steps too large where "
                       "the schedule is stiff (near t_max, or t_min on a time-uniform grid) or an "
                       "inaccurate score ([score] model = dsm with few levels, DPS): use more "
                       "steps, a smaller t_max, another grid or score", name, bad, n, DIVERGED_SD,
                       worst, sqrt(tr));
}

static int compute(sample_run *r, fpk_error *err) {
  const size_t n = r->npaths, d = r->d, N = r->grid.size;
  fpk_gmm *m = fpk_gmm_alloc(d, r->K, r->w, r->mu, r->S, err);
  fpk_schedule *s = m ? fpk_schedule_alloc(r->stype, &r->sp, err) : NULL;
  if (!s) {
    fpk_gmm_free(m);
    return err->status;
  }
  int rc = FPK_SUCCESS;
  r->x = malloc(d * n * sizeof(double));
  r->target = malloc(N * sizeof(double));
  r->hist = calloc(N, sizeof(double));
  r->density = malloc(N * sizeof(double));
  double *xc = malloc(d * N * sizeof(double));
  if (!r->x || !r->target || !r->hist || !r->density || !xc) {
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory for %zu points of dimension %zu and a "
                       "grid of %zu cells (%.3g GB): reduce [sample] paths or [grid] n", n, d, N,
                       (double)(d * n + (3 + d) * N) * sizeof(double) / 1e9);
    goto done;
  }
  /* the target: p_{t_min}, or the data law after the final denoising step */
  r->t_target = r->pp.denoise ? 0 : r->pp.t_min;
  for (size_t i = 0; i < N; i++) {
    double p[2];
    fpk_grid_point(&r->grid, i, p);
    for (size_t c = 0; c < d; c++) xc[c * N + i] = p[c];
  }
  if ((rc = fpk_gmm_eval(m, r->t_target > 0 ? s : NULL, r->t_target, N, xc, r->density, NULL,
                         NULL, NULL, err)))
    goto done;
  for (size_t i = 0; i < N; i++) r->density[i] = exp(r->density[i]);
  /* the cell probabilities: 1D by CDF differences, 2D by 6 × 6 Gauss–Legendre nodes per cell
   * (fpk_gmm_cell_probs). The midpoint rule's O(h²) bias (~4% per cell at h = σ) made an exact
   * sampler with 10⁶ points show 9 sampling floors. */
  if ((rc = fpk_gmm_cell_probs(m, r->t_target > 0 ? s : NULL, r->t_target, &r->grid, r->target,
                               err)))
    goto done;
  fpk_gmm_moments(m, r->tmean, r->tcov); /* the data's; noised below */
  if (r->t_target > 0) {
    const double at = fpk_schedule_mean_coef(s, r->t_target), bt2 = fpk_schedule_var(s, r->t_target);
    for (size_t c = 0; c < d; c++) r->tmean[c] *= at;
    for (size_t q = 0; q < d * d; q++) r->tcov[q] *= at * at;
    for (size_t c = 0; c < d; c++) r->tcov[c * d + c] += bt2;
  }
  /* A box that misses most of the target measures nothing: its L1 on {cells, outside} is
   * |outside − p_out| + Σ|h − p| ≈ 0 once both the sample and the target are outside (a
   * sampler 8 standard deviations off showed 0.00 sampling floors). */
  double pin_target = 0;
  for (size_t i = 0; i < N; i++) pin_target += r->target[i];
  if (!(pin_target >= 0.5)) {
    char mean[64];
    if (d == 1) snprintf(mean, sizeof mean, "%g", r->tmean[0]);
    else snprintf(mean, sizeof mean, "(%g, %g)", r->tmean[0], r->tmean[1]);
    rc = fpk_config_invalid(r->cfg, "grid", "lo", err, "the [grid] box holds %.3g of the target's "
                            "mass (at t = %g, mean %s): the histogram distances would not see "
                            "the sampler; widen lo/hi to cover the target", pin_target,
                            r->t_target, mean);
    goto done;
  }
  /* start: x0 from the data law, then x_tmax = a x0 + b z (exact), or b z (prior: the law the
   * noise alone gives at t_max, N(0, b_{t_max}² I), whatever t_max; at T the usual prior) */
  const double tmax = r->pp.t_max, a = fpk_schedule_mean_coef(s, tmax);
  const double b = sqrt(fpk_schedule_var(s, tmax));
  fpk_gmm_sample(m, r->seed, 0, n, r->x);
  for (size_t i = 0; i < n; i++) {
    double z[2];
    fpk_rng_normals(r->seed, i, 1 + d, d, z);
    for (size_t c = 0; c < d; c++)
      r->x[c * n + i] = r->start == 0 ? a * r->x[c * n + i] + b * z[c] : b * z[c];
  }
  if ((rc = ode_keep_start(r, err))) goto done;
  fpk_gmm_score_ctx ctx = {m, s};
  fpk_score_fn score_fn = fpk_gmm_score_fn; /* or the DSM fit, or DPS's approximation */
  void *score_user = &ctx;
  ode_score(r, &score_fn, &score_user);
  if ((rc = pick_score(r, s, &score_fn, &score_user, err))) goto done;
  if (r->family == FAMILY_LANGEVIN) {
    if ((rc = run_langevin(r, m, err))) goto done;
  } else if (r->family == FAMILY_PFODE) {
    if ((rc = fpk_pfode_sample(&r->pp, s, score_fn, score_user, n, r->x, &r->nfe, err)))
      goto done;
  } else {
    fpk_revsde_params q;
    fpk_revsde_params_init(&q);
    q.nsteps = r->pp.steps;
    q.t_min = r->pp.t_min;
    q.t_max = r->pp.t_max;
    q.denoise = r->pp.denoise;
    q.snr = r->snr;
    q.corrector_steps = r->correctors;
    q.seed = r->seed + SDE_SEED_OFFSET;
    q.grid = r->pp.grid, q.rho = r->pp.rho;
    fpk_ddpm_mixture mix = {d, r->K, r->w, r->mu, r->S};
    q.exact = r->exact_transitions ? &mix : NULL;
    if ((rc = fpk_revsde_sample(r->sde, s, score_fn, score_user, &q, d, n, r->x, &r->nfe, err)))
      goto done;
  }
  if ((rc = check_divergence(r, err))) goto done;
  if ((rc = ode_after_sampling(r, s, err))) goto done;
  /* histogram, moments, L1 and its sampling floor, KS in 1D */
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    double p[2];
    for (size_t c = 0; c < d; c++) p[c] = r->x[c * n + i];
    size_t cell = 0, stride = 1;
    int in = 1;
    for (size_t c = 0; c < d; c++) {
      const double u = (p[c] - r->grid.lo[c]) / r->grid.h[c];
      if (!(u >= 0 && u < (double)r->grid.n[c])) in = 0;
      else cell += (size_t)u * stride;
      stride *= r->grid.n[c];
    }
    if (in) r->hist[cell] += 1.0 / (double)n;
    else out++;
  }
  r->outside = (double)out / (double)n;
  /* L1 on the partition {cells, outside the box}: the target's own mass outside, p_out = 1 − Σp,
   * is the outside cell's probability (counting h_out against 0 made an exact sampler on a box
   * that cuts off 30% of the mass show 15 sampling floors) */
  double pin = 0;
  for (size_t i = 0; i < N; i++) pin += r->target[i];
  const double pout = pin < 1 ? 1 - pin : 0;
  r->l1 = fabs(r->outside - pout);
  r->floor_l1 = sqrt(2 * pout * (1 - pout) / (M_PI * (double)n));
  for (size_t i = 0; i < N; i++) {
    r->l1 += fabs(r->hist[i] - r->target[i]);
    const double q = r->target[i] > 0 ? r->target[i] : 0;
    r->floor_l1 += sqrt(2 * q * (1 - q) / (M_PI * (double)n));
  }
  for (size_t c = 0; c < d; c++) {
    double sm = 0;
    for (size_t i = 0; i < n; i++) sm += r->x[c * n + i];
    r->mean[c] = sm / (double)n;
  }
  for (size_t c = 0; c < d; c++)
    for (size_t e = 0; e < d; e++) {
      double v = 0;
      for (size_t i = 0; i < n; i++)
        v += (r->x[c * n + i] - r->mean[c]) * (r->x[e * n + i] - r->mean[e]);
      r->cov[c * d + e] = n > 1 ? v / (double)(n - 1) : 0;
    }
  r->ks = NAN;
  if (d == 1) {
    double *srt = malloc(n * sizeof(double));
    if (!srt) {
      rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      goto done;
    }
    memcpy(srt, r->x, n * sizeof(double));
    qsort(srt, n, sizeof(double), cmp_double);
    double ks = 0;
    for (size_t i = 0; i < n; i++) {
      const double F = cdf1(r, s, r->t_target, srt[i]);
      ks = fmax(ks, fmax(fabs(F - (double)i / (double)n), fabs(F - (double)(i + 1) / (double)n)));
    }
    r->ks = ks;
    free(srt);
  }
done:
  free(xc);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
  return rc;
}

static int write_results(fpk_h5 *f, const sample_run *r) {
  const fpk_grid *g = &r->grid;
  const size_t d = r->d, n = r->npaths, K = r->K;
  int rc = fpk_app_write_box_grid(f, g);
  if (!rc) rc = fpk_h5_index_dim(f, "/mixture_component", K);
  const char *gd = d == 1 ? "x" : "y x";
  size_t gdims[2];
  for (size_t a = 0; a < d; a++) gdims[a] = g->n[d - 1 - a];
  /* /data */
  if (!rc) rc = fpk_h5_group(f, "/data", "the data law: a Gaussian mixture (fpk_gmm)");
  const size_t dk[1] = {K}, dkd[2] = {K, d}, dkdd[3] = {K, d, d};
  const double *dw = r->has_obs ? r->prior_w : r->w, *dmu = r->has_obs ? r->prior_mu : r->mu;
  const double *dS = r->has_obs ? r->prior_S : r->S; /* with [observation] r->w... hold the posterior */
  if (!rc) rc = fpk_h5_write(f, "/data/weights", 1, dk, dw, NULL, "mixture weights");
  if (!rc) rc = fpk_h5_attach_scales(f, "/data/weights", "mixture_component");
  if (!rc) rc = fpk_h5_write(f, "/data/means", 2, dkd, dmu, "length", "component means");
  if (!rc) rc = fpk_h5_attach_scales(f, "/data/means", "mixture_component component");
  if (!rc) rc = fpk_h5_write(f, "/data/covs", 3, dkdd, dS, "length^2", "component covariances");
  if (!rc) rc = fpk_h5_attach_scales(f, "/data/covs", "mixture_component component component2");
  /* /target */
  if (!rc) rc = fpk_h5_group(f, "/target", "the exact law the sample should follow: p_{t_min} "
                                           "(or the data with denoise)");
  if (!rc) rc = fpk_h5_write(f, "/target/p", d, gdims, r->target, NULL,
                             "exact cell probabilities of the target (1D: CDF differences; 2D: "
                             "6 x 6 Gauss-Legendre nodes per cell)");
  if (!rc) rc = fpk_h5_attach_scales(f, "/target/p", gd);
  if (!rc) rc = fpk_h5_write(f, "/target/density", d, gdims, r->density, "1/length^dim",
                             "exact target density at the cell centres");
  if (!rc) rc = fpk_h5_attach_scales(f, "/target/density", gd);
  const size_t dd[1] = {d}, ddd[2] = {d, d};
  if (!rc) rc = fpk_h5_write(f, "/target/mean", 1, dd, r->tmean, "length", "target mean");
  if (!rc) rc = fpk_h5_attach_scales(f, "/target/mean", "component");
  if (!rc) rc = fpk_h5_write(f, "/target/cov", 2, ddd, r->tcov, "length^2", "target covariance");
  if (!rc) rc = fpk_h5_attach_scales(f, "/target/cov", "component component2");
  if (!rc) rc = fpk_h5_attr_double(f, "/target", "t", r->t_target);
  /* /sample */
  if (!rc) rc = fpk_h5_group(f, "/sample", "the sampler's points at t_min (or x0-hat with "
                                           "denoise) and their distance to the target");
  if (!rc) rc = fpk_h5_write(f, "/sample/histogram", d, gdims, r->hist, NULL,
                             "fraction of the points in each cell");
  if (!rc) rc = fpk_h5_attach_scales(f, "/sample/histogram", gd);
  if (!rc) rc = fpk_h5_write(f, "/sample/mean", 1, dd, r->mean, "length", "sample mean");
  if (!rc) rc = fpk_h5_attach_scales(f, "/sample/mean", "component");
  if (!rc) rc = fpk_h5_write(f, "/sample/cov", 2, ddd, r->cov, "length^2",
                             "sample covariance (divisor n - 1)");
  if (!rc) rc = fpk_h5_attach_scales(f, "/sample/cov", "component component2");
  if (!rc && r->keep) {
    double *kp = malloc(r->keep * d * sizeof(double));
    if (!kp) return FPK_ENOMEM;
    for (size_t i = 0; i < r->keep; i++)
      for (size_t c = 0; c < d; c++) kp[i * d + c] = r->x[c * n + i];
    const size_t kd[2] = {r->keep, d};
    rc = fpk_h5_index_dim(f, "/sample/point", r->keep);
    if (!rc) rc = fpk_h5_write(f, "/sample/points", 2, kd, kp, "length", "the first points");
    if (!rc) rc = fpk_h5_attach_scales(f, "/sample/points", "point component");
    free(kp);
  }
  const char *S = "/sample";
  if (!rc) rc = fpk_h5_attr_string(f, S, "family", families[r->family]);
  if (!rc) rc = fpk_h5_attr_string(f, S, "method", r->sde ? r->sde->name : r->pp.sampler);
  if (!rc) rc = fpk_h5_attr_string(f, S, "grid", r->family == FAMILY_LANGEVIN ? "none"
                                                                                : r->pp.grid);
  if (!rc) rc = fpk_h5_attr_string(f, S, "schedule", r->family == FAMILY_LANGEVIN ? "none"
                                                                                 : r->stype->name);
  if (!rc) rc = fpk_h5_attr_string(f, S, "start", starts[r->start]);
  if (!rc) rc = fpk_h5_attr_u64(f, S, "steps", r->pp.steps);
  if (!rc) rc = fpk_h5_attr_u64(f, S, "nfe", r->nfe);
  if (!rc) rc = fpk_h5_attr_u64(f, S, "paths", n);
  if (!rc) rc = fpk_h5_attr_u64(f, S, "seed", r->seed);
  if (!rc) rc = fpk_h5_attr_double(f, S, "t_min", r->pp.t_min);
  if (!rc) rc = fpk_h5_attr_double(f, S, "t_max", r->pp.t_max);
  if (!rc) rc = fpk_h5_attr_u64(f, S, "denoise", (uint64_t)r->pp.denoise);
  if (!rc) rc = fpk_h5_attr_double(f, S, "l1_error", r->l1);
  if (!rc) rc = fpk_h5_attr_double(f, S, "l1_floor", r->floor_l1);
  if (!rc) rc = fpk_h5_attr_double(f, S, "outside", r->outside);
  if (!rc && d == 1) rc = fpk_h5_attr_double(f, S, "ks", r->ks);
  if (!rc) rc = fpk_h5_attr_double(f, S, "wall_seconds", r->wall);
  if (!rc) rc = ode_write(f, r);
  if (!rc) rc = write_extras(f, r);
  return rc;
}

/* ==== h14-ode: the exact 1D map error, the steps ladder, ... ================================== */

/* [sampler] steps: one number (as before) or an increasing list of rungs, each run from the same
 * start points (the same seed). *steps gets the finest (last) rung, the one /sample holds. */
static int ode_read_steps(fpk_config *c, sample_run *r, size_t *steps, fpk_error *err) {
  double v[MAX_RUNGS];
  size_t n = 1; /* absent: the one default rung */
  v[0] = (double)*steps;
  int rc;
  if ((rc = fpk_config_double_list(c, "sampler", "steps", 0, MAX_RUNGS, v, &n, err))) return rc;
  for (size_t j = 0; j < n; j++) {
    if (!(v[j] >= 1 && v[j] <= 1e6 && v[j] == floor(v[j])))
      return fpk_config_invalid(c, "sampler", "steps", err, "entry %zu = %g: steps must be whole "
                                "numbers from 1 to 1000000", j + 1, v[j]);
    if (j > 0 && !(v[j] > v[j - 1]))
      return fpk_config_invalid(c, "sampler", "steps", err, "entry %zu = %g after %g: a ladder of "
                                "steps must be strictly increasing (coarse to fine)", j + 1, v[j],
                                v[j - 1]);
    r->ode.steps[j] = (size_t)v[j];
  }
  r->ode.nrungs = n;
  *steps = r->ode.steps[n - 1];
  return FPK_SUCCESS;
}

static int ode_read_config(fpk_config *c, sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  int rc;
  /* Langevin samples p_0 itself, with no noising schedule: no ladder of its steps (its keys are
   * unknown there, so the strict check names them), no reverse-time FP check, no DSM levels */
  if (r->family == FAMILY_LANGEVIN) return FPK_SUCCESS;
  /* In 1D the PF-ODE flow map is F_{t_min}⁻¹ ∘ F_{t_max} (docs/diffusion.md, "Exact check: the
   * 1D monotone map"): every path's endpoint error is known exactly. */
  o->has_map = r->d == 1 && r->family == FAMILY_PFODE && !r->pp.denoise;
  o->metric = o->has_map ? LADDER_MAP : LADDER_L1;
  o->target_error = 1e-3;
  o->fit_min_steps = 1;
  /* the ladder's keys only with a ladder: one steps value leaves them unknown (named) */
  if (o->nrungs < 2) return (rc = ode_read_score(c, r, err)) ? rc : ode_read_fp(c, r, err);
  if ((rc = fpk_config_double(c, "sampler", "target_error", 0, 0.0, 1, INFINITY, &o->target_error,
                              err)))
    return rc;
  if ((rc = fpk_config_choice(c, "sampler", "ladder_metric", 0, ladder_metrics, &o->metric, err)))
    return rc;
  if (o->metric == LADDER_MAP && !o->has_map)
    return fpk_config_invalid(c, "sampler", "ladder_metric", err, "map_error needs the exact 1D "
                              "map: dim 1, family pf-ode, denoise false (use l1_error%s)",
                              r->d == 1 ? " or ks" : "");
  if (o->metric == LADDER_KS && r->d != 1)
    return fpk_config_invalid(c, "sampler", "ladder_metric", err, "ks is defined in 1D only (use "
                              "l1_error)");
  if ((rc = fpk_config_size(c, "sampler", "fit_min_steps", 0, 1, 1000000, &o->fit_min_steps,
                            err)))
    return rc;
  if ((rc = ode_read_score(c, r, err))) return rc;
  return ode_read_fp(c, r, err);
}

static int ode_keep_start(sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  if (!o->has_map) return FPK_SUCCESS;
  free(o->x0);
  o->x0 = malloc(r->npaths * sizeof(double));
  if (!o->x0) return fpk_error_set(err, FPK_ENOMEM, "out of memory for %zu points", r->npaths);
  memcpy(o->x0, r->x, r->npaths * sizeof(double));
  return FPK_SUCCESS;
}

/* e_i = |X_i − F_{t_min}⁻¹(F_{t_max}(x_{t_max,i}))| by fpk_gmm1d_pf_map (safeguarded Newton on
 * log F or log(1 − F), fpcheck.c); its mean, the standard error of the mean over the paths and
 * the largest. Summed in path order: the same for any thread count. */
static int ode_after_sampling(sample_run *r, const fpk_schedule *s, fpk_error *err) {
  ode_ext *o = &r->ode;
  if (!o->has_map) return FPK_SUCCESS;
  const size_t n = r->npaths;
  double *map = malloc(n * sizeof(double));
  if (!map) return fpk_error_set(err, FPK_ENOMEM, "out of memory for %zu points", n);
  int rc = fpk_gmm1d_pf_map(r->K, r->w, r->mu, r->S, s, r->pp.t_max, r->pp.t_min, n, o->x0, map,
                            err);
  if (rc) {
    free(map);
    return rc;
  }
  double sum = 0, mx = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = fabs(r->x[i] - map[i]);
    sum += e;
    if (e > mx) mx = e;
  }
  const double mean = sum / (double)n;
  double v = 0;
  for (size_t i = 0; i < n; i++) {
    const double dv = fabs(r->x[i] - map[i]) - mean;
    v += dv * dv;
  }
  o->map_err = mean;
  o->map_se = n > 1 ? sqrt(v / (double)(n - 1) / (double)n) : 0;
  o->map_max = mx;
  free(map);
  if (!isfinite(o->map_err) || !isfinite(o->map_max))
    return fpk_error_set(err, FPK_ENUMERIC, "sample: non-finite map error %g", o->map_err);
  return FPK_SUCCESS;
}

/* The ladder: every rung from the same start points (compute() draws them from the seed), the
 * finest rung last so that /sample holds it. The error per rung is the exact map error where
 * there is one (1D pf-ode), else the histogram L1 (with its sampling floor, and KS in 1D). */
static int ode_ladder(sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  int rc = FPK_SUCCESS;
  for (size_t j = 0; j < o->nrungs && !rc; j++) {
    if (j > 0) {
      free(r->x), free(r->target), free(r->hist), free(r->density);
      r->x = r->target = r->hist = r->density = NULL;
    }
    r->pp.steps = o->steps[j];
    if ((rc = compute(r, err))) break;
    o->rung_nfe[j] = r->nfe;
    o->rung_err[j] = o->metric == LADDER_MAP ? o->map_err : o->metric == LADDER_L1 ? r->l1 : r->ks;
    o->rung_se[j] = o->has_map ? o->map_se : r->floor_l1;
    o->rung_ks[j] = r->ks;
  }
  if (rc) return rc;
  /* The fitted order of error ∝ NFE^−p: fpk_fit_order (fpkit/fit.h, as fpkit converge) on
   * h = 1/NFE. Ordinary least squares: the rungs share their start points (and noise), so
   * their errors are not independent draws and the per-rung standard errors are no weights;
   * the interval comes from the residuals (Student's t, n − 2 degrees of freedom). The L1 and
   * KS metrics measure the sampler's error only above their sampling floors (an exact sample's
   * mean L1; 0.8687/√n for KS): rungs within 3 floors are left out of the fit, and so are the
   * rungs below fit_min_steps (the pre-asymptotic range). */
  double h[MAX_RUNGS], e[MAX_RUNGS];
  size_t nu = 0;
  const double ks_floor = KS_FLOOR_CONST / sqrt((double)r->npaths);
  for (size_t j = 0; j < o->nrungs; j++) {
    const double floor_j = o->metric == LADDER_MAP ? 0
                           : o->metric == LADDER_L1 ? 3 * o->rung_se[j] : 3 * ks_floor;
    o->rung_used[j] = o->rung_err[j] > floor_j && o->steps[j] >= o->fit_min_steps;
    if (o->rung_used[j]) h[nu] = 1.0 / (double)o->rung_nfe[j], e[nu] = o->rung_err[j], nu++;
  }
  o->fit_ok = 0;
  o->fit_note[0] = 0;
  if (nu < 3) {
    snprintf(o->fit_note, sizeof o->fit_note, "only %zu rung%s enter%s the fit (it needs 3)%s",
             nu, nu == 1 ? "" : "s", nu == 1 ? "s" : "",
             o->metric == LADDER_MAP ? " (raise fit_min_steps less, or add rungs)"
                                     : ": the others are within 3 sampling floors or below "
                                       "fit_min_steps (add coarser rungs or paths)");
  } else {
    fpk_error fe = {0};
    if (fpk_fit_order(nu, h, e, NULL, 0, 0.95, &o->fit, &fe))
      snprintf(o->fit_note, sizeof o->fit_note, "no fit: %.200s", fe.msg);
    else
      o->fit_ok = 1;
  }
  /* NFE to reach target_error: log-log interpolation between the first pair of consecutive
   * rungs whose errors bracket it. */
  o->nfe_target = NAN;
  snprintf(o->target_note, sizeof o->target_note, "target_error %g is not bracketed by the "
           "rungs' errors (%.3g at NFE %zu ... %.3g at NFE %zu)", o->target_error, o->rung_err[0],
           o->rung_nfe[0], o->rung_err[o->nrungs - 1], o->rung_nfe[o->nrungs - 1]);
  for (size_t j = 0; j + 1 < o->nrungs; j++) {
    const double e0 = o->rung_err[j], e1 = o->rung_err[j + 1], tg = o->target_error;
    if (e0 >= tg && e1 < tg && e1 > 0) {
      const double l0 = log((double)o->rung_nfe[j]), l1 = log((double)o->rung_nfe[j + 1]);
      o->nfe_target = exp(l0 + (log(tg) - log(e0)) * (l1 - l0) / (log(e1) - log(e0)));
      snprintf(o->target_note, sizeof o->target_note, "interpolated log-log between NFE %zu and "
               "%zu", o->rung_nfe[j], o->rung_nfe[j + 1]);
      break;
    }
  }
  return FPK_SUCCESS;
}

/* ---- The reverse-time Fokker–Planck check ([fp]) ----------------------------------------------
 * From the exact p_{t_max} on [grid], solve down to t_min the Fokker–Planck equation of the
 * reverse-time η-family with the exact score (fpk_reverse_model_alloc: η = 1 the reverse SDE,
 * η = 0 the PF-ODE continuity equation; docs/diffusion.md, "Exactness checks on the grid"), by
 * finite volumes (TR-BDF2, the box's reflecting walls) or the Fourier spectral solver (ETDRK4, the
 * box made periodic), exactly as tests/test_diffusion_fp.c does, and compare the cell
 * probabilities with the exact p_{t_min}'s (fpk_gmm_cell_probs). */
static const char *const fp_solvers[] = {"none", "fv", "spectral", NULL};
enum { FP_NONE, FP_FV, FP_SPECTRAL };

static int ode_read_fp(fpk_config *c, sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  int rc;
  o->fp_solver = FP_NONE, o->fp_eta = 1, o->fp_dt = 5e-4;
  if ((rc = fpk_config_choice(c, "fp", "solver", 0, fp_solvers, &o->fp_solver, err))) return rc;
  if (o->fp_solver == FP_NONE) return FPK_SUCCESS;
  if ((rc = fpk_config_double(c, "fp", "eta", 0, 0.0, 0, INFINITY, &o->fp_eta, err)) ||
      (rc = fpk_config_double(c, "fp", "dt", 0, 0.0, 1, INFINITY, &o->fp_dt, err)))
    return rc;
  if (o->fp_solver == FP_SPECTRAL)
    for (size_t a = 0; a < r->grid.dim; a++)
      if (r->grid.n[a] % 2 || r->grid.n[a] < 8)
        return fpk_config_invalid(c, "grid", "n", err, "%zu cells on axis %zu: [fp] solver = "
                                  "spectral needs an even number of cells, at least 8",
                                  r->grid.n[a], a);
  return FPK_SUCCESS;
}

static void ode_score(const sample_run *r, fpk_score_fn *fn, void **user);

static int ode_fp_check(sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  if (o->fp_solver == FP_NONE) return FPK_SUCCESS;
  const size_t N = r->grid.size, d = r->d;
  fpk_gmm *m = fpk_gmm_alloc(d, r->K, r->w, r->mu, r->S, err);
  fpk_schedule *s = m ? fpk_schedule_alloc(r->stype, &r->sp, err) : NULL;
  if (!s) {
    fpk_gmm_free(m);
    return err->status;
  }
  /* the sampler's score: the exact one, or the DSM fit ([score] model = dsm), so that with a
   * fitted score /fp holds the exact law of the continuous-time sampler that uses it, and
   * KL(p_{t_min} ‖ it) can stand beside the Girsanov term that bounds it */
  fpk_gmm_score_ctx ctx = {m, s};
  fpk_score_fn score = fpk_gmm_score_fn;
  void *user = &ctx;
  ode_score(r, &score, &user);
  fpk_reverse_model *rm = NULL;
  if (pick_score(r, s, &score, &user, err) == FPK_SUCCESS) /* DPS's approximate score */
    rm = fpk_reverse_model_alloc_from(s, r->pp.t_max, d, o->fp_eta, score, user, err);
  fpk_grid g = r->grid;
  fpk_fv *fv = NULL;
  fpk_spectral *sp = NULL;
  double *P0 = malloc(N * sizeof(double)), *P1 = malloc(N * sizeof(double));
  o->fp_density = malloc(N * sizeof(double));
  int rc = rm ? FPK_SUCCESS : err->status;
  if (!rc && (!P0 || !P1 || !o->fp_density))
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory for the [fp] grid");
  if (!rc && o->fp_solver == FP_SPECTRAL) {
    fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC, FPK_BC_PERIODIC};
    rc = fpk_grid_init(&g, d, r->grid.n, r->grid.lo, r->grid.hi, bc, err);
  }
  /* reverse time from t_max (fpk_reverse_model_alloc_from): τ = t_max − t */
  const double tau0 = 0, tau1 = r->pp.t_max - r->pp.t_min;
  if (!rc) rc = fpk_gmm_cell_probs(m, s, r->pp.t_max, &g, P0, err);
  if (!rc) rc = fpk_gmm_cell_probs(m, s, r->pp.t_min, &g, P1, err);
  double m0 = 0, m1 = 0;
  for (size_t i = 0; !rc && i < N; i++) m0 += P0[i], m1 += P1[i];
  o->fp_out_tmax = 1 - m0, o->fp_out_tmin = 1 - m1;
  for (size_t i = 0; !rc && i < N; i++) P0[i] /= g.cell_volume; /* cell averages */
  const double *p = NULL;
  if (!rc && o->fp_solver == FP_FV) {
    fv = fpk_fv_alloc(&g, fpk_reverse_model_get(rm), fpk_fv_tr_bdf2, o->fp_dt, err);
    if (!fv) rc = err->status;
    if (!rc && (fpk_fv_set_density(fv, tau0, P0) || fpk_fv_evolve(fv, tau1)))
      rc = fpk_error_set(err, FPK_ENUMERIC, "[fp] fv: %s", fpk_fv_errmsg(fv));
    if (!rc) p = fpk_fv_density(fv);
  } else if (!rc) {
    fpk_spectral_options so;
    fpk_spectral_options_default(&so);
    so.planner = FPK_FFT_ESTIMATE; /* deterministic plans: the same bits on every run */
    sp = fpk_spectral_alloc(&g, fpk_reverse_model_get(rm), fpk_spectral_etdrk4, o->fp_dt, &so,
                            err);
    if (!sp) rc = err->status;
    if (!rc && (fpk_spectral_set_density(sp, tau0, P0) || fpk_spectral_evolve(sp, tau1)))
      rc = fpk_error_set(err, FPK_ENUMERIC, "[fp] spectral: %s", fpk_spectral_errmsg(sp));
    if (!rc) p = fpk_spectral_density(sp), o->fp_edge = fpk_spectral_edge_density(sp);
  }
  if (!rc) {
    /* finite and nonnegative within the guard's tolerance, as fpkit run checks its output */
    fpk_density_guard gd;
    fpk_density_guard_init(&gd);
    gd.mass = m0;
    rc = fpk_guard_density(&g, p, &gd, o->fp_solver == FP_FV ? "[fp] fv" : "[fp] spectral",
                           r->pp.t_min, err);
  }
  if (!rc) {
    double l1 = 0, mass = 0;
    for (size_t i = 0; i < N; i++) {
      o->fp_density[i] = p[i];
      l1 += fabs(p[i] * g.cell_volume - P1[i]);
      mass += p[i] * g.cell_volume;
    }
    o->fp_l1 = l1, o->fp_mass = mass;
    if (!isfinite(l1) || !isfinite(mass))
      rc = fpk_error_set(err, FPK_ENUMERIC, "[fp]: non-finite L1 %g or mass %g", l1, mass);
    /* KL(p_{t_min} ‖ q) over the cells, both normalised on the box (the direction the Girsanov
     * bound holds for); NaN where q has no mass on a cell that p_{t_min} charges (a spectral
     * solution can dip below 0 at the 1e-15 level in the tails) */
    double kl = 0;
    for (size_t i = 0; !rc && i < N; i++) {
      const double pe = P1[i] / m1, q = p[i] * g.cell_volume / mass;
      if (pe <= 0) continue;
      if (!(q > 0)) {
        kl = NAN;
        break;
      }
      kl += pe * log(pe / q);
    }
    o->fp_kl = kl;
  }
  fpk_fv_free(fv);
  fpk_spectral_free(sp);
  fpk_reverse_model_free(rm);
  free(P0), free(P1);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
  return rc;
}

static int ode_write_fp(fpk_h5 *f, const sample_run *r) {
  const ode_ext *o = &r->ode;
  const size_t d = r->d;
  size_t gdims[2];
  for (size_t a = 0; a < d; a++) gdims[a] = r->grid.n[d - 1 - a];
  const char *G = "/fp";
  int rc = fpk_h5_group(f, G, "the reverse-time Fokker-Planck equation with the sampler's score "
                              "(attribute score), solved on [grid] from the exact p_{t_max} down "
                              "to t_min");
  if (!rc) rc = fpk_h5_write(f, "/fp/density", d, gdims, o->fp_density, "1/length^dim",
                             "the solution at t_min (cell averages)");
  if (!rc) rc = fpk_h5_attach_scales(f, "/fp/density", d == 1 ? "x" : "y x");
  if (!rc) rc = fpk_h5_attr_string(f, G, "solver", fp_solvers[o->fp_solver]);
  if (!rc) rc = fpk_h5_attr_string(f, G, "scheme", o->fp_solver == FP_FV
                                                       ? "finite volumes, TR-BDF2, reflecting walls"
                                                       : "Fourier spectral, ETDRK4, periodic box");
  if (!rc) rc = fpk_h5_attr_double(f, G, "eta", o->fp_eta);
  if (!rc) rc = fpk_h5_attr_double(f, G, "dt", o->fp_dt);
  if (!rc) rc = fpk_h5_attr_double(f, G, "t_from", r->pp.t_max);
  if (!rc) rc = fpk_h5_attr_double(f, G, "t_to", r->pp.t_min);
  if (!rc) rc = fpk_h5_attr_double(f, G, "l1_to_exact", o->fp_l1);
  if (!rc && isfinite(o->fp_kl)) rc = fpk_h5_attr_double(f, G, "kl_exact_to_fp", o->fp_kl);
  if (!rc && !isfinite(o->fp_kl))
    rc = fpk_h5_attr_string(f, G, "kl_note", "no kl_exact_to_fp: the solution is <= 0 on a cell "
                                             "that p_tmin charges (a spectral solution's tails)");
  if (!rc) rc = fpk_h5_attr_string(f, G, "score", o->dsm ? "dsm" : r->obs_dps ? "dps" : "exact");
  if (!rc) rc = fpk_h5_attr_double(f, G, "mass", o->fp_mass);
  if (!rc) rc = fpk_h5_attr_double(f, G, "exact_mass_outside_tmax", o->fp_out_tmax);
  if (!rc) rc = fpk_h5_attr_double(f, G, "exact_mass_outside_tmin", o->fp_out_tmin);
  if (!rc && o->fp_solver == FP_SPECTRAL) rc = fpk_h5_attr_double(f, G, "edge_density", o->fp_edge);
  return rc;
}

/* ---- The DSM score ([score] model = dsm) --------------------------------------------------------
 * A score fitted by denoising score matching (fpk_dsm_fit: random Fourier features, ridge least
 * squares; docs/diffusion.md "Score matching") at `levels` times log-spaced over [t_min, t_max],
 * then used by the sampler in place of the exact score (fpk_dsm_score_fn, linear in t between
 * levels). Per level, /dsm reports the fit's losses beside the exact score's on the same held-out
 * samples and the exact minimum J* = d/b_t² − E_{p_t}|∇log p_t|² (the Fisher information by the
 * midpoint rule on a fine internal grid: spectrally accurate for the smooth, fast-decaying p_t),
 * and the Girsanov term ½∫_{t_min}^T g² E|s_θ − ∇log p_t|² dt (fpk_girsanov_bound_eval on [grid]). */
static const char *const score_models[] = {"exact", "dsm", NULL};

static int ode_read_score(fpk_config *c, sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  int rc;
  fpk_dsm_params_init(&o->dsm_p);
  o->score_model = 0, o->dsm_levels = 12;
  if ((rc = fpk_config_choice(c, "score", "model", 0, score_models, &o->score_model, err)))
    return rc;
  if (o->score_model == 0) return FPK_SUCCESS;
  if (r->has_obs && r->obs_dps)
    return fpk_config_invalid(c, "score", "model", err, "dsm with [observation] score = dps: DPS "
                              "builds its score from the prior's exact Tweedie denoiser; use "
                              "[observation] score = exact to fit the posterior's score by DSM");
  fpk_dsm_params *p = &o->dsm_p;
  if ((rc = fpk_config_size(c, "score", "levels", 0, 2, 1000, &o->dsm_levels, err)) ||
      (rc = fpk_config_size(c, "score", "features", 0, 1, 100000, &p->nfeatures, err)) ||
      (rc = fpk_config_double(c, "score", "lengthscale", 0, 0.0, 1, INFINITY, &p->lengthscale,
                              err)) ||
      (rc = fpk_config_double(c, "score", "ridge", 0, 0.0, 0, INFINITY, &p->ridge, err)) ||
      (rc = fpk_config_size(c, "score", "samples", 0, 1, (size_t)1e8, &p->nsamples, err)) ||
      (rc = fpk_config_size(c, "score", "valid", 0, 2, (size_t)1e8, &p->nvalid, err)) ||
      (rc = fpk_config_u64(c, "score", "seed", 0, &p->seed, err)))
    return rc;
  if (p->nsamples < 1 + r->d + p->nfeatures)
    return fpk_config_invalid(c, "score", "samples", err, "%zu training samples for %zu "
                              "parameters per component (1 + dim + features): need at least as "
                              "many samples", p->nsamples, 1 + r->d + p->nfeatures);
  return FPK_SUCCESS;
}

/* E_{p_t}|∇log p_t|² by the midpoint rule on a grid covering every noised component to ±12 sd
 * with cells of 1/16 of the narrowest one's sd (capped at 2·10⁴ cells per axis in 1D, 800 in 2D). */
static int ode_fisher(const sample_run *r, const fpk_gmm *m, const fpk_schedule *s, double t,
                      double *fisher, fpk_error *err) {
  const size_t d = r->d;
  const double a = fpk_schedule_mean_coef(s, t), b2 = fpk_schedule_var(s, t);
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY}, sdmin = INFINITY;
  for (size_t k = 0; k < r->K; k++)
    for (size_t c = 0; c < d; c++) {
      const double sd = sqrt(a * a * r->S[k * d * d + c * d + c] + b2);
      lo[c] = fmin(lo[c], a * r->mu[k * d + c] - 12 * sd);
      hi[c] = fmax(hi[c], a * r->mu[k * d + c] + 12 * sd);
      /* the narrowest conditional sd (full covariances in 2D) */
      sdmin = fmin(sdmin, sd);
    }
  if (d == 2)
    for (size_t k = 0; k < r->K; k++) {
      const double *S = r->S + 4 * k;
      const double c00 = a * a * S[0] + b2, c11 = a * a * S[3] + b2, c01 = a * a * S[1];
      const double det = c00 * c11 - c01 * c01;
      sdmin = fmin(sdmin, fmin(sqrt(det / c11), sqrt(det / c00)));
    }
  const size_t cap = d == 1 ? 20000 : 800;
  size_t n[2] = {1, 1};
  for (size_t c = 0; c < d; c++) {
    const double want = ceil((hi[c] - lo[c]) / (sdmin / 16));
    n[c] = want > (double)cap ? cap : (size_t)want;
    if (n[c] < 64) n[c] = 64;
  }
  fpk_grid g;
  fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  int rc = fpk_grid_init(&g, d, n, lo, hi, bc, err);
  if (rc) return rc;
  const size_t N = g.size;
  double *x = calloc(d * N, sizeof(double)), *lp = malloc(N * sizeof(double));
  double *sc = malloc(d * N * sizeof(double));
  if (!x || !lp || !sc) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < N; i++) {
    double pt[FPK_MAX_DIM] = {0};
    fpk_grid_point(&g, i, pt);
    for (size_t c = 0; c < d; c++) x[c * N + i] = pt[c];
  }
  if (!rc) rc = fpk_gmm_eval(m, s, t, N, x, lp, sc, NULL, NULL, err);
  double I = 0;
  for (size_t i = 0; !rc && i < N; i++) {
    double q = 0;
    for (size_t c = 0; c < d; c++) q += sc[c * N + i] * sc[c * N + i];
    I += exp(lp[i]) * q;
  }
  *fisher = I * g.cell_volume;
  free(x), free(lp), free(sc);
  return rc;
}

static int ode_fit_dsm(sample_run *r, fpk_error *err) {
  ode_ext *o = &r->ode;
  if (o->score_model == 0) return FPK_SUCCESS;
  fpk_gmm *m = fpk_gmm_alloc(r->d, r->K, r->w, r->mu, r->S, err);
  fpk_schedule *s = m ? fpk_schedule_alloc(r->stype, &r->sp, err) : NULL;
  if (!s) {
    fpk_gmm_free(m);
    return err->status;
  }
  const size_t L = o->dsm_levels;
  double *t = malloc(L * sizeof(double));
  o->dsm_jstar = malloc(L * sizeof(double));
  int rc = t && o->dsm_jstar ? FPK_SUCCESS : fpk_error_set(err, FPK_ENOMEM, "out of memory");
  /* log-spaced over [t_min, t_max]; one level: t_min */
  for (size_t l = 0; !rc && l < L; l++)
    t[l] = L == 1 ? r->pp.t_min
                  : exp(log(r->pp.t_min) + (double)l / (double)(L - 1) *
                                               (log(r->pp.t_max) - log(r->pp.t_min)));
  if (!rc && L > 1) t[L - 1] = r->pp.t_max;
  o->dsm_p.nlevels = L, o->dsm_p.t = t;
  if (!rc && !(o->dsm = fpk_dsm_fit(m, s, &o->dsm_p, err))) rc = err->status;
  o->dsm_p.t = NULL;
  for (size_t l = 0; !rc && l < L; l++) {
    double I;
    if ((rc = ode_fisher(r, m, s, t[l], &I, err))) break;
    o->dsm_jstar[l] = (double)r->d / fpk_schedule_var(s, t[l]) - I;
  }
  /* the Girsanov term of the fitted score (and KL(p_T ‖ N(0, b_T² I))), both integrated on
   * [grid]: only where the box holds p_t at both ends of [t_min, T] to 1e-6 (under VE p_T has
   * sd σ_max: a box it overflows gave a negative KL and a box-dependent term) */
  o->girsanov_ok = 0;
  o->girsanov_note[0] = 0;
  double *Pc = rc ? NULL : malloc(r->grid.size * sizeof(double));
  if (!rc && !Pc) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  const double ends[2] = {r->pp.t_min, fpk_schedule_T(s)};
  for (int e = 0; !rc && e < 2 && !o->girsanov_note[0]; e++) {
    if ((rc = fpk_gmm_cell_probs(m, s, ends[e], &r->grid, Pc, err))) break;
    double in = 0;
    for (size_t i = 0; i < r->grid.size; i++) in += Pc[i];
    if (!(in >= 1 - 1e-6))
      snprintf(o->girsanov_note, sizeof o->girsanov_note, "not computed: the [grid] box holds "
               "%.9g of p_t at t = %g (needs 1 - 1e-6: the integrals run on the box); widen "
               "[grid] lo/hi", in, ends[e]);
  }
  free(Pc);
  if (!rc && !o->girsanov_note[0]) {
    fpk_girsanov_bound gb;
    rc = fpk_girsanov_bound_eval(m, s, r->pp.t_min, fpk_dsm_score_fn, o->dsm, &r->grid, 32,
                                 fpk_schedule_var(s, fpk_schedule_T(s)), &gb, err);
    if (!rc) o->girsanov = gb, o->girsanov_ok = 1;
  }
  free(t);
  fpk_schedule_free(s);
  fpk_gmm_free(m);
  return rc;
}

static void ode_score(const sample_run *r, fpk_score_fn *fn, void **user) {
  if (r->ode.dsm) *fn = fpk_dsm_score_fn, *user = r->ode.dsm;
}

static int ode_write_dsm(fpk_h5 *f, const sample_run *r) {
  const ode_ext *o = &r->ode;
  size_t L;
  const fpk_dsm_level *lv = fpk_dsm_levels(o->dsm, &L);
  double *v = malloc(5 * L * sizeof(double));
  if (!v) return FPK_ENOMEM;
  for (size_t l = 0; l < L; l++) {
    v[l] = lv[l].t, v[L + l] = lv[l].train_loss, v[2 * L + l] = lv[l].valid_loss;
    v[3 * L + l] = lv[l].exact_loss, v[4 * L + l] = lv[l].esm_error;
  }
  const size_t dl[1] = {L};
  const char *G = "/dsm";
  int rc = fpk_h5_group(f, G, "the score fitted by denoising score matching (fpk_dsm_fit) and "
                              "used by the sampler");
  if (!rc) rc = fpk_h5_write_scale(f, "/dsm/t", L, v, "time", "the noise levels");
  if (!rc) rc = fpk_h5_write(f, "/dsm/train_loss", 1, dl, v + L, NULL,
                             "DSM loss (1/n) sum |s(x_t) + z/b_t|^2 on the training samples");
  if (!rc) rc = fpk_h5_write(f, "/dsm/valid_loss", 1, dl, v + 2 * L, NULL,
                             "DSM loss of the fit on the held-out samples");
  if (!rc) rc = fpk_h5_write(f, "/dsm/exact_loss", 1, dl, v + 3 * L, NULL,
                             "DSM loss of the exact score on the same held-out samples");
  if (!rc) rc = fpk_h5_write(f, "/dsm/esm_error", 1, dl, v + 4 * L, NULL,
                             "held-out E|s_fit - grad log p_t|^2");
  if (!rc) rc = fpk_h5_write(f, "/dsm/j_star", 1, dl, o->dsm_jstar, NULL,
                             "exact minimum of the DSM loss, d/b_t^2 - E|grad log p_t|^2");
  const char *vars[] = {"train_loss", "valid_loss", "exact_loss", "esm_error", "j_star"};
  for (size_t q = 0; q < 5 && !rc; q++) {
    char path[64];
    snprintf(path, sizeof path, "/dsm/%s", vars[q]);
    rc = fpk_h5_attach_scales(f, path, "t");
  }
  const fpk_dsm_params *p = &o->dsm_p;
  if (!rc) rc = fpk_h5_attr_u64(f, G, "features", p->nfeatures);
  if (!rc) rc = fpk_h5_attr_double(f, G, "lengthscale", p->lengthscale);
  if (!rc) rc = fpk_h5_attr_double(f, G, "ridge", p->ridge);
  if (!rc) rc = fpk_h5_attr_u64(f, G, "samples", p->nsamples);
  if (!rc) rc = fpk_h5_attr_u64(f, G, "valid", p->nvalid);
  if (!rc) rc = fpk_h5_attr_u64(f, G, "seed", p->seed);
  if (!rc && o->girsanov_ok)
    rc = fpk_h5_attr_double(f, G, "girsanov_score_term", o->girsanov.score_term);
  if (!rc && o->girsanov_ok) rc = fpk_h5_attr_double(f, G, "girsanov_kl_prior", o->girsanov.kl_prior);
  if (!rc && !o->girsanov_ok) rc = fpk_h5_attr_string(f, G, "girsanov_note", o->girsanov_note);
  free(v);
  return rc;
}

static int ode_compute(sample_run *r, fpk_error *err) {
  int rc = ode_fit_dsm(r, err);
  if (!rc) rc = r->ode.nrungs > 1 ? ode_ladder(r, err) : compute(r, err);
  if (!rc) rc = ode_fp_check(r, err);
  return rc;
}

static int ode_write_ladder(fpk_h5 *f, const sample_run *r) {
  const ode_ext *o = &r->ode;
  const size_t n = o->nrungs, dn[1] = {n};
  double st[MAX_RUNGS], nf[MAX_RUNGS], used[MAX_RUNGS];
  for (size_t j = 0; j < n; j++)
    st[j] = (double)o->steps[j], nf[j] = (double)o->rung_nfe[j], used[j] = o->rung_used[j];
  const char *G = "/convergence";
  int rc = fpk_h5_group(f, G, "the steps ladder: every rung from the same start points; the "
                              "error against NFE and its fitted order");
  if (!rc) rc = fpk_h5_index_dim(f, "/convergence/rung", n);
  if (!rc) rc = fpk_h5_write(f, "/convergence/steps", 1, dn, st, NULL, "steps of the rung");
  if (!rc) rc = fpk_h5_write(f, "/convergence/nfe", 1, dn, nf, NULL,
                             "score evaluations per path");
  if (!rc) rc = fpk_h5_write(f, "/convergence/error", 1, dn, o->rung_err,
                             o->metric == LADDER_MAP ? "length" : NULL,
                             o->metric == LADDER_MAP
                                 ? "map_error: mean exact endpoint error over the paths"
                             : o->metric == LADDER_L1 ? "l1_error of the histogram (cells + outside)"
                                                      : "ks: KS distance to the exact CDF");
  if (!rc && o->has_map)
    rc = fpk_h5_write(f, "/convergence/error_se", 1, dn, o->rung_se, "length",
                      "standard error of map_error over the paths");
  if (!rc && !o->has_map)
    rc = fpk_h5_write(f, "/convergence/l1_floor", 1, dn, o->rung_se, NULL,
                      "the L1 an exact sample of that size has on average");
  if (!rc && r->d == 1 && !o->has_map)
    rc = fpk_h5_write(f, "/convergence/ks", 1, dn, o->rung_ks, NULL, "KS distance to the exact CDF");
  if (!rc) rc = fpk_h5_write(f, "/convergence/used", 1, dn, used, NULL,
                             "1: the rung enters the fit of the order");
  const char *vars[] = {"steps", "nfe", "error", "error_se", "l1_floor", "ks", "used"};
  for (size_t q = 0; q < 7 && !rc; q++) {
    if ((q == 3 && !o->has_map) || (q == 4 && o->has_map) || (q == 5 && (r->d != 1 || o->has_map)))
      continue;
    char path[64];
    snprintf(path, sizeof path, "/convergence/%s", vars[q]);
    rc = fpk_h5_attach_scales(f, path, "rung");
  }
  const size_t d1[1] = {1};
  double nt = o->nfe_target;
  if (!rc) rc = fpk_h5_write_undefined(f, "/convergence/nfe_to_target", 1, d1, &nt, NULL,
                                       "NFE at which the error reaches target_error (log-log "
                                       "interpolation between the bracketing rungs)",
                                       "target_error not bracketed by the rungs");
  if (!rc) rc = fpk_h5_attr_string(f, "/convergence/nfe_to_target", "note", o->target_note);
  if (!rc) rc = fpk_h5_attr_string(f, G, "metric", ladder_metrics[o->metric]);
  if (!rc) rc = fpk_h5_attr_u64(f, G, "fit_min_steps", o->fit_min_steps);
  if (!rc) rc = fpk_h5_attr_double(f, G, "target_error", o->target_error);
  if (!rc) rc = fpk_h5_attr_string(f, G, "fit_rule", o->metric == LADDER_MAP
      ? "error = C NFE^-order, ordinary least squares on log-log over the rungs with steps >= "
        "fit_min_steps (fpk_fit_order)"
      : o->metric == LADDER_L1
      ? "error = C NFE^-order, ordinary least squares on log-log over the rungs with steps >= "
        "fit_min_steps whose l1_error exceeds 3 l1_floor (fpk_fit_order)"
      : "error = C NFE^-order, ordinary least squares on log-log over the rungs with steps >= "
        "fit_min_steps whose ks exceeds 3 x 0.8687/sqrt(paths), the KS of an exact sample "
        "(fpk_fit_order)");
  if (!rc) rc = fpk_h5_attr_u64(f, G, "fit_points", o->fit_ok ? o->fit.npoints : 0);
  if (!rc && o->fit_ok) {
    rc = fpk_h5_attr_double(f, G, "order", o->fit.order);
    if (!rc) rc = fpk_h5_attr_double(f, G, "order_se", o->fit.se);
    if (!rc) rc = fpk_h5_attr_double(f, G, "order_ci_lo", o->fit.ci_lo);
    if (!rc) rc = fpk_h5_attr_double(f, G, "order_ci_hi", o->fit.ci_hi);
    if (!rc) rc = fpk_h5_attr_double(f, G, "order_level", 0.95);
  }
  if (!rc && !o->fit_ok) rc = fpk_h5_attr_string(f, G, "fit_note", o->fit_note);
  return rc;
}

static int ode_write(fpk_h5 *f, const sample_run *r) {
  const ode_ext *o = &r->ode;
  const char *S = "/sample";
  int rc = FPK_SUCCESS;
  if (o->has_map) {
    if (!rc) rc = fpk_h5_attr_double(f, S, "map_error", o->map_err);
    if (!rc) rc = fpk_h5_attr_double(f, S, "map_error_se", o->map_se);
    if (!rc) rc = fpk_h5_attr_double(f, S, "map_error_max", o->map_max);
  }
  if (!rc && o->nrungs > 1) rc = ode_write_ladder(f, r);
  if (!rc && o->fp_solver != FP_NONE) rc = ode_write_fp(f, r);
  if (!rc && o->dsm) rc = ode_write_dsm(f, r);
  if (!rc) rc = fpk_h5_attr_string(f, S, "score", r->obs_dps ? "dps" : score_models[o->score_model]);
  return rc;
}

static void ode_print(const sample_run *r) {
  const ode_ext *o = &r->ode;
  if (o->nrungs > 1) {
    printf("ladder      %s per rung:", o->metric == LADDER_MAP ? "map error"
                                         : o->metric == LADDER_L1 ? "L1" : "KS");
    for (size_t j = 0; j < o->nrungs; j++)
      printf(" %.3g (NFE %zu)%s", o->rung_err[j], o->rung_nfe[j], o->rung_used[j] ? "" : "*");
    if (o->fit_ok)
      printf("\norder       %.3f [%.3f, %.3f] (95%%), NFE to %g: %.4g\n", o->fit.order,
             o->fit.ci_lo, o->fit.ci_hi, o->target_error, o->nfe_target);
    else
      printf("\norder       none: %s\n", o->fit_note);
  }
  if (o->dsm) {
    size_t L;
    const fpk_dsm_level *lv = fpk_dsm_levels(o->dsm, &L);
    double worst = 0;
    for (size_t l = 0; l < L; l++)
      worst = fmax(worst, (lv[l].valid_loss - lv[l].exact_loss) / fabs(lv[l].exact_loss));
    printf("dsm score   %zu levels: held-out loss at most %.3g%% above the exact score's; ", L,
           100 * worst);
    if (o->girsanov_ok) printf("Girsanov term %.4g\n", o->girsanov.score_term);
    else printf("Girsanov term %s\n", o->girsanov_note);
  }
  if (o->fp_solver != FP_NONE)
    printf("fp check    %s, eta %g, dt %g, %s score: L1 to the exact p_tmin %.3g, KL(p_tmin | "
           "fp) %.4g, mass %.12g\n", fp_solvers[o->fp_solver], o->fp_eta, o->fp_dt,
           o->dsm ? "dsm" : r->obs_dps ? "dps" : "exact", o->fp_l1, o->fp_kl, o->fp_mass);
  if (o->has_map)
    printf("map error   %.4g +- %.2g (mean over paths, SE), max %.4g (exact map F_tmin^-1 o "
           "F_tmax)\n", o->map_err, o->map_se, o->map_max);
}

static void ode_release(sample_run *r) {
  free(r->ode.x0), free(r->ode.fp_density), free(r->ode.dsm_jstar);
  fpk_dsm_free(r->ode.dsm);
  r->ode.x0 = NULL, r->ode.fp_density = NULL, r->ode.dsm_jstar = NULL, r->ode.dsm = NULL;
}
/* ==== end of h14-ode =========================================================================== */


/* ==== family = langevin and [observation] (issue 14 parts 2 and 7) ===========================
 * Langevin: the samplers of fpkit/diffusion.h "Langevin samplers" (fpk_lmc_*) on the data law
 * p_0 itself, with its exact score (fpk_lmc_gmm: ula, mala; annealed uses the exact score of p_0
 * convolved with N(0, σ_i² I)). Step convention (Song & Ermon 2019, Algorithm 1):
 * x ← x + (α/2)∇log p + √α z, annealed α_i = ε σ_i²/σ_L² on geometric σ_1 = sigma_max → σ_L =
 * sigma_min. There is no schedule: [schedule] is refused, t_min = t_max = 0, the target is p_0.
 * [observation]: y = H x0 + e, e ~ N(0, noise² I); the target becomes the exact posterior mixture
 * (fpk_posterior_params), whose arrays replace the data's in r->w, r->mu, r->S (the data law is
 * kept in r->prior_*, written to /data), so every exact quantity below (start = exact, the target
 * cells, the ancestral transitions) is the posterior's. score = dps swaps the exact noised
 * posterior score for the DPS approximation of the prior's (fpk_dps_score_field). */

static const char *const lmc_methods[] = {"ula", "mala", "annealed", NULL};
static const char *const obs_scores[] = {"exact", "dps", NULL};

/* Checks that need the family before [schedule] is read: langevin has no schedule, and the
 * [sample] start must be one of the family's. */
static int read_extras(fpk_config *c, sample_run *r, fpk_error *err) {
  size_t fam = 0, st = 0;
  int rc;
  if ((rc = fpk_config_choice(c, "sampler", "family", 0, families, &fam, err)) ||
      (rc = fpk_config_choice(c, "sample", "start", 0, starts, &st, err)))
    return rc;
  r->family = fam;
  if (fam == FAMILY_LANGEVIN) {
    static const char *const sk[] = {"type", "T", "theta", "sigma", "beta_min", "beta_max",
                                     "s", "sigma_min", "sigma_max", NULL};
    for (size_t i = 0; sk[i]; i++)
      if (fpk_config_has(c, "schedule", sk[i]))
        return fpk_config_invalid(c, "schedule", sk[i], err, "family = langevin samples the "
                                  "data law p_0 directly and has no noising schedule: remove "
                                  "[schedule] (the noise levels are [sampler] sigma_max, "
                                  "sigma_min of method = annealed)");
    r->stype = fpk_schedule_vp_linear; /* not used: the target time is 0 */
    fpk_schedule_params_init(&r->sp);
    if (st == 1)
      return fpk_config_invalid(c, "sample", "start", err, "prior is N(0, b_tmax^2 I) of the "
                                "diffusion families; family = langevin starts from exact "
                                "(draws of the target) or uniform (over the [grid] box)");
  } else if (st == 2) {
    return fpk_config_invalid(c, "sample", "start", err, "uniform (over the [grid] box) is a "
                              "start of family = langevin; %s starts from exact or prior",
                              families[fam]);
  }
  return FPK_SUCCESS;
}

static int read_langevin(fpk_config *c, sample_run *r, fpk_error *err) {
  int rc;
  size_t mi = 0;
  if ((rc = fpk_config_choice(c, "sampler", "method", 0, lmc_methods, &mi, err))) return rc;
  r->lmc = fpk_lmc_find(lmc_methods[mi]);
  r->sde = NULL;
  fpk_lmc_params *p = &r->lp;
  fpk_lmc_params_init(p);
  size_t total;
  if (r->lmc == fpk_lmc_annealed) {
    size_t L = 10, T = 100;
    double eps = 2e-5;
    if ((rc = fpk_config_size(c, "sampler", "levels", 0, 1, 100000, &L, err)) ||
        /* one level is σ_min alone: sigma_max is then an unknown key, not a silent one */
        (L > 1 && (rc = fpk_config_double(c, "sampler", "sigma_max", 0, 0.0, 1, INFINITY,
                                          &p->sigma_max, err))) ||
        (rc = fpk_config_double(c, "sampler", "sigma_min", 0, 0.0, 1, INFINITY, &p->sigma_min,
                                err)) ||
        (rc = fpk_config_size(c, "sampler", "steps_per_level", 0, 1, 1000000000, &T, err)) ||
        (rc = fpk_config_double(c, "sampler", "eps", 0, 0.0, 1, INFINITY, &eps, err)))
      return rc;
    if (L == 1) p->sigma_max = p->sigma_min;
    if (L > 1 && !(p->sigma_max > p->sigma_min))
      return fpk_config_invalid(c, "sampler", "sigma_min", err, "sigma_min = %g must be below "
                                "sigma_max = %g: the noise levels decrease geometrically from "
                                "sigma_max to sigma_min", p->sigma_min, p->sigma_max);
    p->n_levels = L, p->n_iter = T, p->step = eps;
    total = L * T;
  } else {
    p->step = 0.01, p->n_iter = 1000;
    if ((rc = fpk_config_double(c, "sampler", "step", 0, 0.0, 1, INFINITY, &p->step, err)) ||
        (rc = fpk_config_size(c, "sampler", "iterations", 0, 1, 1000000000, &p->n_iter, err)))
      return rc;
    total = p->n_iter;
  }
  r->record = 10;
  if ((rc = fpk_config_size(c, "sampler", "record", 0, 0, 100000, &r->record, err))) return rc;
  /* the diffusion parameters the rest of the command reads: target time 0 (the data law) */
  fpk_pfode_params_init(&r->pp);
  r->pp.sampler = r->lmc->name;
  r->pp.t_min = 0, r->pp.t_max = 0;
  r->pp.steps = total;
  r->pp.denoise = 0;
  r->pp.dim = r->d;
  return FPK_SUCCESS;
}

/* [observation]: read after [sampler] (dps needs the method), before the [grid] checks (which
 * then see the posterior's covariances). */
static int read_observation(fpk_config *c, sample_run *r, fpk_error *err) {
  static const char *const ok[] = {"H", "y", "noise", "score", NULL};
  int any = 0, rc;
  for (size_t i = 0; ok[i]; i++) any |= fpk_config_has(c, "observation", ok[i]);
  if (!any) return FPK_SUCCESS;
  /* checked first: the reader's "did you mean" for a missing required key would point at a
   * present one of a similar name ('y' for 'H') */
  for (size_t i = 0; i < 3; i++)
    if (!fpk_config_has(c, "observation", ok[i]))
      return fpk_error_set(err, FPK_EINVAL, "%s: [observation] %s is required but missing: "
                           "[observation] needs H, y and noise", fpk_config_name(c), ok[i]);
  const size_t d = r->d;
  size_t nh = 0, ny = 0, sc = 0;
  double H[4], y[2];
  if ((rc = fpk_config_double_list(c, "observation", "H", 1, 4, H, &nh, err))) return rc;
  if (nh % d)
    return fpk_config_invalid(c, "observation", "H", err, "%zu numbers: H is m x d row-major "
                              "with d = %zu columns (the data's dim): need a multiple of %zu",
                              nh, d, d);
  const size_t m = nh / d;
  if (m > d)
    return fpk_config_invalid(c, "observation", "H", err, "%zu rows of %zu: at most d = %zu "
                              "observations", m, d, d);
  if ((rc = fpk_config_double_list(c, "observation", "y", 1, 2, y, &ny, err))) return rc;
  if (ny != m)
    return fpk_config_invalid(c, "observation", "y", err, "%zu values for the m = %zu rows of H",
                              ny, m);
  if ((rc = fpk_config_double(c, "observation", "noise", 1, 0.0, 1, INFINITY, &r->obs_noise,
                              err)))
    return rc;
  if (r->family == FAMILY_LANGEVIN) {
    if (fpk_config_has(c, "observation", "score"))
      return fpk_config_invalid(c, "observation", "score", err, "family = langevin samples the "
                                "posterior with its exact score (at t = 0, where DPS is exact "
                                "too): remove score");
  } else if ((rc = fpk_config_choice(c, "observation", "score", 0, obs_scores, &sc, err))) {
    return rc;
  }
  if (sc == 1 && r->sde == fpk_revsde_ancestral && r->exact_transitions)
    return fpk_config_invalid(c, "observation", "score", err, "dps with method = ancestral and "
                              "exact_transitions = true: the exact transitions use the exact "
                              "posterior, not a score; set [sampler] exact_transitions = false");
  r->has_obs = 1, r->obs_dps = sc == 1, r->obs_m = m;
  memcpy(r->obs_H, H, nh * sizeof(double));
  memcpy(r->obs_y, y, m * sizeof(double));
  const size_t K = r->K;
  memcpy(r->prior_w, r->w, K * sizeof(double));
  memcpy(r->prior_mu, r->mu, K * d * sizeof(double));
  memcpy(r->prior_S, r->S, K * d * d * sizeof(double));
  fpk_error e = {0};
  if (fpk_posterior_params(d, K, r->prior_w, r->prior_mu, r->prior_S, m, H, y, r->obs_noise,
                           r->w, r->mu, r->S, &e))
  {
    /* the key at fault: H named by the message, or so large that H Σ Hᵀ overflows */
    double hmax = 0;
    for (size_t q = 0; q < nh; q++) hmax = fmax(hmax, fabs(H[q]));
    return fpk_config_invalid(c, "observation",
                              strstr(e.msg, "H[") || hmax > 1e100 ? "H"
                              : strstr(e.msg, "y[")               ? "y"
                                                                  : "noise",
                              err, "%s", e.msg);
  }
  /* a weight that underflowed (y far in a component's tail): the smallest normal double, as
   * fpk_posterior_gmm does, so that the mixture stays valid and no sum changes */
  for (size_t k = 0; k < K; k++)
    if (r->w[k] == 0) r->w[k] = DBL_MIN;
  return FPK_SUCCESS;
}

/* The score of the diffusion samplers: the exact one (the caller's default: the target mixture,
 * with [observation] the posterior) or DPS on the prior. */
static int pick_score(sample_run *r, const fpk_schedule *s, fpk_score_fn *fn, void **user,
                      fpk_error *err) {
  if (!r->has_obs || !r->obs_dps) return FPK_SUCCESS;
  fpk_gmm_free(r->prior_gmm); /* compute() may run more than once (a ladder of steps) */
  r->prior_gmm = fpk_gmm_alloc(r->d, r->K, r->prior_w, r->prior_mu, r->prior_S, err);
  if (!r->prior_gmm) return err->status;
  r->dps = (fpk_dps_problem){r->prior_gmm, s, r->obs_m, r->obs_H, r->obs_y, r->obs_noise};
  *fn = fpk_dps_score_field;
  *user = &r->dps;
  return FPK_SUCCESS;
}

/* The trace: the histogram's distance to the exact cells (the same L1 as /sample l1_error, on
 * the cells and the outside of the box; TV = L1/2) and the mode weights (fpk_sample_mode_weights:
 * each point to the component of largest responsibility). Called between iterations, on the
 * calling thread. */
typedef struct lmc_trace_ctx {
  sample_run *r;
  const double *cells; /* [N] exact cell probabilities */
  double pout;         /* the target's mass outside the box */
  double *hist;        /* [N] scratch */
  size_t k, cap;
} lmc_trace_ctx;

static double hist_l1(const sample_run *r, const double *cells, double pout, size_t n,
                      const double *x, double *hist) {
  const size_t d = r->d, N = r->grid.size;
  memset(hist, 0, N * sizeof(double));
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    size_t cell = 0, stride = 1;
    int in = 1;
    for (size_t c = 0; c < d; c++) {
      const double u = (x[c * n + i] - r->grid.lo[c]) / r->grid.h[c];
      if (!(u >= 0 && u < (double)r->grid.n[c])) in = 0;
      else cell += (size_t)u * stride;
      stride *= r->grid.n[c];
    }
    if (in) hist[cell] += 1;
    else out++;
  }
  double l1 = fabs((double)out / (double)n - pout);
  for (size_t j = 0; j < N; j++) l1 += fabs(hist[j] / (double)n - cells[j]);
  return l1;
}

static int lmc_trace(size_t dim, size_t n, const double *x, double *value, void *user) {
  lmc_trace_ctx *t = user;
  sample_run *r = t->r;
  if (t->k >= t->cap) return -1;
  const double tv = 0.5 * hist_l1(r, t->cells, t->pout, n, x, t->hist);
  if (fpk_sample_mode_weights(dim, r->K, r->w, r->mu, r->S, n, x, r->tr_mw + t->k * r->K,
                              r->tr_se + t->k * r->K, NULL))
    return -1;
  r->tr_tv[t->k++] = tv;
  *value = tv;
  return 0;
}

static int run_langevin(sample_run *r, const fpk_gmm *m, fpk_error *err) {
  const size_t n = r->npaths, d = r->d, N = r->grid.size, K = r->K;
  double *x = r->x;
  /* start: exact draws of the target (only the sampler's error remains), or uniform over the
   * [grid] box (Song & Ermon 2019's initialisation), from the seed's Philox paths */
  if (r->start == 0) {
    fpk_gmm_sample(m, r->seed, 0, n, x);
  } else {
    for (size_t i = 0; i < n; i++) {
      double z[3];
      fpk_rng_normals(r->seed, i, 0, d, z);
      for (size_t c = 0; c < d; c++)
        x[c * n + i] = r->grid.lo[c] + (r->grid.hi[c] - r->grid.lo[c]) * 0.5 *
                                           erfc(-z[c] * M_SQRT1_2);
    }
  }
  const int annealed = r->lmc == fpk_lmc_annealed;
  fpk_lmc_gmm *a = fpk_lmc_gmm_alloc(m, annealed ? r->lp.sigma_max : 1, err);
  if (!a) return err->status;
  fpk_lmc_target tg = fpk_lmc_gmm_target(a);
  fpk_lmc_params p = r->lp;
  p.seed = r->seed + SDE_SEED_OFFSET; /* the start used the seed's own paths */
  const size_t total = annealed ? p.n_levels * p.n_iter : p.n_iter;
  double *cells = NULL, *hist = NULL, *xc = NULL;
  lmc_trace_ctx tc = {r, NULL, 0, NULL, 0, 0};
  int rc = FPK_SUCCESS;
  cells = malloc(N * sizeof(double));
  hist = malloc(N * sizeof(double));
  xc = malloc(d * N * sizeof(double));
  if (!cells || !hist || !xc) {
    rc = fpk_error_set(err, FPK_ENOMEM, "langevin: out of memory for %zu cells", N);
    goto done;
  }
  {
    /* the exact cells of p_0 (as compute() does for /target: 1D by the CDF, 2D density x volume) */
    if (d == 1) {
      double Flo = cdf1(r, NULL, 0, r->grid.lo[0]);
      for (size_t i = 0; i < N; i++) {
        const double Fhi = cdf1(r, NULL, 0, r->grid.lo[0] + (double)(i + 1) * r->grid.h[0]);
        cells[i] = Fhi - Flo;
        Flo = Fhi;
      }
    } else {
      for (size_t i = 0; i < N; i++) {
        double pt[2];
        fpk_grid_point(&r->grid, i, pt);
        for (size_t c = 0; c < d; c++) xc[c * N + i] = pt[c];
      }
      if ((rc = fpk_gmm_eval(m, NULL, 0, N, xc, cells, NULL, NULL, NULL, err))) goto done;
      for (size_t i = 0; i < N; i++) cells[i] = exp(cells[i]) * r->grid.cell_volume;
    }
    double pin = 0;
    for (size_t i = 0; i < N; i++) pin += cells[i];
    tc.cells = cells, tc.hist = hist, tc.pout = pin < 1 ? 1 - pin : 0;
    /* The target's mode weights by the same rule (each cell to the most responsible component at
     * its centre), normalised by the mass in the box: equal to the mixture weights only for
     * well-separated components (overlapping ones give the larger component the overlap). */
    for (size_t k = 0; k < K; k++) r->tmw[k] = 0;
    for (size_t i = 0; i < N; i++) {
      double pt[2], one[MAX_K];
      fpk_grid_point(&r->grid, i, pt);
      if ((rc = fpk_sample_mode_weights(d, K, r->w, r->mu, r->S, 1, pt, one, NULL, err)))
        goto done;
      for (size_t k = 0; k < K; k++) r->tmw[k] += one[k] * cells[i] / pin;
    }
  }
  free(r->tr_tv), free(r->tr_iter), free(r->tr_mw), free(r->tr_se); /* an earlier compute()'s */
  r->tr_tv = r->tr_iter = r->tr_mw = r->tr_se = NULL;
  r->ntrace = 0;
  if (r->record) {
    p.trace_every = (total + r->record - 1) / r->record;
    tc.cap = total / p.trace_every + 2;
    r->tr_tv = malloc(tc.cap * sizeof(double));
    r->tr_iter = malloc(tc.cap * sizeof(double));
    r->tr_mw = malloc(tc.cap * K * sizeof(double));
    r->tr_se = malloc(tc.cap * K * sizeof(double));
    if (!r->tr_tv || !r->tr_iter || !r->tr_mw || !r->tr_se) {
      rc = fpk_error_set(err, FPK_ENOMEM, "langevin: out of memory for the trace");
      goto done;
    }
    p.metric = lmc_trace;
    p.metric_user = &tc;
  }
  fpk_lmc_result res = {0};
  if ((rc = fpk_lmc_run(r->lmc, &tg, &p, n, x, &res, err))) goto done;
  r->ntrace = tc.k;
  for (size_t j = 0; j < res.n_trace && j < tc.k; j++) r->tr_iter[j] = (double)res.trace_iter[j];
  r->acceptance = res.acceptance;
  /* score evaluations per path: one per step (mala: its proposals', plus the start's) */
  r->nfe = total + (r->lmc == fpk_lmc_mala);
  fpk_lmc_result_free(&res);
  rc = fpk_sample_mode_weights(d, K, r->w, r->mu, r->S, n, x, r->mw, r->mw_se, err);
done:
  free(cells), free(hist), free(xc);
  fpk_lmc_gmm_free(a);
  return rc;
}

static int write_extras(fpk_h5 *f, const sample_run *r) {
  const size_t d = r->d, K = r->K;
  const size_t dk[1] = {K};
  const char *S = "/sample";
  int rc = FPK_SUCCESS;
  if (r->family == FAMILY_LANGEVIN) {
    const fpk_lmc_params *p = &r->lp;
    if (r->lmc == fpk_lmc_annealed) {
      if (!rc) rc = fpk_h5_attr_double(f, S, "eps", p->step);
      if (!rc) rc = fpk_h5_attr_u64(f, S, "levels", p->n_levels);
      if (!rc) rc = fpk_h5_attr_u64(f, S, "steps_per_level", p->n_iter);
      if (!rc) rc = fpk_h5_attr_double(f, S, "sigma_max", p->sigma_max);
      if (!rc) rc = fpk_h5_attr_double(f, S, "sigma_min", p->sigma_min);
    } else {
      if (!rc) rc = fpk_h5_attr_double(f, S, "step", p->step);
    }
    if (!rc) rc = fpk_h5_attr_u64(f, S, "iterations", r->pp.steps);
    if (!rc) rc = fpk_h5_attr_double(f, S, "acceptance", r->acceptance);
    if (!rc) rc = fpk_h5_write(f, "/sample/mode_weight", 1, dk, r->mw, NULL,
                               "fraction of the points whose most responsible target component "
                               "is this one");
    if (!rc) rc = fpk_h5_attach_scales(f, "/sample/mode_weight", "mixture_component");
    if (!rc) rc = fpk_h5_write(f, "/sample/mode_weight_se", 1, dk, r->mw_se, NULL,
                               "binomial standard error sqrt(w (1 - w) / paths)");
    if (!rc) rc = fpk_h5_attach_scales(f, "/sample/mode_weight_se", "mixture_component");
    if (!rc) rc = fpk_h5_write(f, "/target/mode_weight", 1, dk, r->tmw, NULL,
                               "the target's mode weights by the same rule, on the grid (each "
                               "cell to the component most responsible at its centre; the mass "
                               "in the box normalised to 1)");
    if (!rc) rc = fpk_h5_attach_scales(f, "/target/mode_weight", "mixture_component");
    if (r->ntrace) {
      const size_t nt[1] = {r->ntrace}, ntk[2] = {r->ntrace, K};
      if (!rc) rc = fpk_h5_group(f, "/trace", "snapshots along the Langevin iterations");
      if (!rc) rc = fpk_h5_index_dim(f, "/trace/snapshot", r->ntrace);
      if (!rc) rc = fpk_h5_write(f, "/trace/iteration", 1, nt, r->tr_iter, NULL,
                                 "iterations done (0: the start)");
      if (!rc) rc = fpk_h5_attach_scales(f, "/trace/iteration", "snapshot");
      if (!rc) rc = fpk_h5_write(f, "/trace/tv", 1, nt, r->tr_tv, NULL,
                                 "total variation to the exact cell probabilities: half the L1 "
                                 "of /sample l1_error (cells and outside)");
      if (!rc) rc = fpk_h5_attach_scales(f, "/trace/tv", "snapshot");
      if (!rc) rc = fpk_h5_write(f, "/trace/mode_weight", 2, ntk, r->tr_mw, NULL,
                                 "mode weights at the snapshot");
      if (!rc) rc = fpk_h5_attach_scales(f, "/trace/mode_weight", "snapshot mixture_component");
      if (!rc) rc = fpk_h5_write(f, "/trace/mode_weight_se", 2, ntk, r->tr_se, NULL,
                                 "their binomial standard errors");
      if (!rc) rc = fpk_h5_attach_scales(f, "/trace/mode_weight_se",
                                         "snapshot mixture_component");
    }
  }
  if (r->has_obs) {
    const size_t dkd[2] = {K, d}, dkdd[3] = {K, d, d}, dm[1] = {r->obs_m}, dmd[2] = {r->obs_m, d};
    const char *P = "/posterior";
    if (!rc) rc = fpk_h5_group(f, P, "the exact posterior of y = H x0 + e, e ~ N(0, noise^2 I), "
                                     "under the /data prior: the target");
    if (!rc) rc = fpk_h5_write(f, "/posterior/weights", 1, dk, r->w, NULL, "posterior weights");
    if (!rc) rc = fpk_h5_attach_scales(f, "/posterior/weights", "mixture_component");
    if (!rc) rc = fpk_h5_write(f, "/posterior/means", 2, dkd, r->mu, "length", "posterior means");
    if (!rc) rc = fpk_h5_attach_scales(f, "/posterior/means", "mixture_component component");
    if (!rc) rc = fpk_h5_write(f, "/posterior/covs", 3, dkdd, r->S, "length^2",
                               "posterior covariances");
    if (!rc) rc = fpk_h5_attach_scales(f, "/posterior/covs",
                                       "mixture_component component component2");
    if (!rc) rc = fpk_h5_index_dim(f, "/posterior/observation", r->obs_m);
    if (!rc) rc = fpk_h5_write(f, "/posterior/H", 2, dmd, r->obs_H, NULL,
                               "observation matrix (m x dim)");
    if (!rc) rc = fpk_h5_attach_scales(f, "/posterior/H", "observation component");
    if (!rc) rc = fpk_h5_write(f, "/posterior/y", 1, dm, r->obs_y, "length", "the observation");
    if (!rc) rc = fpk_h5_attach_scales(f, "/posterior/y", "observation");
    if (!rc) rc = fpk_h5_attr_double(f, P, "noise", r->obs_noise);
    if (!rc) rc = fpk_h5_attr_string(f, P, "score", r->obs_dps ? "dps" : "exact");
  }
  return rc;
}

static void print_langevin(const sample_run *r) {
  printf("sample      %zuD mixture of %zu%s, langevin %s, %zu iterations", r->d, r->K,
         r->has_obs ? " (the posterior)" : "", r->lmc->name, r->pp.steps);
  if (r->lmc == fpk_lmc_annealed)
    printf(" (%zu levels %g -> %g, %zu each, eps %g)", r->lp.n_levels, r->lp.sigma_max,
           r->lp.sigma_min, r->lp.n_iter, r->lp.step);
  else
    printf(" (step %g)", r->lp.step);
  if (r->lmc == fpk_lmc_mala) printf(", acceptance %.3f", r->acceptance);
  printf(", %zu points from %s (%.2f s)\n", r->npaths, starts[r->start], r->wall);
  printf("distance    L1 %.4f (sampling floor %.4f), outside %.2g", r->l1, r->floor_l1, r->outside);
  if (r->d == 1) printf(", KS %.4g", r->ks);
  printf("\nmode weights");
  for (size_t k = 0; k < r->K; k++)
    printf(" %.4f +- %.4f (target %.4f)", r->mw[k], r->mw_se[k], r->tmw[k]);
  printf("\nwrote %s\n", r->output);
}
/* ==== end of family = langevin and [observation] ========================================== */

static void release(sample_run *r) {
  free(r->x), free(r->target), free(r->hist), free(r->density);
  ode_release(r);
  free(r->tr_iter), free(r->tr_tv), free(r->tr_mw), free(r->tr_se);
  fpk_gmm_free(r->prior_gmm);
  fpk_config_free(r->cfg);
}

int fpk_app_sample(const fpk_run_options *opt, fpk_error *err) {
  sample_run r;
  memset(&r, 0, sizeof r);
  char dflt[1024];
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  r.cfg = fpk_app_load_config(opt, "sample", err);
  int rc = r.cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = read_config(r.cfg, opt, &r, dflt, sizeof dflt, err);
  fpk_h5 *f = NULL;
  char created[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  if (!rc && !(f = fpk_app_create_output(opt, r.output, NULL, 0, err))) rc = err->status;
  if (!rc) {
    const double t0 = omp_get_wtime();
    rc = ode_compute(&r, err);
    r.wall = omp_get_wtime() - t0;
  }
  if (!rc && (fpk_app_write_root(f, opt, fpk_config_resolved(r.cfg), "sample", created) ||
              write_results(f, &r) || fpk_app_commit_output(f, opt)))
    rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
  if (f) fpk_h5_close(f);
  if (!rc && !opt->quiet && r.family == FAMILY_LANGEVIN) print_langevin(&r);
  else if (!rc && !opt->quiet) {
    printf("sample      %zuD mixture of %zu, schedule %s, %s on %s grid, %zu steps (NFE %zu), "
           "t %g -> %g%s, %zu points from %s (%.2f s)\n", r.d, r.K, r.stype->name,
           r.sde ? r.sde->name : r.pp.sampler, r.pp.grid, r.pp.steps, r.nfe, r.pp.t_max, r.pp.t_min,
           r.pp.denoise ? " + denoise" : "", r.npaths, starts[r.start], r.wall);
    printf("distance    L1 %.4f (sampling floor %.4f), outside %.2g", r.l1, r.floor_l1, r.outside);
    if (r.d == 1) printf(", KS %.4g", r.ks);
    printf("\nmean        ");
    for (size_t c = 0; c < r.d; c++) printf("%.6g (exact %.6g) ", r.mean[c], r.tmean[c]);
    printf("\n");
    ode_print(&r);
    printf("wrote %s\n", r.output);
  }
  release(&r);
  return rc;
}
