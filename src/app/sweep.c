/* `fpkit sweep` (docs/sweep.md): one `fpkit run` per point of a parameter sweep, each an
 * independent process (fork + exec of this same binary) in a local pool of jobs, one HDF5 file
 * per point and an index file (the table of points, their status, errors, wall times and the
 * gathered datasets) rewritten atomically after every finished point, so that an interrupted
 * sweep leaves a valid index and a rerun resumes it (points whose file is complete and whose
 * stored configuration equals the point's are skipped).
 *
 * Under an MPI launcher (opt->comm with P > 1 processes; docs/sweep.md "Over MPI ranks") the
 * points are dealt round-robin, point p to rank p mod P (neighbouring points, which often differ
 * most in cost along the last swept key, go to different ranks), and each rank runs its own with
 * the local pool above; the children are plain processes (the launcher's OMPI_, PMIX_ and PMI_
 * variables are removed from their environment, so they do not take themselves for ranks).
 * After the pool every rank's states, walls and errors are gathered; rank 0 reads the gathered
 * datasets of every finished point in point order and writes the index, which is then the one a
 * --jobs 1 sweep writes (but the wall times). The index is written once at the end there, not
 * after every point: a resume reads the point files, not the index. */
#include "app/app.h"
#include "app/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fpkit/config.h"
#include "fpkit/io.h"
#include "fpkit/parallel.h"
#include "fpkit/provenance.h"

extern char **environ;

typedef enum { PT_PENDING, PT_RUNNING, PT_OK, PT_FAILED, PT_INTERRUPTED } point_state;
static const char *const state_names[] = {"not-run", "running", "ok", "failed", "interrupted"};

typedef struct swept_key {
  char *name;      /* "section.key" */
  char **values;   /* the items of its list */
  size_t n;
  double *numeric; /* the values as numbers when every one parses as one, else NULL */
} swept_key;

typedef struct point {
  point_state state;
  int skipped;   /* complete from an earlier sweep: not run again */
  pid_t pid;
  double start, wall;
  char *error;   /* failed: the last line of the run's stderr */
} point;

typedef struct gathered {
  const char *path;
  int known;                      /* shape read from the first finished point */
  size_t rank, dims[FPK_H5_MAX_RANK], size;
  double *data;                   /* [npoints][size], NaN where a point has no value */
} gathered;

typedef struct sweep {
  const fpk_sweep_options *opt;
  swept_key *keys;
  size_t nkeys, npoints;
  int width;                      /* digits of the point numbers in the file names */
  point *pts;
  gathered *g;
  char *config_text;              /* the CONFIG file as read, stored in the index */
  char index_path[PATH_MAX];
  int threads_per_job;
} sweep;

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- checking the command line before anything runs */

/* Whether text is one value of the key's type, as the configuration parser reads it
 * (src/core/config.c): a finite number, numbers separated by blanks, an unsigned integer, a
 * boolean word; choices and strings, and every range, are checked by the run itself. */
static int value_parses(const fpk_config_key *k, const char *v) {
  char *end;
  errno = 0;
  switch (k->type) {
    case FPK_KEY_DOUBLE:
    case FPK_KEY_DATA: {
      const double d = strtod(v, &end);
      while (*end == ' ' || *end == '\t') end++;
      return end != v && !*end && isfinite(d);
    }
    case FPK_KEY_LIST:
    case FPK_KEY_DOUBLE_LIST: { /* numbers separated by blanks (one per axis, ...) */
      const char *p = v;
      int count = 0;
      for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return count > 0;
        const double d = strtod(p, &end);
        if (end == p || !isfinite(d) || (*end && *end != ' ' && *end != '\t')) return 0;
        p = end, count++;
      }
    }
    case FPK_KEY_SIZE:
    case FPK_KEY_U64:
      if (v[0] == '-' || v[0] == '+') return 0;
      strtoull(v, &end, 10);
      while (*end == ' ' || *end == '\t') end++;
      return end != v && !*end && !errno;
    case FPK_KEY_BOOL: {
      static const char *const words[] = {"true", "yes", "on", "1", "false", "no", "off", "0"};
      for (size_t i = 0; i < 8; i++)
        if (!strcmp(v, words[i])) return 1;
      return 0;
    }
    default: return 1;
  }
}

static void free_sweep(sweep *s) {
  for (size_t k = 0; k < s->nkeys; k++) {
    for (size_t i = 0; i < s->keys[k].n; i++) free(s->keys[k].values[i]);
    free(s->keys[k].values), free(s->keys[k].name), free(s->keys[k].numeric);
  }
  free(s->keys);
  for (size_t p = 0; s->pts && p < s->npoints; p++) free(s->pts[p].error);
  free(s->pts);
  for (size_t i = 0; s->g && i < s->opt->ngather; i++) free(s->g[i].data);
  free(s->g);
  free(s->config_text);
}

/* "section.key=v1,v2,...": the key must be one `fpkit run` reads, the list non-empty without
 * empty items, each item a value of the key's type. */
