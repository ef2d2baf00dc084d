/* HDF5 output and input (fpkit/io.h): the destination checks made before any computation, stale
 * temporaries, the refusal of non-finite values, Fletcher-32 checksums that catch every flipped
 * bit in a dataset, and a reader that checks each dataspace before it reads (an attribute stored
 * as an array once overflowed a stack buffer; a FIFO once blocked HDF5 forever); dimension scales
 * checked against the axes they label, and the XDMF sidecar of a 2D field. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "fpk_test.h"
#include "fpkit/io.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/fpk_io_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static const char *in_dir(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

#define assert_msg_has(msg, text)                                                  \
  do {                                                                             \
    if (!strstr((msg), (text))) fail_msg("message lacks \"%s\": %s", (text), (msg)); \
  } while (0)

/* A committed fpkit file at path with one dataset "/v" of n values and a root attribute. */
static void write_result(const char *path, size_t n, const double *v, int force) {
  fpk_error err = {0};
  fpk_h5_create_options o = {.force = force};
  fpk_h5 *f = fpk_h5_create(path, &o, &err);
  if (!f) fail_msg("create %s: %s", path, err.msg);
  assert_int_equal(fpk_h5_attr_string(f, "/", "fpkit_version", "test"), FPK_SUCCESS);
  assert_int_equal(fpk_h5_write(f, "/v", 1, &n, v, "length", "values"), FPK_SUCCESS);
  if (fpk_h5_commit(f)) fail_msg("commit: %s", fpk_h5_errmsg(f));
  fpk_h5_close(f);
}

static void test_destination(void **state) {
  (void)state;
  fpk_error err = {0};
  double v[3] = {1, 2, 3};
  assert_null(fpk_h5_create("", NULL, &err));
  assert_msg_has(err.msg, "output path is empty");
  assert_null(fpk_h5_create(dir, NULL, &err));
  assert_msg_has(err.msg, "is a directory");
  assert_null(fpk_h5_create(in_dir("sub/"), NULL, &err));
  assert_msg_has(err.msg, "names a directory");
  assert_null(fpk_h5_create("/dev/null", NULL, &err));
  assert_msg_has(err.msg, "is a character device, not a regular file");
  assert_int_equal(mkfifo(in_dir("fifo"), 0600), 0);
  assert_null(fpk_h5_create(in_dir("fifo"), NULL, &err));
  assert_msg_has(err.msg, "is a FIFO");
  assert_null(fpk_h5_create(in_dir("nodir/x.h5"), NULL, &err));
  assert_int_equal(err.status, FPK_EIO);
  assert_msg_has(err.msg, "No such file or directory");

  /* a file fpkit did not write is replaced only when forced */
  write_text(in_dir("notes.txt"), "precious\n");
  assert_null(fpk_h5_create(in_dir("notes.txt"), NULL, &err));
  assert_msg_has(err.msg, "is not an fpkit result");
  assert_msg_has(err.msg, "--force");
  write_result(in_dir("notes.txt"), 3, v, 1);
  assert_int_equal(fpk_h5_is_fpkit_file(in_dir("notes.txt")), 1);
  /* an fpkit result is replaced without --force */
  write_result(in_dir("notes.txt"), 3, v, 0);

  /* a symbolic link would be replaced by the result, not written through: refused unless forced */
  assert_int_equal(symlink(in_dir("notes.txt"), in_dir("link.h5")), 0);
  assert_null(fpk_h5_create(in_dir("link.h5"), NULL, &err));
  assert_msg_has(err.msg, "symbolic link");

  /* the output may not be an input, even forced and under another name */
  write_text(in_dir("run.ini"), "[model]\n");
  const char *inputs[] = {in_dir("run.ini")};
  fpk_h5_create_options o = {.force = 1, .inputs = inputs, .ninputs = 1};
  char other[256];
  snprintf(other, sizeof other, "%s/./run.ini", dir);
  assert_null(fpk_h5_create(other, &o, &err));
  assert_msg_has(err.msg, "is the input file");
  FILE *f = fopen(in_dir("run.ini"), "r");
  char line[32] = "";
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  assert_string_equal(line, "[model]\n"); /* untouched */

  /* an uncommitted file leaves nothing behind */
  fpk_h5 *h = fpk_h5_create(in_dir("gone.h5"), NULL, &err);
  assert_non_null(h);
  struct stat st;
  assert_int_equal(stat(fpk_h5_temp_path(h), &st), 0);
  fpk_h5_close(h);
  assert_int_not_equal(stat(in_dir("gone.h5"), &st), 0);
}

