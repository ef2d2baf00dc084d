/* The log file of a command (--log FILE, --log-level; docs/workflow.md): timestamped lines of
 * phases, timings, warnings, the resolved configuration (debug) and the final status, appended,
 * so several runs can share one log. The state is the process's: a command is one run, and
 * threading a handle through every function of src/app would change every signature for
 * nothing. Lines are written whole (one fprintf of a formatted buffer, line-buffered). */
#include "app/progress.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static FILE *log_file;
static char *log_path;
static int log_level = FPK_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int fpk_app_log_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, level_names[i])) return i;
  return -1;
}

/* Whether line starts like a line of fpk_app_log: "YYYY-MM-DDTHH:MM:SS.mmmZ fpkit[". */
static int looks_like_log_line(const char *line) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ fpkit[";
  for (size_t i = 0; shape[i]; i++)
    if (shape[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != shape[i]) return 0;
  return 1;
}

/* The checks that keep --log from appending to a file that is not a log: an input of the run
 * (the same device and inode: a hard or symbolic link included), or any existing regular file
 * that is not empty and does not start with a log line (a result, a config under another name,
 * a script). Devices, FIFOs and the like (/dev/stderr) are fine. */
static int refuse_non_log(const char *path, const char *const *inputs, size_t ninputs,
                          fpk_error *err) {
  struct stat st;
  if (stat(path, &st)) return FPK_SUCCESS; /* a new file (or fopen says why not) */
  for (size_t i = 0; i < ninputs; i++) {
    struct stat in;
    if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == st.st_dev &&
        in.st_ino == st.st_ino)
      return fpk_error_set(err, FPK_EINVAL,
                           "--log '%s' is the input '%s'%s: the log would be appended to it; "
                           "give another log file",
                           path, inputs[i], strcmp(path, inputs[i]) ? " (under another name)" : "");
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) return FPK_SUCCESS;
  FILE *f = fopen(path, "r");
  char first[64] = "";
  const int readable = f && fgets(first, sizeof first, f);
  if (f) fclose(f);
  if (!readable || !looks_like_log_line(first))
    return fpk_error_set(err, FPK_EINVAL,
                         "--log '%s' exists and is not an fpkit log (its first line is not "
                         "'YYYY-MM-DDTHH:MM:SS.mmmZ fpkit[PID] LEVEL: ...'): refusing to append "
                         "to it; give a new file, an empty one or an fpkit log",
                         path);
  return FPK_SUCCESS;
}

int fpk_app_log_open(const char *path, int level, const char *const *inputs, size_t ninputs,
                     fpk_error *err) {
  fpk_app_log_close();
  int rc = refuse_non_log(path, inputs, ninputs, err);
  if (rc) return rc;
  FILE *f = fopen(path, "a");
  if (!f)
    return fpk_error_set(err, FPK_EIO, "--log '%s': cannot open for appending: %s", path,
                         strerror(errno));
  if (!(log_path = strdup(path))) {
    fclose(f);
    return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  }
  setvbuf(f, NULL, _IOLBF, 0);
  log_file = f;
  log_level = level;
  return FPK_SUCCESS;
}

const char *fpk_app_log_path(void) { return log_file ? log_path : NULL; }

int fpk_app_log_enabled(int level) { return log_file && level <= log_level; }

void fpk_app_log(int level, const char *fmt, ...) {
  if (!fpk_app_log_enabled(level)) return;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(log_file, "%s.%03dZ fpkit[%ld] %s: %s\n", stamp, (int)(tv.tv_usec / 1000),
          (long)getpid(), level_names[level], msg);
}

void fpk_app_log_close(void) {
  if (log_file) fclose(log_file);
  log_file = NULL;
  free(log_path);
  log_path = NULL;
}

void fpk_app_log_text(int level, const char *what, const char *text) {
  if (!fpk_app_log_enabled(level) || !text) return;
  for (const char *p = text; *p;) {
    const size_t k = strcspn(p, "\n");
    fpk_app_log(level, "%s: %.*s", what, (int)k, p);
    p += k + (p[k] == '\n');
  }
}