static int parse_over(const char *arg, swept_key *out, fpk_error *err) {
  const char *eq = strchr(arg, '=');
  const char *dot = eq ? memchr(arg, '.', (size_t)(eq - arg)) : NULL;
  if (!eq || !dot || dot == arg || dot + 1 == eq)
    return fpk_error_set(err, FPK_EINVAL,
                         "sweep: --over '%s': expected section.key=v1,v2,... (e.g. "
                         "grid.n=40,80,160)",
                         arg);
  char section[128], key[128];
  if ((size_t)(dot - arg) >= sizeof section || (size_t)(eq - dot - 1) >= sizeof key)
    return fpk_error_set(err, FPK_EINVAL, "sweep: --over '%s': key too long", arg);
  snprintf(section, sizeof section, "%.*s", (int)(dot - arg), arg);
  snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
  const fpk_config_key *entry = fpk_app_key_find("run", section, key);
  if (!entry)
    return fpk_error_set(err, FPK_EINVAL,
                         "sweep: --over '%s': unknown key %s.%s for fpkit run (`fpkit keys run` "
                         "lists the keys); nothing was run",
                         arg, section, key);
  out->name = strndup(arg, (size_t)(eq - arg));
  if (!out->name) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  const char *list = eq + 1;
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  out->values = calloc(n, sizeof *out->values);
  out->numeric = malloc(n * sizeof *out->numeric);
  if (!out->values || !out->numeric) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  int all_numeric = 1;
  const char *p = list;
  for (size_t i = 0; i < n; i++) {
    const size_t len = strcspn(p, ",");
    size_t a = 0, b = len; /* the item without surrounding blanks */
    while (a < b && (p[a] == ' ' || p[a] == '\t')) a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t')) b--;
    if (a == b)
      return fpk_error_set(err, FPK_EINVAL,
                           "sweep: --over '%s': item %zu of the list is empty (values are "
                           "separated by single commas)",
                           arg, i + 1);
    if (!(out->values[i] = strndup(p + a, b - a)))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    out->n = i + 1;
    if (!value_parses(entry, out->values[i]))
      return fpk_error_set(err, FPK_EINVAL,
                           "sweep: --over '%s': value '%s' of %s is not a %s (`fpkit keys run` "
                           "gives its type and range); nothing was run",
                           arg, out->values[i], out->name, fpk_config_type_name(entry->type));
    char *end;
    const double d = strtod(out->values[i], &end);
    if (end == out->values[i] || *end || !isfinite(d))
      all_numeric = 0;
    else
      out->numeric[i] = d;
    p += len + (p[len] == ',');
  }
  if (!all_numeric) {
    free(out->numeric);
    out->numeric = NULL;
  }
  return FPK_SUCCESS;
}

/* mkdir -p of OUTDIR, then a probe file created and removed in it: writable or an error
 * naming it (access() would not do: root passes it on a read-only mount). */
static int prepare_outdir(const char *dir, fpk_error *err) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return fpk_error_set(err, FPK_EINVAL, "sweep: -o '%s': path too long", dir);
  for (char *p = path + 1;; p++) {
    const int last = !*p;
    if (*p == '/' || last) {
      *p = '\0';
      struct stat st;
      if (stat(path, &st)) {
        if (mkdir(path, 0777) && errno != EEXIST)
          return fpk_error_set(err, FPK_EIO, "sweep: cannot create the output directory '%s': "
                               "%s (at '%s')", dir, strerror(errno), path);
      } else if (!S_ISDIR(st.st_mode)) {
        return fpk_error_set(err, FPK_EIO, "sweep: output directory '%s': '%s' is not a "
                             "directory", dir, path);
      }
      if (last) break;
      *p = '/';
    }
  }
  char probe[PATH_MAX];
  snprintf(probe, sizeof probe, "%s/.fpkit-sweep-probe-%ld", dir, (long)getpid());
  const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return fpk_error_set(err, FPK_EIO, "sweep: output directory '%s' is not writable: %s", dir,
                         strerror(errno));
  close(fd);
  unlink(probe);
  return FPK_SUCCESS;
}

/* ---- points */

/* The item of key k at point p: the Cartesian product varies the last --over fastest; zipped
 * lists take item p of each. */
static size_t item_of(const sweep *s, size_t p, size_t k) {
  if (s->opt->zip) return p;
  size_t stride = 1;
  for (size_t j = s->nkeys; j-- > k + 1;) stride *= s->keys[j].n;
  return (p / stride) % s->keys[k].n;
}

static void point_file(const sweep *s, size_t p, const char *ext, char *buf, size_t len) {
  snprintf(buf, len, "%s/point_%0*zu.%s", s->opt->outdir, s->width, p, ext);
}

/* The --set list of point p: the global ones, then the point's values (which win). Each string
 * is malloc'd; *n of them. */
static char **point_sets(const sweep *s, size_t p, size_t *n) {
  char **sets = calloc(s->opt->nsets + s->nkeys + 1, sizeof *sets);
  if (!sets) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < s->opt->nsets; i++) sets[m++] = strdup(s->opt->sets[i]);
  for (size_t k = 0; k < s->nkeys; k++) {
    const char *v = s->keys[k].values[item_of(s, p, k)];
    const size_t len = strlen(s->keys[k].name) + strlen(v) + 2;
    if ((sets[m] = malloc(len))) snprintf(sets[m], len, "%s=%s", s->keys[k].name, v);
    m++;
  }
  for (size_t i = 0; i < m; i++)
    if (!sets[i]) {
      for (size_t j = 0; j < m; j++) free(sets[j]);
      free(sets);
      return NULL;
    }
  *n = m;
  return sets;
}

static void free_sets(char **sets, size_t n) {
  for (size_t i = 0; sets && i < n; i++) free(sets[i]);
  free(sets);
}

static void describe_point(const sweep *s, size_t p, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < s->nkeys && used < len; k++)
    used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", k ? " " : "", s->keys[k].name,
                             s->keys[k].values[item_of(s, p, k)]);
}

/* Resume: whether point p's file is complete (fpkit's: a file appears only by the atomic rename
 * of a whole one) and stores the configuration this point would run, resolved as `fpkit run`
 * resolves it. *why says why not. */
