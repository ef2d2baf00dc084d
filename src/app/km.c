/* `fpkit km` (docs/km.md): Kramers–Moyal estimates of drift and diffusion on the bins of [grid],
 * from paths simulated from [model] by fpkit's steppers, or from recorded paths in an HDF5 file
 * (km.input / --input, km.dataset / --dataset, km.dt / --dt or the dataset's attribute dt). The
 * estimator is the library's (fpkit/km.h); this file reads the configuration and the data and
 * writes the result. With a [model] the true drift and diffusion at the bins and the coverage of
 * the intervals are written too. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "app/marginal.h"
#include "fpkit/config.h"
#include "fpkit/io.h"
#include "fpkit/km.h"
#include "fpkit/sde.h"

/* Paths read from the file at a time: a multiple of FPK_KM_BLOCK_PATHS, so that the chunked
 * accumulation adds the same blocks in the same order as one call with every path would. */
#define KM_READ_PATHS (16 * FPK_KM_BLOCK_PATHS)

typedef struct km_job {
  fpk_model *model; /* NULL: none given (file input only) */
  size_t dim;
  fpk_grid grid;
  fpk_km_params kp;
  fpk_km_correction correction;
  /* simulation */
  fpk_gaussian init;
  fpk_km_sim sim;
  /* file input */
  const char *input, *dataset;
  char dataset_path[1100]; /* the dataset with a leading '/' */
  size_t rank, dims[8], npaths, len;
  const char *output;
} km_job;

static int read_stepper(fpk_config *c, const fpk_sde_stepper_type **st, fpk_error *err) {
  const char *names[16] = {0};
  size_t n = 0, k = 0;
  for (size_t i = 0; fpk_sde_steppers[i] && n < 15; i++) names[n++] = fpk_sde_steppers[i]->name;
  int rc = fpk_config_choice(c, "km", "stepper", 0, names, &k, err);
  if (!rc) *st = fpk_sde_steppers[k];
  return rc;
}

/* The dataset's shape: [time] (one path), [path][time] (1D) or [path][time][component]. */
static int read_input_shape(fpk_config *c, km_job *J, fpk_h5_reader *r, fpk_error *err) {
  if (!fpk_h5_is_dataset(r, J->dataset)) {
    char list[512];
    fpk_h5_list_datasets(r, list, sizeof list);
    return fpk_config_invalid(c, "km", "dataset", err, "%s has no dataset '%s' (datasets: %s)",
                              J->input, J->dataset, list[0] ? list : "none");
  }
  if (fpk_h5_dataset_shape(r, J->dataset, &J->rank, J->dims))
    return fpk_config_invalid(c, "km", "dataset", err, "%s: %s", J->input,
                              fpk_h5_reader_errmsg(r));
  size_t d = 1;
  if (J->rank == 1) {
    J->npaths = 1;
    J->len = J->dims[0];
  } else if (J->rank == 2 || J->rank == 3) {
    J->npaths = J->dims[0];
    J->len = J->dims[1];
    d = J->rank == 3 ? J->dims[2] : 1;
  } else {
    return fpk_config_invalid(c, "km", "dataset", err,
                              "%s: dataset '%s' has rank %zu: expected [time], [path][time] or "
                              "[path][time][component]", J->input, J->dataset, J->rank);
  }
  if (d != J->grid.dim)
    return fpk_config_invalid(c, "km", "dataset", err,
                              "%s: dataset '%s' holds %zu-component states, [grid] dim is %zu",
                              J->input, J->dataset, d, J->grid.dim);
  if (J->npaths == 0 || J->len < 2 * J->kp.lag + 1)
    return fpk_config_invalid(c, "km", "lag", err,
                              "lag %zu needs series of at least 2*lag + 1 = %zu samples; "
                              "dataset '%s' of %s has %zu path(s) of %zu",
                              J->kp.lag, 2 * J->kp.lag + 1, J->dataset, J->input, J->npaths,
                              J->len);
  double dt = NAN;
  const int has_dt = fpk_h5_has_attr(r, J->dataset, "dt") &&
                     !fpk_h5_read_attr_double(r, J->dataset, "dt", &dt) && dt > 0.0 &&
                     isfinite(dt);
  if (!(J->kp.dt > 0.0)) {
    if (!has_dt)
      return fpk_config_invalid(c, "km", "dt", err,
                                "no sampling interval: give --dt (km.dt) or an attribute dt > 0 "
                                "on dataset '%s' of %s", J->dataset, J->input);
    J->kp.dt = dt;
  } else if (has_dt && fabs(J->kp.dt - dt) > 1e-9 * dt) {
    /* every estimate scales with 1/dt: a km.dt left in the configuration (`fpkit config km`
     * writes one) must not silently replace the interval the dataset records */
    return fpk_config_invalid(c, "km", "dt", err,
                              "dt = %g, but dataset '%s' of %s records its sampling interval, "
                              "attribute dt = %g: the estimates scale with 1/dt; remove km.dt "
                              "(--dt) to use the dataset's, or correct the one that is wrong",
                              J->kp.dt, J->dataset, J->input, dt);
  }
  return FPK_SUCCESS;
}

