/* HDF5 output and input (fpkit/io.h): a writer with checked destinations, checksummed datasets and
 * durable temporary-then-rename commits, and a reader that checks every dataspace before it reads.
 */
#define _GNU_SOURCE /* mkostemp */
#include "fpkit/io.h"
#include "fpkit/parallel.h"
#include "fpkit/version.h"
#include "io/xdmf_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#if FPK_HAVE_PHDF5
#include "core/comm_internal.h"
#endif

/* fpkit reports HDF5 failures through fpk_error; HDF5's own stack printing would only add noise
 * (the reason worth keeping is extracted by h5_reason). */
static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- the reason of an HDF5 failure -------------------------------------------------------- */

typedef struct reason_walk {
  char os[160];    /* the operating system's message, from a low-level I/O error */
  char inner[160]; /* the innermost error description */
} reason_walk;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data) {
  reason_walk *w = data;
  if (!e->desc) return 0;
  if (n == 0) snprintf(w->inner, sizeof w->inner, "%s", e->desc);
  /* HDF5's POSIX drivers report "..., errno = 28, error message = 'No space left on device', ..." */
  const char *m = strstr(e->desc, "error message = '");
  if (m && !w->os[0]) {
    m += strlen("error message = '");
    const char *end = strchr(m, '\'');
    size_t k = end ? (size_t)(end - m) : strlen(m);
    if (k >= sizeof w->os) k = sizeof w->os - 1;
    memcpy(w->os, m, k);
    w->os[k] = '\0';
  }
  return 0;
}

/* ": No space left on device" (or the innermost HDF5 message) for the failure just reported on
 * the default error stack; "" if HDF5 recorded nothing. */
static void h5_reason(char *buf, size_t len) {
  reason_walk w = {"", ""};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (w.os[0])
    snprintf(buf, len, ": %s", w.os);
  else if (w.inner[0])
    snprintf(buf, len, " (HDF5: %s)", w.inner);
  else
    buf[0] = '\0';
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The file is built in memory (HDF5's core driver without a backing store) and written to the
 * temporary by fpkit with plain write(2) calls. HDF5 itself therefore never does file I/O: a full
 * disk is an error of ours, reported with its reason, instead of a failed H5Fclose — which in HDF5
 * 1.10 leaves a freed file in its ID table and crashes the program at exit (H5F__close_cb from
 * H5_term_library; HDFFV-11052, fixed in HDF5 1.14.1). The bytes are taken when HDF5 frees its
 * image at the end of H5Fclose (H5Pset_file_image_callbacks), after the final flush: the image of
 * H5Fget_file_image would be an extra copy, and in HDF5 1.10.8 it carries a stale superblock
 * checksum for the version-2 superblock used here. The temporary is created and locked (flock)
 * at once and stays open and locked until the commit, so that remove_stale can tell a live run's
 * temporary from a killed one's. */
struct fpk_h5 {
  hid_t file;
  int fd; /* the temporary, locked */
  char *path, *tmp;
  int committed, failed;
  size_t stale;
  /* the in-memory image: its size (the core driver grows it by exactly what it writes), and
   * what happened when it was written out at close */
  size_t image_size;
  int write_image, image_written, image_errno;
  char **xdmf; /* fields the XDMF sidecar describes (fpk_h5_xdmf_field) */
  size_t nxdmf;
  int force;              /* the caller's opt->force: also for a foreign file at the sidecar's path */
  int no_sidecar;         /* opt->no_sidecar: never a sidecar (checkpoints) */
  const char *no_sidecar_reason; /* decided at creation: XDMF cannot name this file */
  /* The processes writing this file (opt->comm; NULL: one). With more than one, rank 0 writes
   * and the others' handles discard (docs/parallel.md): they are given the same values. */
  const fpk_comm *comm;
  int discard;
  /* Collective mode (opt->collective, parallel HDF5): every rank holds the same file open through
   * MPI-IO and makes every HDF5 call; replicated data is written from rank 0's selection, slabs
   * (fpk_h5_write_slab) by each rank. dxpl: the collective transfer list. */
  int collective;
  hid_t dxpl;
  fpk_error err;
};

const char *fpk_h5_errmsg(const fpk_h5 *f) { return f ? f->err.msg : "no file"; }
int fpk_h5_status(const fpk_h5 *f) { return f ? f->err.status : FPK_EIO; }
/* a collective file's temporary is rank 0's to remove (the others hold its name only) */
const char *fpk_h5_temp_path(const fpk_h5 *f) {
  return f && !(f->collective && fpk_comm_rank(f->comm) != 0) ? f->tmp : NULL;
}
size_t fpk_h5_stale_removed(const fpk_h5 *f) { return f ? f->stale : 0; }
const char *fpk_h5_sidecar_skipped(const fpk_h5 *f) { return f ? f->no_sidecar_reason : NULL; }

/* Records an HDF5 failure on f with the reason HDF5 gave, and returns the status. */
static int h5_fail(fpk_h5 *f, int status, const char *fmt, const char *name) {
  char what[512], why[200];
  h5_reason(why, sizeof why);
  snprintf(what, sizeof what, fmt, name);
  return fpk_error_set(&f->err, status, "%s: %s%s", f->path, what, why);
}

/* The directory part of path ("." when there is none), in buf. */
static void dir_of(const char *path, char *buf, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(buf, len, ".");
  else if (slash == path)
    snprintf(buf, len, "/");
  else
    snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int fpk_h5_is_fpkit_file(const char *path) {
  struct stat st;
  if (stat(path, &st) || !S_ISREG(st.st_mode)) return 0;
  quiet_hdf5();
  if (H5Fis_hdf5(path) <= 0) return 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 0;
  int yes = H5Aexists(f, "fpkit_version") > 0;
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  return yes;
}

static const char *file_kind(mode_t m) {
  if (S_ISDIR(m)) return "directory";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  if (S_ISFIFO(m)) return "FIFO";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISLNK(m)) return "symbolic link";
  return "special file";
}

/* Everything that can be known about the destination before a run computes anything. */
static int check_destination(const char *path, const fpk_h5_create_options *opt,
                             fpk_error *err) {
  if (!path || !path[0])
    return fpk_error_set(err, FPK_EINVAL, "the output path is empty: give a file name with -o");
  const size_t k = strlen(path);
  if (path[k - 1] == '/')
    return fpk_error_set(err, FPK_EINVAL, "output '%s' names a directory: give a file name",
                         path);
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return fpk_error_set(err, FPK_EINVAL,
                           "output '%s' is a directory: give a file name (e.g. %s/out.h5)", path,
                           path);
    if (S_ISLNK(st.st_mode) && !(opt && opt->force))
      return fpk_error_set(err, FPK_EINVAL,
                           "output '%s' is a symbolic link: fpkit would replace the link, not "
                           "its target; name the target, or set force (fpkit: --force) to "
                           "replace the link",
                           path);
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
      return fpk_error_set(err, FPK_EINVAL,
                           "output '%s' is a %s, not a regular file: fpkit writes results only "
                           "to regular files",
                           path, file_kind(st.st_mode));
    for (size_t i = 0; opt && i < opt->ninputs; i++) {
      struct stat in;
      if (opt->inputs[i] && stat(opt->inputs[i], &in) == 0 && in.st_dev == st.st_dev &&
          in.st_ino == st.st_ino)
        return fpk_error_set(err, FPK_EINVAL,
                             "output '%s' is the input file '%s': refusing to overwrite an "
                             "input; choose another output path",
                             path, opt->inputs[i]);
    }
    if (S_ISREG(st.st_mode) && !(opt && opt->force) && !fpk_h5_is_fpkit_file(path))
      return fpk_error_set(err, FPK_EINVAL,
                           "output '%s' exists and is not an fpkit result (no HDF5 root "
                           "attribute fpkit_version): refusing to replace it; choose another "
                           "path, or set force (fpkit: --force) to replace it",
                           path);
  } else if (errno != ENOENT) {
    return fpk_error_set(err, FPK_EIO, "cannot check output '%s': %s", path, strerror(errno));
  }
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  if (stat(dir, &st))
    return fpk_error_set(err, FPK_EIO, "cannot write output '%s': directory '%s': %s", path, dir,
                         strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return fpk_error_set(err, FPK_EIO, "cannot write output '%s': '%s' is not a directory", path,
                         dir);
  if (access(dir, W_OK | X_OK))
    return fpk_error_set(err, FPK_EIO, "cannot write output '%s': directory '%s': %s", path, dir,
                         strerror(errno));
  return FPK_SUCCESS;
}

/* Removes "<base>.tmp.XXXXXX" files of this destination that no process has open. A run that is
 * writing one holds HDF5's lock (flock) on it; a run killed by SIGKILL left it unlocked. */
static size_t remove_stale(const char *path) {
  char dir[4096];
  dir_of(path, dir, sizeof dir);
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char prefix[1024];
  if ((size_t)snprintf(prefix, sizeof prefix, "%s.tmp.", base) >= sizeof prefix) return 0;
  const size_t np = strlen(prefix);
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *name = e->d_name;
    if (strncmp(name, prefix, np) || strlen(name) != np + 6) continue;
    int pattern = 1; /* mkstemp's six characters */
    for (size_t i = np; i < np + 6; i++)
      pattern &= (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
                 (name[i] >= '0' && name[i] <= '9');
    if (!pattern) continue;
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", dir, name);
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        unlink(full) == 0)
      removed++;
    close(fd);
  }
  closedir(d);
  return removed;
}

/* ---- the core driver's image, through fpkit's allocator ---- */

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op;
  ((fpk_h5 *)udata)->image_size = size;
  return malloc(size ? size : 1);
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata) {
  (void)op, (void)udata;
  return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op;
  void *p = realloc(ptr, size ? size : 1);
  if (p) ((fpk_h5 *)udata)->image_size = size;
  return p;
}

