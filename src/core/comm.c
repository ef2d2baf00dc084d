/* Communicators (fpkit/parallel.h): an opaque handle over an MPI communicator, or over one
 * process when this build has no MPI or the process was not started by a launcher.
 *
 * Every collective of a one-process communicator is a copy or nothing, so the library's code has
 * one path for both. With MPI, messages larger than MPI's int counts are split into pieces of
 * at most FPK_COMM_CHUNK bytes; the communicator is a duplicate (MPI_Comm_dup) of the caller's,
 * with MPI_ERRORS_RETURN so that an MPI failure becomes an fpkit status, not an abort. */
#include "core/comm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/version.h"

#define FPK_COMM_CHUNK ((size_t)1 << 30)

struct fpk_comm {
  int rank, size;
  int node_size; /* processes on this node (MPI_COMM_TYPE_SHARED); 0 read as 1 */
  /* A failed agreement is remembered: every rank has then learnt of the failure and goes on to
   * exit, so a later fpk_comm_agree returns it again without communicating (a rank that failed
   * before a collective its peers have already passed would otherwise wait forever). */
  int failed;
  fpk_error failure;
#if FPK_HAVE_MPI
  int has_mpi;  /* 0: one process without MPI (comm below unused) */
  MPI_Comm comm;
#endif
};

int fpk_parallel_available(void) { return FPK_HAVE_MPI ? 1 : 0; }

static int env_int(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) return -1;
  char *end;
  long x = strtol(v, &end, 10);
  return *end == '\0' && x >= 0 && x < (1L << 30) ? (int)x : -1;
}

/* The launcher's process count, or -1 when none launched this process. */
static int launched_size(void) {
  static const char *sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    int s = env_int(sizes[i]);
    if (s >= 0) return s;
  }
  if (getenv("PMIX_RANK") || getenv("PMI_RANK")) return 0; /* launched, size unknown */
  return -1;
}

int fpk_parallel_launched(void) { return launched_size() >= 0; }

int fpk_comm_self(fpk_comm **out, fpk_error *err) {
  *out = calloc(1, sizeof **out);
  if (!*out) return fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory");
  (*out)->rank = 0;
  (*out)->size = 1;
  return FPK_SUCCESS;
}

void fpk_comm_free(fpk_comm *comm) {
  if (!comm) return;
#if FPK_HAVE_MPI
  if (comm->has_mpi) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&comm->comm);
  }
#endif
  free(comm);
}

int fpk_comm_rank(const fpk_comm *comm) { return comm ? comm->rank : 0; }
int fpk_comm_node_size(const fpk_comm *comm) {
  return comm && comm->node_size > 1 ? comm->node_size : 1;
}
int fpk_comm_size(const fpk_comm *comm) { return comm ? comm->size : 1; }

void fpk_comm_range(const fpk_comm *comm, size_t n, size_t *lo, size_t *hi) {
  const size_t P = (size_t)fpk_comm_size(comm), r = (size_t)fpk_comm_rank(comm);
  const size_t q = n / P, rem = n % P;
  *lo = r * q + (r < rem ? r : rem);
  *hi = *lo + q + (r < rem ? 1 : 0);
}

#if FPK_HAVE_MPI

static int we_initialised_mpi = 0; /* fpk_parallel_init called MPI_Init: finalize calls MPI_Finalize */

int fpk_comm_mpi_error(int mpirc, fpk_error *err, const char *what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mpirc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", mpirc);
  return fpk_error_set(err, FPK_EIO, "%s: MPI error: %s", what, text);
}

MPI_Comm fpk_comm_mpi(const fpk_comm *comm) {
  return comm && comm->has_mpi ? comm->comm : MPI_COMM_SELF;
}

static int mpi_on(const fpk_comm *comm) { return comm && comm->has_mpi && comm->size > 1; }

int fpk_comm_wrap_mpi(fpk_comm **out, const void *mpi_comm, fpk_error *err) {
  *out = NULL;
  int init = 0;
  MPI_Initialized(&init);
  if (!init) return fpk_error_set(err, FPK_EINVAL, "communicator: MPI is not initialised");
  fpk_comm *c = calloc(1, sizeof *c);
  if (!c) return fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory");
  int rc = MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &c->comm);
  if (rc != MPI_SUCCESS) {
    free(c);
    return fpk_comm_mpi_error(rc, err, "communicator: MPI_Comm_dup");
  }
  c->has_mpi = 1;
  MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->comm, &c->rank);
  MPI_Comm_size(c->comm, &c->size);
  MPI_Comm node;
  c->node_size = 1;
  if (MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &c->node_size);
    MPI_Comm_free(&node);
  }
  *out = c;
  return FPK_SUCCESS;
}

