/* fpkit — command-line front end.
 *
 *   fpkit run CONFIG [-o OUT.h5] [--set section.key=value]... [--threads N] [--quiet]
 *                    [--force] [--keep-failed] [--checkpoint-every DURATION [--checkpoint FILE]]
 *   fpkit run --resume FILE [-o OUT.h5] [--threads N] [--quiet] [--force] [--checkpoint FILE]
 *   fpkit converge CONFIG [same options]
 *   fpkit bridge CONFIG [same options]
 *   fpkit ot CONFIG [same options] [--allow-unconverged]
 *   fpkit km CONFIG [same options] [--input FILE.h5 --dataset NAME [--dt DT]]
 *   fpkit rerun FILE.h5 [-o NEW.h5] [--threads N] [--quiet] [--force]
 *   fpkit sweep CONFIG --over section.key=v1,v2,... [--over ...] [--zip] [-o OUTDIR]
 *               [--jobs N] [--threads N] [--gather DATASET]... [--set K=V]... [--quiet]
 *   every command above (rerun included) also takes [--progress=auto|bar|plain|none]
 *                    [--log FILE [--log-level error|warn|info|debug]] (docs/workflow.md)
 *   fpkit keys [COMMAND[/MODEL]]        the configuration keys (src/app/keys.c)
 *   fpkit config TEMPLATE | --list     a commented starting configuration
 *   fpkit --help | --version
 *
 * Exit status: 0 on success, 1 on a run failure (bad configuration or input, I/O), 2 on a usage
 * error, 3 on a numerical failure (an output guard refused a result: the numbers would have been
 * wrong; docs/testing.md); 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when a
 * signal stopped a checkpointed run after writing its checkpoint (docs/checkpoint.md). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/keys.h"
#include "app/progress.h"
#include "fpkit/parallel.h"
#include "fpkit/provenance.h"

/* The processes of this command (fpkit/parallel.h): MPI's world under mpirun, one process
 * otherwise (set by main before any command runs). */
static fpk_comm *world;

