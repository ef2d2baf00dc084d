/* Kramers–Moyal estimation of drift and diffusion from paths (fpkit/km.h, docs/km.md).
 *
 * Per bin the accumulator holds sums over windows [t, t + 2τ] of each path (non-overlapping):
 * the window's origin x = X(t), a = X(t + τ) − x and c = X(t + 2τ) − x. From them, per window,
 *   raw drift      a/τ                    corrected   2a/τ − c/(2τ)
 *   raw diffusion  a_i a_j/(2τ)           corrected   a_i a_j/τ − c_i c_j/(4τ)
 * (the corrected values are Richardson's 2 f(τ) − f(2τ) of the raw ones at τ and 2τ: the
 * conditional moments are M_n(τ)/τ = n!·D_n + τ·C_n(x) + O(τ²) by the Itô–Taylor expansion of
 * E[f(X_τ) | X_0 = x] = f + τ L f + τ²/2 L² f + …, so the O(τ) term cancels; docs/km.md), and
 * the even powers a², a⁴, a⁶, a⁸ per component for K4 and the Pawula ratio with their intervals.
 * A window is one sample of each per-window value; the per-bin mean is the estimate, the sample
 * variance over the bin's windows its standard error. Because windows do not overlap and the
 * process is Markov, the residual of a window given its origin has zero mean given everything
 * before the window: the residuals are martingale differences, uncorrelated, and the usual
 * variance of a mean applies (overlapping windows would need a batch-means variance). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "fpkit/km.h"

/* Blocks accumulated in parallel per round, each into its own scratch; the round's scratch is
 * added to the total in block order, so the sums do not depend on the thread count. */
#define KM_ROUND_BLOCKS 16
/* Most standard normals one step may take: 2 rows (Milstein, SRA1, OBABO) of FPK_MAX_NOISE. */
#define KM_MAX_NORMALS (2 * FPK_MAX_NOISE)

struct fpk_km {
  fpk_grid grid;
  size_t dim, npairs;
  double dt, tau;
  size_t lag, min_count;
  size_t nq;    /* per-window values with a sum and a sum of squares */
  size_t nstat; /* doubles per bin */
  double *acc;  /* [cells][nstat] */
  size_t windows, outside;
  fpk_error err;
};

/* Layout of one bin's statistics. */
static size_t km_off_xsum(void) { return 1; }
static size_t km_off_q(const fpk_km *km) { return 1 + km->dim; }
static size_t km_off_pow(const fpk_km *km) { return 1 + km->dim + 2 * km->nq; }
/* per-window value indices */
static size_t km_q_raw_d1(size_t c) { return c; }
static size_t km_q_cor_d1(const fpk_km *km, size_t c) { return km->dim + c; }
static size_t km_q_raw_d2(const fpk_km *km, size_t p) { return 2 * km->dim + p; }
static size_t km_q_cor_d2(const fpk_km *km, size_t p) { return 2 * km->dim + km->npairs + p; }

int fpk_km_correction_parse(const char *s, fpk_km_correction *c) {
  if (s && strcmp(s, "none") == 0) {
    *c = FPK_KM_CORRECTION_NONE;
    return FPK_SUCCESS;
  }
  if (s && strcmp(s, "first-order") == 0) {
    *c = FPK_KM_CORRECTION_FIRST_ORDER;
    return FPK_SUCCESS;
  }
  return FPK_EINVAL;
}

const char *fpk_km_correction_name(fpk_km_correction c) {
  return c == FPK_KM_CORRECTION_FIRST_ORDER ? "first-order" : "none";
}

