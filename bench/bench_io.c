/* The cost of fpkit's checked writer (src/io/h5.c) beside its floors: plain HDF5 (the same
 * datasets written by H5Dwrite to a contiguous layout through the default sec2 driver: no
 * checksum, no check of the values, left in the page cache) and plain HDF5 followed by fsync of
 * the file (the same durability as fpkit's commit). fpkit's writer adds a finiteness scan of every
 * value, chunking with byte shuffle, deflate (level 1, issue 12) and Fletcher-32, and an in-memory
 * image (HDF5's core driver) written by fpkit with write(2), then fsync of the file and of its
 * directory (issue 11). Prints one line per mode: seconds to write and commit, and the file size.
 * The values here repeat with period 9973 and deflate far better than a solver's fields (ratio
 * 0.6 for the flagship 2D output, docs/performance.md): the file sizes are not representative.
 *   bench_io MODE TOTAL_MB NSETS DIR     MODE = fpkit | plain | plain-fsync
 * Memory (peak RSS) is measured around it by bench/run_io.sh with /usr/bin/time. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_timer.h"
#include "fpkit/io.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bench_io fpkit|plain TOTAL_MB NSETS DIR\n");
    return 2;
  }
  const int fsynced = !strcmp(argv[1], "plain-fsync");
  const int plain = fsynced || !strcmp(argv[1], "plain");
  const double mb = atof(argv[2]);
  const size_t nsets = (size_t)atol(argv[3]);
  /* each dataset a time series of 2D fields, [nt][200][200], as `fpkit run` writes them */
  const size_t cells = 200 * 200;
  const size_t nt = (size_t)(mb * 1e6 / 8.0 / (double)cells / (double)nsets + 0.5);
  if (nt < 1 || nsets < 1) return 2;
  double *v = malloc(nt * cells * sizeof *v);
  if (!v) return 1;
  for (size_t i = 0; i < nt * cells; i++) v[i] = 1e-3 * (double)(i % 9973) + 0.5;
  char path[4096];
  snprintf(path, sizeof path, "%s/bench_io_%s.h5", argv[4], argv[1]);
  remove(path);
  const size_t dims[3] = {nt, 200, 200};
  const double t0 = now();
  if (plain) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t hd[3] = {nt, 200, 200};
    hid_t s = H5Screate_simple(3, hd, NULL);
    for (size_t k = 0; k < nsets; k++) {
      char name[32];
      snprintf(name, sizeof name, "/d%zu", k);
      hid_t d = H5Dcreate2(f, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
      H5Dclose(d);
    }
    H5Sclose(s);
    if (H5Fclose(f) < 0) return 1;
    if (fsynced) {
      int fd = open(path, O_RDONLY);
      if (fd < 0 || fsync(fd)) return 1;
      close(fd);
    }
  } else {
    fpk_error err = {0};
    const fpk_h5_create_options o = {.force = 1};
    fpk_h5 *f = fpk_h5_create(path, &o, &err);
    if (!f) return fprintf(stderr, "%s\n", err.msg), 1;
    for (size_t k = 0; k < nsets; k++) {
      char name[32];
      snprintf(name, sizeof name, "/d%zu", k);
      if (fpk_h5_write(f, name, 3, dims, v, NULL, NULL)) return 1;
    }
    if (fpk_h5_attr_string(f, "/", "fpkit_version", "bench") || fpk_h5_commit(f))
      return fprintf(stderr, "%s\n", fpk_h5_errmsg(f)), 1;
    fpk_h5_close(f);
  }
  const double sec = now() - t0;
  struct stat st;
  stat(path, &st);
  printf("%-11s %6.1f MB in %zu datasets: %.4f s, file %.2f MB\n", argv[1], mb, nsets, sec,
         (double)st.st_size / 1e6);
  remove(path);
  free(v);
  return 0;
}
