/* Solver states in HDF5 (fpkit/checkpoint.h; layout: docs/checkpoint.md): the writers and the
 * checked readers behind `fpkit run --checkpoint-every` and `--resume`. Everything goes through
 * the writer and the checked reader of h5.c; a state read back is bitwise the state written
 * (doubles as stored; counts are whole doubles, exact below 2^53, and paths are at most 2^40). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/checkpoint.h"

/* ---- checked reads */

/* The reader's own error (a missing object, a wrong type, a failed read) as err's. */
static int read_failed(fpk_h5_reader *r, int rc, fpk_error *err) {
  return fpk_error_set(err, rc ? rc : FPK_EIO, "%s (a damaged checkpoint, or not one of this run)",
                       fpk_h5_reader_errmsg(r));
}

/* "[2][3]", or "a scalar". */
static void shape_text(size_t rank, const size_t *dims, char *buf, size_t len) {
  size_t k = 0;
  buf[0] = '\0';
  for (size_t a = 0; a < rank && k < len; a++)
    k += (size_t)snprintf(buf + k, len - k, "[%zu]", dims[a]);
  if (!rank) snprintf(buf, len, "a scalar");
}

int fpk_ckpt_read_array(fpk_h5_reader *r, const char *path, size_t rank, const size_t *dims,
                        double *out, fpk_error *err) {
  size_t have_rank, have[FPK_H5_MAX_RANK], n = 1;
  int rc = fpk_h5_dataset_shape(r, path, &have_rank, have);
  if (rc) return read_failed(r, rc, err);
  int same = have_rank == rank;
  for (size_t a = 0; a < rank; a++) same = same && have[a] == dims[a], n *= dims[a];
  if (!same) {
    char h[160], w[160];
    shape_text(have_rank, have, h, sizeof h);
    shape_text(rank, dims, w, sizeof w);
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: dataset '%s' has shape %s, this run's configuration needs %s (a "
                         "damaged checkpoint)",
                         fpk_h5_reader_path(r), path, h, w);
  }
  if ((rc = fpk_h5_read_doubles(r, path, n, out))) return read_failed(r, rc, err);
  return FPK_SUCCESS;
}

int fpk_ckpt_read_finite(fpk_h5_reader *r, const char *object, const char *name, double *v,
                         fpk_error *err) {
  int rc = fpk_h5_read_attr_double(r, object, name, v);
  if (rc) return read_failed(r, rc, err);
  if (!isfinite(*v))
    return fpk_error_set(err, FPK_EINVAL, "%s: attribute '%s' of '%s' is %g (a damaged checkpoint)",
                         fpk_h5_reader_path(r), name, object, *v);
  return FPK_SUCCESS;
}

int fpk_ckpt_read_count(fpk_h5_reader *r, const char *object, const char *name, double max,
                        size_t *v, fpk_error *err) {
  double d;
  int rc = fpk_ckpt_read_finite(r, object, name, &d, err);
  if (rc) return rc;
  if (!(d >= 0.0 && d <= max && d == floor(d)))
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: attribute '%s' of '%s' is %g, expected a whole number in [0, %g] (a "
                         "damaged checkpoint)",
                         fpk_h5_reader_path(r), name, object, d, max);
  *v = (size_t)d;
  return FPK_SUCCESS;
}

int fpk_ckpt_read_counts(fpk_h5_reader *r, const char *path, size_t rank, const size_t *dims,
                         size_t n, double max, double *buf, uint64_t *out, fpk_error *err) {
  int rc = fpk_ckpt_read_array(r, path, rank, dims, buf, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    if (!(buf[i] >= 0.0 && buf[i] <= max && buf[i] == floor(buf[i])))
      return fpk_error_set(err, FPK_EINVAL,
                           "%s: '%s'[%zu] = %g is not a count in [0, %g] (a damaged checkpoint)",
                           fpk_h5_reader_path(r), path, i, buf[i], max);
    out[i] = (uint64_t)buf[i];
  }
  return FPK_SUCCESS;
}

/* ---- the file */

/* The root attribute that marks a checkpoint. */
static const char MARKER[] =
    "fpkit run checkpoint: the state of an interrupted run; continue it with fpkit run --resume "
    "FILE (docs/checkpoint.md)";

