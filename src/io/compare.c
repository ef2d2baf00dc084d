/* Dataset-by-dataset, bit-for-bit comparison of two HDF5 files (fpkit/io.h): what `fpkit rerun`
 * reports. Listing uses HDF5's link traversal; every dataset read goes through the checked
 * reader. Then the attributes of every object, read with HDF5 directly (attributes carry no
 * checksum for the reader to check): fpkit's headline results are attributes (a fitted order
 * and its CI, a KS distance, a normaliser, a converged flag), so a comparison of datasets alone
 * would call a file with an edited result identical. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/io.h"

typedef struct name_list {
  char **names;
  size_t n, cap;
  int oom;
  int datasets_only; /* collect_object: keep datasets only, else every object (groups too) */
} name_list;

/* Appends a copy of prefix + name. */
static int names_push(name_list *l, const char *prefix, const char *name) {
  if (l->n == l->cap) {
    const size_t cap = l->cap ? 2 * l->cap : 32;
    char **grown = realloc(l->names, cap * sizeof *grown);
    if (!grown) return l->oom = 1, -1;
    l->names = grown, l->cap = cap;
  }
  const size_t lp = strlen(prefix), len = strlen(name);
  char *path = malloc(lp + len + 1);
  if (!path) return l->oom = 1, -1;
  memcpy(path, prefix, lp);
  memcpy(path + lp, name, len + 1);
  l->names[l->n++] = path;
  return 0;
}

/* H5Lvisit callback: keeps the paths of hard links to datasets (or to any object). Soft and
 * external links are not followed (fpkit writes none; following one could leave the file). */
static herr_t collect_object(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t o = H5Oopen(group, name, H5P_DEFAULT);
  /* an object that cannot be opened stays in the list, so that its read (or the opening of its
   * attributes) fails naming it: dropped, a damaged dataset would compare as "identical" */
  if (o < 0) return names_push(l, "/", name);
  const int is_dataset = H5Iget_type(o) == H5I_DATASET;
  H5Oclose(o);
  if (l->datasets_only && !is_dataset) return 0;
  return names_push(l, "/", name);
}

static void names_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted dataset paths (datasets_only) or object paths, the root "/" included, of a file the
 * reader already opened (so it is a regular HDF5 file). */
static int list_objects(const char *path, int datasets_only, name_list *l, fpk_error *err) {
  l->datasets_only = datasets_only;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(err, FPK_EIO, "%s: cannot open it to list its datasets", path);
  }
  herr_t rc = datasets_only ? 0 : names_push(l, "", "/");
  if (!rc) rc = H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, collect_object, l);
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  if (l->oom) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  if (rc < 0) return fpk_error_set(err, FPK_EIO, "%s: cannot list its datasets", path);
  if (l->n) qsort(l->names, l->n, sizeof *l->names, by_name); /* names is NULL when n = 0 */
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

/* Records d (a copy of its path; it takes over value_a and value_b). A dataset's name is the last
 * component of its path, an attribute's what follows '@'. */
static int push_diff(fpk_h5_comparison *c, fpk_h5_diff *d) {
  const char *at = strrchr(d->path, '@'), *slash = strrchr(d->path, '/');
  const int attr = d->kind >= FPK_H5_DIFF_ATTR_VALUE;
  const char *base = attr && at ? at + 1 : slash ? slash + 1 : d->path;
  d->wall_clock = (d->kind == FPK_H5_DIFF_VALUES || d->kind == FPK_H5_DIFF_ATTR_VALUE) &&
                  strstr(base, "seconds") != NULL;
  if (!d->wall_clock && !d->record) c->nresults++;
  fpk_h5_diff *grown = realloc(c->diffs, (c->ndiffs + 1) * sizeof *grown);
  if (!grown) return free(d->value_a), free(d->value_b), -1;
  c->diffs = grown;
  c->diffs[c->ndiffs] = *d;
  if (!(c->diffs[c->ndiffs].path = strdup(d->path)))
    return free(d->value_a), free(d->value_b), -1;
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

/* ---- attributes ---------------------------------------------------------------------------- */

/* Attributes compared by nobody: HDF5's dimension-scale bookkeeping and netCDF's, whose
 * references are addresses in the file (the scales themselves are compared as datasets). */
static int skipped_attribute(const char *object, const char *name) {
  static const char *const bookkeeping[] = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME",
                                            "_Netcdf4Dimid", "_Netcdf4Coordinates",
                                            "_NCProperties"};
  for (size_t i = 0; i < sizeof bookkeeping / sizeof *bookkeeping; i++)
    if (!strcmp(name, bookkeeping[i])) return 1;
  /* the root's creation time: a rerun is created later (/provenance has start and end times) */
  return !strcmp(object, "/") && !strcmp(name, "created");
}