int fpk_parallel_init(int *argc, char ***argv, fpk_comm **world, fpk_error *err) {
  *world = NULL;
  if (!fpk_parallel_launched()) return fpk_comm_self(world, err);
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    int provided = 0;
    /* FUNNELED: only the main thread calls MPI; OpenMP threads compute between the calls */
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return fpk_error_set(err, FPK_EIO, "MPI_Init_thread failed (code %d)", rc);
    we_initialised_mpi = 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm w = MPI_COMM_WORLD;
  return fpk_comm_wrap_mpi(world, &w, err);
}

void fpk_parallel_finalize(fpk_comm *world) {
  fpk_comm_free(world);
  if (we_initialised_mpi) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
    we_initialised_mpi = 0;
  }
}

/* The largest piece one rank sends in a round of a large gather: the P pieces of a round and
 * their displacements must fit MPI's int counts. */
static size_t piece_limit(int P) {
  const size_t fit = (size_t)INT32_MAX / (size_t)P;
  return fit < FPK_COMM_CHUNK ? fit : FPK_COMM_CHUNK;
}

int fpk_comm_allgatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                        fpk_error *err) {
  const int P = fpk_comm_size(comm), me = fpk_comm_rank(comm);
  if (!mpi_on(comm)) {
    if (counts[0] && all != mine) memmove(all, mine, counts[0]);
    return FPK_SUCCESS;
  }
  const size_t chunk = piece_limit(P);
  /* one round per chunk: each rank sends min(remaining, CHUNK) of its bytes per round, received
   * at its place in the rank-ordered concatenation */
  size_t *off = malloc((size_t)P * sizeof *off), maxc = 0;
  int *rc_counts = malloc((size_t)P * sizeof *rc_counts), *displs = malloc((size_t)P * sizeof *displs);
  unsigned char *buf = NULL;
  int rc = FPK_SUCCESS;
  if (!off || !rc_counts || !displs) {
    rc = fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory");
    goto done;
  }
  size_t total = 0;
  for (int r = 0; r < P; r++) {
    off[r] = total;
    total += counts[r];
    if (counts[r] > maxc) maxc = counts[r];
  }
  const size_t rounds = (maxc + chunk - 1) / chunk;
  if (rounds <= 1) {
    for (int r = 0; r < P; r++) {
      rc_counts[r] = (int)counts[r];
      displs[r] = (int)off[r];
    }
    if (total <= (size_t)INT32_MAX) {
      int m = MPI_Allgatherv(mine, (int)counts[me], MPI_BYTE, all, rc_counts, displs, MPI_BYTE,
                             comm->comm);
      if (m != MPI_SUCCESS) rc = fpk_comm_mpi_error(m, err, "communicator: MPI_Allgatherv");
      goto done;
    }
  }
  /* large: pack each round into a temporary of at most P * CHUNK bytes */
  buf = malloc((size_t)P * chunk < total ? (size_t)P * chunk : total);
  /* every rank takes this branch (the counts are the same everywhere): agree on the buffers */
  if ((rc = fpk_comm_agree(comm, buf ? FPK_SUCCESS
                                     : fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory"),
                           err)))
    goto done;
  for (size_t k = 0; k < rounds && !rc; k++) {
    size_t pos = 0;
    for (int r = 0; r < P; r++) {
      size_t a = k * chunk, n = counts[r] > a ? counts[r] - a : 0;
      if (n > chunk) n = chunk;
      rc_counts[r] = (int)n;
      displs[r] = (int)pos;
      pos += n;
    }
    const size_t a = k * chunk;
    int m = MPI_Allgatherv((const unsigned char *)mine + (counts[me] > a ? a : counts[me]),
                           rc_counts[me], MPI_BYTE, buf, rc_counts, displs, MPI_BYTE, comm->comm);
    if (m != MPI_SUCCESS) {
      rc = fpk_comm_mpi_error(m, err, "communicator: MPI_Allgatherv");
      break;
    }
    for (int r = 0; r < P; r++)
      if (rc_counts[r]) memcpy((unsigned char *)all + off[r] + a, buf + displs[r], (size_t)rc_counts[r]);
  }
done:
  free(buf);
  free(off);
  free(rc_counts);
  free(displs);
  return rc;
}