fpk_km *fpk_km_alloc(const fpk_grid *g, const fpk_km_params *p, fpk_error *err) {
  if (!g || !p) {
    fpk_error_set(err, FPK_EINVAL, "Kramers-Moyal: NULL grid or parameters");
    return NULL;
  }
  if (g->dim < 1 || g->dim > 2) {
    fpk_error_set(err, FPK_EUNSUP,
                  "Kramers-Moyal: a %zuD grid; the estimator bins 1D and 2D states", g->dim);
    return NULL;
  }
  if (!(p->dt > 0.0) || !isfinite(p->dt)) {
    fpk_error_set(err, FPK_EINVAL, "Kramers-Moyal: dt = %g: need a positive finite sampling "
                  "interval", p->dt);
    return NULL;
  }
  if (p->lag < 1 || p->lag > ((size_t)1 << 40)) {
    fpk_error_set(err, FPK_EINVAL, "Kramers-Moyal: lag = %zu samples: need 1 <= lag", p->lag);
    return NULL;
  }
  fpk_km *km = calloc(1, sizeof *km);
  if (!km) {
    fpk_error_set(err, FPK_ENOMEM, "Kramers-Moyal: out of memory");
    return NULL;
  }
  km->grid = *g;
  km->dim = g->dim;
  km->npairs = g->dim * (g->dim + 1) / 2;
  km->dt = p->dt;
  km->lag = p->lag;
  km->tau = (double)p->lag * p->dt;
  km->min_count = p->min_count ? p->min_count : 100;
  if (km->min_count < 2) km->min_count = 2; /* a sample variance needs two windows */
  km->nq = 2 * km->dim + 2 * km->npairs;
  km->nstat = 1 + km->dim + 2 * km->nq + 4 * km->dim;
  km->acc = calloc(g->size * km->nstat, sizeof(double));
  if (!km->acc) {
    free(km);
    fpk_error_set(err, FPK_ENOMEM, "Kramers-Moyal: out of memory for %zu bins", g->size);
    return NULL;
  }
  return km;
}

void fpk_km_free(fpk_km *km) {
  if (!km) return;
  free(km->acc);
  free(km);
}

const fpk_error *fpk_km_error(const fpk_km *km) { return km ? &km->err : NULL; }
const fpk_grid *fpk_km_grid(const fpk_km *km) { return km ? &km->grid : NULL; }
size_t fpk_km_windows(const fpk_km *km) { return km ? km->windows : 0; }
size_t fpk_km_outside(const fpk_km *km) { return km ? km->outside : 0; }

/* The bin of state x (dim components), or (size_t)-1 outside the grid. Periodic axes wrap. */
static size_t km_bin(const fpk_grid *g, const double *x) {
  size_t flat = 0, stride = 1;
  for (size_t a = 0; a < g->dim; a++) {
    double u = (x[a] - g->lo[a]) / g->h[a];
    if (g->bc[a] == FPK_BC_PERIODIC) u -= (double)g->n[a] * floor(u / (double)g->n[a]);
    if (!(u >= 0.0) || u >= (double)g->n[a]) return (size_t)-1;
    size_t i = (size_t)u;
    if (i >= g->n[a]) i = g->n[a] - 1;
    flat += i * stride;
    stride *= g->n[a];
  }
  return flat;
}

/* Adds one window (origin x, increments a over τ and c over 2τ) into the scratch acc.
 * Returns 1 when the origin lies in the grid. */
static int km_window(const fpk_km *km, double *acc, const double *x, const double *a,
                     const double *c) {
  const size_t d = km->dim, b = km_bin(&km->grid, x);
  if (b == (size_t)-1) return 0;
  double *s = acc + b * km->nstat;
  s[0] += 1.0;
  double centre[FPK_MAX_DIM];
  fpk_grid_point(&km->grid, b, centre);
  /* the origin's offset from the bin centre; on a periodic axis the origin of an unwrapped path
   * may lie periods away from the bin it was wrapped into, and x_mean (where the estimate is
   * attributed and the truth evaluated) must be the wrapped mean, inside the bin */
  for (size_t i = 0; i < d; i++) {
    double off = x[i] - centre[i];
    if (km->grid.bc[i] == FPK_BC_PERIODIC) {
      const double L = km->grid.hi[i] - km->grid.lo[i];
      off -= L * floor(off / L + 0.5);
    }
    s[km_off_xsum() + i] += off;
  }
  double q[2 * FPK_MAX_DIM + 2 * 6];
  const double tau = km->tau;
  for (size_t i = 0; i < d; i++) {
    q[km_q_raw_d1(i)] = a[i] / tau;
    q[km_q_cor_d1(km, i)] = 2.0 * a[i] / tau - c[i] / (2.0 * tau);
  }
  size_t p = 0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = i; j < d; j++, p++) {
      q[km_q_raw_d2(km, p)] = a[i] * a[j] / (2.0 * tau);
      q[km_q_cor_d2(km, p)] = a[i] * a[j] / tau - c[i] * c[j] / (4.0 * tau);
    }
  double *sq = s + km_off_q(km);
  for (size_t k = 0; k < km->nq; k++) {
    sq[2 * k] += q[k];
    sq[2 * k + 1] += q[k] * q[k];
  }
  double *sp = s + km_off_pow(km);
  for (size_t i = 0; i < d; i++) {
    const double a2 = a[i] * a[i], a4 = a2 * a2;
    sp[4 * i] += a2;
    sp[4 * i + 1] += a4;
    sp[4 * i + 2] += a4 * a2;
    sp[4 * i + 3] += a4 * a4;
  }
  return 1;
}