int fpk_ckpt_mark(fpk_h5 *f) {
  int rc;
  if ((rc = fpk_h5_attr_string(f, "/", "fpkit_version", FPK_VERSION)) ||
      (rc = fpk_h5_attr_string(f, "/", "fpkit_checkpoint", MARKER)) ||
      (rc = fpk_h5_attr_u64(f, "/", "checkpoint_format", FPK_CKPT_FORMAT)))
    return rc;
  return FPK_SUCCESS;
}

static int check_mark(fpk_h5_reader *r, const char *path, fpk_error *err) {
  if (!fpk_h5_has_attr(r, "/", "fpkit_checkpoint"))
    return fpk_error_set(err, FPK_EINVAL,
                         "'%s' is not an fpkit checkpoint (no root attribute fpkit_checkpoint): "
                         "--resume takes the file that fpkit run --checkpoint-every writes "
                         "(OUT.h5.ckpt by default)",
                         path);
  char *version = NULL;
  int rc = fpk_h5_read_attr_string(r, "/", "fpkit_version", &version);
  if (rc) return read_failed(r, rc, err);
  if (strcmp(version, FPK_VERSION)) {
    rc = fpk_error_set(err, FPK_EINVAL,
                       "checkpoint '%s' was written by fpkit %s; this is fpkit %s: a run resumes "
                       "only with the version that started it (run its configuration again)",
                       path, version, FPK_VERSION);
    free(version);
    return rc;
  }
  free(version);
  double format;
  if ((rc = fpk_ckpt_read_finite(r, "/", "checkpoint_format", &format, err))) return rc;
  if (format != FPK_CKPT_FORMAT)
    return fpk_error_set(err, FPK_EINVAL, "checkpoint '%s' has layout %g, this fpkit reads %d",
                         path, format, FPK_CKPT_FORMAT);
  return FPK_SUCCESS;
}

fpk_h5_reader *fpk_ckpt_open(const char *path, fpk_error *err) {
  fpk_h5_reader *r = fpk_h5_reader_open(path, err);
  if (r && check_mark(r, path, err)) {
    fpk_h5_reader_close(r);
    return NULL;
  }
  return r;
}

/* ---- shared pieces */

/* group + "/" + name into buf; FPK_EINVAL when it does not fit (no fpkit group comes close). */
static int child(char *buf, size_t len, const char *group, const char *name) {
  const int n = snprintf(buf, len, "%s/%s", group, name);
  return n < 0 || (size_t)n >= len ? FPK_EINVAL : FPK_SUCCESS;
}

static int path_too_long(const char *group, fpk_error *err) {
  return fpk_error_set(err, FPK_EINVAL, "checkpoint group name '%s' is too long", group);
}

/* A field on g as the outputs write densities: [ny][nx] (x fastest); its rank. */
static size_t field_dims(const fpk_grid *g, size_t *dims) {
  for (size_t a = 0; a < g->dim; a++) dims[a] = g->n[g->dim - 1 - a];
  return g->dim;
}

/* The step position common to the fv and spectral states (attributes of the state's group). */
static int write_position(fpk_h5 *f, const char *o, double t, size_t steps, double t0, double t1,
                          double h, size_t n, size_t i) {
  int rc;
  if ((rc = fpk_h5_attr_double(f, o, "t", t)) || (rc = fpk_h5_attr_u64(f, o, "steps", steps)) ||
      (rc = fpk_h5_attr_double(f, o, "t0", t0)) || (rc = fpk_h5_attr_double(f, o, "t1", t1)) ||
      (rc = fpk_h5_attr_double(f, o, "h", h)) || (rc = fpk_h5_attr_u64(f, o, "n", n)) ||
      (rc = fpk_h5_attr_u64(f, o, "i", i)))
    return rc;
  return FPK_SUCCESS;
}