int fpk_comm_gatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                     int root, fpk_error *err) {
  const int P = fpk_comm_size(comm), me = fpk_comm_rank(comm);
  if (!mpi_on(comm)) {
    if (counts[0] && all != mine) memmove(all, mine, counts[0]);
    return FPK_SUCCESS;
  }
  const size_t chunk = piece_limit(P);
  int *rc_counts = malloc((size_t)P * sizeof *rc_counts), *displs = malloc((size_t)P * sizeof *displs);
  unsigned char *buf = NULL;
  int rc = FPK_SUCCESS;
  if (!rc_counts || !displs) {
    rc = fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory");
    goto done;
  }
  size_t maxc = 0, total = 0;
  for (int r = 0; r < P; r++) {
    total += counts[r];
    if (counts[r] > maxc) maxc = counts[r];
  }
  /* rounds of at most chunk bytes per rank; root receives round k's pieces straight at
   * their places when the displacements fit an int, through a packed buffer otherwise */
  const size_t rounds = maxc ? (maxc + chunk - 1) / chunk : 1;
  const int direct = rounds == 1 && total <= (size_t)INT32_MAX;
  if (!direct && me == root && !(buf = malloc(total < (size_t)P * chunk
                                                  ? (total ? total : 1)
                                                  : (size_t)P * chunk))) {
    rc = fpk_error_set(err, FPK_ENOMEM, "communicator: out of memory");
  }
  /* root's buffer is agreed on before any rank sends (direct is the same on every rank) */
  if (!direct && (rc = fpk_comm_agree(comm, rc, err))) goto done;
  for (size_t k = 0; k < rounds && !rc; k++) {
    const size_t a = k * chunk;
    size_t pos = 0, off = 0;
    for (int r = 0; r < P; r++) {
      size_t n = counts[r] > a ? counts[r] - a : 0;
      if (n > chunk) n = chunk;
      rc_counts[r] = (int)n;
      displs[r] = direct ? (int)off : (int)pos;
      pos += n;
      off += counts[r];
    }
    int m = MPI_Gatherv((const unsigned char *)mine + (counts[me] > a ? a : counts[me]),
                        rc_counts[me], MPI_BYTE, direct ? all : buf, rc_counts, displs, MPI_BYTE,
                        root, comm->comm);
    if (m != MPI_SUCCESS) rc = fpk_comm_mpi_error(m, err, "communicator: MPI_Gatherv");
    else if (!direct && me == root) {
      size_t o = 0;
      for (int r = 0; r < P; r++) {
        if (rc_counts[r]) memcpy((unsigned char *)all + o + a, buf + displs[r], (size_t)rc_counts[r]);
        o += counts[r];
      }
    }
  }
done:
  free(buf);
  free(rc_counts);
  free(displs);
  return rc;
}

int fpk_comm_bcast(const fpk_comm *comm, void *buf, size_t bytes, int root, fpk_error *err) {
  if (!mpi_on(comm)) return FPK_SUCCESS;
  for (size_t a = 0; a < bytes; a += FPK_COMM_CHUNK) {
    size_t n = bytes - a < FPK_COMM_CHUNK ? bytes - a : FPK_COMM_CHUNK;
    int m = MPI_Bcast((unsigned char *)buf + a, (int)n, MPI_BYTE, root, comm->comm);
    if (m != MPI_SUCCESS) return fpk_comm_mpi_error(m, err, "communicator: MPI_Bcast");
  }
  return FPK_SUCCESS;
}

static int allreduce_u64(const fpk_comm *comm, uint64_t *buf, size_t n, MPI_Op op, fpk_error *err) {
  if (!mpi_on(comm)) return FPK_SUCCESS;
  const size_t chunk = FPK_COMM_CHUNK / sizeof(uint64_t);
  for (size_t a = 0; a < n; a += chunk) {
    size_t k = n - a < chunk ? n - a : chunk;
    int m = MPI_Allreduce(MPI_IN_PLACE, buf + a, (int)k, MPI_UINT64_T, op, comm->comm);
    if (m != MPI_SUCCESS) return fpk_comm_mpi_error(m, err, "communicator: MPI_Allreduce");
  }
  return FPK_SUCCESS;
}

int fpk_comm_sum_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  return allreduce_u64(comm, buf, n, MPI_SUM, err);
}
int fpk_comm_min_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  return allreduce_u64(comm, buf, n, MPI_MIN, err);
}
int fpk_comm_max_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  return allreduce_u64(comm, buf, n, MPI_MAX, err);
}

int fpk_comm_barrier(const fpk_comm *comm, fpk_error *err) {
  if (!mpi_on(comm)) return FPK_SUCCESS;
  int m = MPI_Barrier(comm->comm);
  return m == MPI_SUCCESS ? FPK_SUCCESS : fpk_comm_mpi_error(m, err, "communicator: MPI_Barrier");
}

