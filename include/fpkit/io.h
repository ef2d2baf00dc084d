/* fpkit/io.h — HDF5 output and input (layout: docs/hdf5-layout.md).
 *
 * Writing. A file is created under a temporary name beside its destination ("out.h5.tmp.XXXXXX")
 * and renamed onto the destination only by fpk_h5_commit, after everything was written, closed
 * and flushed to the disk (fsync of the file, then of its directory after the rename): a failed,
 * interrupted or crashed run never leaves a file that looks whole. fpk_h5_close on an uncommitted
 * file removes the temporary. Before anything is computed, fpk_h5_create checks the destination:
 * it must not be empty, a directory, a device or any other non-regular file, nor one of the run's
 * inputs; an existing regular file is replaced only if fpkit wrote it (an HDF5 file with the root
 * attribute fpkit_version, which fpk_h5_create writes into every file: fpk_version()) unless the
 * caller forces it. The path of the XDMF sidecar (fpk_xdmf_path) is checked then as well, with the
 * same rules, unless the file never gets one (no_sidecar). Temporaries of the same destination left
 * by a killed run (SIGKILL cannot be caught) are removed then; one that another process still
 * has open (HDF5 holds a lock on it) is left alone.
 *
 * Every dataset carries HDF5's Fletcher-32 checksum (filter on a chunked layout, after byte
 * shuffle and deflate at level 1, so it covers the bytes as stored) and the file format's own
 * metadata checksums (format >= 1.8), so silent corruption of a stored result is an error when
 * it is read back, not a wrong number. Every dataset is checked before it is
 * written: a non-finite value is refused (FPK_ENUMERIC) unless the dataset is declared to use
 * NaN for "not defined" (fpk_h5_write_undefined) or the file records a failed run
 * (fpk_h5_mark_failed). When HDF5 fails, the message ends with the operating system's reason
 * when HDF5 reported one ("No space left on device").
 *
 * Reading (fpk_h5_reader). Inputs are opened only if they are regular files (a FIFO would block
 * HDF5 forever); every attribute and dataset is read only after its type class and dataspace
 * were checked against what the caller expects, so a malformed file is an error naming the file,
 * the object and what was found, never an overflow or a silent NaN.
 */
#ifndef FPKIT_IO_H
#define FPKIT_IO_H

#include <stddef.h>
#include <stdint.h>
#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Writing ----------------------------------------------------------------------------- */

typedef struct fpk_h5 fpk_h5;

typedef struct fpk_h5_create_options {
  int force;                 /* replace an existing regular file that fpkit did not write (at the
                                output's path or its sidecar's) */
  const char *const *inputs; /* files the run reads: the output may not be any of them */
  size_t ninputs;
  int no_sidecar;            /* never an XDMF sidecar (a checkpoint): its path is not checked,
                                fpk_h5_xdmf_field registers nothing that is written, and the commit
                                only removes an earlier sidecar fpkit wrote for this file */
  /* The processes that write this file together (fpkit/parallel.h; NULL: this one). With more
   * than one, fpk_h5_create is collective: rank 0 checks the destination and writes the file,
   * the other ranks get a handle that discards what it is given (they hold the same values), and
   * fpk_h5_commit is collective too: rank 0 renames the temporary only when every rank agrees
   * that it succeeded (a failure anywhere: every rank's commit fails, with that rank's message,
   * and no result file is left). */
  const struct fpk_comm *comm;
  /* With comm of more than one process, in a build with parallel HDF5 (FPK_HAVE_PHDF5): every
   * rank opens the same temporary (rank 0 checks the destination, creates the temporary and
   * broadcasts its name) through HDF5's MPI-IO driver, and every fpk_h5_ call is collective: all
   * ranks make it, in the same order, with the same names and shapes. Attribute values are rank
   * 0's (broadcast); a replicated dataset (fpk_h5_write) is written from rank 0's selection
   * (the others select nothing) in one collective transfer; a distributed one from every rank's
   * slab (fpk_h5_write_slab). Each call first agrees over the ranks (fpkit/parallel.h), so a
   * rank that fails (a non-finite value in its slab) takes every rank out with its message. The
   * commit closes the file on every rank, agrees, and rank 0 renames it. Variable-length string
   * datasets (fpk_h5_write_strings) are refused (HDF5 1.10 writes none in parallel). Ignored
   * without parallel HDF5 (rank 0 writes the file, as above). docs/parallel.md. */
  int collective;
} fpk_h5_create_options;