static int point_complete(const sweep *s, size_t p, char *why, size_t len) {
  char file[PATH_MAX];
  point_file(s, p, "h5", file, sizeof file);
  if (access(file, F_OK)) return snprintf(why, len, "no file yet"), 0;
  if (!fpk_h5_is_fpkit_file(file))
    return snprintf(why, len, "%.1000s exists but is not an fpkit file: running the point again",
                    file), 0;
  fpk_error e = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(file, &e);
  char *stored = NULL;
  int ok = r && !fpk_h5_read_attr_string(r, "/", "config", &stored);
  if (ok && fpk_h5_has_attr(r, "/", "failed")) ok = 0; /* --keep-failed output is not a result */
  fpk_h5_reader_close(r);
  if (!ok) {
    free(stored);
    return snprintf(why, len, "%.1000s has no stored configuration or is marked failed: running the "
                    "point again", file), 0;
  }
  size_t nsets = 0;
  char **sets = point_sets(s, p, &nsets);
  fpk_run_options o = {.config_path = s->opt->config_path, .sets = (const char *const *)sets,
                       .nsets = nsets, .quiet = 1, .output = file};
  char *resolved = NULL;
  e = (fpk_error){0};
  const int rc = sets ? fpk_app_run_resolve(&o, &resolved, &e) : FPK_ENOMEM;
  free_sets(sets, nsets);
  int same = !rc && !strcmp(resolved, stored);
  if (rc)
    snprintf(why, len, "the point's configuration does not resolve (%.1000s): running it again",
             e.msg);
  else if (!same)
    snprintf(why, len, "%.1000s was written from another configuration than this point's: running "
             "the point again", file);
  free(resolved), free(stored);
  return same;
}

/* In the child of a sweep started by an MPI launcher: removes the launcher's variables (OMPI_*,
 * PMIX_*, PMI_*, MPI_LOCALNRANKS, MPI_LOCALRANKID), so that `fpkit run` starts as a plain process
 * and does not try to join the launcher's job (fpk_parallel_launched reads them). */
static void strip_launcher_environment(void) {
  static const char *const prefixes[] = {"OMPI_", "PMIX_", "PMI_", "MPI_LOCALNRANKS=",
                                         "MPI_LOCALRANKID="};
  for (size_t i = 0; environ && environ[i];) {
    const char *e = environ[i];
    int launcher = 0;
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++)
      launcher |= !strncmp(e, prefixes[k], strlen(prefixes[k]));
    const size_t len = strcspn(e, "=");
    char name[512];
    if (!launcher || len >= sizeof name) {
      i++;
      continue;
    }
    memcpy(name, e, len);
    name[len] = '\0';
    unsetenv(name); /* shifts the later entries down */
    if (environ[i] == e) i++;
  }
}

/* fork + exec of this binary: `fpkit run CONFIG --set ... -o FILE --quiet --threads T`, stderr
 * into point_NNNN.log, stdout discarded. Its own process: a crash takes only this point down. */
static pid_t start_point(const sweep *s, size_t p) {
  char file[PATH_MAX], log[PATH_MAX], threads[16];
  point_file(s, p, "h5", file, sizeof file);
  point_file(s, p, "log", log, sizeof log);
  snprintf(threads, sizeof threads, "%d", s->threads_per_job);
  size_t nsets = 0;
  char **sets = point_sets(s, p, &nsets);
  if (!sets) return -1;
  const char **argv = calloc(2 * nsets + 12, sizeof *argv);
  if (!argv) return free_sets(sets, nsets), -1;
  size_t a = 0;
  argv[a++] = "fpkit";
  argv[a++] = "run";
  argv[a++] = s->opt->config_path;
  for (size_t i = 0; i < nsets; i++) argv[a++] = "--set", argv[a++] = sets[i];
  argv[a++] = "-o", argv[a++] = file;
  argv[a++] = "--quiet", argv[a++] = "--progress=none";
  argv[a++] = "--threads", argv[a++] = threads;
  argv[a] = NULL;
  fflush(stdout), fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int devnull = open("/dev/null", O_RDWR);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO), dup2(devnull, STDIN_FILENO);
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL), signal(SIGHUP, SIG_DFL);
    if (fpk_parallel_launched()) strip_launcher_environment();
    execv("/proc/self/exe", (char *const *)argv);
    fprintf(stderr, "fpkit: sweep: cannot execute /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
  }
  free(argv);
  free_sets(sets, nsets);
  return pid;
}

/* The last non-empty line of the point's log (its stderr). */
static char *last_line(const char *log) {
  FILE *fp = fopen(log, "r");
  char line[4096], last[4096] = "";
  while (fp && fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0]) snprintf(last, sizeof last, "%s", line);
  }
  if (fp) fclose(fp);
  return strdup(last);
}