static int read_job(fpk_config *c, const fpk_run_options *opt, km_job *J, char *default_out,
                    size_t outlen, fpk_error *err) {
  int rc;
  if ((rc = fpk_config_string(c, "km", "input", 0, &J->input, err))) return rc;
  if (J->input && !J->input[0]) J->input = NULL;
  const int has_model = !J->input || fpk_config_has(c, "model", "type");
  if (has_model && (rc = fpk_app_read_model(c, &J->dim, &J->model, err))) return rc;
  if ((rc = fpk_app_read_box_grid(c, &J->grid, err))) return rc;
  if (J->model && J->grid.dim != J->dim)
    return fpk_config_invalid(c, "grid", "dim", err, "the model is %zuD, the bins %zuD", J->dim,
                              J->grid.dim);
  J->dim = J->grid.dim;
  const size_t d = J->dim;
  /* defaults (the getters check them against the key table) */
  J->kp.lag = 1;
  J->kp.min_count = 100;
  J->sim.npaths = 1000;
  J->sim.nsamples = 1000;
  J->sim.substeps = 1;
  J->sim.seed = 1;
  if ((rc = fpk_config_size(c, "km", "lag", 0, 1, 1000000, &J->kp.lag, err)) ||
      (rc = fpk_config_size(c, "km", "min_count", 0, 2, 1000000000, &J->kp.min_count, err)))
    return rc;
  static const char *const corrections[] = {"none", "first-order", NULL};
  size_t corr = 1;
  if ((rc = fpk_config_choice(c, "km", "correction", 0, corrections, &corr, err))) return rc;
  J->correction = corr ? FPK_KM_CORRECTION_FIRST_ORDER : FPK_KM_CORRECTION_NONE;
  if (fpk_config_has(c, "km", "dt") || !J->input)
    if ((rc = fpk_config_double(c, "km", "dt", 1, 0.0, 1, INFINITY, &J->kp.dt, err))) return rc;

  if (J->input) {
    if ((rc = fpk_config_string(c, "km", "dataset", 1, &J->dataset, err))) return rc;
    if (!J->dataset[0] || strlen(J->dataset) > 1000)
      return fpk_config_invalid(c, "km", "dataset", err, "an empty or overlong dataset name");
    snprintf(J->dataset_path, sizeof J->dataset_path, "%s%s", J->dataset[0] == '/' ? "" : "/",
             J->dataset);
    J->dataset = J->dataset_path;
  }
  /* the simulation's keys: read in both modes (one configuration serves both; with km.input they
   * are unused), [init] std required only for a simulation */
  double sd[FPK_MAX_DIM] = {1, 1, 1};
  memset(&J->init, 0, sizeof J->init);
  J->init.dim = d;
  if ((rc = fpk_config_doubles(c, "init", "mean", 0, d, 1, J->init.mean, err))) return rc;
  if ((!J->input || fpk_config_has(c, "init", "std")) &&
      (rc = fpk_config_doubles(c, "init", "std", 1, d, 1, sd, err)))
    return rc;
  for (size_t a = 0; a < d; a++) {
    if (!(sd[a] > 0.0) || !isfinite(sd[a]))
      return fpk_config_invalid(c, "init", "std", err, "standard deviations must be > 0");
    J->init.cov[a * d + a] = sd[a] * sd[a];
  }
  J->sim.stepper = fpk_sde_euler_maruyama;
  if ((rc = read_stepper(c, &J->sim.stepper, err))) return rc;
  if ((rc = fpk_config_size(c, "km", "paths", 0, 1, (uint64_t)1 << 40, &J->sim.npaths, err)) ||
      (rc = fpk_config_size(c, "km", "steps", 0, 2, 1000000000, &J->sim.nsamples, err)) ||
      (rc = fpk_config_size(c, "km", "substeps", 0, 1, 1000000, &J->sim.substeps, err)) ||
      (rc = fpk_config_u64(c, "km", "seed", 0, &J->sim.seed, err)))
    return rc;
  J->sim.nthreads = opt->threads;
  if (!J->input) {
    if (fpk_sde_stepper_check(J->sim.stepper, J->model, err))
      return fpk_config_invalid(c, "km", "stepper", err, "%s", err->msg);
    if (J->sim.nsamples < 2 * J->kp.lag)
      return fpk_config_invalid(c, "km", "lag", err,
                                "lag %zu needs at least 2*lag = %zu samples per path ([km] steps "
                                "= %zu)", J->kp.lag, 2 * J->kp.lag, J->sim.nsamples);
    if (!(J->model->flags & FPK_MODEL_AUTONOMOUS))
      return fpk_config_invalid(c, "model", "type", err,
                                "model %s is not autonomous: its conditional moments depend on "
                                "t, which binning the state alone cannot resolve",
                                J->model->name);
  }
  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(default_out, outlen, "results/%.*s.h5", (int)strcspn(base, "."), base);
  J->output = default_out;
  if ((rc = fpk_config_string(c, "output", "file", 0, &J->output, err))) return rc;
  if (opt->output) J->output = opt->output;
  return fpk_config_check_unused(c, err);
}

