/* The MPI communicator behind an fpk_comm, for the library's own MPI users (FFTW-MPI in the
 * distributed spectral solver, parallel HDF5 in io). Only with FPK_HAVE_MPI. */
#ifndef FPK_COMM_INTERNAL_H
#define FPK_COMM_INTERNAL_H

#include "fpkit/parallel.h"
#include "fpkit/version.h"

#if FPK_HAVE_MPI
#include <mpi.h>
/* comm's MPI communicator; MPI_COMM_SELF for NULL or a one-process communicator made without
 * MPI (fpk_comm_self, or a build run without a launcher). */
MPI_Comm fpk_comm_mpi(const fpk_comm *comm);
/* An MPI error code as an fpkit error: "what: MPI error text". */
int fpk_comm_mpi_error(int mpirc, fpk_error *err, const char *what);
#endif

#endif