static const char usage_text[] =
    "usage: fpkit run CONFIG [-o OUT.h5] [--set section.key=value]... [--threads N] [--quiet]\n"
    "                        [--force] [--keep-failed] [--checkpoint-every T [--checkpoint FILE]]\n"
    "       fpkit run --resume FILE [-o OUT.h5] [--threads N] [--quiet] [--force]\n"
    "                        [--checkpoint-every T] [--checkpoint FILE]\n"
    "       fpkit converge CONFIG [same options]\n"
    "       fpkit bridge CONFIG [same options]\n"
    "       fpkit ot CONFIG [same options] [--allow-unconverged]\n"
    "       fpkit sb CONFIG [same options]\n"
    "       fpkit sample CONFIG [same options]\n"
    "       fpkit km CONFIG [same options] [--input FILE.h5 --dataset NAME [--dt DT]]\n"
    "       fpkit rerun FILE.h5 [-o NEW.h5] [--threads N] [--quiet] [--force]\n"
    "       fpkit sweep CONFIG --over section.key=v1,v2,... [--over ...] [--zip] [-o OUTDIR]\n"
    "                        [--jobs N] [--threads N] [--gather DATASET]... [--set K=V]...\n"
    "       each of run, converge, bridge, ot and rerun also takes [--progress=M]\n"
    "                        [--log FILE [--log-level L]]\n"
    "       fpkit keys [COMMAND[/MODEL]]   every configuration key: type, default, range\n"
    "       fpkit config TEMPLATE | --list   a commented starting config (run, run/ou, ...)\n"
    "       fpkit --help | --version\n"
    "\n"
    "run: runs the experiment described by the INI file CONFIG: a Fokker-Planck solver, a Monte\n"
    "Carlo ensemble and the closed form when one exists, compared at the same output times on the\n"
    "same grid, written to one HDF5 file (see docs/hdf5-layout.md and docs/config.md).\n"
    "converge: a refinement ladder in dt on shared Brownian paths; strong and weak errors with\n"
    "Monte Carlo standard errors and fitted orders with confidence intervals (docs/sde-schemes.md).\n"
    "Exits 1 when an order is unresolved or misses [converge] expect_strong/expect_weak.\n"
    "bridge: Brownian bridge moments, Kolmogorov's law of sup|bridge| (continuity correction) and\n"
    "the coverage of the Kolmogorov-Smirnov band, against closed forms (docs/bridge-donsker.md).\n"
    "ot: entropic optimal transport between two densities on one grid (Gaussians, mixtures or\n"
    "fields of an fpkit HDF5 file), for a list of eps: values, potentials, plan moments, Sinkhorn\n"
    "divergence, closed forms between Gaussians (docs/ot.md). Exits 3 when a solve does not\n"
    "converge (after writing the file) unless --allow-unconverged.\n"
    "km: Kramers-Moyal estimates of drift and diffusion on the bins of [grid] from paths simulated\n"
    "from [model] or recorded in an HDF5 dataset (--input, --dataset, --dt: the keys km.input,\n"
    "km.dataset, km.dt), with 95% intervals, K4 and the Pawula check; with a model, its true\n"
    "coefficients and the coverage of the intervals (docs/km.md).\n"
    "rerun: runs the command stored in an fpkit output FILE again from its stored configuration\n"
    "into NEW (default FILE.rerun.h5; never FILE itself) and compares every dataset bit for bit:\n"
    "exit 0 when all are identical, 1 listing those that differ and by how much; differences of\n"
    "build flags, compiler, commit and library versions are printed as notes\n"
    "(docs/reproducibility.md). Attributes are compared too (numbers bitwise, strings as\n"
    "text), except /provenance, the root's creation time and wall-clock timings. With --quiet\n"
    "nothing goes to stdout: the verdict is the exit status, and what differs goes to stderr.\n"
    "sweep: one `fpkit run` of CONFIG per point of the --over lists (their product, or with --zip\n"
    "element-wise), each a separate process with the point's values as --set, into\n"
    "OUTDIR/point_NNNN.h5 (default OUTDIR: sweep), --jobs at a time (default 1) sharing --threads\n"
    "(default: every core); OUTDIR/index.h5 holds the points, their status, errors, wall times\n"
    "and each --gather DATASET stacked [point][...]. Rerunning resumes: a point whose file is\n"
    "complete with the same configuration is skipped. Exit 1 when a point failed (the others\n"
    "still run), 128 + N when signal N stopped it (docs/sweep.md).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   output file (default: [output] file, else results/<CONFIG stem>.h5;\n"
    "                      rerun: FILE.rerun.h5)\n"
    "  -s, --set K=V       override a configuration key, e.g. --set grid.n=400 (repeatable;\n"
    "                      not rerun)\n"
    "  -j, --threads N     number of OpenMP threads (results do not depend on it)\n"
    "  -q, --quiet         print nothing on success (and no progress unless --progress)\n"
    "      --progress=M    auto (default: a bar on a terminal, nothing otherwise), bar, plain\n"
    "                      (one line per phase and per 10%, for logs), none (docs/workflow.md)\n"
    "      --log FILE      append timestamped lines (phases, timings, warnings, status) to FILE:\n"
    "                      a new file, an empty one or an fpkit log; never the CONFIG, FILE.h5\n"
    "                      or another existing file (exit 2), never the output\n"
    "      --log-level L   error, warn, info (default) or debug (adds the resolved config)\n"
    "      --force         replace an existing output file that fpkit did not write\n"
    "      --keep-failed   (run, ot) on a numerical failure still write the file, marked\n"
    "                      failed, with the reason\n"
    "      --allow-unconverged  (ot) exit 0 when a solve stops at max_iter unconverged\n"
    "      --checkpoint-every T  (run) write a restartable checkpoint every T (60s, 5m, 1h, or\n"
    "                      seconds); SIGINT/SIGTERM/SIGHUP then write one at the next safe point\n"
    "                      and exit 128 + the signal (130 for SIGINT); a second signal aborts\n"
    "      --checkpoint FILE   (run) where checkpoints go (default: OUT.h5.ckpt)\n"
    "      --resume FILE   (run) continue the run saved in checkpoint FILE (no CONFIG, no --set):\n"
    "                      same results, bit for bit, as the uninterrupted run; the checkpoint is\n"
    "                      removed once the output is written (docs/checkpoint.md)\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "The output is checked before anything is computed: it may not be a directory, a device, an\n"
    "input, or an existing file fpkit did not write (unless --force). Every result is checked\n"
    "(finite, mass, sign) before it is written.\n"
    "exit status: 0 success; 1 bad input or I/O error; 2 usage error; 3 numerical failure: a\n"
    "result failed its check (no file is written unless --keep-failed), a state became\n"
    "non-finite, or an OT solve did not converge; 128 + N: signal N stopped a checkpointed run\n"
    "(its checkpoint is written).\n";