static void fail_point(point *pt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_point(point *pt, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(pt->error);
  pt->error = strdup(msg);
  pt->state = PT_FAILED;
}

/* Reads the gathered datasets of a finished point into their tables. Returns non-zero (err set)
 * when a dataset is missing from the first finished point: the sweep stops. A later point
 * missing it, or with another shape, is failed with the reason. */
static int gather_point(sweep *s, size_t p, fpk_error *err) {
  if (!s->opt->ngather) return FPK_SUCCESS;
  char file[PATH_MAX];
  point_file(s, p, "h5", file, sizeof file);
  point *pt = &s->pts[p];
  fpk_error e = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(file, &e);
  if (!r) {
    fail_point(pt, "gather: cannot read %s: %s", file, e.msg);
    return FPK_SUCCESS;
  }
  int rc = FPK_SUCCESS;
  for (size_t i = 0; i < s->opt->ngather && pt->state == PT_OK; i++) {
    gathered *g = &s->g[i];
    size_t rank = 0, dims[FPK_H5_MAX_RANK];
    if (!fpk_h5_is_dataset(r, g->path) || fpk_h5_dataset_shape(r, g->path, &rank, dims)) {
      if (!g->known) {
        char list[2048];
        fpk_h5_list_datasets(r, list, sizeof list);
        rc = fpk_error_set(err, FPK_EINVAL,
                           "sweep: --gather %s: no such dataset in %s (the first finished point; "
                           "its datasets: %s); the sweep stops",
                           g->path, file, list);
        pt->state = PT_OK;
        break;
      }
      fail_point(pt, "gather: %s has no dataset %s", file, g->path);
      break;
    }
    size_t size = 1;
    for (size_t d = 0; d < rank; d++) size *= dims[d];
    if (!g->known) {
      if (rank + 1 > FPK_H5_MAX_RANK) {
        rc = fpk_error_set(err, FPK_EINVAL, "sweep: --gather %s: rank %zu is too high to stack",
                           g->path, rank);
        break;
      }
      g->known = 1, g->rank = rank, g->size = size;
      memcpy(g->dims, dims, rank * sizeof *dims);
      if (!(g->data = malloc(s->npoints * size * sizeof *g->data))) {
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory for --gather %s", g->path);
        break;
      }
      for (size_t j = 0; j < s->npoints * size; j++) g->data[j] = NAN;
    } else if (rank != g->rank || memcmp(dims, g->dims, rank * sizeof *dims)) {
      char shape_a[128] = "", shape_b[128] = "";
      for (size_t d = 0, u = 0; d < rank && u < sizeof shape_a; d++)
        u += (size_t)snprintf(shape_a + u, sizeof shape_a - u, "%s%zu", d ? "x" : "", dims[d]);
      for (size_t d = 0, u = 0; d < g->rank && u < sizeof shape_b; d++)
        u += (size_t)snprintf(shape_b + u, sizeof shape_b - u, "%s%zu", d ? "x" : "", g->dims[d]);
      fail_point(pt, "gather: %s: shape [%s], while the first finished point has [%s]", g->path,
                 shape_a, shape_b);
      break;
    }
    if (fpk_h5_read_doubles(r, g->path, size, g->data + p * size)) {
      fail_point(pt, "gather: cannot read %s: %s", g->path, fpk_h5_reader_errmsg(r));
      for (size_t j = 0; j < size; j++) g->data[p * size + j] = NAN;
    }
  }
  /* a point failed by a later check keeps no gathered values */
  for (size_t i = 0; pt->state == PT_FAILED && i < s->opt->ngather; i++)
    if (s->g[i].known)
      for (size_t j = 0; j < s->g[i].size; j++) s->g[i].data[p * s->g[i].size + j] = NAN;
  fpk_h5_reader_close(r);
  return rc;
}

/* ---- the index file (docs/sweep.md "The index") */

/* The groups above a gathered dataset (/gather/errors for /gather/errors/l1_fv_exact), each
 * created once per index file: made[] remembers them. */
static int ensure_groups(fpk_h5 *f, const char *path, char **made, size_t *nmade, size_t cap) {
  char buf[1100];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    int there = 0;
    for (size_t i = 0; i < *nmade && !there; i++) there = !strcmp(made[i], buf);
    int rc = FPK_SUCCESS;
    if (!there && strcmp(buf, "/gather")) {
      if (*nmade == cap || !(made[*nmade] = strdup(buf))) return FPK_ENOMEM;
      (*nmade)++;
      rc = fpk_h5_group(f, buf, NULL);
    }
    *p = '/';
    if (rc) return rc;
  }
  return FPK_SUCCESS;
}

