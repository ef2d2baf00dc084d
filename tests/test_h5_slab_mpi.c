/* Collective HDF5 files and distributed slabs (fpkit/io.h: fpk_h5_create_options.collective,
 * fpk_h5_write_slab; docs/parallel.md "Parallel HDF5"). Run by ctest alone (one process) and
 * under mpiexec with 2 ranks (test_h5_slab_mpi_2ranks):
 *  - a field [t][z][y][x] = [3][10][5][6] split along z over the ranks (fpk_comm_range: rank 0
 *    planes 0-4, rank 1 planes 5-9), each rank writing only its own block, plus a replicated
 *    dataset, dimension scales and attributes, in a collective file: rank 0 then writes the
 *    same with one process and the two files hold bitwise the same values, the same shapes,
 *    chunk shapes and filters; an attribute given a different value on each rank holds rank 0's;
 *  - a non-finite value only in rank 1's slab: FPK_ENUMERIC on every rank, the message naming
 *    rank 1 and the dataset's own index [1][7][2][3], and after the close neither the output nor
 *    a temporary is left;
 *  - slabs that do not tile the axis: FPK_EINVAL on every rank;
 *  - one process: a whole slab is fpk_h5_write, a partial one FPK_EINVAL (no collective file).
 */
#include "fpkit/version.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "fpk_test.h"
#include "fpkit/io.h"
#include "fpkit/parallel.h"
#if FPK_HAVE_MPI
#include <mpi.h>
#endif

static fpk_comm *world;
enum { NT = 3, NZ = 10, NY = 5, NX = 6 };
static char dir[256];

/* A fresh communicator over the same processes (an agreement's failure is remembered). */
static fpk_comm *fresh(void) {
  fpk_comm *c = NULL;
  fpk_error err = {0};
#if FPK_HAVE_MPI
  if (fpk_comm_size(world) > 1) {
    MPI_Comm w = MPI_COMM_WORLD;
    if (fpk_comm_wrap_mpi(&c, &w, &err)) fail_msg("wrap: %s", err.msg);
    return c;
  }
#endif
  if (fpk_comm_self(&c, &err)) fail_msg("self: %s", err.msg);
  return c;
}

static double value(size_t t, size_t z, size_t y, size_t x) {
  return sin(1.0 + (double)t + 0.37 * (double)z + 0.11 * (double)y * (double)x) / 3.0;
}

/* this rank's block [t][z0, z1)[y][x] of the field */
static double *block(size_t z0, size_t z1) {
  double *b = malloc((NT * (z1 - z0) * NY * NX + 1) * sizeof *b);
  size_t i = 0;
  for (size_t t = 0; t < NT; t++)
    for (size_t z = z0; z < z1; z++)
      for (size_t y = 0; y < NY; y++)
        for (size_t x = 0; x < NX; x++) b[i++] = value(t, z, y, x);
  return b;
}