/* Checks the destination (see above) and creates the temporary file. opt may be NULL (no
 * inputs, not forced). Fails with FPK_EIO or FPK_EINVAL naming the path and the reason. */
fpk_h5 *fpk_h5_create(const char *path, const fpk_h5_create_options *opt, fpk_error *err);
/* How many stale temporaries of this destination fpk_h5_create removed. */
size_t fpk_h5_stale_removed(const fpk_h5 *f);
/* Non-NULL when fpk_h5_create decided that this file gets no XDMF sidecar because XDMF readers
 * cannot reference its name (a ':' in it): why, as a phrase, for the caller's warning. The HDF5
 * file itself is written as usual. */
const char *fpk_h5_sidecar_skipped(const fpk_h5 *f);
/* Creates a group; intermediate groups of "a/b" must exist. */
int fpk_h5_group(fpk_h5 *f, const char *name, const char *description);
/* Writes a double dataset of the given rank (1..8) and shape with "units" and "description"
 * attributes (either may be NULL). Refuses a non-finite value (FPK_ENUMERIC, naming the dataset
 * and the index) unless the file is marked failed. */
int fpk_h5_write(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, const double *data,
                 const char *units, const char *description);
/* A double dataset of shape dims (rank 1..8) distributed along axis `axis`: this process holds
 * the planes [offset, offset + count) of that axis, data being that block in C order (shape
 * dims with count on `axis`; count may be 0). In a collective file (fpk_h5_create_options.
 * collective) every rank calls it with its own slab: the slabs must tile the axis in rank order
 * (checked: FPK_EINVAL naming the rank), and each rank writes its hyperslab in one collective
 * transfer, into the layout fpk_h5_write gives (the same chunks, filters and attributes), so
 * the file is the one a single process writes. Refuses a non-finite value of any rank's slab
 * (FPK_ENUMERIC on every rank, naming the dataset's index) unless the file is marked failed.
 * Elsewhere the slab must be the whole dataset (offset 0, count dims[axis]): fpk_h5_write. */
int fpk_h5_write_slab(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, size_t axis,
                      size_t offset, size_t count, const double *data, const char *units,
                      const char *description);
/* The same for a dataset where NaN means "not defined" (the mean of no surviving path, a
 * relative error without a reference); nan_means is stored as its attribute "nan". Infinities
 * are still refused. */
int fpk_h5_write_undefined(fpk_h5 *f, const char *name, size_t rank, const size_t *dims,
                           const double *data, const char *units, const char *description,
                           const char *nan_means);
/* A 1-D dataset of n variable-length UTF-8 strings (values[i] non-NULL) with a "description"
 * attribute (may be NULL); intermediate groups must exist. */
int fpk_h5_write_strings(fpk_h5 *f, const char *name, size_t n, const char *const *values,
                         const char *description);
/* Dimension scales (HDF5 H5DS, the netCDF-4 data model), so that netCDF-4 readers (xarray with
 * engine "h5netcdf", netCDF-C) open every group with named, labelled axes. A dimension is named
 * by the last component of its scale's path. fpk_h5_make_scale makes an existing 1-D dataset a
 * coordinate (its values label the axis: /grid/x, /fv/t); fpk_h5_write_scale writes one;
 * fpk_h5_index_dim creates an axis without values (netCDF's "dimension without a variable":
 * a never-written float dataset of length n, no storage) for indices such as a vector component.
 * fpk_h5_attach_scales attaches to each axis of `dataset` the scale named by the space-separated
 * `dims` ("t y x"), looked up in the dataset's group, then its ancestors (which netCDF-4 readers
 * see), then /grid. A coordinate found outside the dataset's group is first copied into it
 * (netCDF-4 readers give a group the values of its own coordinates only); an index axis is used
 * where it is. Fails (FPK_EINVAL, naming the dataset, the axis and both lengths) when the number
 * of names differs from the rank, a scale is missing, or a scale's length differs from the
 * axis. */
int fpk_h5_make_scale(fpk_h5 *f, const char *dataset);
int fpk_h5_write_scale(fpk_h5 *f, const char *name, size_t n, const double *values,
                       const char *units, const char *description);
int fpk_h5_index_dim(fpk_h5 *f, const char *name, size_t n);
int fpk_h5_attach_scales(fpk_h5 *f, const char *dataset, const char *dims);
/* Registers a field [t][y][x] or [t][z][y][x] (its axes attached to scales: time first) for the
 * XDMF sidecar (fpk_xdmf_write), which fpk_h5_commit writes beside the file when at least one
 * field was registered and the run did not fail. */