static int write_all(int fd, const unsigned char *buf, size_t n);

/* HDF5 frees the image when the file closes, after its last flush: the finished file. It is
 * written to the temporary only when fpk_h5_commit asked for it; a failure is recorded (HDF5 is
 * told all went well, so that its close completes) and reported by the commit. */
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  fpk_h5 *f = udata;
  if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && f->write_image && ptr) {
    f->write_image = 0;
    errno = 0;
    if (write_all(f->fd, ptr, f->image_size))
      f->image_errno = errno ? errno : EIO;
    else
      f->image_written = 1;
  }
  free(ptr);
  return 0;
}

/* The callbacks' user data is the fpk_h5 itself, shared by every copy of the property list. */
static void *image_udata_copy(void *udata) { return udata; }
static herr_t image_udata_free(void *udata) {
  (void)udata;
  return 0;
}

static int attr_string_id(hid_t obj, const char *name, const char *value);

/* The handle of a rank other than 0 of a file written by rank 0: no file, every write a no-op. */
static fpk_h5 *discarding_handle(const char *path, const fpk_comm *comm, fpk_error *err) {
  fpk_h5 *f = calloc(1, sizeof *f);
  const size_t k = strlen(path);
  if (!f || !(f->path = malloc(k + 1))) {
    free(f);
    fpk_error_set(err, FPK_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(f->path, path, k + 1);
  f->tmp = NULL; /* no temporary: nothing for a signal handler to remove (fpk_h5_temp_path) */
  f->file = H5I_INVALID_HID;
  f->fd = -1;
  f->comm = comm;
  f->discard = 1;
  f->committed = 1; /* nothing to remove at close */
  return f;
}

/* The destination's checks, the stale temporaries' removal and the temporary itself, created
 * and locked (fpk_h5_create; rank 0's part of a collective file): f with fd and tmp set. */
static fpk_h5 *prepare_temp(const char *path, const fpk_h5_create_options *opt, fpk_error *err) {
  if (check_destination(path, opt, err)) return NULL;
  /* The XDMF sidecar's destination is checked now too, with the output's rules, so that a
   * conflict there fails before anything is computed rather than after the whole run. A name
   * XDMF cannot reference gets no sidecar (the caller may say so: fpk_h5_sidecar_skipped). */
  const int no_sidecar = opt && opt->no_sidecar;
  const char *no_sidecar_reason = no_sidecar ? NULL : fpk_xdmf_name_problem(path);
  if (!no_sidecar && !no_sidecar_reason &&
      fpk_xdmf_check_destination(path, opt && opt->force, err))
    return NULL;
  fpk_h5 *f = calloc(1, sizeof *f);
  size_t k = strlen(path);
  if (!f || !(f->path = malloc(k + 1)) || !(f->tmp = malloc(k + 16))) {
    if (f) free(f->path), free(f);
    fpk_error_set(err, FPK_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(f->path, path, k + 1);
  f->force = opt && opt->force;
  f->no_sidecar = no_sidecar;
  f->no_sidecar_reason = no_sidecar_reason;
  f->stale = remove_stale(path);
  snprintf(f->tmp, k + 16, "%s.tmp.XXXXXX", path);
  f->file = H5I_INVALID_HID;
  f->fd = mkostemp(f->tmp, O_CLOEXEC);
  if (f->fd < 0) {
    fpk_error_set(err, FPK_EIO, "cannot write output file '%s': %s", path, strerror(errno));
    free(f->path), free(f->tmp), free(f);
    return NULL;
  }
  if (flock(f->fd, LOCK_EX | LOCK_NB)) { /* not fatal: only the stale-file cleanup needs it */ }
  /* mkstemp creates 0600; give the result the permissions an ordinary file would get. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(f->fd, 0666 & ~mask)) { /* not fatal: the file stays private */ }
  f->dxpl = H5I_INVALID_HID;
  return f;
}

/* ---- collective mode (parallel HDF5) ---- */

/* The agreement of every rank of a collective file on status (f->err holds a failure's message):
 * entered by every rank at the same point before each collective HDF5 call that a rank could
 * fail to reach (fpkit/parallel.h: a failing rank goes straight to its next agreement). */
static int coll_agree(fpk_h5 *f, int status) {
  fpk_error e = f->err;
  if (!status) fpk_error_clear(&e);
  const int rc = fpk_comm_agree(f->comm, status, &e);
  if (rc) f->err = e;
  return rc;
}

/* Rank 0's bytes of a value given by every rank (an attribute: the values the ranks hold may
 * differ, as a start time does, and HDF5 wants the same on every rank; the file holds rank 0's,
 * as it does in the rank-0 mode). Entered after a successful coll_agree. */
static int coll_same(fpk_h5 *f, void *buf, size_t bytes) {
  return fpk_comm_bcast(f->comm, buf, bytes, 0, &f->err);
}

/* Rank 0's string on every rank: *out is value on rank 0, a malloc'd copy elsewhere (*owned). */
static int coll_same_string(fpk_h5 *f, const char *value, const char **out, char **owned) {
  *owned = NULL;
  *out = value;
  uint64_t n = fpk_comm_rank(f->comm) == 0 ? (uint64_t)strlen(value) : 0;
  if (coll_same(f, &n, sizeof n)) return f->err.status;
  char *copy = NULL;
  if (fpk_comm_rank(f->comm) != 0) {
    copy = malloc((size_t)n + 1);
    if (!copy) abort(); /* a rank alone without memory cannot leave the collective calls */
  }
  const int rc = fpk_comm_bcast(f->comm, copy ? copy : (char *)value, (size_t)n, 0, &f->err);
  if (copy) {
    copy[n] = '\0';
    *out = *owned = copy;
  }
  return rc;
}

#if FPK_HAVE_PHDF5
/* Every rank opens the temporary rank 0 created (its name broadcast), with HDF5's MPI-IO
 * driver; the destination's checks, the stale temporaries and the lock stay rank 0's. */
static fpk_h5 *create_collective(const char *path, const fpk_h5_create_options *opt,
                                 fpk_error *err) {
  const fpk_comm *comm = opt->comm;
  const int rank = fpk_comm_rank(comm);
  fpk_error local = {0};
  fpk_h5 *f = NULL;
  const size_t k = strlen(path);
  if (rank == 0) {
    fpk_h5_create_options one = *opt;
    one.comm = NULL;
    f = prepare_temp(path, &one, &local);
  } else if ((f = calloc(1, sizeof *f)) && (f->path = malloc(k + 1)) && (f->tmp = calloc(1, k + 16))) {
    memcpy(f->path, path, k + 1);
    f->fd = -1;
    f->committed = 1; /* rank 0 alone removes the temporary */
    f->no_sidecar = opt->no_sidecar;
  } else {
    if (f) free(f->path), free(f);
    f = NULL;
    fpk_error_set(&local, FPK_ENOMEM, "out of memory");
  }
  if (f) {
    f->file = H5I_INVALID_HID;
    f->dxpl = H5I_INVALID_HID;
    f->comm = comm;
    f->collective = 1;
    f->force = opt->force;
  }
  if (fpk_comm_agree(comm, f ? FPK_SUCCESS : local.status, &local)) {
    if (f) f->collective = 0; /* nothing HDF5 opened: the plain close */
    fpk_h5_close(f);
    fpk_error_copy(err, &local);
    return NULL;
  }
  /* rank 0's name (path plus ".tmp.XXXXXX": k + 12 bytes with the NUL) */
  int rc = fpk_comm_bcast(comm, f->tmp, k + 12, 0, &local);
  hid_t fapl = rc ? H5I_INVALID_HID : H5Pcreate(H5P_FILE_ACCESS);
  if (!rc) {
    /* metadata reads and writes collective: every rank's metadata cache sees the same
     * operations, and the writes are aggregated */
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, fpk_comm_mpi(comm), MPI_INFO_NULL) < 0 ||
        H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
        (f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0 ||
        (f->dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
        H5Pset_dxpl_mpio(f->dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
      char why[200];
      h5_reason(why, sizeof why);
      rc = fpk_error_set(&local, FPK_EIO, "cannot create HDF5 file '%s' with MPI-IO%s", f->tmp,
                         why);
    }
  }
  if (fapl >= 0) H5Pclose(fapl);
  /* the file is open on every rank or on none: HDF5's create is collective */
  if (fpk_comm_agree(comm, rc, &local) ||
      (attr_string_id(f->file, "fpkit_version", fpk_version()) &&
       fpk_error_set(&local, FPK_EIO, "cannot write the attribute fpkit_version of '%s'", f->tmp))) {
    fpk_h5_close(f);
    fpk_error_copy(err, &local);
    return NULL;
  }
  if (rank != 0) f->no_sidecar_reason = opt->no_sidecar ? NULL : fpk_xdmf_name_problem(path);
  return f;
}
#endif

fpk_h5 *fpk_h5_create(const char *path, const fpk_h5_create_options *opt, fpk_error *err) {
  quiet_hdf5();
  /* Several processes: rank 0 checks the destination and writes; the others learn of a failure
   * through the agreement after the check, so that all of them fail before anything runs. */
  const fpk_comm *comm = opt ? opt->comm : NULL;
#if FPK_HAVE_PHDF5
  if (fpk_comm_size(comm) > 1 && opt->collective) return create_collective(path, opt, err);
#endif
  if (fpk_comm_size(comm) > 1) {
    fpk_h5 *f = NULL;
    fpk_error local = {0};
    if (fpk_comm_rank(comm) == 0) {
      fpk_h5_create_options one = *opt;
      one.comm = NULL;
      f = fpk_h5_create(path, &one, &local);
      if (f) f->comm = comm;
    } else {
      f = discarding_handle(path, comm, &local);
    }
    if (fpk_comm_agree(comm, f ? FPK_SUCCESS : local.status, &local)) {
      fpk_h5_close(f);
      fpk_error_copy(err, &local);
      return NULL;
    }
    return f;
  }
  fpk_h5 *f = prepare_temp(path, opt, err);
  if (!f) return NULL;
  /* File format >= 1.8: version-2 object headers, B-trees and superblock carry checksums of
   * their own, so corrupted metadata is detected as well as corrupted data. */
  /* increment 1: the image grows to exactly the end of what was written, which is the file */
  H5FD_file_image_callbacks_t callbacks = {image_malloc,     image_memcpy,     image_realloc,
                                           image_free,       image_udata_copy, image_udata_free,
                                           f};
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_core(fapl, 1, 0) < 0 ||
      H5Pset_file_image_callbacks(fapl, &callbacks) < 0 ||
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      (f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    fpk_error_set(err, FPK_EIO, "cannot create HDF5 file '%s'%s", f->tmp, why);
    if (fapl >= 0) H5Pclose(fapl);
    close(f->fd);
    unlink(f->tmp);
    free(f->path), free(f->tmp), free(f);
    return NULL;
  }
  H5Pclose(fapl);
  /* Every file the library writes is recognisable as fpkit's (fpk_h5_is_fpkit_file), so that the
   * same program may replace it later without force. */
  if (attr_string_id(f->file, "fpkit_version", fpk_version())) {
    char why[200];
    h5_reason(why, sizeof why);
    fpk_error_set(err, FPK_EIO, "cannot write the attribute fpkit_version of '%s'%s", f->tmp, why);
    fpk_h5_close(f);
    return NULL;
  }
  return f;
}

/* Writing an attribute again replaces it (fpk_h5_create writes fpkit_version, which the
 * commands write as well). */
static int delete_attr(hid_t obj, const char *name) {
  const htri_t there = H5Aexists(obj, name);
  return there < 0 || (there > 0 && H5Adelete(obj, name) < 0) ? -1 : 0;
}

static int attr_string_id(hid_t obj, const char *name, const char *value) {
  if (delete_attr(obj, name)) return -1;
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
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  if (f->collective && coll_agree(f, FPK_SUCCESS)) return f->err.status;
  hid_t g = H5Gcreate2(f->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return h5_fail(f, FPK_EIO, "cannot create group '%s'", name);
  int rc = description ? attr_string_id(g, "description", description) : 0;
  H5Gclose(g);
  if (rc) return h5_fail(f, FPK_EIO, "cannot annotate group '%s'", name);
  return FPK_SUCCESS;
}

/* The deflate level of every dataset (docs/performance.md, "HDF5 compression": on the 2D OU
 * output, levels above 1 made the file a few percent smaller for a longer write). */
#ifndef FPK_H5_DEFLATE_LEVEL
#define FPK_H5_DEFLATE_LEVEL 1
#endif

/* Chunked layout with byte shuffle, deflate and the Fletcher-32 checksum: chunks of at most 1 MiB, cut along the leading
 * axes (a row of a time series, a slab of a field), so that a reader of one time slice reads
 * little more than that slice. The number of slabs per chunk divides the axis: HDF5 stores edge
 * chunks whole, so 11 time slices in chunks of 3 would take the room of 12. An empty dataset
 * stays contiguous (nothing to check). */
static hid_t checksummed_layout(size_t rank, const hsize_t *dims) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dcpl < 0) return dcpl;
  hsize_t chunk[FPK_H5_MAX_RANK], total = 1;
  for (size_t a = 0; a < rank; a++) chunk[a] = dims[a], total *= dims[a];
  if (total == 0) return dcpl;
  const hsize_t limit = (hsize_t)1 << 17; /* doubles: 1 MiB */
  for (size_t a = 0; a < rank; a++) {
    hsize_t inner = 1;
    for (size_t b = a + 1; b < rank; b++) inner *= chunk[b];
    if (inner * chunk[a] <= limit) break;
    hsize_t k = inner >= limit ? 1 : limit / inner;
    while (dims[a] % k) k--; /* the largest divisor of dims[a] that fits */
    chunk[a] = k;
  }
  /* Filters run in the order set when writing (the reverse when reading): byte shuffle, deflate,
   * then the checksum of the bytes as stored, so a flipped bit is caught before inflating. A
   * missing deflate filter (an HDF5 built without zlib) only leaves the data uncompressed. */
  if (H5Pset_chunk(dcpl, (int)rank, chunk) < 0) goto contiguous;
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
      (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, FPK_H5_DEFLATE_LEVEL) < 0))
    goto contiguous;
  if (H5Pset_fletcher32(dcpl) < 0) goto contiguous;
  return dcpl;
contiguous:
  H5Pclose(dcpl);
  return H5Pcreate(H5P_DATASET_CREATE);
}

/* The first value a dataset may not hold: non-finite (nan_ok: infinite); (size_t)-1 if none. */
static size_t first_bad(const double *v, size_t n, int nan_ok) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i]) && !(nan_ok && isnan(v[i]))) return i;
  return (size_t)-1;
}