static int read_position(fpk_h5_reader *r, const char *o, double *t, size_t *steps, double *t0,
                         double *t1, double *h, size_t *n, size_t *i, fpk_error *err) {
  int rc;
  if ((rc = fpk_ckpt_read_finite(r, o, "t", t, err)) ||
      (rc = fpk_ckpt_read_count(r, o, "steps", 1e18, steps, err)) ||
      (rc = fpk_ckpt_read_finite(r, o, "t0", t0, err)) ||
      (rc = fpk_ckpt_read_finite(r, o, "t1", t1, err)) ||
      (rc = fpk_ckpt_read_finite(r, o, "h", h, err)) ||
      (rc = fpk_ckpt_read_count(r, o, "n", FPK_MAX_STEPS, n, err)) ||
      (rc = fpk_ckpt_read_count(r, o, "i", FPK_MAX_STEPS, i, err)))
    return rc;
  return FPK_SUCCESS;
}

/* ---- finite volumes */

int fpk_h5_write_fv_state(fpk_h5 *f, const char *group, const fpk_grid *g,
                          const fpk_fv_state *st) {
  char p[512], cache[512];
  size_t dims[FPK_MAX_DIM], rank = field_dims(g, dims);
  const size_t nc = FPK_FV_STATE_CACHE;
  int rc;
  if ((rc = child(p, sizeof p, group, "p")) || (rc = child(cache, sizeof cache, group, "cache")))
    return rc;
  if ((rc = fpk_h5_group(f, group, "finite-volume solver at a step boundary (fpk_fv_state)")) ||
      (rc = fpk_h5_write(f, p, rank, dims, st->p, "1/length^dim", "density at t")) ||
      (rc = fpk_h5_write(f, cache, 1, &nc, st->cache, NULL,
                         "the solver's cached factorisations (fpk_fv_state.cache, opaque)")) ||
      (rc = write_position(f, group, st->t, st->steps, st->t0, st->t1, st->h, st->n, st->i)) ||
      (rc = fpk_h5_attr_double(f, group, "mass0", st->mass0)) ||
      (rc = fpk_h5_attr_double(f, group, "mass_prev", st->mass_prev)))
    return rc;
  return FPK_SUCCESS;
}

int fpk_h5_read_fv_state(fpk_h5_reader *r, const char *group, const fpk_grid *g,
                         fpk_fv_state *st, fpk_error *err) {
  memset(st, 0, sizeof *st);
  char p[512], cache[512];
  if (child(p, sizeof p, group, "p") || child(cache, sizeof cache, group, "cache"))
    return path_too_long(group, err);
  double *field = malloc(g->size * sizeof *field);
  if (!field) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  st->p = field;
  size_t dims[FPK_MAX_DIM], rank = field_dims(g, dims);
  const size_t nc = FPK_FV_STATE_CACHE;
  int rc;
  if ((rc = fpk_ckpt_read_array(r, p, rank, dims, field, err)) ||
      (rc = fpk_ckpt_read_array(r, cache, 1, &nc, st->cache, err)) ||
      (rc = read_position(r, group, &st->t, &st->steps, &st->t0, &st->t1, &st->h, &st->n,
                          &st->i, err)) ||
      (rc = fpk_ckpt_read_finite(r, group, "mass0", &st->mass0, err)) ||
      (rc = fpk_ckpt_read_finite(r, group, "mass_prev", &st->mass_prev, err)))
    return rc;
  return FPK_SUCCESS;
}

void fpk_h5_fv_state_free(fpk_fv_state *st) {
  if (!st) return;
  free((double *)st->p);
  st->p = NULL;
}

/* ---- spectral */

int fpk_h5_write_spectral_state(fpk_h5 *f, const char *group, const fpk_spectral_state *st) {
  char uh[512], uprev[512], nprev[512];
  const size_t cd[2] = {st->nc, 2};
  int rc;
  if ((rc = child(uh, sizeof uh, group, "uh")) ||
      (rc = child(uprev, sizeof uprev, group, "uprev")) ||
      (rc = child(nprev, sizeof nprev, group, "nprev")))
    return rc;
  if ((rc = fpk_h5_group(f, group, "spectral solver at a step boundary (fpk_spectral_state)")) ||
      (rc = fpk_h5_write(f, uh, 2, cd, st->uh, NULL,
                         "Fourier coefficients (r2c of the point values), [mode][re, im]")) ||
      (rc = write_position(f, group, st->t, st->steps, st->t0, st->t1, st->h, st->n, st->i)) ||
      (rc = fpk_h5_attr_double(f, group, "mass", st->mass)) ||
      (rc = fpk_h5_attr_double(f, group, "hc", st->hc)) ||
      (rc = fpk_h5_attr_double(f, group, "hist_h", st->hist_h)))
    return rc;
  if (st->hist_h == 0.0) return FPK_SUCCESS;
  if ((rc = fpk_h5_write(f, uprev, 2, cd, st->uprev, NULL,
                         "sbdf2 history: coefficients of the previous step")) ||
      (rc = fpk_h5_write(f, nprev, 2, cd, st->nprev, NULL,
                         "sbdf2 history: the explicit term of the previous step")))
    return rc;
  return FPK_SUCCESS;
}

