/* `fpkit rerun FILE.h5 [-o NEW]` (docs/reproducibility.md): runs the command stored in FILE again
 * from its stored configuration into NEW, never into FILE, and compares every dataset bit for
 * bit (fpk_h5_compare_files); differences of build and host (/provenance) are reported as notes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "app/progress.h"
#include "fpkit/io.h"
#include "fpkit/provenance.h"

typedef int (*command_fn)(const fpk_run_options *opt, fpk_error *err);

/* What was read from FILE. */
typedef struct stored {
  char *config;      /* root attribute config: the resolved configuration */
  char *command;     /* root attribute command (files of fpkit run before it was recorded: run) */
  char *config_file; /* root attribute config_file: where the configuration was read from */
  char *cwd;         /* /provenance working_directory, NULL when not recorded */
  int failed;        /* root attribute failed: a --keep-failed file */
} stored;

static void stored_free(stored *s) {
  free(s->config), free(s->command), free(s->config_file), free(s->cwd);
}

static int read_stored(const char *path, stored *s, fpk_error *err) {
  fpk_h5_reader *r = fpk_h5_reader_open(path, err);
  if (!r) return err->status;
  int rc = FPK_SUCCESS;
  if (fpk_h5_has_attr(r, "/", "fpkit_checkpoint")) {
    rc = fpk_error_set(err, FPK_EINVAL,
                       "'%s' is a checkpoint, not a result: continue it with 'fpkit run --resume "
                       "%s', then rerun the result",
                       path, path);
  } else if (!fpk_h5_has_attr(r, "/", "fpkit_version")) {
    rc = fpk_error_set(err, FPK_EINVAL,
                       "'%s' was not written by fpkit (no root attribute fpkit_version): nothing "
                       "to rerun",
                       path);
  } else if (!fpk_h5_has_attr(r, "/", "config")) {
    rc = fpk_error_set(err, FPK_EINVAL,
                       "'%s' has no stored configuration (root attribute config): it cannot be "
                       "run again from the file; run its configuration file with the command "
                       "that wrote it",
                       path);
  } else if ((rc = fpk_h5_read_attr_string(r, "/", "config", &s->config))) {
    rc = fpk_error_set(err, rc, "%s", fpk_h5_reader_errmsg(r));
  }
  if (!rc) {
    const char *fallback = fpk_h5_exists(r, "/converge") ? "converge" : "run";
    if (fpk_h5_has_attr(r, "/", "command")) {
      if ((rc = fpk_h5_read_attr_string(r, "/", "command", &s->command)))
        rc = fpk_error_set(err, rc, "%s", fpk_h5_reader_errmsg(r));
    } else if (!(s->command = strdup(fallback))) {
      rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
    }
  }
  if (!rc && fpk_h5_has_attr(r, "/", "config_file") &&
      (rc = fpk_h5_read_attr_string(r, "/", "config_file", &s->config_file)))
    rc = fpk_error_set(err, rc, "%s", fpk_h5_reader_errmsg(r));
  if (!rc && fpk_h5_exists(r, "/provenance") &&
      fpk_h5_has_attr(r, "/provenance", "working_directory") &&
      (rc = fpk_h5_read_attr_string(r, "/provenance", "working_directory", &s->cwd)))
    rc = fpk_error_set(err, rc, "%s", fpk_h5_reader_errmsg(r));
  s->failed = fpk_h5_has_attr(r, "/", "failed");
  fpk_h5_reader_close(r);
  return rc;
}

/* path made absolute against the current directory (the file need not exist): the rerun may
 * change directory to the original run's. */
static char *absolute(const char *path) {
  if (path[0] == '/') return strdup(path);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return NULL;
  char *out = malloc(strlen(cwd) + strlen(path) + 2);
  if (out) sprintf(out, "%s/%s", cwd, path);
  return out;
}

/* FILE.h5 -> FILE.rerun.h5; any other name gets ".rerun.h5" appended. */
static char *default_output(const char *file) {
  const size_t n = strlen(file);
  const size_t stem = n > 3 && !strcmp(file + n - 3, ".h5") ? n - 3 : n;
  char *out = malloc(stem + sizeof ".rerun.h5");
  if (out) sprintf(out, "%.*s.rerun.h5", (int)stem, file);
  return out;
}

/* The checks that keep FILE safe: the same name, the same resolved path, or the same inode
 * (a hard link, or a symbolic link to it) are all FILE. */