/* Temporaries of the same destination that no process holds are removed; a held one is not. */
static void test_stale(void **state) {
  (void)state;
  write_text(in_dir("out.h5.tmp.AbC123"), "left by kill -9");
  write_text(in_dir("out.h5.tmp.HeLd99"), "a live run");
  write_text(in_dir("out.h5.tmp.short"), "not fpkit's pattern");
  write_text(in_dir("other.h5.tmp.XyZ789"), "another destination");
  int held = open(in_dir("out.h5.tmp.HeLd99"), O_RDONLY);
  assert_true(held >= 0);
  assert_int_equal(flock(held, LOCK_EX), 0);
  fpk_error err = {0};
  fpk_h5 *f = fpk_h5_create(in_dir("out.h5"), NULL, &err);
  if (!f) fail_msg("%s", err.msg);
  assert_int_equal(fpk_h5_stale_removed(f), 1);
  struct stat st;
  assert_int_not_equal(stat(in_dir("out.h5.tmp.AbC123"), &st), 0);
  assert_int_equal(stat(in_dir("out.h5.tmp.HeLd99"), &st), 0);
  assert_int_equal(stat(in_dir("out.h5.tmp.short"), &st), 0);
  assert_int_equal(stat(in_dir("other.h5.tmp.XyZ789"), &st), 0);
  /* the writer's own temporary is locked: a second writer to the same path leaves it alone */
  fpk_h5 *g = fpk_h5_create(in_dir("out.h5"), NULL, &err);
  assert_non_null(g);
  assert_int_equal(fpk_h5_stale_removed(g), 0);
  assert_int_equal(stat(fpk_h5_temp_path(f), &st), 0);
  fpk_h5_close(g);
  fpk_h5_close(f);
  close(held);
}

static void test_nonfinite(void **state) {
  (void)state;
  fpk_error err = {0};
  fpk_h5 *f = fpk_h5_create(in_dir("nan.h5"), NULL, &err);
  assert_non_null(f);
  double m[2][3] = {{1, 2, 3}, {4, 5, NAN}};
  size_t dims[2] = {2, 3};
  assert_int_equal(fpk_h5_write(f, "/m", 2, dims, &m[0][0], NULL, NULL), FPK_ENUMERIC);
  assert_msg_has(fpk_h5_errmsg(f), "dataset '/m'[1][2] = nan is not finite");
  assert_int_equal(fpk_h5_status(f), FPK_ENUMERIC);
  /* NaN declared as "not defined" is written, with what it means; infinity never */
  assert_int_equal(fpk_h5_write_undefined(f, "/u", 2, dims, &m[0][0], NULL, NULL, "no survivor"),
                   FPK_SUCCESS);
  m[0][1] = -INFINITY;
  assert_int_equal(fpk_h5_write_undefined(f, "/w", 2, dims, &m[0][0], NULL, NULL, "x"),
                   FPK_ENUMERIC);
  assert_int_equal(fpk_h5_attr_double(f, "/", "dt", NAN), FPK_ENUMERIC);
  /* a failed run kept for inspection writes its fields as they are */
  if (fpk_h5_mark_failed(f, "fv at t = 1: mass = -2")) fail_msg("%s", fpk_h5_errmsg(f));
  if (fpk_h5_write(f, "/m", 2, dims, &m[0][0], NULL, NULL)) fail_msg("%s", fpk_h5_errmsg(f));
  assert_int_equal(fpk_h5_commit(f), FPK_SUCCESS);
  fpk_h5_close(f);
  fpk_h5_reader *r = fpk_h5_reader_open(in_dir("nan.h5"), &err);
  assert_non_null(r);
  double failed;
  char *why;
  assert_int_equal(fpk_h5_read_attr_double(r, "/", "failed", &failed), FPK_SUCCESS);
  assert_close_abs(failed, 1.0, 0.0);
  assert_int_equal(fpk_h5_read_attr_string(r, "/", "failed_reason", &why), FPK_SUCCESS);
  assert_string_equal(why, "fv at t = 1: mass = -2");
  free(why);
  assert_int_equal(fpk_h5_read_attr_string(r, "/u", "nan", &why), FPK_SUCCESS);
  assert_string_equal(why, "no survivor");
  free(why);
  fpk_h5_reader_close(r);
}

/* Round trip, then every single-bit flip inside the stored values of a dataset is an error on
 * reading (Fletcher-32 over the shuffled and deflated chunk), never a silently different number.
 * The values carry random low bits, so that deflate leaves the chunk at more than half its 24000 bytes and
 * the flips, one every 53 bytes, number over 200. */