/* The temporary output file, removed if a signal ends the run (async-signal-safe: unlink), and
 * the temporary of a checkpoint being written. */
static char temp_path[PATH_MAX];
static char checkpoint_temp[PATH_MAX];

static void remember_temp(const char *path) {
  snprintf(temp_path, sizeof temp_path, "%s", path);
}

static void remember_checkpoint_temp(const char *path) {
  if (!path) {
    checkpoint_temp[0] = '\0';
    return;
  }
  snprintf(checkpoint_temp, sizeof checkpoint_temp, "%s", path);
}

static void on_signal(int sig) {
  if (temp_path[0]) unlink(temp_path);
  if (checkpoint_temp[0]) unlink(checkpoint_temp);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* A checkpointed run: the first signal only asks the run to write a checkpoint at its next safe
 * point and stop (the run polls this flag); a second one ends the process at once, as without
 * checkpoints (the checkpoint written last, if any, is whole and stays). */
static volatile sig_atomic_t interrupted;

static void on_signal_checkpoint(int sig) {
  if (interrupted) on_signal(sig);
  interrupted = sig;
}

/* --checkpoint-every: "60s", "5m", "1h", "0.5s" or a plain number of seconds, > 0 and finite. */
static int parse_duration(const char *s, double *out) {
  if (!isdigit((unsigned char)s[0]) && !(s[0] == '.' && isdigit((unsigned char)s[1]))) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s) return -1;
  double unit = 1.0;
  if (*end == 's')
    end++;
  else if (*end == 'm')
    unit = 60.0, end++;
  else if (*end == 'h')
    unit = 3600.0, end++;
  v *= unit;
  if (*end || !isfinite(v) || !(v > 0.0)) return -1;
  *out = v;
  return 0;
}

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "fpkit: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'fpkit --help'.\n");
  return 2;
}

typedef int (*command_fn)(const fpk_run_options *opt, fpk_error *err);

/* The whole command line, recorded in every output's /provenance. */
static int full_argc;
static const char *const *full_argv;

/* fpkit rerun as a command_fn: its verdict (0 when every dataset and attribute is identical) is
 * kept here for the exit status, as a command's failure is kept in its error. */
static int rerun_differs;

static int rerun_command(const fpk_run_options *opt, fpk_error *err) {
  int identical = 0;
  const int rc = fpk_app_rerun(opt, &identical, err);
  rerun_differs = !rc && !identical;
  return rc;
}

/* Every command takes the same options: CONFIG (rerun: FILE.h5), -o, --set (not rerun),
 * --threads, --quiet, --force, --progress, --log, --log-level; some take more. */