static int write_file(const char *path, const fpk_comm *comm, int slab_ok) {
  fpk_error err = {0};
  const fpk_h5_create_options co = {.comm = comm, .collective = 1};
  fpk_h5 *f = fpk_h5_create(path, &co, &err);
  assert_non_null(f);
  const size_t dims[4] = {NT, NZ, NY, NX};
  size_t z0, z1;
  fpk_comm_range(comm, NZ, &z0, &z1);
  double *b = block(z0, z1);
  double t[NT], z[NZ], y[NY], x[NX];
  for (size_t i = 0; i < NT; i++) t[i] = 0.5 * (double)i;
  for (size_t i = 0; i < NZ; i++) z[i] = (double)i - 4.5;
  for (size_t i = 0; i < NY; i++) y[i] = (double)i;
  for (size_t i = 0; i < NX; i++) x[i] = 0.25 * (double)i;
  const double mean[NT] = {1.0, -2.0, 1e-300};
  int rc = fpk_h5_group(f, "/grid", "grid");
  if (!rc) rc = fpk_h5_write_scale(f, "/grid/z", NZ, z, "length", "z centres");
  if (!rc) rc = fpk_h5_write_scale(f, "/grid/y", NY, y, "length", "y centres");
  if (!rc) rc = fpk_h5_write_scale(f, "/grid/x", NX, x, "length", "x centres");
  if (!rc) rc = fpk_h5_group(f, "/spectral", "a method");
  if (!rc) rc = fpk_h5_write_scale(f, "/spectral/t", NT, t, "time", "output times");
  if (!rc) rc = fpk_h5_write_slab(f, "/spectral/density", 4, dims, 1, z0, z1 - z0, b,
                                  "1/length^dim", "density [t][z][y][x]");
  if (!rc) rc = fpk_h5_attach_scales(f, "/spectral/density", "t z y x");
  if (!rc) rc = fpk_h5_write(f, "/spectral/mass", 1, (size_t[]){NT}, mean, NULL, "replicated");
  if (!rc) rc = fpk_h5_attr_double(f, "/spectral", "wall_seconds", 1.5 + fpk_comm_rank(comm));
  if (!rc) rc = fpk_h5_attr_string(f, "/", "start_time", fpk_comm_rank(comm) ? "later" : "now");
  if (!rc) rc = fpk_h5_attr_u64(f, "/spectral", "steps", 40);
  if (!rc) rc = fpk_h5_commit(f);
  if (rc && slab_ok) fail_msg("write %s: %s", path, fpk_h5_errmsg(f));
  fpk_h5_close(f);
  free(b);
  return rc;
}

static void read_all(const char *path, const char *name, double *out, size_t n) {
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  if (!r) fail_msg("%s", err.msg);
  if (fpk_h5_read_doubles(r, name, n, out)) fail_msg("%s", fpk_h5_reader_errmsg(r));
  fpk_h5_reader_close(r);
}

/* chunk dims and number of filters of a dataset */
static void layout(const char *path, const char *name, hsize_t *chunk, int *nfilters) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  hid_t dcpl = H5Dget_create_plist(d);
  assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
  assert_int_equal(H5Pget_chunk(dcpl, 4, chunk), 4);
  *nfilters = H5Pget_nfilters(dcpl);
  H5Pclose(dcpl), H5Dclose(d), H5Fclose(file);
}

static void test_same_as_serial(void **state) {
  (void)state;
  fpk_comm *comm = fresh();
  char coll[300], one[300];
  snprintf(coll, sizeof coll, "%s/coll.h5", dir);
  snprintf(one, sizeof one, "%s/one.h5", dir);
  write_file(coll, comm, 1);
  fpk_error err = {0};
  if (fpk_comm_rank(comm) == 0) {
    write_file(one, NULL, 1);
    const size_t n = NT * NZ * NY * NX;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    read_all(coll, "/spectral/density", a, n);
    read_all(one, "/spectral/density", b, n);
    assert_memory_equal(a, b, n * sizeof *a);
    double *whole = block(0, NZ);
    assert_memory_equal(a, whole, n * sizeof *a); /* the field, not only the same in both */
    free(whole);
    double ma[NT], mb[NT];
    read_all(coll, "/spectral/mass", ma, NT);
    read_all(one, "/spectral/mass", mb, NT);
    assert_memory_equal(ma, mb, sizeof ma);
    assert_true(ma[2] == 1e-300);
    double za[NZ], zb[NZ]; /* the scale copied into the group (H5Ocopy in parallel) */
    read_all(coll, "/spectral/z", za, NZ);
    read_all(one, "/spectral/z", zb, NZ);
    assert_memory_equal(za, zb, sizeof za);
    assert_true(za[0] == -4.5 && za[NZ - 1] == 4.5);
    hsize_t ca[4], cb[4];
    int fa, fb;
    layout(coll, "/spectral/density", ca, &fa);
    layout(one, "/spectral/density", cb, &fb);
    print_message("  chunks of /spectral/density: collective [%llu %llu %llu %llu] with %d "
                  "filters, one process [%llu %llu %llu %llu] with %d\n",
                  (unsigned long long)ca[0], (unsigned long long)ca[1], (unsigned long long)ca[2],
                  (unsigned long long)ca[3], fa, (unsigned long long)cb[0],
                  (unsigned long long)cb[1], (unsigned long long)cb[2], (unsigned long long)cb[3],
                  fb);
    assert_memory_equal(ca, cb, sizeof ca);
    /* the serial layout's chunks: at most 1 MiB, cut along the leading axes (this small field
     * is one chunk; a field of more than 1 MiB per time is cut to a slab of one time slice, as
     * tests/cli/mpi_phdf5.sh checks) */
    assert_true(ca[0] * ca[1] * ca[2] * ca[3] * 8 <= (1u << 20));
    assert_int_equal(fa, 3); /* shuffle, deflate, Fletcher-32 in the collective file too */
    fpk_h5_reader *r = fpk_h5_reader_open(coll, &err);
    assert_non_null(r);
    double w;
    char *s = NULL;
    assert_int_equal(fpk_h5_read_attr_double(r, "/spectral", "wall_seconds", &w), 0);
    assert_true(w == 1.5); /* rank 0's value */
    assert_int_equal(fpk_h5_read_attr_string(r, "/", "start_time", &s), 0);
    assert_string_equal(s, "now");
    free(s);
    fpk_h5_reader_close(r);
    free(a), free(b);
  }
  fpk_comm_free(comm);
}