/* total += the first nblocks scratch arrays, in order, each zeroed afterwards. */
static void km_reduce(fpk_km *km, double *scratch, size_t nblocks, const size_t *in,
                      const size_t *out) {
  const size_t len = km->grid.size * km->nstat;
  for (size_t r = 0; r < nblocks; r++) {
    double *s = scratch + r * len;
    for (size_t k = 0; k < len; k++) km->acc[k] += s[k];
    memset(s, 0, len * sizeof(double));
    km->windows += in[r] + out[r];
    km->outside += out[r];
  }
}

static int km_threads(int nthreads) { return nthreads > 0 ? nthreads : omp_get_max_threads(); }

int fpk_km_add_paths(fpk_km *km, size_t npaths, size_t len, const double *x, int nthreads) {
  if (!km) return FPK_EINVAL;
  fpk_error_clear(&km->err);
  const size_t d = km->dim, k = km->lag;
  if (npaths == 0 || !x)
    return fpk_error_set(&km->err, FPK_EINVAL, "Kramers-Moyal: no paths given");
  if (len < 2 * k + 1)
    return fpk_error_set(&km->err, FPK_EINVAL,
                         "Kramers-Moyal: paths of %zu samples are too short for lag %zu: a window "
                         "needs 2*lag + 1 = %zu samples (lower the lag or give longer series)",
                         len, k, 2 * k + 1);
  for (size_t p = 0; p < npaths; p++)
    for (size_t j = 0; j < len; j++)
      for (size_t c = 0; c < d; c++)
        if (!isfinite(x[(p * len + j) * d + c]))
          return fpk_error_set(&km->err, FPK_ENUMERIC,
                               "Kramers-Moyal: sample %zu of path %zu (component %zu) is %g: "
                               "every sample must be finite (nothing was added)",
                               j, p, c, x[(p * len + j) * d + c]);
  const size_t nwin = (len - 1) / (2 * k);
  const size_t nblocks = (npaths + FPK_KM_BLOCK_PATHS - 1) / FPK_KM_BLOCK_PATHS;
  const size_t binlen = km->grid.size * km->nstat;
  double *scratch = calloc(KM_ROUND_BLOCKS * binlen, sizeof(double));
  if (!scratch)
    return fpk_error_set(&km->err, FPK_ENOMEM, "Kramers-Moyal: out of memory for the blocks");
  size_t in[KM_ROUND_BLOCKS], out[KM_ROUND_BLOCKS];
  for (size_t b0 = 0; b0 < nblocks; b0 += KM_ROUND_BLOCKS) {
    const size_t nb = nblocks - b0 < KM_ROUND_BLOCKS ? nblocks - b0 : KM_ROUND_BLOCKS;
#pragma omp parallel for schedule(static, 1) num_threads(km_threads(nthreads))
    for (size_t r = 0; r < nb; r++) {
      const size_t p0 = (b0 + r) * FPK_KM_BLOCK_PATHS;
      const size_t p1 = p0 + FPK_KM_BLOCK_PATHS < npaths ? p0 + FPK_KM_BLOCK_PATHS : npaths;
      double *s = scratch + r * binlen;
      size_t nin = 0, nout = 0;
      for (size_t w = 0; w < nwin; w++)
        for (size_t p = p0; p < p1; p++) {
          const double *x0 = x + (p * len + 2 * k * w) * d, *x1 = x0 + k * d, *x2 = x1 + k * d;
          double a[FPK_MAX_DIM], c[FPK_MAX_DIM];
          for (size_t i = 0; i < d; i++) {
            a[i] = x1[i] - x0[i];
            c[i] = x2[i] - x0[i];
          }
          if (km_window(km, s, x0, a, c))
            nin++;
          else
            nout++;
        }
      in[r] = nin;
      out[r] = nout;
    }
    km_reduce(km, scratch, nb, in, out);
  }
  free(scratch);
  return FPK_SUCCESS;
}