/* Under mpirun every rank reads its command line and configuration itself: they must be the
 * same job, or the ranks would merge blocks of different runs (an MPMD launch with other
 * options, a configuration edited while the ranks start, node-local copies that differ) or
 * enter different collectives. The ranks compare a digest (FNV-1a, 64 bits) of the command line
 * as given and of the configuration file's bytes before any work, and all refuse a mismatch. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static int same_job_on_every_rank(const char *config_path, fpk_error *err) {
  if (fpk_comm_size(world) <= 1) return FPK_SUCCESS;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < full_argc; i++) h = fnv1a(h, full_argv[i], strlen(full_argv[i]) + 1);
  FILE *fp = config_path ? fopen(config_path, "rb") : NULL;
  if (fp) {
    unsigned char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, fp)) > 0) h = fnv1a(h, buf, k);
    fclose(fp);
  }
  uint64_t lo = h, hi = h;
  if (fpk_comm_min_u64(world, &lo, 1, err) || fpk_comm_max_u64(world, &hi, 1, err))
    return err->status;
  if (lo != hi)
    return fpk_error_set(err, FPK_EINVAL,
                         "the MPI ranks were given different jobs: their command lines or the "
                         "bytes of their configuration file '%s' differ (every rank must run the "
                         "same command on the same configuration; an MPMD launch or a file "
                         "changed while the ranks started gives this)",
                         config_path ? config_path : "(none)");
  return FPK_SUCCESS;
}

static int cmd_config(int argc, char **argv, const char *name, command_fn fn) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'}, {"set", required_argument, NULL, 's'},
      {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},          {"allow-unconverged", no_argument, NULL, 'U'},
      {"force", no_argument, NULL, 'F'},         {"keep-failed", no_argument, NULL, 'K'},
      {"checkpoint-every", required_argument, NULL, 'C'},
      {"checkpoint", required_argument, NULL, 'P'},
      {"resume", required_argument, NULL, 'R'},
      {"progress", required_argument, NULL, 'g'},
      {"log", required_argument, NULL, 'l'},
      {"log-level", required_argument, NULL, 'v'},
      {"input", required_argument, NULL, 'I'},
      {"dataset", required_argument, NULL, 'D'},
      {"dt", required_argument, NULL, 'T'},
      {NULL, 0, NULL, 0}};
  /* km's --input, --dataset, --dt: the keys km.input, km.dataset, km.dt, applied after the
   * --set options (so they win) */
  static char km_sets[3][4200];
  int km_given[3] = {0, 0, 0};
  int progress_mode = -1; /* --progress: -1 auto */
  const char *log_path = NULL;
  int log_level = FPK_LOG_INFO;
  fpk_run_options opt = {0};
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  if (!sets) return 1;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:s:j:qh", longopts, NULL)) != -1) {
    switch (c) {
      case 'o':
        if (fn == rerun_command && !optarg[0]) {
          free(sets);
          return usage_error("%s", "rerun: -o: empty file name");
        }
        opt.output = optarg;
        break;
      case 's':
        if (fn == rerun_command) {
          free(sets);
          return usage_error("--set '%s': a rerun runs the stored configuration as it is (no "
                             "--set)",
                             optarg);
        }
        sets[opt.nsets++] = optarg;
        break;
      case 'j': {
        char *end;
        errno = 0;
        long n = strtol(optarg, &end, 10);
        if (*end || errno || end == optarg || n < 1 || n > 4096) {
          free(sets);
          return usage_error("--threads '%s': expected an integer in [1, 4096]", optarg);
        }
        opt.threads = (int)n;
        break;
      }
      case 'q': opt.quiet = 1; break;
      case 'g': {
        static const char *const modes[] = {"none", "bar", "plain"}; /* FPK_PROGRESS_* */
        progress_mode = -2;
        for (int i = 0; i < 3; i++)
          if (!strcmp(optarg, modes[i])) progress_mode = i;
        if (!strcmp(optarg, "auto")) progress_mode = -1;
        if (progress_mode == -2) {
          free(sets);
          return usage_error("--progress '%s': expected auto, bar, plain or none", optarg);
        }
        break;
      }
      case 'l':
        if (!optarg[0]) {
          free(sets);
          return usage_error("%s", "--log: empty file name");
        }
        log_path = optarg;
        break;
      case 'v':
        if ((log_level = fpk_app_log_level(optarg)) < 0) {
          free(sets);
          return usage_error("--log-level '%s': expected error, warn, info or debug", optarg);
        }
        break;
      case 'I':
      case 'D':
      case 'T': {
        const int i = c == 'I' ? 0 : c == 'D' ? 1 : 2;
        static const char *const keys[3] = {"input", "dataset", "dt"};
        if (strcmp(name, "km")) {
          free(sets);
          fprintf(stderr, "fpkit: --%s applies to 'fpkit km' only (not %s)\nTry 'fpkit --help'.\n",
                  keys[i], name);
          return 2;
        }
        if (!optarg[0] || strlen(optarg) > 4000) {
          free(sets);
          fprintf(stderr, "fpkit: km: --%s: empty or too long\nTry 'fpkit --help'.\n", keys[i]);
          return 2;
        }
        snprintf(km_sets[i], sizeof km_sets[i], "km.%s=%s", keys[i], optarg);
        km_given[i] = 1;
        break;
      }
      case 'F': opt.force = 1; break;
      case 'K':
        /* converge and bridge have no partial result worth keeping: their numerical failure is
         * a non-finite path, and nothing of the ensemble is kept */
        if (strcmp(name, "run") && strcmp(name, "ot")) {
          free(sets);
          return usage_error("--keep-failed applies to 'fpkit run' and 'fpkit ot' only (not %s)",
                             name);
        }
        opt.keep_failed = 1;
        break;
      case 'U':
        if (strcmp(name, "ot")) {
          free(sets);
          return usage_error("--allow-unconverged applies to 'fpkit ot' only (not %s)", name);
        }
        opt.allow_unconverged = 1;
        break;
      case 'C':
      case 'P':
      case 'R': {
        const char *opt_name =
            c == 'C' ? "--checkpoint-every" : c == 'P' ? "--checkpoint" : "--resume";
        if (strcmp(name, "run")) {
          free(sets);
          fprintf(stderr,
                  "fpkit: %s applies to 'fpkit run' only (not %s): checkpoints are not "
                  "implemented for this command yet\nTry 'fpkit --help'.\n",
                  opt_name, name);
          return 2;
        }
        if (c == 'C' && parse_duration(optarg, &opt.checkpoint_every)) {
          free(sets);
          return usage_error("--checkpoint-every '%s': expected a duration > 0 such as 60s, 5m, "
                             "1h or a number of seconds",
                             optarg);
        }
        if (c == 'P' || c == 'R') {
          if (!optarg[0]) {
            free(sets);
            fprintf(stderr, "fpkit: %s: empty file name\nTry 'fpkit --help'.\n", opt_name);
            return 2;
          }
          *(c == 'P' ? &opt.checkpoint_path : &opt.resume_path) = optarg;
        }
        break;
      }
      case 'h': fputs(usage_text, stdout); free(sets); return 0;
      default:
        free(sets);
        fprintf(stderr, "fpkit: %s: unknown or incomplete option '%s'\nTry 'fpkit --help'.\n",
                name, argv[optind - 1]);
        return 2;
    }
  }
  if (opt.resume_path) {
    /* the configuration is the checkpoint's: nothing may change it */
    const char *bad = optind < argc ? "a CONFIG file" : opt.nsets ? "--set" : NULL;
    if (bad) {
      free(sets);
      fprintf(stderr,
              "fpkit: run: %s cannot be given with --resume: a resumed run takes its "
              "configuration from the checkpoint\nTry 'fpkit --help'.\n",
              bad);
      return 2;
    }
  } else if (optind != argc - 1) {
    free(sets);
    fprintf(stderr, "fpkit: %s: expected exactly one %s%s\nTry 'fpkit --help'.\n", name,
            fn == rerun_command ? "FILE.h5" : "CONFIG file",
            optind < argc - 1 ? " (extra arguments given)" : "");
    return 2;
  } else if (opt.checkpoint_path && !(opt.checkpoint_every > 0.0)) {
    free(sets);
    return usage_error("%s: --checkpoint needs --checkpoint-every (or --resume)", name);
  }
  for (int i = 0; i < 3; i++)
    if (km_given[i]) sets[opt.nsets++] = km_sets[i];
  if (fn == rerun_command && fpk_comm_size(world) > 1) {
    /* the rerun reads back the file rank 0 writes and compares it: one process's job (the
     * commands it reruns are split over processes when run directly; docs/parallel.md) */
    free(sets);
    fprintf(stderr, "fpkit: rerun: not supported under mpirun with %d processes: run fpkit rerun "
                    "in one process\n",
            fpk_comm_size(world));
    return 1;
  }
  if (fn == rerun_command)
    opt.rerun_of = argv[optind];
  else
    opt.config_path = opt.resume_path ? NULL : argv[optind];
  opt.sets = sets;
  opt.argc = full_argc;
  opt.argv = full_argv;
  opt.comm = world;
  /* auto: a bar on a terminal unless --quiet; nothing on a pipe or file (a batch job asks for
   * --progress=plain) */
  if (progress_mode >= 0)
    opt.progress = progress_mode;
  else
    opt.progress = !opt.quiet && isatty(STDERR_FILENO) ? FPK_PROGRESS_BAR : FPK_PROGRESS_NONE;
  /* under mpirun only rank 0 speaks: summaries and progress (the others compute the same run;
   * errors are still printed by every rank, with the agreed message) */
  if (fpk_comm_rank(world) > 0) {
    opt.quiet = 1;
    opt.progress = FPK_PROGRESS_NONE;
  }
  if (log_path) {
    /* an unwritable log, or one that would append to an input, is a usage error, found before
     * anything is computed; the output refuses the log in turn (fpk_app_create_output) */
    const char *input = opt.rerun_of ? opt.rerun_of : opt.resume_path ? opt.resume_path
                                                                        : opt.config_path;
    fpk_error lerr = {0};
    struct stat sl, so;
    if (opt.output && (!strcmp(opt.output, log_path) ||
                       (!stat(opt.output, &so) && !stat(log_path, &sl) && so.st_dev == sl.st_dev &&
                        so.st_ino == sl.st_ino))) {
      free(sets);
      return usage_error("--log '%s' is the output file: give another log file", log_path);
    }
    /* under mpirun rank 0 alone keeps the log (one record of the run, as in one process); every
     * rank learns whether it could be opened, so that all of them stop together */
    const int lrc = fpk_comm_rank(world) == 0
                        ? fpk_app_log_open(log_path, log_level, &input, 1, &lerr)
                        : FPK_SUCCESS;
    if (fpk_comm_agree(world, lrc, &lerr)) {
      free(sets);
      return usage_error("%s", lerr.msg);
    }
    /* the command line as typed: getopt_long has permuted argv by now (full_argv is the copy
     * made before), quoted as a shell would need it */
    char *cmdline = fpk_shell_join(full_argc - 1, full_argv + 1);
    fpk_app_log(FPK_LOG_INFO, "start: fpkit %s (fpkit %s)", cmdline ? cmdline : name,
                FPK_VERSION);
    free(cmdline);
  }
  opt.on_temp_file = remember_temp;
  const int checkpointed = opt.checkpoint_every > 0.0 || opt.resume_path;
  if (checkpointed) {
    opt.interrupted = &interrupted;
    opt.on_checkpoint_temp = remember_checkpoint_temp;
  }
  void (*handler)(int) = checkpointed ? on_signal_checkpoint : on_signal;
  signal(SIGINT, handler);
  signal(SIGTERM, handler);
  signal(SIGHUP, handler);

  fpk_error err = {0};
  const double t0 = wall_seconds();
  int rc = same_job_on_every_rank(opt.config_path, &err);
  if (!rc) rc = fn(&opt, &err);
  /* every rank ends with the status of the lowest failing rank; a rank that failed itself keeps
   * its own message (a distributed ensemble's failure is agreed on inside the engine, and every
   * rank then holds the failing block's message as one process words it), the others report
   * the failing rank's, prefixed "rank R: " */
  const fpk_error own = err;
  const int own_rc = rc;
  rc = fpk_comm_agree(world, rc, &err);
  if (own_rc && rc) err = own, err.status = rc;
  free(sets);
  int status = 0;
  if (rc == FPK_EINTR && interrupted) {
    /* stopped at a safe point by a signal; the message names the checkpoint */
    fprintf(stderr, "fpkit: %s\n", err.msg);
    status = 128 + (int)interrupted;
    fpk_app_log(FPK_LOG_WARN, "%s", err.msg);
  } else if (rc) {
    fpk_app_progress_clear(opt.progress);
    fprintf(stderr, "fpkit: error: %s\n", err.msg[0] ? err.msg : "run failed");
    status = err.status == FPK_ENUMERIC ? 3 : 1;
    fpk_app_log(FPK_LOG_ERROR, "%s", err.msg[0] ? err.msg : "run failed");
  } else if (fn == rerun_command && rerun_differs) {
    status = 1; /* the rerun ran and differs: the differences are printed */
  }
  fpk_app_log(status ? FPK_LOG_ERROR : FPK_LOG_INFO, "end: %s exit %d after %.3f s", name,
              status, wall_seconds() - t0);
  fpk_app_log_close();
  return status;
}