/* names in dir beginning with prefix */
static int count_prefix(const char *prefix) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
  closedir(d);
  return n;
}

static void test_nonfinite_in_rank1(void **state) {
  (void)state;
  fpk_comm *comm = fresh();
  const int P = fpk_comm_size(comm), me = fpk_comm_rank(comm);
  char path[300];
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  fpk_error err = {0};
  const fpk_h5_create_options co = {.comm = comm, .collective = 1};
  fpk_h5 *f = fpk_h5_create(path, &co, &err);
  assert_non_null(f);
  const size_t dims[4] = {NT, NZ, NY, NX};
  size_t z0, z1;
  fpk_comm_range(comm, NZ, &z0, &z1);
  double *b = block(z0, z1);
  const size_t zbad = 7; /* in rank 1's planes 5..9 with 2 ranks */
  if (z0 <= zbad && zbad < z1) b[((1 * (z1 - z0) + (zbad - z0)) * NY + 2) * NX + 3] = NAN;
  int rc = fpk_h5_group(f, "/spectral", "a method");
  if (!rc) rc = fpk_h5_write_slab(f, "/spectral/density", 4, dims, 1, z0, z1 - z0, b, NULL, NULL);
  assert_int_equal(rc, FPK_ENUMERIC);
  char want[64];
  snprintf(want, sizeof want, "'/spectral/density'[1][%zu][2][3]", zbad);
  assert_non_null(strstr(fpk_h5_errmsg(f), want));
  if (P == 2) assert_non_null(strstr(fpk_h5_errmsg(f), "rank 1: "));
  fpk_h5_close(f);
  free(b);
  if (P > 1) {
    fpk_comm *c2 = fresh();
    assert_int_equal(fpk_comm_barrier(c2, &err), 0); /* every rank closed */
    fpk_comm_free(c2);
  }
  if (me == 0) {
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_prefix("bad.h5"), 0); /* no temporary either */
  }
  fpk_comm_free(comm);
}

static void test_not_tiling(void **state) {
  (void)state;
  fpk_comm *comm = fresh();
  const int P = fpk_comm_size(comm);
  char path[300];
  snprintf(path, sizeof path, "%s/gap.h5", dir);
  fpk_error err = {0};
  const fpk_h5_create_options co = {.comm = comm, .collective = 1};
  fpk_h5 *f = fpk_h5_create(path, &co, &err);
  assert_non_null(f);
  const size_t dims[2] = {4, 3};
  double b[12] = {0};
  /* every rank claims planes [0, 2): with 2 ranks they overlap; alone they miss 2 of 4 */
  const int rc = fpk_h5_write_slab(f, "/v", 2, dims, 0, 0, 2, b, NULL, NULL);
  assert_int_equal(rc, FPK_EINVAL);
  print_message("  %s\n", fpk_h5_errmsg(f));
  assert_non_null(strstr(fpk_h5_errmsg(f), P > 1 ? "the slabs must tile" : "needs a collective"));
  /* the whole axis from one process is an ordinary dataset */
  if (P == 1) assert_int_equal(fpk_h5_write_slab(f, "/w", 2, dims, 0, 0, 4, b, NULL, NULL), 0);
  fpk_h5_close(f);
  fpk_comm_free(comm);
}