int fpk_h5_xdmf_field(fpk_h5 *f, const char *dataset);
/* Attributes on an existing object ("/" for the root); writing one again replaces it. */
int fpk_h5_attr_string(fpk_h5 *f, const char *object, const char *name, const char *value);
int fpk_h5_attr_double(fpk_h5 *f, const char *object, const char *name, double value);
int fpk_h5_attr_u64(fpk_h5 *f, const char *object, const char *name, uint64_t value);
/* Records that the run failed (the root attributes failed = 1 and failed_reason): the file is
 * kept for inspection (--keep-failed) and its fields are written as they are, non-finite values
 * included. */
int fpk_h5_mark_failed(fpk_h5 *f, const char *reason);
/* Closes the file, flushes it to the disk and renames it onto its destination; then, for a
 * file with XDMF fields (fpk_h5_xdmf_field) that did not fail, writes the sidecar
 * (fpk_xdmf_write; a foreign file there is replaced only when forced); without one, removes a
 * sidecar that fpkit wrote for this same file (never one that refers to another file). */
int fpk_h5_commit(fpk_h5 *f);
/* Closes and removes the temporary file; safe on NULL and after commit. Frees f. */
void fpk_h5_close(fpk_h5 *f);
/* Name of the temporary file (for a signal handler that must remove it); NULL for a rank > 0
 * of a file rank 0 writes (fpk_h5_create_options.comm), which has none. */
const char *fpk_h5_temp_path(const fpk_h5 *f);
const char *fpk_h5_errmsg(const fpk_h5 *f);
/* Status of the last failure on f (FPK_SUCCESS if none). */
int fpk_h5_status(const fpk_h5 *f);

/* ---- Reading ----------------------------------------------------------------------------- */

#define FPK_H5_MAX_RANK 8

typedef struct fpk_h5_reader fpk_h5_reader;

/* Opens an existing HDF5 file read-only. Fails (FPK_EIO) when it cannot be read, is not a
 * regular file, or is not HDF5; err names the path and the reason. */
fpk_h5_reader *fpk_h5_reader_open(const char *path, fpk_error *err);
void fpk_h5_reader_close(fpk_h5_reader *r); /* NULL is safe */
const char *fpk_h5_reader_path(const fpk_h5_reader *r);
const char *fpk_h5_reader_errmsg(const fpk_h5_reader *r);

/* 1 if every link of the absolute path exists (a group or a dataset), else 0. */
int fpk_h5_exists(fpk_h5_reader *r, const char *path);
/* 1 if path is a dataset, 0 if there is no such object or it is a group, -1 if it exists but
 * cannot be opened (a damaged file: the error is on r). */
int fpk_h5_is_dataset(fpk_h5_reader *r, const char *path);
/* Shape of a numeric (integer or floating-point) dataset: *rank (0 for a scalar) and dims.
 * Fails (FPK_EINVAL) for a missing object, a group, a non-numeric type or rank > 8. */
int fpk_h5_dataset_shape(fpk_h5_reader *r, const char *path, size_t *rank, size_t *dims);
/* Reads a numeric dataset of exactly n elements as doubles (converted by HDF5). Fails when the
 * element count differs, the type is not numeric, or the read fails (a checksum mismatch
 * included), naming the dataset. */
int fpk_h5_read_doubles(fpk_h5_reader *r, const char *path, size_t n, double *out);
/* A numeric attribute holding one value (a scalar, or a simple dataspace of one element) of
 * object ("/" for the root). Fails naming the object, the attribute and the shape found. */
int fpk_h5_read_attr_double(fpk_h5_reader *r, const char *object, const char *name, double *v);
/* A string attribute (scalar; fixed or variable length): *out is malloc'd, NUL-terminated. */
int fpk_h5_read_attr_string(fpk_h5_reader *r, const char *object, const char *name, char **out);
/* 1 if object has the attribute. */
int fpk_h5_has_attr(fpk_h5_reader *r, const char *object, const char *name);
/* The datasets of the file as "/a/b, /c, ..." (at most len bytes, "..." when cut). */
void fpk_h5_list_datasets(fpk_h5_reader *r, char *buf, size_t len);

/* ---- XDMF sidecar (ParaView, VisIt) ------------------------------------------------------- */

