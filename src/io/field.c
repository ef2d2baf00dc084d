/* Grids and fields of fpkit files (fpkit/io.h, "Grids and fields"), read through the checked
 * reader of h5.c: every shape is checked against the grid before anything is read, so a file that
 * claims another grid, a damaged dataset or a missing time is an error naming the file and the
 * object, never a silently wrong field. Used by `fpkit ot` (HDF5 marginals) and `fpkit run`
 * ([init] type = file). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/grid.h"
#include "fpkit/io.h"

/* The reader's last error as err's. */
static int reader_error(fpk_h5_reader *r, fpk_error *err, int status) {
  return fpk_error_set(err, status ? status : FPK_EINVAL, "%s", fpk_h5_reader_errmsg(r));
}

int fpk_h5_read_grid(fpk_h5_reader *r, double max_cells, fpk_grid *g, fpk_error *err) {
  static const char *const axes[] = {"/grid/x", "/grid/y", "/grid/z"};
  const char *file = fpk_h5_reader_path(r);
  size_t n[FPK_MAX_DIM], d;
  double lo[FPK_MAX_DIM], hi[FPK_MAX_DIM];
  fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  int rc;
  if (!fpk_h5_exists(r, "/grid"))
    return fpk_error_set(err, FPK_EINVAL,
                         "no /grid in %s: not an fpkit output with a grid (docs/hdf5-layout.md)",
                         file);
  for (d = 0; d < FPK_MAX_DIM; d++) {
    const int is = fpk_h5_is_dataset(r, axes[d]);
    if (is < 0) return reader_error(r, err, FPK_EIO);
    if (!is) break;
    size_t rank, dims[FPK_H5_MAX_RANK];
    if ((rc = fpk_h5_dataset_shape(r, axes[d], &rank, dims))) return reader_error(r, err, rc);
    if (rank != 1)
      return fpk_error_set(err, FPK_EINVAL, "%s: %s is not a 1D array of cell centres", file,
                           axes[d]);
    n[d] = dims[0];
    if ((rc = fpk_h5_read_attr_double(r, axes[d], "lo", &lo[d])) ||
        (rc = fpk_h5_read_attr_double(r, axes[d], "hi", &hi[d])))
      return reader_error(r, err, rc);
    /* bc: written by `fpkit run`; a grid without it (other writers) is taken as reflecting */
    if (fpk_h5_has_attr(r, axes[d], "bc")) {
      char *s = NULL;
      if ((rc = fpk_h5_read_attr_string(r, axes[d], "bc", &s))) return reader_error(r, err, rc);
      rc = fpk_bc_parse(s, &bc[d]);
      if (rc)
        fpk_error_set(err, FPK_EINVAL,
                      "%s: %s attribute bc = '%s' is not reflecting, periodic or absorbing", file,
                      axes[d], s);
      free(s);
      if (rc) return rc;
    }
  }
  if (d == 0) return fpk_error_set(err, FPK_EINVAL, "%s: no /grid/x dataset", file);
  /* A damaged or hostile file may claim any shape, and a small file with unwritten chunks would
   * still make the caller allocate and fill what it claims. */
  double cells = 1.0;
  for (size_t a = 0; a < d; a++) cells *= (double)n[a];
  if (cells > max_cells)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: its grid has %.3g cells, more than the limit of %.0f", file, cells,
                         max_cells);
  fpk_error e = {0};
  if (fpk_grid_init(g, d, n, lo, hi, bc, &e))
    return fpk_error_set(err, FPK_EINVAL, "%s: bad grid: %s", file, e.msg);
  /* The centres must be those of the uniform grid the attributes describe. */
  for (size_t a = 0; a < d; a++) {
    double *x = malloc(n[a] * sizeof *x);
    if (!x) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    if ((rc = fpk_h5_read_doubles(r, axes[a], n[a], x))) {
      free(x);
      return reader_error(r, err, rc);
    }
    int bad = 0;
    for (size_t i = 0; !bad && i < n[a]; i++)
      bad = !(fabs(x[i] - fpk_grid_center(g, a, i)) <= 1e-9 * g->h[a]);
    free(x);
    if (bad)
      return fpk_error_set(err, FPK_EINVAL,
                           "%s: %s is not the uniform cell-centred grid of its lo, hi", file,
                           axes[a]);
  }
  return FPK_SUCCESS;
}

int fpk_h5_field_shape(fpk_h5_reader *r, const fpk_grid *g, const char *dataset,
                       size_t max_times, size_t *nt, int *time_axis, fpk_error *err) {
  const char *file = fpk_h5_reader_path(r);
  *nt = 0;
  *time_axis = 0;
  const int is = dataset && dataset[0] == '/' ? fpk_h5_is_dataset(r, dataset) : 0;
  if (is < 0) return reader_error(r, err, FPK_EIO);
  if (!is) {
    char names[320];
    fpk_h5_list_datasets(r, names, sizeof names);
    return fpk_error_set(err, FPK_EINVAL,
                         "no such dataset in %s (an absolute path; datasets there: %s)", file,
                         names);
  }
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(r, dataset, &rank, dims);
  if (rc) return reader_error(r, err, rc);
  /* [t][y][x] or [y][x] (x fastest), as fpkit writes densities */
  const size_t dim = g->dim;
  int fits = rank == dim || rank == dim + 1;
  const size_t off = rank == dim + 1;
  for (size_t a = 0; fits && a < dim; a++) fits = dims[off + dim - 1 - a] == g->n[a];
  if (!fits) {
    char gd[160];
    fpk_grid_describe(g, 0, gd, sizeof gd);
    return fpk_error_set(err, FPK_EINVAL,
                         "its shape (rank %zu) is not that of a field on the file's grid (%s), "
                         "optionally with a leading time axis",
                         rank, gd);
  }
  const size_t n = off ? dims[0] : 1;
  if (n < 1 || n > max_times)
    return fpk_error_set(err, FPK_EINVAL, "time axis of %zu entries", n);
  *nt = n;
  *time_axis = (int)off;
  return FPK_SUCCESS;
}