static int refuse_same_file(const char *file, const char *out, fpk_error *err) {
  char *dflt = default_output(file);
  struct stat sf, so;
  char rf[PATH_MAX], ro[PATH_MAX];
  const int same_name = !strcmp(file, out);
  const int same_path = realpath(file, rf) && realpath(out, ro) && !strcmp(rf, ro);
  const int same_inode = stat(file, &sf) == 0 && stat(out, &so) == 0 && sf.st_dev == so.st_dev &&
                         sf.st_ino == so.st_ino;
  int rc = FPK_SUCCESS;
  if (same_name || same_path || same_inode)
    rc = fpk_error_set(err, FPK_EINVAL,
                         "rerun: the output '%s' is the file being checked%s: fpkit rerun never "
                         "writes over it; give another -o path (default: %s)",
                         out, same_name ? "" : " (the same file under another name)",
                         dflt ? dflt : "FILE.rerun.h5");
  free(dflt);
  return rc;
}

/* A short label for each provenance fact whose difference can change results or explains one. */
static const struct {
  const char *name, *label;
} notable[] = {{"c_flags", "build flags"},
               {"arch", "instruction set (-march)"},
               {"build_type", "build type"},
               {"compiler", "compiler"},
               {"git_commit", "git commit"},
               {"git_dirty", "uncommitted changes"},
               {"fpkit_version", "fpkit version"},
               {"gsl_version", "GSL version"},
               {"fftw_version", "FFTW version"},
               {"hdf5_version", "HDF5 version"},
               {"openblas", "OpenBLAS"},
               {"libmatheval", "libmatheval version"},
               {"inih", "inih version"},
               {"cpu_supports", "CPU instruction-set level"},
               {"host", "host"},
               {"os", "operating system"}};

/* Notes on stdout for each fact of /provenance that differs between the stored file and the
 * rerun (which was written by this build on this machine). Never a failure. */
static void provenance_notes(const char *file, const char *rerun) {
  fpk_error e = {0};
  fpk_h5_reader *a = fpk_h5_reader_open(file, &e), *b = a ? fpk_h5_reader_open(rerun, &e) : NULL;
  if (!a || !b) {
    printf("note: cannot read the provenance to compare it: %s\n", e.msg);
  } else if (!fpk_h5_exists(a, "/provenance")) {
    printf("note: %s has no /provenance (written before fpkit recorded it): differences of "
           "build or host cannot be reported\n",
           file);
  } else {
    size_t ndiff = 0;
    for (size_t i = 0; i < sizeof notable / sizeof *notable; i++) {
      char *va = NULL, *vb = NULL;
      const int ha = fpk_h5_has_attr(a, "/provenance", notable[i].name);
      if (ha && fpk_h5_read_attr_string(a, "/provenance", notable[i].name, &va)) va = NULL;
      if (fpk_h5_read_attr_string(b, "/provenance", notable[i].name, &vb)) vb = NULL;
      if (!va || !vb || strcmp(va, vb)) {
        printf("note: %s differ%s: stored '%s' vs this build '%s'\n", notable[i].label,
               notable[i].label[strlen(notable[i].label) - 1] == 's' ? "" : "s",
               va ? va : "(not recorded)", vb ? vb : "(not recorded)");
        ndiff++;
      }
      free(va), free(vb);
    }
    double ta = 0, tb = 0;
    if (!fpk_h5_read_attr_double(a, "/provenance", "threads", &ta) &&
        !fpk_h5_read_attr_double(b, "/provenance", "threads", &tb) && ta != tb)
      printf("note: threads differ: stored %g vs this run %g (results do not depend on it)\n", ta,
             tb);
    (void)ndiff;
  }
  fpk_h5_reader_close(a);
  fpk_h5_reader_close(b);
}

static void print_shape(FILE *o, size_t rank, const size_t *dims) {
  fputc('[', o);
  for (size_t i = 0; i < rank; i++) fprintf(o, i ? " %zu" : "%zu", dims[i]);
  fputc(']', o);
}

static int is_attribute(const fpk_h5_diff *d) { return d->kind >= FPK_H5_DIFF_ATTR_VALUE; }

/* The verdict and every difference, on o (stdout; stderr under --quiet, which keeps stdout
 * empty). Timings and records of the run are notes: they differ without the results differing. */
