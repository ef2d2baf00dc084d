/* The log file of a command (--log FILE, --log-level; docs/workflow.md): timestamped lines of
 * phases, timings, warnings, the resolved configuration (debug) and the final status, appended,
 * so several runs can share one log. The state is the process's: a command is one run, and
 * threading a handle through every function of src/app would change every signature for
 * nothing. Lines are written whole (one fprintf of a formatted buffer, line-buffered). */
#include "app/progress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static FILE *log_file;
static int log_level = FPK_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int fpk_app_log_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, level_names[i])) return i;
  return -1;
}

int fpk_app_log_open(const char *path, int level, fpk_error *err) {
  fpk_app_log_close();
  FILE *f = fopen(path, "a");
  if (!f)
    return fpk_error_set(err, FPK_EIO, "--log '%s': cannot open for appending: %s", path,
                         strerror(errno));
  setvbuf(f, NULL, _IOLBF, 0);
  log_file = f;
  log_level = level;
  return FPK_SUCCESS;
}

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
}

void fpk_app_log_text(int level, const char *what, const char *text) {
  if (!fpk_app_log_enabled(level) || !text) return;
  for (const char *p = text; *p;) {
    const size_t k = strcspn(p, "\n");
    fpk_app_log(level, "%s: %.*s", what, (int)k, p);
    p += k + (p[k] == '\n');
  }
}
