/* fpkit/parallel.h — processes working together: an opaque communicator over MPI.
 *
 * fpkit's computations take an optional `const fpk_comm *comm` (NULL, or a communicator of size
 * 1: one process, exactly as before). With P > 1 processes each one runs its share of the fixed
 * work units (Monte Carlo path blocks, FFT slabs, sweep points) and the results are combined in
 * a fixed order that does not depend on P (docs/parallel.md), so that every number is bitwise
 * the same on 1 process or many.
 *
 * The handle is opaque (nlopt style) and the header does not include <mpi.h>: a program that
 * does not use MPI needs none of it. A build without MPI (FPK_HAVE_MPI 0 in fpkit/version.h,
 * fpk_parallel_available() == 0) still has every function here: they describe one process.
 *
 * Life cycle (what the fpkit command does):
 *     fpk_comm *world = NULL;
 *     if (fpk_parallel_init(&argc, &argv, &world, &err)) ...   // MPI_Init only under a launcher
 *     ... fpk_comm_rank(world), fpk_comm_size(world), pass world as params.comm ...
 *     fpk_parallel_finalize(world);                            // frees world, MPI_Finalize
 * A program that initialises MPI itself wraps its communicator with fpk_comm_wrap_mpi. */
#ifndef FPKIT_PARALLEL_H
#define FPKIT_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#include "fpkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpk_comm fpk_comm;

/* 1 when this build has MPI, 0 otherwise. */
int fpk_parallel_available(void);

/* Whether this process was started by an MPI launcher (mpirun/mpiexec/srun: it looks for the
 * launcher's environment, OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK or PMI_SIZE). */
int fpk_parallel_launched(void);

/* Initialises MPI when this process was started by a launcher (fpk_parallel_launched) and this
 * build has MPI, and returns the world communicator in *world; otherwise MPI is left alone
 * (a plain run pays nothing for it) and *world describes this one process. Launched by mpirun
 * in a build without MPI, with more than one process: FPK_EUNSUP (every process would compute
 * everything). MPI errors are returned as statuses, never aborted on (MPI_ERRORS_RETURN). */
int fpk_parallel_init(int *argc, char ***argv, fpk_comm **world, fpk_error *err);
/* Frees world (may be NULL) and finalises MPI if fpk_parallel_init initialised it. */
void fpk_parallel_finalize(fpk_comm *world);

/* Wraps an existing MPI communicator (*(const MPI_Comm *)mpi_comm, duplicated: fpkit's
 * messages never mix with the caller's). FPK_EUNSUP in a build without MPI. */
int fpk_comm_wrap_mpi(fpk_comm **out, const void *mpi_comm, fpk_error *err);
/* A communicator of this one process (never fails but for memory). */
int fpk_comm_self(fpk_comm **out, fpk_error *err);
void fpk_comm_free(fpk_comm *comm); /* safe on NULL */

/* Rank and size; NULL is the one-process communicator (rank 0 of 1). */
int fpk_comm_rank(const fpk_comm *comm);
int fpk_comm_size(const fpk_comm *comm);
/* How many processes of comm share this process's node (its memory): MPI's shared-memory split
 * (MPI_COMM_TYPE_SHARED), 1 without MPI. For memory checks of data every rank holds. */
int fpk_comm_node_size(const fpk_comm *comm);

/* ---- Collectives (every process of comm calls them, in the same order) ------------------- */

/* Everyone receives everyone's bytes, concatenated in rank order: rank r contributes counts[r]
 * bytes from `mine` (any size: messages are split below MPI's int counts). */
int fpk_comm_allgatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                        fpk_error *err);
/* Rank `root` receives everyone's bytes, concatenated in rank order, into `all` (used only on
 * root; may be NULL elsewhere): as fpk_comm_allgatherv, but only root receives, so a gather
 * that only one rank needs costs the others nothing but their own send. */
int fpk_comm_gatherv(const fpk_comm *comm, const void *mine, void *all, const size_t *counts,
                     int root, fpk_error *err);
/* Rank `root`'s bytes to everyone. */
int fpk_comm_bcast(const fpk_comm *comm, void *buf, size_t bytes, int root, fpk_error *err);
/* In-place integer sums (exact, so any order gives the same result). */
int fpk_comm_sum_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err);
/* In-place elementwise minimum and maximum. */
int fpk_comm_min_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err);
int fpk_comm_max_u64(const fpk_comm *comm, uint64_t *buf, size_t n, fpk_error *err);
int fpk_comm_barrier(const fpk_comm *comm, fpk_error *err);

/* Agreement on failure: each process passes its own status (and its error record, which holds
 * the message when status != 0). Returns 0 on every process when every status was 0; otherwise
 * every process returns the status of the lowest failing rank and receives its message, prefixed
 * with "rank R: " when comm has more than one process. A failed agreement is remembered by comm:
 * every later fpk_comm_agree on it returns the same failure at once, without communicating.
 *
 * The rule that keeps every rank out of a deadlock (docs/parallel.md): a rank that fails goes
 * straight to its next agreement (the command ends with one), and a data collective (gather,
 * broadcast, sums) is entered only right after a successful agreement at the same point of the
 * program. The failing rank's agreement then meets its peers' next agreement, whichever it is,
 * and all of them fail together with that rank's reason. */
int fpk_comm_agree(const fpk_comm *comm, int status, fpk_error *err);
/* fpk_comm_agree at a named point of the program (point: a string naming it, e.g. "fpk_mc_run
 * round"). When every rank calls it at the same point, a failure is *coordinated*: every rank
 * learns it at the same place and they may go on together (a run that writes its file marked
 * failed, --keep-failed), so it is not remembered, and every rank receives the failing rank's
 * message in its own words (no "rank R: " prefix). When the ranks are at different points (a
 * rank that failed elsewhere meets this agreement with its own), the failure is remembered as
 * fpk_comm_agree's. point NULL: fpk_comm_agree. */
int fpk_comm_agree_at(const fpk_comm *comm, int status, const char *point, fpk_error *err);

/* Splits n work units into size contiguous ranges in rank order: rank r gets [*lo, *hi), the
 * first n % size ranks one unit more. Pure arithmetic (no communication). */
void fpk_comm_range(const fpk_comm *comm, size_t n, size_t *lo, size_t *hi);

#ifdef __cplusplus
}
#endif
#endif