static void test_checksums(void **state) {
  (void)state;
  enum { N = 3000 };
  double *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
  uint64_t lcg = 12345;
  for (size_t i = 0; i < N; i++) {
    lcg = lcg * 6364136223846793005u + 1442695040888963407u;
    v[i] = 12345.678 + 0.001 * (double)i + (double)(lcg >> 11) * 0x1p-60;
  }
  const char *path = in_dir("ck.h5");
  write_result(path, N, v, 0);
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  size_t rank, dims[FPK_H5_MAX_RANK];
  assert_int_equal(fpk_h5_dataset_shape(r, "/v", &rank, dims), FPK_SUCCESS);
  assert_int_equal(rank, 1);
  assert_int_equal(dims[0], N);
  assert_int_equal(fpk_h5_read_doubles(r, "/v", N, back), FPK_SUCCESS);
  assert_memory_equal(v, back, N * sizeof *v);
  char list[128];
  fpk_h5_list_datasets(r, list, sizeof list);
  assert_string_equal(list, "/v");
  fpk_h5_reader_close(r);

  /* locate the stored chunk of the values in the file: it is compressed, so its bytes are not
   * the values' */
  hid_t hf = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t hd = H5Dopen2(hf, "/v", H5P_DEFAULT);
  hsize_t nchunks = 0, offset[1], stored = 0;
  haddr_t addr = 0;
  unsigned mask = 0;
  hid_t hs = H5Dget_space(hd); /* HDF5 1.10 takes no H5S_ALL here */
  assert_true(H5Dget_num_chunks(hd, hs, &nchunks) >= 0);
  assert_int_equal(nchunks, 1);
  assert_true(H5Dget_chunk_info(hd, hs, 0, offset, &mask, &addr, &stored) >= 0);
  H5Sclose(hs);
  assert_int_equal(mask, 0); /* every filter applied */
  hid_t dcpl = H5Dget_create_plist(hd);
  assert_int_equal(H5Pget_nfilters(dcpl), 3); /* shuffle, deflate, Fletcher-32 */
  H5Pclose(dcpl), H5Dclose(hd), H5Fclose(hf);
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  unsigned char *bytes = malloc((size_t)size);
  fseek(f, 0, SEEK_SET);
  assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  const long at = (long)addr;
  assert_true(at > 0 && at + (long)stored <= size);
  size_t flips = 0, caught = 0;
  for (long k = at; k < at + (long)stored; k += 53) {
    const unsigned char bit = (unsigned char)(1u << (k % 8));
    bytes[k] ^= bit;
    FILE *w = fopen(in_dir("flip.h5"), "wb");
    fwrite(bytes, 1, (size_t)size, w);
    fclose(w);
    bytes[k] ^= bit;
    flips++;
    fpk_h5_reader *c = fpk_h5_reader_open(in_dir("flip.h5"), &err);
    assert_non_null(c);
    const int rc = fpk_h5_read_doubles(c, "/v", N, back);
    if (rc) {
      caught++;
      assert_msg_has(fpk_h5_reader_errmsg(c), "cannot read dataset '/v'");
    }
    fpk_h5_reader_close(c);
  }
  printf("  Fletcher-32: %zu of %zu single-bit flips in the values detected on reading\n", caught,
         flips);
  assert_true(flips > 200);
  assert_int_equal(caught, flips);
  free(bytes), free(v), free(back);
}

/* Files fpkit did not write: every shape is checked before a read. */
static void test_reader_malformed(void **state) {
  (void)state;
  const char *path = in_dir("bad.h5");
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 1000, five = 5;
  double big[1000] = {0};
  hid_t s = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, big);
  hid_t a = H5Acreate2(d, "lo", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT); /* an array */
  H5Awrite(a, H5T_NATIVE_DOUBLE, big);
  H5Aclose(a);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, 4);
  hid_t sc = H5Screate(H5S_SCALAR);
  a = H5Acreate2(d, "name", str, sc, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, str, "abcd");
  H5Aclose(a);
  H5Dclose(d);
  hid_t s5 = H5Screate_simple(1, &five, NULL);
  d = H5Dcreate2(f, "/words", str, s5, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(s5), H5Sclose(sc), H5Sclose(s), H5Tclose(str);
  H5Fclose(f);

  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  double x[5];
  assert_int_equal(fpk_h5_read_attr_double(r, "/x", "lo", x), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "attribute 'lo' of '/x' has shape [1000]");
  assert_msg_has(fpk_h5_reader_errmsg(r), "expected one number");
  assert_int_equal(fpk_h5_read_attr_double(r, "/x", "name", x), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "is not a number");
  char *name;
  assert_int_equal(fpk_h5_read_attr_string(r, "/x", "name", &name), FPK_SUCCESS);
  assert_string_equal(name, "abcd"); /* fixed length, no terminator stored */
  free(name);
  assert_int_equal(fpk_h5_read_attr_string(r, "/x", "lo", &name), FPK_EINVAL);
  assert_int_equal(fpk_h5_read_attr_double(r, "/x", "hi", x), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "has no attribute 'hi'");
  assert_int_equal(fpk_h5_read_doubles(r, "/x", 5, x), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "has 1000 values, expected 5");
  assert_int_equal(fpk_h5_read_doubles(r, "/words", 5, x), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "does not hold numbers");
  assert_int_equal(fpk_h5_read_doubles(r, "/nope", 5, x), FPK_EINVAL);
  assert_int_equal(fpk_h5_is_dataset(r, "/nope/deeper"), 0);
  assert_int_equal(fpk_h5_is_dataset(r, "/"), 0);
  assert_int_equal(fpk_h5_has_attr(r, "/x", "lo"), 1);
  fpk_h5_reader_close(r);
  assert_int_equal(fpk_h5_is_fpkit_file(path), 0);

  /* inputs that are not HDF5 files, or not regular files: refused at once (a FIFO would block
   * H5Fopen forever) */
  write_text(in_dir("text.h5"), "not hdf5");
  assert_null(fpk_h5_reader_open(in_dir("text.h5"), &err));
  assert_msg_has(err.msg, "is not an HDF5 file");
  assert_int_equal(mkfifo(in_dir("pipe.h5"), 0600), 0);
  assert_null(fpk_h5_reader_open(in_dir("pipe.h5"), &err));
  assert_msg_has(err.msg, "is a FIFO, not a regular file");
  assert_null(fpk_h5_reader_open(dir, &err));
  assert_msg_has(err.msg, "is a directory");
  assert_null(fpk_h5_reader_open(in_dir("absent.h5"), &err));
  assert_msg_has(err.msg, "No such file");
  fpk_h5_reader_close(NULL);
}

