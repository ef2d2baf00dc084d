/* The `fpkit run` driver: config → model → solvers → comparison → HDF5 (docs/architecture.md).
 * Internal to the command-line program; the library proper knows nothing of files or configs. */
#ifndef FPK_APP_H
#define FPK_APP_H

#include <stddef.h>
#include "fpkit/error.h"

typedef struct fpk_run_options {
  const char *config_path;
  const char *output;       /* overrides [output] file when non-NULL */
  const char *const *sets;  /* "section.key=value" overrides */
  size_t nsets;
  int threads;              /* <= 0: OpenMP default */
  int quiet;                /* no summary on stdout */
  int progress;             /* progress lines on stderr */
  /* Called once the temporary output file exists, so a signal handler can remove it. */
  void (*on_temp_file)(const char *tmp_path);
} fpk_run_options;

int fpk_app_run(const fpk_run_options *opt, fpk_error *err);

#endif