/* One block of simulated paths [p0, p0 + nb): advanced together, windows accumulated into s in
 * the order of fpk_km_add_paths (window, then path). */
static int km_sim_block(const fpk_km *km, const fpk_model *m, const fpk_gaussian *init,
                        const double *chol, const fpk_km_sim *sim,
                        const fpk_sde_stepper_type *st, size_t p0, size_t nb, double *s,
                        size_t *nin, size_t *nout, fpk_error *err) {
  /* qn normals per step at the engine's positions (fpkit/sde.h): q × m for m Brownian
   * components, so a path here is the path fpk_mc_run makes from the same seed. */
  const size_t d = km->dim, qn = fpk_sde_normals_per_step(st, m), k = km->lag;
  const size_t sub = sim->substeps ? sim->substeps : 1;
  const double h = km->dt / (double)sub;
  double *x = malloc(d * nb * sizeof(double));
  double *org = malloc(d * nb * sizeof(double));
  double *inc = malloc(d * nb * sizeof(double));
  double *z = malloc(qn * nb * sizeof(double));
  double *work = calloc(fpk_sde_work_size(st, m, nb), sizeof(double));
  double zz[KM_MAX_NORMALS];
  int rc = FPK_SUCCESS;
  if (!x || !org || !inc || !z || !work) {
    rc = fpk_error_set(err, FPK_ENOMEM, "Kramers-Moyal: out of memory for a block of paths");
    goto done;
  }
  for (size_t i = 0; i < nb; i++) {
    fpk_rng_normals(sim->seed, p0 + i, 0, d, zz);
    for (size_t c = 0; c < d; c++) {
      double v = init->mean[c];
      for (size_t j = 0; j <= c; j++) v += chol[c * d + j] * zz[j];
      x[c * nb + i] = v;
      org[c * nb + i] = v;
      if (sim->record) sim->record[(p0 + i) * (sim->nsamples + 1) * d + c] = v;
    }
  }
  for (size_t j = 1; j <= sim->nsamples; j++) {
    for (size_t u = 0; u < sub; u++) {
      const size_t step = (j - 1) * sub + u;
      for (size_t i = 0; i < nb; i++) {
        fpk_rng_normals(sim->seed, p0 + i, 3 + (uint64_t)step * qn, qn, zz);
        for (size_t r = 0; r < qn; r++) z[r * nb + i] = zz[r];
      }
      rc = st->step(m, (double)step * h, h, nb, x, z, work, err);
      if (rc) {
        fpk_error_prefix(err, "Kramers-Moyal: %s step %zu of paths %zu..%zu: ", st->name, step,
                         p0, p0 + nb - 1);
        goto done;
      }
    }
    for (size_t i = 0; i < nb; i++)
      for (size_t c = 0; c < d; c++)
        if (!isfinite(x[c * nb + i])) {
          rc = fpk_error_set(err, FPK_ENUMERIC,
                             "Kramers-Moyal: path %zu of model %s became non-finite at sample %zu "
                             "(t = %g) with %s (component %zu = %g): lower dt or raise substeps",
                             p0 + i, m->name ? m->name : "?", j, (double)j * km->dt, st->name, c,
                             x[c * nb + i]);
          goto done;
        }
    if (sim->record)
      for (size_t i = 0; i < nb; i++)
        for (size_t c = 0; c < d; c++)
          sim->record[((p0 + i) * (sim->nsamples + 1) + j) * d + c] = x[c * nb + i];
    const size_t r = j % (2 * k);
    if (r == k) {
      for (size_t i = 0; i < d * nb; i++) inc[i] = x[i] - org[i];
    } else if (r == 0) {
      for (size_t i = 0; i < nb; i++) {
        double x0[FPK_MAX_DIM], a[FPK_MAX_DIM], c2[FPK_MAX_DIM];
        for (size_t c = 0; c < d; c++) {
          x0[c] = org[c * nb + i];
          a[c] = inc[c * nb + i];
          c2[c] = x[c * nb + i] - x0[c];
        }
        if (km_window(km, s, x0, a, c2))
          (*nin)++;
        else
          (*nout)++;
      }
      memcpy(org, x, d * nb * sizeof(double));
    }
  }
done:
  free(x);
  free(org);
  free(inc);
  free(z);
  free(work);
  return rc;
}

