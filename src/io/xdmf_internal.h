/* Shared by the HDF5 writer (src/io/h5.c) and the XDMF sidecar (src/io/xdmf.c). */
#ifndef FPK_IO_XDMF_INTERNAL_H
#define FPK_IO_XDMF_INTERNAL_H

#include <stddef.h>

#include "fpkit/error.h"

/* In the first line of comment of every sidecar fpkit writes: a sidecar is replaced or removed
 * only when it carries it and refers to the HDF5 file being written, never a file someone else
 * wrote nor the sidecar of another result. */
#define FPK_XDMF_MARK "written by fpkit"

/* Why XDMF readers could not open h5_path through a sidecar (its name holds a character their
 * "FILE:/dataset" reference cannot carry), as a phrase for a warning; NULL when it can be named. */
const char *fpk_xdmf_name_problem(const char *h5_path);

/* Checks, before anything is computed, that the sidecar of h5_path can be written with the rules
 * of the output itself (fpk_h5_create): nothing there, or fpkit's sidecar of this same file, or
 * (force) a regular file or a symbolic link; never a directory or another non-regular file.
 * FPK_EINVAL/FPK_EIO naming the sidecar and the reason. */
int fpk_xdmf_check_destination(const char *h5_path, int force, fpk_error *err);

/* fpk_xdmf_write, replacing a foreign file at the sidecar's path when force is set. */
int fpk_xdmf_write_forced(const char *h5_path, const char *const *fields, size_t nfields,
                          int force, fpk_error *err);

/* Removes the sidecar of h5_path if it is fpkit's and refers to this file (an earlier run's,
 * which would describe datasets the new file may not have); leaves anything else alone. */
void fpk_xdmf_remove_own(const char *h5_path);

#endif
