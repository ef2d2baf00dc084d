/* Fuzz target: the HDF5 input path of fpkit (fpkit/io.h: the checked reader, the grid and field
 * readers of src/io/field.c that `fpkit ot` and `fpkit run` ([init] type = file) use, and the
 * comparison of src/io/compare.c behind `fpkit rerun`) on mutated HDF5 files.
 *
 * Each input is written to a file of its own ($FPK_FUZZ_TMPDIR or /dev/shm, removed afterwards)
 * and opened by its path, as the CLI opens its inputs. Then, in this order:
 *   fpk_h5_is_fpkit_file; fpk_h5_reader_open; the root string attributes (fpkit_version,
 *   config, model) and seed; fpk_h5_read_grid (at most 10^6 cells: fpkit run allows 10^7, less
 *   keeps every input fast); for each method (exact, fv, mc, spectral) fpk_h5_read_density at
 *   the last time, at the first stored time and at a time that is not stored; then, for those
 *   four densities and the first four datasets fpk_h5_list_datasets names: fpk_h5_field_shape
 *   (at most 100000 times, src/app/ot.c's MAX_FILE_TIMES), fpk_h5_read_field (at most 10^6
 *   values), fpk_h5_field_times, fpk_h5_read_doubles_rows of a slice of rows and of rows past
 *   the end, the dataset's description and units; fpk_h5_reader_close; finally
 *   fpk_h5_compare_files of the input against itself when its datasets hold at most 2 * 10^6
 *   values in all (it reads every dataset whole, twice).
 *
 * Checked, besides the sanitizers (a violated check aborts: libFuzzer reports it as a crash):
 * - every failure returns a status that is also in err (or the reader's message), non-empty;
 * - a dataset shape the reader accepts has a number of values that fits in memory as doubles;
 * - every value a read returns was written by the read: each read is done twice, into buffers
 *   filled first with two different patterns, and both results must be bitwise equal (HDF5
 *   leaves the buffer untouched where a dataset has no storage and no fill value);
 * - a slice of rows equals the same rows of the whole field; a density read at a time equals
 *   that time's row of the field, and its stored time and index are the ones asked for;
 * - a time that the field's times do not hold is refused with *index = SIZE_MAX;
 * - a file compared with itself is identical (every dataset, no difference) or the comparison
 *   fails with a message (but see compare_with_itself: a known defect is tolerated);
 * - no HDF5 identifier of the process is left open at the end (an object fpkit forgot to close:
 *   HDF5 would free it at exit, where LeakSanitizer cannot see it).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "fpkit/grid.h"
#include "fpkit/io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CELLS 1e6          /* fpkit run allows 10^7; less keeps every input fast (8 MB) */
#define MAX_FILE_TIMES 100000  /* src/app/ot.c */
#define MAX_VALUES 1000000     /* a field with all its times, read at once (8 MB) */
#define MAX_COMPARED 2000000.0 /* values of all datasets, for the self-comparison */

/* Two fill patterns: NaNs with distinct payloads, which no conversion produces. */
static const uint64_t pattern_a = UINT64_C(0x7ff4a5a5a5a5a5a5);
static const uint64_t pattern_b = UINT64_C(0x7ff35a5a5a5a5a5a);

static void fill(double *x, size_t n, uint64_t bits) {
  for (size_t i = 0; i < n; i++) memcpy(&x[i], &bits, sizeof bits);
}

static double *alloc_doubles(size_t n) {
  double *x = malloc((n ? n : 1) * sizeof *x);
  FUZZ_CHECK(x != NULL, "out of memory (%zu doubles)", n);
  return x;
}

/* A reader call that failed must have left a message on the reader. */
static void check_reader(int rc, fpk_h5_reader *r, const char *what) {
  if (!rc) return;
  const char *msg = fpk_h5_reader_errmsg(r);
  FUZZ_CHECK(msg && msg[0], "%s failed (%d) without a message", what, rc);
  fuzz_note(what, msg);
}

static void read_string_attr(fpk_h5_reader *r, const char *object, const char *name) {
  char *s = NULL;
  (void)fpk_h5_has_attr(r, object, name);
  int rc = fpk_h5_read_attr_string(r, object, name, &s);
  check_reader(rc, r, "fpk_h5_read_attr_string");
  FUZZ_CHECK(!rc == (s != NULL), "read_attr_string returned %d with %p", rc, (void *)s);
  if (s) {
    (void)strlen(s);
    free(s);
  }
}

/* fpk_h5_read_density of one method: at the last time, at the first stored time and at a time
 * not stored. */
