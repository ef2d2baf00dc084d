/* The end marginals of `fpkit ot` and `fpkit sb` (src/app/marginal.h): moved from src/app/ot.c
 * unchanged, so that both commands read them the same way. Specs are discretised on the grid: by
 * default the density at the cell centres times the cell volume, normalised to mass 1;
 * `discretize = cells` uses the exact cell probabilities. HDF5 densities become cell
 * probabilities p·cell_volume. */
#include "app/marginal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/io.h"

#define MAX_FILE_TIMES 100000
/* Largest grid read from a file: 1e7 cells, the limit of `fpkit run` (src/app/run.c). */
#define MAX_FILE_CELLS 1e7
/* A specified law may leave at most this much mass outside the box (as `fpkit run` [init]). */
#define MAX_MASS_OUTSIDE 1e-6

const char *const fpk_app_marginal_types[] = {"gaussian", "mixture", "hdf5", NULL};

typedef fpk_app_marginal marginal;

int fpk_app_grid_given(const fpk_config *c) {
  static const char *const keys[] = {"dim", "n", "lo", "hi", NULL};
  for (size_t i = 0; keys[i]; i++)
    if (fpk_config_has(c, "grid", keys[i])) return 1;
  return 0;
}

int fpk_app_read_box_grid(fpk_config *c, fpk_grid *g, fpk_error *err) {
  size_t d = 1;
  double lo[FPK_MAX_DIM], hi[FPK_MAX_DIM], nd[FPK_MAX_DIM];
  size_t n[FPK_MAX_DIM];
  int rc;
  if ((rc = fpk_config_size(c, "grid", "dim", 1, 1, 2, &d, err)) ||
      (rc = fpk_config_doubles(c, "grid", "n", 1, d, 1, nd, err)) ||
      (rc = fpk_config_doubles(c, "grid", "lo", 1, d, 1, lo, err)) ||
      (rc = fpk_config_doubles(c, "grid", "hi", 1, d, 1, hi, err)))
    return rc;
  for (size_t a = 0; a < d; a++) {
    if (nd[a] != floor(nd[a]) || nd[a] < 3 || nd[a] > 1e7)
      return fpk_config_invalid(c, "grid", "n", err, "cell counts must be integers from 3 to "
                                "1e7 (axis %zu: %g)", a, nd[a]);
    n[a] = (size_t)nd[a];
    if (!(lo[a] < hi[a]))
      return fpk_config_invalid(c, "grid", "hi", err,
                                "bounds reversed or empty on axis %zu (lo = %g, hi = %g)", a,
                                lo[a], hi[a]);
  }
  fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  return fpk_grid_init(g, d, n, lo, hi, bc, err);
}

/* ---- HDF5 marginals (read through fpkit/io.h's checked reader) */

/* The grid of an fpkit file (fpkit/io.h's reader), as the error of [section] file. OT takes no
 * boundary conditions (it transports on the box): a file's bc are dropped, as [grid] has none. */
static int file_grid(fpk_config *c, const marginal *m, fpk_h5_reader *f, fpk_grid *g,
                     fpk_error *err) {
  fpk_error e = {0};
  if (fpk_h5_read_grid(f, MAX_FILE_CELLS, g, &e)) {
    if (e.status == FPK_ENOMEM) return fpk_error_copy(err, &e);
    return fpk_config_invalid(c, m->section, "file", err, "%s", e.msg);
  }
  for (size_t a = 0; a < FPK_MAX_DIM; a++) g->bc[a] = FPK_BC_REFLECTING;
  return FPK_SUCCESS;
}

/* Reads [section] time for a dataset with nfile entries on its time axis. */
static int read_time_key(fpk_config *c, marginal *m, size_t nfile, fpk_error *err) {
  const char *s = NULL;
  int rc;
  if ((rc = fpk_config_string(c, m->section, "time", 1, &s, err))) {
    return fpk_config_invalid(c, m->section, "dataset", err,
                              "%s has a time axis of %zu entries: give [%s] time = INDEX "
                              "(0-based), last or all",
                              m->dataset, nfile, m->section);
  }
  if (!strcmp(s, "all")) {
    m->all = 1;
    return FPK_SUCCESS;
  }
  if (!strcmp(s, "last")) {
    m->time_index = nfile - 1;
    return FPK_SUCCESS;
  }
  char *end;
  errno = 0;
  long k = strtol(s, &end, 10);
  if (*end || errno || end == s || k < 0 || (size_t)k >= nfile)
    return fpk_config_invalid(c, m->section, "time", err,
                              "expected an index in [0, %zu], last or all (%s has %zu times)",
                              nfile - 1, m->dataset, nfile);
  m->time_index = (size_t)k;
  return FPK_SUCCESS;
}