static int write_index(sweep *s, fpk_error *err) {
  const fpk_sweep_options *o = s->opt;
  const fpk_h5_create_options co = {.inputs = &o->config_path, .ninputs = 1, .no_sidecar = 1};
  fpk_h5 *f = fpk_h5_create(s->index_path, &co, err);
  if (!f) return err->status;
  const size_t n = s->npoints;
  const char **files = calloc(n, sizeof *files), **status = calloc(n, sizeof *status),
             **errors = calloc(n, sizeof *errors);
  char **names = calloc(n, sizeof *names);
  double *wall = malloc(n * sizeof *wall);
  int rc = !files || !status || !errors || !names || !wall ? FPK_ENOMEM : FPK_SUCCESS;
  size_t nok = 0, nfailed = 0, nskipped = 0;
  size_t slen = 1;
  for (size_t p = 0; !rc && p < n; p++) {
    char file[PATH_MAX];
    snprintf(file, sizeof file, "point_%0*zu.h5", s->width, p);
    names[p] = strdup(file);
    files[p] = names[p] ? names[p] : "";
    status[p] = state_names[s->pts[p].state];
    errors[p] = s->pts[p].error ? s->pts[p].error : "";
    wall[p] = s->pts[p].wall;
    nok += s->pts[p].state == PT_OK, nfailed += s->pts[p].state == PT_FAILED;
    nskipped += s->pts[p].skipped;
    slen += 12;
  }
  char *skipped = rc ? NULL : malloc(slen);
  if (!rc && !skipped) rc = FPK_ENOMEM;
  if (!rc) {
    size_t u = 0;
    skipped[0] = '\0';
    for (size_t p = 0; p < n; p++)
      if (s->pts[p].skipped) u += (size_t)snprintf(skipped + u, slen - u, "%s%zu", u ? " " : "", p);
  }
  char *over = NULL, *sets = NULL;
  if (!rc) {
    over = fpk_shell_join((int)o->nover, o->over);
    sets = fpk_shell_join((int)o->nsets, o->sets);
    if (!over || !sets) rc = FPK_ENOMEM;
  }
  char *cmdline = rc ? NULL : fpk_shell_join(o->argc, o->argv);
  char created[32];
  fpk_utc_now(created);
  if (!rc)
    rc = fpk_h5_attr_string(f, "/", "command", "sweep") ||
         fpk_h5_attr_string(f, "/", "config_file", o->config_path) ||
         fpk_h5_attr_string(f, "/", "config", s->config_text) ||
         fpk_h5_attr_string(f, "/", "over", over) || fpk_h5_attr_string(f, "/", "sets", sets) ||
         fpk_h5_attr_string(f, "/", "mode", o->zip ? "zip" : "product") ||
         fpk_h5_attr_string(f, "/", "command_line", cmdline ? cmdline : "") ||
         fpk_h5_attr_string(f, "/", "created", created) ||
         fpk_h5_attr_u64(f, "/", "npoints", n) || fpk_h5_attr_u64(f, "/", "ok", nok) ||
         fpk_h5_attr_u64(f, "/", "failed", nfailed) ||
         fpk_h5_attr_u64(f, "/", "skipped_complete", nskipped) ||
         fpk_h5_attr_string(f, "/", "skipped_points", skipped) ||
         fpk_h5_attr_u64(f, "/", "jobs", (uint64_t)o->jobs) ||
         fpk_h5_attr_u64(f, "/", "threads_per_job", (uint64_t)s->threads_per_job) ||
         fpk_h5_group(f, "/points", "one entry per point, in point order (docs/sweep.md)") ||
         fpk_h5_write_strings(f, "/points/file", n, files, "the point's file, in the index's "
                              "directory") ||
         fpk_h5_write_strings(f, "/points/status", n, status,
                              "ok, failed, interrupted (stopped by a signal) or not-run") ||
         fpk_h5_write_strings(f, "/points/error", n, errors,
                              "a failed point: the last line of its stderr; else empty") ||
         fpk_h5_write_undefined(f, "/points/wall_time", 1, &n, wall, "s",
                                "wall-clock time of the point's run; 0 for a point skipped "
                                "as complete",
                                "not run") ||
         fpk_h5_group(f, "/over", "the swept keys: the point's value as given, one dataset per "
                      "key named section.key") ||
         fpk_h5_group(f, "/over_numeric", "the swept keys whose values are all numbers, as "
                      "doubles");
  for (size_t k = 0; !rc && k < s->nkeys; k++) {
    const char **v = calloc(n, sizeof *v);
    double *num = s->keys[k].numeric ? malloc(n * sizeof *num) : NULL;
    if (!v || (s->keys[k].numeric && !num)) {
      free(v), free(num);
      rc = FPK_ENOMEM;
      break;
    }
    for (size_t p = 0; p < n; p++) {
      v[p] = s->keys[k].values[item_of(s, p, k)];
      if (num) num[p] = s->keys[k].numeric[item_of(s, p, k)];
    }
    char name[300];
    snprintf(name, sizeof name, "/over/%s", s->keys[k].name);
    rc = fpk_h5_write_strings(f, name, n, v, "the value of this key at each point");
    snprintf(name, sizeof name, "/over_numeric/%s", s->keys[k].name);
    if (!rc && num) rc = fpk_h5_write(f, name, 1, &n, num, NULL, "the value as a number");
    free(v), free(num);
  }
  if (!rc && o->ngather)
    rc = fpk_h5_group(f, "/gather", "--gather DATASET of every point, stacked along a leading "
                      "point axis: /gather/DATASET[point][...]");
  char *made[256];
  size_t nmade = 0;
  for (size_t i = 0; !rc && i < o->ngather; i++) {
    const gathered *g = &s->g[i];
    if (!g->known) continue; /* no point finished yet */
    char name[1100];
    snprintf(name, sizeof name, "/gather%s", g->path);
    size_t dims[FPK_H5_MAX_RANK];
    dims[0] = n;
    memcpy(dims + 1, g->dims, g->rank * sizeof *dims);
    rc = ensure_groups(f, name, made, &nmade, sizeof made / sizeof made[0]) ||
         fpk_h5_write_undefined(f, name, g->rank + 1, dims, g->data, NULL,
                                "the dataset of each point, stacked along the first axis",
                                "the point failed or has not run");
  }
  for (size_t i = 0; i < nmade; i++) free(made[i]);
  if (!rc && fpk_h5_commit(f)) rc = FPK_EIO;
  if (rc) {
    if (rc == FPK_ENOMEM)
      fpk_error_set(err, FPK_ENOMEM, "out of memory writing the index %s", s->index_path);
    else
      fpk_error_set(err, FPK_EIO, "sweep: index %s: %s", s->index_path, fpk_h5_errmsg(f));
  }
  fpk_h5_close(f);
  for (size_t p = 0; names && p < n; p++) free(names[p]);
  free(names), free(files), free(status), free(errors), free(wall), free(skipped), free(over),
      free(sets), free(cmdline);
  return rc ? err->status : FPK_SUCCESS;
}

/* ---- the pool */

/* A point's process ended: its state, error and (gather) its gathered values. */
static int finish_point(sweep *s, size_t p, int wstatus, int gather, fpk_error *err) {
  point *pt = &s->pts[p];
  pt->wall = now_seconds() - pt->start;
  char file[PATH_MAX], log[PATH_MAX];
  point_file(s, p, "h5", file, sizeof file);
  point_file(s, p, "log", log, sizeof log);
  free(pt->error);
  pt->error = NULL;
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && fpk_h5_is_fpkit_file(file)) {
    pt->state = PT_OK;
  } else if (stop_signal && WIFSIGNALED(wstatus)) {
    pt->state = PT_INTERRUPTED;
    pt->error = strdup("stopped by a signal to the sweep");
  } else {
    pt->state = PT_FAILED;
    char *line = last_line(log);
    char msg[4200];
    if (WIFSIGNALED(wstatus))
      snprintf(msg, sizeof msg, "killed by signal %d%s%s", WTERMSIG(wstatus),
               line && line[0] ? ": " : "", line ? line : "");
    else
      snprintf(msg, sizeof msg, "%s", line && line[0] ? line : "fpkit run failed without a "
               "message");
    free(line);
    pt->error = strdup(msg);
  }
  /* the log of a point that ran cleanly and said nothing is of no use */
  struct stat st;
  if (pt->state == PT_OK && !stat(log, &st) && st.st_size == 0) unlink(log);
  return pt->state == PT_OK && gather ? gather_point(s, p, err) : FPK_SUCCESS;
}

static void report(const sweep *s, size_t p, const char *what) {
  if (s->opt->quiet) return;
  char desc[1024];
  describe_point(s, p, desc, sizeof desc);
  printf("sweep: point %0*zu/%zu (%s): %s\n", s->width, p, s->npoints, desc, what);
  fflush(stdout);
}