/* FPK_H5SLAB_BENCH=n: the write time of an n^3 field [1][n][n][n] (docs/parallel.md): one
 * process (rank 0, core driver) and every rank collectively (its z slab), each the best of 3,
 * from create to commit. Prints the times; asserts only that both files hold the field. */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double bench_write(const char *path, const fpk_comm *comm, size_t n, const double *field) {
  const size_t dims[4] = {1, n, n, n};
  size_t z0, z1;
  fpk_comm_range(comm, n, &z0, &z1);
  fpk_error err = {0};
  double best = 1e30;
  for (int rep = 0; rep < 3; rep++) {
    fpk_comm_barrier(comm, &err);
    const double t0 = now();
    const fpk_h5_create_options co = {.comm = comm, .collective = 1};
    fpk_h5 *f = fpk_h5_create(path, &co, &err);
    if (!f) fail_msg("%s", err.msg);
    if (fpk_h5_write_slab(f, "/density", 4, dims, 1, z0, z1 - z0, field + z0 * n * n, NULL,
                          NULL) ||
        fpk_h5_commit(f))
      fail_msg("%s", fpk_h5_errmsg(f));
    fpk_h5_close(f);
    fpk_comm_barrier(comm, &err);
    const double t = now() - t0;
    if (t < best) best = t;
  }
  return best;
}

static int bench(size_t n) {
  fpk_comm *comm = fresh();
  double *field = malloc(n * n * n * sizeof *field);
  for (size_t i = 0; i < n * n * n; i++) field[i] = exp(-1e-6 * (double)(i % 1000003)) / 7.0;
  char one[300], coll[300];
  snprintf(one, sizeof one, "%s/bench1.h5", dir);
  snprintf(coll, sizeof coll, "%s/benchP.h5", dir);
  double t1 = 0;
  if (fpk_comm_rank(comm) == 0) t1 = bench_write(one, NULL, n, field);
  const double tp = bench_write(coll, comm, n, field);
  if (fpk_comm_rank(comm) == 0) {
    double *a = malloc(n * n * n * sizeof *a);
    read_all(coll, "/density", a, n * n * n);
    const int same = !memcmp(a, field, n * n * n * sizeof *a);
    read_all(one, "/density", a, n * n * n);
    printf("h5 write of a %zu^3 field (%.1f MiB, deflate + shuffle + Fletcher-32): 1 process "
           "%.3f s, %d ranks collective %.3f s (%s)\n", n, (double)(n * n * n * 8) / 1048576.0,
           t1, fpk_comm_size(comm), tp, same && !memcmp(a, field, n * n * n * sizeof *a)
                                              ? "both files hold the field bitwise" : "DIFFERENT");
    free(a);
  }
  free(field);
  fpk_comm_free(comm);
  return 0;
}

int main(int argc, char **argv) {
  fpk_error err = {0};
  if (fpk_parallel_init(&argc, &argv, &world, &err)) {
    fprintf(stderr, "test_h5_slab_mpi: %s\n", err.msg);
    return 1;
  }
  if (fpk_comm_rank(world) == 0) {
    snprintf(dir, sizeof dir, "/tmp/fpk_h5slab_XXXXXX");
    if (!mkdtemp(dir)) return 1;
  }
  if (fpk_comm_bcast(world, dir, sizeof dir, 0, &err)) return 1;
  const char *b = getenv("FPK_H5SLAB_BENCH");
  int rc = 0;
  if (b && atoi(b) > 0) {
    bench((size_t)atoi(b));
  } else {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_serial),
        cmocka_unit_test(test_nonfinite_in_rank1),
        cmocka_unit_test(test_not_tiling),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
  }
  fpk_comm_barrier(world, &err);
  if (fpk_comm_rank(world) == 0) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* a leftover in /tmp only */ }
  }
  fpk_parallel_finalize(world);
  return rc;
}