/* The sidecar's path for an HDF5 path, the whole name plus ".xmf": "out.h5" -> "out.h5.xmf", so
 * that out.h5, out.hdf5 and out have sidecars of their own (fpkit before issue 12 wrote "out.xmf"
 * for "out.h5"; such a sidecar of the same file is removed when the file is written again). */
void fpk_xdmf_path(const char *h5_path, char *buf, size_t len);
/* Writes the XDMF 3 description of fields of the committed HDF5 file h5_path: a uniform mesh
 * (3DCoRectMesh, one layer thick in 2D) whose nodes are the cell centres (the evenly spaced
 * scales attached to the fields' spatial axes), and one temporal collection per distinct time
 * axis, one grid per output time whose attributes are hyperslabs of "FILE.h5:/group/density"
 * (the file name only, so the pair can be moved together; the first such reference says which
 * file the sidecar describes). Each field is [nt][ny][nx] or [nt][nz][ny][nx] with scales on every
 * axis. Written to a temporary beside it, flushed and renamed; an existing file there is replaced
 * only if it is fpkit's sidecar of this same HDF5 file. Fails (FPK_EINVAL) for a file name with a
 * ':', which XDMF readers take for the end of the file name. */
int fpk_xdmf_write(const char *h5_path, const char *const *fields, size_t nfields,
                   fpk_error *err);

/* 1 if path is an HDF5 file that fpkit wrote (root attribute fpkit_version), else 0. */
int fpk_h5_is_fpkit_file(const char *path);

/* ---- Comparing two files (src/io/compare.c) ---------------------------------------------- */

/* How one dataset (or one attribute) of file A compares with the one of the same path in B. */
typedef enum fpk_h5_diff_kind {
  FPK_H5_DIFF_VALUES = 1,     /* same shape, some elements differ in at least one bit */
  FPK_H5_DIFF_SHAPE,          /* different rank or dimensions */
  FPK_H5_DIFF_ONLY_IN_A,      /* a dataset of A that B lacks */
  FPK_H5_DIFF_ONLY_IN_B,      /* a dataset of B that A lacks */
  FPK_H5_DIFF_ATTR_VALUE,     /* an attribute of the same object in both files whose type,
                                 shape or value differs (numbers bitwise, strings as text) */
  FPK_H5_DIFF_ATTR_ONLY_IN_A, /* an attribute of A that B lacks (on an object B has, or on a
                                 group only A has) */
  FPK_H5_DIFF_ATTR_ONLY_IN_B  /* the converse */
} fpk_h5_diff_kind;

typedef struct fpk_h5_diff {
  char *path; /* "/fv/density"; an attribute: "OBJECT@NAME", "/converge/strong@order", "/@config" */
  fpk_h5_diff_kind kind;
  size_t rank_a, rank_b, dims_a[FPK_H5_MAX_RANK], dims_b[FPK_H5_MAX_RANK];
  size_t nelements;    /* FPK_H5_DIFF_VALUES: elements compared */
  size_t ndiffer;      /* elements whose 64 bits differ (NaNs with different payloads included) */
  size_t nan_mismatch; /* elements NaN in one file and not in the other */
  double max_abs;      /* max |a - b| over differing elements where neither is NaN */
  double max_rel;      /* max |a - b| / max(|a|, |b|) over the same elements (large where both
                          are near 0: a covariance of 1e-17 against 0) */
  double max_abs_a;    /* max |a| over the finite elements of A: the scale of the dataset */
  int wall_clock;      /* a measured time, not a result: the dataset's or attribute's name
                          contains "seconds" (fpkit's name for wall-clock timings, /ot/seconds,
                          /fv@wall_seconds), which no rerun reproduces */
  int record;          /* an attribute that records the run, not a result: the root attributes
                          created, fpkit_version and config_file */
  char *value_a;       /* attribute kinds: the values as text, for reports ("1.5", "'tr-bdf2'", */
  char *value_b;       /* "[0 1 2]"; a long string around its first difference); NULL: absent */
} fpk_h5_diff;

typedef struct fpk_h5_comparison {
  size_t ndatasets;        /* paths that are a dataset in A or in B */
  size_t nidentical;       /* of them, bitwise identical in both */
  size_t nelements;        /* elements of the identical datasets */
  size_t nattributes;      /* attributes compared: on an object of A or B, outside /provenance,
                              not a dimension-scale attribute */
  size_t nattr_identical;  /* of them, identical in both */
  size_t ndiffs;           /* the datasets and attributes that differ, sorted by path */
  size_t nresults;         /* of the differences, those that are neither wall_clock nor record:
                              0 means the results agree */
  fpk_h5_diff *diffs;
} fpk_h5_comparison;

