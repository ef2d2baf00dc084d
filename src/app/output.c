/* Output files of the commands: checked, created first, removed on failure (fpkit/io.h). */
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>

#include "fpkit/io.h"

fpk_h5 *fpk_app_create_output(const fpk_run_options *opt, const char *path,
                              const char *const *inputs, size_t ninputs, fpk_error *err) {
  const char **all = calloc(ninputs + 1, sizeof *all);
  if (!all) return fpk_error_set(err, FPK_ENOMEM, "out of memory"), NULL;
  all[0] = opt->config_path;
  for (size_t i = 0; i < ninputs; i++) all[1 + i] = inputs[i];
  const fpk_h5_create_options co = {.force = opt->force, .inputs = all, .ninputs = ninputs + 1};
  fpk_h5 *f = fpk_h5_create(path, &co, err);
  free(all);
  if (!f) return NULL;
  if (opt->on_temp_file) opt->on_temp_file(fpk_h5_temp_path(f));
  const size_t stale = fpk_h5_stale_removed(f);
  if (stale && !opt->quiet)
    fprintf(stderr, "fpkit: removed %zu stale temporary file%s of %s left by an interrupted run\n",
            stale, stale == 1 ? "" : "s", path);
  return f;
}

int fpk_app_mark_failed(fpk_h5 *f, const fpk_error *failure, fpk_error *err) {
  if (fpk_h5_mark_failed(f, failure->msg))
    return fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
  return FPK_SUCCESS;
}
