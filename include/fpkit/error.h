/* fpkit/error.h — status codes and error reporting.
 *
 * Every fallible function returns an int status (FPK_SUCCESS == 0). The message goes into an
 * fpk_error record owned by the caller or by the object that failed (nlopt style: the last
 * error is stored on the object, never in a global). fpk_error_set() is the one reporting
 * function; it formats the message and returns the status, so code reads
 *     if (n < 3) return fpk_error_set(err, FPK_EINVAL, "grid.n = %zu: need at least 3 cells", n);
 */
#ifndef FPKIT_ERROR_H
#define FPKIT_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  FPK_SUCCESS = 0,
  FPK_EINVAL = 1,    /* invalid argument or configuration value */
  FPK_ENOMEM = 2,    /* allocation failed */
  FPK_EIO = 3,       /* file could not be read or written */
  FPK_ENUMERIC = 4,  /* numerical failure: NaN/Inf, singular matrix, no convergence */
  FPK_EUNSUP = 5,    /* valid request this build or method does not support */
  FPK_ECALLBACK = 6, /* a user callback returned a fatal (< 0) status */
  FPK_EINTR = 7      /* interrupted by the caller's poll (fpk_interrupt_fn): not a failure; the
                        object is left at a safe point (a step boundary, a round of paths) from
                        which the same call continues, bit for bit (docs/checkpoint.md) */
};

/* An interrupt poll (fpk_fv_set_interrupt, fpk_spectral_set_interrupt, fpk_mc_params.poll):
 * called at every safe point of a long computation (between time steps, between rounds of Monte
 * Carlo paths) with the user pointer it was registered with; non-zero asks the computation to
 * stop there with FPK_EINTR (or, for Monte Carlo, to hand its state to a checkpoint callback).
 * It runs in the computation's thread: keep it cheap (a flag, a clock). */
typedef int (*fpk_interrupt_fn)(void *user);

/* A progress report (fpk_fv_set_progress, fpk_spectral_set_progress, fpk_mc_params.progress,
 * fpk_ladder_params.progress), SUNDIALS-style: called by a long computation with the user pointer
 * it was registered with, `done` units of work out of `total` (time steps of the current evolve,
 * paths of the ensemble) with `done` non-decreasing. It is never called concurrently with
 * itself: from the calling thread, or (Monte Carlo, ladders) from the OpenMP thread that finished
 * a block of paths, one thread at a time — not always thread 0, whose reports could otherwise be
 * missing when the OS holds it back on a loaded machine. It only observes:
 * nothing it does changes a number of the computation (tested bitwise with it on and off). Keep
 * it cheap: it may be called after every time step. */
typedef void (*fpk_progress_fn)(void *user, size_t done, size_t total);

#define FPK_ERRMSG_MAX 1024

typedef struct fpk_error {
  int status;
  char msg[FPK_ERRMSG_MAX];
} fpk_error;

/* Records status and a printf-style message in err (err may be NULL); returns status. */
int fpk_error_set(fpk_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context ("while reading x.ini: ") to the message already in err; returns err->status. */
int fpk_error_prefix(fpk_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fpk_error_clear(fpk_error *err);
/* Copies src into dst (either may be NULL); returns src->status (or FPK_SUCCESS). */
int fpk_error_copy(fpk_error *dst, const fpk_error *src);
const char *fpk_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
