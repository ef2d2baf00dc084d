/* Shared by the HDF5 writer (src/io/h5.c) and the XDMF sidecar (src/io/xdmf.c). */
#ifndef FPK_IO_XDMF_INTERNAL_H
#define FPK_IO_XDMF_INTERNAL_H

/* In the first line of comment of every sidecar fpkit writes: a sidecar is replaced or removed
 * only when it carries it, never a file someone else wrote. */
#define FPK_XDMF_MARK "written by fpkit"

#endif