/* The message of a non-finite value at index bad of data, a block of shape dims (the whole
 * dataset, or a slab that starts at `offset` along `axis`: the index named is the dataset's). */
static int refuse_bad(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, size_t axis,
                      size_t offset, const double *data, size_t bad) {
  char at[160] = "";
  size_t rest = bad;
  for (size_t i = rank; i-- > 0;) {
    char part[32];
    snprintf(part, sizeof part, "[%zu]", rest % dims[i] + (i == axis ? offset : 0));
    memmove(at + strlen(part), at, strlen(at) + 1);
    memcpy(at, part, strlen(part));
    rest /= dims[i];
  }
  return fpk_error_set(&f->err, FPK_ENUMERIC,
                       "%s: dataset '%s'%s = %g is not finite: refusing to write it (a solver "
                       "produced a value its checks did not catch; please report it)",
                       f->path, name, at, data[bad]);
}

static int create_and_write(fpk_h5 *f, const char *name, size_t rank, const hsize_t *hd,
                            const hsize_t *local, const hsize_t *start, const double *data,
                            const char *units, const char *description, const char *nan_means);

static int write_dataset(fpk_h5 *f, const char *name, size_t rank, const size_t *dims,
                         const double *data, const char *units, const char *description,
                         const char *nan_means) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  hsize_t hd[FPK_H5_MAX_RANK] = {0};
  if (rank < 1 || rank > FPK_H5_MAX_RANK)
    return fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s' has rank %zu", f->path, name, rank);
  size_t n = 1;
  for (size_t i = 0; i < rank; i++) hd[i] = dims[i], n *= dims[i];
  /* The last guard before a number reaches a file (fpkit/guard.h does the checks with causes;
   * this one catches whatever a caller did not check). */
  const size_t bad = f->failed ? (size_t)-1 : first_bad(data, n, nan_means != NULL);
  if (bad != (size_t)-1 || f->collective) {
    int status = FPK_SUCCESS;
    if (bad != (size_t)-1) status = refuse_bad(f, name, rank, dims, 0, 0, data, bad);
    /* collective: a rank that refuses takes every rank out before the collective create */
    if (f->collective) status = coll_agree(f, status);
    if (status) return status;
  }
  return create_and_write(f, name, rank, hd, hd, NULL, data, units, description, nan_means);
}