/* ---- several ranks */

/* What a rank tells the others of each of its points (its error text follows separately). */
typedef struct point_record {
  int32_t state, skipped;
  double wall;
  uint64_t error_len; /* bytes of the error, without the terminating zero (0: none) */
} point_record;

/* Points of rank r: r, r + P, r + 2P, ... below n. */
static size_t points_of(size_t n, size_t P, size_t r) { return r < n ? (n - r + P - 1) / P : 0; }

/* After the pool, on every rank: the agreement on each rank's own status (a failed waitpid),
 * then every rank's points (state, skipped, wall, error) to every rank, and the largest stop
 * signal seen (mpirun forwards a signal to every rank). Then all ranks hold every point's
 * outcome, as the one process of a local sweep does. */
static int share_points(sweep *s, const fpk_comm *comm, int status, fpk_error *err) {
  int rc = fpk_comm_agree(comm, status, err);
  if (rc) return rc;
  const size_t P = (size_t)fpk_comm_size(comm), me = (size_t)fpk_comm_rank(comm), n = s->npoints;
  size_t *counts = calloc(P, sizeof *counts);
  point_record *all = calloc(n ? n : 1, sizeof *all), *mine = calloc(n ? n : 1, sizeof *mine);
  char *text = NULL, *all_text = NULL;
  size_t ntext = 0, nall_text = 0;
  int lrc = counts && all && mine ? FPK_SUCCESS : FPK_ENOMEM;
  for (size_t p = me, k = 0; !lrc && p < n; p += P, k++) {
    const point *pt = &s->pts[p];
    mine[k] = (point_record){.state = (int32_t)pt->state, .skipped = pt->skipped,
                             .wall = pt->wall, .error_len = pt->error ? strlen(pt->error) : 0};
    ntext += mine[k].error_len;
  }
  if (!lrc && !(text = malloc(ntext ? ntext : 1))) lrc = FPK_ENOMEM;
  for (size_t p = me, u = 0; !lrc && p < n; p += P)
    if (s->pts[p].error) {
      const size_t len = strlen(s->pts[p].error);
      memcpy(text + u, s->pts[p].error, len);
      u += len;
    }
  if (lrc) fpk_error_set(err, lrc, "sweep: out of memory sharing the points' outcomes");
  if (!(rc = fpk_comm_agree(comm, lrc, err))) {
    for (size_t r = 0; r < P; r++) counts[r] = points_of(n, P, r) * sizeof(point_record);
    rc = fpk_comm_allgatherv(comm, mine, all, counts, err);
  }
  /* the error texts: rank r's total from its records */
  size_t at = 0;
  for (size_t r = 0; !rc && r < P; r++) {
    counts[r] = 0;
    for (size_t k = 0; k < points_of(n, P, r); k++) counts[r] += all[at + k].error_len;
    nall_text += counts[r];
    at += points_of(n, P, r);
  }
  if (!rc) {
    all_text = malloc(nall_text ? nall_text : 1);
    rc = fpk_comm_agree(comm, all_text ? FPK_SUCCESS
                                       : fpk_error_set(err, FPK_ENOMEM, "sweep: out of memory"),
                        err);
  }
  if (!rc) rc = fpk_comm_allgatherv(comm, text, all_text, counts, err);
  if (!rc) {
    size_t rec = 0, u = 0;
    for (size_t r = 0; r < P; r++)
      for (size_t k = 0; k < points_of(n, P, r); k++, rec++) {
        const point_record *pr = &all[rec];
        point *pt = &s->pts[r + k * P];
        if (r != me) {
          pt->state = (point_state)pr->state;
          pt->skipped = pr->skipped;
          pt->wall = pr->wall;
          free(pt->error);
          pt->error = pr->error_len ? strndup(all_text + u, pr->error_len) : NULL;
        }
        u += pr->error_len;
      }
    uint64_t sig = (uint64_t)stop_signal;
    rc = fpk_comm_max_u64(comm, &sig, 1, err);
    if (!rc && sig) stop_signal = (sig_atomic_t)sig;
  }
  free(counts), free(all), free(mine), free(text), free(all_text);
  return rc;
}

