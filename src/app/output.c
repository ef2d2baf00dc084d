/* Output files of the commands: checked, created first, removed on failure (fpkit/io.h). */
#include "app/app.h"
#include "fpkit/parallel.h"
#include "app/keys.h"
#include "app/progress.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpkit/config.h"
#include "fpkit/grid.h"
#include "fpkit/io.h"
#include "fpkit/provenance.h"

/* /provenance (docs/reproducibility.md): what built and ran this, how it was invoked and where,
 * and when it started; fpk_app_commit_output adds the end time. */
static int write_provenance(fpk_h5 *f, const fpk_run_options *opt) {
  fpk_provenance p;
  fpk_provenance_collect(&p);
  fpk_provenance_field fields[FPK_PROVENANCE_NFIELDS];
  const size_t n = fpk_provenance_fields(&p, fields, FPK_PROVENANCE_NFIELDS);
  if (fpk_h5_group(f, "/provenance",
                   "what built and ran this file: code, compiler, flags, libraries, host, "
                   "command line, times (docs/reproducibility.md)"))
    return -1;
  for (size_t i = 0; i < n; i++)
    if (fpk_h5_attr_string(f, "/provenance", fields[i].name, fields[i].value)) return -1;
  char *line = fpk_shell_join(opt->argc, opt->argv);
  char cwd[PATH_MAX], start[32];
  if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "unknown");
  fpk_utc_now(start);
  /* mpi_ranks: the processes that computed the file (1 without mpirun); every number is the
   * same for any count (docs/parallel.md), so it is provenance, not configuration */
  const int bad = !line || fpk_h5_attr_u64(f, "/provenance", "threads", (uint64_t)p.threads) ||
                  fpk_h5_attr_u64(f, "/provenance", "mpi_ranks",
                                  (uint64_t)fpk_comm_size(opt->comm)) ||
                  fpk_h5_attr_string(f, "/provenance", "command_line", line) ||
                  fpk_h5_attr_string(f, "/provenance", "working_directory", cwd) ||
                  fpk_h5_attr_string(f, "/provenance", "start_time", start) ||
                  (opt->rerun_of && fpk_h5_attr_string(f, "/provenance", "rerun_of", opt->rerun_of));
  free(line);
  return bad ? -1 : 0;
}

fpk_h5 *fpk_app_create_output(const fpk_run_options *opt, const char *path,
                              const char *const *inputs, size_t ninputs, fpk_error *err) {
  return fpk_app_create_output_collective(opt, path, inputs, ninputs, 0, err);
}

fpk_h5 *fpk_app_create_output_collective(const fpk_run_options *opt, const char *path,
                                         const char *const *inputs, size_t ninputs,
                                         int collective, fpk_error *err) {
  const char **all = calloc(ninputs + 2, sizeof *all);
  if (!all) return fpk_error_set(err, FPK_ENOMEM, "out of memory"), NULL;
  /* a rerun's configuration comes from the file rerun: that file is the input never to write */
  all[0] = opt->rerun_of ? opt->rerun_of : opt->config_path;
  for (size_t i = 0; i < ninputs; i++) all[1 + i] = inputs[i];
  all[ninputs + 1] = fpk_app_log_path(); /* --log: replacing it would lose the log */
  const fpk_h5_create_options co = {.force = opt->force, .inputs = all, .ninputs = ninputs + 2,
                                    .comm = opt->comm, .collective = collective};
  fpk_h5 *f = fpk_h5_create(path, &co, err);
  free(all);
  if (!f) return NULL;
  /* a rank > 0 under mpirun has no temporary to remove (rank 0 writes the file, or owns the
   * temporary of a collective file) */
  if (opt->on_temp_file && fpk_h5_temp_path(f)) opt->on_temp_file(fpk_h5_temp_path(f));
  const size_t stale = fpk_h5_stale_removed(f);
  if (stale && !opt->quiet)
    fprintf(stderr, "fpkit: removed %zu stale temporary file%s of %s left by an interrupted run\n",
            stale, stale == 1 ? "" : "s", path);
  if (fpk_h5_sidecar_skipped(f)) /* decided now, before anything is computed */
    fprintf(stderr, "fpkit: warning: %s gets no XDMF sidecar (ParaView, VisIt) if it holds 2D or "
            "3D fields: %s; the HDF5 file is written as usual\n", path, fpk_h5_sidecar_skipped(f));
  if (write_provenance(f, opt)) {
    fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
    fpk_h5_close(f);
    return NULL;
  }
  return f;
}

int fpk_app_commit_output(fpk_h5 *f, const fpk_run_options *opt) {
  (void)opt;
  char end[32];
  fpk_utc_now(end);
  if (fpk_h5_attr_string(f, "/provenance", "end_time", end)) return -1;
  return fpk_h5_commit(f);
}

fpk_config *fpk_app_load_config(const fpk_run_options *opt, const char *command,
                                fpk_error *err) {
  fpk_config *c =
      opt->config_text
          ? fpk_config_parse(opt->config_name ? opt->config_name : "stored config",
                             opt->config_text, strlen(opt->config_text), err)
          : fpk_config_load(opt->config_path, err);
  for (size_t i = 0; c && i < opt->nsets; i++)
    if (fpk_config_set(c, opt->sets[i], err)) {
      fpk_config_free(c);
      c = NULL;
    }
  if (c && command && fpk_app_set_keys(c, command, err)) {
    fpk_config_free(c);
    c = NULL;
  }
  return c;
}

int fpk_app_write_root(fpk_h5 *f, const fpk_run_options *opt, const char *config,
                       const char *command, const char *created) {
  return fpk_h5_attr_string(f, "/", "config", config) ||
         fpk_h5_attr_string(f, "/", "config_file", opt->config_path) ||
         fpk_h5_attr_string(f, "/", "created", created) ||
         fpk_h5_attr_string(f, "/", "command", command);
}

int fpk_app_mark_failed(fpk_h5 *f, const fpk_error *failure, fpk_error *err) {
  if (fpk_h5_mark_failed(f, failure->msg))
    return fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
  return FPK_SUCCESS;
}

/* /grid of a box grid (1D, 2D): the cell centres as dimension scales with their lo and hi, and
 * the index axes /component, /component2 (sb and sample). */
int fpk_app_write_box_grid(fpk_h5 *f, const fpk_grid *g) {
  static const char *axis[] = {"x", "y"};
  int rc = fpk_h5_group(f, "/grid", "uniform cell-centred grid; fields are indexed [y][x]");
  for (size_t a = 0; a < g->dim && !rc; a++) {
    double *c = malloc(g->n[a] * sizeof *c);
    if (!c) return FPK_ENOMEM;
    for (size_t i = 0; i < g->n[a]; i++) c[i] = fpk_grid_center(g, a, i);
    char name[32];
    snprintf(name, sizeof name, "/grid/%s", axis[a]);
    rc = fpk_h5_write_scale(f, name, g->n[a], c, "length", "cell centres");
    free(c);
    if (!rc) rc = fpk_h5_attr_double(f, name, "lo", g->lo[a]);
    if (!rc) rc = fpk_h5_attr_double(f, name, "hi", g->hi[a]);
  }
  if (!rc) rc = fpk_h5_index_dim(f, "/component", g->dim);
  if (!rc) rc = fpk_h5_index_dim(f, "/component2", g->dim);
  return rc;
}