static void print_comparison(FILE *o, const fpk_h5_comparison *c, const char *file,
                             const char *rerun) {
  size_t ntiming = 0, nrecords = 0, ndataset_timing = 0, ndataset_results = 0;
  for (size_t i = 0; i < c->ndiffs; i++) {
    const fpk_h5_diff *d = &c->diffs[i];
    ntiming += d->wall_clock;
    nrecords += d->record;
    if (!is_attribute(d)) *(d->wall_clock ? &ndataset_timing : &ndataset_results) += 1;
  }
  const size_t ndatasets = c->ndatasets - ndataset_timing;
  const size_t nattributes = c->nattributes - (ntiming - ndataset_timing) - nrecords;
  if (!c->nresults) {
    fprintf(o, "identical: %zu datasets, bitwise (%zu values), and %zu attributes\n", ndatasets,
            c->nelements, nattributes);
  } else {
    fprintf(o,
            "differ: %zu of %zu datasets (%zu bitwise identical) and %zu of %zu attributes; %s "
            "vs %s:\n",
            ndataset_results, ndatasets, c->nidentical, c->nresults - ndataset_results,
            nattributes, file, rerun);
  }
  for (size_t i = 0; i < c->ndiffs; i++) {
    const fpk_h5_diff *d = &c->diffs[i];
    if (d->wall_clock || d->record) continue;
    fprintf(o, "  %s: ", d->path);
    switch (d->kind) {
      case FPK_H5_DIFF_VALUES:
        fprintf(o, "%zu of %zu elements differ, max |a-b| = %.3e", d->ndiffer, d->nelements,
                d->max_abs);
        if (d->max_abs_a > 0.0) fprintf(o, " (%.2e of max |a|)", d->max_abs / d->max_abs_a);
        fprintf(o, ", max relative difference = %.3e", d->max_rel);
        if (d->nan_mismatch) fprintf(o, ", %zu NaN in one file only", d->nan_mismatch);
        break;
      case FPK_H5_DIFF_SHAPE:
        fprintf(o, "shape differs: stored ");
        print_shape(o, d->rank_a, d->dims_a);
        fprintf(o, " vs rerun ");
        print_shape(o, d->rank_b, d->dims_b);
        break;
      case FPK_H5_DIFF_ONLY_IN_A: fprintf(o, "missing from the rerun"); break;
      case FPK_H5_DIFF_ONLY_IN_B: fprintf(o, "only in the rerun (not in the stored file)"); break;
      case FPK_H5_DIFF_ATTR_VALUE:
        fprintf(o, "stored %s vs rerun %s", d->value_a, d->value_b);
        break;
      case FPK_H5_DIFF_ATTR_ONLY_IN_A:
        fprintf(o, "missing from the rerun (stored %s)", d->value_a);
        break;
      case FPK_H5_DIFF_ATTR_ONLY_IN_B:
        fprintf(o, "only in the rerun (not in the stored file): %s", d->value_b);
        break;
    }
    fputc('\n', o);
  }
  for (size_t i = 0; i < c->ndiffs; i++) {
    const fpk_h5_diff *d = &c->diffs[i];
    if (!d->record) continue;
    fprintf(o, "note: %s (a record of the run, not a result) differs: stored %s vs rerun %s\n",
            d->path, d->value_a ? d->value_a : "(absent)", d->value_b ? d->value_b : "(absent)");
  }
  if (ntiming) {
    fprintf(o, "note: %zu wall-clock timing%s differ%s, as measured times do (not results):",
            ntiming, ntiming == 1 ? "" : "s", ntiming == 1 ? "s" : "");
    for (size_t i = 0; i < c->ndiffs; i++)
      if (c->diffs[i].wall_clock) fprintf(o, " %s", c->diffs[i].path);
    fputc('\n', o);
  }
}