/* /provenance and everything in it: the build and the host of each file, which fpkit rerun
 * reports as notes (a rerun records its own command line, host and times there). */
static int in_provenance(const char *object) {
  return !strncmp(object, "/provenance", 11) && (object[11] == '\0' || object[11] == '/');
}

/* Root attributes that record how the run was made, not what it computed: a different value is
 * a note. fpkit_version is also in /provenance; config_file names the file the configuration
 * was read from (a rerun records the stored name; a file written before config_file existed
 * gets the name of the file rerun). The configuration itself (config) is compared. */
static int record_attribute(const char *object, const char *name) {
  return !strcmp(object, "/") && (!strcmp(name, "fpkit_version") || !strcmp(name, "config_file"));
}

/* H5Aiterate2 callback: the attribute names of one object. */
static herr_t collect_attribute(hid_t object, const char *name, const H5A_info_t *info,
                                void *data) {
  (void)object, (void)info;
  return names_push(data, "", name);
}

/* One attribute, read for comparison. */
typedef struct attr_value {
  H5T_class_t cls;    /* H5T_STRING, H5T_INTEGER, H5T_FLOAT or another class */
  size_t size;        /* bytes of one element in memory (native type; strings: 0) */
  int is_signed;      /* integers: two's complement */
  int opaque;         /* references or variable-length data: bytes are addresses, not values */
  int rank;
  hsize_t dims[H5S_MAX_RANK];
  size_t n;           /* elements (0 for a null dataspace) */
  char *bytes;        /* numbers and other classes: n * size native bytes; strings: the n
                         elements one after the other, each NUL-terminated */
  size_t nbytes;
} attr_value;

/* Reads attribute `name` of the open object obj into v: numbers in their native type (so the
 * comparison is of bits, not of values converted to double), strings as text. -1 when HDF5
 * cannot read it. */
static int read_attribute(hid_t obj, const char *name, attr_value *v) {
  memset(v, 0, sizeof *v);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t ftype = H5Aget_type(a), space = H5Aget_space(a), mem = -1;
  int rc = -1;
  const int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  const hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  if (ftype < 0 || rank < 0 || rank > H5S_MAX_RANK || npoints < 0) goto done;
  v->rank = rank;
  if (rank > 0 && H5Sget_simple_extent_dims(space, v->dims, NULL) < 0) goto done;
  v->n = (size_t)npoints;
  v->cls = H5Tget_class(ftype);
  if (v->cls == H5T_STRING && H5Tis_variable_str(ftype) > 0) {
    if ((mem = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(ftype)) < 0)
      goto done;
    char **s = calloc(v->n ? v->n : 1, sizeof *s);
    if (!s) goto done;
    if (v->n && H5Aread(a, mem, s) < 0) {
      free(s);
      goto done;
    }
    for (size_t i = 0; i < v->n; i++) v->nbytes += (s[i] ? strlen(s[i]) : 0) + 1;
    if ((v->bytes = malloc(v->nbytes ? v->nbytes : 1))) {
      char *p = v->bytes;
      for (size_t i = 0; i < v->n; i++) {
        const size_t k = s[i] ? strlen(s[i]) : 0;
        memcpy(p, s[i] ? s[i] : "", k + 1);
        p += k + 1;
      }
    }
    for (size_t i = 0; i < v->n; i++)
      if (s[i]) H5free_memory(s[i]);
    free(s);
    rc = v->bytes ? 0 : -1;
  } else if (v->cls == H5T_STRING) {
    /* fixed length: each element up to its first NUL (null-padded or null-terminated alike) */
    const size_t len = H5Tget_size(ftype);
    char *raw = calloc(v->n ? v->n : 1, len ? len : 1);
    if (!raw || (mem = H5Tcopy(ftype)) < 0 || (v->n && H5Aread(a, mem, raw) < 0)) {
      free(raw);
      goto done;
    }
    if ((v->bytes = malloc(v->n * (len + 1) + 1))) {
      char *p = v->bytes;
      for (size_t i = 0; i < v->n; i++) {
        const size_t k = strnlen(raw + i * len, len);
        memcpy(p, raw + i * len, k);
        p[k] = '\0';
        p += k + 1;
      }
      v->nbytes = (size_t)(p - v->bytes);
    }
    free(raw);
    rc = v->bytes ? 0 : -1;
  } else if (v->cls == H5T_REFERENCE || v->cls == H5T_VLEN ||
             H5Tdetect_class(ftype, H5T_REFERENCE) > 0 || H5Tdetect_class(ftype, H5T_VLEN) > 0 ||
             H5Tdetect_class(ftype, H5T_STRING) > 0) {
    v->opaque = 1; /* never equal: the bytes in memory would be pointers */
    rc = 0;
  } else {
    if ((mem = H5Tget_native_type(ftype, H5T_DIR_ASCEND)) < 0) goto done;
    v->size = H5Tget_size(mem);
    v->is_signed = v->cls == H5T_INTEGER && H5Tget_sign(mem) == H5T_SGN_2;
    v->nbytes = v->n * v->size;
    /* calloc: padding bytes of a compound are then zero in both files */
    if (!(v->bytes = calloc(v->nbytes ? v->nbytes : 1, 1))) goto done;
    rc = v->n && H5Aread(a, mem, v->bytes) < 0 ? -1 : 0;
  }
done:
  if (mem >= 0) H5Tclose(mem);
  if (space >= 0) H5Sclose(space);
  if (ftype >= 0) H5Tclose(ftype);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

static void attr_value_free(attr_value *v) {
  free(v->bytes);
  v->bytes = NULL;
}

static int same_type(const attr_value *a, const attr_value *b) {
  return a->cls == b->cls && a->size == b->size && a->is_signed == b->is_signed;
}

/* Numbers: the same type, shape and bytes (so bitwise: -0.0 differs from 0.0, NaN payloads
 * count); strings: the same shape and text. */
static int attr_equal(const attr_value *a, const attr_value *b) {
  return !a->opaque && !b->opaque && same_type(a, b) && a->rank == b->rank &&
         !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims) && a->n == b->n &&
         a->nbytes == b->nbytes && !memcmp(a->bytes, b->bytes, a->nbytes);
}

