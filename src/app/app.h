/* The `fpkit run` driver: config → model → solvers → comparison → HDF5 (docs/architecture.md).
 * Internal to the command-line program; the library proper knows nothing of files or configs. */
#ifndef FPK_APP_H
#define FPK_APP_H

#include <signal.h>
#include <stddef.h>
#include "fpkit/error.h"

typedef struct fpk_run_options {
  const char *config_path;
  const char *output;       /* overrides [output] file when non-NULL */
  const char *const *sets;  /* "section.key=value" overrides */
  size_t nsets;
  int threads;              /* <= 0: OpenMP default */
  int quiet;                /* no summary on stdout */
  int progress;             /* FPK_PROGRESS_NONE, _BAR or _PLAIN (src/app/progress.h) */
  int allow_unconverged;    /* `ot` only: exit 0 when a solve did not converge (main.c rejects
                               the option for the other commands) */
  int force;                /* replace an existing output file fpkit did not write */
  int keep_failed;          /* on a numerical failure (a guard), still write the file, with the
                               root attributes failed = 1 and failed_reason */
  /* Called once the temporary output file exists, so a signal handler can remove it. */
  void (*on_temp_file)(const char *tmp_path);
  /* Checkpoints, `run` only (main.c refuses them for the other commands; docs/checkpoint.md). */
  double checkpoint_every;     /* seconds between checkpoints; 0: none (unless resuming) */
  const char *checkpoint_path; /* NULL: OUT.ckpt beside the output (resuming: the file resumed) */
  const char *resume_path;     /* continue the run saved there; config_path and sets are unused */
  /* Set (to the signal's number) by the signal handler of a checkpointed run: the run writes a
   * checkpoint at its next safe point and returns FPK_EINTR. NULL: never. */
  volatile sig_atomic_t *interrupted;
  /* The temporary of a checkpoint being written (NULL once it is renamed or removed), so that a
   * second signal, which ends the process at once, can remove it. */
  void (*on_checkpoint_temp)(const char *tmp_path);
  /* Provenance (src/app/output.c writes it to /provenance): the command line as given. */
  int argc;
  const char *const *argv;
  /* The configuration as text, instead of the file config_path (fpkit rerun: the configuration
   * stored in a result), parsed under the name config_name; config_path then only names the
   * original configuration file in the record. NULL: read config_path. */
  const char *config_text;
  const char *config_name;
  /* fpkit rerun: the file whose stored configuration is run again; an input, never written. */
  const char *rerun_of;
  /* The processes running this command together (fpkit/parallel.h; main.c's world under mpirun,
   * NULL or one process otherwise): they split the Monte Carlo path blocks, rank 0 alone writes
   * the output file (docs/parallel.md). */
  const struct fpk_comm *comm;
} fpk_run_options;

/* `fpkit run`. Returns FPK_EINTR when a signal stopped a checkpointed run: err then says where,
 * which checkpoint was written and how to resume. */
int fpk_app_run(const fpk_run_options *opt, fpk_error *err);

/* The output file of a command (src/app/output.c), created before any computation after the
 * checks of fpk_h5_create: the configuration file and the `ninputs` files in `inputs` are the
 * run's inputs, opt->force allows replacing a file fpkit did not write. Registers the temporary
 * with opt->on_temp_file and says on stderr when stale temporaries were removed. */
struct fpk_h5;
struct fpk_h5 *fpk_app_create_output(const fpk_run_options *opt, const char *path,
                                     const char *const *inputs, size_t ninputs, fpk_error *err);
/* The same with `collective` set: under mpirun, in a build with parallel HDF5, every rank opens
 * the file and writes it collectively (fpk_h5_create_options.collective; docs/parallel.md). */
struct fpk_h5 *fpk_app_create_output_collective(const fpk_run_options *opt, const char *path,
                                                const char *const *inputs, size_t ninputs,
                                                int collective, fpk_error *err);
/* A numerical failure (FPK_ENUMERIC from a solver's output guard) under --keep-failed: marks f
 * failed with the reason, so the caller writes what it has and commits; returns FPK_SUCCESS, or
 * the writer's error. The command still fails with `failure` afterwards. */
int fpk_app_mark_failed(struct fpk_h5 *f, const fpk_error *failure, fpk_error *err);
/* Writes the end time into /provenance (the rest of it, start time included, is written by
 * fpk_app_create_output) and commits f (fpk_h5_commit). Returns non-zero on failure, with the
 * message on f (fpk_h5_errmsg), like fpk_h5_commit. */
int fpk_app_commit_output(struct fpk_h5 *f, const fpk_run_options *opt);
/* The command's configuration: opt->config_text parsed as opt->config_name when given, else the
 * file opt->config_path; then opt->sets applied and, when command is not NULL, the command's key
 * table set (src/app/keys.c). NULL on failure (err says why). */
struct fpk_config *fpk_app_load_config(const fpk_run_options *opt, const char *command,
                                       fpk_error *err);
/* The root attributes every command's output carries (docs/hdf5-layout.md): the resolved
 * configuration, its file, the creation time and the command (fpkit_version is the writer's).
 * Returns non-zero with the message on f, like the fpk_h5 writers. */