/* Copies the fields used (one time or all) as cell probabilities, checking each value. */
static int take_fields(fpk_config *c, marginal *m, const double *buf, const double *tf,
                       size_t off, size_t nfile, fpk_error *err) {
  const fpk_grid *g = &m->fgrid;
  const size_t N = g->size, dim = g->dim;
  const size_t k0 = m->all ? 0 : (off ? m->time_index : 0);
  m->nt = m->all ? nfile : 1;
  m->p = malloc(m->nt * N * sizeof *m->p);
  m->t = malloc(m->nt * sizeof *m->t);
  m->mass = malloc(m->nt * sizeof *m->mass);
  if (!m->p || !m->t || !m->mass) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  const double scale = m->values == 0 ? g->cell_volume : 1.0;
  for (size_t k = 0; k < m->nt; k++) {
    const double *src = buf + (k0 + k) * N;
    double *dst = m->p + k * N, mass = 0, clipped = 0;
    m->t[k] = tf[k0 + k];
    for (size_t i = 0; i < N; i++) {
      double v = src[i];
      if (!isfinite(v) || (v < 0 && !m->clip)) {
        char at[96] = "";
        size_t ix = i % g->n[0], iy = dim > 1 ? i / g->n[0] : 0;
        if (dim == 1) snprintf(at, sizeof at, "[%zu]", ix);
        else snprintf(at, sizeof at, "[%zu][%zu]", iy, ix);
        char tk[48] = "";
        if (off) snprintf(tk, sizeof tk, "[%zu]", k0 + k);
        return fpk_config_invalid(c, m->section, "dataset", err,
                                  "%s%s%s = %g: a marginal must be finite and >= 0%s",
                                  m->dataset, tk, at, v,
                                  isfinite(v) ? " (clip_negative = true sets negative values to "
                                                "0 and records the mass removed)"
                                              : "");
      }
      if (v < 0) {
        clipped -= v * scale;
        v = 0;
      }
      dst[i] = v * scale;
      mass += dst[i];
    }
    if (!(mass > 0))
      return fpk_config_invalid(c, m->section, "dataset", err,
                                "the field at time index %zu has zero mass", k0 + k);
    m->mass[k] = mass;
    if (clipped > m->clipped) m->clipped = clipped;
  }
  return FPK_SUCCESS;
}

int fpk_app_marginal_read_hdf5(fpk_config *c, marginal *m, fpk_error *err) {
  int rc;
  static const char *const values[] = {"density", "probability", NULL};
  if ((rc = fpk_config_string(c, m->section, "file", 1, &m->file, err)) ||
      (rc = fpk_config_string(c, m->section, "dataset", 1, &m->dataset, err)) ||
      (rc = fpk_config_choice(c, m->section, "values", 0, values, &m->values, err)) ||
      (rc = fpk_config_bool(c, m->section, "clip_negative", 0, &m->clip, err)))
    return rc;
  fpk_error e = {0};
  fpk_h5_reader *f = fpk_h5_reader_open(m->file, &e);
  if (!f) return fpk_config_invalid(c, m->section, "file", err, "%s", e.msg);
  double *buf = NULL, *tf = NULL;
  rc = file_grid(c, m, f, &m->fgrid, err);
  if (rc) goto done;
  const fpk_grid *g = &m->fgrid;
  const size_t N = g->size;
  size_t nfile;
  int off;
  if (fpk_h5_field_shape(f, g, m->dataset, MAX_FILE_TIMES, &nfile, &off, &e)) {
    rc = fpk_config_invalid(c, m->section, "dataset", err, "%s", e.msg);
    goto done;
  }
  m->time_axis = off;
  if (off) {
    if ((rc = read_time_key(c, m, nfile, err))) goto done;
  } else if (fpk_config_has(c, m->section, "time")) {
    rc = fpk_config_invalid(c, m->section, "time", err,
                            "%s has no time axis (it is one field on the grid)", m->dataset);
    goto done;
  }
  buf = malloc(nfile * N * sizeof *buf);
  tf = malloc(nfile * sizeof *tf);
  if (!buf || !tf) {
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory reading %s", m->dataset);
    goto done;
  }
  if (fpk_h5_read_field(f, g, m->dataset, nfile, buf, &e)) {
    rc = fpk_config_invalid(c, m->section, "dataset", err, "%s", e.msg);
    goto done;
  }
  if (off) {
    if (fpk_h5_field_times(f, m->dataset, nfile, tf, &e)) {
      rc = fpk_config_invalid(c, m->section, "file", err, "%s", e.msg);
      goto done;
    }
  } else {
    tf[0] = NAN;
  }
  if ((rc = take_fields(c, m, buf, tf, (size_t)off, nfile, err))) goto done;
  char tdesc[64] = "";
  if (off && m->all) snprintf(tdesc, sizeof tdesc, ", all %zu times", nfile);
  else if (off) snprintf(tdesc, sizeof tdesc, ", time index %zu (t = %g)", m->time_index, m->t[0]);
  snprintf(m->what, sizeof m->what, "hdf5 %s:%s (%s%s)", m->file, m->dataset,
           m->values == 0 ? "density x cell volume" : "probabilities", tdesc);
done:
  free(buf);
  free(tf);
  fpk_h5_reader_close(f);
  return rc;
}

