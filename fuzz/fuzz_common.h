/* Shared by the fuzz targets (fuzz/README.md): the checks every target makes on fpkit's error
 * reporting. A violated check aborts, which libFuzzer reports as a crash with the input. */
#ifndef FPK_FUZZ_COMMON_H
#define FPK_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/error.h"

#define FUZZ_CHECK(cond, ...)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "fuzz check failed at %s:%d: %s\n  ", __FILE__, __LINE__, \
              #cond);                                                           \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
      abort();                                                                  \
    }                                                                           \
  } while (0)

/* FPK_FUZZ_VERBOSE=1 in the environment prints every message (to see what an input reaches). */
static inline void fuzz_note(const char *what, const char *msg) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("FPK_FUZZ_VERBOSE") != NULL;
  if (verbose) fprintf(stderr, "  %s: %s\n", what, msg);
}

/* A failing call (rc != 0) must have left its status and a message in err; a successful one
 * returns 0. The message must be a NUL-terminated string within the record. */
static inline void fuzz_check_status(int rc, const fpk_error *err, const char *what) {
  if (!rc) return;
  fuzz_note(what, err->msg);
  FUZZ_CHECK(rc > 0 && rc <= FPK_EINTR, "%s returned %d", what, rc);
  FUZZ_CHECK(err->status == rc, "%s returned %d but err.status is %d (%s)", what, rc, err->status,
             err->msg);
  FUZZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL, "%s: message not terminated", what);
  FUZZ_CHECK(err->msg[0] != '\0', "%s returned %d with an empty message", what, rc);
}

/* The same for a constructor that returns NULL on failure. */
static inline void fuzz_check_null(const void *p, const fpk_error *err, const char *what) {
  if (p) return;
  fuzz_check_status(err->status ? err->status : -1, err, what);
}

#endif