/* Creates the dataset of shape hd (rank dimensions) and writes data: the whole dataset from one
 * process; in a collective file, the block start[]..start[]+local[] of this rank (start NULL:
 * the whole, from rank 0's selection; the others select nothing), with a collective transfer. */
static int create_and_write(fpk_h5 *f, const char *name, size_t rank, const hsize_t *hd,
                            const hsize_t *local, const hsize_t *start, const double *data,
                            const char *units, const char *description, const char *nan_means) {
  hid_t space = H5Screate_simple((int)rank, hd, NULL);
  hid_t dcpl = checksummed_layout(rank, hd);
  hid_t d = H5Dcreate2(f->file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  hid_t fsel = H5S_ALL, msel = H5S_ALL, xfer = H5P_DEFAULT;
  herr_t rc = d < 0 ? -1 : 0;
  if (f->collective && rc >= 0) {
    xfer = f->dxpl;
    size_t nlocal = 1;
    for (size_t i = 0; i < rank; i++) nlocal *= (size_t)local[i];
    const int mine = start ? nlocal > 0 : fpk_comm_rank(f->comm) == 0;
    fsel = H5Scopy(space);
    msel = H5Screate_simple((int)rank, local, NULL);
    if (fsel < 0 || msel < 0) rc = -1;
    else if (!mine) rc = H5Sselect_none(fsel) < 0 || H5Sselect_none(msel) < 0 ? -1 : 0;
    else if (start)
      rc = H5Sselect_hyperslab(fsel, H5S_SELECT_SET, start, NULL, local, NULL);
  }
  if (rc >= 0) rc = H5Dwrite(d, H5T_NATIVE_DOUBLE, msel, fsel, xfer, data);
  if (fsel != H5S_ALL && fsel >= 0) H5Sclose(fsel);
  if (msel != H5S_ALL && msel >= 0) H5Sclose(msel);
  if (rc >= 0 && units) rc = attr_string_id(d, "units", units);
  if (rc >= 0 && description) rc = attr_string_id(d, "description", description);
  if (rc >= 0 && nan_means) rc = attr_string_id(d, "nan", nan_means);
  int status = rc < 0 ? h5_fail(f, FPK_EIO, "cannot write dataset '%s'", name) : FPK_SUCCESS;
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Sclose(space);
  return status;
}

int fpk_h5_write(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, const double *data,
                 const char *units, const char *description) {
  return write_dataset(f, name, rank, dims, data, units, description, NULL);
}

int fpk_h5_write_slab(fpk_h5 *f, const char *name, size_t rank, const size_t *dims, size_t axis,
                      size_t offset, size_t count, const double *data, const char *units,
                      const char *description) {
  if (rank < 1 || rank > FPK_H5_MAX_RANK || axis >= rank || offset > dims[axis] ||
      count > dims[axis] - offset)
    return fpk_error_set(&f->err, FPK_EINVAL, "%s: slab [%zu, %zu) of axis %zu of dataset '%s' "
                         "(rank %zu): outside the dataset", f->path, offset, offset + count, axis,
                         name, rank);
  if (!f->collective) {
    /* one process, or rank 0 writing alone: the slab must be the whole dataset */
    if (offset != 0 || count != dims[axis])
      return fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s': a slab [%zu, %zu) of %zu "
                           "needs a collective file (fpk_h5_create_options.collective)", f->path,
                           name, offset, offset + count, dims[axis]);
    return write_dataset(f, name, rank, dims, data, units, description, NULL);
  }
  size_t local[FPK_H5_MAX_RANK];
  hsize_t hd[FPK_H5_MAX_RANK], hl[FPK_H5_MAX_RANK], start[FPK_H5_MAX_RANK] = {0};
  size_t n = 1;
  for (size_t i = 0; i < rank; i++) {
    local[i] = i == axis ? count : dims[i];
    hd[i] = dims[i], hl[i] = local[i], n *= local[i];
  }
  start[axis] = offset;
  const size_t bad = f->failed ? (size_t)-1 : first_bad(data, n, 0);
  int status = bad == (size_t)-1 ? FPK_SUCCESS
                                 : refuse_bad(f, name, rank, local, axis, offset, data, bad);
  /* a rank that refuses its slab takes every rank out before the collective create */
  if ((status = coll_agree(f, status))) return status;
  /* the slabs must tile the axis in rank order: every rank checks every rank's (the same
   * verdict everywhere, so no agreement is needed after it) */
  const int P = fpk_comm_size(f->comm);
  uint64_t mine[2] = {offset, count}, *all = calloc(2 * (size_t)P, sizeof *all);
  size_t *bytes = calloc((size_t)P, sizeof *bytes);
  if (!all || !bytes) abort(); /* a rank alone without memory cannot leave the collective */
  for (int r = 0; r < P; r++) bytes[r] = sizeof mine;
  status = fpk_comm_allgatherv(f->comm, mine, all, bytes, &f->err);
  uint64_t next = 0;
  for (int r = 0; !status && r < P; r++) {
    if (all[2 * r] != next && all[2 * r + 1] > 0)
      status = fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s': rank %d's slab starts at "
                             "%llu along axis %zu, not %llu: the slabs must tile the axis in "
                             "rank order", f->path, name, r, (unsigned long long)all[2 * r],
                             axis, (unsigned long long)next);
    next += all[2 * r + 1];
  }
  if (!status && next != dims[axis])
    status = fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s': the slabs cover %llu of the "
                           "%zu planes of axis %zu", f->path, name, (unsigned long long)next,
                           dims[axis], axis);
  free(all), free(bytes);
  if (status) return status;
  return create_and_write(f, name, rank, hd, hl, start, data, units, description, NULL);
}

int fpk_h5_write_undefined(fpk_h5 *f, const char *name, size_t rank, const size_t *dims,
                           const double *data, const char *units, const char *description,
                           const char *nan_means) {
  return write_dataset(f, name, rank, dims, data, units, description,
                       nan_means ? nan_means : "not defined");
}

int fpk_h5_write_strings(fpk_h5 *f, const char *name, size_t n, const char *const *values,
                         const char *description) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  if (f->collective) /* HDF5 1.10's parallel writes refuse variable-length data */
    return fpk_error_set(&f->err, FPK_EUNSUP, "%s: the string dataset '%s' cannot be written "
                         "collectively (parallel HDF5 writes no variable-length data)", f->path,
                         name);
  /* variable-length UTF-8, as the string attributes: h5py reads each element as str
   * (.asstr()) */
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  const hsize_t dim = (hsize_t)n;
  hid_t space = H5Screate_simple(1, &dim, NULL);
  hid_t d = H5Dcreate2(f->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = d < 0 ? -1 : n ? H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) : 0;
  if (rc >= 0 && description) rc = attr_string_id(d, "description", description);
  if (d >= 0) H5Dclose(d);
  H5Sclose(space);
  H5Tclose(type);
  return rc < 0 ? h5_fail(f, FPK_EIO, "cannot write the string dataset '%s'", name) : FPK_SUCCESS;
}