/* ---- Gaussian and mixture marginals */

static int check_cov(fpk_config *c, const char *section, const char *key, size_t d,
                     const double *S, fpk_error *err) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < i; j++)
      if (S[i * d + j] != S[j * d + i])
        return fpk_config_invalid(c, section, key, err, "covariance must be symmetric");
  const double det = d == 1 ? S[0] : S[0] * S[3] - S[1] * S[2];
  if (!(S[0] > 0.0) || !(det > 0.0))
    return fpk_config_invalid(c, section, key, err, "covariance must be positive definite");
  return FPK_SUCCESS;
}

static int read_gaussian(fpk_config *c, marginal *m, size_t d, fpk_error *err) {
  fpk_gaussian *g = &m->gauss;
  memset(g, 0, sizeof *g);
  g->dim = d;
  int rc;
  if ((rc = fpk_config_doubles(c, m->section, "mean", 0, d, 1, g->mean, err))) return rc;
  const int has_cov = fpk_config_has(c, m->section, "cov"),
            has_std = fpk_config_has(c, m->section, "std");
  if (has_cov == has_std)
    return has_cov ? fpk_config_invalid(c, m->section, "std", err, "give std or cov, not both")
                   : fpk_error_set(err, FPK_EINVAL,
                                   "%s: [%s] cov (or std) is required for type = gaussian",
                                   fpk_config_name(c), m->section);
  if (has_cov) {
    if ((rc = fpk_config_doubles(c, m->section, "cov", 1, d * d, 0, g->cov, err))) return rc;
    if ((rc = check_cov(c, m->section, "cov", d, g->cov, err))) return rc;
  } else {
    double sd[FPK_MAX_DIM];
    if ((rc = fpk_config_doubles(c, m->section, "std", 1, d, 1, sd, err))) return rc;
    for (size_t a = 0; a < d; a++) {
      if (!(sd[a] > 0.0))
        return fpk_config_invalid(c, m->section, "std", err, "standard deviations must be > 0");
      g->cov[a * d + a] = sd[a] * sd[a];
    }
  }
  return FPK_SUCCESS;
}

/* weights (K), means (K·dim), covs (K·dim²) or stds (K·dim, or one) as [model] of
 * mixture-langevin; validated (symmetry, definiteness) and normalised by the model. */