static const char *type_name(const attr_value *v) {
  static char buf[32];
  if (v->opaque) return "reference or variable-length";
  switch (v->cls) {
    case H5T_STRING: return "string";
    case H5T_FLOAT: snprintf(buf, sizeof buf, "float%zu", 8 * v->size); return buf;
    case H5T_INTEGER:
      snprintf(buf, sizeof buf, "%sint%zu", v->is_signed ? "" : "u", 8 * v->size);
      return buf;
    default: snprintf(buf, sizeof buf, "HDF5 class %d", (int)v->cls); return buf;
  }
}

static void print_number(FILE *o, const attr_value *v, size_t i) {
  const char *p = v->bytes + i * v->size;
  if (v->cls == H5T_FLOAT) {
    if (v->size == sizeof(double)) {
      double x;
      memcpy(&x, p, sizeof x);
      fprintf(o, "%.17g", x);
    } else if (v->size == sizeof(float)) {
      float x;
      memcpy(&x, p, sizeof x);
      fprintf(o, "%.9g", (double)x);
    } else if (v->size == sizeof(long double)) {
      long double x;
      memcpy(&x, p, sizeof x);
      fprintf(o, "%.21Lg", x);
    } else {
      fputs("?", o);
    }
    return;
  }
  unsigned long long u = 0;
  long long s = 0;
  switch (v->size) {
    case 1: { int8_t x; memcpy(&x, p, 1); s = x, u = (uint8_t)x; break; }
    case 2: { int16_t x; memcpy(&x, p, 2); s = x, u = (uint16_t)x; break; }
    case 4: { int32_t x; memcpy(&x, p, 4); s = x, u = (uint32_t)x; break; }
    case 8: { int64_t x; memcpy(&x, p, 8); s = x, u = (uint64_t)x; break; }
    default: fputs("?", o); return;
  }
  if (v->is_signed)
    fprintf(o, "%lld", s);
  else
    fprintf(o, "%llu", u);
}

/* text between quotes, control characters escaped, at most max characters from `from` */
static void print_text(FILE *o, const char *s, size_t from, size_t max) {
  const size_t len = strlen(s);
  if (from > len) from = len;
  fputs(from ? "'..." : "'", o);
  size_t i = from;
  for (; i < len && i < from + max; i++) {
    const unsigned char ch = (unsigned char)s[i];
    if (ch == '\n') fputs("\\n", o);
    else if (ch == '\t') fputs("\\t", o);
    else if (ch < 0x20 || ch == 0x7f) fprintf(o, "\\x%02x", ch);
    else fputc(ch, o);
  }
  fputs(i < len ? "...'" : "'", o);
}

