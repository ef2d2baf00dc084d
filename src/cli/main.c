/* fpkit — command-line front end.
 *
 *   fpkit run CONFIG [-o OUT.h5] [--set section.key=value]... [--threads N] [--quiet]
 *                    [--force] [--keep-failed]
 *   fpkit converge CONFIG [same options]
 *   fpkit bridge CONFIG [same options]
 *   fpkit ot CONFIG [same options] [--allow-unconverged]
 *   fpkit --help | --version
 *
 * Exit status: 0 on success, 1 on a run failure (bad configuration or input, I/O), 2 on a usage
 * error, 3 on a numerical failure (an output guard refused a result: the numbers would have been
 * wrong; docs/testing.md). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"

static const char usage_text[] =
    "usage: fpkit run CONFIG [-o OUT.h5] [--set section.key=value]... [--threads N] [--quiet]\n"
    "                        [--force] [--keep-failed]\n"
    "       fpkit converge CONFIG [same options]\n"
    "       fpkit bridge CONFIG [same options]\n"
    "       fpkit ot CONFIG [same options] [--allow-unconverged]\n"
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
    "\n"
    "options:\n"
    "  -o, --output FILE   output file (default: [output] file, else results/<CONFIG stem>.h5)\n"
    "  -s, --set K=V       override a configuration key, e.g. --set grid.n=400 (repeatable)\n"
    "  -j, --threads N     number of OpenMP threads (results do not depend on it)\n"
    "  -q, --quiet         print nothing on success\n"
    "      --force         replace an existing output file that fpkit did not write\n"
    "      --keep-failed   on a numerical failure still write the file, marked failed\n"
    "      --allow-unconverged  (ot) exit 0 when a solve stops at max_iter unconverged\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "The output is checked before anything is computed: it may not be a directory, a device, an\n"
    "input, or an existing file fpkit did not write (unless --force). Every result is checked\n"
    "(finite, mass, sign) before it is written.\n"
    "exit status: 0 success; 1 bad input or I/O error; 2 usage error; 3 numerical failure: a\n"
    "result failed its check (no file is written unless --keep-failed), a state became\n"
    "non-finite, or an OT solve did not converge.\n";

/* The temporary output file, removed if a signal ends the run (async-signal-safe: unlink). */
static char temp_path[PATH_MAX];

static void remember_temp(const char *path) {
  snprintf(temp_path, sizeof temp_path, "%s", path);
}

static void on_signal(int sig) {
  if (temp_path[0]) unlink(temp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "fpkit: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'fpkit --help'.\n");
  return 2;
}

typedef int (*command_fn)(const fpk_run_options *opt, fpk_error *err);

/* Every command takes the same options: CONFIG, -o, --set, --threads, --quiet. */
static int cmd_config(int argc, char **argv, const char *name, command_fn fn) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'}, {"set", required_argument, NULL, 's'},
      {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},          {"allow-unconverged", no_argument, NULL, 'U'},
      {"force", no_argument, NULL, 'F'},         {"keep-failed", no_argument, NULL, 'K'},
      {NULL, 0, NULL, 0}};
  fpk_run_options opt = {0};
  const char **sets = calloc((size_t)argc + 1, sizeof *sets);
  if (!sets) return 1;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:s:j:qh", longopts, NULL)) != -1) {
    switch (c) {
      case 'o': opt.output = optarg; break;
      case 's': sets[opt.nsets++] = optarg; break;
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
      case 'F': opt.force = 1; break;
      case 'K': opt.keep_failed = 1; break;
      case 'U':
        if (strcmp(name, "ot")) {
          free(sets);
          return usage_error("--allow-unconverged applies to 'fpkit ot' only (not %s)", name);
        }
        opt.allow_unconverged = 1;
        break;
      case 'h': fputs(usage_text, stdout); free(sets); return 0;
      default:
        free(sets);
        fprintf(stderr, "fpkit: %s: unknown or incomplete option '%s'\nTry 'fpkit --help'.\n",
                name, argv[optind - 1]);
        return 2;
    }
  }
  if (optind != argc - 1) {
    free(sets);
    fprintf(stderr, "fpkit: %s: expected exactly one CONFIG file%s\nTry 'fpkit --help'.\n", name,
            optind < argc - 1 ? " (extra arguments given)" : "");
    return 2;
  }
  opt.config_path = argv[optind];
  opt.sets = sets;
  opt.progress = !opt.quiet && isatty(STDERR_FILENO);
  opt.on_temp_file = remember_temp;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);

  fpk_error err = {0};
  int rc = fn(&opt, &err);
  free(sets);
  if (rc) {
    fprintf(stderr, "fpkit: error: %s\n", err.msg[0] ? err.msg : "run failed");
    return err.status == FPK_ENUMERIC ? 3 : 1;
  }
  return 0;
}

int main(int argc, char **argv) {
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
  return usage_error("unknown command '%s' (expected run, converge, bridge or ot)", argv[1]);
}