int fpk_h5_read_spectral_state(fpk_h5_reader *r, const char *group, size_t nc,
                               fpk_spectral_state *st, fpk_error *err) {
  memset(st, 0, sizeof *st);
  char uh[512], uprev[512], nprev[512];
  if (child(uh, sizeof uh, group, "uh") || child(uprev, sizeof uprev, group, "uprev") ||
      child(nprev, sizeof nprev, group, "nprev"))
    return path_too_long(group, err);
  int rc;
  if ((rc = read_position(r, group, &st->t, &st->steps, &st->t0, &st->t1, &st->h, &st->n, &st->i,
                          err)) ||
      (rc = fpk_ckpt_read_finite(r, group, "mass", &st->mass, err)) ||
      (rc = fpk_ckpt_read_finite(r, group, "hc", &st->hc, err)) ||
      (rc = fpk_ckpt_read_finite(r, group, "hist_h", &st->hist_h, err)))
    return rc;
  /* one block: û, then SBDF2's history (û and 𝒩̂ of the previous step) when there is one */
  const int hist = st->hist_h != 0.0;
  const size_t cd[2] = {nc, 2};
  double *buf = malloc((hist ? 6 : 2) * nc * sizeof *buf);
  if (!buf) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  st->nc = nc;
  st->uh = buf;
  if (hist) st->uprev = buf + 2 * nc, st->nprev = buf + 4 * nc;
  if ((rc = fpk_ckpt_read_array(r, uh, 2, cd, buf, err))) return rc;
  if (hist && ((rc = fpk_ckpt_read_array(r, uprev, 2, cd, buf + 2 * nc, err)) ||
               (rc = fpk_ckpt_read_array(r, nprev, 2, cd, buf + 4 * nc, err))))
    return rc;
  return FPK_SUCCESS;
}

void fpk_h5_spectral_state_free(fpk_spectral_state *st) {
  if (!st) return;
  free((double *)st->uh);
  st->uh = st->uprev = st->nprev = NULL;
}

/* ---- Monte Carlo */

int fpk_h5_write_mc_state(fpk_h5 *f, const char *group, const fpk_mc_state *st) {
  char counts[512], moments[512], outside[512], alive[512], paths[512];
  int rc;
  if ((rc = child(counts, sizeof counts, group, "counts")) ||
      (rc = child(moments, sizeof moments, group, "moments")) ||
      (rc = child(outside, sizeof outside, group, "outside")) ||
      (rc = child(alive, sizeof alive, group, "alive")) ||
      (rc = child(paths, sizeof paths, group, "paths")))
    return rc;
  const size_t nt = st->nt, n = nt * st->cells, nstat = FPK_MC_NSTAT(st->dim);
  double *v = malloc((n > 2 * nt ? n : 2 * nt) * sizeof *v);
  if (!v) return FPK_ENOMEM;
  const size_t cd[2] = {nt, st->cells}, md[2] = {nt, nstat};
  for (size_t i = 0; i < n; i++) v[i] = (double)st->counts[i];
  rc = fpk_h5_group(f, group, "Monte Carlo ensemble in progress (fpk_mc_state)");
  if (!rc) rc = fpk_h5_write(f, counts, 2, cd, v, NULL, "histogram counts of the paths done");
  if (!rc)
    rc = fpk_h5_write(f, moments, 2, md, st->moments, NULL,
                      "survivors, mean, packed co-moment of the paths done");
  for (size_t k = 0; k < nt; k++) v[k] = (double)st->outside[k], v[nt + k] = (double)st->alive[k];
  if (!rc) rc = fpk_h5_write(f, outside, 1, &nt, v, NULL, "survivors outside the grid");
  if (!rc) rc = fpk_h5_write(f, alive, 1, &nt, v + nt, NULL, "survivors");
  free(v);
  if (!rc && st->kept_rows) {
    const size_t pd[3] = {st->kept_rows, st->nsteps + 1, st->dim};
    rc = fpk_h5_write(f, paths, 3, pd, st->paths, "length", "kept paths done");
  }
  if (!rc) rc = fpk_h5_attr_u64(f, group, "next_block", st->next_block);
  if (!rc) rc = fpk_h5_attr_u64(f, group, "paths_done", st->paths_done);
  if (!rc) rc = fpk_h5_attr_u64(f, group, "kept_rows", st->kept_rows);
  return rc;
}