static int read_mixture(fpk_config *c, marginal *m, size_t d, fpk_error *err) {
  fpk_mixture mix = {.dim = d};
  double w[FPK_MIXTURE_MAX], v[FPK_MIXTURE_MAX * FPK_MAX_DIM * FPK_MAX_DIM];
  size_t K = 0;
  int rc;
  const char *sec = m->section;
  if ((rc = fpk_config_double_list(c, sec, "weights", 1, FPK_MIXTURE_MAX, w, &K, err))) return rc;
  for (size_t k = 0; k < K; k++)
    if (!(w[k] > 0.0))
      return fpk_config_invalid(c, sec, "weights", err,
                                "weights must be positive (weight %zu is %g); they are "
                                "normalised to sum 1", k + 1, w[k]);
  mix.K = K;
  for (size_t k = 0; k < K; k++) mix.weight[k] = w[k];
  if ((rc = fpk_config_doubles(c, sec, "means", 1, K * d, 0, v, err))) return rc;
  for (size_t k = 0; k < K; k++)
    for (size_t a = 0; a < d; a++) mix.mean[k][a] = v[k * d + a];
  const int has_stds = fpk_config_has(c, sec, "stds"), has_covs = fpk_config_has(c, sec, "covs");
  if (has_stds == has_covs)
    return has_stds ? fpk_config_invalid(c, sec, "covs", err, "give either stds or covs, not both")
                    : fpk_error_set(err, FPK_EINVAL,
                                    "%s: [%s] stds or covs is required for type = mixture",
                                    fpk_config_name(c), sec);
  if (has_stds) {
    if ((rc = fpk_config_doubles(c, sec, "stds", 1, K * d, 1, v, err))) return rc;
    for (size_t k = 0; k < K; k++)
      for (size_t a = 0; a < d; a++) {
        if (!(v[k * d + a] > 0.0))
          return fpk_config_invalid(c, sec, "stds", err,
                                    "standard deviations must be positive (component %zu, axis "
                                    "%zu: %g)", k + 1, a, v[k * d + a]);
        mix.cov[k][a * d + a] = v[k * d + a] * v[k * d + a];
      }
  } else {
    if ((rc = fpk_config_doubles(c, sec, "covs", 1, K * d * d, 0, v, err))) return rc;
    for (size_t k = 0; k < K; k++)
      for (size_t q = 0; q < d * d; q++) mix.cov[k][q] = v[k * d * d + q];
  }
  fpk_error e = {0};
  fpk_model *model = fpk_model_mixture_langevin_alloc(&mix, &e);
  if (!model) {
    const char *msg = strncmp(e.msg, "model mixture-langevin: ", 24) == 0 ? e.msg + 24 : e.msg;
    return fpk_config_invalid(c, sec, has_covs ? "covs" : "weights", err, "%s", msg);
  }
  m->mix = *fpk_model_mixture(model); /* weights normalised */
  fpk_model_free(model);
  return FPK_SUCCESS;
}

