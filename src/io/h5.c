/* HDF5 writer with write-to-temporary-then-rename semantics (fpkit/io.h). */
#include "fpkit/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

struct fpk_h5 {
  hid_t file;
  char *path, *tmp;
  int committed;
  fpk_error err;
};

const char *fpk_h5_errmsg(const fpk_h5 *f) { return f ? f->err.msg : "no file"; }
const char *fpk_h5_temp_path(const fpk_h5 *f) { return f ? f->tmp : NULL; }

fpk_h5 *fpk_h5_create(const char *path, fpk_error *err) {
  /* The library reports through fpk_error; HDF5's own stack printing would only add noise. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  fpk_h5 *f = calloc(1, sizeof *f);
  size_t k = strlen(path);
  if (!f || !(f->path = malloc(k + 1)) || !(f->tmp = malloc(k + 16))) {
    if (f) free(f->path), free(f);
    fpk_error_set(err, FPK_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(f->path, path, k + 1);
  snprintf(f->tmp, k + 16, "%s.tmp.XXXXXX", path);
  f->file = H5I_INVALID_HID;
  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    fpk_error_set(err, FPK_EIO, "cannot write output file '%s': %s", path, strerror(errno));
    free(f->path), free(f->tmp), free(f);
    return NULL;
  }
  /* mkstemp creates 0600; give the result the permissions an ordinary file would get. */
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  close(fd);
  f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f->file < 0) {
    fpk_error_set(err, FPK_EIO, "cannot create HDF5 file '%s'", f->tmp);
    unlink(f->tmp);
    free(f->path), free(f->tmp), free(f);
    return NULL;
  }
  return f;
}

static int attr_string_id(hid_t obj, const char *name, const char *value) {
  /* Variable-length UTF-8: h5py reads it as str, not bytes. */
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, type, &value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  return rc < 0 ? -1 : 0;
}

int fpk_h5_group(fpk_h5 *f, const char *name, const char *description) {
  hid_t g = H5Gcreate2(f->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return fpk_error_set(&f->err, FPK_EIO, "%s: cannot create group '%s'", f->path, name);
  int rc = description ? attr_string_id(g, "description", description) : 0;
  H5Gclose(g);
  if (rc) return fpk_error_set(&f->err, FPK_EIO, "%s: cannot annotate group '%s'", f->path, name);
  return FPK_SUCCESS;
}

int fpk_h5_write(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, const double *data,
                 const char *units, const char *description) {
  hsize_t hd[8];
  if (rank < 1 || rank > 8)
    return fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s' has rank %zu", f->path, name, rank);
  for (size_t i = 0; i < rank; i++) hd[i] = dims[i];
  hid_t space = H5Screate_simple((int)rank, hd, NULL);
  hid_t d = H5Dcreate2(f->file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (rc >= 0 && units) rc = attr_string_id(d, "units", units);
  if (rc >= 0 && description) rc = attr_string_id(d, "description", description);
  if (d >= 0) H5Dclose(d);
  H5Sclose(space);
  if (rc < 0)
    return fpk_error_set(&f->err, FPK_EIO, "%s: cannot write dataset '%s'", f->path, name);
  return FPK_SUCCESS;
}

static int with_object(fpk_h5 *f, const char *object, const char *name, hid_t *obj) {
  *obj = H5Oopen(f->file, object, H5P_DEFAULT);
  if (*obj < 0)
    return fpk_error_set(&f->err, FPK_EIO, "%s: no object '%s' for attribute '%s'", f->path,
                         object, name);
  return FPK_SUCCESS;
}

int fpk_h5_attr_string(fpk_h5 *f, const char *object, const char *name, const char *value) {
  hid_t o;
  if (with_object(f, object, name, &o)) return f->err.status;
  int rc = attr_string_id(o, name, value);
  H5Oclose(o);
  if (rc) return fpk_error_set(&f->err, FPK_EIO, "%s: cannot write attribute '%s'", f->path, name);
  return FPK_SUCCESS;
}

static int attr_scalar(fpk_h5 *f, const char *object, const char *name, hid_t ftype, hid_t mtype,
                       const void *value) {
  hid_t o;
  if (with_object(f, object, name, &o)) return f->err.status;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Oclose(o);
  if (rc < 0) return fpk_error_set(&f->err, FPK_EIO, "%s: cannot write attribute '%s'", f->path, name);
  return FPK_SUCCESS;
}

int fpk_h5_attr_double(fpk_h5 *f, const char *object, const char *name, double value) {
  return attr_scalar(f, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int fpk_h5_attr_u64(fpk_h5 *f, const char *object, const char *name, uint64_t value) {
  return attr_scalar(f, object, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

int fpk_h5_commit(fpk_h5 *f) {
  herr_t rc = H5Fclose(f->file);
  f->file = H5I_INVALID_HID;
  if (rc < 0) return fpk_error_set(&f->err, FPK_EIO, "%s: closing the HDF5 file failed", f->path);
  if (rename(f->tmp, f->path) != 0)
    return fpk_error_set(&f->err, FPK_EIO, "cannot rename '%s' to '%s': %s", f->tmp, f->path,
                         strerror(errno));
  f->committed = 1;
  return FPK_SUCCESS;
}

void fpk_h5_close(fpk_h5 *f) {
  if (!f) return;
  if (f->file >= 0) H5Fclose(f->file);
  if (!f->committed) unlink(f->tmp);
  free(f->path);
  free(f->tmp);
  free(f);
}
