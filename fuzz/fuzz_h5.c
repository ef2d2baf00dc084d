/* Fuzz target: the HDF5 input path of the command line (fpkit/io.h's checked reader, as
 * src/app/ot.c's read_hdf5_marginal and file_grid use it) on mutated HDF5 files.
 *
 * Each input is written to a file of its own ($FPK_FUZZ_TMPDIR or /dev/shm, removed afterwards)
 * and opened by its path, as the CLI opens its inputs. The reading sequence is the CLI's:
 *   open (regular file, HDF5 signature), the root string attributes (fpkit_version, config,
 *   model), /grid, /grid/x, /grid/y, /grid/z: shape, attributes lo and hi, the grid, then the
 *   cell centres; then for a few density datasets (/exact, /fv, /mc, /spectral and the first
 *   datasets fpk_h5_list_datasets names): shape checked against the grid with an optional
 *   leading time axis, the values, and the time dataset `t` beside it; string attributes of the
 *   dataset (description, units); close.
 * Before anything is allocated, the grid is limited to 10^6 cells (fpkit run limits grids to
 * 10^7, src/app/run.c MAX_CELLS), the time axis to 100000 entries (src/app/ot.c MAX_FILE_TIMES)
 * and a field with its times to 10^6 values (src/app/ot.c has no such limits: see
 * fuzz/regressions/h5/README.md).
 *
 * Checked, besides the sanitizers: every failure returns a status that is also in the reader's
 * message, non-empty; a dataset shape the reader accepts has a number of values that fits in
 * memory as doubles (callers multiply the dimensions); after fpk_h5_reader_close no HDF5
 * identifier of the process is left open (an object fpkit forgot to close: HDF5 would free it at
 * exit, where LeakSanitizer cannot see it).
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

#define MAX_CELLS 1e6 /* fpkit run allows 10^7; less keeps every input fast (8 MB at most) */
#define MAX_FILE_TIMES 100000

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

/* file_grid of src/app/ot.c: 0 with the grid in g, else -1. */
static int file_grid(fpk_h5_reader *f, fpk_grid *g) {
  static const char *const axes[] = {"/grid/x", "/grid/y", "/grid/z"};
  size_t n[FPK_MAX_DIM], d;
  double lo[FPK_MAX_DIM], hi[FPK_MAX_DIM], cells = 1;
  if (!fpk_h5_exists(f, "/grid")) return -1;
  for (d = 0; d < FPK_MAX_DIM; d++) {
    const int is = fpk_h5_is_dataset(f, axes[d]);
    check_reader(is < 0, f, "fpk_h5_is_dataset");
    if (is < 0) return -1;
    if (!is) break;
    size_t rank, dims[FPK_H5_MAX_RANK];
    int rc = fpk_h5_dataset_shape(f, axes[d], &rank, dims);
    check_reader(rc, f, "fpk_h5_dataset_shape");
    if (rc || rank != 1) return -1;
    n[d] = dims[0];
    cells *= (double)n[d];
    rc = fpk_h5_read_attr_double(f, axes[d], "lo", &lo[d]);
    check_reader(rc, f, "fpk_h5_read_attr_double");
    if (rc) return -1;
    rc = fpk_h5_read_attr_double(f, axes[d], "hi", &hi[d]);
    check_reader(rc, f, "fpk_h5_read_attr_double");
    if (rc) return -1;
  }
  if (d == 0 || cells > MAX_CELLS) return -1;
  fpk_bc bc[FPK_MAX_DIM] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  fpk_error e = {0};
  int rc = fpk_grid_init(g, d, n, lo, hi, bc, &e);
  fuzz_check_status(rc, &e, "fpk_grid_init");
  if (rc) return -1;
  for (size_t a = 0; a < d; a++) {
    double *x = malloc(n[a] * sizeof *x);
    FUZZ_CHECK(x != NULL, "out of memory");
    rc = fpk_h5_read_doubles(f, axes[a], n[a], x);
    check_reader(rc, f, "fpk_h5_read_doubles");
    int bad = rc != 0;
    for (size_t i = 0; !bad && i < n[a]; i++)
      bad = !(fabs(x[i] - fpk_grid_center(g, a, i)) <= 1e-9 * g->h[a]);
    free(x);
    if (bad) return -1;
  }
  return 0;
}