static int with_object(fpk_h5 *f, const char *object, const char *name, hid_t *obj) {
  *obj = H5Oopen(f->file, object, H5P_DEFAULT);
  if (*obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(&f->err, FPK_EIO, "%s: no object '%s' for attribute '%s'", f->path,
                         object, name);
  }
  return FPK_SUCCESS;
}

int fpk_h5_attr_string(fpk_h5 *f, const char *object, const char *name, const char *value) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  char *owned = NULL;
  if (f->collective &&
      (coll_agree(f, FPK_SUCCESS) || coll_same_string(f, value, &value, &owned)))
    return f->err.status;
  hid_t o;
  if (with_object(f, object, name, &o)) return free(owned), f->err.status;
  int rc = attr_string_id(o, name, value);
  int status = rc ? h5_fail(f, FPK_EIO, "cannot write attribute '%s'", name) : FPK_SUCCESS;
  H5Oclose(o);
  free(owned);
  return status;
}

static int attr_scalar(fpk_h5 *f, const char *object, const char *name, hid_t ftype, hid_t mtype,
                       const void *value) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  unsigned char same[8]; /* rank 0's value (a double or a uint64) */
  if (f->collective) {
    memcpy(same, value, sizeof same);
    if (coll_agree(f, FPK_SUCCESS) || coll_same(f, same, sizeof same)) return f->err.status;
    value = same;
  }
  hid_t o;
  if (with_object(f, object, name, &o)) return f->err.status;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = delete_attr(o, name) ? -1 : H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, value);
  int status = rc < 0 ? h5_fail(f, FPK_EIO, "cannot write attribute '%s'", name) : FPK_SUCCESS;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Oclose(o);
  return status;
}