/* The discrete marginal of a Gaussian or mixture on g (one field, mass 1). */
static int discretise(fpk_config *c, marginal *m, const fpk_grid *g, fpk_error *err) {
  const size_t N = g->size;
  m->nt = 1;
  m->p = calloc(N, sizeof *m->p);
  m->t = malloc(sizeof *m->t);
  m->mass = malloc(sizeof *m->mass);
  double *tmp = malloc(N * sizeof *tmp);
  if (!m->p || !m->t || !m->mass || !tmp) {
    free(tmp);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory for the marginals");
  }
  m->t[0] = NAN;
  int rc = FPK_SUCCESS;
  double outside = 0;
  /* The point rule (density at the centres x volume) is the midpoint rule of each Gaussian: it
   * holds its in-box mass to 2 exp(-2 pi^2 s^2 / h^2) for a standard deviation s, but a law
   * narrower than the cells falls between the centres and its mass is lost (a mixture component
   * of std 1e-5 vanished and the rest was renormalised to 1, exit 0). Refused beyond 10 %. */
  size_t bad_comp = 0;
  double bad_rule = 0, bad_box = 0;
  if (m->type == FPK_APP_MARGINAL_GAUSSIAN) {
    outside = fpk_gaussian_mass_outside(&m->gauss, g);
    rc = m->discretize == 0 ? fpk_gaussian_density_grid(&m->gauss, g, m->p, err)
                            : fpk_gaussian_cell_probs(&m->gauss, g, m->p, err);
    if (!rc && m->discretize == 0) {
      double pm = 0;
      for (size_t i = 0; i < N; i++) pm += m->p[i] * g->cell_volume;
      if (!(fabs(pm - (1 - outside)) <= 0.1 * (1 - outside)))
        bad_comp = 1, bad_rule = pm, bad_box = 1 - outside;
    }
  } else if (m->discretize == 1) {
    rc = fpk_mixture_cell_probs(&m->mix, g, m->p, err);
    for (size_t k = 0; k < m->mix.K; k++) {
      fpk_gaussian comp = {.dim = g->dim};
      memcpy(comp.mean, m->mix.mean[k], sizeof comp.mean);
      memcpy(comp.cov, m->mix.cov[k], sizeof comp.cov);
      outside += m->mix.weight[k] * fpk_gaussian_mass_outside(&comp, g);
    }
  } else {
    for (size_t k = 0; k < m->mix.K && !rc; k++) {
      fpk_gaussian comp = {.dim = g->dim};
      memcpy(comp.mean, m->mix.mean[k], sizeof comp.mean);
      memcpy(comp.cov, m->mix.cov[k], sizeof comp.cov);
      const double out_k = fpk_gaussian_mass_outside(&comp, g);
      outside += m->mix.weight[k] * out_k;
      rc = fpk_gaussian_density_grid(&comp, g, tmp, err);
      double pm = 0;
      for (size_t i = 0; !rc && i < N; i++) m->p[i] += m->mix.weight[k] * tmp[i], pm += tmp[i];
      pm *= g->cell_volume;
      if (!rc && !bad_comp && !(fabs(pm - (1 - out_k)) <= 0.1 * (1 - out_k)))
        bad_comp = k + 1, bad_rule = pm, bad_box = 1 - out_k;
    }
  }
  free(tmp);
  if (rc) return rc;
  if (bad_comp) {
    char which[48] = "the gaussian";
    if (m->type != FPK_APP_MARGINAL_GAUSSIAN) snprintf(which, sizeof which, "component %zu", bad_comp);
    return fpk_config_invalid(c, m->section, "discretize", err,
                              "%s: the density at the cell centres x volume holds %.3g of its "
                              "mass (%.3g in the box): it is narrower than the cells; use "
                              "discretize = cells (exact cell probabilities) or refine the grid",
                              which, bad_rule, bad_box);
  }
  if (outside > MAX_MASS_OUTSIDE)
    return fpk_config_invalid(c, m->section, m->type == FPK_APP_MARGINAL_GAUSSIAN ? "mean" : "means", err,
                              "the law puts %.3g of its mass outside the grid (at most %g): "
                              "move it or enlarge the box", outside, MAX_MASS_OUTSIDE);
  double s = 0;
  for (size_t i = 0; i < N; i++) s += m->p[i];
  if (!(s > 0))
    return fpk_config_invalid(c, m->section, m->type == FPK_APP_MARGINAL_GAUSSIAN ? "mean" : "means", err,
                              "the law has no mass on the grid");
  for (size_t i = 0; i < N; i++) m->p[i] /= s;
  m->mass[0] = 1.0;
  if (m->type == FPK_APP_MARGINAL_GAUSSIAN) {
    const fpk_gaussian *G = &m->gauss;
    if (g->dim == 1)
      snprintf(m->what, sizeof m->what, "gaussian N(%g, %g)", G->mean[0], G->cov[0]);
    else
      snprintf(m->what, sizeof m->what, "gaussian N((%g, %g), [[%g, %g], [%g, %g]])", G->mean[0],
               G->mean[1], G->cov[0], G->cov[1], G->cov[2], G->cov[3]);
  } else {
    snprintf(m->what, sizeof m->what, "mixture of %zu gaussians", m->mix.K);
  }
  size_t k = strlen(m->what);
  snprintf(m->what + k, sizeof m->what - k, ", %s",
           m->discretize == 0 ? "density at cell centres x volume" : "exact cell probabilities");
  return FPK_SUCCESS;
}

int fpk_app_marginal_read_spec(fpk_config *c, marginal *m, const fpk_grid *g, fpk_error *err) {
  static const char *const disc[] = {"points", "cells", NULL};
  int rc;
  if ((rc = fpk_config_choice(c, m->section, "discretize", 0, disc, &m->discretize, err)))
    return rc;
  rc = m->type == FPK_APP_MARGINAL_GAUSSIAN ? read_gaussian(c, m, g->dim, err) : read_mixture(c, m, g->dim, err);
  return rc ? rc : discretise(c, m, g, err);
}