/* read_hdf5_marginal and read_field_times of src/app/ot.c for one dataset. */
static void read_field(fpk_h5_reader *f, const fpk_grid *g, const char *dataset) {
  const int is = fpk_h5_is_dataset(f, dataset);
  check_reader(is < 0, f, "fpk_h5_is_dataset");
  if (is <= 0) return;
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(f, dataset, &rank, dims);
  check_reader(rc, f, "fpk_h5_dataset_shape");
  if (rc) return;
  FUZZ_CHECK(rank <= FPK_H5_MAX_RANK, "rank %zu", rank);
  /* an accepted shape has a count that fits in memory as doubles (callers multiply freely) */
  size_t count = 1;
  for (size_t a = 0; a < rank; a++) {
    FUZZ_CHECK(dims[a] == 0 || count <= SIZE_MAX / sizeof(double) / dims[a],
               "%s: shape accepted with more values than memory can hold", dataset);
    count *= dims[a];
  }
  read_string_attr(f, dataset, "description");
  read_string_attr(f, dataset, "units");
  if (!g) return;
  const size_t dim = g->dim, N = g->size;
  int fits = rank == dim || rank == dim + 1;
  const size_t off = rank == dim + 1;
  for (size_t a = 0; fits && a < dim; a++) fits = dims[off + dim - 1 - a] == g->n[a];
  if (!fits) return;
  const size_t nfile = off ? dims[0] : 1;
  /* at most 10^6 values (8 MB) read at once */
  if (nfile < 1 || nfile > MAX_FILE_TIMES || (double)nfile * (double)N > MAX_CELLS) return;
  double *buf = malloc(nfile * N * sizeof *buf), *tf = malloc(nfile * sizeof *tf);
  FUZZ_CHECK(buf && tf, "out of memory");
  rc = fpk_h5_read_doubles(f, dataset, nfile * N, buf);
  check_reader(rc, f, "fpk_h5_read_doubles");
  if (!rc && off) {
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s", dataset);
    char *slash = strrchr(tpath, '/');
    snprintf(slash + 1, sizeof tpath - (size_t)(slash + 1 - tpath), "t");
    const int ist = fpk_h5_is_dataset(f, tpath);
    check_reader(ist < 0, f, "fpk_h5_is_dataset");
    size_t trank, tdims[FPK_H5_MAX_RANK];
    if (ist > 0 && !fpk_h5_dataset_shape(f, tpath, &trank, tdims) && trank == 1 &&
        tdims[0] == nfile) {
      rc = fpk_h5_read_doubles(f, tpath, nfile, tf);
      check_reader(rc, f, "fpk_h5_read_doubles");
    }
  }
  free(buf);
  free(tf);
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
    const int have_grid = file_grid(f, &grid) == 0;
    static const char *const fields[] = {"/exact/density", "/fv/density", "/mc/density",
                                         "/spectral/density"};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
      read_field(f, have_grid ? &grid : NULL, fields[k]);
    /* Whatever else the file holds (the CLI's message lists these when a dataset is missing). */
    char list[320];
    fpk_h5_list_datasets(f, list, sizeof list);
    FUZZ_CHECK(memchr(list, '\0', sizeof list) != NULL, "list not terminated");
    char *save = NULL;
    int k = 0;
    for (char *tok = strtok_r(list, ", ", &save); tok && k < 4; tok = strtok_r(NULL, ", ", &save))
      if (tok[0] == '/') read_field(f, have_grid ? &grid : NULL, tok), k++;
    fpk_h5_reader_close(f);
  }
  /* Every identifier fpkit opened was closed. */
  const ssize_t open_ids = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  FUZZ_CHECK(open_ids == 0, "%zd HDF5 identifiers left open", open_ids);
  unlink(path);
  return 0;
}