int fpk_h5_attr_double(fpk_h5 *f, const char *object, const char *name, double value) {
  if (!isfinite(value) && !f->failed)
    return fpk_error_set(&f->err, FPK_ENUMERIC,
                         "%s: attribute '%s' of '%s' = %g is not finite: refusing to write it",
                         f->path, name, object, value);
  return attr_scalar(f, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int fpk_h5_attr_u64(fpk_h5 *f, const char *object, const char *name, uint64_t value) {
  return attr_scalar(f, object, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

int fpk_h5_mark_failed(fpk_h5 *f, const char *reason) {
  f->failed = 1;
  if (f->discard) return FPK_SUCCESS;
  int rc = fpk_h5_attr_u64(f, "/", "failed", 1);
  return rc ? rc : fpk_h5_attr_string(f, "/", "failed_reason", reason ? reason : "");
}

/* ---- dimension scales (netCDF-4 / xarray) ----------------------------------------------- */

/* netCDF-4's mark of a dimension that has no coordinate variable (netCDF-C's nc4hdf.c writes the
 * NAME attribute of its placeholder dataset this way; h5netcdf and netCDF-C skip it as a
 * variable and keep it as a dimension). */
#define NOT_A_VARIABLE "This is a netCDF dimension but not a netCDF variable."

/* The group part of a dataset path ("/" for "/t"), in buf. */
static void group_of(const char *path, char *buf, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path)
    snprintf(buf, len, "/");
  else
    snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

static const char *base_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* 1 if the link exists (its parents included), else 0. */
static int link_exists(hid_t file, const char *path) {
  char buf[1024];
  if (path[0] != '/' || strlen(path) >= sizeof buf) return 0;
  if (!path[1]) return 1;
  snprintf(buf, sizeof buf, "%s", path);
  int ok = 1;
  for (char *s = buf + 1; ok && *s; s++)
    if (*s == '/') {
      *s = '\0';
      ok = H5Lexists(file, buf, H5P_DEFAULT) > 0;
      *s = '/';
    }
  ok = ok && H5Lexists(file, buf, H5P_DEFAULT) > 0;
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

/* 1-D length of a dataset, or -1 if it is not 1-D. */
static long long length_1d(hid_t d) {
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  const int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  if (sp >= 0) H5Sclose(sp);
  return nd == 1 ? (long long)n : -1;
}

int fpk_h5_make_scale(fpk_h5 *f, const char *dataset) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  if (f->collective && coll_agree(f, FPK_SUCCESS)) return f->err.status;
  hid_t d = H5Dopen2(f->file, dataset, H5P_DEFAULT);
  if (d < 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(&f->err, FPK_EINVAL, "%s: no dataset '%s' to make a dimension scale",
                         f->path, dataset);
  }
  int rc = FPK_SUCCESS;
  if (length_1d(d) < 0)
    rc = fpk_error_set(&f->err, FPK_EINVAL, "%s: '%s' is not 1-D: only a 1-D dataset can be a "
                       "dimension scale", f->path, dataset);
  else if (H5DSset_scale(d, base_of(dataset)) < 0)
    rc = h5_fail(f, FPK_EIO, "cannot make '%s' a dimension scale", dataset);
  H5Dclose(d);
  return rc;
}

int fpk_h5_write_scale(fpk_h5 *f, const char *name, size_t n, const double *values,
                       const char *units, const char *description) {
  int rc = fpk_h5_write(f, name, 1, &n, values, units, description);
  return rc ? rc : fpk_h5_make_scale(f, name);
}

int fpk_h5_index_dim(fpk_h5 *f, const char *name, size_t n) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  if (f->collective && coll_agree(f, FPK_SUCCESS)) return f->err.status;
  /* netCDF-C's placeholder: a 32-bit float dataset of the dimension's length that is never
   * written (no storage is allocated; it reads as zeros). */
  hsize_t hn = n;
  hid_t space = H5Screate_simple(1, &hn, NULL);
  hid_t d = H5Dcreate2(f->file, name, H5T_IEEE_F32BE, space, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
  char mark[96];
  snprintf(mark, sizeof mark, "%s%10zu", NOT_A_VARIABLE, n);
  int rc = d < 0 || H5DSset_scale(d, mark) < 0
               ? h5_fail(f, FPK_EIO, "cannot create the dimension '%s'", name)
               : FPK_SUCCESS;
  if (d >= 0) H5Dclose(d);
  H5Sclose(space);
  return rc;
}

/* 1 if the scale d is an index axis (a netCDF dimension without a variable). */
static int is_index_dim(hid_t d) {
  char name[128] = "";
  if (H5DSget_scale_name(d, name, sizeof name) < 0) H5Eclear2(H5E_DEFAULT);
  return strncmp(name, NOT_A_VARIABLE, strlen(NOT_A_VARIABLE)) == 0;
}

/* Opens the scale `dim` for a dataset in `group`: the group itself, then its ancestors (the
 * groups whose dimensions netCDF-4 readers see), then /grid. A coordinate scale found outside the
 * group is copied into it first, because netCDF-4 readers (xarray) give a group the values only
 * of its own coordinate variables; an index axis (no values) is used where it is. Sets *where to
 * the path of the scale attached. < 0 with f->err set when there is none. */
static hid_t find_scale(fpk_h5 *f, const char *dataset, const char *group, const char *dim,
                        char *where, size_t len) {
  char g[1024], path[1200];
  snprintf(g, sizeof g, "%s", group);
  int found = 0;
  for (;;) {
    snprintf(path, sizeof path, "%s/%s", strcmp(g, "/") ? g : "", dim);
    if ((found = link_exists(f->file, path)) || !strcmp(g, "/")) break;
    char up[1024];
    group_of(g, up, sizeof up);
    snprintf(g, sizeof g, "%s", up);
  }
  if (!found) {
    snprintf(path, sizeof path, "/grid/%s", dim);
    if (!link_exists(f->file, path)) {
      fpk_error_set(&f->err, FPK_EINVAL,
                    "%s: no dimension scale '%s' for dataset '%s' (looked in %s, its ancestors "
                    "and /grid)",
                    f->path, dim, dataset, group);
      return -1;
    }
  }
  hid_t s = H5Dopen2(f->file, path, H5P_DEFAULT);
  if (s < 0 || H5DSis_scale(s) <= 0) {
    if (s >= 0) H5Dclose(s);
    H5Eclear2(H5E_DEFAULT);
    fpk_error_set(&f->err, FPK_EINVAL, "%s: '%s' (axis '%s' of '%s') is not a dimension scale",
                  f->path, path, dim, dataset);
    return -1;
  }
  char own[1200];
  snprintf(own, sizeof own, "%s/%s", strcmp(group, "/") ? group : "", dim);
  if (strcmp(own, path) && !is_index_dim(s)) {
    /* H5Ocopy keeps values, layout, filters and attributes (units, description, lo, hi, CLASS,
     * NAME); the copy's REFERENCE_LIST would name the datasets attached to the original. */
    H5Dclose(s);
    if (H5Ocopy(f->file, path, f->file, own, H5P_DEFAULT, H5P_DEFAULT) < 0) {
      h5_fail(f, FPK_EIO, "cannot copy the dimension scale into '%s'", own);
      return -1;
    }
    s = H5Dopen2(f->file, own, H5P_DEFAULT);
    if (s < 0 || (H5Aexists(s, "REFERENCE_LIST") > 0 && H5Adelete(s, "REFERENCE_LIST") < 0)) {
      if (s >= 0) H5Dclose(s);
      h5_fail(f, FPK_EIO, "cannot set up the copied dimension scale '%s'", own);
      return -1;
    }
    snprintf(path, sizeof path, "%s", own);
  }
  snprintf(where, len, "%s", path);
  return s;
}

int fpk_h5_attach_scales(fpk_h5 *f, const char *dataset, const char *dims) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  if (f->collective && coll_agree(f, FPK_SUCCESS)) return f->err.status;
  char names[FPK_H5_MAX_RANK][64];
  size_t k = 0;
  for (const char *p = dims ? dims : ""; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    const size_t w = strcspn(p, " ");
    if (k == FPK_H5_MAX_RANK || w >= sizeof names[0])
      return fpk_error_set(&f->err, FPK_EINVAL, "%s: dimension names '%s' of '%s': too many or "
                           "too long", f->path, dims, dataset);
    snprintf(names[k++], sizeof names[0], "%.*s", (int)w, p);
    p += w;
  }
  hid_t d = H5Dopen2(f->file, dataset, H5P_DEFAULT);
  if (d < 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(&f->err, FPK_EINVAL, "%s: no dataset '%s' to attach scales to",
                         f->path, dataset);
  }
  hid_t sp = H5Dget_space(d);
  hsize_t shape[FPK_H5_MAX_RANK] = {0};
  const int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  if (rank > 0 && rank <= FPK_H5_MAX_RANK) H5Sget_simple_extent_dims(sp, shape, NULL);
  if (sp >= 0) H5Sclose(sp);
  int rc = FPK_SUCCESS;
  if (rank < 0 || (size_t)rank != k)
    rc = fpk_error_set(&f->err, FPK_EINVAL, "%s: dataset '%s' has rank %d but %zu dimension "
                       "names ('%s')", f->path, dataset, rank, k, dims ? dims : "");
  char group[1024];
  group_of(dataset, group, sizeof group);
  for (size_t a = 0; a < k && !rc; a++) {
    char where[1200];
    hid_t s = find_scale(f, dataset, group, names[a], where, sizeof where);
    if (s < 0) {
      rc = f->err.status;
      break;
    }
    const long long n = length_1d(s);
    if (n != (long long)shape[a])
      rc = fpk_error_set(&f->err, FPK_EINVAL,
                         "%s: axis %zu of '%s' has length %llu but its dimension scale '%s' has "
                         "length %lld",
                         f->path, a, dataset, (unsigned long long)shape[a], where, n);
    else if (H5DSattach_scale(d, s, (unsigned)a) < 0)
      rc = h5_fail(f, FPK_EIO, "cannot attach a dimension scale to '%s'", dataset);
    H5Dclose(s);
  }
  H5Dclose(d);
  return rc;
}

int fpk_h5_xdmf_field(fpk_h5 *f, const char *dataset) {
  if (f->discard) return FPK_SUCCESS; /* a rank > 0 of a file rank 0 writes */
  char **grown = realloc(f->xdmf, (f->nxdmf + 1) * sizeof *grown);
  if (!grown) return fpk_error_set(&f->err, FPK_ENOMEM, "out of memory");
  f->xdmf = grown;
  const size_t k = strlen(dataset);
  if (!(f->xdmf[f->nxdmf] = malloc(k + 1)))
    return fpk_error_set(&f->err, FPK_ENOMEM, "out of memory");
  memcpy(f->xdmf[f->nxdmf++], dataset, k + 1);
  return FPK_SUCCESS;
}

/* fsync of a directory, which makes a rename in it durable. */
static int sync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  /* Some file systems cannot sync a directory (EINVAL): the rename is then as durable as the
   * file system makes it. */
  if (rc && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* write(2) all of buf, across partial writes and signals. */
static int write_all(int fd, const unsigned char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The commit of one process (below: the agreement of several first). */
static int commit_one(fpk_h5 *f);

/* Several processes: every rank calls the commit, which agrees on every rank's state first
 * (fpkit/parallel.h), so that rank 0 renames its temporary only when no rank failed; rank 0's
 * own failure to write is then agreed on as well. A failed agreement leaves the temporary to
 * fpk_h5_close, which removes it: no result file. */
static int publish(fpk_h5 *f);

/* A collective file: every rank closes it (H5Fclose is collective: the last metadata and raw
 * data reach the temporary from every rank), the ranks agree that it closed everywhere, and only
 * then rank 0 flushes it to the disk and renames it; a failure anywhere leaves the temporary to
 * rank 0's fpk_h5_close, which removes it. */
static int commit_collective(fpk_h5 *f) {
  if (coll_agree(f, FPK_SUCCESS)) return f->err.status;
  const herr_t closed = H5Fclose(f->file);
  f->file = H5I_INVALID_HID;
  int rc = closed < 0 ? h5_fail(f, FPK_EIO, "closing the HDF5 file failed%s", "") : FPK_SUCCESS;
  if (coll_agree(f, rc)) return f->err.status;
  rc = fpk_comm_rank(f->comm) == 0 ? publish(f) : FPK_SUCCESS;
  const fpk_error own = f->err;
  if (fpk_comm_agree(f->comm, rc, &f->err)) {
    if (rc) f->err = own;
    return f->err.status;
  }
  return FPK_SUCCESS;
}

int fpk_h5_commit(fpk_h5 *f) {
  if (fpk_comm_size(f->comm) <= 1) return commit_one(f);
  if (f->collective) return commit_collective(f);
  fpk_error e = {0};
  if (fpk_comm_agree(f->comm, FPK_SUCCESS, &e)) return fpk_error_copy(&f->err, &e);
  /* Only rank 0 can fail here (the others hold nothing to write), and after its rename only in
   * what one process would report the same way ("written, but ..."): the file is kept, as one
   * process keeps it, and rank 0 keeps its own words. */
  const int rc = f->discard ? FPK_SUCCESS : commit_one(f);
  const fpk_error own = f->err;
  if (fpk_comm_agree(f->comm, rc, &f->err)) {
    if (rc) f->err = own;
    return f->err.status;
  }
  return FPK_SUCCESS;
}

static int commit_one(fpk_h5 *f) {
  /* H5Fclose flushes into the image and frees it: image_free writes it to the temporary. */
  f->write_image = 1;
  herr_t closed = H5Fclose(f->file);
  f->file = H5I_INVALID_HID;
  f->write_image = 0;
  if (closed < 0) return h5_fail(f, FPK_EIO, "closing the HDF5 file failed%s", "");
  if (f->image_errno)
    return fpk_error_set(&f->err, FPK_EIO, "cannot write '%s' (%zu bytes): %s", f->tmp,
                         f->image_size, strerror(f->image_errno));
  if (!f->image_written)
    return fpk_error_set(&f->err, FPK_EIO, "%s: HDF5 closed the file without handing over its "
                         "image", f->path);
  return publish(f);
}

/* The closed temporary to the disk, renamed onto the destination, the directory flushed, and the
 * sidecar (rank 0's part of the commit). */
static int publish(fpk_h5 *f) {
  if (fsync(f->fd))
    return fpk_error_set(&f->err, FPK_EIO, "%s: cannot flush '%s' to the disk: %s", f->path,
                         f->tmp, strerror(errno));
  if (rename(f->tmp, f->path) != 0)
    return fpk_error_set(&f->err, FPK_EIO, "cannot rename '%s' to '%s': %s", f->tmp, f->path,
                         strerror(errno));
  f->committed = 1;
  close(f->fd); /* releases the lock; the file is the result now */
  f->fd = -1;
  char dir[4096];
  dir_of(f->path, dir, sizeof dir);
  if (sync_dir(dir))
    return fpk_error_set(&f->err, FPK_EIO, "%s: written, but its directory could not be flushed "
                         "to the disk: %s", f->path, strerror(errno));
  /* The sidecar describes only what the committed file holds, so it is written after it. */
  if (f->nxdmf && !f->failed && !f->no_sidecar && !f->no_sidecar_reason) {
    fpk_error e = {0};
    if (fpk_xdmf_write_forced(f->path, (const char *const *)f->xdmf, f->nxdmf, f->force, &e))
      return fpk_error_set(&f->err, e.status, "%s: written, but not its XDMF sidecar: %s",
                           f->path, e.msg);
  } else {
    /* A sidecar of an earlier run to this path would describe datasets this file may not have:
     * removed when it is fpkit's sidecar of this file, never anything else. */
    fpk_xdmf_remove_own(f->path);
  }
  return FPK_SUCCESS;
}

void fpk_h5_close(fpk_h5 *f) {
  if (!f) return;
  if (f->file >= 0) H5Fclose(f->file); /* collective in a collective file: every rank is here */
  if (f->collective && f->dxpl >= 0) H5Pclose(f->dxpl);
  H5Eclear2(H5E_DEFAULT);
  if (!f->committed) unlink(f->tmp);
  if (f->fd >= 0) close(f->fd);
  for (size_t i = 0; i < f->nxdmf; i++) free(f->xdmf[i]);
  free(f->xdmf);
  free(f->path);
  free(f->tmp);
  free(f);
}

/* ---- reading ----------------------------------------------------------------------------- */

struct fpk_h5_reader {
  hid_t file;
  char *path;
  fpk_error err;
};

const char *fpk_h5_reader_path(const fpk_h5_reader *r) { return r ? r->path : ""; }
const char *fpk_h5_reader_errmsg(const fpk_h5_reader *r) { return r ? r->err.msg : "no file"; }

fpk_h5_reader *fpk_h5_reader_open(const char *path, fpk_error *err) {
  quiet_hdf5();
  struct stat st;
  if (stat(path, &st))
    return fpk_error_set(err, FPK_EIO, "cannot read '%s': %s", path, strerror(errno)), NULL;
  /* HDF5 opens by name and seeks: on a FIFO it would wait for a writer forever. */
  if (!S_ISREG(st.st_mode))
    return fpk_error_set(err, FPK_EIO,
                         "'%s' is a %s, not a regular file: HDF5 inputs must be regular files",
                         path, file_kind(st.st_mode)),
           NULL;
  if (access(path, R_OK))
    return fpk_error_set(err, FPK_EIO, "cannot read '%s': %s", path, strerror(errno)), NULL;
  if (H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return fpk_error_set(err, FPK_EIO, "'%s' is not an HDF5 file", path), NULL;
  }
  fpk_h5_reader *r = calloc(1, sizeof *r);
  size_t k = strlen(path);
  if (!r || !(r->path = malloc(k + 1))) {
    free(r);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory"), NULL;
  }
  memcpy(r->path, path, k + 1);
  r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (r->file < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    fpk_error_set(err, FPK_EIO, "cannot open HDF5 file '%s'%s", path, why);
    free(r->path), free(r);
    return NULL;
  }
  return r;
}

void fpk_h5_reader_close(fpk_h5_reader *r) {
  if (!r) return;
  if (r->file >= 0) H5Fclose(r->file);
  H5Eclear2(H5E_DEFAULT);
  free(r->path);
  free(r);
}

/* Every link of an absolute path: H5Lexists needs the parents to exist. */
int fpk_h5_exists(fpk_h5_reader *r, const char *path) {
  if (!path || path[0] != '/') return 0;
  if (!path[1]) return 1;
  char buf[1024];
  if (strlen(path) >= sizeof buf) return 0;
  snprintf(buf, sizeof buf, "%s", path);
  int ok = 1;
  for (char *s = buf + 1; ok && *s; s++)
    if (*s == '/') {
      *s = '\0';
      ok = H5Lexists(r->file, buf, H5P_DEFAULT) > 0;
      *s = '/';
    }
  ok = ok && H5Lexists(r->file, buf, H5P_DEFAULT) > 0;
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

int fpk_h5_is_dataset(fpk_h5_reader *r, const char *path) {
  if (!fpk_h5_exists(r, path)) return 0;
  /* The link is there: an object that cannot be opened is a damaged file, not an absent one. */
  hid_t o = H5Oopen(r->file, path, H5P_DEFAULT);
  if (o < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    fpk_error_set(&r->err, FPK_EIO, "%s: '%s' exists but cannot be opened%s (a damaged file)",
                  r->path, path, why);
    return -1;
  }
  int yes = H5Iget_type(o) == H5I_DATASET;
  H5Oclose(o);
  return yes;
}

static int numeric_class(hid_t type) {
  const H5T_class_t c = H5Tget_class(type);
  return c == H5T_INTEGER || c == H5T_FLOAT;
}

/* "[3][1000]" or "scalar": a dataspace as the messages show it. */
static int space_shape(hid_t space, size_t *rank, size_t *dims, hsize_t *npoints, char *desc,
                       size_t len) {
  const H5S_class_t c = H5Sget_simple_extent_type(space);
  if (c == H5S_SCALAR) {
    *rank = 0, *npoints = 1;
    snprintf(desc, len, "a scalar");
    return 0;
  }
  if (c != H5S_SIMPLE) {
    snprintf(desc, len, "an empty (null) dataspace");
    return -1;
  }
  int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0 || nd > FPK_H5_MAX_RANK) {
    snprintf(desc, len, "rank %d", nd);
    return -1;
  }
  hsize_t hd[FPK_H5_MAX_RANK];
  H5Sget_simple_extent_dims(space, hd, NULL);
  *rank = (size_t)nd, *npoints = 1;
  size_t k = (size_t)snprintf(desc, len, "shape ");
  /* The count must fit, as doubles, in memory: a product that wraps around (a 3D grid of 2^61
   * cells read as 2^61 x 8 = 0 bytes) gave a buffer far smaller than what H5Dread writes. */
  const hsize_t most = (hsize_t)(SIZE_MAX / sizeof(double));
  int too_many = 0;
  for (int a = 0; a < nd; a++) {
    dims[a] = (size_t)hd[a];
    if (hd[a] > most || (hd[a] && *npoints > most / hd[a])) too_many = 1;
    else *npoints *= hd[a];
    if (k < len) k += (size_t)snprintf(desc + k, len - k, "[%llu]", (unsigned long long)hd[a]);
  }
  if (too_many) {
    if (k < len) snprintf(desc + k, len - k, ": more values than memory can hold");
    return -2;
  }
  return 0;
}

int fpk_h5_dataset_shape(fpk_h5_reader *r, const char *path, size_t *rank, size_t *dims) {
  const int is = fpk_h5_is_dataset(r, path);
  if (is < 0) return r->err.status;
  if (!is) return fpk_error_set(&r->err, FPK_EINVAL, "%s: no dataset '%s'", r->path, path);
  hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (d < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    return fpk_error_set(&r->err, FPK_EIO, "%s: cannot open dataset '%s'%s", r->path, path, why);
  }
  hid_t type = H5Dget_type(d), space = H5Dget_space(d);
  int rc = FPK_SUCCESS;
  char desc[160];
  hsize_t np;
  if (type < 0 || space < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    rc = fpk_error_set(&r->err, FPK_EIO, "%s: cannot read the type or shape of '%s'%s", r->path,
                       path, why);
  } else if (!numeric_class(type)) {
    rc = fpk_error_set(&r->err, FPK_EINVAL, "%s: dataset '%s' does not hold numbers", r->path,
                       path);
  } else {
    const int bad = space_shape(space, rank, dims, &np, desc, sizeof desc);
    if (bad)
      rc = fpk_error_set(&r->err, FPK_EINVAL, "%s: dataset '%s' has %s%s", r->path, path, desc,
                         bad == -2 ? "" : ": expected an array");
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Dclose(d);
  return rc;
}

int fpk_h5_read_doubles(fpk_h5_reader *r, const char *path, size_t n, double *out) {
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(r, path, &rank, dims);
  if (rc) return rc;
  size_t total = 1;
  for (size_t a = 0; a < rank; a++) total *= dims[a];
  if (total != n)
    return fpk_error_set(&r->err, FPK_EINVAL, "%s: dataset '%s' has %zu values, expected %zu",
                         r->path, path, total, n);
  hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
  herr_t st = d < 0 ? -1 : H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  if (st < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    rc = fpk_error_set(&r->err, FPK_EIO,
                       "%s: cannot read dataset '%s'%s (a damaged file: a checksum mismatch or "
                       "corrupted metadata)",
                       r->path, path, why);
  }
  if (d >= 0) H5Dclose(d);
  return rc;
}

/* Opens attribute `name` of `object`; < 0 with r->err set. */
static hid_t open_attr(fpk_h5_reader *r, const char *object, const char *name) {
  if (!fpk_h5_exists(r, object))
    return fpk_error_set(&r->err, FPK_EINVAL, "%s: no object '%s'", r->path, object), -1;
  hid_t o = H5Oopen(r->file, object, H5P_DEFAULT);
  if (o < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    return fpk_error_set(&r->err, FPK_EIO, "%s: cannot open '%s'%s", r->path, object, why), -1;
  }
  hid_t a = -1;
  if (H5Aexists(o, name) <= 0)
    fpk_error_set(&r->err, FPK_EINVAL, "%s: '%s' has no attribute '%s'", r->path, object, name);
  else if ((a = H5Aopen(o, name, H5P_DEFAULT)) < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    fpk_error_set(&r->err, FPK_EIO, "%s: cannot open attribute '%s' of '%s'%s", r->path, name,
                  object, why);
  }
  H5Oclose(o);
  H5Eclear2(H5E_DEFAULT);
  return a;
}

int fpk_h5_has_attr(fpk_h5_reader *r, const char *object, const char *name) {
  if (!fpk_h5_exists(r, object)) return 0;
  htri_t yes = H5Aexists_by_name(r->file, object, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return yes > 0;
}

int fpk_h5_read_attr_double(fpk_h5_reader *r, const char *object, const char *name, double *v) {
  hid_t a = open_attr(r, object, name);
  if (a < 0) return r->err.status;
  hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  size_t rank, dims[FPK_H5_MAX_RANK];
  hsize_t np = 0;
  char desc[160] = "an unreadable dataspace";
  int rc = FPK_SUCCESS;
  if (type < 0 || !numeric_class(type))
    rc = fpk_error_set(&r->err, FPK_EINVAL, "%s: attribute '%s' of '%s' is not a number",
                       r->path, name, object);
  else if (space < 0 || space_shape(space, &rank, dims, &np, desc, sizeof desc) || np != 1)
    rc = fpk_error_set(&r->err, FPK_EINVAL,
                       "%s: attribute '%s' of '%s' has %s (%llu values): expected one number",
                       r->path, name, object, desc, (unsigned long long)np);
  else if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    rc = fpk_error_set(&r->err, FPK_EIO, "%s: cannot read attribute '%s' of '%s'%s", r->path,
                       name, object, why);
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(a);
  return rc;
}

int fpk_h5_read_attr_string(fpk_h5_reader *r, const char *object, const char *name, char **out) {
  *out = NULL;
  hid_t a = open_attr(r, object, name);
  if (a < 0) return r->err.status;
  hid_t type = H5Aget_type(a), space = H5Aget_space(a), mem = -1;
  size_t rank, dims[FPK_H5_MAX_RANK];
  hsize_t np = 0;
  char desc[160] = "an unreadable dataspace";
  int rc = FPK_SUCCESS;
  if (type < 0 || H5Tget_class(type) != H5T_STRING) {
    rc = fpk_error_set(&r->err, FPK_EINVAL, "%s: attribute '%s' of '%s' is not a string",
                       r->path, name, object);
  } else if (space < 0 || space_shape(space, &rank, dims, &np, desc, sizeof desc) || np != 1) {
    rc = fpk_error_set(&r->err, FPK_EINVAL,
                       "%s: attribute '%s' of '%s' has %s: expected one string", r->path, name,
                       object, desc);
  } else if (H5Tis_variable_str(type) > 0) {
    mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(type)); /* HDF5 converts no string between ASCII and UTF-8 */
    char *s = NULL;
    if (H5Aread(a, mem, &s) < 0 || !s) {
      rc = fpk_error_set(&r->err, FPK_EIO, "%s: cannot read attribute '%s' of '%s'", r->path,
                         name, object);
    } else {
      size_t k = strlen(s);
      if ((*out = malloc(k + 1))) memcpy(*out, s, k + 1);
      else rc = fpk_error_set(&r->err, FPK_ENOMEM, "out of memory");
    }
    if (s) H5free_memory(s);
  } else {
    const size_t k = H5Tget_size(type);
    mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, k + 1);
    H5Tset_strpad(mem, H5T_STR_NULLTERM);
    H5Tset_cset(mem, H5Tget_cset(type));
    if (!(*out = calloc(k + 2, 1)))
      rc = fpk_error_set(&r->err, FPK_ENOMEM, "out of memory");
    else if (H5Aread(a, mem, *out) < 0)
      rc = fpk_error_set(&r->err, FPK_EIO, "%s: cannot read attribute '%s' of '%s'", r->path,
                         name, object);
  }
  if (rc) free(*out), *out = NULL;
  if (mem >= 0) H5Tclose(mem);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

typedef struct list_walk {
  char *buf;
  size_t len, used;
  int cut;
} list_walk;

/* H5Lvisit callback; unversioned names, so the same source builds with HDF5 1.10 and 1.12+. */
static herr_t list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  list_walk *w = data;
  hid_t o = H5Oopen(group, name, H5P_DEFAULT);
  if (o < 0) return 0;
  const int dataset = H5Iget_type(o) == H5I_DATASET;
  H5Oclose(o);
  if (!dataset) return 0;
  const size_t need = strlen(name) + 3;
  if (w->used + need + 8 >= w->len) {
    w->cut = 1;
    return 1; /* stop */
  }
  w->used += (size_t)snprintf(w->buf + w->used, w->len - w->used, "%s/%s", w->used ? ", " : "",
                              name);
  return 0;
}

void fpk_h5_list_datasets(fpk_h5_reader *r, char *buf, size_t len) {
  if (!len) return;
  buf[0] = '\0';
  list_walk w = {buf, len, 0, 0};
  H5Lvisit(r->file, H5_INDEX_NAME, H5_ITER_NATIVE, list_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (w.cut && w.used + 5 < len) snprintf(buf + w.used, len - w.used, ", ...");
}

/* Entries [first, first + count) along axis 0 (a time slice of a field [nt][ny][nx]): a hyperslab
 * of the file's dataspace, so only those chunks are read and checksummed. */
int fpk_h5_read_doubles_rows(fpk_h5_reader *r, const char *path, size_t first, size_t count,
                             size_t row_len, double *out) {
  size_t rank, dims[FPK_H5_MAX_RANK];
  int rc = fpk_h5_dataset_shape(r, path, &rank, dims);
  if (rc) return rc;
  size_t per = 1;
  for (size_t a = 1; a < rank; a++) per *= dims[a];
  if (rank < 1 || per != row_len || first > dims[0] || count > dims[0] - first)
    return fpk_error_set(&r->err, FPK_EINVAL,
                         "%s: dataset '%s' has no entries [%zu, %zu) of %zu values along its "
                         "first axis",
                         r->path, path, first, first + count, row_len);
  hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
  hid_t fs = d < 0 ? -1 : H5Dget_space(d);
  hsize_t start[FPK_H5_MAX_RANK] = {0}, cnt[FPK_H5_MAX_RANK];
  start[0] = first;
  cnt[0] = count;
  for (size_t a = 1; a < rank; a++) cnt[a] = dims[a];
  const hsize_t nmem = (hsize_t)count * row_len;
  hid_t ms = H5Screate_simple(1, &nmem, NULL);
  herr_t st =
      fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
  if (st >= 0) st = H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out);
  if (st < 0) {
    char why[200];
    h5_reason(why, sizeof why);
    rc = fpk_error_set(&r->err, FPK_EIO,
                       "%s: cannot read dataset '%s'%s (a damaged file: a checksum mismatch or "
                       "corrupted metadata)",
                       r->path, path, why);
  }
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}