/* fpkit sweep CONFIG --over K=V1,V2 [--over ...] [--zip] [-o OUTDIR] [--jobs N] [--threads N]
 * [--gather DATASET]... [--set K=V]... [--quiet] (src/app/sweep.c, docs/sweep.md). Exit 0 when
 * every point is ok, 1 when one failed or on a bad argument found before anything ran (the
 * message names it), 2 on a usage error, 128 + N when signal N stopped it (rerun to resume). */
static int cmd_sweep(int argc, char **argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'}, {"set", required_argument, NULL, 's'},
      {"threads", required_argument, NULL, 't'}, {"jobs", required_argument, NULL, 'J'},
      {"over", required_argument, NULL, 'O'},   {"zip", no_argument, NULL, 'Z'},
      {"gather", required_argument, NULL, 'G'}, {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char **lists = calloc(3 * (size_t)argc + 3, sizeof *lists);
  if (!lists) return 1;
  const char **over = lists, **gather = lists + argc + 1, **sets = lists + 2 * (argc + 1);
  static volatile sig_atomic_t stopped_by;
  fpk_sweep_options opt = {.outdir = "sweep", .stopped_by = &stopped_by};
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:s:j:qh", longopts, NULL)) != -1) {
    switch (c) {
      case 'o':
        if (!optarg[0]) {
          free(lists);
          return usage_error("%s", "sweep: -o: empty directory name");
        }
        opt.outdir = optarg;
        break;
      case 's': sets[opt.nsets++] = optarg; break;
      case 'O': over[opt.nover++] = optarg; break;
      case 'G': gather[opt.ngather++] = optarg; break;
      case 'Z': opt.zip = 1; break;
      case 'q': opt.quiet = 1; break;
      case 'j':
      case 't':
      case 'J': {
        char *end;
        errno = 0;
        long n = strtol(optarg, &end, 10);
        if (*end || errno || end == optarg || n < 1 || n > 4096) {
          free(lists);
          return usage_error(c == 'J' ? "--jobs '%s': expected an integer in [1, 4096]"
                                      : "--threads '%s': expected an integer in [1, 4096]",
                             optarg);
        }
        *(c == 'J' ? &opt.jobs : &opt.threads) = (int)n;
        break;
      }
      case 'h': fputs(usage_text, stdout); free(lists); return 0;
      default:
        free(lists);
        fprintf(stderr, "fpkit: sweep: unknown or incomplete option '%s'\nTry 'fpkit --help'.\n",
                argv[optind - 1]);
        return 2;
    }
  }
  if (optind != argc - 1) {
    free(lists);
    fprintf(stderr, "fpkit: sweep: expected exactly one CONFIG file%s\nTry 'fpkit --help'.\n",
            optind < argc - 1 ? " (extra arguments given)" : "");
    return 2;
  }
  if (!opt.nover) {
    free(lists);
    return usage_error("%s", "sweep: no --over section.key=v1,v2,...: nothing to sweep");
  }
  opt.config_path = argv[optind];
  opt.over = over, opt.gather = gather, opt.sets = sets;
  opt.argc = full_argc, opt.argv = full_argv;
  opt.comm = world;
  fpk_error err = {0};
  int rc = same_job_on_every_rank(opt.config_path, &err);
  if (!rc) rc = fpk_app_sweep(&opt, &err);
  free(lists);
  if (rc == FPK_EINTR && stopped_by) {
    fprintf(stderr, "fpkit: %s\n", err.msg);
    return 128 + (int)stopped_by;
  }
  if (rc) {
    fprintf(stderr, "fpkit: error: %s\n", err.msg[0] ? err.msg : "sweep failed");
    return 1;
  }
  return 0;
}

