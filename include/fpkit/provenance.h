/* fpkit/provenance.h — what built and what runs this library (docs/reproducibility.md).
 *
 * A result is reproducible bit for bit only with the same code, compiler, flags, instruction set
 * and library versions; fpkit records all of them in every output file (group /provenance), so
 * that `fpkit rerun` can say which of them changed when a result does not come out the same.
 *
 * Build facts (git commit and whether the tree had uncommitted changes, compiler, C flags, build
 * type, -march) are fixed when the library is built: the commit is asked of git at every build
 * (cmake/BuildInfo.cmake), "unknown" outside a git checkout. Run-time facts (the versions of
 * GSL, FFTW, HDF5 and OpenBLAS actually loaded, the host, the operating system, the instruction
 * set the CPU supports, the OpenMP thread count) are read when fpk_provenance_collect is called.
 */
#ifndef FPKIT_PROVENANCE_H
#define FPKIT_PROVENANCE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One fact: its attribute name in /provenance and its value as text. */
typedef struct fpk_provenance_field {
  const char *name;
  const char *value;
} fpk_provenance_field;

/* Every fact is text, stored in fixed buffers (no allocation, nothing to free). */
typedef struct fpk_provenance {
  char fpkit_version[32];
  char git_commit[64];     /* 40 hex digits, or "unknown" */
  char git_dirty[16];      /* "yes", "no" (tracked files only) or "unknown" */
  char compiler[96];       /* "GNU 12.2.0" */
  char c_flags[512];       /* the build type's flags and the compile options, -march included */
  char build_type[32];     /* "Release" */
  char arch[64];           /* the -march value (FPK_ARCH) */
  char cpu_supports[64];   /* the highest x86-64 level this CPU runs: "x86-64-v4", ... */
  char build_system[128];  /* the system that built it (CMake's CMAKE_SYSTEM and processor) */
  char gsl_version[32];
  char fftw_version[64];
  char hdf5_version[32];
  char openblas[256];      /* openblas_get_config() if loaded (OT's blas kernel), else "not loaded" */
  char libmatheval[32];    /* versions known at build time only (pkg-config): neither library */
  char inih[32];           /*   reports its version at run time */
  char host[256];
  char os[320];            /* uname: sysname release version machine */
  int threads;             /* omp_get_max_threads(): the threads an OpenMP loop uses */
} fpk_provenance;

/* Fills p with the facts above, read now (the OpenMP thread count as omp_get_max_threads()).
 * Never fails: a fact that cannot be read is "unknown". */
void fpk_provenance_collect(fpk_provenance *p);

/* The text facts (all but threads) as (name, value) pairs in a fixed order; returns how many there are (at most
 * FPK_PROVENANCE_NFIELDS) and fills the first max of them. Values point into p. */
#define FPK_PROVENANCE_NFIELDS 17
size_t fpk_provenance_fields(const fpk_provenance *p, fpk_provenance_field *out, size_t max);

/* argv joined by spaces, each argument quoted for a POSIX shell where it needs it ('...', with a
 * ' inside written '\''), so that the line can be pasted back into a shell. malloc'd; NULL when
 * out of memory. argc = 0 gives "". */
char *fpk_shell_join(int argc, const char *const *argv);

/* The current time, UTC, ISO 8601 with seconds: "2026-12-06T20:31:07Z" (21 bytes with the NUL). */
void fpk_utc_now(char out[32]);

#ifdef __cplusplus
}
#endif
#endif