/* Accumulates the file's paths chunk by chunk (KM_READ_PATHS at a time, never all in memory),
 * each sample checked finite with its place in the file named. */
static int add_file_paths(fpk_config *c, fpk_km *km, km_job *J, fpk_h5_reader *r, int threads,
                          fpk_error *err) {
  const size_t d = J->dim, chunk = J->npaths < KM_READ_PATHS ? J->npaths : KM_READ_PATHS;
  double *x = malloc(chunk * J->len * d * sizeof(double));
  if (!x) return fpk_error_set(err, FPK_ENOMEM, "km: out of memory for %zu paths of %zu samples",
                               chunk, J->len);
  int rc = FPK_SUCCESS;
  for (size_t p0 = 0; p0 < J->npaths && !rc; p0 += chunk) {
    const size_t np = J->npaths - p0 < chunk ? J->npaths - p0 : chunk;
    if (J->rank == 1)
      rc = fpk_h5_read_doubles(r, J->dataset, J->len, x);
    else
      rc = fpk_h5_read_doubles_rows(r, J->dataset, p0, np, J->len * d, x);
    if (rc) {
      rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_reader_errmsg(r));
      break;
    }
    for (size_t k = 0; k < np * J->len * d; k++)
      if (!isfinite(x[k])) {
        const size_t p = k / (J->len * d), j = (k / d) % J->len, a = k % d;
        rc = fpk_config_invalid(c, "km", "dataset", err,
                                "%s: sample %zu of path %zu (component %zu) is %g: every sample "
                                "must be finite (drop or fill the gaps first)",
                                J->input, j, p0 + p, a, x[k]);
        break;
      }
    if (!rc && fpk_km_add_paths(km, np, J->len, x, threads))
      rc = fpk_error_copy(err, fpk_km_error(km));
  }
  free(x);
  return rc;
}

/* [component][ny][nx] (or [pair][...]) with NaN for bins with too few windows. */
static int write_field(fpk_h5 *f, const fpk_grid *g, const char *name, size_t rows,
                       const char *axis0, const double *v, const char *units, const char *desc) {
  size_t dims[3] = {rows, 0, 0}, rank = 1 + g->dim;
  if (g->dim == 1)
    dims[1] = g->n[0];
  else
    dims[1] = g->n[1], dims[2] = g->n[0];
  int rc = fpk_h5_write_undefined(f, name, rank, dims, v, units, desc,
                                  "fewer than min_count windows in the bin");
  if (!rc) rc = fpk_h5_attach_scales(f, name, g->dim == 1 ? (strcmp(axis0, "component") ? "pair x"
                                                                                    : "component x")
                                                        : (strcmp(axis0, "component") ? "pair y x"
                                                                                      : "component y x"));
  return rc;
}

/* An estimate and its 95% interval: NAME, NAME_lo, NAME_hi, the interval's ends described as
 * "<what>: lower/upper end of the 95% interval". */