int fpk_km_simulate(fpk_km *km, const fpk_model *model, const fpk_gaussian *init,
                    const fpk_km_sim *sim) {
  if (!km) return FPK_EINVAL;
  fpk_error_clear(&km->err);
  if (!model || !init || !sim)
    return fpk_error_set(&km->err, FPK_EINVAL, "Kramers-Moyal: NULL model, initial law or "
                         "simulation parameters");
  const size_t d = km->dim;
  const char *name = model->name ? model->name : "?";
  if (model->dim != d || init->dim != d)
    return fpk_error_set(&km->err, FPK_EINVAL,
                         "Kramers-Moyal: model %s is %zuD, the initial law %zuD and the bins %zuD",
                         name, model->dim, init->dim, d);
  if (!(model->flags & FPK_MODEL_AUTONOMOUS))
    return fpk_error_set(&km->err, FPK_EUNSUP,
                         "Kramers-Moyal: model %s is not autonomous: its conditional moments "
                         "depend on t, which binning the state alone cannot resolve", name);
  const fpk_sde_stepper_type *st = sim->stepper ? sim->stepper : fpk_sde_euler_maruyama;
  int rc = fpk_sde_stepper_check(st, model, &km->err);
  if (!rc) rc = fpk_sde_step_check(st, model, km->dt / (double)(sim->substeps ? sim->substeps : 1),
                                   &km->err);
  if (rc) return rc;
  if (fpk_sde_normals_per_step(st, model) > KM_MAX_NORMALS)
    return fpk_error_set(&km->err, FPK_EUNSUP, "Kramers-Moyal: stepper %s takes %zu normals per "
                         "step of model %s, more than %d", st->name,
                         fpk_sde_normals_per_step(st, model), name, KM_MAX_NORMALS);
  if (sim->npaths == 0)
    return fpk_error_set(&km->err, FPK_EINVAL, "Kramers-Moyal: paths = 0");
  if (sim->nsamples < 2 * km->lag)
    return fpk_error_set(&km->err, FPK_EINVAL,
                         "Kramers-Moyal: %zu samples per path are too few for lag %zu: a window "
                         "needs 2*lag = %zu (raise steps or lower the lag)",
                         sim->nsamples, km->lag, 2 * km->lag);
  const size_t sub = sim->substeps ? sim->substeps : 1;
  if ((double)sim->nsamples * (double)sub > FPK_MAX_STEPS)
    return fpk_error_set(&km->err, FPK_EINVAL, "Kramers-Moyal: %zu samples x %zu substeps "
                         "exceed %g steps per path", sim->nsamples, sub, FPK_MAX_STEPS);
  double chol[FPK_MAX_DIM * FPK_MAX_DIM] = {0};
  if (fpk_cholesky_pd(d, init->cov, chol) >= 0)
    return fpk_error_set(&km->err, FPK_EINVAL,
                         "Kramers-Moyal: the initial covariance is not positive definite (give "
                         "a point mass a small width)");
  const size_t nblocks = (sim->npaths + FPK_KM_BLOCK_PATHS - 1) / FPK_KM_BLOCK_PATHS;
  const size_t binlen = km->grid.size * km->nstat;
  double *scratch = calloc(KM_ROUND_BLOCKS * binlen, sizeof(double));
  fpk_error *errs = calloc(KM_ROUND_BLOCKS, sizeof(fpk_error));
  int *rcs = calloc(KM_ROUND_BLOCKS, sizeof(int));
  if (!scratch || !errs || !rcs) {
    free(scratch);
    free(errs);
    free(rcs);
    return fpk_error_set(&km->err, FPK_ENOMEM, "Kramers-Moyal: out of memory for the blocks");
  }
  size_t in[KM_ROUND_BLOCKS], out[KM_ROUND_BLOCKS];
  for (size_t b0 = 0; b0 < nblocks && rc == FPK_SUCCESS; b0 += KM_ROUND_BLOCKS) {
    const size_t nb = nblocks - b0 < KM_ROUND_BLOCKS ? nblocks - b0 : KM_ROUND_BLOCKS;
#pragma omp parallel for schedule(static, 1) num_threads(km_threads(sim->nthreads))
    for (size_t r = 0; r < nb; r++) {
      const size_t p0 = (b0 + r) * FPK_KM_BLOCK_PATHS;
      const size_t np = sim->npaths - p0 < FPK_KM_BLOCK_PATHS ? sim->npaths - p0
                                                              : FPK_KM_BLOCK_PATHS;
      in[r] = out[r] = 0;
      rcs[r] = km_sim_block(km, model, init, chol, sim, st, p0, np, scratch + r * binlen, &in[r],
                            &out[r], &errs[r]);
    }
    for (size_t r = 0; r < nb && rc == FPK_SUCCESS; r++)
      if (rcs[r]) rc = fpk_error_copy(&km->err, &errs[r]);
    if (rc == FPK_SUCCESS) km_reduce(km, scratch, nb, in, out);
  }
  free(scratch);
  free(errs);
  free(rcs);
  return rc;
}