/* fpkit rerun FILE [-o NEW] [options]: cmd_config with rerun_command; exit 0 when every dataset
 * and attribute of the rerun is identical to FILE's, 1 when one differs or the rerun fails, 2 on
 * usage, 3 when the rerun failed numerically without writing a file. */

static int dispatch(int argc, char **argv);

int main(int argc, char **argv) {
  fpk_error perr = {0};
  if (fpk_parallel_init(&argc, &argv, &world, &perr)) {
    fprintf(stderr, "fpkit: error: %s\n", perr.msg);
    return 1;
  }
  /* under mpirun only rank 0 speaks, as one process would: the other ranks compute the same
   * run, and a failure of theirs reaches rank 0 through the agreement that ends every command
   * ("rank R: ..."); their stdout and stderr go to /dev/null (warnings, summaries and verdicts
   * once per job, not once per rank). A sweep is the exception: each rank runs its own points
   * and prints their lines (docs/sweep.md). */
  if (fpk_comm_rank(world) > 0 && !(argc > 1 && !strcmp(argv[1], "sweep"))) {
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
      fflush(stdout);
      fflush(stderr);
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
      close(null_fd);
    }
  }
  const int status = dispatch(argc, argv);
  fpk_parallel_finalize(world);
  return status;
}

static int dispatch(int argc, char **argv) {
  /* a copy of the pointers: getopt_long reorders argv */
  static const char *argv_as_given[4096];
  full_argc = argc < 4096 ? argc : 4095;
  for (int i = 0; i < full_argc; i++) argv_as_given[i] = argv[i];
  full_argv = argv_as_given;
  if (argc < 2) return usage_error("%s", "missing command");
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
    printf("fpkit %s\n", FPK_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "run")) return cmd_config(argc - 1, argv + 1, "run", fpk_app_run);
  if (!strcmp(argv[1], "converge"))
    return cmd_config(argc - 1, argv + 1, "converge", fpk_app_converge);
  if (!strcmp(argv[1], "bridge")) return cmd_config(argc - 1, argv + 1, "bridge", fpk_app_bridge);
  if (!strcmp(argv[1], "ot")) return cmd_config(argc - 1, argv + 1, "ot", fpk_app_ot);
  if (!strcmp(argv[1], "sb")) return cmd_config(argc - 1, argv + 1, "sb", fpk_app_sb);
  if (!strcmp(argv[1], "sample"))
    return cmd_config(argc - 1, argv + 1, "sample", fpk_app_sample);
  if (!strcmp(argv[1], "km")) return cmd_config(argc - 1, argv + 1, "km", fpk_app_km);
  if (!strcmp(argv[1], "rerun")) return cmd_config(argc - 1, argv + 1, "rerun", rerun_command);
  if (!strcmp(argv[1], "sweep")) return cmd_sweep(argc - 1, argv + 1);
  if (!strcmp(argv[1], "keys")) return fpk_app_keys(argc - 1, argv + 1);
  if (!strcmp(argv[1], "config")) return fpk_app_config_template(argc - 1, argv + 1);
  return usage_error("unknown command '%s' (expected run, converge, bridge, ot, sb, sample, km, rerun, "
                     "sweep, keys or config)",
                     argv[1]);
}