static void read_density(fpk_h5_reader *r, const fpk_grid *g, const char *method) {
  const size_t N = g->size;
  double *a = alloc_doubles(N), *b = alloc_doubles(N);
  fpk_error err = {0};
  double t_last = NAN;
  size_t k_last = 0;
  fill(a, N, pattern_a);
  int rc = fpk_h5_read_density(r, g, method, NAN, a, &t_last, &k_last, &err);
  fuzz_check_status(rc, &err, "fpk_h5_read_density (last time)");
  if (!rc) {
    FUZZ_CHECK(isfinite(t_last), "%s: density read at t = %g", method, t_last);
    fill(b, N, pattern_b);
    double t2 = NAN;
    size_t k2 = 0;
    err = (fpk_error){0};
    rc = fpk_h5_read_density(r, g, method, t_last, b, &t2, &k2, &err);
    fuzz_check_status(rc, &err, "fpk_h5_read_density (the last time by value)");
    /* the first entry equal to t_last within 1e-12: at or before the last */
    FUZZ_CHECK(rc || (k2 <= k_last && fabs(t2 - t_last) <= 1e-12 * fmax(1.0, fabs(t_last))),
               "%s: t = %.17g found at index %zu (t = %.17g), the last at %zu", method, t_last,
               k2, t2, k_last);
    FUZZ_CHECK(rc || k2 != k_last || !memcmp(a, b, N * sizeof *a),
               "%s: two reads of the same time differ (values the read did not write)", method);
  }
  /* The field's own times: one stored (the first), one not stored. */
  size_t nt;
  int axis;
  char dpath[64];
  snprintf(dpath, sizeof dpath, "/%s/density", method);
  err = (fpk_error){0};
  if (!fpk_h5_field_shape(r, g, dpath, (size_t)1 << 20, &nt, &axis, &err) && axis) {
    double *t = alloc_doubles(nt);
    err = (fpk_error){0};
    rc = fpk_h5_field_times(r, dpath, nt, t, &err);
    fuzz_check_status(rc, &err, "fpk_h5_field_times");
    if (!rc && !isnan(t[0])) {
      double tf = NAN;
      size_t k = 0;
      err = (fpk_error){0};
      fill(a, N, pattern_a);
      rc = fpk_h5_read_density(r, g, method, t[0], a, &tf, &k, &err);
      fuzz_check_status(rc, &err, "fpk_h5_read_density (first time)");
      FUZZ_CHECK(rc || (k == 0 && tf == t[0]), "%s: t[0] = %.17g read as index %zu, t = %.17g",
                 method, t[0], k, tf);
      if (!rc) {
        /* the same row read directly */
        fill(b, N, pattern_b);
        rc = fpk_h5_read_doubles_rows(r, dpath, 0, 1, N, b);
        check_reader(rc, r, "fpk_h5_read_doubles_rows");
        FUZZ_CHECK(rc || !memcmp(a, b, N * sizeof *a), "%s: density at t[0] differs from row 0",
                   method);
      }
      /* past every stored time by more than the tolerance: never a match */
      double tmax = t[0];
      for (size_t i = 1; i < nt; i++) tmax = fmax(tmax, t[i]);
      const double absent = tmax + 1.0 + fabs(tmax) * 1e-6;
      if (isfinite(absent) && absent != tmax) {
        k = 0;
        err = (fpk_error){0};
        rc = fpk_h5_read_density(r, g, method, absent, a, NULL, &k, &err);
        FUZZ_CHECK(rc != 0, "%s: t = %.17g is not stored but was read", method, absent);
        fuzz_check_status(rc, &err, "fpk_h5_read_density (a time not stored)");
        FUZZ_CHECK(k == SIZE_MAX, "%s: a time not stored left index %zu (%s)", method, k, err.msg);
      }
    }
    free(t);
  }
  free(a);
  free(b);
}

/* fpk_h5_read_doubles_rows of a slice, checked against the whole (when it was read), and of
 * rows past the end (must fail). */
static void read_rows(fpk_h5_reader *r, const char *dataset, size_t nrows, size_t row_len,
                      const double *whole) {
  const size_t first = nrows / 2, count = nrows - first < 2 ? nrows - first : 2;
  if ((double)count * (double)row_len > MAX_VALUES) return;
  double *a = alloc_doubles(count * row_len), *b = alloc_doubles(count * row_len);
  fill(a, count * row_len, pattern_a);
  int rc = fpk_h5_read_doubles_rows(r, dataset, first, count, row_len, a);
  check_reader(rc, r, "fpk_h5_read_doubles_rows");
  if (!rc) {
    fill(b, count * row_len, pattern_b);
    rc = fpk_h5_read_doubles_rows(r, dataset, first, count, row_len, b);
    check_reader(rc, r, "fpk_h5_read_doubles_rows (again)");
    FUZZ_CHECK(rc || !memcmp(a, b, count * row_len * sizeof *a),
               "%s: two reads of rows [%zu, %zu) differ (values the read did not write)", dataset,
               first, first + count);
    FUZZ_CHECK(!whole || !memcmp(a, whole + first * row_len, count * row_len * sizeof *a),
               "%s: rows [%zu, %zu) differ from the same rows of the whole", dataset, first,
               first + count);
  }
  rc = fpk_h5_read_doubles_rows(r, dataset, nrows, 1, row_len, a);
  FUZZ_CHECK(rc != 0, "%s: row %zu of %zu read", dataset, nrows, nrows);
  check_reader(rc, r, "fpk_h5_read_doubles_rows (past the end)");
  free(a);
  free(b);
}