void fpk_km_result_free(fpk_km_result *res) {
  if (!res) return;
  free(res->count);
  free(res->x_mean);
  double **arrays[] = {&res->d1, &res->d1_lo, &res->d1_hi, &res->d2, &res->d2_lo, &res->d2_hi,
                       &res->k4, &res->k4_lo, &res->k4_hi, &res->pawula, &res->pawula_lo,
                       &res->pawula_hi, &res->d1_true, &res->d2_true};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) free(*arrays[i]);
  memset(res, 0, sizeof *res);
}

/* Mean and 95% half-width of the mean from a sum and a sum of squares over n windows. */
static void km_mean_ci(double s1, double s2, double n, double *mean, double *half) {
  const double m = s1 / n;
  double var = (s2 - n * m * m) / (n - 1.0);
  if (var < 0.0) var = 0.0;
  *mean = m;
  *half = FPK_KM_Z95 * sqrt(var / n);
}

int fpk_km_compute(fpk_km *km, fpk_km_correction correction, fpk_km_result *res) {
  if (!km || !res) return FPK_EINVAL;
  fpk_error_clear(&km->err);
  memset(res, 0, sizeof *res);
  const size_t d = km->dim, P = km->npairs, n = km->grid.size;
  res->dim = d;
  res->cells = n;
  res->npairs = P;
  res->dt = km->dt;
  res->tau = km->tau;
  res->lag = km->lag;
  res->min_count = km->min_count;
  res->correction = correction;
  res->count = calloc(n, sizeof(uint64_t));
  res->x_mean = malloc(d * n * sizeof(double));
  double **dn[] = {&res->d1, &res->d1_lo, &res->d1_hi, &res->k4, &res->k4_lo, &res->k4_hi,
                   &res->pawula, &res->pawula_lo, &res->pawula_hi};
  int ok = res->count && res->x_mean;
  for (size_t i = 0; i < sizeof dn / sizeof dn[0]; i++) ok &= (*dn[i] = malloc(d * n * sizeof(double))) != 0;
  double **pn[] = {&res->d2, &res->d2_lo, &res->d2_hi};
  for (size_t i = 0; i < 3; i++) ok &= (*pn[i] = malloc(P * n * sizeof(double))) != NULL;
  if (!ok) {
    fpk_km_result_free(res);
    return fpk_error_set(&km->err, FPK_ENOMEM, "Kramers-Moyal: out of memory for the result");
  }
  const double tau = km->tau;
  for (size_t b = 0; b < n; b++) {
    const double *s = km->acc + b * km->nstat;
    const double N = s[0];
    res->count[b] = (uint64_t)N;
    const int valid = N >= (double)km->min_count;
    res->valid += (size_t)valid;
    double centre[FPK_MAX_DIM];
    fpk_grid_point(&km->grid, b, centre);
    for (size_t i = 0; i < d; i++)
      res->x_mean[i * n + b] = N > 0 ? centre[i] + s[km_off_xsum() + i] / N : centre[i];
    const double *sq = s + km_off_q(km), *sp = s + km_off_pow(km);
    for (size_t i = 0; i < d; i++) {
      double m = NAN, hw = NAN;
      const size_t q = correction == FPK_KM_CORRECTION_FIRST_ORDER ? km_q_cor_d1(km, i)
                                                                   : km_q_raw_d1(i);
      if (valid) km_mean_ci(sq[2 * q], sq[2 * q + 1], N, &m, &hw);
      res->d1[i * n + b] = m;
      res->d1_lo[i * n + b] = m - hw;
      res->d1_hi[i * n + b] = m + hw;
      /* K4 = E[a⁴]/(24τ); the Pawula ratio Q = m4/(3 m2²) with the delta-method variance from
       * Var m2 = (E a⁴ − m2²)/N, Var m4 = (E a⁸ − m4²)/N, Cov = (E a⁶ − m2 m4)/N. */
      double k4 = NAN, k4h = NAN, Q = NAN, Qh = NAN;
      if (valid) {
        const double m2 = sp[4 * i] / N, m4 = sp[4 * i + 1] / N, m6 = sp[4 * i + 2] / N,
                     m8 = sp[4 * i + 3] / N;
        double m4mean, m4half;
        km_mean_ci(sp[4 * i + 1], sp[4 * i + 3], N, &m4mean, &m4half);
        k4 = m4mean / (24.0 * tau);
        k4h = m4half / (24.0 * tau);
        if (m2 > 0.0) {
          Q = m4 / (3.0 * m2 * m2);
          const double g4 = 1.0 / (3.0 * m2 * m2), g2 = -2.0 * m4 / (3.0 * m2 * m2 * m2);
          double var = (g2 * g2 * (m4 - m2 * m2) + g4 * g4 * (m8 - m4 * m4) +
                        2.0 * g2 * g4 * (m6 - m2 * m4)) / N;
          Qh = FPK_KM_Z95 * sqrt(var > 0.0 ? var : 0.0);
        }
      }
      res->k4[i * n + b] = k4;
      res->k4_lo[i * n + b] = k4 - k4h;
      res->k4_hi[i * n + b] = k4 + k4h;
      res->pawula[i * n + b] = Q;
      res->pawula_lo[i * n + b] = Q - Qh;
      res->pawula_hi[i * n + b] = Q + Qh;
    }
    for (size_t p = 0; p < P; p++) {
      double m = NAN, hw = NAN;
      const size_t q = correction == FPK_KM_CORRECTION_FIRST_ORDER ? km_q_cor_d2(km, p)
                                                                   : km_q_raw_d2(km, p);
      if (valid) km_mean_ci(sq[2 * q], sq[2 * q + 1], N, &m, &hw);
      res->d2[p * n + b] = m;
      res->d2_lo[p * n + b] = m - hw;
      res->d2_hi[p * n + b] = m + hw;
    }
  }
  /* Finite samples can still overflow the sums: K4's interval needs a⁸ of each increment, which
   * is infinite beyond |a| ≈ 1e38 (and a² beyond 1e154). Say so here rather than hand back an
   * infinite estimate, which a writer would refuse without naming the cause. */
  for (size_t b = 0; b < n; b++) {
    if (res->count[b] < km->min_count) continue;
    int finite = 1;
    for (size_t i = 0; i < d; i++)
      finite &= isfinite(res->d1_lo[i * n + b]) && isfinite(res->d1_hi[i * n + b]) &&
                isfinite(res->k4_lo[i * n + b]) && isfinite(res->k4_hi[i * n + b]) &&
                !isinf(res->pawula_lo[i * n + b]) && !isinf(res->pawula_hi[i * n + b]);
    for (size_t p = 0; p < P; p++)
      finite &= isfinite(res->d2_lo[p * n + b]) && isfinite(res->d2_hi[p * n + b]);
    if (!finite) {
      fpk_km_result_free(res);
      return fpk_error_set(&km->err, FPK_ENUMERIC,
                           "Kramers-Moyal: the estimates of bin %zu overflow: the increments are "
                           "too large for the sums of their powers up to the 8th (K4's interval; "
                           "|increment| must stay below about 1e38): rescale the data",
                           b);
    }
  }
  if (res->valid == 0) {
    const size_t windows = km->windows, outside = km->outside;
    fpk_km_result_free(res);
    return fpk_error_set(&km->err, FPK_EINVAL,
                         "Kramers-Moyal: no bin has %zu windows (%zu windows, %zu outside the "
                         "grid): give more or longer paths, fewer bins or a lower min_count",
                         km->min_count, windows, outside);
  }
  return FPK_SUCCESS;
}

