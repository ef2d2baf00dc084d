/* Dataset-by-dataset, bit-for-bit comparison of two HDF5 files (fpkit/io.h): what `fpkit rerun`
 * reports. Listing uses HDF5's link traversal; every read goes through the checked reader. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/io.h"

typedef struct name_list {
  char **names;
  size_t n, cap;
  int oom;
} name_list;

/* H5Lvisit callback: keeps the paths of hard links to datasets. Soft and external links are not
 * followed (fpkit writes none; following one could leave the file). */
static herr_t collect_dataset(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t o = H5Oopen(group, name, H5P_DEFAULT);
  if (o < 0) return 0; /* an object that cannot be opened: the checked read reports it */
  const int is_dataset = H5Iget_type(o) == H5I_DATASET;
  H5Oclose(o);
  if (!is_dataset) return 0;
  if (l->n == l->cap) {
    const size_t cap = l->cap ? 2 * l->cap : 32;
    char **grown = realloc(l->names, cap * sizeof *grown);
    if (!grown) return l->oom = 1, -1;
    l->names = grown, l->cap = cap;
  }
  const size_t len = strlen(name);
  char *path = malloc(len + 2);
  if (!path) return l->oom = 1, -1;
  path[0] = '/';
  memcpy(path + 1, name, len + 1);
  l->names[l->n++] = path;
  return 0;
}

static void names_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted dataset paths of a file the reader already opened (so it is a regular HDF5 file). */
static int list_datasets(const char *path, name_list *l, fpk_error *err) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(err, FPK_EIO, "%s: cannot open it to list its datasets", path);
  }
  herr_t rc = H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, l);
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  if (l->oom) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  if (rc < 0) return fpk_error_set(err, FPK_EIO, "%s: cannot list its datasets", path);
  qsort(l->names, l->n, sizeof *l->names, by_name);
  return FPK_SUCCESS;
}

static size_t count(size_t rank, const size_t *dims) {
  size_t n = 1;
  for (size_t i = 0; i < rank; i++) n *= dims[i];
  return n;
}

/* Element by element on the bits (memcmp of each double): 0.0 and -0.0 differ, NaNs with
 * different payloads differ, and a NaN equals a NaN of the same bits. */
static void compare_values(const double *a, const double *b, size_t n, fpk_h5_diff *d) {
  d->nelements = n;
  for (size_t i = 0; i < n; i++)
    if (isfinite(a[i]) && fabs(a[i]) > d->max_abs_a) d->max_abs_a = fabs(a[i]);
  for (size_t i = 0; i < n; i++) {
    if (!memcmp(&a[i], &b[i], sizeof(double))) continue;
    d->ndiffer++;
    if (isnan(a[i]) != isnan(b[i])) {
      d->nan_mismatch++;
      continue;
    }
    if (isnan(a[i])) continue; /* two NaNs, different payloads */
    const double abs_diff = a[i] == b[i] ? 0.0 : fabs(a[i] - b[i]); /* +-0 and +-inf */
    const double scale = fmax(fabs(a[i]), fabs(b[i]));
    const double rel = scale > 0.0 ? abs_diff / scale : 0.0;
    if (abs_diff > d->max_abs || isnan(abs_diff)) d->max_abs = abs_diff;
    if (rel > d->max_rel || isnan(rel)) d->max_rel = rel;
  }
}

static int push_diff(fpk_h5_comparison *c, fpk_h5_diff *d) {
  const char *base = strrchr(d->path, '/');
  d->wall_clock = d->kind == FPK_H5_DIFF_VALUES && strstr(base ? base + 1 : d->path, "seconds") != NULL;
  if (!d->wall_clock) c->nresults++;
  fpk_h5_diff *grown = realloc(c->diffs, (c->ndiffs + 1) * sizeof *grown);
  if (!grown) return -1;
  c->diffs = grown;
  c->diffs[c->ndiffs] = *d;
  if (!(c->diffs[c->ndiffs].path = strdup(d->path))) return -1;
  c->ndiffs++;
  return 0;
}

static int reader_failed(fpk_h5_reader *r, int rc, fpk_error *err) {
  return fpk_error_set(err, rc ? rc : FPK_EIO, "%s", fpk_h5_reader_errmsg(r));
}

/* One path that is a dataset in both files. */
static int compare_one(fpk_h5_reader *ra, fpk_h5_reader *rb, const char *path,
                       fpk_h5_comparison *c, fpk_error *err) {
  fpk_h5_diff d = {.path = (char *)path, .kind = FPK_H5_DIFF_VALUES};
  int rc;
  if ((rc = fpk_h5_dataset_shape(ra, path, &d.rank_a, d.dims_a))) return reader_failed(ra, rc, err);
  if ((rc = fpk_h5_dataset_shape(rb, path, &d.rank_b, d.dims_b))) return reader_failed(rb, rc, err);
  const size_t n = count(d.rank_a, d.dims_a);
  if (d.rank_a != d.rank_b || memcmp(d.dims_a, d.dims_b, d.rank_a * sizeof(size_t))) {
    d.kind = FPK_H5_DIFF_SHAPE;
    return push_diff(c, &d) ? fpk_error_set(err, FPK_ENOMEM, "out of memory") : FPK_SUCCESS;
  }
  double *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
  if (!a || !b) {
    free(a), free(b);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory reading %s (%zu elements)", path, n);
  }
  rc = fpk_h5_read_doubles(ra, path, n, a);
  if (rc) rc = reader_failed(ra, rc, err);
  if (!rc && (rc = fpk_h5_read_doubles(rb, path, n, b))) rc = reader_failed(rb, rc, err);
  if (!rc) {
    compare_values(a, b, n, &d);
    if (d.ndiffer) {
      if (push_diff(c, &d)) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
    } else {
      c->nidentical++;
      c->nelements += n;
    }
  }
  free(a), free(b);
  return rc;
}

int fpk_h5_compare_files(const char *path_a, const char *path_b, fpk_h5_comparison *out,
                         fpk_error *err) {
  memset(out, 0, sizeof *out);
  fpk_h5_reader *ra = fpk_h5_reader_open(path_a, err);
  if (!ra) return err->status;
  fpk_h5_reader *rb = fpk_h5_reader_open(path_b, err);
  if (!rb) {
    fpk_h5_reader_close(ra);
    return err->status;
  }
  name_list la = {0}, lb = {0};
  int rc = list_datasets(path_a, &la, err);
  if (!rc) rc = list_datasets(path_b, &lb, err);
  /* merge the two sorted lists */
  size_t i = 0, j = 0;
  while (!rc && (i < la.n || j < lb.n)) {
    const int order = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.names[i], lb.names[j]);
    out->ndatasets++;
    if (order == 0) {
      rc = compare_one(ra, rb, la.names[i], out, err);
      i++, j++;
    } else {
      fpk_h5_diff d = {.kind = order < 0 ? FPK_H5_DIFF_ONLY_IN_A : FPK_H5_DIFF_ONLY_IN_B,
                       .path = order < 0 ? la.names[i++] : lb.names[j++]};
      if (push_diff(out, &d)) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
    }
  }
  names_free(&la);
  names_free(&lb);
  fpk_h5_reader_close(ra);
  fpk_h5_reader_close(rb);
  if (rc) fpk_h5_comparison_free(out);
  return rc;
}

void fpk_h5_comparison_free(fpk_h5_comparison *c) {
  if (!c) return;
  for (size_t i = 0; i < c->ndiffs; i++) free(c->diffs[i].path);
  free(c->diffs);
  memset(c, 0, sizeof *c);
}