/* Compares every dataset of two HDF5 files (all groups, recursively): the same set of dataset
 * paths, the same shapes, and bitwise-identical values, NaN payloads included. Numeric datasets
 * are read as doubles through fpk_h5_reader (checked types and dataspaces, Fletcher-32 checked;
 * integers convert exactly up to 2^53). Then the attributes of every object (the root, groups
 * and datasets): numeric attributes bitwise in their native type (the type, the shape and every
 * bit of every element), string attributes as text (fixed or variable length alike); an
 * attribute of another class differs unless its bytes do not (references and variable-length
 * data always differ). Not compared: the group /provenance and everything in it (the build and
 * host of each file, which a caller reports separately), and HDF5's dimension-scale attributes
 * (DIMENSION_LIST, REFERENCE_LIST, CLASS, NAME) and netCDF's (_Netcdf4Dimid,
 * _Netcdf4Coordinates, _NCProperties): their references are file addresses, and the scales they
 * name are compared as datasets. Fails (FPK_EIO/FPK_EINVAL, err naming file and dataset) when a
 * file cannot be read or holds a non-numeric dataset; on success *out holds the result (release
 * with fpk_h5_comparison_free). */
int fpk_h5_compare_files(const char *path_a, const char *path_b, fpk_h5_comparison *out,
                         fpk_error *err);
void fpk_h5_comparison_free(fpk_h5_comparison *c);

/* ---- Grids and fields of fpkit files (src/io/field.c) -------------------------------------
 * The readers `fpkit ot` and `fpkit run` ([init] type = file) share. Every error is FPK_EINVAL
 * (FPK_EIO for an object that cannot be opened, FPK_ENOMEM) with err naming the file, the
 * object and what was found. */
struct fpk_grid;
/* The grid of an fpkit file: /grid/x (/grid/y, /grid/z) with scalar attributes lo, hi and, when
 * present, bc (reflecting when absent). Fails when there is no /grid, an axis is not 1D, the
 * grid has more than max_cells cells, or the stored centres are not the uniform cell-centred
 * grid of lo, hi. */
int fpk_h5_read_grid(fpk_h5_reader *r, double max_cells, struct fpk_grid *g, fpk_error *err);
/* The shape of a field on g: [ny][nx] (*nt = 1, *time_axis = 0) or [nt][ny][nx] (*time_axis =
 * 1, 1 <= nt <= max_times). Fails for a missing dataset (the message lists the datasets there)
 * or another shape. */
int fpk_h5_field_shape(fpk_h5_reader *r, const struct fpk_grid *g, const char *dataset,
                       size_t max_times, size_t *nt, int *time_axis, fpk_error *err);
/* Reads nt fields of g->size values each (as stored: no check of the values). */
int fpk_h5_read_field(fpk_h5_reader *r, const struct fpk_grid *g, const char *dataset, size_t nt,
                      double *values, fpk_error *err);
/* The times of a field with nt entries on its time axis: the dataset `t` beside it when it is a
 * 1D array of nt values (which must then be finite), else NaN (unknown). */
int fpk_h5_field_times(fpk_h5_reader *r, const char *dataset, size_t nt, double *t,
                       fpk_error *err);
/* Entries [first, first + count) along axis 0 of a numeric dataset whose other axes hold row_len
 * values (one time of a field [nt][ny][nx]), as doubles: only those are read. Fails when the
 * shape does not fit or the read fails (a checksum mismatch included). */
int fpk_h5_read_doubles_rows(fpk_h5_reader *r, const char *path, size_t first, size_t count,
                             size_t row_len, double *out);
/* The density of `method` ("fv", "spectral", "exact", "mc") of a `fpkit run` output on g at
 * `time`, an entry of /method/t (equal within 1e-12 relative), or the last when time is NaN:
 * g->size values into out, the stored time into *t_found and its index into *index (either may
 * be NULL). A time not stored is an error listing the nearest stored ones (and *index is then
 * SIZE_MAX, so that a caller can tell it from the other errors). */
int fpk_h5_read_density(fpk_h5_reader *r, const struct fpk_grid *g, const char *method,
                        double time, double *out, double *t_found, size_t *index,
                        fpk_error *err);

#ifdef __cplusplus
}
#endif
#endif