static int write_estimate(fpk_h5 *f, const fpk_grid *g, const char *name, size_t rows,
                          const char *axis0, const double *v, const double *lo, const double *hi,
                          const char *units, const char *desc, const char *what) {
  char nlo[64], nhi[64], dlo[128], dhi[128];
  snprintf(nlo, sizeof nlo, "%s_lo", name);
  snprintf(nhi, sizeof nhi, "%s_hi", name);
  snprintf(dlo, sizeof dlo, "%s: lower end of the 95%% interval", what);
  snprintf(dhi, sizeof dhi, "%s: upper end of the 95%% interval", what);
  return write_field(f, g, name, rows, axis0, v, units, desc) ||
         write_field(f, g, nlo, rows, axis0, lo, units, dlo) ||
         write_field(f, g, nhi, rows, axis0, hi, units, dhi);
}

static int write_result(fpk_h5 *f, const km_job *J, const fpk_km *km, const fpk_km_result *R,
                        const fpk_run_options *opt, fpk_config *cfg, const char *created,
                        double wall) {
  const fpk_grid *g = &J->grid;
  const size_t n = g->size, d = J->dim, P = R->npairs;
  double *count = malloc(n * sizeof(double));
  if (!count) return FPK_ENOMEM;
  for (size_t b = 0; b < n; b++) count[b] = (double)R->count[b];
  size_t cdims[2] = {g->dim == 1 ? g->n[0] : g->n[1], g->n[0]};
  char source[1200];
  if (J->input)
    snprintf(source, sizeof source, "%s:%s", J->input, J->dataset);
  else
    snprintf(source, sizeof source, "simulation (%s, %zu paths, %zu samples, %zu substeps)",
             J->sim.stepper->name, J->sim.npaths, J->sim.nsamples,
             J->sim.substeps ? J->sim.substeps : 1);
  int rc = fpk_app_write_root(f, opt, fpk_config_resolved(cfg), "km", created) ||
           fpk_app_write_box_grid(f, g) || fpk_h5_index_dim(f, "/pair", P) ||
           fpk_h5_group(f, "/km", "Kramers-Moyal estimates per bin (docs/km.md)") ||
           fpk_h5_attr_string(f, "/km", "source", source) ||
           (J->model && fpk_h5_attr_string(f, "/km", "model", J->model->name)) ||
           fpk_h5_attr_double(f, "/km", "dt", R->dt) ||
           fpk_h5_attr_double(f, "/km", "tau", R->tau) ||
           fpk_h5_attr_u64(f, "/km", "lag", R->lag) ||
           fpk_h5_attr_u64(f, "/km", "min_count", R->min_count) ||
           fpk_h5_attr_string(f, "/km", "correction", fpk_km_correction_name(R->correction)) ||
           fpk_h5_attr_u64(f, "/km", "windows", fpk_km_windows(km)) ||
           fpk_h5_attr_u64(f, "/km", "outside", fpk_km_outside(km)) ||
           fpk_h5_attr_u64(f, "/km", "valid_bins", R->valid) ||
           fpk_h5_attr_double(f, "/km", "interval_level", 0.95) ||
           fpk_h5_attr_string(f, "/km", "pairs", d == 1 ? "00" : "00 01 11") ||
           fpk_h5_attr_double(f, "/km", "wall_seconds", wall) ||
           fpk_h5_write(f, "/km/count", g->dim, g->dim == 1 ? cdims + 1 : cdims, count, NULL,
                        "windows whose origin lies in the bin") ||
           fpk_h5_attach_scales(f, "/km/count", g->dim == 1 ? "x" : "y x") ||
           write_field(f, g, "/km/x_mean", d, "component", R->x_mean, "length",
                       "mean origin in the bin (where the estimate is attributed)") ||
           write_estimate(f, g, "/km/d1", d, "component", R->d1, R->d1_lo, R->d1_hi,
                          "length/time", "drift D1", "drift") ||
           write_estimate(f, g, "/km/d2", P, "pair", R->d2, R->d2_lo, R->d2_hi, "length^2/time",
                          "diffusion D2 = D = sigma sigma^T / 2, packed upper triangle",
                          "diffusion") ||
           write_estimate(f, g, "/km/k4", d, "component", R->k4, R->k4_lo, R->k4_hi,
                          "length^4/time",
                          "fourth Kramers-Moyal coefficient M4/(24 tau) at lag tau", "K4") ||
           write_estimate(f, g, "/km/pawula", d, "component", R->pawula, R->pawula_lo,
                          R->pawula_hi, "1",
                          "Pawula ratio Q = M4/(3 M2^2) = 2 K4/(tau D2^2): 1 for a diffusion", "Q");
  if (!rc && R->d1_true)
    rc = write_field(f, g, "/km/d1_true", d, "component", R->d1_true, "length/time",
                     "the model's drift at x_mean") ||
         write_field(f, g, "/km/d2_true", P, "pair", R->d2_true, "length^2/time",
                     "the model's diffusion at x_mean") ||
         fpk_h5_attr_double(f, "/km", "d1_coverage", R->d1_coverage) ||
         fpk_h5_attr_double(f, "/km", "d2_coverage", R->d2_coverage) ||
         fpk_h5_attr_u64(f, "/km", "d1_covered", R->d1_covered) ||
         fpk_h5_attr_u64(f, "/km", "d2_covered", R->d2_covered) ||
         fpk_h5_attr_u64(f, "/km", "compared_bins", R->compared);
  free(count);
  return rc;
}