int fpk_km_compare(fpk_km_result *res, const fpk_model *model, fpk_error *err) {
  if (!res || !res->d1 || !model)
    return fpk_error_set(err, FPK_EINVAL, "Kramers-Moyal: compare needs a result and a model");
  const size_t d = res->dim, n = res->cells, P = res->npairs;
  const char *name = model->name ? model->name : "?";
  if (model->dim != d)
    return fpk_error_set(err, FPK_EINVAL, "Kramers-Moyal: model %s is %zuD, the estimates %zuD",
                         name, model->dim, d);
  if (!(model->flags & FPK_MODEL_AUTONOMOUS))
    return fpk_error_set(err, FPK_EUNSUP, "Kramers-Moyal: model %s is not autonomous", name);
  free(res->d1_true);
  free(res->d2_true);
  res->d1_true = malloc(d * n * sizeof(double));
  res->d2_true = malloc(P * n * sizeof(double));
  const size_t nv = res->valid, m = fpk_model_noise_dim(model);
  double *xs = malloc(d * nv * sizeof(double)), *b = malloc(d * nv * sizeof(double));
  double *D = malloc(d * d * nv * sizeof(double)), *work = malloc(d * m * nv * sizeof(double));
  size_t *idx = malloc(nv * sizeof(size_t));
  int rc = FPK_SUCCESS;
  if (!res->d1_true || !res->d2_true || !xs || !b || !D || !work || !idx) {
    rc = fpk_error_set(err, FPK_ENOMEM, "Kramers-Moyal: out of memory for the comparison");
    goto done;
  }
  size_t v = 0;
  for (size_t c = 0; c < n; c++)
    if (res->count[c] >= res->min_count) idx[v++] = c;
  for (size_t i = 0; i < v; i++)
    for (size_t a = 0; a < d; a++) xs[a * nv + i] = res->x_mean[a * n + idx[i]];
  rc = fpk_model_drift(model, 0.0, nv, xs, b, err);
  if (!rc) rc = fpk_model_diffusion(model, 0.0, nv, xs, D, work, err);
  if (rc) {
    fpk_error_prefix(err, "Kramers-Moyal: the truth of model %s: ", name);
    goto done;
  }
  for (size_t k = 0; k < d * n; k++) res->d1_true[k] = NAN;
  for (size_t k = 0; k < P * n; k++) res->d2_true[k] = NAN;
  res->d1_covered = res->d2_covered = 0;
  for (size_t i = 0; i < nv; i++) {
    const size_t c = idx[i];
    for (size_t a = 0; a < d; a++) {
      const double t = b[a * nv + i];
      res->d1_true[a * n + c] = t;
      res->d1_covered += (size_t)(res->d1_lo[a * n + c] <= t && t <= res->d1_hi[a * n + c]);
    }
    size_t p = 0;
    for (size_t a = 0; a < d; a++)
      for (size_t e = a; e < d; e++, p++) {
        const double t = D[(a * d + e) * nv + i];
        res->d2_true[p * n + c] = t;
        res->d2_covered += (size_t)(res->d2_lo[p * n + c] <= t && t <= res->d2_hi[p * n + c]);
      }
  }
  res->compared = nv;
  res->d1_coverage = (double)res->d1_covered / (double)(d * nv);
  res->d2_coverage = (double)res->d2_covered / (double)(P * nv);
done:
  free(xs);
  free(b);
  free(D);
  free(work);
  free(idx);
  return rc;
}