int fpk_app_sweep(const fpk_sweep_options *opt, fpk_error *err) {
  sweep s;
  memset(&s, 0, sizeof s);
  s.opt = opt;
  int rc = FPK_SUCCESS;
  if (!opt->nover)
    return fpk_error_set(err, FPK_EINVAL, "sweep: no --over section.key=v1,v2,...: nothing to "
                         "sweep");
  s.keys = calloc(opt->nover, sizeof *s.keys);
  if (!s.keys) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  s.npoints = 1;
  for (size_t k = 0; k < opt->nover && !rc; k++) {
    s.nkeys = k + 1;
    rc = parse_over(opt->over[k], &s.keys[k], err);
    for (size_t j = 0; !rc && j < k; j++)
      if (!strcmp(s.keys[j].name, s.keys[k].name))
        rc = fpk_error_set(err, FPK_EINVAL, "sweep: %s is swept twice (--over '%s' and '%s')",
                           s.keys[k].name, opt->over[j], opt->over[k]);
    if (!rc && opt->zip && s.keys[k].n != s.keys[0].n)
      rc = fpk_error_set(err, FPK_EINVAL,
                         "sweep: --zip needs lists of equal lengths: %s has %zu values, %s has "
                         "%zu",
                         s.keys[0].name, s.keys[0].n, s.keys[k].name, s.keys[k].n);
    if (!rc && !opt->zip) {
      if (s.npoints > (size_t)FPK_SWEEP_MAX_POINTS / s.keys[k].n)
        rc = fpk_error_set(err, FPK_EINVAL,
                           "sweep: the product of the --over lists has more than %d points "
                           "(docs/sweep.md): split the sweep",
                           FPK_SWEEP_MAX_POINTS);
      else
        s.npoints *= s.keys[k].n;
    }
  }
  if (!rc && opt->zip) s.npoints = s.keys[0].n;
  if (!rc && s.npoints > FPK_SWEEP_MAX_POINTS)
    rc = fpk_error_set(err, FPK_EINVAL, "sweep: %zu points: more than %d (docs/sweep.md)",
                       s.npoints, FPK_SWEEP_MAX_POINTS);
  for (size_t i = 0; !rc && i < opt->ngather; i++)
    if (opt->gather[i][0] != '/' || strlen(opt->gather[i]) > 1000)
      rc = fpk_error_set(err, FPK_EINVAL,
                         "sweep: --gather '%s': expected a dataset path such as "
                         "/errors/l1_fv_exact",
                         opt->gather[i]);
  /* the configuration with the global --set: it must read (syntax, a --set's form) */
  if (!rc) {
    fpk_run_options o = {.config_path = opt->config_path, .sets = opt->sets, .nsets = opt->nsets};
    struct fpk_config *c = fpk_app_load_config(&o, NULL, err);
    if (!c) rc = err->status;
    fpk_config_free(c);
    FILE *fp = rc ? NULL : fopen(opt->config_path, "rb");
    if (!rc && !fp)
      rc = fpk_error_set(err, FPK_EIO, "sweep: cannot read %s: %s", opt->config_path,
                         strerror(errno));
    if (fp) {
      size_t cap = 4096, len = 0;
      s.config_text = malloc(cap);
      for (size_t got; s.config_text && (got = fread(s.config_text + len, 1, cap - len - 1, fp));) {
        len += got;
        if (len + 1 == cap) {
          char *more = realloc(s.config_text, cap *= 2);
          if (!more) free(s.config_text);
          s.config_text = more;
        }
      }
      fclose(fp);
      if (!s.config_text) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
      else s.config_text[len] = '\0';
    }
  }
  /* a key of the table that this configuration does not read (model.beta for an OU model):
   * each value alone on CONFIG, read as the run reads it; an unknown key is refused now, other
   * errors (a range, a check across keys) are the point's and recorded when it runs */
  for (size_t k = 0; !rc && k < s.nkeys; k++)
    for (size_t i = 0; !rc && i < s.keys[k].n; i++) {
      const char **sets = calloc(opt->nsets + 1, sizeof *sets);
      const size_t len = strlen(s.keys[k].name) + strlen(s.keys[k].values[i]) + 2;
      char *mine = malloc(len);
      if (!sets || !mine) {
        free(sets), free(mine);
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
        break;
      }
      for (size_t j = 0; j < opt->nsets; j++) sets[j] = opt->sets[j];
      snprintf(mine, len, "%s=%s", s.keys[k].name, s.keys[k].values[i]);
      sets[opt->nsets] = mine;
      fpk_run_options o = {.config_path = opt->config_path, .sets = sets,
                           .nsets = opt->nsets + 1, .quiet = 1};
      char *resolved = NULL;
      fpk_error e = {0};
      if (fpk_app_run_resolve(&o, &resolved, &e) && strstr(e.msg, "unknown key"))
        rc = fpk_error_set(err, FPK_EINVAL, "sweep: --over %s: %s; nothing was run",
                           opt->over[k], e.msg);
      free(resolved), free(mine), free(sets);
    }
  /* several ranks (mpirun): rank 0 prepares the directory, the others wait for its word */
  const fpk_comm *comm = opt->comm;
  const int nranks = fpk_comm_size(comm), me = fpk_comm_rank(comm), dist = nranks > 1;
  if (!rc && me == 0) rc = prepare_outdir(opt->outdir, err);
  snprintf(s.index_path, sizeof s.index_path, "%s/index.h5", opt->outdir);
  if (!rc && me == 0 && !access(s.index_path, F_OK) && !fpk_h5_is_fpkit_file(s.index_path))
    rc = fpk_error_set(err, FPK_EIO, "sweep: %s exists and is not an fpkit file: it would be "
                       "replaced by the index; move it or choose another -o", s.index_path);
  if (dist) {
    /* every rank's own message when it failed itself (they all read the same arguments) */
    fpk_error agreed = *err;
    const int arc = fpk_comm_agree(comm, rc, &agreed);
    if (arc && !rc) *err = agreed;
    rc = arc;
  }
  if (rc) {
    free_sweep(&s);
    return rc;
  }
  s.width = 4;
  for (size_t m = 10000; m < s.npoints; m *= 10) s.width++;
  const int jobs = opt->jobs > 0 ? opt->jobs : 1;
  const int threads = opt->threads > 0 ? opt->threads : omp_get_num_procs();
  s.threads_per_job = threads / jobs > 0 ? threads / jobs : 1;
  s.pts = calloc(s.npoints, sizeof *s.pts);
  s.g = calloc(opt->ngather + 1, sizeof *s.g);
  if (!s.pts || !s.g) {
    free_sweep(&s);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < opt->ngather; i++) s.g[i].path = opt->gather[i];
  for (size_t p = 0; p < s.npoints; p++) s.pts[p].wall = NAN;

  /* signals stop the pool: running points are stopped (their temporaries removed by their own
   * handlers), the index records what finished, and a rerun resumes */
  struct sigaction sa, old[3];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns on a signal */
  sigemptyset(&sa.sa_mask);
  static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old[i]);
  stop_signal = 0;

  const double t0 = now_seconds();
  /* this rank's points: all of them, or every nranks-th from its rank (round-robin deal) */
  size_t next = (size_t)me, running = 0, nskipped = 0;
  const size_t stride = (size_t)nranks;
  int fatal = 0;
  fpk_error ferr = {0};
  while (!stop_signal && !fatal && (next < s.npoints || running)) {
    /* launch while there is room; a complete point is skipped without a process */
    while (!stop_signal && !fatal && next < s.npoints && running < (size_t)jobs) {
      const size_t p = next;
      next += stride;
      char why[1200];
      if (point_complete(&s, p, why, sizeof why)) {
        s.pts[p].state = PT_OK;
        s.pts[p].skipped = 1;
        s.pts[p].wall = 0.0;
        nskipped++;
        report(&s, p, "skipped: its file is complete with the same configuration");
        if (dist) continue; /* gathered and indexed by rank 0 at the end */
        if (gather_point(&s, p, &ferr)) fatal = 1;
        else if ((rc = write_index(&s, err))) fatal = 2;
        continue;
      }
      if (strcmp(why, "no file yet")) report(&s, p, why);
      s.pts[p].start = now_seconds();
      s.pts[p].pid = start_point(&s, p);
      if (s.pts[p].pid < 0) {
        fail_point(&s.pts[p], "cannot start a process for the point: %s", strerror(errno));
        s.pts[p].wall = 0.0;
        report(&s, p, s.pts[p].error);
        continue;
      }
      s.pts[p].state = PT_RUNNING;
      running++;
    }
    if (!running || stop_signal || fatal) break;
    int wstatus;
    const pid_t pid = waitpid(-1, &wstatus, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      fatal = 2;
      rc = fpk_error_set(err, FPK_EIO, "sweep: waitpid: %s", strerror(errno));
      break;
    }
    for (size_t p = 0; p < s.npoints; p++)
      if (s.pts[p].state == PT_RUNNING && s.pts[p].pid == pid) {
        running--;
        /* several ranks: the datasets are gathered by rank 0 at the end */
        if (finish_point(&s, p, wstatus, !dist, &ferr)) fatal = 1;
        if (s.pts[p].state == PT_OK) {
          char what[64];
          snprintf(what, sizeof what, "ok in %.2f s", s.pts[p].wall);
          report(&s, p, what);
        } else {
          char what[4400];
          snprintf(what, sizeof what, "%s: %s", state_names[s.pts[p].state], s.pts[p].error);
          report(&s, p, what);
        }
        if (!fatal && !dist && (rc = write_index(&s, err))) fatal = 2;
        break;
      }
  }
  /* stopped (signal, a fatal gather error): end the running points and wait for them */
  if (running) {
    for (size_t p = 0; p < s.npoints; p++)
      if (s.pts[p].state == PT_RUNNING) kill(s.pts[p].pid, SIGTERM);
    while (running) {
      int wstatus;
      const pid_t pid = waitpid(-1, &wstatus, 0);
      if (pid < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (size_t p = 0; p < s.npoints; p++)
        if (s.pts[p].state == PT_RUNNING && s.pts[p].pid == pid) {
          running--;
          if (fatal || stop_signal) {
            s.pts[p].state = PT_INTERRUPTED;
            s.pts[p].wall = NAN;
            if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
              finish_point(&s, p, wstatus, !dist, &ferr);
          }
        }
    }
  }
  for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
  if (dist) {
    /* every rank's outcomes to every rank; rank 0 gathers the datasets in point order (as a
     * --jobs 1 sweep does) and writes the index; every rank ends with rank 0's verdict */
    if ((rc = share_points(&s, comm, fatal == 2 ? rc : FPK_SUCCESS, err))) {
      free_sweep(&s);
      return rc;
    }
    fatal = 0;
    int status = FPK_SUCCESS;
    if (me == 0) {
      for (size_t p = 0; p < s.npoints && !fatal; p++)
        if (s.pts[p].state == PT_OK && gather_point(&s, p, &ferr)) fatal = 1;
      fpk_error ierr = {0};
      if ((rc = write_index(&s, &ierr)) && !fatal) *err = ierr, fatal = 2;
      status = fatal == 1 ? ferr.status : fatal == 2 ? err->status : FPK_SUCCESS;
      if (fatal == 1) *err = ferr;
    }
    fpk_error agreed = *err;
    rc = fpk_comm_agree(comm, status, &agreed);
    if (rc) {
      if (!status) *err = agreed;
      free_sweep(&s);
      return rc;
    }
    nskipped = 0;
    for (size_t p = 0; p < s.npoints; p++) nskipped += s.pts[p].skipped;
  }
  size_t nfailed = 0, nok = 0;
  for (size_t p = 0; p < s.npoints; p++)
    nfailed += s.pts[p].state == PT_FAILED, nok += s.pts[p].state == PT_OK;
  if (fatal != 2 && !dist) {
    fpk_error ierr = {0};
    if ((rc = write_index(&s, &ierr)) && !fatal) *err = ierr;
  }
  const double total = now_seconds() - t0;
  if (!opt->quiet && me == 0)
    printf("sweep: %zu points: %zu ok (%zu skipped as complete), %zu failed, %zu not run, in "
           "%.2f s; index %s\n",
           s.npoints, nok, nskipped, nfailed, s.npoints - nok - nfailed, total, s.index_path);
  if (fatal == 1) {
    *err = ferr;
    rc = err->status;
  } else if (fatal == 2) {
    rc = err->status ? err->status : FPK_EIO;
  } else if (stop_signal) {
    rc = fpk_error_set(err, FPK_EINTR,
                       "sweep stopped by signal %d: %zu of %zu points finished (index %s); run "
                       "the same command again to resume",
                       (int)stop_signal, nok + nfailed, s.npoints, s.index_path);
    if (opt->stopped_by) *opt->stopped_by = stop_signal;
  } else if (!rc && nfailed) {
    size_t first = 0;
    while (s.pts[first].state != PT_FAILED) first++;
    rc = fpk_error_set(err, FPK_EINVAL,
                       "sweep: %zu of %zu points failed (see %s: /points/error); the first, "
                       "point %zu: %s",
                       nfailed, s.npoints, s.index_path, first, s.pts[first].error);
  }
  free_sweep(&s);
  return rc;
}