static int run_job(km_job *J, fpk_config *cfg, const fpk_run_options *opt, fpk_error *err) {
  char created[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  fpk_h5_reader *r = NULL;
  fpk_h5 *f = NULL;
  fpk_km *km = NULL;
  fpk_km_result R;
  memset(&R, 0, sizeof R);
  int rc = FPK_SUCCESS;
  if (J->input) {
    if (!(r = fpk_h5_reader_open(J->input, err))) {
      rc = fpk_config_invalid(cfg, "km", "input", err, "%s", err->msg);
      goto done;
    }
    if ((rc = read_input_shape(cfg, J, r, err))) goto done;
  }
  if (!(km = fpk_km_alloc(&J->grid, &J->kp, err))) {
    rc = err->status;
    goto done;
  }
  const char *inputs[1] = {J->input};
  if (!(f = fpk_app_create_output(opt, J->output, inputs, J->input ? 1 : 0, err))) {
    rc = err->status;
    goto done;
  }
  const double t0 = omp_get_wtime();
  if (J->input)
    rc = add_file_paths(cfg, km, J, r, opt->threads, err);
  else if (fpk_km_simulate(km, J->model, &J->init, &J->sim))
    rc = fpk_error_copy(err, fpk_km_error(km));
  if (rc) goto done;
  if (fpk_km_compute(km, J->correction, &R)) {
    rc = fpk_error_copy(err, fpk_km_error(km));
    goto done;
  }
  if (J->model && (rc = fpk_km_compare(&R, J->model, err))) goto done;
  const double wall = omp_get_wtime() - t0;
  if (write_result(f, J, km, &R, opt, cfg, created, wall) || fpk_app_commit_output(f, opt)) {
    rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
    goto done;
  }
  if (!opt->quiet) {
    printf("km: tau = %g (lag %zu x dt %g), correction %s: %zu of %zu bins with >= %zu windows "
           "(%zu windows, %zu outside the grid)\n", R.tau, R.lag, R.dt,
           fpk_km_correction_name(R.correction), R.valid, R.cells, R.min_count,
           fpk_km_windows(km), fpk_km_outside(km));
    if (R.d1_true)
      printf("km: true values within the 95%% intervals: drift %zu/%zu (%.3f), diffusion %zu/%zu "
             "(%.3f)\n", R.d1_covered, R.compared * J->dim, R.d1_coverage, R.d2_covered,
             R.compared * R.npairs, R.d2_coverage);
    printf("wrote %s (%.2f s)\n", J->output, wall);
  }
done:
  fpk_km_result_free(&R);
  fpk_km_free(km);
  fpk_h5_close(f);
  fpk_h5_reader_close(r);
  return rc;
}

int fpk_app_km(const fpk_run_options *opt, fpk_error *err) {
  km_job J;
  memset(&J, 0, sizeof J);
  char default_out[1024];
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  fpk_config *cfg = fpk_app_load_config(opt, "km", err);
  int rc = cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = read_job(cfg, opt, &J, default_out, sizeof default_out, err);
  if (!rc) rc = run_job(&J, cfg, opt, err);
  fpk_model_free(J.model);
  fpk_config_free(cfg);
  return rc;
}