#else /* no MPI in this build: one process */

int fpk_comm_wrap_mpi(fpk_comm **out, const void *mpi_comm, fpk_error *err) {
  (void)mpi_comm;
  *out = NULL;
  return fpk_error_set(err, FPK_EUNSUP, "communicator: this fpkit was built without MPI");
}

int fpk_parallel_init(int *argc, char ***argv, fpk_comm **world, fpk_error *err) {
  (void)argc;
  (void)argv;
  *world = NULL;
  if (launched_size() > 1)
    return fpk_error_set(err, FPK_EUNSUP,
                         "started by an MPI launcher with %d processes, but this fpkit was built "
                         "without MPI: every process would compute the whole run (rebuild with "
                         "libopenmpi-dev installed, docs/parallel.md)",
                         launched_size());
  return fpk_comm_self(world, err);
}

void fpk_parallel_finalize(fpk_comm *world) { fpk_comm_free(world); }

int fpk_comm_allgatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                        fpk_error *err) {
  (void)comm;
  (void)err;
  if (counts[0] && all != mine) memmove(all, mine, counts[0]);
  return FPK_SUCCESS;
}
int fpk_comm_gatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                     int root, fpk_error *err) {
  (void)comm, (void)root, (void)err;
  if (counts[0] && all != mine) memmove(all, mine, counts[0]);
  return FPK_SUCCESS;
}
int fpk_comm_bcast(const fpk_comm *comm, void *buf, size_t bytes, int root, fpk_error *err) {
  (void)comm, (void)buf, (void)bytes, (void)root, (void)err;
  return FPK_SUCCESS;
}
int fpk_comm_sum_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  (void)comm, (void)buf, (void)n, (void)err;
  return FPK_SUCCESS;
}
int fpk_comm_min_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  (void)comm, (void)buf, (void)n, (void)err;
  return FPK_SUCCESS;
}
int fpk_comm_max_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err) {
  (void)comm, (void)buf, (void)n, (void)err;
  return FPK_SUCCESS;
}
int fpk_comm_barrier(const fpk_comm *comm, fpk_error *err) {
  (void)comm, (void)err;
  return FPK_SUCCESS;
}

#endif

int fpk_comm_agree(const fpk_comm *comm, int status, fpk_error *err) {
  return fpk_comm_agree_at(comm, status, NULL, err);
}

int fpk_comm_agree_at(const fpk_comm *comm, int status, const char *point, fpk_error *err) {
  const int P = fpk_comm_size(comm);
  if (P <= 1) return status;
  fpk_comm *mut = (fpk_comm *)comm; /* the remembered failure is the handle's own state */
  if (mut->failed) {
    if (err) fpk_error_copy(err, &mut->failure);
    return mut->failure.status;
  }
  fpk_error local;
  fpk_error_clear(&local);
  if (status) {
    if (err && err->status) fpk_error_copy(&local, err);
    else fpk_error_set(&local, status, "%s", fpk_strerror(status));
    local.status = status;
  }
  /* one exchange: the lowest failing rank, and the lowest and highest point name digest
   * (min of h and of ~h): all equal and non-zero = every rank is at this point */
  uint64_t h = 0;
  if (point) {
    h = 0xcbf29ce484222325ULL;
    for (const unsigned char *q = (const unsigned char *)point; *q; q++)
      h = (h ^ *q) * 0x100000001b3ULL;
    if (!h) h = 1;
  }
  uint64_t v[3] = {status ? (uint64_t)fpk_comm_rank(comm) : (uint64_t)P, h, ~h};
  if (fpk_comm_min_u64(comm, v, 3, err)) return err ? err->status : FPK_EIO;
  const uint64_t first = v[0];
  const int coordinated = h != 0 && v[1] == h && ~v[2] == h;
  if (first == (uint64_t)P) return FPK_SUCCESS;
  if (fpk_comm_bcast(comm, &local, sizeof local, (int)first, err)) return err ? err->status : FPK_EIO;
  if (coordinated) { /* every rank learnt it here: not remembered, the failing rank's words */
    if (err) fpk_error_copy(err, &local);
    return local.status;
  }
  mut->failed = 1;
  fpk_error_set(&mut->failure, local.status, "rank %d: %.*s", (int)first, FPK_ERRMSG_MAX - 16,
                local.msg);
  if (err) fpk_error_copy(err, &mut->failure);
  return local.status;
}