/* One dataset as a field on the grid (fpk_h5_field_shape, _read_field, _field_times), or, without
 * a grid, as rows of its first axis; then its description and units. */
static void read_dataset(fpk_h5_reader *r, const fpk_grid *g, const char *dataset) {
  const int is = fpk_h5_is_dataset(r, dataset);
  check_reader(is < 0, r, "fpk_h5_is_dataset");
  if (is <= 0) return;
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(r, dataset, &rank, dims);
  check_reader(rc, r, "fpk_h5_dataset_shape");
  if (rc) return;
  FUZZ_CHECK(rank <= FPK_H5_MAX_RANK, "rank %zu", rank);
  /* an accepted shape has a count that fits in memory as doubles (callers multiply freely) */
  size_t count = 1;
  for (size_t a = 0; a < rank; a++) {
    FUZZ_CHECK(dims[a] == 0 || count <= SIZE_MAX / sizeof(double) / dims[a],
               "%s: shape accepted with more values than memory can hold", dataset);
    count *= dims[a];
  }
  read_string_attr(r, dataset, "description");
  read_string_attr(r, dataset, "units");
  if (!g) {
    size_t row_len = 1;
    for (size_t a = 1; a < rank; a++) row_len *= dims[a];
    if (rank >= 1) read_rows(r, dataset, dims[0], row_len, NULL);
    return;
  }
  size_t nt;
  int axis;
  fpk_error err = {0};
  rc = fpk_h5_field_shape(r, g, dataset, MAX_FILE_TIMES, &nt, &axis, &err);
  fuzz_check_status(rc, &err, "fpk_h5_field_shape");
  if (rc) return;
  FUZZ_CHECK(nt >= 1 && nt <= MAX_FILE_TIMES && (axis || nt == 1), "nt %zu, time axis %d", nt,
             axis);
  const size_t N = g->size;
  FUZZ_CHECK(count == nt * N, "%s: %zu values accepted as %zu fields of %zu", dataset, count, nt,
             N);
  if ((double)nt * (double)N > MAX_VALUES) return;
  double *a = alloc_doubles(nt * N), *b = alloc_doubles(nt * N), *t = alloc_doubles(nt);
  fill(a, nt * N, pattern_a);
  rc = fpk_h5_read_field(r, g, dataset, nt, a, &err);
  fuzz_check_status(rc, &err, "fpk_h5_read_field");
  if (!rc) {
    fill(b, nt * N, pattern_b);
    err = (fpk_error){0};
    rc = fpk_h5_read_field(r, g, dataset, nt, b, &err);
    fuzz_check_status(rc, &err, "fpk_h5_read_field (again)");
    FUZZ_CHECK(rc || !memcmp(a, b, nt * N * sizeof *a),
               "%s: two reads differ (values the read did not write)", dataset);
  }
  if (axis) {
    err = (fpk_error){0};
    const int trc = fpk_h5_field_times(r, dataset, nt, t, &err);
    fuzz_check_status(trc, &err, "fpk_h5_field_times");
    read_rows(r, dataset, nt, N, rc ? NULL : a);
  }
  free(a);
  free(b);
  free(t);
}

/* What the self-comparison will meet: the values of the datasets, and the hard links whose object
 * HDF5 cannot open (a damaged object header). */
typedef struct file_census {
  double values;
  size_t datasets, unopenable;
} file_census;

/* H5Lvisit callback (links as fpk_h5_compare_files lists them). */
static herr_t census(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  file_census *c = data;
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t o = H5Oopen(group, name, H5P_DEFAULT);
  if (o < 0) {
    c->unopenable++;
    return 0;
  }
  if (H5Iget_type(o) == H5I_DATASET) {
    c->datasets++;
    hid_t s = H5Dget_space(o);
    const hssize_t n = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    c->values += n < 0 ? 0 : (double)n;
    if (s >= 0) H5Sclose(s);
  }
  H5Oclose(o);
  return 0;
}

/* fpk_h5_compare_files of the file with itself: identical, or a failure with a message.
 * A damaged object (one HDF5 cannot open) makes the comparison fail naming it: it was once
 * left out of the listing, so the file compared as identical or, HDF5's cache opening it on a
 * second pass, as "only in B" (fixed in src/io/compare.c; fuzz/README.md). A file without any
 * dataset is compared too (qsort of an empty list: fuzz/regressions/h5/compare_no_datasets.h5). */