/* A shape whose count of doubles does not fit in memory (2^22 x 2^21 x 2^21 = 2^64 values: the
 * count wrapped to 0 and a 0-byte buffer was handed to H5Dread; found by fuzz_h5) is refused. */
static void test_reader_huge_shape(void **state) {
  (void)state;
  const char *path = in_dir("huge.h5");
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[3] = {(hsize_t)1 << 22, (hsize_t)1 << 21, (hsize_t)1 << 21}, chunk[3] = {1, 1, 1};
  hid_t s = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 3, chunk); /* never written: the file stays small */
  hid_t d = H5Dcreate2(f, "/huge", H5T_IEEE_F64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d), H5Pclose(dcpl), H5Sclose(s), H5Fclose(f);
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  size_t rank, shape[FPK_H5_MAX_RANK];
  assert_int_equal(fpk_h5_dataset_shape(r, "/huge", &rank, shape), FPK_EINVAL);
  assert_msg_has(fpk_h5_reader_errmsg(r), "more values than memory can hold");
  double x;
  assert_int_equal(fpk_h5_read_doubles(r, "/huge", 0, &x), FPK_EINVAL);
  fpk_h5_reader_close(r);
}


/* Dimension scales: a coordinate found in /grid is copied into the dataset's group (netCDF-4
 * readers give a group only its own coordinate values), an index axis is shared from an
 * ancestor, and every mismatch is an error naming the dataset, the axis and both lengths. */