/* v as text for a report. A long scalar string is shown around `diff_at` (its first difference
 * with the other file's, SIZE_MAX: from the start). */
static char *render(const attr_value *v, size_t diff_at, int with_type) {
  char *text = NULL;
  size_t size = 0;
  FILE *o = open_memstream(&text, &size);
  if (!o) return NULL;
  enum { show_elements = 6, show_chars = 60 };
  if (v->opaque) {
    fputs("(not comparable)", o);
  } else if (v->cls == H5T_STRING && v->n == 1) {
    const size_t from = diff_at != SIZE_MAX && diff_at > 20 ? diff_at - 20 : 0;
    if (from) fprintf(o, "(from character %zu) ", from);
    print_text(o, v->bytes, from, show_chars);
  } else if (v->cls == H5T_STRING || v->cls == H5T_INTEGER || v->cls == H5T_FLOAT) {
    if (v->rank > 0) fputc('[', o);
    const char *p = v->bytes;
    for (size_t i = 0; i < v->n && i < show_elements; i++) {
      if (i) fputc(' ', o);
      if (v->cls == H5T_STRING) {
        print_text(o, p, 0, 20);
        p += strlen(p) + 1;
      } else {
        print_number(o, v, i);
      }
    }
    if (v->n > show_elements) fprintf(o, " ... (%zu values)", v->n);
    if (v->rank > 0) fputc(']', o);
  } else {
    fprintf(o, "(%zu bytes)", v->nbytes);
  }
  if (with_type) fprintf(o, " (%s)", type_name(v));
  if (fclose(o)) {
    free(text);
    return NULL;
  }
  return text;
}

/* The first character where two scalar strings differ, or SIZE_MAX. */
static size_t first_difference(const attr_value *a, const attr_value *b) {
  if (a->cls != H5T_STRING || b->cls != H5T_STRING || a->n != 1 || b->n != 1) return SIZE_MAX;
  size_t i = 0;
  while (a->bytes[i] && a->bytes[i] == b->bytes[i]) i++;
  return i;
}

/* Attribute `name` of object in file (open object obj), for a report of one file only. */
static char *render_one(hid_t obj, const char *name) {
  attr_value v;
  if (read_attribute(obj, name, &v)) return strdup("(unreadable)");
  char *t = render(&v, SIZE_MAX, 0);
  attr_value_free(&v);
  return t;
}

static char *attribute_path(const char *object, const char *name) {
  char *p = malloc(strlen(object) + strlen(name) + 2);
  if (p) sprintf(p, "%s@%s", object, name);
  return p;
}

/* Sorted attribute names of an open object. */
static int list_attributes(hid_t obj, name_list *l) {
  hsize_t idx = 0;
  const herr_t rc = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attribute, l);
  H5Eclear2(H5E_DEFAULT);
  if (rc < 0 || l->oom) return -1;
  if (l->n) qsort(l->names, l->n, sizeof *l->names, by_name); /* names is NULL when n = 0 */
  return 0;
}

/* One attribute on an object present in one file only (a group: its datasets are reported). */
static int push_only(fpk_h5_comparison *c, const char *object, const char *name, hid_t obj,
                     int in_a) {
  fpk_h5_diff d = {.kind = in_a ? FPK_H5_DIFF_ATTR_ONLY_IN_A : FPK_H5_DIFF_ATTR_ONLY_IN_B,
                   .record = record_attribute(object, name)};
  char *value = render_one(obj, name);
  *(in_a ? &d.value_a : &d.value_b) = value;
  d.path = attribute_path(object, name);
  const int rc = !value || !d.path ? (free(value), -1) : push_diff(c, &d);
  free(d.path);
  return rc;
}