static void compare_with_itself(const char *path) {
  file_census n = {0, 0, 0};
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  const herr_t st = H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, census, &n);
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  if (st < 0 || n.values > MAX_COMPARED) return;
  fpk_h5_comparison c;
  fpk_error err = {0};
  const int rc = fpk_h5_compare_files(path, path, &c, &err);
  fuzz_check_status(rc, &err, "fpk_h5_compare_files");
  if (rc) {
    FUZZ_CHECK(c.ndiffs == 0 && c.diffs == NULL, "a failed comparison left %zu differences",
               c.ndiffs);
    return;
  }
  FUZZ_CHECK(c.ndiffs == 0 && c.nresults == 0 && c.nidentical == c.ndatasets,
             "the file differs from itself: %zu of %zu datasets differ (the first: %s, kind %d)",
             c.ndiffs, c.ndatasets, c.ndiffs ? c.diffs[0].path : "-",
             c.ndiffs ? (int)c.diffs[0].kind : 0);
  char note[96];
  snprintf(note, sizeof note, "%zu of %zu datasets identical", c.nidentical, c.ndatasets);
  fuzz_note("fpk_h5_compare_files", note);
  fpk_h5_comparison_free(&c);
}

/* A fresh file name per input (HDF5 identifies open files by name and inode): in
 * $FPK_FUZZ_TMPDIR (scripts/fuzz.sh makes one and removes it, with what a process that died
 * left there), else in /dev/shm when there is one. */
static void input_path(char *path, size_t len) {
  static unsigned long count;
  static const char *dir;
  if (!dir) {
    struct stat st;
    dir = getenv("FPK_FUZZ_TMPDIR")                            ? getenv("FPK_FUZZ_TMPDIR")
          : stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
          : getenv("TMPDIR")                                   ? getenv("TMPDIR")
                                                               : "/tmp";
  }
  snprintf(path, len, "%s/fpk-fuzz-h5-%ld-%lu.h5", dir, (long)getpid(), count++);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[512];
  input_path(path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0, "cannot create %s", path);
  for (size_t done = 0; done < size;) {
    ssize_t w = write(fd, data + done, size - done);
    FUZZ_CHECK(w > 0, "write failed");
    done += (size_t)w;
  }
  close(fd);

  (void)fpk_h5_is_fpkit_file(path);
  fpk_error err = {0};
  fpk_h5_reader *f = fpk_h5_reader_open(path, &err);
  fuzz_check_null(f, &err, "fpk_h5_reader_open");
  if (f) {
    FUZZ_CHECK(strcmp(fpk_h5_reader_path(f), path) == 0, "reader path");
    read_string_attr(f, "/", "fpkit_version");
    read_string_attr(f, "/", "config");
    read_string_attr(f, "/", "model");
    double seed;
    check_reader(fpk_h5_read_attr_double(f, "/", "seed", &seed), f, "fpk_h5_read_attr_double");
    fpk_grid grid;
    err = (fpk_error){0};
    const int grid_rc = fpk_h5_read_grid(f, MAX_CELLS, &grid, &err);
    fuzz_check_status(grid_rc, &err, "fpk_h5_read_grid");
    const fpk_grid *g = grid_rc ? NULL : &grid;
    FUZZ_CHECK(!g || (g->size >= 1 && (double)g->size <= MAX_CELLS), "grid of %zu cells",
               g ? g->size : 0);
    static const char *const methods[] = {"exact", "fv", "mc", "spectral"};
    for (size_t k = 0; g && k < sizeof methods / sizeof methods[0]; k++)
      read_density(f, g, methods[k]);
    static const char *const fields[] = {"/exact/density", "/fv/density", "/mc/density",
                                         "/spectral/density"};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) read_dataset(f, g, fields[k]);
    /* Whatever else the file holds (the readers' messages list these when a dataset is
     * missing). */
    char list[320];
    fpk_h5_list_datasets(f, list, sizeof list);
    FUZZ_CHECK(memchr(list, '\0', sizeof list) != NULL, "list not terminated");
    char *save = NULL;
    int k = 0;
    for (char *tok = strtok_r(list, ", ", &save); tok && k < 4; tok = strtok_r(NULL, ", ", &save))
      if (tok[0] == '/') read_dataset(f, g, tok), k++;
    fpk_h5_reader_close(f);
    compare_with_itself(path);
  }
  /* Every identifier fpkit opened was closed. */
  const ssize_t open_ids = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  FUZZ_CHECK(open_ids == 0, "%zd HDF5 identifiers left open", open_ids);
  unlink(path);
  return 0;
}