int fpk_app_write_root(struct fpk_h5 *f, const fpk_run_options *opt, const char *config,
                       const char *command, const char *created);
/* `fpkit rerun` (src/app/rerun.c): runs the command stored in opt->rerun_of again from its stored
 * configuration, into opt->output (NULL: FILE.rerun.h5; never FILE itself), then compares every
 * dataset. Returns FPK_SUCCESS when the rerun ran and was compared: *identical is then 1 when
 * every dataset is bitwise identical, else 0 (the differences are printed on stdout). */
int fpk_app_rerun(const fpk_run_options *opt, int *identical, fpk_error *err);
/* `fpkit converge` (src/app/converge.c): same options; fails (non-zero) when an order is
 * unresolved or misses an expected value, after writing the file. */
int fpk_app_converge(const fpk_run_options *opt, fpk_error *err);
/* `fpkit bridge` (src/app/bridge.c): the Brownian bridge, Kolmogorov's law of its supremum and
 * the KS band (docs/bridge-donsker.md); same options. */
int fpk_app_bridge(const fpk_run_options *opt, fpk_error *err);
/* `fpkit ot` (src/app/ot.c): entropic OT between two densities on one grid (docs/ot.md); same
 * options plus allow_unconverged. Fails (non-zero) on an unconverged solve, after writing the
 * file, unless allow_unconverged. */
int fpk_app_ot(const fpk_run_options *opt, fpk_error *err);
/* `fpkit sb` (src/app/sb.c): the Schrödinger bridge between two densities on one grid, Brownian
 * reference (docs/sb.md "The command"); same options. */
int fpk_app_sb(const fpk_run_options *opt, fpk_error *err);
/* /grid of a box grid: cell centres as dimension scales (lo, hi), /component and /component2
 * index axes (src/app/output.c; fpkit sb and fpkit sample). */
struct fpk_grid;
int fpk_app_write_box_grid(struct fpk_h5 *f, const struct fpk_grid *g);
/* `fpkit sample`: diffusion samplers with exact mixture scores (src/app/sample.c). */
int fpk_app_sample(const fpk_run_options *opt, fpk_error *err);
/* `fpkit km`: Kramers-Moyal drift and diffusion from simulated or recorded paths
 * (src/app/km.c; docs/km.md). */
int fpk_app_km(const fpk_run_options *opt, fpk_error *err);

/* `fpkit sweep` (src/app/sweep.c; docs/sweep.md): one `fpkit run` of config_path per point,
 * each a separate process with the point's values as --set overrides, into
 * outdir/point_NNNN.h5, and the index outdir/index.h5. */
#define FPK_SWEEP_MAX_POINTS 100000 /* the most points one sweep may have */
typedef struct fpk_sweep_options {
  const char *config_path;
  const char *const *over;   /* "section.key=v1,v2,..." */
  size_t nover;
  int zip;                   /* the lists element-wise (equal lengths) instead of their product */
  const char *outdir;
  int jobs;                  /* points run at once (<= 0: 1) */
  int threads;               /* threads in all, split evenly over the jobs (<= 0: every core) */
  const char *const *gather; /* datasets stacked into the index */
  size_t ngather;
  const char *const *sets;   /* --set overrides applied to every point, before its own values */
  size_t nsets;
  int quiet;                 /* no line per point on stdout */
  int argc;                  /* the command line, recorded in the index */
  const char *const *argv;
  volatile sig_atomic_t *stopped_by; /* set to the signal that stopped the sweep (FPK_EINTR) */
  const struct fpk_comm *comm; /* under mpirun: the points are dealt over the ranks (NULL: one) */
} fpk_sweep_options;
/* Returns FPK_SUCCESS when every point is ok; an error naming the first failed point when one
 * failed (after all ran and the index is written), the bad argument before anything ran, or
 * FPK_EINTR when a signal stopped it (the index records what finished). */
int fpk_app_sweep(const fpk_sweep_options *opt, fpk_error *err);
/* The resolved configuration `fpkit run` stores for these options (src/app/run.c), read and
 * checked as the run reads it, without computing anything; *resolved is malloc'd. */
int fpk_app_run_resolve(const fpk_run_options *opt, char **resolved, fpk_error *err);

/* Reads [model] (src/app/model_config.c): *dim and a new model (release with fpk_model_free).
 * On failure *model is NULL and err names file:line, key and value. */
struct fpk_config;
struct fpk_model;
int fpk_app_read_model(struct fpk_config *c, size_t *dim, struct fpk_model **model,
                       fpk_error *err);
/* The same with [model] dim read in 1..max_dim (fpk_app_read_model: 1..2; fpkit run: 1..3). */
int fpk_app_read_model_dims(struct fpk_config *c, size_t max_dim, size_t *dim,
                            struct fpk_model **model, fpk_error *err);
/* For a Kramers model (type = kramers): whether the grid's velocity axis holds and resolves the
 * velocity scale 1/√β; an error naming [grid] file:line when it does not contain ±4/√β, a warning
 * on stderr when it is coarse (docs/noise.md). Nothing for other models. */
struct fpk_grid;
int fpk_app_check_kramers_grid(struct fpk_config *c, const struct fpk_model *m,
                               const struct fpk_grid *g, fpk_error *err);

#endif