/* The attributes of object (NULL handle: absent from that file). */
static int compare_object_attributes(const char *object, hid_t oa, hid_t ob,
                                     const char *path_a, const char *path_b,
                                     fpk_h5_comparison *c, fpk_error *err) {
  name_list la = {0}, lb = {0};
  int rc = FPK_SUCCESS;
  const int bad_a = oa >= 0 && list_attributes(oa, &la);
  if (bad_a || (ob >= 0 && list_attributes(ob, &lb)))
    rc = la.oom || lb.oom ? fpk_error_set(err, FPK_ENOMEM, "out of memory")
                          : fpk_error_set(err, FPK_EIO, "%s: cannot list the attributes of '%s'",
                                          bad_a ? path_a : path_b, object);
  size_t i = 0, j = 0;
  while (!rc && (i < la.n || j < lb.n)) {
    const int order = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.names[i], lb.names[j]);
    const char *name = order <= 0 ? la.names[i] : lb.names[j];
    if (order <= 0) i++;
    if (order >= 0) j++;
    if (skipped_attribute(object, name)) continue;
    c->nattributes++;
    if (order != 0) {
      if (push_only(c, object, name, order < 0 ? oa : ob, order < 0))
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      continue;
    }
    attr_value va, vb;
    if (read_attribute(oa, name, &va)) {
      rc = fpk_error_set(err, FPK_EIO, "%s: cannot read attribute '%s' of '%s'", path_a, name,
                         object);
      break;
    }
    if (read_attribute(ob, name, &vb)) {
      attr_value_free(&va);
      rc = fpk_error_set(err, FPK_EIO, "%s: cannot read attribute '%s' of '%s'", path_b, name,
                         object);
      break;
    }
    if (attr_equal(&va, &vb)) {
      c->nattr_identical++;
    } else {
      const size_t at = first_difference(&va, &vb);
      const int typed = !same_type(&va, &vb);
      fpk_h5_diff d = {.kind = FPK_H5_DIFF_ATTR_VALUE, .record = record_attribute(object, name),
                       .value_a = render(&va, at, typed), .value_b = render(&vb, at, typed),
                       .path = attribute_path(object, name)};
      if (!d.value_a || !d.value_b || !d.path) {
        free(d.value_a), free(d.value_b);
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      } else if (push_diff(c, &d)) {
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      }
      free(d.path);
    }
    attr_value_free(&va);
    attr_value_free(&vb);
  }
  names_free(&la);
  names_free(&lb);
  return rc;
}

/* Every object of either file, outside /provenance: the attributes of the objects both have;
 * of a group only one has, each attribute as only in that file (a dataset only one has is
 * already a difference). */
static int compare_attributes(const char *path_a, const char *path_b, fpk_h5_comparison *c,
                              fpk_error *err) {
  name_list la = {0}, lb = {0};
  hid_t fa = -1, fb = -1;
  int rc = list_objects(path_a, 0, &la, err);
  if (!rc) rc = list_objects(path_b, 0, &lb, err);
  if (!rc && ((fa = H5Fopen(path_a, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0 ||
              (fb = H5Fopen(path_b, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0))
    rc = fpk_error_set(err, FPK_EIO, "%s: cannot open it to read its attributes",
                       fa < 0 ? path_a : path_b);
  size_t i = 0, j = 0;
  while (!rc && (i < la.n || j < lb.n)) {
    const int order = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.names[i], lb.names[j]);
    const char *object = order <= 0 ? la.names[i] : lb.names[j];
    if (order <= 0) i++;
    if (order >= 0) j++;
    if (in_provenance(object)) continue;
    hid_t oa = order <= 0 ? H5Oopen(fa, object, H5P_DEFAULT) : -1;
    hid_t ob = order >= 0 ? H5Oopen(fb, object, H5P_DEFAULT) : -1;
    if ((order <= 0 && oa < 0) || (order >= 0 && ob < 0)) {
      rc = fpk_error_set(err, FPK_EIO, "%s: cannot open '%s'", oa < 0 ? path_a : path_b, object);
    } else if (order == 0 || H5Iget_type(order < 0 ? oa : ob) == H5I_GROUP) {
      rc = compare_object_attributes(object, oa, ob, path_a, path_b, c, err);
    }
    if (oa >= 0) H5Oclose(oa);
    if (ob >= 0) H5Oclose(ob);
  }
  if (fa >= 0) H5Fclose(fa);
  if (fb >= 0) H5Fclose(fb);
  H5Eclear2(H5E_DEFAULT);
  names_free(&la);
  names_free(&lb);
  return rc;
}

static int by_diff_path(const void *a, const void *b) {
  return strcmp(((const fpk_h5_diff *)a)->path, ((const fpk_h5_diff *)b)->path);
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
  int rc = list_objects(path_a, 1, &la, err);
  if (!rc) rc = list_objects(path_b, 1, &lb, err);
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
  if (!rc) rc = compare_attributes(path_a, path_b, out, err);
  if (rc)
    fpk_h5_comparison_free(out);
  else if (out->ndiffs)
    qsort(out->diffs, out->ndiffs, sizeof *out->diffs, by_diff_path);
  return rc;
}

void fpk_h5_comparison_free(fpk_h5_comparison *c) {
  if (!c) return;
  for (size_t i = 0; i < c->ndiffs; i++)
    free(c->diffs[i].path), free(c->diffs[i].value_a), free(c->diffs[i].value_b);
  free(c->diffs);
  memset(c, 0, sizeof *c);
}