static void test_scales(void **state) {
  (void)state;
  fpk_error err = {0};
  const char *path = in_dir("dims.h5");
  fpk_h5 *f = fpk_h5_create(path, NULL, &err);
  assert_non_null(f);
  const double x[4] = {0.5, 1.5, 2.5, 3.5}, t[3] = {0, 1, 2};
  double field[12] = {0}, mean[6] = {0};
  const size_t d34[2] = {3, 4}, d43[2] = {4, 3}, d32[2] = {3, 2};
#define OK(call) \
  if ((call)) fail_msg("%s: %s", #call, fpk_h5_errmsg(f))
  OK(fpk_h5_attr_string(f, "/", "fpkit_version", "test"));
  OK(fpk_h5_group(f, "/grid", NULL));
  OK(fpk_h5_write_scale(f, "/grid/x", 4, x, "length", "cell centres"));
  OK(fpk_h5_index_dim(f, "/component", 2));
  OK(fpk_h5_group(f, "/fv", NULL));
  OK(fpk_h5_write_scale(f, "/fv/t", 3, t, "time", "output times"));
  OK(fpk_h5_write(f, "/fv/density", 2, d34, field, NULL, NULL));
  OK(fpk_h5_attach_scales(f, "/fv/density", "t x"));
  OK(fpk_h5_write(f, "/fv/mean", 2, d32, mean, NULL, NULL));
  OK(fpk_h5_attach_scales(f, "/fv/mean", "t component"));
  /* mismatches */
  OK(fpk_h5_write(f, "/fv/swapped", 2, d43, field, NULL, NULL));
  assert_int_equal(fpk_h5_attach_scales(f, "/fv/swapped", "t x"), FPK_EINVAL);
  assert_msg_has(fpk_h5_errmsg(f), "axis 0 of '/fv/swapped' has length 4 but its dimension "
                                   "scale '/fv/t' has length 3");
  assert_int_equal(fpk_h5_attach_scales(f, "/fv/swapped", "x"), FPK_EINVAL);
  assert_msg_has(fpk_h5_errmsg(f), "'/fv/swapped' has rank 2 but 1 dimension names ('x')");
  assert_int_equal(fpk_h5_attach_scales(f, "/fv/swapped", "x nope"), FPK_EINVAL);
  assert_msg_has(fpk_h5_errmsg(f), "no dimension scale 'nope' for dataset '/fv/swapped'");
  assert_int_equal(fpk_h5_attach_scales(f, "/fv/swapped", "x density"), FPK_EINVAL);
  assert_msg_has(fpk_h5_errmsg(f), "'/fv/density' (axis 'density' of '/fv/swapped') is not a "
                                   "dimension scale");
  assert_int_equal(fpk_h5_make_scale(f, "/fv/density"), FPK_EINVAL);
  assert_msg_has(fpk_h5_errmsg(f), "'/fv/density' is not 1-D");
  assert_int_equal(fpk_h5_attach_scales(f, "/fv/none", "t"), FPK_EINVAL);
#undef OK
  if (fpk_h5_commit(f)) fail_msg("commit: %s", fpk_h5_errmsg(f));
  fpk_h5_close(f);

  hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t density = H5Dopen2(h, "/fv/density", H5P_DEFAULT), copy = H5Dopen2(h, "/fv/x", H5P_DEFAULT);
  hid_t grid = H5Dopen2(h, "/grid/x", H5P_DEFAULT), ft = H5Dopen2(h, "/fv/t", H5P_DEFAULT);
  hid_t comp = H5Dopen2(h, "/component", H5P_DEFAULT), m = H5Dopen2(h, "/fv/mean", H5P_DEFAULT);
  assert_true(copy >= 0);
  assert_int_equal(H5DSis_scale(copy), 1);
  assert_int_equal(H5DSis_attached(density, ft, 0), 1);
  assert_int_equal(H5DSis_attached(density, copy, 1), 1);
  assert_int_equal(H5DSis_attached(density, grid, 1), 0); /* the group's own copy */
  assert_int_equal(H5DSis_attached(m, comp, 1), 1);       /* the root's index axis */
  double back[4];
  assert_true(H5Dread(copy, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
  assert_memory_equal(back, x, sizeof x);
  char name[128] = "";
  H5DSget_scale_name(comp, name, sizeof name);
  assert_string_equal(name, "This is a netCDF dimension but not a netCDF variable.         2");
  H5DSget_scale_name(copy, name, sizeof name);
  assert_string_equal(name, "x");
  H5Dclose(density), H5Dclose(copy), H5Dclose(grid), H5Dclose(ft), H5Dclose(comp), H5Dclose(m);
  H5Fclose(h);
}

static char *slurp(const char *path) {
  FILE *in = fopen(path, "r");
  if (!in) return NULL;
  static char buf[1 << 16];
  const size_t k = fread(buf, 1, sizeof buf - 1, in);
  buf[k] = '\0';
  fclose(in);
  return buf;
}

/* A 2D field over time: the committed file gets its XDMF sidecar, naming the file (not its path)
 * and each time slice; a failed run gets none, and removes an earlier one of fpkit's. */
static void write_field2d(const char *path, int failed, int rank2) {
  fpk_error err = {0};
  fpk_h5 *f = fpk_h5_create(path, NULL, &err);
  assert_non_null(f);
  const double x[4] = {0.5, 1.5, 2.5, 3.5}, y[3] = {-1, 0, 1}, t[2] = {0, 0.25};
  double field[24];
  for (size_t i = 0; i < 24; i++) field[i] = (double)i;
  const size_t d[3] = {2, 3, 4};
  if (fpk_h5_attr_string(f, "/", "fpkit_version", "test") || fpk_h5_group(f, "/grid", NULL) ||
      fpk_h5_write_scale(f, "/grid/x", 4, x, "length", NULL) ||
      fpk_h5_write_scale(f, "/grid/y", 3, y, "length", NULL) || fpk_h5_group(f, "/fv", NULL) ||
      fpk_h5_write_scale(f, "/fv/t", 2, t, "time", NULL) ||
      fpk_h5_write(f, "/fv/density", rank2 ? 2 : 3, rank2 ? d + 1 : d, field, NULL, NULL) ||
      fpk_h5_attach_scales(f, "/fv/density", rank2 ? "y x" : "t y x") ||
      fpk_h5_xdmf_field(f, "/fv/density") || (failed && fpk_h5_mark_failed(f, "test")))
    fail_msg("%s", fpk_h5_errmsg(f));
  const int rc = fpk_h5_commit(f);
  if (rank2) {
    assert_int_equal(rc, FPK_EINVAL);
    assert_msg_has(fpk_h5_errmsg(f), "written, but not its XDMF sidecar: '/fv/density' has rank "
                                     "2: an XDMF field is [t][y][x] or [t][z][y][x]");
  } else if (rc) {
    fail_msg("commit: %s", fpk_h5_errmsg(f));
  }
  fpk_h5_close(f);
}

static void test_xdmf(void **state) {
  (void)state;
  char side[256];
  /* the whole name + ".xmf": out.h5, out.hdf5 and out are three results with three sidecars */
  fpk_xdmf_path("a/b.h5", side, sizeof side);
  assert_string_equal(side, "a/b.h5.xmf");
  fpk_xdmf_path("c.hdf5", side, sizeof side);
  assert_string_equal(side, "c.hdf5.xmf");
  fpk_xdmf_path("d.out", side, sizeof side);
  assert_string_equal(side, "d.out.xmf");

  write_field2d(in_dir("f2.h5"), 0, 0);
  const char *xml = slurp(in_dir("f2.h5.xmf"));
  assert_non_null(xml);
  assert_msg_has(xml, "<!-- written by fpkit");
  assert_msg_has(xml, "CollectionType=\"Temporal\"");
  assert_msg_has(xml, "<Time Value=\"0.25\"/>");
  assert_msg_has(xml, "TopologyType=\"3DCoRectMesh\" Dimensions=\"1 3 4\"");
  assert_msg_has(xml, "Format=\"XML\">0 -1 0.5</DataItem>"); /* origin z y x */
  assert_msg_has(xml, "Format=\"XML\">1 1 1</DataItem>");    /* spacing */
  assert_msg_has(xml, ">f2.h5:/fv/density</DataItem>");
  assert_msg_has(xml, "Format=\"XML\">1 0 0 1 1 1 1 3 4</DataItem>");
  assert_true(strstr(xml, dir) == NULL); /* the file name, not its directory */
  struct stat st;
  /* 3D: [t][z][y][x] */
  {
    fpk_error err = {0};
    fpk_h5 *f = fpk_h5_create(in_dir("f3.h5"), NULL, &err);
    assert_non_null(f);
    const double x[4] = {0.5, 1.5, 2.5, 3.5}, y[3] = {-1, 0, 1}, z[2] = {10, 20}, t[1] = {0};
    double field[24] = {0};
    const size_t d[4] = {1, 2, 3, 4};
    if (fpk_h5_attr_string(f, "/", "fpkit_version", "test") || fpk_h5_group(f, "/grid", NULL) ||
        fpk_h5_write_scale(f, "/grid/x", 4, x, NULL, NULL) ||
        fpk_h5_write_scale(f, "/grid/y", 3, y, NULL, NULL) ||
        fpk_h5_write_scale(f, "/grid/z", 2, z, NULL, NULL) || fpk_h5_group(f, "/mc", NULL) ||
        fpk_h5_write_scale(f, "/mc/t", 1, t, NULL, NULL) ||
        fpk_h5_write(f, "/mc/density", 4, d, field, NULL, NULL) ||
        fpk_h5_attach_scales(f, "/mc/density", "t z y x") ||
        fpk_h5_xdmf_field(f, "/mc/density") || fpk_h5_commit(f))
      fail_msg("%s", fpk_h5_errmsg(f));
    fpk_h5_close(f);
    xml = slurp(in_dir("f3.h5.xmf"));
    assert_non_null(xml);
    assert_msg_has(xml, "TopologyType=\"3DCoRectMesh\" Dimensions=\"2 3 4\"");
    assert_msg_has(xml, "Format=\"XML\">10 -1 0.5</DataItem>");
    assert_msg_has(xml, "Format=\"XML\">10 1 1</DataItem>");
    assert_msg_has(xml, "<Attribute Name=\"mc\"");
    assert_msg_has(xml, "Format=\"XML\">0 0 0 0 1 1 1 1 1 2 3 4</DataItem>");
  }
  /* a failed run: no sidecar, and the earlier one (fpkit's) is gone */
  write_field2d(in_dir("f2.h5"), 1, 0);
  assert_int_not_equal(stat(in_dir("f2.h5.xmf"), &st), 0);
  /* a field that is not [t][y][x]: the file is committed, the sidecar refused */
  write_field2d(in_dir("r2.h5"), 0, 1);
  assert_int_equal(stat(in_dir("r2.h5"), &st), 0);
  assert_int_not_equal(stat(in_dir("r2.h5.xmf"), &st), 0);
}

/* A 2D field over time written to path with options o: FPK_SUCCESS, the commit's status, or -1
 * when fpk_h5_create refused (err says why). */
static int commit_field2d(const char *path, const fpk_h5_create_options *o, fpk_error *err) {
  fpk_h5 *f = fpk_h5_create(path, o, err);
  if (!f) return -1;
  const double x[4] = {0.5, 1.5, 2.5, 3.5}, y[3] = {-1, 0, 1}, t[2] = {0, 0.25};
  double field[24];
  for (size_t i = 0; i < 24; i++) field[i] = (double)i;
  const size_t d[3] = {2, 3, 4};
  if (fpk_h5_group(f, "/grid", NULL) || fpk_h5_write_scale(f, "/grid/x", 4, x, NULL, NULL) ||
      fpk_h5_write_scale(f, "/grid/y", 3, y, NULL, NULL) || fpk_h5_group(f, "/fv", NULL) ||
      fpk_h5_write_scale(f, "/fv/t", 2, t, NULL, NULL) ||
      fpk_h5_write(f, "/fv/density", 3, d, field, NULL, NULL) ||
      fpk_h5_attach_scales(f, "/fv/density", "t y x") || fpk_h5_xdmf_field(f, "/fv/density"))
    fail_msg("%s", fpk_h5_errmsg(f));
  const int rc = fpk_h5_commit(f);
  if (rc) fpk_error_set(err, rc, "%s", fpk_h5_errmsg(f));
  fpk_h5_close(f);
  return rc;
}

/* A file with no XDMF field (a 1D result) at path: its commit removes only fpkit's sidecar of
 * this same file. */
static void commit_1d(const char *path, int force) {
  fpk_error err = {0};
  fpk_h5_create_options o = {.force = force};
  double v[2] = {1, 2};
  size_t n = 2;
  fpk_h5 *f = fpk_h5_create(path, &o, &err);
  if (!f) fail_msg("create %s: %s", path, err.msg);
  if (fpk_h5_write(f, "/v", 1, &n, v, NULL, NULL) || fpk_h5_commit(f))
    fail_msg("%s", fpk_h5_errmsg(f));
  fpk_h5_close(f);
}

static int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* OUT.h5, OUT.hdf5 and OUT once shared the sidecar OUT.xmf: a rerun to OUT.hdf5 replaced OUT.h5's
 * and a 1D run to OUT.hdf5 deleted it. A sidecar is now the whole name + ".xmf", and a sidecar is
 * replaced or removed only when it is fpkit's sidecar of the file being written. */
static void test_sidecar_names(void **state) {
  (void)state;
  fpk_error err = {0};
  const char *names[3] = {"s.h5", "s.hdf5", "s"};
  for (int i = 0; i < 3; i++)
    if (commit_field2d(in_dir(names[i]), NULL, &err)) fail_msg("%s: %s", names[i], err.msg);
  char side[300], want[64];
  for (int i = 0; i < 3; i++) {
    fpk_xdmf_path(in_dir(names[i]), side, sizeof side);
    const char *xml = slurp(side);
    if (!xml) fail_msg("no sidecar %s", side);
    snprintf(want, sizeof want, ">%s:/fv/density</DataItem>", names[i]);
    assert_msg_has(xml, want);
  }
  /* a 1D result to s.hdf5 removes s.hdf5's sidecar, not s.h5's */
  commit_1d(in_dir("s.hdf5"), 0);
  assert_false(exists(in_dir("s.hdf5.xmf")));
  assert_true(exists(in_dir("s.h5.xmf")));
  /* fpkit's sidecar of another file at this file's sidecar path (copied there, or renamed): not
   * fpkit's sidecar of this file, so refused unless forced, and never removed by a 1D result */
  char *copy = strdup(slurp(in_dir("s.h5.xmf")));
  write_text(in_dir("o.h5.xmf"), copy);
  assert_int_equal(commit_field2d(in_dir("o.h5"), NULL, &err), -1);
  assert_msg_has(err.msg, "o.h5.xmf' exists and is not the XDMF sidecar fpkit wrote for");
  commit_1d(in_dir("o.h5"), 1);
  assert_string_equal(slurp(in_dir("o.h5.xmf")), copy);
  /* the name fpkit gave sidecars before, s.xmf: removed when it is fpkit's sidecar of s.h5 and
   * s.h5 is written again; kept when it describes another file */
  write_text(in_dir("s.xmf"), copy);
  commit_field2d(in_dir("s.h5"), NULL, &err);
  assert_false(exists(in_dir("s.xmf")));
  write_text(in_dir("s.xmf"), copy);
  commit_1d(in_dir("s.hdf5"), 0);
  assert_true(exists(in_dir("s.xmf")));
  free(copy);
}

/* The sidecar's path is checked by fpk_h5_create, before anything is computed, with the output's
 * rules; a checkpoint (no_sidecar) never gets one. */
static void test_sidecar_destination(void **state) {
  (void)state;
  fpk_error err = {0};
  write_text(in_dir("u.h5.xmf"), "<?xml version=\"1.0\"?><!-- my ParaView state --><Xdmf/>");
  assert_null(fpk_h5_create(in_dir("u.h5"), NULL, &err));
  assert_msg_has(err.msg, "u.h5.xmf' exists and is not the XDMF sidecar fpkit wrote for");
  assert_msg_has(err.msg, "set force (fpkit: --force)");
  assert_false(exists(in_dir("u.h5")));
  const fpk_h5_create_options forced = {.force = 1};
  if (commit_field2d(in_dir("u.h5"), &forced, &err)) fail_msg("%s", err.msg);
  assert_msg_has(slurp(in_dir("u.h5.xmf")), ">u.h5:/fv/density<");
  /* a directory there is an error even when forced */
  assert_int_equal(mkdir(in_dir("v.h5.xmf"), 0700), 0);
  assert_null(fpk_h5_create(in_dir("v.h5"), &forced, &err));
  assert_msg_has(err.msg, "v.h5.xmf', where the XDMF sidecar of");
  assert_msg_has(err.msg, "is not a regular file");
  /* a symbolic link: refused unless forced, like the output */
  assert_int_equal(symlink("elsewhere", in_dir("w.h5.xmf")), 0);
  assert_null(fpk_h5_create(in_dir("w.h5"), NULL, &err));
  assert_msg_has(err.msg, "is a symbolic link");
  /* no_sidecar (checkpoints): the path is not checked, nothing is written there */
  const fpk_h5_create_options ck = {.no_sidecar = 1};
  if (commit_field2d(in_dir("v.h5"), &ck, &err)) fail_msg("%s", err.msg);
  if (commit_field2d(in_dir("k.h5.ckpt"), &ck, &err)) fail_msg("%s", err.msg);
  assert_false(exists(in_dir("k.h5.ckpt.xmf")));
}

/* Names: none goes into an XML comment ("--" is not allowed there); a name XDMF readers cannot
 * reference (':', where they end the file name) gets no sidecar, decided by fpk_h5_create, and the
 * file itself is written; a name whose first byte ParaView would drop gets "./" before it. */
static void test_sidecar_bad_names(void **state) {
  (void)state;
  fpk_error err = {0};
  if (commit_field2d(in_dir("a--b.h5"), NULL, &err)) fail_msg("%s", err.msg);
  const char *xml = slurp(in_dir("a--b.h5.xmf"));
  assert_non_null(xml);
  for (const char *c = strstr(xml, "<!--"); c; c = strstr(c + 4, "<!--")) {
    const char *end = strstr(c + 4, "-->");
    assert_non_null(end);
    for (const char *p = c + 4; p < end; p++) assert_false(p[0] == '-' && p[1] == '-');
  }
  assert_msg_has(xml, ">a--b.h5:/fv/density<");
  fpk_h5 *f = fpk_h5_create(in_dir("r_21:00.h5"), NULL, &err);
  assert_non_null(f);
  assert_non_null(fpk_h5_sidecar_skipped(f));
  assert_msg_has(fpk_h5_sidecar_skipped(f), "':'");
  fpk_h5_close(f);
  if (commit_field2d(in_dir("r_21:00.h5"), NULL, &err)) fail_msg("%s", err.msg);
  assert_true(exists(in_dir("r_21:00.h5")));
  assert_false(exists(in_dir("r_21:00.h5.xmf")));
  assert_int_equal(fpk_xdmf_write(in_dir("r_21:00.h5"), (const char *const[]){"/fv/density"}, 1,
                                  &err), FPK_EINVAL);
  assert_msg_has(err.msg, "':'");
  if (commit_field2d(in_dir("\xc3\xa9t\xc3\xa9.h5"), NULL, &err)) fail_msg("%s", err.msg);
  assert_msg_has(slurp(in_dir("\xc3\xa9t\xc3\xa9.h5.xmf")), ">./\xc3\xa9t\xc3\xa9.h5:/fv/density<");
  /* and the sidecar is still recognised as this file's: a 1D result removes it */
  commit_1d(in_dir("\xc3\xa9t\xc3\xa9.h5"), 0);
  assert_false(exists(in_dir("\xc3\xa9t\xc3\xa9.h5.xmf")));
  f = fpk_h5_create(in_dir("bad\xff.h5"), NULL, &err);
  assert_non_null(f);
  assert_msg_has(fpk_h5_sidecar_skipped(f), "UTF-8");
  fpk_h5_close(f);
}

/* Every file the library writes carries fpkit_version (fpk_version()), so that a program using
 * the library can write the same path again without force; writing the attribute again replaces
 * it. */
static void test_library_version(void **state) {
  (void)state;
  fpk_error err = {0};
  double v[3] = {1, 2, 3};
  size_t n = 3;
  for (int run = 0; run < 2; run++) {
    fpk_h5 *f = fpk_h5_create(in_dir("lib.h5"), NULL, &err);
    if (!f) fail_msg("run %d: %s", run, err.msg);
    if (fpk_h5_write(f, "/v", 1, &n, v, NULL, NULL) ||
        (run && fpk_h5_attr_string(f, "/", "fpkit_version", "again")) || fpk_h5_commit(f))
      fail_msg("%s", fpk_h5_errmsg(f));
    fpk_h5_close(f);
    assert_int_equal(fpk_h5_is_fpkit_file(in_dir("lib.h5")), 1);
  }
  fpk_h5_reader *r = fpk_h5_reader_open(in_dir("lib.h5"), &err);
  assert_non_null(r);
  char *version = NULL;
  assert_int_equal(fpk_h5_read_attr_string(r, "/", "fpkit_version", &version), FPK_SUCCESS);
  assert_string_equal(version, "again");
  free(version);
  fpk_h5_reader_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_destination),
      cmocka_unit_test(test_stale),
      cmocka_unit_test(test_nonfinite),
      cmocka_unit_test(test_checksums),
      cmocka_unit_test(test_reader_malformed),
      cmocka_unit_test(test_reader_huge_shape),
      cmocka_unit_test(test_scales),
      cmocka_unit_test(test_xdmf),
      cmocka_unit_test(test_sidecar_names),
      cmocka_unit_test(test_sidecar_destination),
      cmocka_unit_test(test_sidecar_bad_names),
      cmocka_unit_test(test_library_version),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