int fpk_h5_read_mc_state(fpk_h5_reader *r, const char *group, const fpk_mc_state *expect,
                         fpk_mc_state *st, fpk_error *err) {
  *st = (fpk_mc_state){.npaths = expect->npaths, .nt = expect->nt, .cells = expect->cells,
                       .dim = expect->dim, .nsteps = expect->nsteps,
                       .keep_paths = expect->keep_paths, .seed = expect->seed};
  char counts[512], moments[512], outside[512], alive[512], paths[512];
  if (child(counts, sizeof counts, group, "counts") ||
      child(moments, sizeof moments, group, "moments") ||
      child(outside, sizeof outside, group, "outside") ||
      child(alive, sizeof alive, group, "alive") || child(paths, sizeof paths, group, "paths"))
    return path_too_long(group, err);
  const size_t nt = st->nt, cells = st->cells, d = st->dim, N = st->npaths;
  const size_t nstat = FPK_MC_NSTAT(d);
  const size_t nblocks = (N + FPK_MC_BLOCK_PATHS - 1) / FPK_MC_BLOCK_PATHS;
  int rc;
  if ((rc = fpk_ckpt_read_count(r, group, "next_block", (double)nblocks, &st->next_block, err)) ||
      (rc = fpk_ckpt_read_count(r, group, "paths_done", (double)N, &st->paths_done, err)) ||
      (rc = fpk_ckpt_read_count(r, group, "kept_rows", (double)st->keep_paths, &st->kept_rows,
                                err)))
    return rc;
  const size_t kept = st->kept_rows, total = st->nsteps;
  double *buf = malloc((nt * cells > nt ? nt * cells : nt) * sizeof *buf);
  uint64_t *c = malloc(nt * cells * sizeof *c), *out = malloc(nt * sizeof *out),
           *alv = malloc(nt * sizeof *alv);
  double *mom = malloc(nt * nstat * sizeof *mom);
  double *pth = kept ? malloc(kept * (total + 1) * d * sizeof *pth) : NULL;
  st->counts = c, st->outside = out, st->alive = alv, st->moments = mom, st->paths = pth;
  if (!buf || !c || !out || !alv || !mom || (kept && !pth)) {
    free(buf);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory reading the Monte Carlo state");
  }
  const size_t cd[2] = {nt, cells}, md[2] = {nt, nstat}, pd[3] = {kept, total + 1, d};
  if (!(rc = fpk_ckpt_read_counts(r, counts, 2, cd, nt * cells, (double)N, buf, c, err)) &&
      !(rc = fpk_ckpt_read_counts(r, outside, 1, &nt, nt, (double)N, buf, out, err)) &&
      !(rc = fpk_ckpt_read_counts(r, alive, 1, &nt, nt, (double)N, buf, alv, err)) &&
      !(rc = fpk_ckpt_read_array(r, moments, 2, md, mom, err)) && kept)
    rc = fpk_ckpt_read_array(r, paths, 3, pd, pth, err);
  free(buf);
  return rc;
}

void fpk_h5_mc_state_free(fpk_mc_state *st) {
  if (!st) return;
  free((uint64_t *)st->counts), free((uint64_t *)st->outside), free((uint64_t *)st->alive);
  free((double *)st->moments), free((double *)st->paths);
  st->counts = st->outside = st->alive = NULL;
  st->moments = st->paths = NULL;
}