int fpk_app_rerun(const fpk_run_options *opt, int *identical, fpk_error *err) {
  *identical = 0;
  stored s = {0};
  char *file = NULL, *out = NULL, *out_given = NULL;
  char cwd_before[PATH_MAX] = "";
  int moved = 0, rc = read_stored(opt->rerun_of, &s, err);
  command_fn fn = NULL;
  if (!rc) {
    fn = !strcmp(s.command, "run")        ? fpk_app_run
         : !strcmp(s.command, "converge") ? fpk_app_converge
         : !strcmp(s.command, "bridge")   ? fpk_app_bridge
         : !strcmp(s.command, "sb")       ? fpk_app_sb
         : !strcmp(s.command, "sample")   ? fpk_app_sample
         : !strcmp(s.command, "ot")       ? fpk_app_ot
         : !strcmp(s.command, "km")       ? fpk_app_km
                                          : NULL;
    if (!fn)
      rc = fpk_error_set(err, FPK_EINVAL,
                         "'%s': stored command '%s' is not one fpkit rerun knows (run, converge, "
                         "bridge, ot, sb, sample, km)",
                         opt->rerun_of, s.command);
  }
  if (!rc) {
    out_given = opt->output ? strdup(opt->output) : default_output(opt->rerun_of);
    if (!out_given) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  }
  if (!rc) rc = refuse_same_file(opt->rerun_of, out_given, err);
  if (!rc && (!(file = absolute(opt->rerun_of)) || !(out = absolute(out_given))))
    rc = fpk_error_set(err, FPK_EIO, "cannot resolve the paths: %s", strerror(errno));
  /* Relative paths in the configuration (ot's marginal files, a wisdom file) were resolved
   * against the original run's working directory: run from there when it exists here. */
  if (!rc && s.cwd && getcwd(cwd_before, sizeof cwd_before) && strcmp(s.cwd, cwd_before)) {
    if (chdir(s.cwd) == 0) {
      moved = 1;
      if (!opt->quiet)
        printf("note: running in the original working directory %s (relative paths of the "
               "configuration resolve there)\n",
               s.cwd);
    } else if (!opt->quiet) {
      printf("note: the original working directory %s is not available here (%s): relative "
             "paths of the configuration resolve against %s\n",
             s.cwd, strerror(errno), cwd_before);
    }
  }
  struct stat before;
  const int existed = !rc && stat(out, &before) == 0;
  if (!rc) {
    char name[PATH_MAX + 32];
    snprintf(name, sizeof name, "%s (stored config)", opt->rerun_of);
    fpk_run_options o = *opt;
    o.config_text = s.config;
    o.config_name = name;
    o.config_path = s.config_file ? s.config_file : opt->rerun_of;
    o.output = out; /* never the stored [output] file */
    o.rerun_of = file;
    o.nsets = 0;
    o.quiet = 1; /* the comparison is the report */
    o.allow_unconverged = !strcmp(s.command, "ot"); /* written anyway: compare what was stored */
    o.keep_failed = s.failed && (fn == fpk_app_run || fn == fpk_app_ot);
    if (!opt->quiet) printf("rerunning: fpkit %s from %s\n", s.command, name);
    fpk_error run_err = {0};
    /* --quiet without progress: the command's own reports on stderr (converge's unresolved
     * order, which the original printed too) are not the rerun's; its error comes back in
     * run_err and is reported below */
    int saved_stderr = -1;
    if (opt->quiet && opt->progress == FPK_PROGRESS_NONE) {
      fflush(stderr);
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0 && (saved_stderr = dup(STDERR_FILENO)) >= 0 &&
          dup2(devnull, STDERR_FILENO) < 0) {
        close(saved_stderr);
        saved_stderr = -1;
      }
      if (devnull >= 0) close(devnull);
    }
    const int run_rc = fn(&o, &run_err);
    if (saved_stderr >= 0) {
      fflush(stderr);
      dup2(saved_stderr, STDERR_FILENO);
      close(saved_stderr);
    }
    struct stat after;
    /* A command that fails after writing its file (an unresolved order in converge, a failure
     * kept with --keep-failed) still produced a result to compare: the commit renames a new
     * file onto the output, so its inode is new. */
    const int written = stat(out, &after) == 0 &&
                        (!existed || after.st_ino != before.st_ino || after.st_dev != before.st_dev);
    if (run_rc && !written) {
      rc = fpk_error_set(err, run_err.status ? run_err.status : run_rc, "rerun of %s: %s",
                         opt->rerun_of, run_err.msg);
    } else if (run_rc && !opt->quiet) {
      printf("note: the rerun reported (as the original may have): %s\n", run_err.msg);
    }
  }
  if (moved && chdir(cwd_before)) { /* paths below are absolute: only tidiness */
  }
  if (!rc) {
    if (!opt->quiet) provenance_notes(file, out);
    fpk_h5_comparison c;
    rc = fpk_h5_compare_files(file, out, &c, err);
    if (!rc) {
      *identical = c.nresults == 0;
      fpk_app_log(*identical ? FPK_LOG_INFO : FPK_LOG_WARN,
                  "rerun of %s: %s (%zu datasets and %zu attributes compared, %zu differ)",
                  opt->rerun_of, *identical ? "identical" : "differs", c.ndatasets,
                  c.nattributes, c.nresults);
      /* --quiet: nothing on stdout, the verdict is the exit status; what differs still goes to
       * stderr, as an error would */
      if (!opt->quiet)
        print_comparison(stdout, &c, opt->rerun_of, out_given);
      else if (!*identical)
        print_comparison(stderr, &c, opt->rerun_of, out_given);
      if (!opt->quiet) printf("wrote %s\n", out_given);
      fpk_h5_comparison_free(&c);
    }
  }
  free(file), free(out), free(out_given);
  stored_free(&s);
  return rc;
}