int fpk_h5_read_field(fpk_h5_reader *r, const fpk_grid *g, const char *dataset, size_t nt,
                      double *values, fpk_error *err) {
  int rc = fpk_h5_read_doubles(r, dataset, nt * g->size, values);
  return rc ? reader_error(r, err, rc) : FPK_SUCCESS;
}

int fpk_h5_field_times(fpk_h5_reader *r, const char *dataset, size_t nt, double *t,
                       fpk_error *err) {
  for (size_t k = 0; k < nt; k++) t[k] = NAN;
  char tpath[1024];
  if (snprintf(tpath, sizeof tpath, "%s", dataset) >= (int)sizeof tpath) return FPK_SUCCESS;
  char *slash = strrchr(tpath, '/');
  if (!slash) return FPK_SUCCESS;
  snprintf(slash + 1, sizeof tpath - (size_t)(slash + 1 - tpath), "t");
  const int is = fpk_h5_is_dataset(r, tpath);
  if (is < 0) return reader_error(r, err, FPK_EIO);
  if (!is) return FPK_SUCCESS;
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(r, tpath, &rank, dims);
  if (rc) return reader_error(r, err, rc);
  if (rank != 1 || dims[0] != nt) return FPK_SUCCESS; /* not this field's times */
  if ((rc = fpk_h5_read_doubles(r, tpath, nt, t))) return reader_error(r, err, rc);
  for (size_t k = 0; k < nt; k++)
    if (!isfinite(t[k]))
      return fpk_error_set(err, FPK_EINVAL, "%s: %s[%zu] = %g is not a time",
                           fpk_h5_reader_path(r), tpath, k, t[k]);
  return FPK_SUCCESS;
}

/* Up to 5 stored times nearest to `time`, as "0.4 (index 2), 0.5 (index 3)". */
static void nearest_times(const double *t, size_t nt, double time, char *buf, size_t len) {
  unsigned char *used = calloc(nt, 1);
  size_t k = 0;
  buf[0] = '\0';
  for (size_t pick = 0; used && pick < 5 && pick < nt; pick++) {
    size_t best = nt;
    for (size_t i = 0; i < nt; i++)
      if (!used[i] && (best == nt || fabs(t[i] - time) < fabs(t[best] - time))) best = i;
    used[best] = 1;
    if (k < len) {
      const int w = snprintf(buf + k, len - k, "%s%.15g (index %zu)", pick ? ", " : "", t[best],
                             best);
      if (w > 0) k += (size_t)w;
    }
  }
  free(used);
}

int fpk_h5_read_density(fpk_h5_reader *r, const fpk_grid *g, const char *method, double time,
                        double *out, double *t_found, size_t *index, fpk_error *err) {
  const char *file = fpk_h5_reader_path(r);
  char dpath[128], group[128];
  snprintf(group, sizeof group, "/%s", method);
  snprintf(dpath, sizeof dpath, "/%s/density", method);
  if (!fpk_h5_exists(r, group))
    return fpk_error_set(err, FPK_EINVAL, "%s has no /%s group (the method did not run there)",
                         file, method);
  size_t nt;
  int axis, rc;
  if ((rc = fpk_h5_field_shape(r, g, dpath, (size_t)1 << 20, &nt, &axis, err)))
    return fpk_error_prefix(err, "%s:%s: ", file, dpath);
  if (!axis)
    return fpk_error_set(err, FPK_EINVAL, "%s:%s has no time axis (not a `fpkit run` output)",
                         file, dpath);
  double *t = malloc(nt * sizeof *t);
  if (!t) return fpk_error_set(err, FPK_ENOMEM, "out of memory reading %s:%s", file, dpath);
  size_t k = nt;
  rc = fpk_h5_field_times(r, dpath, nt, t, err);
  if (!rc && isnan(t[0]))
    rc = fpk_error_set(err, FPK_EINVAL, "%s: no /%s/t of %zu output times beside %s", file, method,
                       nt, dpath);
  if (!rc) {
    if (isnan(time)) {
      k = nt - 1;
    } else {
      /* times are written from the same doubles the configuration gave: equal, or within the
       * rounding of a time typed differently ("0.5" and "5e-1" are the same double anyway) */
      for (size_t i = 0; i < nt && k == nt; i++)
        if (fabs(t[i] - time) <= 1e-12 * fmax(1.0, fabs(time))) k = i;
      if (k == nt) {
        if (index) *index = SIZE_MAX;
        char near[512];
        nearest_times(t, nt, time, near, sizeof near);
        rc = fpk_error_set(err, FPK_EINVAL,
                           "%s: no output at t = %.15g in /%s/t (%zu times; the nearest: %s)",
                           file, time, method, nt, near);
      }
    }
  }
  /* that time only: a field of many times is never read whole */
  if (!rc && (rc = fpk_h5_read_doubles_rows(r, dpath, k, 1, g->size, out)))
    rc = reader_error(r, err, rc);
  if (!rc) {
    if (t_found) *t_found = t[k];
    if (index) *index = k;
  }
  free(t);
  return rc;
}
