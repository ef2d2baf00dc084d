/* fpkit/io.h — HDF5 output (layout: docs/hdf5-layout.md).
 *
 * A file is created under a temporary name beside its destination ("out.h5.tmp.XXXXXX") and
 * renamed onto the destination only by fpk_h5_commit, after everything was written and closed.
 * A failed or interrupted run therefore never leaves a file that looks whole: fpk_h5_abort (also
 * called by fpk_h5_close on an uncommitted file) removes the temporary. Creating the file first
 * thing makes an unwritable output path fail before any computation.
 */
#ifndef FPKIT_IO_H
#define FPKIT_IO_H

#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_h5 fpk_h5;

fpk_h5 *fpk_h5_create(const char *path, fpk_error *err);
/* Creates a group; intermediate groups of "a/b" must exist. */
int fpk_h5_group(fpk_h5 *f, const char *name, const char *description);
/* Writes a double dataset of the given rank/shape with "units" and "description" attributes
 * (either may be NULL). */
int fpk_h5_write(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, const double *data,
                 const char *units, const char *description);
/* Attributes on an existing object ("/" for the root). */
int fpk_h5_attr_string(fpk_h5 *f, const char *object, const char *name, const char *value);
int fpk_h5_attr_double(fpk_h5 *f, const char *object, const char *name, double value);
int fpk_h5_attr_u64(fpk_h5 *f, const char *object, const char *name, uint64_t value);
/* Closes the file and renames it onto its destination. */
int fpk_h5_commit(fpk_h5 *f);
/* Closes and removes the temporary file; safe on NULL and after commit. Frees f. */
void fpk_h5_close(fpk_h5 *f);
/* Name of the temporary file (for a signal handler that must remove it). */
const char *fpk_h5_temp_path(const fpk_h5 *f);
const char *fpk_h5_errmsg(const fpk_h5 *f);

#ifdef __cplusplus
}
#endif
#endif
